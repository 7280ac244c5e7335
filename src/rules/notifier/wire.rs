//! The request body of `POST /api/v2/alerts`: a JSON array of Alertmanager's
//! `postableAlert`, field for field as Prometheus encodes it.
//!
//! Prometheus marshals go-openapi's models: keys in struct order
//! (`annotations`, `endsAt`, `startsAt`, `generatorURL`, `labels`), label
//! sets as objects with sorted keys, `annotations` and `generatorURL`
//! omitted when empty, times always present as RFC 3339 in UTC with exactly
//! three fraction digits (`2006-01-02T15:04:05.000Z`, strfmt's
//! `RFC3339Millis`). The one byte-level difference: Go escapes `<`, `>` and
//! `&` in strings as `\u003c`…, serde_json writes them as they are; both
//! decode to the same text.

use rampart_storage::Labels;
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

use super::Alert;

/// Go's zero `time.Time` as strfmt prints it; stands for times chrono
/// cannot represent (hundreds of millennia away).
const ZERO_TIME: &str = "0001-01-01T00:00:00.000Z";

/// The JSON body for `alerts`.
pub fn encode(alerts: &[Alert]) -> Vec<u8> {
    let body: Vec<PostableAlert<'_>> = alerts
        .iter()
        .map(|a| PostableAlert {
            annotations: LabelSet(&a.annotations),
            ends_at: format_time(a.ends_at_ms),
            starts_at: format_time(a.starts_at_ms),
            generator_url: &a.generator_url,
            labels: LabelSet(&a.labels),
        })
        .collect();
    // Serializing strings and maps of strings into memory cannot fail.
    serde_json::to_vec(&body).unwrap_or_default()
}

/// Unix milliseconds as `2006-01-02T15:04:05.000Z`.
pub fn format_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map_or_else(|| ZERO_TIME.to_owned(), |t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
}

/// One element of the body, fields in Prometheus's order.
#[derive(Serialize)]
struct PostableAlert<'a> {
    #[serde(skip_serializing_if = "LabelSet::is_empty")]
    annotations: LabelSet<'a>,
    #[serde(rename = "endsAt")]
    ends_at: String,
    #[serde(rename = "startsAt")]
    starts_at: String,
    #[serde(rename = "generatorURL", skip_serializing_if = "str::is_empty")]
    generator_url: &'a str,
    labels: LabelSet<'a>,
}

/// Labels as a JSON object (sorted by name, as `Labels` always is).
struct LabelSet<'a>(&'a Labels);

impl LabelSet<'_> {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for LabelSet<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (name, value) in self.0.pairs() {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_utc_with_three_fraction_digits() {
        assert_eq!(format_time(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_time(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(format_time(1_700_000_000_100), "2023-11-14T22:13:20.100Z");
        assert_eq!(format_time(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(format_time(i64::MAX), ZERO_TIME);
    }

    #[test]
    fn body_has_prometheus_field_order_and_omissions() {
        let firing = Alert {
            labels: Labels::from_pairs([("severity", "page"), ("alertname", "HighLatency")]),
            annotations: Labels::from_pairs([("summary", "p99 \"high\"")]),
            starts_at_ms: 1_700_000_000_000,
            ends_at_ms: 1_700_000_240_500,
            generator_url: "http://rampart:9090/graph?g0.expr=up".into(),
        };
        let bare = Alert {
            labels: Labels::from_pairs([("alertname", "A")]),
            annotations: Labels::default(),
            starts_at_ms: 0,
            ends_at_ms: 1,
            generator_url: String::new(),
        };
        let body = String::from_utf8(encode(&[firing, bare])).expect("utf-8");
        assert_eq!(
            body,
            concat!(
                r#"[{"annotations":{"summary":"p99 \"high\""},"endsAt":"2023-11-14T22:17:20.500Z","#,
                r#""startsAt":"2023-11-14T22:13:20.000Z","generatorURL":"http://rampart:9090/graph?g0.expr=up","#,
                r#""labels":{"alertname":"HighLatency","severity":"page"}},"#,
                r#"{"endsAt":"1970-01-01T00:00:00.001Z","startsAt":"1970-01-01T00:00:00.000Z","labels":{"alertname":"A"}}]"#
            )
        );
        assert_eq!(encode(&[]), b"[]");
    }
}
