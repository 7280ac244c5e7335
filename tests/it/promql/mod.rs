//! PromQL conformance: Prometheus's own PromQL test scripts
//! (`promql/promqltest/testdata/*.test`) run against Rampart's storage
//! engine and evaluator, in process.
//!
//! ```text
//! cargo test --release --test it promql_conformance -- --nocapture
//! RAMPART_PROMQL_FILTER=functions.test cargo test --test it promql_conformance -- --nocapture
//! RAMPART_PROMQL_FILTER=functions.test:1207,aggregators cargo test --test it promql_conformance -- --nocapture
//! ```
//!
//! * **Scripts.** `RAMPART_PROMQL_TESTDATA=<dir>` if set; else
//!   `../shared/conformance/promql` next to the workspace root if it exists;
//!   else the vendored copy in `tests/promql/testdata` (see its README for
//!   provenance). The run prints which directory it used.
//! * **Subset.** `RAMPART_PROMQL_FILTER` is a comma-separated list of
//!   `file` (with or without `.test`) or `file:line` (the line of an `eval`,
//!   as reported). Only those files and evals run; loads and clears before a
//!   selected eval always run.
//! * **Detail.** Failures of core evals are printed in full: `file:line`,
//!   the query, the failing variant, and expected vs got. Failures of the
//!   other tiers get one line each, or full detail with
//!   `RAMPART_PROMQL_DETAIL=all` (`none` prints counts only).
//! * **Acceptance.** Evals are tiered (see [`tier`]): every core eval must
//!   pass, and the test fails otherwise or when a script cannot be read.
//!   Experimental and native-histogram evals are counted and reported.
//!
//! The script format and upstream runner's behaviour are specified in
//! `shared/conformance/promql/README.md`; the modules follow it:
//! [`script`] parses commands and [`series`] (the library's
//! `promql::series_desc`) value notation, [`exec`] loads and evaluates,
//! [`atmod`] builds the `@`-invariance variants, [`compare`] checks results,
//! [`tier`] classifies.

mod atmod;
mod compare;
mod exec;
mod script;
mod tier;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use exec::{EvalReport, FileReport};
use rampart::promql::series_desc as series;
use tier::Tier;

/// Longest expected-vs-got text printed per failure.
const MAX_DETAIL_CHARS: usize = 1500;

/// Longest query or message printed on a one-line summary.
const MAX_LINE_CHARS: usize = 200;

#[test]
fn promql_conformance() {
    let dir = testdata_dir();
    let filter = Filter::from_env();
    let detail = std::env::var("RAMPART_PROMQL_DETAIL").unwrap_or_default();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "test"))
        .filter(|p| filter.wants_file(&file_name(p)))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .test files in {} match RAMPART_PROMQL_FILTER", dir.display());

    let started = std::time::Instant::now();
    let reports: Vec<FileReport> = std::thread::scope(|s| {
        let handles: Vec<_> = files
            .iter()
            .map(|path| {
                let filter = &filter;
                s.spawn(move || {
                    let name = file_name(path);
                    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
                    exec::run_file(&name, &text, filter.lines_for(&name).as_deref())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("runner thread")).collect()
    });

    let mut out = String::new();
    let _ = writeln!(out, "PromQL conformance scripts: {}", dir.display());
    if let Some(f) = &filter.raw {
        let _ = writeln!(out, "filter: RAMPART_PROMQL_FILTER={f}");
        for r in &reports {
            for line in filter.lines_for(&r.name).unwrap_or_default() {
                if !r.evals.iter().any(|e| e.line == line) {
                    let _ = writeln!(out, "filter: {}:{line} is not the line of an eval", r.name);
                }
            }
        }
    }
    write_failures(&mut out, &reports, &detail);
    write_common_errors(&mut out, &reports);
    write_summary(&mut out, &reports, started.elapsed());
    println!("{out}");

    let core_failed =
        reports.iter().flat_map(|r| &r.evals).filter(|e| e.class.tier == Tier::Core && e.outcome.is_err()).count();
    let unreadable: Vec<&str> =
        reports.iter().flat_map(|r| &r.errors).filter(|e| e.starts_with("script")).map(String::as_str).collect();
    assert!(unreadable.is_empty(), "scripts could not be read: {unreadable:?}");
    assert_eq!(core_failed, 0, "{core_failed} core PromQL evals failed (details above)");
}

/// The scripts' directory (see the module doc).
fn testdata_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("RAMPART_PROMQL_TESTDATA") {
        return PathBuf::from(d);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let shared = root.join("../shared/conformance/promql");
    if shared.is_dir() {
        return shared;
    }
    root.join("tests/promql/testdata")
}

fn file_name(p: &Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// `RAMPART_PROMQL_FILTER`: files, optionally narrowed to eval lines.
struct Filter {
    raw: Option<String>,
    /// File name (with `.test`) → selected lines (`None`: the whole file).
    files: BTreeMap<String, Option<Vec<usize>>>,
}

impl Filter {
    fn from_env() -> Self {
        let raw = std::env::var("RAMPART_PROMQL_FILTER").ok().filter(|s| !s.trim().is_empty());
        let mut files: BTreeMap<String, Option<Vec<usize>>> = BTreeMap::new();
        for entry in raw.iter().flat_map(|r| r.split(',')).map(str::trim).filter(|e| !e.is_empty()) {
            let (file, line) = match entry.rsplit_once(':') {
                Some((f, l)) => {
                    let line: usize =
                        l.parse().unwrap_or_else(|_| panic!("RAMPART_PROMQL_FILTER: bad line in {entry:?}"));
                    (f, Some(line))
                }
                None => (entry, None),
            };
            let file = if file.ends_with(".test") { file.to_owned() } else { format!("{file}.test") };
            let slot = files.entry(file).or_insert_with(|| Some(Vec::new()));
            match (slot.as_mut(), line) {
                (Some(lines), Some(l)) => lines.push(l),
                (_, None) => *slot = None,
                (None, Some(_)) => {}
            }
        }
        Self { raw, files }
    }

    fn wants_file(&self, name: &str) -> bool {
        self.raw.is_none() || self.files.contains_key(name)
    }

    fn lines_for(&self, name: &str) -> Option<Vec<usize>> {
        self.files.get(name).cloned().flatten()
    }
}

// ---- report -------------------------------------------------------------

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let cut: String = s.chars().take(max).collect();
    format!("{cut}… ({} more chars)", s.chars().count() - max)
}

fn one_line(s: &str) -> String {
    truncate(&s.replace('\n', "\\n"), MAX_LINE_CHARS)
}

fn write_failures(out: &mut String, reports: &[FileReport], detail: &str) {
    for r in reports {
        for e in &r.errors {
            let _ = writeln!(out, "\n{}: ERROR {e}", r.name);
        }
    }
    for tier in Tier::ALL {
        let failed: Vec<(&str, &EvalReport)> = reports
            .iter()
            .flat_map(|r| r.evals.iter().map(move |e| (r.name.as_str(), e)))
            .filter(|(_, e)| e.class.tier == tier && e.outcome.is_err())
            .collect();
        if failed.is_empty() || detail == "none" {
            continue;
        }
        let full = tier == Tier::Core || detail == "all";
        let _ = writeln!(out, "\n==== {} failures: {} ====", tier.name(), failed.len());
        for (file, e) in failed {
            let Err(f) = &e.outcome else { continue };
            if full {
                let _ = writeln!(out, "\n{file}:{}: {}", e.line, e.query);
                if !e.class.features.is_empty() {
                    let feats: Vec<String> = e.class.features.iter().map(|f| f.to_string()).collect();
                    let _ = writeln!(out, "    tier:     {} ({})", tier.name(), one_line(&feats.join(", ")));
                }
                let _ = writeln!(out, "    variant:  {}", f.variant);
                if let Some(q) = &f.query {
                    let _ = writeln!(out, "    query:    {q}");
                }
                let _ = writeln!(out, "    problem:  {}", truncate(&f.detail, MAX_DETAIL_CHARS));
            } else {
                let _ = writeln!(
                    out,
                    "{file}:{}: {}  [{}]  {}",
                    e.line,
                    one_line(&e.query),
                    f.variant,
                    one_line(&f.detail)
                );
            }
        }
    }
}

/// The most frequent failure texts per tier, so that one missing feature
/// shows as one line rather than hundreds.
fn write_common_errors(out: &mut String, reports: &[FileReport]) {
    let mut counts: BTreeMap<(Tier, String), usize> = BTreeMap::new();
    for e in reports.iter().flat_map(|r| &r.evals) {
        if let Err(f) = &e.outcome {
            *counts.entry((e.class.tier, one_line(&f.detail))).or_default() += 1;
        }
    }
    let mut common: Vec<_> = counts.into_iter().filter(|(_, n)| *n >= 3).collect();
    if common.is_empty() {
        return;
    }
    common.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let _ = writeln!(out, "\n==== most frequent failures ====");
    for ((tier, text), n) in common.into_iter().take(15) {
        let _ = writeln!(out, "{n:>5}  {:<16} {text}", tier.name());
    }
}

fn write_summary(out: &mut String, reports: &[FileReport], elapsed: std::time::Duration) {
    let _ = writeln!(out, "\n==== summary (passed/total per tier) ====");
    let mut totals = [(0usize, 0usize); 3];
    let cell = |(p, t): (usize, usize)| if t == 0 { "-".to_owned() } else { format!("{p}/{t}") };
    let _ =
        writeln!(out, "{:<26} {:>10} {:>14} {:>18} {:>8}", "file", "core", "experimental", "native-histogram", "time");
    for r in reports {
        let mut per = [(0usize, 0usize); 3];
        for e in &r.evals {
            let i = e.class.tier as usize;
            per[i].1 += 1;
            per[i].0 += usize::from(e.outcome.is_ok());
        }
        for (t, p) in totals.iter_mut().zip(per) {
            t.0 += p.0;
            t.1 += p.1;
        }
        let flag = if r.errors.is_empty() { "" } else { "  (errors)" };
        let _ = writeln!(
            out,
            "{:<26} {:>10} {:>14} {:>18} {:>7.1}s{flag}",
            r.name,
            cell(per[0]),
            cell(per[1]),
            cell(per[2]),
            r.elapsed.as_secs_f64()
        );
    }
    let _ = writeln!(
        out,
        "{:<26} {:>10} {:>14} {:>18} {:>7.1}s",
        "TOTAL",
        cell(totals[0]),
        cell(totals[1]),
        cell(totals[2]),
        elapsed.as_secs_f64()
    );
}
