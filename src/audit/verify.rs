//! Verification of an audit log directory: every file present in order,
//! every record sound against its own hash, linked to the record before it
//! and numbered one after it, and no file ending in a partial record.
//!
//! Each break is reported once, naming the file, line and sequence number;
//! verification then continues from the record after the break, so one
//! edit does not hide another further on.

use std::fmt;
use std::path::{Path, PathBuf};

use super::chain::{self, Link, GENESIS};
use super::file;

/// One break in the chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The file, when the problem is in one.
    pub file: Option<PathBuf>,
    /// 1-based line number in that file.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.file, self.line) {
            (Some(file), Some(line)) => write!(f, "{}:{line}: {}", file.display(), self.message),
            (Some(file), None) => write!(f, "{}: {}", file.display(), self.message),
            _ => f.write_str(&self.message),
        }
    }
}

/// What verification found.
#[derive(Debug, Default)]
pub struct Report {
    /// Audit files read.
    pub files: usize,
    /// Records read.
    pub records: u64,
    /// The last record: the head an outside party can pin.
    pub head: Option<Link>,
    /// Every break found; empty when the chain is whole.
    pub problems: Vec<Problem>,
}

/// Verifies the audit log in `dir`. A directory that does not exist holds
/// no log and verifies empty.
pub fn verify(dir: &Path) -> std::io::Result<Report> {
    verify_through(dir, None)
}

/// Like [`verify`], but stops after the record numbered `last` when given:
/// a live log's writer may be appending after it, so what follows (even a
/// partial line) is not judged.
pub fn verify_through(dir: &Path, last: Option<u64>) -> std::io::Result<Report> {
    let mut report = Report::default();
    if !dir.exists() {
        return Ok(report);
    }
    let mut expect = Link::genesis();
    let mut previous_number = None;
    for (number, path) in file::list(dir)? {
        report.files += 1;
        let problem = |line: Option<usize>, message: String| Problem { file: Some(path.clone()), line, message };
        if let Some(p) = previous_number {
            if number != p + 1 {
                let (from, to) = (file::file_name(p + 1), file::file_name(number - 1));
                let missing = if from == to {
                    format!("audit file {from} is")
                } else {
                    format!("audit files {from} to {to} are")
                };
                report.problems.push(problem(None, format!("{missing} missing")));
            }
        }
        previous_number = Some(number);
        let text = std::fs::read(&path)?;
        let mut reached_last = false;
        for (i, line) in text.split(|&b| b == b'\n').enumerate().filter(|(_, l)| !l.is_empty()) {
            report.records += 1;
            let line_no = Some(i + 1);
            let line = String::from_utf8_lossy(line);
            let checked = match chain::check(&line) {
                Ok(c) => c,
                Err(e) => {
                    report.problems.push(problem(line_no, e.to_string()));
                    // Go on from where this record says it is.
                    if let Some(link) = chain::link_unchecked(&line) {
                        expect = link;
                    }
                    continue;
                }
            };
            let seq = checked.link.seq;
            if checked.prev != expect.hash || seq != expect.seq + 1 {
                let message = if expect.seq == 0 && checked.prev != GENESIS {
                    format!("the chain starts at seq {seq}, not 1: earlier records or files are missing")
                } else if seq <= expect.seq {
                    format!("record seq {seq} follows seq {}: records were reordered or repeated", expect.seq)
                } else if seq > expect.seq + 1 {
                    format!("{} missing", span("record", "seq", expect.seq + 1, seq - 1))
                } else {
                    format!("record seq {seq} does not link to the record before it: that record was replaced")
                };
                report.problems.push(problem(line_no, message));
            }
            expect = checked.link;
            if last.is_some_and(|last| seq >= last) {
                reached_last = true;
                break;
            }
        }
        if reached_last {
            break;
        }
        if !text.is_empty() && text.last() != Some(&b'\n') {
            report.problems.push(problem(None, "ends in a partial record: the file was truncated".into()));
        }
    }
    report.head = (expect.seq > 0).then_some(expect);
    Ok(report)
}

/// `record seq 4 is` or `records seq 4 to 6 are`.
fn span(what: &str, key: &str, from: u64, to: u64) -> String {
    if from == to {
        format!("{what} {key} {from} is")
    } else {
        format!("{what}s {key} {from} to {to} are")
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::audit::chain::encode;
    use crate::audit::file::{file_name, ChainFile};
    use crate::audit::{Action, AuditEvent, Outcome};

    /// A log of `n` records in files of about three records each.
    fn log(n: usize) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut log, _) = ChainFile::open(dir.path(), 900).expect("open");
        for i in 0..n {
            let event = AuditEvent {
                principal: "ops".into(),
                tenant: "team-a".into(),
                action: Action::Query,
                target: format!("GET /api/v1/query up{i}"),
                outcome: Outcome::Success,
                source: None,
            };
            let (line, link) = encode(&event, "2026-11-23T00:00:00Z", &log.last);
            log.append(&line, link, false).expect("append");
        }
        dir
    }

    fn lines(path: &Path) -> Vec<String> {
        std::fs::read_to_string(path).expect("read").lines().map(str::to_owned).collect()
    }

    fn rewrite(path: &Path, lines: &[String]) {
        let mut f = std::fs::File::create(path).expect("create");
        for l in lines {
            writeln!(f, "{l}").expect("write");
        }
    }

    fn messages(dir: &Path) -> Vec<String> {
        verify(dir).expect("verify").problems.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn a_whole_chain_verifies_with_its_head() {
        let dir = log(10);
        let report = verify(dir.path()).expect("verify");
        assert_eq!(report.problems, []);
        assert_eq!(report.records, 10);
        assert!(report.files >= 3, "{}", report.files);
        assert_eq!(report.head.expect("head").seq, 10);
        assert_eq!(verify(&dir.path().join("absent")).expect("no log").records, 0);
    }

    #[test]
    fn a_live_log_is_judged_up_to_the_head_its_writer_reported() {
        let dir = log(10);
        let newest = file::list(dir.path()).expect("list").last().expect("a file").1.clone();
        std::fs::OpenOptions::new()
            .append(true)
            .open(&newest)
            .expect("open")
            .write_all(b"{\"v\":1,\"seq\":11")
            .expect("a record being written");
        let report = verify_through(dir.path(), Some(10)).expect("verify");
        assert_eq!(report.problems, []);
        assert_eq!((report.records, report.head.expect("head").seq), (10, 10));
        assert!(messages(dir.path()).iter().any(|p| p.ends_with("ends in a partial record: the file was truncated")));
    }

    #[test]
    fn each_kind_of_tampering_is_named() {
        let first = |dir: &Path| dir.join(file_name(1));

        let dir = log(10);
        let mut l = lines(&first(dir.path()));
        l[1] = l[1].replace("up1", "up9");
        rewrite(&first(dir.path()), &l);
        let m = messages(dir.path());
        assert_eq!(m.len(), 1, "{m:?}");
        assert!(
            m[0].ends_with(":2: record seq 2 does not match its hash: it was edited after it was written"),
            "{m:?}"
        );

        let dir = log(10);
        let mut l = lines(&first(dir.path()));
        l.remove(1);
        rewrite(&first(dir.path()), &l);
        let m = messages(dir.path());
        assert!(m[0].ends_with(": record seq 2 is missing"), "{m:?}");

        let dir = log(10);
        let mut l = lines(&first(dir.path()));
        l.swap(0, 1);
        rewrite(&first(dir.path()), &l);
        let m = messages(dir.path());
        assert!(m[0].ends_with(":1: the chain starts at seq 2, not 1: earlier records or files are missing"), "{m:?}");
        assert!(m[1].ends_with(":2: record seq 1 follows seq 2: records were reordered or repeated"), "{m:?}");

        let dir = log(10);
        std::fs::remove_file(dir.path().join(file_name(2))).expect("remove");
        let m = messages(dir.path());
        assert!(m[0].ends_with("audit file audit-000002.jsonl is missing"), "{m:?}");

        let dir = log(10);
        std::fs::remove_file(first(dir.path())).expect("remove");
        assert!(messages(dir.path())[0].contains("earlier records or files are missing"));

        let dir = log(10);
        let text = std::fs::read(first(dir.path())).expect("read");
        std::fs::write(first(dir.path()), &text[..text.len() - 7]).expect("truncate");
        let m = messages(dir.path());
        assert!(m.iter().any(|p| p.ends_with("ends in a partial record: the file was truncated")), "{m:?}");
    }
}
