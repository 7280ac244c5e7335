//! `rampart rules check FILE…`: validates rule files as
//! `promtool check rules` does, printing per file the number of rules or
//! every problem found.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use super::file;

/// Checks each file; returns whether all are valid.
pub fn run(files: &[PathBuf], out: &mut impl Write) -> std::io::Result<bool> {
    let mut all_ok = true;
    for path in files {
        writeln!(out, "Checking {}", path.display())?;
        // The interval does not affect validity.
        match file::load_file(path, Duration::from_secs(60)) {
            Ok(groups) => {
                let rules: usize = groups.iter().map(|g| g.rules.len()).sum();
                writeln!(out, "  SUCCESS: {rules} rules found\n")?;
            }
            Err(errors) => {
                all_ok = false;
                writeln!(out, "  FAILED:")?;
                for e in errors {
                    writeln!(out, "{e}")?;
                }
                writeln!(out)?;
            }
        }
    }
    Ok(all_ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_rule_counts_and_problems_per_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let good = dir.path().join("good.yml");
        let bad = dir.path().join("bad.yml");
        std::fs::write(
            &good,
            "groups:\n- name: g\n  rules:\n  - record: a\n    expr: up\n  - alert: B\n    expr: up == 0\n",
        )
        .expect("write");
        std::fs::write(&bad, "groups:\n- name: g\n  rules:\n  - record: a\n    expr: sum(\n").expect("write");
        let mut out = Vec::new();
        assert!(run(std::slice::from_ref(&good), &mut out).expect("io"));
        assert_eq!(String::from_utf8_lossy(&out), format!("Checking {}\n  SUCCESS: 2 rules found\n\n", good.display()));
        let mut out = Vec::new();
        assert!(!run(&[good, bad.clone()], &mut out).expect("io"));
        let text = String::from_utf8_lossy(&out);
        assert!(
            text.contains(&format!(
                "  FAILED:\n{}: group \"g\", rule 1, \"a\": could not parse expression",
                bad.display()
            )),
            "{text}"
        );
    }
}
