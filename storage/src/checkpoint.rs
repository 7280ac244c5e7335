//! Head checkpoints: `wal/checkpoint.NNNNNNNN`, the head's state when the
//! flush that wrote it closed WAL segment `N - 1`.
//!
//! A checkpoint file uses the WAL segment framing (header, then records of
//! `len | crc32 | payload`; see `docs/format/wal.md`) and holds one
//! [`record::CheckpointSeries`] record per series with head data. It is
//! written to a temporary name, fsynced, renamed and the directory fsynced,
//! so a checkpoint file that exists is complete; a torn or corrupt one is an
//! error, never silently shortened.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::record::{self, CheckpointSeries, Record};
use crate::wal::segment::{encode_record, segment_header, SegmentReader, StopReason};

const PREFIX: &str = "checkpoint.";
const TMP_SUFFIX: &str = ".tmp";

fn path(dir: &Path, segment: u64) -> PathBuf {
    dir.join(format!("{PREFIX}{segment:08}"))
}

fn parse_name(name: &str) -> Option<u64> {
    name.strip_prefix(PREFIX)?.parse().ok()
}

/// Every complete checkpoint in `dir`, oldest first.
fn list(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(Error::io("list", dir)(e)),
    };
    for entry in entries {
        let entry = entry.map_err(Error::io("list", dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.ends_with(TMP_SUFFIX) && name.starts_with(PREFIX) {
            // A checkpoint whose writer crashed: never complete, never read.
            fs::remove_file(entry.path()).map_err(Error::io("remove", entry.path()))?;
        } else if let Some(seg) = parse_name(name) {
            out.push((seg, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// The newest complete checkpoint.
pub fn latest(dir: &Path) -> Result<Option<(u64, PathBuf)>> {
    Ok(list(dir)?.pop())
}

/// Writes checkpoint `segment` atomically.
pub fn write(dir: &Path, segment: u64, series: &[CheckpointSeries]) -> Result<()> {
    let final_path = path(dir, segment);
    let tmp = final_path.with_extension(format!("{segment:08}{TMP_SUFFIX}"));
    let mut buf = segment_header().to_vec();
    let mut rec = Vec::new();
    for s in series {
        record::encode_checkpoint(s, &mut rec);
        encode_record(&mut buf, &rec).map_err(|_| Error::Corrupt {
            what: "checkpoint record",
            location: format!("series {}", s.id),
            detail: "larger than the maximum record size",
        })?;
    }
    let mut f = File::create(&tmp).map_err(Error::io("create", &tmp))?;
    f.write_all(&buf).map_err(Error::io("write", &tmp))?;
    f.sync_all().map_err(Error::io("fsync", &tmp))?;
    fs::rename(&tmp, &final_path).map_err(Error::io("rename", &final_path))?;
    File::open(dir).and_then(|d| d.sync_all()).map_err(Error::io("fsync", dir))
}

/// Reads a checkpoint, calling `f` for each series.
pub fn read(path: &Path, mut f: impl FnMut(CheckpointSeries) -> Result<()>) -> Result<()> {
    let mut reader = SegmentReader::open(path).map_err(Error::io("open", path))?;
    while let Some(rec) = reader.next_record().map_err(Error::io("read", path))? {
        match record::decode(rec) {
            Some(Record::Checkpoint(c)) => f(c)?,
            _ => {
                return Err(Error::Corrupt {
                    what: "checkpoint record",
                    location: format!("{} offset {}", path.display(), reader.valid_end()),
                    detail: "not a checkpoint series record",
                })
            }
        }
    }
    match reader.stop_reason() {
        Some(StopReason::Eof) | None => Ok(()),
        Some(_) => Err(Error::Corrupt {
            what: "checkpoint",
            location: format!("{} offset {}", path.display(), reader.valid_end()),
            detail: "torn or failed its checksum; restore the data directory from a backup",
        }),
    }
}

/// Deletes checkpoints older than `segment`.
pub fn remove_before(dir: &Path, segment: u64) -> Result<()> {
    for (seg, p) in list(dir)? {
        if seg < segment {
            fs::remove_file(&p).map_err(Error::io("remove", &p))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::ChunkRecord;

    #[test]
    fn checkpoints_round_trip_and_corruption_is_an_error() {
        let dir = tempfile::tempdir().expect("tmp");
        let series = vec![CheckpointSeries {
            tenant: 1,
            id: 2,
            max_t: 3,
            open: Some(ChunkRecord { min_t: 1, max_t: 3, bytes: vec![9; 40] }),
            pending: vec![],
        }];
        write(dir.path(), 5, &series).expect("write");
        write(dir.path(), 7, &series).expect("write");
        let (seg, p) = latest(dir.path()).expect("list").expect("one");
        assert_eq!(seg, 7);
        let mut back = Vec::new();
        read(&p, |c| {
            back.push(c);
            Ok(())
        })
        .expect("read");
        assert_eq!(back, series);
        remove_before(dir.path(), 7).expect("remove");
        assert_eq!(list(dir.path()).expect("list").len(), 1);
        let mut bytes = fs::read(&p).expect("read file");
        let last = bytes.len() - 1;
        bytes[last] ^= 0xFF;
        fs::write(&p, bytes).expect("write file");
        assert!(matches!(read(&p, |_| Ok(())), Err(Error::Corrupt { what: "checkpoint", .. })));
    }
}
