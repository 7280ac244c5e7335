//! Go's `math.Pow` and `math.Atan2`, step for step, so that `^` and
//! `atan2` give Prometheus's bits (Go's versions are not the C library's:
//! `Pow` with an integer exponent multiplies by repeated squaring and
//! `Atan` is the Cephes polynomial). `%` is Go's `math.Mod`, which is the
//! exact IEEE remainder Rust's `%` computes, special cases included.
//!
//! Go's `Exp` and `Log`, used by `Pow` for the fractional part of an
//! exponent, are assembly on amd64; Rust's `exp`/`ln` agree with them to the
//! last bit or one unit in the last place.

use std::f64::consts::PI;

const SHIFT: u32 = 52;
const MASK: u64 = 0x7FF;
const BIAS: i64 = 1023;
const SMALLEST_NORMAL: f64 = 2.2250738585072014e-308;

/// Go's `normalize`: a normal number and an exponent with `x = y × 2^e`.
fn normalize(x: f64) -> (f64, i64) {
    if x.abs() < SMALLEST_NORMAL {
        return (x * (1u64 << 52) as f64, -52);
    }
    (x, 0)
}

/// Go's `math.Frexp`.
fn frexp(f: f64) -> (f64, i64) {
    if f == 0.0 || f.is_infinite() || f.is_nan() {
        return (f, 0);
    }
    let (f, mut exp) = normalize(f);
    let mut x = f.to_bits();
    exp += ((x >> SHIFT) & MASK) as i64 - BIAS + 1;
    x &= !(MASK << SHIFT);
    x |= ((-1 + BIAS) as u64) << SHIFT;
    (f64::from_bits(x), exp)
}

/// Go's `math.Ldexp`.
fn ldexp(frac: f64, exp: i64) -> f64 {
    if frac == 0.0 || frac.is_infinite() || frac.is_nan() {
        return frac;
    }
    let (frac, e) = normalize(frac);
    let mut exp = exp.saturating_add(e);
    let mut x = frac.to_bits();
    exp = exp.saturating_add(((x >> SHIFT) & MASK) as i64 - BIAS);
    if exp < -1075 {
        return 0.0_f64.copysign(frac);
    }
    if exp > 1023 {
        return if frac < 0.0 { f64::NEG_INFINITY } else { f64::INFINITY };
    }
    let mut m = 1.0;
    if exp < -1022 {
        exp += 53;
        m = 1.0 / (1u64 << 53) as f64;
    }
    x &= !(MASK << SHIFT);
    x |= ((exp + BIAS) as u64) << SHIFT;
    m * f64::from_bits(x)
}

/// Go's `isOddInt`.
fn is_odd_int(x: f64) -> bool {
    let xi = x.trunc();
    // Beyond 2^53 every float is an even integer.
    x - xi == 0.0 && xi.abs() < 9007199254740992.0 && (xi as i64) & 1 == 1
}

/// Go's `math.Pow`.
pub fn pow(x: f64, y: f64) -> f64 {
    if y == 0.0 || x == 1.0 {
        return 1.0;
    }
    if y == 1.0 {
        return x;
    }
    if x.is_nan() || y.is_nan() {
        return f64::NAN;
    }
    if x == 0.0 {
        if y < 0.0 {
            return if is_odd_int(y) { f64::INFINITY.copysign(x) } else { f64::INFINITY };
        }
        if y > 0.0 {
            return if is_odd_int(y) { x } else { 0.0 };
        }
    }
    if y.is_infinite() {
        return if x == -1.0 {
            1.0
        } else if (x.abs() < 1.0) == (y == f64::INFINITY) {
            0.0
        } else {
            f64::INFINITY
        };
    }
    if x.is_infinite() {
        if x == f64::NEG_INFINITY {
            return pow(1.0 / x, -y);
        }
        if y < 0.0 {
            return 0.0;
        }
        if y > 0.0 {
            return f64::INFINITY;
        }
    }
    if y == 0.5 {
        return x.sqrt();
    }
    if y == -0.5 {
        return 1.0 / x.sqrt();
    }

    let ay = y.abs();
    let mut yi = ay.trunc();
    let mut yf = ay - yi;
    if yf != 0.0 && x < 0.0 {
        return f64::NAN;
    }
    if yi >= 9223372036854775808.0 {
        return if x == -1.0 {
            1.0
        } else if (x.abs() < 1.0) == (y > 0.0) {
            0.0
        } else {
            f64::INFINITY
        };
    }

    let mut a1 = 1.0;
    let mut ae: i64 = 0;
    if yf != 0.0 {
        if yf > 0.5 {
            yf -= 1.0;
            yi += 1.0;
        }
        a1 = (yf * x.ln()).exp();
    }

    let (mut x1, mut xe) = frexp(x);
    let mut i = yi as i64;
    while i != 0 {
        if !(-(1 << 12)..=1 << 12).contains(&xe) {
            ae += xe;
            break;
        }
        if i & 1 == 1 {
            a1 *= x1;
            ae += xe;
        }
        x1 *= x1;
        xe <<= 1;
        if x1 < 0.5 {
            x1 += x1;
            xe -= 1;
        }
        i >>= 1;
    }

    if y < 0.0 {
        a1 = 1.0 / a1;
        ae = -ae;
    }
    ldexp(a1, ae)
}

/// Go's `xatan`: the series for `[0, 0.66]`. The constants are Cephes's,
/// digit for digit.
#[allow(clippy::excessive_precision)]
fn xatan(x: f64) -> f64 {
    const P0: f64 = -8.750608600031904122785e-01;
    const P1: f64 = -1.615753718733365076637e+01;
    const P2: f64 = -7.500855792314704667340e+01;
    const P3: f64 = -1.228866684490136173410e+02;
    const P4: f64 = -6.485021904942025371773e+01;
    const Q0: f64 = 2.485846490142306297962e+01;
    const Q1: f64 = 1.650270098316988542046e+02;
    const Q2: f64 = 4.328810604912902668951e+02;
    const Q3: f64 = 4.853903996359136964868e+02;
    const Q4: f64 = 1.945506571482613964425e+02;
    let mut z = x * x;
    z = z * ((((P0 * z + P1) * z + P2) * z + P3) * z + P4) / (((((z + Q0) * z + Q1) * z + Q2) * z + Q3) * z + Q4);
    x * z + x
}

/// Go's `satan`: reduces a positive argument to `[0, 0.66]`.
#[allow(clippy::excessive_precision)]
fn satan(x: f64) -> f64 {
    const MOREBITS: f64 = 6.123233995736765886130e-17;
    const TAN3PIO8: f64 = 2.41421356237309504880;
    if x <= 0.66 {
        return xatan(x);
    }
    if x > TAN3PIO8 {
        return PI / 2.0 - xatan(1.0 / x) + MOREBITS;
    }
    PI / 4.0 + xatan((x - 1.0) / (x + 1.0)) + 0.5 * MOREBITS
}

/// Go's `math.Atan`.
fn atan(x: f64) -> f64 {
    if x == 0.0 {
        return x;
    }
    if x > 0.0 {
        return satan(x);
    }
    -satan(-x)
}

/// Go's `math.Atan2`.
pub fn atan2(y: f64, x: f64) -> f64 {
    if y.is_nan() || x.is_nan() {
        return f64::NAN;
    }
    if y == 0.0 {
        if x >= 0.0 && !x.is_sign_negative() {
            return 0.0_f64.copysign(y);
        }
        return PI.copysign(y);
    }
    if x == 0.0 {
        return (PI / 2.0).copysign(y);
    }
    if x.is_infinite() {
        if x == f64::INFINITY {
            return if y.is_infinite() { (PI / 4.0).copysign(y) } else { 0.0_f64.copysign(y) };
        }
        return if y.is_infinite() { (3.0 * PI / 4.0).copysign(y) } else { PI.copysign(y) };
    }
    if y.is_infinite() {
        return (PI / 2.0).copysign(y);
    }
    let q = atan(y / x);
    if x < 0.0 {
        if q <= 0.0 {
            return q + PI;
        }
        return q - PI;
    }
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same(a: f64, b: f64) -> bool {
        (a.is_nan() && b.is_nan()) || a.to_bits() == b.to_bits()
    }

    #[test]
    fn pow_special_cases_follow_go() {
        let nan = f64::NAN;
        let inf = f64::INFINITY;
        let cases: &[(f64, f64, f64)] = &[
            (nan, 0.0, 1.0),
            (1.0, nan, 1.0),
            (nan, 1.0, nan),
            (2.0, nan, nan),
            (0.0, -3.0, inf),
            (-0.0, -3.0, -inf),
            (-0.0, -2.0, inf),
            (-0.0, 3.0, -0.0),
            (-0.0, 2.0, 0.0),
            (0.0, -inf, inf),
            (0.0, inf, 0.0),
            (-1.0, inf, 1.0),
            (2.0, inf, inf),
            (2.0, -inf, 0.0),
            (0.5, inf, 0.0),
            (0.5, -inf, inf),
            (inf, 2.0, inf),
            (inf, -2.0, 0.0),
            (-inf, 3.0, -inf),
            (-inf, 2.0, inf),
            (-inf, -3.0, -0.0),
            (-2.0, 0.5, nan),
            (-8.0, 1.0 / 3.0, nan),
            (4.0, 0.5, 2.0),
            (4.0, -0.5, 0.5),
            (2.0, 10.0, 1024.0),
            (2.0, -2.0, 0.25),
            (-2.0, 3.0, -8.0),
            (10.0, 3.0, 1000.0),
            (2.0, 1e300, inf),
            (-1.0, 1e300, 1.0),
            (0.5, 1e300, 0.0),
            (1000.0, 2.0, 1e6),
            (2.0, 2048.0, inf),
            (2.0, -2048.0, 0.0),
        ];
        for (x, y, want) in cases {
            assert!(same(pow(*x, *y), *want), "pow({x}, {y}) = {} want {want}", pow(*x, *y));
        }
    }

    #[test]
    fn pow_matches_closely_for_ordinary_values() {
        for (x, y) in [(1.1, 10.0), (3.7, 2.5), (0.3, -1.7), (123.0, 0.25), (2.0, -1074.0)] {
            let got = pow(x, y);
            let want = x.powf(y);
            assert!(((got - want) / want).abs() < 1e-14, "pow({x}, {y}) = {got}, libm {want}");
        }
        // Repeated squaring accumulates rounding for huge exponents, as in Go.
        let (got, want) = (pow(1.0000001, 1e7), 1.0000001f64.powf(1e7));
        assert!(((got - want) / want).abs() < 1e-9 && got != want, "pow(1.0000001, 1e7) = {got}, libm {want}");
        // Subnormal results go through Go's Ldexp.
        assert_eq!(pow(2.0, -1074.0), 5e-324);
        assert_eq!(pow(2.0, -1076.0), 0.0);
    }

    #[test]
    fn atan2_follows_go() {
        let nan = f64::NAN;
        let inf = f64::INFINITY;
        let cases: &[(f64, f64, f64)] = &[
            (nan, 1.0, nan),
            (1.0, nan, nan),
            (0.0, 1.0, 0.0),
            (-0.0, 1.0, -0.0),
            (0.0, -0.0, PI),
            (-0.0, -1.0, -PI),
            (1.0, 0.0, PI / 2.0),
            (-1.0, 0.0, -PI / 2.0),
            (inf, inf, PI / 4.0),
            (-inf, inf, -PI / 4.0),
            (inf, -inf, 3.0 * PI / 4.0),
            (-inf, -inf, -3.0 * PI / 4.0),
            (1.0, inf, 0.0),
            (-1.0, inf, -0.0),
            (1.0, -inf, PI),
            (-1.0, -inf, -PI),
            (inf, 1.0, PI / 2.0),
            (-inf, 1.0, -PI / 2.0),
            (10.0, 20.0, 0.4636476090008061),
        ];
        for (y, x, want) in cases {
            assert!(same(atan2(*y, *x), *want), "atan2({y}, {x}) = {} want {want}", atan2(*y, *x));
        }
        for (y, x) in [(1.0, 2.0), (-3.0, 0.5), (2.0, -7.0), (-1.0, -1.0), (1e-300, 1.0), (5.0, 1e-10)] {
            assert!((atan2(y, x) - f64::atan2(y, x)).abs() <= 4.0 * f64::EPSILON, "atan2({y}, {x})");
        }
    }
}
