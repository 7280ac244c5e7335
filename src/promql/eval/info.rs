//! The experimental `info(v, [label selector])` function, as Prometheus's
//! `promql/info.go`: enriches each series of `v` with the data labels of
//! the info series (`target_info` by default) that share its identifying
//! labels (`instance`, `job`). The info series are selected during
//! evaluation, once, for the identifying label values `v` actually has.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use promql_parser::parser::{Expr, VectorSelector};
use rampart_storage::{MatchKind, Matcher};

use super::super::error::QueryError;
use super::super::storage::to_storage_matcher;
use super::super::value::{Label, Labels, Sample, Series, METRIC_NAME};
use super::evaluator::{Evaluator, Val};
use super::positions::unwrap_parens;
use super::selector;
use super::steps::{cursors, gather, Assembler, Grid};
use super::subquery::{at_ms, offset_ms, QueryTimes};

const TARGET_INFO: &str = "target_info";
const IDENTIFYING_LABELS: [&str; 2] = ["instance", "job"];

/// The `@` time and offset that govern the info series: those of the first
/// selector in `e`, shifted by enclosing subqueries up to one with `@`.
fn info_time_and_offset(e: &Expr, q: QueryTimes) -> (Option<i64>, i64) {
    fn find<'e>(e: &'e Expr, path: &mut Vec<&'e Expr>) -> Option<&'e VectorSelector> {
        match e {
            Expr::VectorSelector(vs) => Some(vs),
            Expr::MatrixSelector(ms) => Some(&ms.vs),
            Expr::Subquery(sq) => {
                path.push(e);
                let r = find(&sq.expr, path);
                if r.is_none() {
                    path.pop();
                }
                r
            }
            Expr::Paren(p) => find(&p.expr, path),
            Expr::Unary(u) => find(&u.expr, path),
            Expr::Binary(b) => find(&b.lhs, path).or_else(|| find(&b.rhs, path)),
            Expr::Aggregate(a) => a.param.as_deref().and_then(|p| find(p, path)).or_else(|| find(&a.expr, path)),
            Expr::Call(c) => c.args.args.iter().find_map(|a| find(a, path)),
            Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => None,
        }
    }
    let mut path = Vec::new();
    let Some(vs) = find(e, &mut path) else { return (None, 0) };
    let mut ts = at_ms(&vs.at, q);
    let mut offset = offset_ms(&vs.offset);
    for node in path.iter().rev() {
        if ts.is_some() {
            break;
        }
        if let Expr::Subquery(sq) = node {
            offset += offset_ms(&sq.offset);
            ts = at_ms(&sq.at, q);
        }
    }
    (ts, offset)
}

/// Go's `regexp.QuoteMeta`.
fn quote_meta(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn name_matcher(m: &Matcher, name: &str) -> bool {
    m.matches(name)
}

/// Prometheus's `effectiveInfoNameMatchers`.
fn effective_name_matchers(ms: Vec<Matcher>) -> Result<Vec<Matcher>, QueryError> {
    if ms.iter().any(|m| matches!(m.kind, MatchKind::Equal | MatchKind::Regex)) {
        return Ok(ms);
    }
    if !ms.is_empty() {
        let mut out = vec![Matcher::new(MatchKind::Regex, METRIC_NAME, ".+_info").map_err(internal)?];
        out.extend(ms);
        return Ok(out);
    }
    Ok(vec![Matcher::equal(METRIC_NAME, TARGET_INFO)])
}

fn internal(e: rampart_storage::Error) -> QueryError {
    QueryError::Internal(e.to_string())
}

/// The signature of `labels` against the info metric `name`.
fn signature(name: &str, labels: &Labels) -> Vec<(String, String)> {
    let mut sig = vec![(METRIC_NAME.to_string(), name.to_string())];
    for l in IDENTIFYING_LABELS {
        if let Some(v) = labels.get(l) {
            sig.push((l.to_string(), v.to_string()));
        }
    }
    sig.sort();
    sig
}

impl Evaluator<'_> {
    /// Evaluates `info(args[0], [args[1]])`.
    pub(super) fn eval_info(&mut self, args: &[&Expr], g: &Grid) -> Result<Val, QueryError> {
        let original = self.limits.samples;
        let (node_ts, offset) = info_time_and_offset(args[0], self.times);
        let base = match self.eval(args[0], g)? {
            Val::Vector(s) => s,
            _ => return Err(QueryError::Internal("info: first argument is not an instant vector".into())),
        };

        // Data label matchers by label name, and the __name__ ones.
        let mut data_matchers: BTreeMap<String, Vec<Matcher>> = BTreeMap::new();
        let mut name_matchers = Vec::new();
        match args.get(1).map(|a| unwrap_parens(a)) {
            Some(Expr::VectorSelector(sel)) => {
                if let Some(n) = &sel.name {
                    data_matchers.entry(METRIC_NAME.into()).or_default().push(Matcher::equal(METRIC_NAME, n.clone()));
                    name_matchers.push(Matcher::equal(METRIC_NAME, n.clone()));
                }
                for m in &sel.matchers.matchers {
                    let sm = to_storage_matcher(m)?;
                    if m.name == METRIC_NAME {
                        name_matchers.push(sm.clone());
                    }
                    data_matchers.entry(m.name.clone()).or_default().push(sm);
                }
            }
            Some(_) => return Err(QueryError::BadData("info: the second argument must be a label selector".into())),
            None => name_matchers.push(Matcher::equal(METRIC_NAME, TARGET_INFO)),
        }

        // Info series themselves are not enriched.
        let effective = effective_name_matchers(name_matchers.clone())?;
        let ignored: Vec<bool> = base
            .iter()
            .map(|s| {
                let name = s.labels.get(METRIC_NAME).unwrap_or("");
                effective.iter().all(|m| name_matcher(m, name))
            })
            .collect();

        // Identifying label values of the series to enrich.
        let mut id_values: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for (s, ign) in base.iter().zip(&ignored) {
            if *ign {
                continue;
            }
            for l in IDENTIFYING_LABELS {
                if let Some(v) = s.labels.get(l).filter(|v| !v.is_empty()) {
                    let vals = id_values.entry(l).or_default();
                    if !vals.iter().any(|x| x == v) {
                        vals.push(v.to_string());
                    }
                }
            }
        }
        let name_given: Vec<Matcher> = data_matchers.remove(METRIC_NAME).unwrap_or_default();
        let info_series = if id_values.is_empty() {
            Vec::new()
        } else {
            let mut matchers = Vec::new();
            for (name, vals) in &id_values {
                let re = vals.iter().map(|v| quote_meta(v)).collect::<Vec<_>>().join("|");
                matchers.push(Matcher::new(MatchKind::Regex, *name, re).map_err(internal)?);
            }
            for ms in data_matchers.values() {
                matchers.extend(ms.iter().cloned());
            }
            matchers.extend(effective_name_matchers(name_given)?);
            let (mut start, mut end) = (g.start, g.last());
            if let Some(t) = node_ts {
                (start, end) = (t, t);
            }
            let mint = start - (self.lookback - 1) - offset;
            let maxt = end - offset;
            let raw = self.queryable.select(&matchers, mint, maxt)?;
            self.limits.check_time()?;
            // Values are the info samples' own timestamps (newest wins).
            let mut times = Vec::new();
            let series =
                selector::instant_vector(raw, g, offset, node_ts, self.lookback, Some(&mut times), |_| Ok(()))?;
            series
                .into_iter()
                .zip(times)
                .map(|(mut s, t)| {
                    for (p, t) in s.points.iter_mut().zip(t) {
                        p.v = t as f64;
                    }
                    s
                })
                .collect()
        };

        // Signatures per info metric name.
        let info_names: Vec<String> = {
            let mut names: Vec<String> =
                info_series.iter().filter_map(|s| s.labels.get(METRIC_NAME).map(str::to_string)).collect();
            names.sort();
            names.dedup();
            names
        };
        let base_sigs: Vec<Vec<Vec<(String, String)>>> =
            base.iter().map(|s| info_names.iter().map(|n| signature(n, &s.labels)).collect()).collect();
        let info_sigs: Vec<Vec<(String, String)>> =
            info_series.iter().map(|s| signature(s.labels.get(METRIC_NAME).unwrap_or(""), &s.labels)).collect();
        let all_match_empty = data_matchers.values().flatten().all(|m| m.matches(""));

        let n = g.len();
        let (mut bcur, mut icur) = (cursors(&base), cursors(&info_series));
        let mut bvec = Vec::with_capacity(base.len());
        let mut ivec = Vec::with_capacity(info_series.len());
        let base_index: HashMap<*const Labels, usize> =
            base.iter().enumerate().map(|(i, s)| (Arc::as_ptr(&s.labels), i)).collect();
        let info_index: HashMap<*const Labels, usize> =
            info_series.iter().enumerate().map(|(i, s)| (Arc::as_ptr(&s.labels), i)).collect();
        let mut asm = Assembler::with_steps(true, base.len(), n);
        let mut temp = self.limits.samples;
        for step in 0..n {
            self.limits.check_time()?;
            let ts = g.ts(step);
            bvec.clear();
            ivec.clear();
            let gathered = gather(&base, &mut bcur, ts, &mut bvec) + gather(&info_series, &mut icur, ts, &mut ivec);
            self.limits.check(temp + gathered)?;
            // Newest info sample per signature.
            let mut by_sig: HashMap<&[(String, String)], &Sample> = HashMap::new();
            for s in &ivec {
                let sig = &info_sigs[info_index[&Arc::as_ptr(&s.labels)]];
                match by_sig.get(sig.as_slice()) {
                    Some(existing) if existing.v > s.v => {}
                    Some(existing) if existing.v == s.v => {
                        return Err(QueryError::execution(format!(
                            "found duplicate series for info metric: existing {} @ {}, new {} @ {}",
                            existing.labels, existing.v as i64, s.labels, s.v as i64
                        )));
                    }
                    _ => {
                        by_sig.insert(sig.as_slice(), s);
                    }
                }
            }
            let mut out = Vec::with_capacity(bvec.len());
            for bs in &bvec {
                let bi = base_index[&Arc::as_ptr(&bs.labels)];
                if ignored[bi] {
                    out.push(bs.clone());
                    continue;
                }
                let mut add: BTreeMap<&str, &str> = BTreeMap::new();
                let mut seen = HashSet::new();
                for (ni, sig) in base_sigs[bi].iter().enumerate() {
                    let Some(is) = by_sig.get(sig.as_slice()) else { continue };
                    if !seen.insert(ni) {
                        continue;
                    }
                    for l in is.labels.iter() {
                        if l.name == METRIC_NAME {
                            continue;
                        }
                        if !data_matchers.is_empty() && !data_matchers.contains_key(&l.name) {
                            continue;
                        }
                        if let Some(v) = add.get(l.name.as_str()) {
                            if *v != l.value {
                                return Err(QueryError::execution(format!("conflicting label: {}", l.name)));
                            }
                        }
                        if bs.labels.get(&l.name).is_some() {
                            continue;
                        }
                        add.insert(&l.name, &l.value);
                    }
                }
                if seen.is_empty() && !all_match_empty {
                    continue;
                }
                let labels = if add.is_empty() {
                    bs.labels.clone()
                } else {
                    let mut ls: Vec<Label> = bs.labels.iter().cloned().collect();
                    ls.extend(add.iter().map(|(k, v)| Label::new(*k, *v)));
                    Arc::new(Labels::from_unsorted(ls))
                };
                out.push(Sample { labels, t: ts, v: bs.v, drop_name: bs.drop_name });
            }
            self.limits.check(temp + gathered + out.len())?;
            temp += out.len();
            asm.push_step(step, ts, out)?;
        }
        let result: Vec<Series> = asm.finish();
        self.limits.samples = original + result.iter().map(|s| s.points.len()).sum::<usize>();
        Ok(Val::Vector(result))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_meta_escapes_like_go() {
        assert_eq!(quote_meta("a.b:9090"), "a\\.b:9090");
        assert_eq!(quote_meta("x|(y)"), "x\\|\\(y\\)");
    }

    #[test]
    fn info_time_follows_the_first_selector_and_its_subqueries() {
        let q = QueryTimes { start: 0, end: 0 };
        let e = promql_parser::parser::parse("rate(x[5m] offset 1m)").unwrap();
        assert_eq!(info_time_and_offset(&e, q), (None, 60_000));
        let e = promql_parser::parser::parse("max_over_time(x[5m:1m] offset 2m @ 100)").unwrap();
        assert_eq!(info_time_and_offset(&e, q), (Some(100_000), 120_000));
    }
}
