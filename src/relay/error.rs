//! Why the relay refuses a whole request, with the class that decides its
//! HTTP status (and so whether the sender retries) and the headers the
//! status calls for (`Retry-After` on 429/503). Refusals for credentials
//! and tenants are the access layer's (`crate::auth`).

use std::time::Duration;

use crate::error_class::ErrorClass;
use crate::ingest::IngestError;
use crate::tenant::TenantId;

/// A request the relay refuses whole.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// The request cannot be read (size, snappy, protobuf).
    #[error(transparent)]
    Ingest(#[from] IngestError),
    /// The body could not be read off the connection.
    #[error("reading request body: {0}")]
    Body(String),
    /// Over the tenant's `ingestion_rate`.
    #[error(
        "ingestion rate limit of {rate} samples/s with burst {burst} (ingestion_rate, ingestion_burst_size) \
         exceeded by tenant {tenant} with a request of {samples} samples: retry after {}s or ask for a higher limit",
        retry_after.as_secs()
    )]
    RateLimited {
        /// The tenant.
        tenant: TenantId,
        /// Its rate.
        rate: f64,
        /// Its burst.
        burst: u64,
        /// Samples in the request.
        samples: u64,
        /// When enough tokens will be there.
        retry_after: Duration,
    },
    /// The durable queue is at `queue.max_bytes`.
    #[error(
        "relay queue full: {bytes} bytes on disk, limit {limit} (queue.max_bytes); the store is not keeping up or \
         is down; retry later"
    )]
    QueueFull {
        /// Bytes on disk.
        bytes: u64,
        /// The limit.
        limit: u64,
    },
    /// Writing to the queue failed; nothing was acknowledged.
    #[error("writing to the relay queue failed, retry: {0}")]
    Queue(#[from] rampart_storage::wal::WalError),
    /// Processing the request failed inside the relay; nothing was acknowledged.
    #[error("processing the request failed, retry: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// How long a sender should wait after a full queue.
pub const QUEUE_FULL_RETRY_AFTER: Duration = Duration::from_secs(5);

impl RelayError {
    /// The class that decides status and retries.
    pub fn class(&self) -> ErrorClass {
        match self {
            RelayError::Ingest(e) => e.class(),
            RelayError::Body(_) => ErrorClass::BadInput,
            RelayError::RateLimited { .. } => ErrorClass::TooManyRequests,
            RelayError::QueueFull { .. } => ErrorClass::Unavailable,
            RelayError::Queue(_) | RelayError::Task(_) => ErrorClass::Internal,
        }
    }

    /// The `Retry-After` a sender should honour, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            RelayError::RateLimited { retry_after, .. } => Some(*retry_after),
            RelayError::QueueFull { .. } => Some(QUEUE_FULL_RETRY_AFTER),
            _ => None,
        }
    }

    /// Stable name for `rampart_relay_requests_refused_total{reason}`.
    pub fn reason(&self) -> &'static str {
        match self {
            RelayError::Ingest(IngestError::BodyTooLarge { .. } | IngestError::DecodedTooLarge { .. }) => {
                "request_too_large"
            }
            RelayError::Ingest(_) | RelayError::Body(_) => "malformed_request",
            RelayError::RateLimited { .. } => "rate_limited",
            RelayError::QueueFull { .. } => "queue_full",
            RelayError::Queue(_) | RelayError::Task(_) => "internal_error",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_retry_hints() {
        let tenant = crate::tenant::from_header(Some("a")).expect("tenant");
        let cases = [
            (RelayError::Ingest(IngestError::BodyTooLarge { size: 2, limit: 1 }), 413, None),
            (
                RelayError::RateLimited {
                    tenant,
                    rate: 1.0,
                    burst: 1,
                    samples: 5,
                    retry_after: Duration::from_secs(4),
                },
                429,
                Some(4),
            ),
            (RelayError::QueueFull { bytes: 2, limit: 1 }, 503, Some(5)),
        ];
        for (err, status, retry) in cases {
            assert_eq!(err.class().http_status(), status, "{err}");
            assert_eq!(err.retry_after().map(|d| d.as_secs()), retry, "{err}");
        }
    }
}
