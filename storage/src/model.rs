//! The data model the engine stores: float samples, exemplars and metric
//! metadata, with the compact value encodings RocksDB holds for the latter two.

use crate::labels::Labels;

/// The bit pattern Prometheus uses for a staleness marker (`value.StaleNaN`).
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// One float sample: a millisecond timestamp and a value. Values are compared
/// by their bit pattern wherever identity matters (staleness markers are a
/// specific NaN and must survive bit-exact).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    /// Milliseconds since the Unix epoch.
    pub t: i64,
    /// The value.
    pub v: f64,
}

impl Sample {
    /// Builds a sample.
    pub fn new(t: i64, v: f64) -> Self {
        Self { t, v }
    }

    /// True when both samples have the same timestamp and bit-identical values.
    pub fn same_as(&self, other: &Sample) -> bool {
        self.t == other.t && self.v.to_bits() == other.v.to_bits()
    }
}

/// An exemplar attached to a series.
#[derive(Clone, Debug, PartialEq)]
pub struct Exemplar {
    /// Exemplar labels (e.g. `trace_id`).
    pub labels: Labels,
    /// Value.
    pub v: f64,
    /// Timestamp, milliseconds.
    pub t: i64,
}

impl Exemplar {
    /// Value encoding: `value (8 bytes BE bits) | labels (canonical form)`.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = self.v.to_bits().to_be_bytes().to_vec();
        self.labels.encode_into(&mut out);
        out
    }

    pub(crate) fn decode(t: i64, v: &[u8]) -> Option<Self> {
        let bits = u64::from_be_bytes(v.get(..8)?.try_into().ok()?);
        Some(Self { labels: Labels::decode(&v[8..])?, v: f64::from_bits(bits), t })
    }
}

/// Metadata of a metric family, as remote write carries it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Metadata {
    /// Metric family name.
    pub metric_family: String,
    /// Type in Prometheus's lowercase form (`counter`, `gauge`, ...).
    pub kind: String,
    /// Help text.
    pub help: String,
    /// Unit.
    pub unit: String,
}

impl Metadata {
    /// Value encoding: three length-prefixed (u32 BE) strings: kind, help, unit.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for s in [&self.kind, &self.help, &self.unit] {
            out.extend_from_slice(&(s.len() as u32).to_be_bytes());
            out.extend_from_slice(s.as_bytes());
        }
        out
    }

    pub(crate) fn decode(family: &str, mut v: &[u8]) -> Option<Self> {
        let mut parts = Vec::with_capacity(3);
        for _ in 0..3 {
            let len = u32::from_be_bytes(v.get(..4)?.try_into().ok()?) as usize;
            parts.push(String::from_utf8(v.get(4..4 + len)?.to_vec()).ok()?);
            v = &v[4 + len..];
        }
        let unit = parts.pop()?;
        let help = parts.pop()?;
        let kind = parts.pop()?;
        Some(Self { metric_family: family.to_owned(), kind, help, unit })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_and_exemplars_round_trip() {
        let m = Metadata { metric_family: "up".into(), kind: "gauge".into(), help: "h".into(), unit: "".into() };
        assert_eq!(Metadata::decode("up", &m.encode()), Some(m));
        let e = Exemplar { labels: Labels::from_pairs([("trace_id", "abc")]), v: 1.5, t: 7 };
        assert_eq!(Exemplar::decode(7, &e.encode()), Some(e));
        assert_eq!(Metadata::decode("up", &[0, 0, 0, 9]), None);
    }
}
