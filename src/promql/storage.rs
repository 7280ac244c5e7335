//! Where the evaluator reads raw series from.
//!
//! [`Queryable`] is the one read interface the evaluator uses: label
//! matchers plus a time range in, series with their raw samples (staleness
//! markers included) out. [`TenantStorage`] implements it over the storage
//! engine for one tenant, so a query can never see another tenant's data.

use std::sync::Arc;

use promql_parser::label::{MatchOp, Matcher as ParsedMatcher};
use promql_parser::parser::VectorSelector;
use rampart_storage::labels::METRIC_NAME;
use rampart_storage::{Db, MatchKind, Matcher};

use super::error::QueryError;
use super::value::{Labels, Point};

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
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(out)
    }
}
