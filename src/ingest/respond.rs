//! The answer to a remote-write request, as `(status, plain-text body)`,
//! independent of the HTTP framework.
//!
//! Remote-write senders retry 5xx and 429 and drop the batch on other 4xx,
//! logging the start of the body (Prometheus keeps its first 1 KiB), so the
//! body leads with the totals and then gives one line per reason:
//!
//! ```text
//! accepted 1998 samples, rejected 2:
//! 1 invalid_label_name: invalid label name "1a" in series {...}: label names must match ...
//! 1 too_far_in_future: sample timestamp 1700000600001 is too far in the future ...
//! ```
//!
//! * Everything stored: 204 No Content, empty body.
//! * Any sample refused: 400, after the valid part was stored (so the
//!   sender's drop loses only what was refused).
//! * Only exemplars refused: 204, as Prometheus and Mimir answer; the
//!   refusals are still counted, and listed in the body when a 400 is sent.
//! * A request that cannot be read ([`IngestError`]): its class's status
//!   (400, or 413 for size limits) and the error message.

use std::fmt::Write as _;

use super::{IngestError, Rejections};
use crate::error_class::ErrorClass;

/// Status of a request whose samples were all stored.
const NO_CONTENT: u16 = 204;
/// Separates the example messages of one reason.
const EXAMPLE_SEPARATOR: &str = "; ";

/// Status and body for a request whose valid part is stored: `accepted`
/// samples were stored (or already present), `rejections` were refused.
pub fn respond(accepted: u64, rejections: &Rejections) -> (u16, String) {
    if !rejections.refused_samples() {
        return (NO_CONTENT, String::new());
    }
    let mut body = format!("accepted {accepted} samples, rejected {}", rejections.total_samples());
    let exemplars = rejections.total_exemplars();
    if exemplars > 0 {
        // Writing to a String cannot fail.
        let _ = write!(body, ", dropped {exemplars} exemplars");
    }
    body.push_str(":\n");
    for (reason, count, examples) in rejections.iter() {
        let _ = writeln!(body, "{count} {}: {}", reason.as_str(), examples.join(EXAMPLE_SEPARATOR));
    }
    (ErrorClass::BadInput.http_status(), body)
}

/// Status and body for a request refused whole.
pub fn respond_error(err: &IngestError) -> (u16, String) {
    (err.class().http_status(), format!("{err}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::RejectReason;
    use crate::tenant::TenantError;

    #[test]
    fn everything_stored_is_204_with_an_empty_body() {
        assert_eq!(respond(5, &Rejections::default()), (204, String::new()));
        assert_eq!(respond(0, &Rejections::default()), (204, String::new()));
    }

    #[test]
    fn refused_samples_give_400_with_totals_then_one_line_per_reason() {
        let mut r = Rejections::default();
        r.add(RejectReason::InvalidLabelName, 2, r#"invalid label name "1a" in series {a}"#.to_owned());
        r.add(RejectReason::InvalidLabelName, 1, r#"invalid label name "2b" in series {b}"#.to_owned());
        r.add(RejectReason::OutOfOrder, 1, "out of order sample".to_owned());
        let (status, body) = respond(1998, &r);
        assert_eq!(status, 400);
        assert_eq!(
            body,
            "accepted 1998 samples, rejected 4:\n\
             3 invalid_label_name: invalid label name \"1a\" in series {a}; invalid label name \"2b\" in series {b}\n\
             1 out_of_order: out of order sample\n"
        );
    }

    #[test]
    fn refused_exemplars_alone_keep_204_and_are_listed_beside_refused_samples() {
        let mut r = Rejections::default();
        r.add(RejectReason::InvalidExemplar, 2, "bad exemplar".to_owned());
        assert_eq!(respond(10, &r), (204, String::new()));
        r.add(RejectReason::TooFarInFuture, 1, "future sample".to_owned());
        assert_eq!(
            respond(9, &r),
            (
                400,
                "accepted 9 samples, rejected 1, dropped 2 exemplars:\n\
                 1 too_far_in_future: future sample\n\
                 2 invalid_exemplar: bad exemplar\n"
                    .to_owned()
            )
        );
    }

    #[test]
    fn a_series_refused_without_samples_still_gives_400() {
        let mut r = Rejections::default();
        r.add(RejectReason::MissingMetricName, 0, "no name".to_owned());
        assert_eq!(respond(0, &r), (400, "accepted 0 samples, rejected 0:\n0 missing_metric_name: no name\n".into()));
    }

    #[test]
    fn unreadable_requests_get_their_class_status_and_message() {
        let (status, body) = respond_error(&IngestError::BodyTooLarge { size: 11, limit: 10 });
        assert_eq!(status, 413);
        assert!(body.starts_with("request body of 11 bytes exceeds the limit of 10 bytes"), "{body}");
        assert!(body.ends_with('\n'));
        let (status, body) = respond_error(&IngestError::Tenant(TenantError::Reserved("..".into())));
        assert_eq!((status, body), (400, format!("{}\n", TenantError::Reserved("..".into()))));
    }
}
