//! Binary operators evaluated at one step: arithmetic, comparison (with and
//! without `bool`), and the set operators `and`, `or`, `unless`, with
//! `on`/`ignoring` and `group_left`/`group_right` vector matching.
//!
//! Semantics are Prometheus 3's (`promql/engine.go`: `scalarBinop`,
//! `VectorscalarBinop`, `VectorBinop`, `VectorAnd`/`Or`/`Unless`,
//! `resultMetric`, `vectorElemBinop`), with delayed name removal:
//!
//! - **Values.** `+ - * /` are IEEE; `%` is Go's `math.Mod` (sign of the
//!   dividend, NaN for a zero divisor or infinite dividend); `^` and
//!   `atan2` are Go's `math.Pow` and `math.Atan2` step for step
//!   ([`crate::promql::gocompat::math`]). A comparison keeps a sample when it holds, with the
//!   vector's value (also when the scalar is on the left); with `bool` it
//!   gives 1 or 0 for every pair.
//! - **Vector and scalar.** Output samples keep their labels. Arithmetic and
//!   `bool` set `drop_name`; a comparison filter keeps the input's.
//! - **Vector and vector.** Series are matched on their labels except
//!   `__name__` (`ignoring (…)` removes more, `on (…)` keeps only those
//!   listed, `__name__` too if listed). The result has the left side's
//!   labels (the "many" side's with `group_left`/`group_right`): arithmetic
//!   removes `__name__`, `__type__` and `__unit__` at once (as Prometheus
//!   does even with delayed name removal); one-to-one matching then keeps
//!   only the `on` labels or removes the `ignoring` labels; labels listed in
//!   `group_x (…)` are copied from the "one" side (removed if it lacks
//!   them). Output `drop_name` is set exactly when `bool` is.
//! - **Errors.** A duplicate signature on the "one" side fails with `found
//!   duplicate series for the match group … on the right|left hand-side of
//!   the operation: [a, b];many-to-many matching not allowed: matching labels
//!   must be unique on one side`; a second match of a one-to-one signature
//!   (checked before comparison filtering) with `multiple matches for
//!   labels: many-to-one matching must be explicit (group_left/group_right)`;
//!   two results with the same labels from one group with `multiple matches
//!   for labels: grouping labels must ensure unique matches`.
//! - **Sets.** `and` keeps left samples whose signature the right has,
//!   `unless` those it lacks, `or` all left samples and then the right
//!   samples whose signature the left lacks. Samples pass through unchanged.
//! - **Fill** (`fill`, `fill_left`, `fill_right`, experimental): a left
//!   sample without a match is paired with the right fill value, then right
//!   samples never matched are paired with the left fill value; the filled
//!   side's labels are the present side's matching labels. As in
//!   Prometheus, with `group_right` "left" and "right" refer to the sides
//!   after swapping (the "many" side is the left).
//!
//! Output samples carry the step's time. Each output label set is built
//! once per query and input series (`ops/memo.rs`), not once per step.

use std::collections::HashMap;
use std::sync::Arc;

use promql_parser::parser::token::{
    TokenId, T_ADD, T_ATAN2, T_DIV, T_EQLC, T_GTE, T_GTR, T_LAND, T_LOR, T_LSS, T_LTE, T_LUNLESS, T_MOD, T_MUL, T_NEQ,
    T_POW, T_SUB,
};
use promql_parser::parser::{BinModifier, BinaryExpr, VectorMatchCardinality};

use super::super::annotations::Annotations;
use super::super::error::QueryError;
use super::super::gocompat::math;
use super::super::value::{Label, Labels, Sample, METRIC_NAME};
use super::aggregate::ops::group::SigTable;
use super::aggregate::ops::labels::{hash_all, labels_string, names_of, LabelSel};
use super::aggregate::ops::memo;

/// One side of a binary operation at one step.
#[derive(Clone, Debug, PartialEq)]
pub enum Operand {
    /// A scalar.
    Scalar(f64),
    /// An instant vector.
    Vector(Vec<Sample>),
}

/// Where a binary operation reports annotations.
pub struct BinaryCtx<'a> {
    /// Evaluation time of this step (milliseconds); output samples carry it.
    pub ts: i64,
    /// Byte offset of the binary expression in the query text.
    pub position: Option<usize>,
    /// Where warnings and infos go.
    pub annotations: &'a mut Annotations,
}

/// Applies `expr`'s operator (with its modifier) to `lhs` and `rhs`.
/// Two scalars give a scalar, anything else a vector.
///
/// Output vectors keep the input order (left side first for `or`, the left
/// side's order for matches, then right-side fill results). Errors are
/// `execution` errors.
pub fn binary(expr: &BinaryExpr, lhs: Operand, rhs: Operand, ctx: &mut BinaryCtx<'_>) -> Result<Operand, QueryError> {
    let op = expr.op.id();
    let return_bool = expr.modifier.as_ref().is_some_and(|m| m.return_bool);
    if !is_arithmetic(op) && !is_comparison(op) && !is_set(op) {
        return Err(QueryError::Internal(format!(
            "operator {:?} not allowed in binary operations",
            expr.op.to_string()
        )));
    }
    match (lhs, rhs) {
        (Operand::Scalar(l), Operand::Scalar(r)) => scalar_binop(expr, l, r).map(Operand::Scalar),
        (Operand::Vector(v), Operand::Scalar(s)) => vector_scalar(expr, v, s, false, return_bool, ctx.ts),
        (Operand::Scalar(s), Operand::Vector(v)) => vector_scalar(expr, v, s, true, return_bool, ctx.ts),
        (Operand::Vector(l), Operand::Vector(r)) => vector_vector(expr, l, r, ctx.ts).map(Operand::Vector),
    }
}

fn is_arithmetic(op: TokenId) -> bool {
    matches!(op, T_ADD | T_SUB | T_MUL | T_DIV | T_POW | T_MOD | T_ATAN2)
}

fn is_comparison(op: TokenId) -> bool {
    matches!(op, T_EQLC | T_NEQ | T_GTR | T_LSS | T_GTE | T_LTE)
}

fn is_set(op: TokenId) -> bool {
    matches!(op, T_LAND | T_LOR | T_LUNLESS)
}

/// `vectorElemBinop` for floats: the value and whether the sample is kept.
/// A comparison's value is its left operand.
fn elem(op: TokenId, l: f64, r: f64) -> (f64, bool) {
    match op {
        T_ADD => (l + r, true),
        T_SUB => (l - r, true),
        T_MUL => (l * r, true),
        T_DIV => (l / r, true),
        T_POW => (math::pow(l, r), true),
        T_MOD => (l % r, true),
        T_ATAN2 => (math::atan2(l, r), true),
        T_EQLC => (l, l == r),
        T_NEQ => (l, l != r),
        T_GTR => (l, l > r),
        T_LSS => (l, l < r),
        T_GTE => (l, l >= r),
        _ => (l, l <= r),
    }
}

fn btos(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

/// Two scalars: arithmetic, or a comparison as 1/0 (the parser requires
/// `bool` there).
fn scalar_binop(expr: &BinaryExpr, l: f64, r: f64) -> Result<f64, QueryError> {
    let op = expr.op.id();
    if is_set(op) {
        return Err(QueryError::Internal(format!("set operator {} not allowed between scalars", expr.op)));
    }
    let (v, keep) = elem(op, l, r);
    Ok(if is_comparison(op) { btos(keep) } else { v })
}

/// A vector and a scalar; `swap` when the scalar is on the left.
fn vector_scalar(
    expr: &BinaryExpr,
    mut v: Vec<Sample>,
    s: f64,
    swap: bool,
    return_bool: bool,
    ts: i64,
) -> Result<Operand, QueryError> {
    let op = expr.op.id();
    if is_set(op) {
        return Err(QueryError::Internal(format!("set operator {} not allowed with a scalar", expr.op)));
    }
    let comparison = is_comparison(op);
    let drops_name = is_arithmetic(op) || return_bool;
    v.retain_mut(|x| {
        let (lf, rf) = if swap { (s, x.v) } else { (x.v, s) };
        let (mut value, mut keep) = elem(op, lf, rf);
        if comparison && swap {
            value = rf;
        }
        if return_bool {
            value = btos(keep);
            keep = true;
        }
        if keep {
            x.v = value;
            x.t = ts;
            x.drop_name |= drops_name;
        }
        keep
    });
    Ok(Operand::Vector(v))
}

/// Two vectors.
fn vector_vector(expr: &BinaryExpr, lhs: Vec<Sample>, rhs: Vec<Sample>, ts: i64) -> Result<Vec<Sample>, QueryError> {
    let op = expr.op.id();
    let modifier = expr.modifier.as_ref();
    let sel = LabelSel::from_modifier(modifier.and_then(|m| m.matching.as_ref()), LabelSel::drop([]));
    let mut out = match op {
        T_LAND => and(&sel, lhs, rhs),
        T_LOR => or(&sel, lhs, rhs),
        T_LUNLESS => unless(&sel, lhs, rhs),
        _ => return VectorBinop::new(op, modifier, &sel, ts)?.run(lhs, rhs),
    };
    for s in &mut out {
        s.t = ts;
    }
    Ok(out)
}

/// `and`: left samples whose signature the right side has.
fn and(sel: &LabelSel<'_>, lhs: Vec<Sample>, rhs: Vec<Sample>) -> Vec<Sample> {
    if lhs.is_empty() || rhs.is_empty() {
        return Vec::new();
    }
    keep_by_match(sel, lhs, &rhs, true)
}

/// `unless`: left samples whose signature the right side lacks.
fn unless(sel: &LabelSel<'_>, lhs: Vec<Sample>, rhs: Vec<Sample>) -> Vec<Sample> {
    if lhs.is_empty() || rhs.is_empty() {
        return lhs;
    }
    keep_by_match(sel, lhs, &rhs, false)
}

/// The left samples whose signature the right side has (`matched`) or
/// lacks (`!matched`).
fn keep_by_match(sel: &LabelSel<'_>, lhs: Vec<Sample>, rhs: &[Sample], matched: bool) -> Vec<Sample> {
    let mut right = SigTable::new(sel);
    for r in rhs {
        right.entry(&r.labels);
    }
    lhs.into_iter()
        .filter(|l| {
            let h = right.hash(&l.labels);
            right.find(&l.labels, h).is_some() == matched
        })
        .collect()
}

/// `or`: all left samples, then right samples whose signature the left lacks.
fn or(sel: &LabelSel<'_>, mut lhs: Vec<Sample>, rhs: Vec<Sample>) -> Vec<Sample> {
    if lhs.is_empty() {
        return rhs;
    }
    if rhs.is_empty() {
        return lhs;
    }
    let keep: Vec<bool> = {
        let mut left = SigTable::new(sel);
        for l in &lhs {
            left.entry(&l.labels);
        }
        rhs.iter()
            .map(|r| {
                let h = left.hash(&r.labels);
                left.find(&r.labels, h).is_none()
            })
            .collect()
    };
    lhs.extend(rhs.into_iter().zip(keep).filter_map(|(r, k)| k.then_some(r)));
    lhs
}

/// Arithmetic and comparison between two vectors (Prometheus's `VectorBinop`).
struct VectorBinop<'e, 's, 'a> {
    op: TokenId,
    return_bool: bool,
    card: &'e VectorMatchCardinality,
    sel: &'s LabelSel<'a>,
    /// `group_x (…)` labels, copied from the "one" side.
    include: Vec<&'e str>,
    fill_lhs: Option<f64>,
    fill_rhs: Option<f64>,
    ts: i64,
    result_spec: memo::Spec,
    fill_spec: memo::Spec,
    buf: Vec<u8>,
}

const ONE_TO_ONE: VectorMatchCardinality = VectorMatchCardinality::OneToOne;

impl<'e, 's, 'a> VectorBinop<'e, 's, 'a> {
    fn new(op: TokenId, modifier: Option<&'e BinModifier>, sel: &'s LabelSel<'a>, ts: i64) -> Result<Self, QueryError> {
        let card = modifier.map_or(&ONE_TO_ONE, |m| &m.card);
        if matches!(card, VectorMatchCardinality::ManyToMany) {
            return Err(QueryError::Internal("many-to-many matching is only allowed for set operators".into()));
        }
        let include: Vec<&str> = card.labels().map(|ls| names_of(ls).collect()).unwrap_or_default();
        let mut text = format!("binary {} {} ", is_arithmetic(op), matches!(card, VectorMatchCardinality::OneToOne));
        sel.describe(&mut text);
        for n in &include {
            text.push_str(n);
            text.push('\u{0}');
        }
        let mut fill_text = String::from("fill ");
        sel.describe(&mut fill_text);
        Ok(Self {
            op,
            return_bool: modifier.is_some_and(|m| m.return_bool),
            card,
            sel,
            include,
            fill_lhs: modifier.and_then(|m| m.fill_values.lhs),
            fill_rhs: modifier.and_then(|m| m.fill_values.rhs),
            ts,
            result_spec: memo::Spec::new(text),
            fill_spec: memo::Spec::new(fill_text),
            buf: Vec::with_capacity(256),
        })
    }

    fn one_to_one(&self) -> bool {
        matches!(self.card, VectorMatchCardinality::OneToOne)
    }

    fn one_to_many(&self) -> bool {
        matches!(self.card, VectorMatchCardinality::OneToMany(_))
    }

    fn run(mut self, lhs: Vec<Sample>, rhs: Vec<Sample>) -> Result<Vec<Sample>, QueryError> {
        let no_fill = self.fill_lhs.is_none() && self.fill_rhs.is_none();
        if (lhs.is_empty() && rhs.is_empty()) || ((lhs.is_empty() || rhs.is_empty()) && no_fill) {
            return Ok(Vec::new());
        }
        // One-to-many is many-to-one with the sides swapped (values are
        // swapped back for the operation).
        let (lhs, rhs) = if self.one_to_many() { (rhs, lhs) } else { (lhs, rhs) };
        let sel = self.sel;

        // Signature ordinals: the right side's first (it must be unique
        // there), then signatures only the left side has.
        let mut table = SigTable::new(sel);
        let mut right_of: Vec<Option<usize>> = Vec::with_capacity(rhs.len());
        let mut rhs_ord = Vec::with_capacity(rhs.len());
        for (j, r) in rhs.iter().enumerate() {
            let (ord, new) = table.entry(&r.labels);
            if !new {
                let first = right_of[ord].unwrap_or(j);
                return Err(self.duplicate_error(&r.labels, &rhs[first].labels));
            }
            right_of.push(Some(j));
            rhs_ord.push(ord);
        }
        let mut lhs_ord = Vec::with_capacity(lhs.len());
        for l in &lhs {
            let (ord, new) = table.entry(&l.labels);
            if new {
                right_of.push(None);
            }
            lhs_ord.push(ord);
        }

        let mut state = Matched::new(table.len(), self.one_to_one());
        let mut out = Vec::with_capacity(lhs.len());
        for (l, &ord) in lhs.iter().zip(&lhs_ord) {
            match right_of[ord] {
                Some(j) => self.pair(&l.labels, l.v, &rhs[j].labels, rhs[j].v, ord, &mut state, &mut out)?,
                None => {
                    let Some(fill) = self.fill_rhs else { continue };
                    let filled = self.fill_labels(&l.labels);
                    self.pair(&l.labels, l.v, &filled, fill, ord, &mut state, &mut out)?;
                }
            }
        }
        if let Some(fill) = self.fill_lhs {
            for (r, &ord) in rhs.iter().zip(&rhs_ord) {
                if state.any(ord) {
                    continue;
                }
                let filled = self.fill_labels(&r.labels);
                self.pair(&filled, fill, &r.labels, r.v, ord, &mut state, &mut out)?;
            }
        }
        Ok(out)
    }

    /// Prometheus's `doBinOp` for one matched (or filled) pair; `ls` is on
    /// the "many" side.
    #[allow(clippy::too_many_arguments)]
    fn pair(
        &mut self,
        ls: &Arc<Labels>,
        lv: f64,
        rs: &Arc<Labels>,
        rv: f64,
        ord: usize,
        state: &mut Matched,
        out: &mut Vec<Sample>,
    ) -> Result<(), QueryError> {
        let (fl, fr) = if self.one_to_many() { (rv, lv) } else { (lv, rv) };
        let (mut value, keep) = elem(self.op, fl, fr);
        if self.return_bool {
            value = btos(keep);
        }
        let metric = self.result_metric(ls, rs);
        if self.one_to_one() {
            if state.one[ord] {
                return Err(QueryError::execution(
                    "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)",
                ));
            }
            state.one[ord] = true;
        } else {
            let h = hash_all(&metric, &mut self.buf);
            let seen = state.results.entry((ord, h)).or_default();
            if seen.iter().any(|m| **m == *metric) {
                return Err(QueryError::execution(
                    "multiple matches for labels: grouping labels must ensure unique matches",
                ));
            }
            seen.push(metric.clone());
            state.many[ord] += 1;
        }
        if keep || self.return_bool {
            out.push(Sample { labels: metric, t: self.ts, v: value, drop_name: self.return_bool });
        }
        Ok(())
    }

    /// The stand-in labels of a missing side: the present side's matching
    /// labels (Prometheus's `MatchLabels`).
    fn fill_labels(&self, present: &Arc<Labels>) -> Arc<Labels> {
        memo::derived(&self.fill_spec, present, None, || Arc::new(self.sel.build(present)))
    }

    /// Prometheus's `resultMetric`: the output labels of a pair.
    fn result_metric(&self, lhs: &Arc<Labels>, rhs: &Arc<Labels>) -> Arc<Labels> {
        let rhs_dep = (!self.include.is_empty()).then_some(rhs);
        memo::derived(&self.result_spec, lhs, rhs_dep, || match self.build_result(lhs, rhs) {
            Some(ls) => Arc::new(ls),
            None => lhs.clone(),
        })
    }

    /// Whether `resultMetric` removes the label `name` of the left side
    /// before copying `group_x` labels.
    fn removes(&self, name: &str) -> bool {
        if is_arithmetic(self.op) && matches!(name, METRIC_NAME | "__type__" | "__unit__") {
            return true;
        }
        if self.one_to_one() {
            let listed = self.sel.names().binary_search(&name).is_ok();
            return if self.sel.is_keep() { !listed } else { listed };
        }
        false
    }

    /// The result labels of a pair, or `None` when they are the left
    /// side's labels unchanged.
    fn build_result(&self, lhs: &Labels, rhs: &Labels) -> Option<Labels> {
        let one_side = |n: &str| rhs.get(n).filter(|v| !v.is_empty());
        let removes_any = lhs.iter().any(|l| self.removes(&l.name));
        let copies_any = self.include.iter().any(|n| {
            let kept = if self.removes(n) { None } else { lhs.get(n) };
            one_side(n) != kept
        });
        if !removes_any && !copies_any {
            return None;
        }
        let mut labels: Vec<Label> = lhs.iter().filter(|l| !self.removes(&l.name)).cloned().collect();
        for n in &self.include {
            let at = labels.binary_search_by(|l| l.name.as_str().cmp(n));
            match (one_side(n), at) {
                (Some(v), Ok(i)) => labels[i].value = v.to_string(),
                (Some(v), Err(i)) => labels.insert(i, Label::new(n.to_string(), v.to_string())),
                (None, Ok(i)) => {
                    labels.remove(i);
                }
                (None, Err(_)) => {}
            }
        }
        Some(Labels::from_sorted(labels))
    }

    /// The error for two right-side (left-side with `group_right`) series
    /// with the same signature.
    fn duplicate_error(&self, a: &Labels, b: &Labels) -> QueryError {
        let matched = labels_string(self.sel.project(a));
        let (mut d1, mut d2) = (labels_string(a.iter()), labels_string(b.iter()));
        if d1 > d2 {
            std::mem::swap(&mut d1, &mut d2);
        }
        let side = if self.one_to_many() { "left" } else { "right" };
        QueryError::execution(format!(
            "found duplicate series for the match group {matched} on the {side} hand-side of the operation: \
             [{d1}, {d2}];many-to-many matching not allowed: matching labels must be unique on one side"
        ))
    }
}

/// Which signatures have been matched at this step.
struct Matched {
    one_to_one: bool,
    /// One-to-one: signature matched.
    one: Vec<bool>,
    /// Many-to-one: number of results per signature.
    many: Vec<u32>,
    /// Many-to-one: result label sets per signature, by hash.
    results: HashMap<(usize, u64), Vec<Arc<Labels>>>,
}

impl Matched {
    fn new(n: usize, one_to_one: bool) -> Self {
        if one_to_one {
            Self { one_to_one, one: vec![false; n], many: Vec::new(), results: HashMap::new() }
        } else {
            Self { one_to_one, one: Vec::new(), many: vec![0; n], results: HashMap::new() }
        }
    }

    /// Whether signature `ord` has produced a result (or a one-to-one match).
    fn any(&self, ord: usize) -> bool {
        if self.one_to_one {
            self.one[ord]
        } else {
            self.many[ord] > 0
        }
    }
}

#[cfg(test)]
#[path = "ops/binary_tests.rs"]
mod tests;
