//! Error classes: what kind of failure an error is, which decides its HTTP
//! status and whether a sender should retry.
//!
//! Remote-write senders drop a batch on 4xx (except 429) and retry it on 5xx
//! and 429, so the class of an error decides whether data is lost or
//! re-sent: a server-side fault must never be classed as bad input, and bad
//! input must never be classed as retryable (the sender would retry it
//! forever and stall its queue).

/// The kind of a failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// The request is wrong and no retry can fix it (400).
    BadInput,
    /// The request body is over a size limit (413).
    PayloadTooLarge,
    /// No or wrong credentials (401).
    Unauthorized,
    /// Credentials valid, action not allowed (403).
    Forbidden,
    /// A rate limit; retry later (429).
    TooManyRequests,
    /// Temporarily unable to serve, e.g. still replaying the WAL; retry (503).
    Unavailable,
    /// A fault on the server side; retry (500).
    Internal,
}

impl ErrorClass {
    /// The HTTP status of this class.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorClass::BadInput => 400,
            ErrorClass::PayloadTooLarge => 413,
            ErrorClass::Unauthorized => 401,
            ErrorClass::Forbidden => 403,
            ErrorClass::TooManyRequests => 429,
            ErrorClass::Unavailable => 503,
            ErrorClass::Internal => 500,
        }
    }

    /// True when a sender should retry the same request: exactly the
    /// classes answered with 5xx or 429.
    pub fn retryable(self) -> bool {
        match self {
            ErrorClass::TooManyRequests | ErrorClass::Unavailable | ErrorClass::Internal => true,
            ErrorClass::BadInput | ErrorClass::PayloadTooLarge | ErrorClass::Unauthorized | ErrorClass::Forbidden => {
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_retry_follow_the_remote_write_contract() {
        let cases = [
            (ErrorClass::BadInput, 400, false),
            (ErrorClass::PayloadTooLarge, 413, false),
            (ErrorClass::Unauthorized, 401, false),
            (ErrorClass::Forbidden, 403, false),
            (ErrorClass::TooManyRequests, 429, true),
            (ErrorClass::Unavailable, 503, true),
            (ErrorClass::Internal, 500, true),
        ];
        for (class, status, retry) in cases {
            assert_eq!(class.http_status(), status, "{class:?}");
            assert_eq!(class.retryable(), retry, "{class:?}");
            // Senders retry 5xx and 429 only; the two methods must agree.
            assert_eq!(class.retryable(), status >= 500 || status == 429, "{class:?}");
        }
    }
}
