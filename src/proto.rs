//! Prometheus remote write 1.0 and remote read protobuf types, generated at
//! build time by `build.rs` from `proto/prometheus/types.proto` and
//! `proto/prometheus/remote.proto` (Prometheus's `prompb`, same package and
//! field numbers).
//!
//! prost checks that `string` fields are valid UTF-8 while decoding, so a
//! decoded message never holds invalid UTF-8 in a label.

/// Package `prometheus` (`prompb`): `WriteRequest`, `TimeSeries`, `Label`,
/// `Sample`, `Exemplar`, `Histogram`, `MetricMetadata` and the remote read
/// messages. Field docs come from the `.proto` comments.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod prometheus {
    include!(concat!(env!("OUT_DIR"), "/prometheus.rs"));
}
