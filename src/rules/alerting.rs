//! Alerting rules: the state of each alert an alerting rule produces, as
//! Prometheus keeps it.
//!
//! An alert is identified by its label set: the expression result's labels
//! without `__name__`, plus the rule's (expanded) labels and `alertname`.
//! States move inactive → pending (condition true) → firing (true for
//! `for`), and back to inactive (resolved) when the condition ends, after
//! `keep_firing_for` for a firing alert. Resolved alerts are kept for
//! [`RESOLVED_RETENTION`] so their resolution is re-sent to Alertmanager.
//!
//! Each evaluation writes `ALERTS{alertstate=…}` = 1 and
//! `ALERTS_FOR_STATE` = the alert's active-since time in seconds for every
//! pending and firing alert, but only once the rule's state has been
//! restored from `ALERTS_FOR_STATE` after a start ([`AlertingRule::restore`]),
//! so a restart does not overwrite the record it restores from.
//!
//! Times are Unix milliseconds.

use std::collections::HashMap;
use std::time::Duration;

use rampart_storage::Labels;

use super::notifier;
use super::template::{self, TemplateData, TemplateQuery};
use crate::promql::value::{Label, METRIC_NAME};
#[cfg(test)]
use rampart_storage::STALE_NAN_BITS;

/// How long a resolved alert is kept (and re-sent as resolved).
pub const RESOLVED_RETENTION_MS: i64 = 15 * 60 * 1000;
/// [`RESOLVED_RETENTION_MS`] as a duration, for the docs.
pub const RESOLVED_RETENTION: Duration = Duration::from_millis(RESOLVED_RETENTION_MS as u64);

/// The name of the alert series.
pub const ALERTS: &str = "ALERTS";
/// The name of the series recording when each alert became active.
pub const ALERTS_FOR_STATE: &str = "ALERTS_FOR_STATE";
const ALERT_NAME: &str = "alertname";
const ALERT_STATE: &str = "alertstate";

/// State of one alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum AlertState {
    /// Resolved.
    Inactive,
    /// Condition true for less than `for`.
    Pending,
    /// Condition true for `for` or longer.
    Firing,
}

impl AlertState {
    /// The name Prometheus uses (`alertstate` label, API `state`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Inactive => "inactive",
            Self::Pending => "pending",
            Self::Firing => "firing",
        }
    }
}

/// One alert of a rule.
#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    /// Current state.
    pub state: AlertState,
    /// Identifying labels.
    pub labels: Labels,
    /// Expanded annotations of the latest evaluation.
    pub annotations: Labels,
    /// The expression's value at the latest evaluation.
    pub value: f64,
    /// Since when the condition holds.
    pub active_at: i64,
    /// When it started firing.
    pub fired_at: Option<i64>,
    /// When it was resolved.
    pub resolved_at: Option<i64>,
    /// When it was last sent to Alertmanager.
    pub last_sent_at: Option<i64>,
    /// Until when Alertmanager should consider it firing without news.
    pub valid_until: i64,
    /// Since when the condition is false while `keep_firing_for` keeps it firing.
    pub keep_firing_since: Option<i64>,
}

impl Alert {
    fn needs_sending(&self, ts: i64, resend_delay_ms: i64) -> bool {
        if self.state == AlertState::Pending {
            return false;
        }
        let last_sent = self.last_sent_at.unwrap_or(i64::MIN);
        if self.resolved_at.is_some_and(|r| r > last_sent) {
            return true;
        }
        last_sent.saturating_add(resend_delay_ms) < ts
    }
}

/// What an alerting rule's templates see besides the alert itself.
pub struct TemplateEnv<'a> {
    /// `$externalLabels`.
    pub external_labels: &'a Labels,
    /// `$externalURL`.
    pub external_url: &'a str,
    /// The `query` function.
    pub query: &'a dyn TemplateQuery,
}

/// The alert state of one alerting rule.
#[derive(Clone, Debug)]
pub struct AlertingRule {
    name: String,
    hold_ms: i64,
    keep_firing_for_ms: i64,
    labels: Labels,
    annotations: Labels,
    /// Pending, firing and recently resolved alerts by their labels.
    active: HashMap<Labels, Alert>,
    /// The state was restored after a start (or needed no restoring).
    restored: bool,
}

impl AlertingRule {
    /// A rule with no alerts yet; `restored` is false on a start, when
    /// state is to be restored from `ALERTS_FOR_STATE`.
    pub fn new(name: &str, hold: Duration, keep_firing_for: Duration, labels: Labels, annotations: Labels) -> Self {
        Self {
            name: name.to_owned(),
            hold_ms: millis(hold),
            keep_firing_for_ms: millis(keep_firing_for),
            labels,
            annotations,
            active: HashMap::new(),
            restored: false,
        }
    }

    /// How long a condition must hold before the alert fires.
    pub fn hold_ms(&self) -> i64 {
        self.hold_ms
    }

    /// Marks the state as restored (or as needing no restore).
    pub fn set_restored(&mut self) {
        self.restored = true;
    }

    /// Takes over the alerts of the same rule from before a reload.
    pub fn take_state(&mut self, from: &mut AlertingRule) {
        self.active = std::mem::take(&mut from.active);
        self.restored = from.restored;
    }

    /// Updates the alerts from the expression's result at `ts` and returns
    /// the `ALERTS` and `ALERTS_FOR_STATE` samples to store.
    /// Fails (dropping every alert) when the result exceeds `limit` alerts,
    /// or when two results get the same labels.
    pub fn eval(
        &mut self,
        ts: i64,
        result: Vec<(Labels, f64)>,
        env: &TemplateEnv<'_>,
        limit: usize,
    ) -> Result<Vec<(Labels, f64)>, String> {
        let template_name = format!("__alert_{}", self.name);
        let mut current: HashMap<Labels, (Labels, f64)> = HashMap::with_capacity(result.len());
        for (labels, value) in result {
            let data = TemplateData {
                labels: &labels,
                external_labels: env.external_labels,
                external_url: env.external_url,
                value,
            };
            let expand = |text: &str| template::expand_or_error(&template_name, text, &data, env.query);
            let mut alert_labels: Vec<Label> = labels.iter().filter(|l| l.name != METRIC_NAME).cloned().collect();
            for l in self.labels.iter() {
                set_label(&mut alert_labels, &l.name, expand(&l.value));
            }
            set_label(&mut alert_labels, ALERT_NAME, self.name.clone());
            let annotations = Labels::from_unsorted(
                self.annotations.iter().map(|a| Label::new(a.name.clone(), expand(&a.value))).collect(),
            );
            let alert_labels = Labels::from_unsorted(alert_labels);
            if current.insert(alert_labels, (annotations, value)).is_some() {
                return Err("vector contains metrics with the same labelset after applying alert labels".into());
            }
        }
        for (labels, (annotations, value)) in &current {
            match self.active.get_mut(labels) {
                Some(a) if a.state != AlertState::Inactive => {
                    a.value = *value;
                    a.annotations = annotations.clone();
                }
                _ => {
                    let alert = Alert {
                        state: AlertState::Pending,
                        labels: labels.clone(),
                        annotations: annotations.clone(),
                        value: *value,
                        active_at: ts,
                        fired_at: None,
                        resolved_at: None,
                        last_sent_at: None,
                        valid_until: 0,
                        keep_firing_since: None,
                    };
                    self.active.insert(labels.clone(), alert);
                }
            }
        }
        let mut samples = Vec::new();
        let mut active_count = 0;
        let (hold, keep_for) = (self.hold_ms, self.keep_firing_for_ms);
        self.active.retain(|labels, a| {
            if current.contains_key(labels) {
                a.keep_firing_since = None;
            } else {
                let mut keep_firing = false;
                if a.state == AlertState::Firing && keep_for > 0 {
                    let since = *a.keep_firing_since.get_or_insert(ts);
                    keep_firing = ts - since < keep_for;
                }
                let expired = a.resolved_at.is_some_and(|r| ts - r > RESOLVED_RETENTION_MS);
                let keep = a.state != AlertState::Pending && !expired;
                if a.state != AlertState::Inactive && !keep_firing {
                    a.state = AlertState::Inactive;
                    a.resolved_at = Some(ts);
                }
                if !keep_firing {
                    return keep;
                }
            }
            active_count += 1;
            if a.state == AlertState::Pending && ts - a.active_at >= hold {
                a.state = AlertState::Firing;
                a.fired_at = Some(ts);
            }
            if a.state == AlertState::Firing && ts - a.active_at < hold {
                // `for` grew in a reload: back to pending.
                a.state = AlertState::Pending;
                a.fired_at = None;
                a.last_sent_at = None;
                a.keep_firing_since = None;
            }
            true
        });
        if limit > 0 && active_count > limit {
            self.active.clear();
            return Err(format!("exceeded limit of {limit} with {active_count} alerts"));
        }
        if self.restored {
            for a in self.active.values().filter(|a| a.state != AlertState::Inactive) {
                samples.push((series_labels(self, &a.labels, ALERTS, Some(a.state)), 1.0));
                samples.push((
                    series_labels(self, &a.labels, ALERTS_FOR_STATE, None),
                    a.active_at.div_euclid(1000) as f64,
                ));
            }
        }
        Ok(samples)
    }

    /// The alerts to send at `ts`: firing ones not sent for `resend_delay`,
    /// and resolved ones not sent since they resolved. Marks them sent.
    pub fn alerts_to_send(
        &mut self,
        ts: i64,
        resend_delay: Duration,
        interval: Duration,
        generator_url: &str,
    ) -> Vec<notifier::Alert> {
        let resend_ms = millis(resend_delay);
        let delta = resend_ms.max(millis(interval));
        let mut out = Vec::new();
        for a in self.active.values_mut() {
            if !a.needs_sending(ts, resend_ms) {
                continue;
            }
            a.last_sent_at = Some(ts);
            a.valid_until = ts + 4 * delta;
            out.push(notifier::Alert {
                labels: a.labels.clone(),
                annotations: a.annotations.clone(),
                starts_at_ms: a.fired_at.unwrap_or(a.active_at),
                ends_at_ms: a.resolved_at.unwrap_or(a.valid_until),
                generator_url: generator_url.to_owned(),
            });
        }
        out
    }

    /// Restores `for` progress after a start, as Prometheus does with
    /// `--rules.alert.for-outage-tolerance`: for each pending or firing
    /// alert, `last_for_state(labels)` gives the newest `ALERTS_FOR_STATE`
    /// sample (time, value = active-since seconds) within the outage
    /// tolerance. Time spent down does not count towards `for`; an alert
    /// that would fire within `grace` of `ts` fires at `ts + grace` instead.
    pub fn restore(&mut self, ts: i64, grace: Duration, last_for_state: impl Fn(&Labels) -> Option<(i64, f64)>) {
        let grace_ms = millis(grace);
        self.restored = true;
        if self.hold_ms < grace_ms {
            return;
        }
        for a in self.active.values_mut() {
            let series = series_labels_of(&self.labels, &self.name, &a.labels, ALERTS_FOR_STATE, None);
            let Some((down_at, v)) = last_for_state(&series) else { continue };
            if crate::promql::value::is_stale_marker(v) {
                continue;
            }
            let down_at = down_at.div_euclid(1000) * 1000;
            let mut active_at = (v as i64) * 1000;
            let remaining = self.hold_ms - (down_at - active_at);
            if remaining <= 0 {
                // It was firing; it fires again at the next evaluation.
            } else if remaining < grace_ms {
                active_at = ts + grace_ms - self.hold_ms;
            } else {
                active_at += ts - down_at;
            }
            a.active_at = active_at;
        }
    }

    /// The pending and firing alerts.
    pub fn alerts(&self) -> impl Iterator<Item = &Alert> {
        self.active.values().filter(|a| a.resolved_at.is_none())
    }

    /// The highest state of the rule's alerts.
    pub fn state(&self) -> AlertState {
        self.alerts().map(|a| a.state).max().unwrap_or(AlertState::Inactive)
    }
}

/// The labels of an alert's `ALERTS` (with its state) or `ALERTS_FOR_STATE`
/// series: the rule's labels as written, overridden by the alert's labels.
fn series_labels(rule: &AlertingRule, alert_labels: &Labels, metric: &str, state: Option<AlertState>) -> Labels {
    series_labels_of(&rule.labels, &rule.name, alert_labels, metric, state)
}

fn series_labels_of(
    rule_labels: &Labels,
    alert_name: &str,
    alert_labels: &Labels,
    metric: &str,
    state: Option<AlertState>,
) -> Labels {
    let mut labels: Vec<Label> = rule_labels.iter().cloned().collect();
    for l in alert_labels.iter() {
        set_label(&mut labels, &l.name, l.value.clone());
    }
    set_label(&mut labels, METRIC_NAME, metric.into());
    set_label(&mut labels, ALERT_NAME, alert_name.into());
    if let Some(state) = state {
        set_label(&mut labels, ALERT_STATE, state.as_str().into());
    }
    Labels::from_unsorted(labels)
}

/// Sets `name` to `value` (removing the label when `value` is empty), as
/// Prometheus's label builder does.
pub(super) fn set_label(labels: &mut Vec<Label>, name: &str, value: String) {
    labels.retain(|l| l.name != name);
    if !value.is_empty() {
        labels.push(Label::new(name, value));
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct NoQuery;
    impl TemplateQuery for NoQuery {
        fn query(&self, _: &str) -> Result<Vec<(Labels, f64)>, String> {
            Ok(Vec::new())
        }
    }

    fn eval(rule: &mut AlertingRule, ts: i64, active: bool) -> Vec<(Labels, f64)> {
        let empty = Labels::default();
        let env = TemplateEnv { external_labels: &empty, external_url: "", query: &NoQuery };
        let result = if active { vec![(Labels::from_pairs([("__name__", "up"), ("job", "a")]), 7.0)] } else { vec![] };
        rule.eval(ts, result, &env, 0).expect("eval")
    }

    fn rule(hold_s: u64, keep_s: u64) -> AlertingRule {
        let mut r = AlertingRule::new(
            "Down",
            Duration::from_secs(hold_s),
            Duration::from_secs(keep_s),
            Labels::from_pairs([("severity", "page")]),
            Labels::from_pairs([("summary", "{{ $labels.job }} is {{ $value }}")]),
        );
        r.set_restored();
        r
    }

    #[test]
    fn pending_then_firing_then_resolved_with_alerts_series() {
        let mut r = rule(10, 0);
        let samples = eval(&mut r, 0, true);
        assert_eq!(r.state(), AlertState::Pending);
        let alerts_series = Labels::from_pairs([
            ("__name__", "ALERTS"),
            ("alertname", "Down"),
            ("alertstate", "pending"),
            ("job", "a"),
            ("severity", "page"),
        ]);
        let for_state = Labels::from_pairs([
            ("__name__", "ALERTS_FOR_STATE"),
            ("alertname", "Down"),
            ("job", "a"),
            ("severity", "page"),
        ]);
        assert_eq!(samples, vec![(alerts_series, 1.0), (for_state, 0.0)]);
        assert!(
            r.alerts_to_send(0, Duration::from_secs(60), Duration::from_secs(1), "u").is_empty(),
            "pending is not sent"
        );
        eval(&mut r, 10_000, true);
        assert_eq!(r.state(), AlertState::Firing);
        let sent = r.alerts_to_send(10_000, Duration::from_secs(60), Duration::from_secs(1), "u");
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].starts_at_ms, 10_000);
        assert_eq!(sent[0].ends_at_ms, 10_000 + 4 * 60_000);
        assert_eq!(sent[0].annotations.get("summary"), Some("a is 7"));
        assert!(
            r.alerts_to_send(11_000, Duration::from_secs(60), Duration::from_secs(1), "u").is_empty(),
            "not before resend_delay"
        );
        assert!(eval(&mut r, 12_000, false).is_empty(), "no series once resolved");
        let sent = r.alerts_to_send(12_000, Duration::from_secs(60), Duration::from_secs(1), "u");
        assert_eq!(sent[0].ends_at_ms, 12_000, "resolved alerts are sent with their resolve time");
        assert_eq!(r.alerts().count(), 0);
    }

    #[test]
    fn keep_firing_for_holds_a_firing_alert() {
        let mut r = rule(0, 5);
        eval(&mut r, 0, true);
        assert_eq!(r.state(), AlertState::Firing);
        eval(&mut r, 1_000, false);
        assert_eq!(r.state(), AlertState::Firing, "kept firing");
        eval(&mut r, 6_000, false);
        assert_eq!(r.state(), AlertState::Inactive);
    }

    #[test]
    fn restore_keeps_for_progress_without_counting_downtime() {
        let mut r = rule(60, 0);
        r.restored = false;
        eval(&mut r, 100_000, true);
        // Active since 40s, last recorded at 70s (30s of progress), restored at 100s.
        r.restore(100_000, Duration::from_secs(1), |_| Some((70_000, 40.0)));
        assert_eq!(r.alerts().next().expect("alert").active_at, 70_000, "30s of 60s done");
        let mut r = rule(60, 0);
        r.restored = false;
        eval(&mut r, 100_000, true);
        r.restore(100_000, Duration::from_secs(35), |_| Some((70_000, 40.0)));
        assert_eq!(
            r.alerts().next().expect("alert").active_at,
            100_000 + 35_000 - 60_000,
            "fires after the grace period"
        );
        let mut r = rule(60, 0);
        r.restored = false;
        eval(&mut r, 100_000, true);
        r.restore(100_000, Duration::from_secs(1), |_| Some((70_000, 0.0)));
        assert_eq!(r.alerts().next().expect("alert").active_at, 0, "a firing alert keeps its start");
        let mut r = rule(60, 0);
        r.restored = false;
        eval(&mut r, 100_000, true);
        r.restore(100_000, Duration::from_secs(1), |_| Some((70_000, f64::from_bits(STALE_NAN_BITS))));
        assert_eq!(r.alerts().next().expect("alert").active_at, 100_000, "a stale record restores nothing");
    }
}
