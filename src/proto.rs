//! Prometheus remote write/read protobuf types (`proto/prometheus/*.proto`),
//! generated at build time.

/// Package `prometheus` (`prompb`).
#[allow(missing_docs, clippy::all)]
pub mod prometheus {
    include!(concat!(env!("OUT_DIR"), "/prometheus.rs"));
}
