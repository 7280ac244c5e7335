//! `count_values` at one step (Prometheus's `aggregationCountValues`).
//!
//! Each sample's labels get the value label (Go's
//! `strconv.FormatFloat(v, 'f', -1, 64)`, replacing a label of that name),
//! then are grouped: `by (…)` keeps the listed labels and the value label,
//! `without (…)` drops the listed labels and `__name__`. The count of each
//! group is output, groups in first-seen order (Prometheus's order is a Go
//! map's, i.e. none), without `drop_name`.
//!
//! The value label's name must be a valid (UTF-8, non-empty) label name,
//! else the query fails with `invalid label name "…"`.

use std::sync::Arc;

use super::group::HashIndex;
use super::labels::LabelSel;
use crate::promql::error::QueryError;
use crate::promql::eval::aggregate::AggCtx;
use crate::promql::gocompat::format::{format_f, quote};
use crate::promql::value::{Label, Labels, Sample};

/// Evaluates `count_values(label, input)` grouped by `sel`.
pub(crate) fn count_values(
    sel: &LabelSel<'_>,
    label: &str,
    input: Vec<Sample>,
    ctx: &mut AggCtx<'_>,
) -> Result<Vec<Sample>, QueryError> {
    if label.is_empty() {
        return Err(QueryError::execution(format!("invalid label name {}", quote(label))));
    }
    let grouping = if sel.is_keep() {
        LabelSel::keep(sel.names().iter().copied().chain(std::iter::once(label)))
    } else {
        sel.clone()
    };

    let mut heads: HashIndex<usize> = HashIndex::default();
    // Per group: its labels, its count and the next group with the same hash.
    let mut groups: Vec<(Arc<Labels>, usize, Option<usize>)> = Vec::new();
    let mut buf = Vec::with_capacity(256);
    for s in &input {
        let value = format_f(s.v);
        let selected = || with_label(&s.labels, label, &value).filter(|(n, _)| grouping.selects(n));
        buf.clear();
        for (n, v) in selected() {
            buf.extend_from_slice(n.as_bytes());
            buf.push(0xFF);
            buf.extend_from_slice(v.as_bytes());
            buf.push(0xFF);
        }
        let hash = xxhash_rust::xxh3::xxh3_64(&buf);
        let mut found = None;
        let mut last = None;
        let mut next = heads.get(&hash).copied();
        while let Some(g) = next {
            let same = groups[g].0.iter().map(|l| (l.name.as_str(), l.value.as_str())).eq(selected());
            if same {
                found = Some(g);
                break;
            }
            last = Some(g);
            next = groups[g].2;
        }
        match found {
            Some(g) => groups[g].1 += 1,
            None => {
                let labels =
                    Labels::from_sorted(selected().map(|(n, v)| Label::new(n.to_string(), v.to_string())).collect());
                let g = groups.len();
                groups.push((Arc::new(labels), 1, None));
                match last {
                    Some(prev) => groups[prev].2 = Some(g),
                    None => {
                        heads.insert(hash, g);
                    }
                }
            }
        }
    }
    Ok(groups.into_iter().map(|(labels, n, _)| Sample { labels, t: ctx.ts, v: n as f64, drop_name: false }).collect())
}

/// The labels of `ls` with `name` set to `value`, as (name, value) pairs in
/// name order.
fn with_label<'l>(ls: &'l Labels, name: &'l str, value: &'l str) -> impl Iterator<Item = (&'l str, &'l str)> + 'l {
    let mut rest = ls.iter().filter(move |l| l.name != name).peekable();
    let mut pending = Some((name, value));
    std::iter::from_fn(move || {
        if let Some((n, _)) = pending {
            match rest.peek() {
                Some(l) if l.name.as_str() < n => {}
                _ => return pending.take(),
            }
        }
        rest.next().map(|l| (l.name.as_str(), l.value.as_str()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_label_inserts_or_replaces_in_order() {
        let ls = Labels::from_pairs([("__name__", "m"), ("b", "2"), ("d", "4")]);
        let got: Vec<_> = with_label(&ls, "c", "x").collect();
        assert_eq!(got, vec![("__name__", "m"), ("b", "2"), ("c", "x"), ("d", "4")]);
        let got: Vec<_> = with_label(&ls, "b", "x").collect();
        assert_eq!(got, vec![("__name__", "m"), ("b", "x"), ("d", "4")]);
        let got: Vec<_> = with_label(&ls, "z", "x").collect();
        assert_eq!(got, vec![("__name__", "m"), ("b", "2"), ("d", "4"), ("z", "x")]);
        let got: Vec<_> = with_label(&ls, "A", "x").collect();
        assert_eq!(got, vec![("A", "x"), ("__name__", "m"), ("b", "2"), ("d", "4")]);
    }
}
