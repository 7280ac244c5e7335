//! The audit log's files: `audit-000001.jsonl`, `audit-000002.jsonl`, … in
//! one directory, appended in order. A file is closed once it reaches the
//! configured size and the chain continues in the next one, whose first
//! record links to the last record of the file before it.
//!
//! Opening finds the newest file and the last record in it, so a restart
//! continues the chain. A process killed mid-write can leave a partial last
//! line; opening cuts it off (it was never acknowledged to anyone) and
//! reports how many bytes it cut, for the log to record.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::chain::{self, Link};

/// File name prefix and suffix.
const PREFIX: &str = "audit-";
const SUFFIX: &str = ".jsonl";

/// The file name of the `n`-th audit file.
pub fn file_name(n: u64) -> String {
    format!("{PREFIX}{n:06}{SUFFIX}")
}

/// The audit files of `dir` with their numbers, in order.
pub fn list(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(n) = name
            .to_str()
            .and_then(|s| s.strip_prefix(PREFIX))
            .and_then(|s| s.strip_suffix(SUFFIX))
            .and_then(|s| s.parse::<u64>().ok())
        else {
            continue;
        };
        files.push((n, entry.path()));
    }
    files.sort();
    Ok(files)
}

/// The file being appended to.
pub struct ChainFile {
    dir: PathBuf,
    number: u64,
    file: File,
    size: u64,
    max_size: u64,
    /// The last record written (or found at open).
    pub last: Link,
}

/// What opening found to repair.
#[derive(Debug, PartialEq, Eq)]
pub struct TornTail {
    /// The file that ended in a partial record.
    pub file: PathBuf,
    /// Bytes cut off.
    pub bytes: u64,
}

impl ChainFile {
    /// Opens (creating) the log in `dir`, positioned after its last record.
    pub fn open(dir: &Path, max_size: u64) -> io::Result<(Self, Option<TornTail>)> {
        fs::create_dir_all(dir)?;
        let files = list(dir)?;
        let mut last = Link::genesis();
        let mut torn = None;
        // The newest file may be empty (just rotated): the chain's last
        // record is then in the one before it.
        for (_, path) in files.iter().rev() {
            let (link, cut) = last_record(path)?;
            if torn.is_none() && cut > 0 {
                torn = Some(TornTail { file: path.clone(), bytes: cut });
            }
            if let Some(link) = link {
                last = link;
                break;
            }
        }
        let number = files.last().map_or(1, |(n, _)| *n);
        let path = dir.join(file_name(number));
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        let size = file.metadata()?.len();
        Ok((Self { dir: dir.to_owned(), number, file, size, max_size, last }, torn))
    }

    /// Appends one encoded record (a whole line), moving to a new file
    /// first when this one is full. With `sync`, the line is on disk when
    /// this returns.
    pub fn append(&mut self, line: &str, link: Link, sync: bool) -> io::Result<()> {
        if self.size > 0 && self.size + line.len() as u64 > self.max_size {
            self.file.sync_data()?;
            self.number += 1;
            let path = self.dir.join(file_name(self.number));
            self.file = OpenOptions::new().create(true).append(true).open(path)?;
            self.size = 0;
        }
        self.file.write_all(line.as_bytes())?;
        self.size += line.len() as u64;
        self.last = link;
        if sync {
            self.file.sync_data()?;
        }
        Ok(())
    }

    /// Forces written records to disk.
    pub fn sync(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    /// A handle on the current file that fsyncs it without borrowing this
    /// writer (records written later through `append` may or may not be
    /// covered).
    pub fn sync_handle(&self) -> io::Result<File> {
        self.file.try_clone()
    }
}

/// The link of the last complete record of `path` (none when it holds no
/// complete record), after cutting off a partial last line; returns the
/// bytes cut.
fn last_record(path: &Path) -> io::Result<(Option<Link>, u64)> {
    let mut file = OpenOptions::new().read(true).write(true).open(path)?;
    let mut text = Vec::new();
    file.read_to_end(&mut text)?;
    let complete = text.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let cut = (text.len() - complete) as u64;
    if cut > 0 {
        file.set_len(complete as u64)?;
        file.seek(SeekFrom::End(0))?;
        file.sync_data()?;
    }
    let Some(line) = text[..complete].split(|&b| b == b'\n').rev().find(|l| !l.is_empty()) else {
        return Ok((None, cut));
    };
    let line = String::from_utf8_lossy(line);
    // An edited last record still tells where the chain goes on; `rampart
    // verify` reports the edit. A line that is no record at all cannot be
    // continued from.
    let link = match chain::check(&line) {
        Ok(c) => c.link,
        Err(chain::LineError::Edited { .. }) => chain::link_unchecked(&line).ok_or_else(|| unreadable(path))?,
        Err(_) => return Err(unreadable(path)),
    };
    Ok((Some(link), cut))
}

fn unreadable(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "the last line of {} is not an audit record, so the chain cannot be continued: run `rampart verify` \
             to see where it breaks, then move the file away to start a new chain",
            path.display()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::chain::encode;
    use crate::audit::{Action, AuditEvent, Outcome};

    fn event(n: usize) -> AuditEvent {
        AuditEvent {
            principal: "ops".into(),
            tenant: "team-a".into(),
            action: Action::Admin,
            target: format!("action {n}"),
            outcome: Outcome::Success,
            source: None,
        }
    }

    fn write(log: &mut ChainFile, n: usize) {
        let (line, link) = encode(&event(n), "2026-11-23T00:00:00Z", &log.last);
        log.append(&line, link, false).expect("append");
    }

    #[test]
    fn rotation_and_reopening_continue_one_chain() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut log, torn) = ChainFile::open(dir.path(), 600).expect("open");
        assert_eq!(torn, None);
        for n in 0..5 {
            write(&mut log, n);
        }
        let files = list(dir.path()).expect("list");
        assert!(files.len() >= 2, "records of ~300 bytes rotate at 600: {files:?}");
        let last = log.last.clone();
        drop(log);
        let (mut log, _) = ChainFile::open(dir.path(), 600).expect("reopen");
        assert_eq!(log.last, last);
        write(&mut log, 5);
        assert_eq!(log.last.seq, 6);
    }

    #[test]
    fn a_partial_last_line_is_cut_and_reported() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut log, _) = ChainFile::open(dir.path(), 1 << 20).expect("open");
        write(&mut log, 0);
        let last = log.last.clone();
        drop(log);
        let path = dir.path().join(file_name(1));
        let partial = b"{\"v\":1,\"se";
        OpenOptions::new().append(true).open(&path).expect("file").write_all(partial).expect("torn write");
        let (log, torn) = ChainFile::open(dir.path(), 1 << 20).expect("reopen");
        assert_eq!(torn, Some(TornTail { file: path, bytes: partial.len() as u64 }));
        assert_eq!(log.last, last);
    }
}
