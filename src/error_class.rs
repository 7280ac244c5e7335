//! Error classes: what kind of failure an error is, which decides its HTTP
//! status and whether a sender should retry. Senders drop a batch on 4xx
//! and retry on 5xx and 429, so the class is what decides data loss.

/// The kind of a failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// The request is wrong and no retry can fix it.
    BadInput,
    /// The request body is over a size limit.
    PayloadTooLarge,
    /// No or wrong credentials.
    Unauthorized,
    /// Credentials valid, action not allowed.
    Forbidden,
    /// A rate limit; retry later.
    TooManyRequests,
    /// Temporarily unable to serve; retry.
    Unavailable,
    /// A fault on the server side; retry.
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

    /// True when a sender should retry the same request.
    pub fn retryable(self) -> bool {
        match self {
            ErrorClass::TooManyRequests | ErrorClass::Unavailable | ErrorClass::Internal => true,
            ErrorClass::BadInput | ErrorClass::PayloadTooLarge | ErrorClass::Unauthorized | ErrorClass::Forbidden => {
                false
            }
        }
    }
}
