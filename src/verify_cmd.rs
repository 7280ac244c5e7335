//! `rampart verify`: proves that a data directory's stored data changed only
//! through recorded operations, or names every place where it did not.
//!
//! The report is a list of sections, each with what it checked and its
//! problems: `manifest` (the hash chain, against the head RocksDB recorded
//! and an optional pinned head) and `partitions` (every sealed partition
//! re-read and re-digested, against the manifest); see
//! `rampart_storage::verify`), and `audit` (the audit log's hash chain, see
//! `crate::audit::verify`). Nothing is written, so it runs on a stopped
//! store's data directory or a backup.

use std::io::Write;
use std::path::Path;

use rampart_storage::verify::{verify, Verification};

use crate::cli::VerifyArgs;

/// One part of the report.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Section {
    /// What was checked (`manifest`, `partitions`, ...).
    pub name: &'static str,
    /// What was covered, e.g. `3 sealed partitions`.
    pub checked: String,
    /// Every problem found, naming what and where.
    pub problems: Vec<String>,
}

/// The storage engine's sections: manifest and partitions.
pub fn storage_sections(v: &Verification) -> Vec<Section> {
    let head = v.head.map_or_else(|| "none".to_owned(), |h| h.to_string());
    vec![
        Section {
            name: "manifest",
            checked: format!("{} entries, head {head}", v.entries),
            problems: v.manifest_problems.clone(),
        },
        Section {
            name: "partitions",
            checked: format!("{} sealed partitions re-digested", v.partitions_verified),
            problems: v.partition_problems.clone(),
        },
    ]
}

/// The audit log's section: its chain, file by file, up to the record
/// numbered `through` when given (see `crate::audit::verify::verify_through`).
pub fn audit_section(dir: &Path, through: Option<u64>) -> (Section, String) {
    let (checked, problems, head) = match crate::audit::verify::verify_through(dir, through) {
        Ok(r) => {
            let head = r.head.map_or_else(|| "none".to_owned(), |h| format!("{}:{}", h.seq, h.hash));
            let checked = format!("{} records in {} files of {}, head {head}", r.records, r.files, dir.display());
            (checked, r.problems.iter().map(ToString::to_string).collect(), head)
        }
        Err(e) => (dir.display().to_string(), vec![format!("reading {}: {e}", dir.display())], "none".to_owned()),
    };
    (Section { name: "audit", checked, problems }, head)
}

/// Verifies `args.data_dir`, prints the report and returns whether every
/// section passed.
pub fn run(args: &VerifyArgs, out: &mut impl Write) -> anyhow::Result<bool> {
    let v = verify(&args.data_dir, args.expect_head);
    let mut sections = storage_sections(&v);
    let audit_dir = args.audit_dir.clone().unwrap_or_else(|| args.data_dir.join("audit"));
    let (audit, audit_head) = audit_section(&audit_dir, None);
    sections.push(audit);
    render(&sections, out)?;
    let problems: usize = sections.iter().map(|s| s.problems.len()).sum();
    if problems == 0 {
        let head = v.head.map_or_else(|| "none".to_owned(), |h| h.to_string());
        writeln!(
            out,
            "verified {}: {} sealed partitions, {} manifest entries, manifest head {head}, audit head {audit_head}",
            args.data_dir.display(),
            v.partitions_verified,
            v.entries
        )?;
    } else {
        writeln!(out, "{} problems found in {}", problems, args.data_dir.display())?;
    }
    Ok(problems == 0)
}

/// `name: ok (checked)` or `name: N problems (checked)` and one line per problem.
fn render(sections: &[Section], out: &mut impl Write) -> std::io::Result<()> {
    for s in sections {
        if s.problems.is_empty() {
            writeln!(out, "{}: ok ({})", s.name, s.checked)?;
        } else {
            writeln!(out, "{}: {} problems ({})", s.name, s.problems.len(), s.checked)?;
            for p in &s.problems {
                writeln!(out, "  - {p}")?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_list_their_problems() {
        let v = Verification {
            entries: 2,
            partitions_verified: 1,
            partition_problems: vec!["partition chunks_0: modified".into()],
            ..Verification::default()
        };
        let mut out = Vec::new();
        render(&storage_sections(&v), &mut out).expect("render");
        assert_eq!(
            String::from_utf8(out).expect("utf-8"),
            "manifest: ok (2 entries, head none)\npartitions: 1 problems (1 sealed partitions re-digested)\n  - partition chunks_0: modified\n"
        );
    }
}
