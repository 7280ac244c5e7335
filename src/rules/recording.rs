//! Recording rules: an expression's result stored under a new metric name.

use rampart_storage::Labels;

use super::alerting::set_label;
use crate::promql::value::{Label, METRIC_NAME};

/// Renames each result series to `name` and applies the rule's labels (an
/// empty value removes the label), as Prometheus does. Fails when two
/// results end up with the same labels, or when there are more than
/// `limit` (0: no limit).
pub fn apply(
    name: &str,
    rule_labels: &Labels,
    result: Vec<(Labels, f64)>,
    limit: usize,
) -> Result<Vec<(Labels, f64)>, String> {
    let mut out: Vec<(Labels, f64)> = result
        .into_iter()
        .map(|(labels, v)| {
            let mut labels: Vec<Label> = labels.into_vec();
            set_label(&mut labels, METRIC_NAME, name.to_owned());
            for l in rule_labels.iter() {
                set_label(&mut labels, &l.name, l.value.clone());
            }
            (Labels::from_unsorted(labels), v)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    if out.windows(2).any(|w| w[0].0 == w[1].0) {
        return Err("vector contains metrics with the same labelset after applying rule labels".into());
    }
    if limit > 0 && out.len() > limit {
        return Err(format!("exceeded limit of {limit} with {} series", out.len()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_are_renamed_and_relabelled() {
        let result = vec![
            (Labels::from_pairs([("__name__", "up"), ("job", "a"), ("drop", "x")]), 1.0),
            (Labels::from_pairs([("job", "b"), ("drop", "y")]), 0.0),
        ];
        let rule_labels = Labels::from_pairs([("drop", ""), ("team", "t")]);
        let out = apply("job:up", &rule_labels, result, 0).expect("valid");
        assert_eq!(
            out,
            vec![
                (Labels::from_pairs([("__name__", "job:up"), ("job", "a"), ("team", "t")]), 1.0),
                (Labels::from_pairs([("__name__", "job:up"), ("job", "b"), ("team", "t")]), 0.0),
            ]
        );
    }

    #[test]
    fn collisions_and_limits_fail_the_rule() {
        let result = vec![
            (Labels::from_pairs([("job", "a"), ("i", "1")]), 1.0),
            (Labels::from_pairs([("job", "a"), ("i", "2")]), 2.0),
        ];
        let err = apply("r", &Labels::from_pairs([("i", "")]), result.clone(), 0).expect_err("collision");
        assert_eq!(err, "vector contains metrics with the same labelset after applying rule labels");
        assert_eq!(apply("r", &Labels::default(), result, 1).expect_err("limit"), "exceeded limit of 1 with 2 series");
    }
}
