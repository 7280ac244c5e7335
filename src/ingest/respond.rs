//! The answer to a remote-write request: 204 when everything was stored,
//! else 400 with a plain-text body that says how many samples were accepted
//! and, per reason, how many were refused with example messages.

use std::fmt::Write;

use super::Rejections;

/// Status and body for a request whose valid part is stored.
pub fn respond(accepted: u64, rejections: &Rejections) -> (u16, String) {
    if rejections.is_empty() {
        return (204, String::new());
    }
    let mut body = format!("accepted {accepted} samples, rejected {}\n", rejections.total_samples());
    for (reason, samples, examples) in rejections.iter() {
        let _ = writeln!(body, "{samples} {}: {}", reason.as_str(), examples.join("; "));
    }
    (400, body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::RejectReason;

    #[test]
    fn body_names_counts_reasons_and_examples() {
        assert_eq!(respond(5, &Rejections::default()), (204, String::new()));
        let mut r = Rejections::default();
        r.add(RejectReason::InvalidLabelName, 2, || "invalid label name \"1a\"".into());
        r.add(RejectReason::OutOfOrder, 1, || "out of order sample".into());
        let (status, body) = respond(7, &r);
        assert_eq!(status, 400);
        assert_eq!(body, "accepted 7 samples, rejected 3\n2 invalid_label_name: invalid label name \"1a\"\n1 out_of_order: out of order sample\n");
    }
}
