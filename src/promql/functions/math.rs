//! Element-wise arithmetic on instant vectors (`abs`, `ceil`, `floor`,
//! `exp`, `sqrt`, `ln`, `log2`, `log10`, `sgn`, the trigonometric and
//! hyperbolic functions and their inverses, `deg`, `rad`, `round`,
//! `clamp`, `clamp_min`, `clamp_max`), and the scalar helpers `scalar`,
//! `vector`, `pi`, `min_of`, `max_of`.
//!
//! Element-wise functions keep labels and mark the name for removal. Where
//! Go's `math` is defined by a formula rather than by the correctly
//! rounded result (`Log2`, `Log10`, `Acos`, `Max`, `Min`), the formula is
//! reproduced; the rest use Rust's `libm`, which can differ from Go's pure
//! Go implementations in the last bit for some inputs.

use std::f64::consts::{LOG10_E, LOG2_E, PI};

use super::super::value::Sample;
use super::{opt_scalar_arg, scalar_arg, unlabelled, vector_arg, Arg, FnCtx};
use crate::promql::error::QueryError;

/// Applies `f` to every sample of argument 0.
fn elementwise(ctx: &FnCtx<'_>, args: &[Arg<'_>], f: impl Fn(f64) -> f64) -> Result<Vec<Sample>, QueryError> {
    let input = vector_arg(args, 0)?;
    Ok(input.iter().map(|s| Sample { labels: s.labels.clone(), t: ctx.ts, v: f(s.v), drop_name: true }).collect())
}

functions_via! { elementwise:
    /// `abs(v)`.
    abs => f64::abs;
    /// `ceil(v)`.
    ceil => f64::ceil;
    /// `floor(v)`.
    floor => f64::floor;
    /// `exp(v)`.
    exp => f64::exp;
    /// `sqrt(v)`.
    sqrt => f64::sqrt;
    /// `ln(v)`.
    ln => f64::ln;
    /// `log2(v)`, as Go's `math.Log2`.
    log2 => go_log2;
    /// `log10(v)`, as Go's `math.Log10`.
    log10 => |v| v.ln() * LOG10_E;
    /// `sgn(v)`: -1, 1, or the value itself for zeros and NaN.
    sgn => |v| if v < 0.0 { -1.0 } else if v > 0.0 { 1.0 } else { v };
    /// `sin(v)`.
    sin => f64::sin;
    /// `cos(v)`.
    cos => f64::cos;
    /// `tan(v)`.
    tan => f64::tan;
    /// `asin(v)`.
    asin => f64::asin;
    /// `acos(v)`, as Go's `math.Acos` (π/2 − asin).
    acos => |v| PI / 2.0 - v.asin();
    /// `atan(v)`.
    atan => f64::atan;
    /// `sinh(v)`.
    sinh => f64::sinh;
    /// `cosh(v)`.
    cosh => f64::cosh;
    /// `tanh(v)`.
    tanh => f64::tanh;
    /// `asinh(v)`.
    asinh => f64::asinh;
    /// `acosh(v)`.
    acosh => f64::acosh;
    /// `atanh(v)`.
    atanh => f64::atanh;
    /// `deg(v)`: radians to degrees.
    deg => |v| v * 180.0 / PI;
    /// `rad(v)`: degrees to radians.
    rad => |v| v * PI / 180.0;
}

/// Go's `math.Log2`: exact for powers of two, else `Log(frac)/Ln2 + exp`.
fn go_log2(x: f64) -> f64 {
    let (frac, exp) = frexp(x);
    if frac == 0.5 {
        return f64::from(exp - 1);
    }
    frac.ln() * LOG2_E + f64::from(exp)
}

/// Go's `math.Frexp`: `x = frac · 2^exp` with `|frac|` in [0.5, 1); zeros,
/// infinities and NaN come back unchanged with exponent 0.
fn frexp(x: f64) -> (f64, i32) {
    if x == 0.0 || !x.is_finite() {
        return (x, 0);
    }
    let (x, mut exp) = if x.abs() < f64::MIN_POSITIVE { (x * (1u64 << 52) as f64, -52) } else { (x, 0) };
    let bits = x.to_bits();
    exp += ((bits >> 52) & 0x7ff) as i32 - 1023 + 1;
    let frac = f64::from_bits((bits & !(0x7ff << 52)) | (1022 << 52));
    (frac, exp)
}

/// Go's `math.Max`: +Inf wins over NaN, NaN over everything else, +0 over -0.
pub(super) fn go_max(x: f64, y: f64) -> f64 {
    if x == f64::INFINITY || y == f64::INFINITY {
        f64::INFINITY
    } else if x.is_nan() || y.is_nan() {
        f64::NAN
    } else if x == 0.0 && x == y {
        if x.is_sign_negative() {
            y
        } else {
            x
        }
    } else if x > y {
        x
    } else {
        y
    }
}

/// Go's `math.Min`: -Inf wins over NaN, NaN over everything else, -0 over +0.
pub(super) fn go_min(x: f64, y: f64) -> f64 {
    if x == f64::NEG_INFINITY || y == f64::NEG_INFINITY {
        f64::NEG_INFINITY
    } else if x.is_nan() || y.is_nan() {
        f64::NAN
    } else if x == 0.0 && x == y {
        if x.is_sign_negative() {
            x
        } else {
            y
        }
    } else if x < y {
        x
    } else {
        y
    }
}

/// `round(v, to_nearest=1)`: rounds to a multiple of `to_nearest`, ties up.
pub(super) fn round(ctx: &mut FnCtx<'_>, args: &[Arg<'_>]) -> Result<Vec<Sample>, QueryError> {
    let to_nearest = opt_scalar_arg(args, 1)?.unwrap_or(1.0);
    // Prometheus divides by the inverse: fewer representation errors.
    let inverse = 1.0 / to_nearest;
    elementwise(ctx, args, |v| (v * inverse + 0.5).floor() / inverse)
}

/// `clamp(v, min, max)`: nothing when `max < min`.
pub(super) fn clamp(ctx: &mut FnCtx<'_>, args: &[Arg<'_>]) -> Result<Vec<Sample>, QueryError> {
    let (min, max) = (scalar_arg(args, 1)?, scalar_arg(args, 2)?);
    clamp_between(ctx, args, min, max)
}

/// `clamp_min(v, min)`.
pub(super) fn clamp_min(ctx: &mut FnCtx<'_>, args: &[Arg<'_>]) -> Result<Vec<Sample>, QueryError> {
    let min = scalar_arg(args, 1)?;
    clamp_between(ctx, args, min, f64::INFINITY)
}

/// `clamp_max(v, max)`.
pub(super) fn clamp_max(ctx: &mut FnCtx<'_>, args: &[Arg<'_>]) -> Result<Vec<Sample>, QueryError> {
    let max = scalar_arg(args, 1)?;
    clamp_between(ctx, args, f64::NEG_INFINITY, max)
}

fn clamp_between(ctx: &FnCtx<'_>, args: &[Arg<'_>], min: f64, max: f64) -> Result<Vec<Sample>, QueryError> {
    if max < min {
        vector_arg(args, 0)?;
        return Ok(Vec::new());
    }
    elementwise(ctx, args, |v| go_max(min, go_min(max, v)))
}

/// `min_of(a, b)` on scalars.
pub(super) fn min_of(ctx: &mut FnCtx<'_>, args: &[Arg<'_>]) -> Result<Vec<Sample>, QueryError> {
    Ok(unlabelled(ctx, go_min(scalar_arg(args, 0)?, scalar_arg(args, 1)?)))
}

/// `max_of(a, b)` on scalars.
pub(super) fn max_of(ctx: &mut FnCtx<'_>, args: &[Arg<'_>]) -> Result<Vec<Sample>, QueryError> {
    Ok(unlabelled(ctx, go_max(scalar_arg(args, 0)?, scalar_arg(args, 1)?)))
}

/// `scalar(v)`: the value of a one-element vector, else NaN.
pub(super) fn scalar(ctx: &mut FnCtx<'_>, args: &[Arg<'_>]) -> Result<Vec<Sample>, QueryError> {
    let v = match vector_arg(args, 0)? {
        [only] => only.v,
        _ => f64::NAN,
    };
    Ok(unlabelled(ctx, v))
}

/// `vector(s)`: the scalar as a one-element vector without labels.
pub(super) fn vector(ctx: &mut FnCtx<'_>, args: &[Arg<'_>]) -> Result<Vec<Sample>, QueryError> {
    Ok(unlabelled(ctx, scalar_arg(args, 0)?))
}

/// `pi()`.
pub(super) fn pi(ctx: &mut FnCtx<'_>, _args: &[Arg<'_>]) -> Result<Vec<Sample>, QueryError> {
    Ok(unlabelled(ctx, PI))
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{assert_float, sample, Harness};
    use super::super::FnImpl;
    use super::*;

    const INF: f64 = f64::INFINITY;
    const NAN: f64 = f64::NAN;

    /// `f(input…, extra args)`'s values.
    fn run(f: FnImpl, input: &[f64], extra: &[Arg<'_>]) -> Vec<f64> {
        let v: Vec<Sample> = input.iter().enumerate().map(|(i, &x)| sample(&[("i", &i.to_string())], x)).collect();
        let mut args = vec![Arg::Vector(&v)];
        args.extend_from_slice(extra);
        let out = Harness::new(0).call(f, &args).unwrap();
        for (o, i) in out.iter().zip(&v) {
            assert_eq!(o.labels, i.labels);
            assert!(o.drop_name);
        }
        out.iter().map(|s| s.v).collect()
    }

    #[track_caller]
    fn check(f: FnImpl, extra: &[Arg<'_>], cases: &[(f64, f64)]) {
        let input: Vec<f64> = cases.iter().map(|c| c.0).collect();
        let got = run(f, &input, extra);
        assert_eq!(got.len(), cases.len());
        for (g, &(x, want)) in got.iter().zip(cases) {
            assert!(
                (g.is_nan() && want.is_nan()) || (*g == want && g.is_sign_negative() == want.is_sign_negative()),
                "f({x}) = {g:?}, want {want:?}"
            );
        }
    }

    #[test]
    fn rounding_family() {
        let data = [2.5, 2.0, -2.5, -2.0, 0.0, -0.0, INF, -INF, NAN];
        let table: [(FnImpl, [f64; 9]); 4] = [
            (abs, [2.5, 2.0, 2.5, 2.0, 0.0, 0.0, INF, INF, NAN]),
            (ceil, [3.0, 2.0, -2.0, -2.0, 0.0, -0.0, INF, -INF, NAN]),
            (floor, [2.0, 2.0, -3.0, -2.0, 0.0, -0.0, INF, -INF, NAN]),
            (round, [3.0, 2.0, -2.0, -2.0, 0.0, 0.0, INF, -INF, NAN]),
        ];
        for (f, want) in table {
            let cases: Vec<(f64, f64)> = data.iter().copied().zip(want).collect();
            check(f, &[], &cases);
        }
    }

    #[test]
    fn round_to_nearest() {
        check(round, &[Arg::Scalar(0.1)], &[(1.234, 1.2), (1.25, 1.3), (-1.25, -1.2)]);
        check(round, &[Arg::Scalar(5.0)], &[(12.5, 15.0), (12.4, 10.0), (-7.5, -5.0)]);
        check(round, &[Arg::Scalar(0.005)], &[(0.0001, 0.0)]);
        check(round, &[Arg::Scalar(0.0)], &[(1.0, NAN)]);
    }

    #[test]
    fn exp_ln_logs_sqrt() {
        let close = |f: FnImpl, x: f64, want: f64| assert_float(run(f, &[x], &[])[0], want, 1e-15);
        close(exp, 10.0, 22026.465794806718);
        close(exp, 20.0, 485165195.4097903);
        close(exp, -10.0, 4.5399929762484854e-05);
        close(ln, 10.0, std::f64::consts::LN_10);
        close(ln, 20.0, 2.995732273553991);
        close(sqrt, 10.0, 3.1622776601683795);
        close(sqrt, 20.0, 4.47213595499958);
        close(log2, 10.0, 3.3219280948873626);
        close(log2, 20.0, 4.321928094887363);
        close(log10, 20.0, 1.301029995663981);
        check(log10, &[], &[(10.0, 1.0), (0.0, -INF), (-10.0, NAN), (INF, INF)]);
        check(log2, &[], &[(8.0, 3.0), (0.5, -1.0), (0.0, -INF), (-1.0, NAN), (INF, INF), (5e-324, -1074.0)]);
        check(ln, &[], &[(0.0, -INF), (-10.0, NAN), (1.0, 0.0)]);
        check(exp, &[], &[(0.0, 1.0), (-INF, 0.0), (NAN, NAN)]);
        check(sqrt, &[], &[(-1.0, NAN), (-0.0, -0.0)]);
    }

    #[test]
    fn frexp_matches_go() {
        assert_eq!(frexp(8.0), (0.5, 4));
        assert_eq!(frexp(-3.0), (-0.75, 2));
        assert_eq!(frexp(5e-324), (0.5, -1073));
        assert_eq!(frexp(-0.0).0.to_bits(), (-0.0f64).to_bits());
    }

    #[test]
    fn sgn_keeps_zeros_and_nan() {
        check(sgn, &[], &[(-INF, -1.0), (INF, 1.0), (NAN, NAN), (-50.0, -1.0), (0.0, 0.0), (-0.0, -0.0), (100.0, 1.0)]);
    }

    #[test]
    fn trigonometry() {
        let close = |f: FnImpl, x: f64, want: f64| assert_float(run(f, &[x], &[])[0], want, 1e-15);
        close(sin, PI / 2.0, 1.0);
        close(cos, 0.0, 1.0);
        close(tan, PI / 4.0, 1.0);
        close(asin, 1.0, PI / 2.0);
        close(acos, 0.0, PI / 2.0);
        close(atan, 1.0, PI / 4.0);
        close(sinh, 1.0, 1.1752011936438014);
        close(cosh, 1.0, 1.5430806348152437);
        close(tanh, 1.0, 0.7615941559557649);
        close(asinh, 1.0, 0.881373587019543);
        close(acosh, 2.0, 1.3169578969248166);
        close(atanh, 0.5, 0.5493061443340549);
        close(deg, PI, 180.0);
        close(rad, 180.0, PI);
        check(acos, &[], &[(1.0, 0.0), (2.0, NAN)]);
        check(sin, &[], &[(INF, NAN), (0.0, 0.0), (-0.0, -0.0)]);
        check(atanh, &[], &[(1.0, INF), (-1.0, -INF)]);
    }

    #[test]
    fn clamp_uses_go_min_max() {
        check(clamp, &[Arg::Scalar(-25.0), Arg::Scalar(75.0)], &[(-50.0, -25.0), (0.0, 0.0), (100.0, 75.0)]);
        check(clamp_max, &[Arg::Scalar(75.0)], &[(-50.0, -50.0), (0.0, 0.0), (100.0, 75.0)]);
        check(clamp_min, &[Arg::Scalar(-25.0)], &[(-50.0, -25.0), (0.0, 0.0), (100.0, 100.0)]);
        check(clamp, &[Arg::Scalar(0.0), Arg::Scalar(NAN)], &[(-50.0, NAN), (0.0, NAN), (100.0, NAN), (-INF, 0.0)]);
        check(clamp, &[Arg::Scalar(NAN), Arg::Scalar(0.0)], &[(-50.0, NAN), (0.0, NAN), (100.0, NAN)]);
        check(clamp_min, &[Arg::Scalar(0.0)], &[(-0.0, 0.0), (NAN, NAN)]);
        check(clamp_max, &[Arg::Scalar(-0.0)], &[(0.0, -0.0), (INF, -0.0)]);
        assert!(run(clamp, &[1.0, 2.0], &[Arg::Scalar(5.0), Arg::Scalar(-5.0)]).is_empty());
    }

    #[test]
    fn go_min_max_special_cases() {
        assert_eq!(go_max(NAN, INF), INF);
        assert!(go_max(NAN, 1.0).is_nan());
        assert_eq!(go_min(-INF, NAN), -INF);
        assert!(go_min(1.0, NAN).is_nan());
        assert!(go_max(-0.0, 0.0).is_sign_positive() && go_max(0.0, -0.0).is_sign_positive());
        assert!(go_min(-0.0, 0.0).is_sign_negative() && go_min(0.0, -0.0).is_sign_negative());
    }

    #[test]
    fn scalar_helpers() {
        let mut h = Harness::new(1000);
        let scalars = |h: &mut Harness, f: FnImpl, args: &[Arg<'_>]| {
            let out = h.call(f, args).unwrap();
            assert_eq!(out.len(), 1);
            assert!(out[0].labels.is_empty() && !out[0].drop_name);
            out[0].v
        };
        for (a, b, min, max) in
            [(3.0, 5.0, 3.0, 5.0), (5.0, 3.0, 3.0, 5.0), (-2.0, -5.0, -5.0, -2.0), (4.0, 4.0, 4.0, 4.0)]
        {
            assert_eq!(scalars(&mut h, min_of, &[Arg::Scalar(a), Arg::Scalar(b)]), min);
            assert_eq!(scalars(&mut h, max_of, &[Arg::Scalar(a), Arg::Scalar(b)]), max);
        }
        assert!(scalars(&mut h, min_of, &[Arg::Scalar(NAN), Arg::Scalar(3.0)]).is_nan());
        assert!(scalars(&mut h, max_of, &[Arg::Scalar(3.0), Arg::Scalar(NAN)]).is_nan());
        assert_eq!(scalars(&mut h, pi, &[]), PI);
        assert_eq!(scalars(&mut h, vector, &[Arg::Scalar(7.0)]), 7.0);
        let one = [sample(&[("l", "x")], 1.0)];
        let two = [sample(&[("l", "x")], 1.0), sample(&[("l", "y")], 2.0)];
        assert_eq!(scalars(&mut h, scalar, &[Arg::Vector(&one)]), 1.0);
        assert!(scalars(&mut h, scalar, &[Arg::Vector(&two)]).is_nan());
        assert!(scalars(&mut h, scalar, &[Arg::Vector(&[])]).is_nan());
    }
}
