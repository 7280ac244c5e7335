//! Where the evaluator reads raw series from.
//!
//! [`Queryable`] is the one read interface the evaluator uses: label
//! matchers plus a time range in, series with their raw samples (staleness
//! markers included) out. [`TenantStorage`] implements it over the storage
//! engine for one tenant, so a query can never see another tenant's data.
//!
//! [`FederatedStorage`] reads several tenants at once (Mimir's tenant
//! federation, `X-Scope-OrgID: a|b`): each series gains the label
//! `__tenant_id__` naming its tenant (replacing a stored label of that
//! name), and matchers on `__tenant_id__` choose the tenants read, so
//! PromQL evaluates over the union. With one tenant it is exactly
//! [`TenantStorage`]: no label, and `__tenant_id__` matchers are ordinary
//! matchers.

use std::sync::Arc;

use promql_parser::label::{MatchOp, Matcher as ParsedMatcher};
use promql_parser::parser::{Expr, VectorSelector};
use rampart_storage::labels::METRIC_NAME;
use rampart_storage::{Db, Label, MatchKind, Matcher};

use super::error::QueryError;
use super::value::{Labels, Point};
use crate::tenant::TenantId;

/// The label naming a series' tenant in a multi-tenant read.
pub const TENANT_LABEL: &str = "__tenant_id__";

/// One series as stored: its labels and samples in time order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RawSeries {
    /// The series' labels.
    pub labels: Arc<Labels>,
    /// Samples in `[mint, maxt]` of the request, time order, stale markers included.
    pub points: Vec<Point>,
}

/// A source of series for the evaluator.
pub trait Queryable: Sync {
    /// Series matching all `matchers` with at least one sample in
    /// `[mint, maxt]` (milliseconds, inclusive), sorted by labels, with their
    /// samples in that range.
    fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<RawSeries>, QueryError>;
}

/// One tenant's data in the storage engine.
pub struct TenantStorage<'a> {
    db: &'a Db,
    tenant: &'a str,
}

impl<'a> TenantStorage<'a> {
    /// Reads `tenant`'s data from `db`.
    pub fn new(db: &'a Db, tenant: &'a str) -> Self {
        Self { db, tenant }
    }
}

/// Converts a parsed matcher into the storage engine's matcher.
pub fn to_storage_matcher(m: &ParsedMatcher) -> Result<Matcher, QueryError> {
    let kind = match &m.op {
        MatchOp::Equal => MatchKind::Equal,
        MatchOp::NotEqual => MatchKind::NotEqual,
        MatchOp::Re(_) => MatchKind::Regex,
        MatchOp::NotRe(_) => MatchKind::NotRegex,
    };
    Matcher::new(kind, m.name.clone(), m.value.clone()).map_err(|e| QueryError::BadData(e.to_string()))
}

/// The storage matchers of a selector: its metric name (if written outside
/// the braces) as a `__name__` matcher, then its label matchers. Selectors
/// with `or` between matcher groups are refused (not PromQL in Prometheus).
pub fn selector_matchers(vs: &VectorSelector) -> Result<Vec<Matcher>, QueryError> {
    if !vs.matchers.or_matchers.is_empty() {
        return Err(QueryError::BadData("1:1: parse error: unexpected \"or\" in label matching".into()));
    }
    let mut out = Vec::with_capacity(vs.matchers.matchers.len() + 1);
    if let Some(name) = &vs.name {
        if !vs.matchers.matchers.iter().any(|m| m.name == METRIC_NAME) {
            out.push(Matcher::equal(METRIC_NAME, name.clone()));
        }
    }
    for m in &vs.matchers.matchers {
        out.push(to_storage_matcher(m)?);
    }
    Ok(out)
}

impl Queryable for TenantStorage<'_> {
    fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<RawSeries>, QueryError> {
        let querier = self.db.querier(self.tenant, mint, maxt);
        let mut out = Vec::new();
        for s in querier.select(matchers)? {
            let points = s.samples()?.into_iter().map(|p| Point { t: p.t, v: p.v }).collect();
            out.push(RawSeries { labels: Arc::new(s.labels), points });
        }
        debug_assert!(out.is_sorted_by(|a, b| a.labels <= b.labels), "the querier selects in label order");
        Ok(out)
    }
}

/// Several tenants' data in the storage engine, each series labelled with
/// its tenant.
pub struct FederatedStorage<'a> {
    db: &'a Db,
    tenants: &'a [TenantId],
}

impl<'a> FederatedStorage<'a> {
    /// Reads `tenants`' data from `db`.
    pub fn new(db: &'a Db, tenants: &'a [TenantId]) -> Self {
        Self { db, tenants }
    }

    /// An upper bound on the series `vs` selects, from the index alone:
    /// for each tenant, the shortest postings list of its metric name and
    /// `label="value"` matchers (see `rampart_storage::Querier::series_bound`).
    pub fn series_bound(&self, vs: &VectorSelector) -> usize {
        let name = vs.name.as_deref().map(|n| (METRIC_NAME, n));
        let equal: Vec<(&str, &str)> = vs
            .matchers
            .matchers
            .iter()
            .filter(|m| matches!(m.op, MatchOp::Equal) && !m.value.is_empty() && m.name != TENANT_LABEL)
            .map(|m| (m.name.as_str(), m.value.as_str()))
            .chain(name)
            .collect();
        let unbounded = !vs.matchers.or_matchers.is_empty();
        self.tenants
            .iter()
            .map(|t| {
                let querier = self.db.querier(t.as_str(), i64::MIN, i64::MAX);
                querier.series_bound(if unbounded { &[] } else { &equal })
            })
            .sum()
    }
}

/// Every vector selector in `expr`, matrix selectors' included
/// (`parser.ExtractSelectors`).
pub fn vector_selectors(expr: &Expr) -> Vec<&VectorSelector> {
    fn collect<'a>(expr: &'a Expr, out: &mut Vec<&'a VectorSelector>) {
        match expr {
            Expr::VectorSelector(vs) => out.push(vs),
            Expr::MatrixSelector(m) => out.push(&m.vs),
            Expr::Aggregate(a) => {
                collect(&a.expr, out);
                if let Some(p) = &a.param {
                    collect(p, out);
                }
            }
            Expr::Unary(u) => collect(&u.expr, out),
            Expr::Binary(b) => {
                collect(&b.lhs, out);
                collect(&b.rhs, out);
            }
            Expr::Paren(p) => collect(&p.expr, out),
            Expr::Subquery(s) => collect(&s.expr, out),
            Expr::Call(c) => c.args.args.iter().for_each(|a| collect(a, out)),
            Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
        }
    }
    let mut out = Vec::new();
    collect(expr, &mut out);
    out
}

/// The tenants of a read that `matchers` select, each with the matchers
/// to run against its data. With one tenant: that tenant and `matchers`
/// unchanged. With several: the tenants every `__tenant_id__` matcher
/// accepts, with those matchers removed (and `__name__!=""` in their
/// place if nothing else is left, so that "every series" stays selectable).
pub fn federate<'t>(tenants: &'t [TenantId], matchers: &[Matcher]) -> Vec<(&'t TenantId, Vec<Matcher>)> {
    if let [only] = tenants {
        return vec![(only, matchers.to_vec())];
    }
    let (on_tenant, mut rest): (Vec<&Matcher>, Vec<Matcher>) = {
        let (t, r): (Vec<&Matcher>, Vec<&Matcher>) = matchers.iter().partition(|m| m.name == TENANT_LABEL);
        (t, r.into_iter().cloned().collect())
    };
    if rest.is_empty() && !matchers.is_empty() {
        rest.push(Matcher::new(MatchKind::NotEqual, METRIC_NAME, "").expect("a != matcher has no regex to fail"));
    }
    tenants.iter().filter(|t| on_tenant.iter().all(|m| m.matches(t.as_str()))).map(|t| (t, rest.clone())).collect()
}

/// `labels` with `__tenant_id__="<tenant>"` (replacing any stored one).
pub fn with_tenant_label(labels: Labels, tenant: &TenantId) -> Labels {
    let mut all: Vec<Label> = labels.into_vec().into_iter().filter(|l| l.name != TENANT_LABEL).collect();
    all.push(Label::new(TENANT_LABEL, tenant.as_str()));
    Labels::from_unsorted(all)
}

impl Queryable for FederatedStorage<'_> {
    fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<RawSeries>, QueryError> {
        let federated = self.tenants.len() > 1;
        let mut out = Vec::new();
        for (tenant, own) in federate(self.tenants, matchers) {
            for mut s in TenantStorage::new(self.db, tenant.as_str()).select(&own, mint, maxt)? {
                if federated {
                    s.labels = Arc::new(with_tenant_label(Arc::unwrap_or_clone(s.labels), tenant));
                }
                out.push(s);
            }
        }
        if federated {
            out.sort_by(|a, b| a.labels.cmp(&b.labels));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(names: &[&str]) -> Vec<TenantId> {
        names.iter().map(|n| crate::tenant::from_header(Some(n)).expect("id")).collect()
    }

    fn plan(tenants: &[TenantId], matchers: &[Matcher]) -> Vec<(String, Vec<String>)> {
        federate(tenants, matchers)
            .into_iter()
            .map(|(t, ms)| (t.to_string(), ms.iter().map(|m| format!("{}{:?}{}", m.name, m.kind, m.value)).collect()))
            .collect()
    }

    #[test]
    fn tenant_matchers_choose_tenants_and_one_tenant_is_left_alone() {
        let up = Matcher::equal(METRIC_NAME, "up");
        let on_a = Matcher::equal(TENANT_LABEL, "a");
        let not_b = Matcher::new(MatchKind::NotRegex, TENANT_LABEL, "b|c").expect("regex");
        let abc = ids(&["a", "b", "c"]);
        let up_only = vec!["__name__Equalup".to_owned()];
        assert_eq!(
            plan(&abc, std::slice::from_ref(&up)),
            [("a".into(), up_only.clone()), ("b".into(), up_only.clone()), ("c".into(), up_only.clone())]
        );
        assert_eq!(plan(&abc, &[up.clone(), not_b]), [("a".to_owned(), up_only.clone())]);
        assert_eq!(plan(&abc, std::slice::from_ref(&on_a)), [("a".to_owned(), vec!["__name__NotEqual".to_owned()])]);
        // One tenant: no federation, the matcher is an ordinary one.
        assert_eq!(plan(&ids(&["b"]), &[on_a]), [("b".to_owned(), vec!["__tenant_id__Equala".to_owned()])]);
    }

    #[test]
    fn the_tenant_label_replaces_a_stored_one() {
        let tenant = &ids(&["team-a"])[0];
        let stored = Labels::from_pairs([("__name__", "up"), (TENANT_LABEL, "forged"), ("zone", "x")]);
        let got = with_tenant_label(stored, tenant);
        assert_eq!(got, Labels::from_pairs([("__name__", "up"), (TENANT_LABEL, "team-a"), ("zone", "x")]));
    }
}
