//! The line format of the audit log and the hash that chains its records.
//!
//! A record is one line of JSON, fields in this order:
//!
//! ```text
//! {"v":1,"seq":7,"time":"2026-11-23T16:05:09.123Z","principal":"grafana-a","tenant":"team-a",
//!  "action":"query","target":"GET /api/v1/query up","outcome":"success","source":"10.0.0.7:51234",
//!  "prev":"<64 hex>","hash":"<64 hex>"}
//! ```
//!
//! `hash` is the SHA-256 of the line's bytes up to (not including) `,"hash":`
//! followed by `}`: the record as it was written, `prev` included. `prev` is
//! the `hash` of the record before it ([`GENESIS`] for the first record of
//! the chain), and `seq` counts from 1 without gaps. So changing a byte of a
//! record breaks its own hash, and removing, inserting or reordering records
//! breaks `prev` or `seq` at that point. Hashing the bytes as written (not a
//! re-serialisation) keeps the check independent of JSON formatting.
//!
//! Version 1 is the only version; a reader refuses others.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{AuditEvent, FORMAT_VERSION};

/// `prev` of the first record of a chain.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What separates a record's hashed body from its hash.
const HASH_FIELD: &str = ",\"hash\":\"";

/// A record as written: the event and its place in the chain.
#[derive(Serialize)]
struct Written<'a> {
    v: u32,
    seq: u64,
    time: &'a str,
    #[serde(flatten)]
    event: &'a AuditEvent,
    prev: &'a str,
}

/// The chain position of a record: what the next record links to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    /// Sequence number of the record.
    pub seq: u64,
    /// Its hash (hex).
    pub hash: String,
}

impl Link {
    /// The position before the first record.
    pub fn genesis() -> Self {
        Self { seq: 0, hash: GENESIS.to_owned() }
    }
}

/// Encodes `event` as the record after `prev`; returns the line (with its
/// newline) and the new link.
pub fn encode(event: &AuditEvent, time: &str, prev: &Link) -> (String, Link) {
    let seq = prev.seq + 1;
    let body = serde_json::to_string(&Written { v: FORMAT_VERSION, seq, time, event, prev: &prev.hash })
        .expect("an audit record always serialises");
    let hash = hex(&Sha256::digest(body.as_bytes()));
    let line = format!("{}{HASH_FIELD}{hash}\"}}\n", &body[..body.len() - 1]);
    (line, Link { seq, hash })
}

/// The fields of a record a reader checks.
#[derive(Deserialize)]
struct Read {
    v: u32,
    seq: u64,
    prev: String,
    hash: String,
}

/// Why a line is not a sound record.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    /// Not a JSON record of this format.
    #[error("not an audit record ({0})")]
    Malformed(String),
    /// A format version this build does not read.
    #[error("audit record format version {0}, this build reads version {FORMAT_VERSION}")]
    Version(u32),
    /// The record's bytes do not hash to its `hash`.
    #[error("record seq {seq} does not match its hash: it was edited after it was written")]
    Edited {
        /// Its sequence number.
        seq: u64,
    },
}

/// A checked record: its link and the `prev` it names.
#[derive(Debug)]
pub struct Checked {
    /// This record's position.
    pub link: Link,
    /// The hash it says precedes it.
    pub prev: String,
}

/// Checks one line (without its newline) against its own hash.
pub fn check(line: &str) -> Result<Checked, LineError> {
    let read: Read = serde_json::from_str(line).map_err(|e| LineError::Malformed(e.to_string()))?;
    if read.v != FORMAT_VERSION {
        return Err(LineError::Version(read.v));
    }
    let at = line.rfind(HASH_FIELD).ok_or_else(|| LineError::Malformed("no hash field".into()))?;
    let body = format!("{}}}", &line[..at]);
    if hex(&Sha256::digest(body.as_bytes())) != read.hash {
        return Err(LineError::Edited { seq: read.seq });
    }
    Ok(Checked { link: Link { seq: read.seq, hash: read.hash }, prev: read.prev })
}

/// The link a line claims, without checking it (to continue a chain whose
/// last record was edited; verification reports the edit).
pub fn link_unchecked(line: &str) -> Option<Link> {
    let read: Read = serde_json::from_str(line).ok()?;
    Some(Link { seq: read.seq, hash: read.hash })
}

/// Lower-case hex of bytes.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{Action, Outcome};

    fn event(target: &str) -> AuditEvent {
        AuditEvent {
            principal: "grafana-a".into(),
            tenant: "team-a".into(),
            action: Action::Query,
            target: target.into(),
            outcome: Outcome::Success,
            source: Some("10.0.0.7:51234".parse().expect("address")),
        }
    }

    #[test]
    fn records_link_to_their_predecessor_and_check_against_their_hash() {
        let (first, l1) = encode(&event("up"), "2026-11-23T16:05:09.123Z", &Link::genesis());
        let (second, l2) = encode(&event("sum(up)"), "2026-11-23T16:05:10.000Z", &l1);
        assert!(first.starts_with(
            r#"{"v":1,"seq":1,"time":"2026-11-23T16:05:09.123Z","principal":"grafana-a","tenant":"team-a","action":"query","target":"up","outcome":"success","source":"10.0.0.7:51234","prev":"0000"#
        ), "{first}");
        assert!(first.ends_with(&format!(",\"hash\":\"{}\"}}\n", l1.hash)));
        let c1 = check(first.trim_end()).expect("first is sound");
        assert_eq!((c1.link, c1.prev.as_str()), (l1.clone(), GENESIS));
        let c2 = check(second.trim_end()).expect("second is sound");
        assert_eq!((c2.link.seq, c2.prev), (2, l1.hash));
        assert_eq!(c2.link, l2);
    }

    #[test]
    fn any_edit_is_caught() {
        let (line, _) = encode(&event("up"), "2026-11-23T16:05:09.123Z", &Link::genesis());
        let line = line.trim_end();
        for (from, to) in [("team-a", "team-b"), ("success", "denied  "), ("\"seq\":1", "\"seq\":2"), ("up", "UP")] {
            let edited = line.replacen(from, to, 1);
            assert!(matches!(check(&edited), Err(LineError::Edited { .. })), "{from} -> {to}");
        }
        assert!(matches!(check(&line[..line.len() - 5]), Err(LineError::Malformed(_))));
        assert!(matches!(check(&line.replacen("\"v\":1", "\"v\":9", 1)), Err(LineError::Version(9))));
    }
}
