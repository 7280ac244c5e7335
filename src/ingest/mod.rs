//! Remote write 1.0 ingest, shared by every mode that receives writes:
//! [`decode`] (size limits, snappy block, protobuf into a [`WriteView`]
//! that borrows labels from the body) → [`validate`] (per series, sample and
//! exemplar, keeping the valid part as a storage `AppendBatch`) → storage
//! append (by the caller) → [`respond`] (status and plain-text body). The
//! view and the validated write are reusable: a caller that keeps them
//! across requests ([`with_buffers`]) ingests without allocating per series.
//!
//! Invariants: a request is refused whole ([`IngestError`]) only when it
//! cannot be read at all; otherwise its valid part is stored and every
//! refused sample is counted under a [`RejectReason`], as Mimir and remote
//! write 2.0 do. Nothing here depends on the HTTP framework. The protocol is
//! specified at <https://prometheus.io/docs/specs/remote_write_spec/>.

mod buffers;
mod decode;
mod reject;
mod respond;
mod validate;
mod view;

use std::time::Duration;

use serde::Deserialize;

pub use buffers::{with_buffers, Buffers, RETAINED_BUFFER_BYTES};
pub use decode::decode;
pub use reject::{RejectMessage, RejectReason, Rejections, EXAMPLES_PER_REASON};
pub use respond::{respond, respond_error};
pub use validate::{is_label_name, is_metric_name, validate, ValidatedWrite, MAX_EXEMPLAR_LABEL_RUNES};
pub use view::{ExemplarView, LabelsView, SeriesView, WriteView};

use crate::config::size::deserialize_size;
use crate::duration::deserialize_duration;
use crate::error_class::ErrorClass;
use crate::tenant::TenantError;

/// Default [`IngestLimits::max_body_bytes`]: 10 MiB, far above the batches
/// Prometheus sends (2000 samples by default, tens of KiB compressed).
pub const DEFAULT_MAX_BODY_BYTES: u64 = 10 << 20;
/// Default [`IngestLimits::max_decoded_bytes`]: 100 MiB, Mimir's
/// `max_recv_msg_size`.
pub const DEFAULT_MAX_DECODED_BYTES: u64 = 100 << 20;
/// Default [`IngestLimits::max_label_name_length`], as Mimir.
pub const DEFAULT_MAX_LABEL_NAME_LENGTH: usize = 1024;
/// Default [`IngestLimits::max_label_value_length`], as Mimir.
pub const DEFAULT_MAX_LABEL_VALUE_LENGTH: usize = 2048;
/// Default [`IngestLimits::max_labels_per_series`], as Mimir.
pub const DEFAULT_MAX_LABELS_PER_SERIES: usize = 30;
/// Default [`IngestLimits::creation_grace_period`]: 10 minutes, as Mimir.
pub const DEFAULT_CREATION_GRACE_PERIOD: Duration = Duration::from_secs(10 * 60);

/// Limits on remote-write requests (config section `ingest`). Sizes accept
/// `10MiB`-style strings, the grace period `10m`-style durations.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestLimits {
    /// Largest request body as sent (snappy-compressed), in bytes; a larger
    /// body is refused whole with 413.
    #[serde(deserialize_with = "deserialize_size")]
    pub max_body_bytes: u64,
    /// Largest body after snappy decompression, in bytes, checked against
    /// the length the snappy header announces before decompressing; a
    /// larger body is refused whole with 413.
    #[serde(deserialize_with = "deserialize_size")]
    pub max_decoded_bytes: u64,
    /// Longest label name, in bytes; a series with a longer one is refused.
    pub max_label_name_length: usize,
    /// Longest label value, in bytes; a series with a longer one is refused.
    pub max_label_value_length: usize,
    /// Most labels per series, the metric name included and labels with
    /// empty values not counted; a series with more is refused.
    pub max_labels_per_series: usize,
    /// How far ahead of the receiver's clock a sample or exemplar timestamp
    /// may be; later ones are refused.
    #[serde(deserialize_with = "deserialize_duration")]
    pub creation_grace_period: Duration,
}

impl Default for IngestLimits {
    fn default() -> Self {
        Self {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_decoded_bytes: DEFAULT_MAX_DECODED_BYTES,
            max_label_name_length: DEFAULT_MAX_LABEL_NAME_LENGTH,
            max_label_value_length: DEFAULT_MAX_LABEL_VALUE_LENGTH,
            max_labels_per_series: DEFAULT_MAX_LABELS_PER_SERIES,
            creation_grace_period: DEFAULT_CREATION_GRACE_PERIOD,
        }
    }
}

/// A request that cannot be ingested at all.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The body is over `max_body_bytes`.
    #[error(
        "request body of {size} bytes exceeds the limit of {limit} bytes (ingest.max_body_bytes): send smaller \
         batches (Prometheus: lower queue_config.max_samples_per_send)"
    )]
    BodyTooLarge {
        /// Bytes received (at least).
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The decompressed body would be over `max_decoded_bytes`.
    #[error(
        "decompressed request body of {size} bytes exceeds the limit of {limit} bytes (ingest.max_decoded_bytes): \
         send smaller batches (Prometheus: lower queue_config.max_samples_per_send)"
    )]
    DecodedTooLarge {
        /// Decompressed size the snappy header announces.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The body is not a snappy block.
    #[error("invalid snappy block in request body: {0} (remote write 1.0 bodies are snappy block format, not framed)")]
    Snappy(#[source] snap::Error),
    /// The decompressed body is not a `prometheus.WriteRequest` (this
    /// includes invalid UTF-8 in a label).
    #[error("invalid protobuf WriteRequest in request body: {0}")]
    Protobuf(#[source] prost::DecodeError),
    /// The tenant header is invalid.
    #[error(transparent)]
    Tenant(#[from] TenantError),
}

impl IngestError {
    /// The class that decides the HTTP status and whether senders retry.
    pub fn class(&self) -> ErrorClass {
        match self {
            IngestError::BodyTooLarge { .. } | IngestError::DecodedTooLarge { .. } => ErrorClass::PayloadTooLarge,
            IngestError::Snappy(_) | IngestError::Protobuf(_) | IngestError::Tenant(_) => ErrorClass::BadInput,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_default_and_parse_from_config_syntax() {
        let d = IngestLimits::default();
        assert_eq!(d.max_body_bytes, 10 * 1024 * 1024);
        assert_eq!(d.max_decoded_bytes, 100 * 1024 * 1024);
        assert_eq!((d.max_label_name_length, d.max_label_value_length, d.max_labels_per_series), (1024, 2048, 30));
        assert_eq!(d.creation_grace_period, Duration::from_secs(600));

        let parsed: IngestLimits = serde_yaml::from_str("{}").expect("empty section");
        assert_eq!(parsed, d);
        let yaml = "max_body_bytes: 1MiB\nmax_decoded_bytes: 4096\nmax_label_name_length: 10\n\
                    max_label_value_length: 20\nmax_labels_per_series: 5\ncreation_grace_period: 1h30m\n";
        let parsed: IngestLimits = serde_yaml::from_str(yaml).expect("full section");
        assert_eq!(
            parsed,
            IngestLimits {
                max_body_bytes: 1 << 20,
                max_decoded_bytes: 4096,
                max_label_name_length: 10,
                max_label_value_length: 20,
                max_labels_per_series: 5,
                creation_grace_period: Duration::from_secs(5400),
            }
        );
        let err = serde_yaml::from_str::<IngestLimits>("max_labels: 5").expect_err("unknown key");
        assert!(err.to_string().contains("unknown field `max_labels`"), "{err}");
        let err = serde_yaml::from_str::<IngestLimits>("creation_grace_period: 10").expect_err("bare number");
        assert!(err.to_string().contains("invalid duration \"10\""), "{err}");
    }

    #[test]
    fn errors_are_classed_by_what_a_sender_can_do() {
        let snappy = snap::raw::Decoder::new().decompress_vec(b"\x0a\xff").expect_err("corrupt");
        let protobuf =
            <crate::proto::prometheus::WriteRequest as prost::Message>::decode(&b"\xff"[..]).expect_err("not protobuf");
        let cases = [
            (IngestError::BodyTooLarge { size: 2, limit: 1 }, ErrorClass::PayloadTooLarge, 413),
            (IngestError::DecodedTooLarge { size: 2, limit: 1 }, ErrorClass::PayloadTooLarge, 413),
            (IngestError::Snappy(snappy), ErrorClass::BadInput, 400),
            (IngestError::Protobuf(protobuf), ErrorClass::BadInput, 400),
            (IngestError::Tenant(TenantError::Empty), ErrorClass::BadInput, 400),
        ];
        for (err, class, status) in cases {
            assert_eq!(err.class(), class, "{err}");
            assert_eq!(err.class().http_status(), status, "{err}");
            assert!(!err.class().retryable(), "{err}");
        }
        assert_eq!(
            IngestError::BodyTooLarge { size: 65537, limit: 65536 }.to_string(),
            "request body of 65537 bytes exceeds the limit of 65536 bytes (ingest.max_body_bytes): send smaller \
             batches (Prometheus: lower queue_config.max_samples_per_send)"
        );
        assert_eq!(
            IngestError::Tenant(TenantError::Empty).to_string(),
            TenantError::Empty.to_string(),
            "tenant errors keep their own message"
        );
    }
}
