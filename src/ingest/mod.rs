//! Remote-write 1.0 ingest, shared by every mode that receives writes:
//! `decode` (snappy + protobuf, size limits) → `validate` (per series and
//! sample, keeping the valid part) → storage append → `respond`.
//!
//! Refusals are counted per [`RejectReason`]; a request with any refusal is
//! answered 400 naming what was refused and why, after its valid part is
//! stored, as Mimir and remote write 2.0 do.

mod decode;
mod reject;
mod respond;
mod validate;

use std::time::Duration;

use serde::Deserialize;

pub use decode::decode;
pub use reject::{RejectReason, Rejections};
pub use respond::respond;
pub use validate::{validate, AcceptedSeries, ValidatedWrite};

use crate::config::size::deserialize_size;
use crate::duration::deserialize_duration;
use crate::error_class::ErrorClass;

/// Limits on remote-write requests.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestLimits {
    /// Largest request body as sent (snappy-compressed); larger gets 413.
    #[serde(deserialize_with = "deserialize_size")]
    pub max_body_bytes: u64,
    /// Largest body after snappy decompression; larger gets 413.
    #[serde(deserialize_with = "deserialize_size")]
    pub max_decoded_bytes: u64,
    /// Longest label name, in bytes.
    pub max_label_name_length: usize,
    /// Longest label value, in bytes.
    pub max_label_value_length: usize,
    /// Most labels per series, the metric name included.
    pub max_labels_per_series: usize,
    /// How far ahead of the receiver's clock a sample may be.
    #[serde(deserialize_with = "deserialize_duration")]
    pub creation_grace_period: Duration,
}

impl Default for IngestLimits {
    fn default() -> Self {
        Self {
            max_body_bytes: 10 << 20,
            max_decoded_bytes: 64 << 20,
            max_label_name_length: 1024,
            max_label_value_length: 2048,
            max_labels_per_series: 30,
            creation_grace_period: Duration::from_secs(600),
        }
    }
}

/// A request that cannot be ingested at all.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The body is over `max_body_bytes`.
    #[error("request body of {size} bytes exceeds the limit of {limit} bytes (ingest.max_body_bytes): send smaller batches (queue_config.max_samples_per_send)")]
    BodyTooLarge {
        /// Bytes received (at least).
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The decompressed body would be over `max_decoded_bytes`.
    #[error("decompressed request of {size} bytes exceeds the limit of {limit} bytes (ingest.max_decoded_bytes): send smaller batches")]
    DecodedTooLarge {
        /// Decompressed size announced by the snappy header.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// Not snappy block format.
    #[error("invalid snappy block in request body: {0}; remote write 1.0 bodies are snappy block format (not framed)")]
    Snappy(#[source] snap::Error),
    /// Not a `prometheus.WriteRequest`.
    #[error("invalid protobuf WriteRequest: {0}")]
    Protobuf(#[source] prost::DecodeError),
    /// The tenant header is invalid.
    #[error(transparent)]
    Tenant(#[from] crate::tenant::TenantError),
}

impl IngestError {
    /// The class that decides the HTTP status.
    pub fn class(&self) -> ErrorClass {
        match self {
            IngestError::BodyTooLarge { .. } | IngestError::DecodedTooLarge { .. } => ErrorClass::PayloadTooLarge,
            IngestError::Snappy(_) | IngestError::Protobuf(_) | IngestError::Tenant(_) => ErrorClass::BadInput,
        }
    }
}
