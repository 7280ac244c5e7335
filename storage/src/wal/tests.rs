//! Tests of the WAL directory: round trips, repair of torn and corrupted
//! segments, rotation, truncation and group commit.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicUsize;
use std::sync::Barrier;

use proptest::prelude::*;

use super::*;

fn opts(fsync: FsyncPolicy, segment_size: u64) -> WalOptions {
    WalOptions { segment_size, fsync, on_fsync: None }
}

fn open(dir: &Path) -> (Wal, WalRecovery) {
    Wal::open(dir, opts(FsyncPolicy::Never, DEFAULT_SEGMENT_SIZE)).unwrap()
}

/// A record whose content and length depend on `i`.
fn rec(i: usize) -> Vec<u8> {
    let mut r = format!("record-{i:05}-").into_bytes();
    r.extend(std::iter::repeat_n(b'a' + (i % 26) as u8, i % 37));
    r
}

fn read_all(dir: &Path, from: SegmentId) -> Vec<(SegmentId, Vec<u8>)> {
    let mut out = Vec::new();
    replay::<WalError, _>(dir, from, |seg, r| {
        out.push((seg, r.to_vec()));
        Ok(())
    })
    .unwrap();
    out
}

fn payloads(dir: &Path) -> Vec<Vec<u8>> {
    read_all(dir, 0).into_iter().map(|(_, r)| r).collect()
}

fn seg_path(dir: &Path, id: SegmentId) -> PathBuf {
    dir.join(segment_file_name(id))
}

fn len_of(dir: &Path, id: SegmentId) -> u64 {
    fs::metadata(seg_path(dir, id)).unwrap().len()
}

fn segment_ids(dir: &Path) -> Vec<SegmentId> {
    list_segments(dir).unwrap().into_iter().map(|(id, _)| id).collect()
}

fn flip(path: &Path, at: u64) {
    let mut bytes = fs::read(path).unwrap();
    bytes[at as usize] ^= 0x40;
    fs::write(path, bytes).unwrap();
}

/// Writes `n` records to segment 0 and closes the WAL; returns the offset
/// where the last record starts.
fn write_one_segment(dir: &Path, n: usize) -> u64 {
    let (wal, _) = open(dir);
    for i in 0..n {
        assert_eq!(wal.append(&rec(i)).unwrap(), 0);
    }
    drop(wal);
    len_of(dir, 0) - (RECORD_HEADER_LEN + rec(n - 1).len()) as u64
}

#[test]
fn round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("wal");
    let (wal, recovery) = open(&dir);
    assert_eq!(recovery, WalRecovery { next_segment: 0, ..WalRecovery::default() });
    let mut want = Vec::new();
    for i in 0..100 {
        let seg = wal.append(&rec(i)).unwrap();
        want.push((seg, rec(i)));
    }
    let batch = [rec(100), rec(101), rec(102)];
    let refs: Vec<&[u8]> = batch.iter().map(Vec::as_slice).collect();
    let seg = wal.append_many(&refs).unwrap();
    want.extend(batch.iter().map(|r| (seg, r.clone())));
    let expected_size: u64 = HEADER_LEN + want.iter().map(|(_, r)| (RECORD_HEADER_LEN + r.len()) as u64).sum::<u64>();
    assert_eq!(wal.size_bytes(), expected_size);
    wal.close().unwrap();

    assert_eq!(read_all(&dir, 0), want);
    let (wal, recovery) = open(&dir);
    assert_eq!(recovery, WalRecovery { segments: 1, records: 103, bytes_dropped: 0, cuts: vec![], next_segment: 1 });
    assert_eq!(wal.current_segment(), 1);
    assert_eq!(len_of(&dir, 0), expected_size, "a clean segment is not modified");
}

#[test]
fn torn_tail_is_cut_at_last_valid_record() {
    // (case, where to cut relative to the start of the last record)
    let table: &[(&str, u64)] =
        &[("mid payload", 11), ("mid frame header", 5), ("frame header only", 8), ("at record start", 0)];
    for &(case, into_last) in table {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let last_start = write_one_segment(dir, 10);
        let cut_at = last_start + into_last;
        File::options().write(true).open(seg_path(dir, 0)).unwrap().set_len(cut_at).unwrap();

        let (wal, recovery) = open(dir);
        let want_cuts = if into_last == 0 {
            vec![]
        } else {
            vec![Cut {
                segment: 0,
                offset: last_start,
                bytes_dropped: into_last,
                reason: CutReason::Stop(StopReason::TornTail),
            }]
        };
        assert_eq!(recovery.cuts, want_cuts, "{case}");
        assert_eq!(recovery.bytes_dropped, into_last, "{case}");
        assert_eq!(recovery.records, 9, "{case}");
        assert_eq!(len_of(dir, 0), last_start, "{case}: segment truncated");
        drop(wal);
        assert_eq!(payloads(dir), (0..9).map(rec).collect::<Vec<_>>(), "{case}");
    }
}

#[test]
fn cut_message_names_segment_offset_bytes_and_reason() {
    let torn = Cut { segment: 3, offset: 4096, bytes_dropped: 517, reason: CutReason::Stop(StopReason::TornTail) };
    assert_eq!(
        torn.to_string(),
        "wal: cut torn tail of segment 00000003 at offset 4096: dropped 517 bytes (torn record)"
    );
    let crc = Cut { reason: CutReason::Stop(StopReason::CrcMismatch { stored: 1, computed: 2 }), ..torn };
    assert_eq!(
        crc.to_string(),
        "wal: cut corrupted tail of segment 00000003 at offset 4096: dropped 517 bytes (crc mismatch)"
    );
    let removed = Cut { segment: 4, offset: 0, bytes_dropped: 9, reason: CutReason::AfterCut { segment: 3 } };
    assert_eq!(
        removed.to_string(),
        "wal: removed segment 00000004: dropped 9 bytes (it follows the cut in segment 00000003)"
    );
}

#[test]
fn flipped_byte_in_last_record_is_a_crc_cut() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let last_start = write_one_segment(dir, 10);
    let len = len_of(dir, 0);
    flip(&seg_path(dir, 0), len - 2);

    let (wal, recovery) = open(dir);
    assert_eq!(recovery.cuts.len(), 1);
    let cut = recovery.cuts[0];
    assert_eq!((cut.segment, cut.offset, cut.bytes_dropped), (0, last_start, len - last_start));
    assert!(matches!(cut.reason, CutReason::Stop(StopReason::CrcMismatch { .. })), "{cut:?}");
    assert!(cut.to_string().contains("corrupted tail of segment 00000000"), "{cut}");
    assert_eq!(recovery.next_segment, 1);
    drop(wal);
    assert_eq!(payloads(dir), (0..9).map(rec).collect::<Vec<_>>());
}

#[test]
fn zero_filled_tail_is_cut() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_one_segment(dir, 5);
    let len = len_of(dir, 0);
    let mut bytes = fs::read(seg_path(dir, 0)).unwrap();
    bytes.extend_from_slice(&[0; 4096]);
    fs::write(seg_path(dir, 0), bytes).unwrap();

    let (_wal, recovery) = open(dir);
    assert_eq!(
        recovery.cuts,
        vec![Cut { segment: 0, offset: len, bytes_dropped: 4096, reason: CutReason::Stop(StopReason::ZeroFilled) }]
    );
    assert_eq!(recovery.records, 5);
    assert_eq!(len_of(dir, 0), len);
}

/// Writes segments 0..=2 with three records each (segment 3 is left empty).
fn write_three_segments(dir: &Path) {
    let (wal, _) = open(dir);
    for s in 0..3 {
        for i in 0..3 {
            assert_eq!(wal.append(&rec(s * 3 + i)).unwrap(), s as SegmentId);
        }
        assert_eq!(wal.rotate().unwrap(), s as SegmentId + 1);
    }
}

#[test]
fn corruption_in_a_middle_segment_removes_later_segments() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_three_segments(dir);
    let sizes: Vec<u64> = (0..4).map(|id| len_of(dir, id)).collect();
    // Flip the last payload byte of record 4, the second record of segment 1.
    let r3_end = HEADER_LEN + (RECORD_HEADER_LEN + rec(3).len()) as u64;
    flip(&seg_path(dir, 1), r3_end + (RECORD_HEADER_LEN + rec(4).len()) as u64 - 1);

    let (wal, recovery) = open(dir);
    assert_eq!(recovery.cuts.len(), 3, "{:?}", recovery.cuts);
    assert_eq!(
        (recovery.cuts[0].segment, recovery.cuts[0].offset, recovery.cuts[0].bytes_dropped),
        (1, r3_end, sizes[1] - r3_end)
    );
    assert!(matches!(recovery.cuts[0].reason, CutReason::Stop(StopReason::CrcMismatch { .. })));
    assert_eq!(
        recovery.cuts[1..],
        [
            Cut { segment: 2, offset: 0, bytes_dropped: sizes[2], reason: CutReason::AfterCut { segment: 1 } },
            Cut { segment: 3, offset: 0, bytes_dropped: sizes[3], reason: CutReason::AfterCut { segment: 1 } },
        ]
    );
    assert_eq!(recovery.bytes_dropped, sizes[1] - r3_end + sizes[2] + sizes[3]);
    assert_eq!(recovery.segments, 4);
    assert_eq!(recovery.records, 4);
    assert_eq!(recovery.next_segment, 2);
    assert_eq!(segment_ids(dir), vec![0, 1, 2], "2 is the new, empty segment");
    assert_eq!(len_of(dir, 2), HEADER_LEN);
    wal.append(&rec(100)).unwrap();
    drop(wal);
    let want: Vec<Vec<u8>> = (0..4).map(rec).chain([rec(100)]).collect();
    assert_eq!(payloads(dir), want);
}

#[test]
fn empty_and_short_segments_are_rewritten_as_empty() {
    let table: &[(&str, &[u8], HeaderProblem)] = &[
        ("empty file", b"", HeaderProblem::Short { len: 0 }),
        ("shorter than header", b"RWA", HeaderProblem::Short { len: 3 }),
        ("header only partly", b"RWAL\x01", HeaderProblem::Short { len: 5 }),
        ("zero-filled", &[0; 20], HeaderProblem::Zeroed),
    ];
    for &(case, content, problem) in table {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        write_one_segment(dir, 4);
        fs::write(seg_path(dir, 1), content).unwrap();

        let (wal, recovery) = open(dir);
        assert_eq!(
            recovery.cuts,
            vec![Cut {
                segment: 1,
                offset: 0,
                bytes_dropped: content.len() as u64,
                reason: CutReason::Stop(StopReason::BadHeader(problem)),
            }],
            "{case}"
        );
        assert_eq!(fs::read(seg_path(dir, 1)).unwrap(), segment_header(), "{case}: header rewritten");
        assert_eq!(recovery.next_segment, 2, "{case}");
        drop(wal);
        assert_eq!(payloads(dir), (0..4).map(rec).collect::<Vec<_>>(), "{case}");
        let (_wal, again) = open(dir);
        assert!(again.cuts.is_empty(), "{case}: repaired for good");
    }
}

#[test]
fn foreign_or_newer_headers_are_refused_untouched() {
    type Check = fn(&WalError) -> bool;
    let table: &[(&str, usize, u8, Check)] = &[
        ("bad magic", 0, b'X', |e| matches!(e, WalError::BadMagic { found, .. } if found == b"XWAL")),
        ("version 2", 4, 2, |e| matches!(e, WalError::UnsupportedVersion { found: 2, supported: 1, .. })),
        ("reserved", 7, 9, |e| matches!(e, WalError::ReservedHeaderBytes { found: [0, 0, 9], .. })),
    ];
    for &(case, at, byte, check) in table {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        write_one_segment(dir, 3);
        // Segment 0 gets the bad header; segment 1 has a torn tail that
        // must not be repaired either.
        let mut bytes = fs::read(seg_path(dir, 0)).unwrap();
        bytes[at] = byte;
        fs::write(seg_path(dir, 0), &bytes).unwrap();
        fs::write(seg_path(dir, 1), b"RW").unwrap();

        let err = Wal::open(dir, WalOptions::default()).unwrap_err();
        assert!(check(&err), "{case}: {err}");
        assert!(err.to_string().contains("00000000"), "{case}: {err}");
        assert_eq!(fs::read(seg_path(dir, 0)).unwrap(), bytes, "{case}");
        assert_eq!(fs::read(seg_path(dir, 1)).unwrap(), b"RW", "{case}");
        assert_eq!(segment_ids(dir), vec![0, 1], "{case}: no segment created");
        let err = replay::<WalError, _>(dir, 0, |_, _| Ok(())).unwrap_err();
        assert!(check(&err), "{case}: replay: {err}");
    }
}

#[test]
fn appends_after_repair_go_to_a_new_segment() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let last_start = write_one_segment(dir, 6);
    File::options().write(true).open(seg_path(dir, 0)).unwrap().set_len(last_start + 3).unwrap();

    let (wal, recovery) = open(dir);
    assert_eq!(recovery.cuts.len(), 1);
    assert_eq!(recovery.next_segment, 1);
    assert_eq!(wal.append(&rec(50)).unwrap(), 1);
    assert_eq!(wal.append(&rec(51)).unwrap(), 1);
    drop(wal);
    assert_eq!(len_of(dir, 0), last_start, "the repaired segment is not written to");
    let want: Vec<(SegmentId, Vec<u8>)> = (0..5).map(|i| (0, rec(i))).chain([(1, rec(50)), (1, rec(51))]).collect();
    assert_eq!(read_all(dir, 0), want);
    assert_eq!(read_all(dir, 1), want[5..].to_vec(), "replay from a later segment");
}

#[test]
fn rotation_and_truncate_before() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (wal, _) = open(dir);
    assert_eq!(wal.append(b"a").unwrap(), 0);
    assert_eq!(wal.rotate().unwrap(), 1);
    assert_eq!(wal.current_segment(), 1);
    assert_eq!(wal.append(b"b").unwrap(), 1);
    assert_eq!(wal.rotate().unwrap(), 2);
    assert_eq!(wal.append(b"c").unwrap(), 2);
    let one = HEADER_LEN + RECORD_HEADER_LEN as u64 + 1;
    assert_eq!(
        wal.segments(),
        vec![SegmentInfo { id: 0, size: one }, SegmentInfo { id: 1, size: one }, SegmentInfo { id: 2, size: one }]
    );
    assert_eq!(wal.size_bytes(), 3 * one);

    assert_eq!(wal.truncate_before(2).unwrap(), 2);
    assert_eq!(segment_ids(dir), vec![2]);
    assert_eq!(wal.segments(), vec![SegmentInfo { id: 2, size: one }]);
    assert_eq!(wal.size_bytes(), one);
    assert_eq!(wal.truncate_before(2).unwrap(), 0);
    assert_eq!(wal.truncate_before(100).unwrap(), 0, "the active segment is kept");
    assert_eq!(segment_ids(dir), vec![2]);
    drop(wal);
    assert_eq!(read_all(dir, 0), vec![(2, b"c".to_vec())]);
}

#[test]
fn segments_rotate_at_segment_size() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let record = [7u8; 30];
    let framed = (RECORD_HEADER_LEN + record.len()) as u64;
    let size = HEADER_LEN + 5 * framed; // exactly five records per segment
    let (wal, _) = Wal::open(dir, opts(FsyncPolicy::Never, size)).unwrap();
    let segs: Vec<SegmentId> = (0..23).map(|_| wal.append(&record).unwrap()).collect();
    let want: Vec<SegmentId> = (0..23).map(|i| i / 5).collect();
    assert_eq!(segs, want);
    // A record larger than a segment gets a segment of its own.
    let big = vec![1u8; size as usize * 2];
    assert_eq!(wal.append(&big).unwrap(), 5);
    assert_eq!(wal.append(&record).unwrap(), 6);
    drop(wal);
    for id in 0..4 {
        assert_eq!(len_of(dir, id), size, "segment {id}");
    }
    assert_eq!(len_of(dir, 5), HEADER_LEN + (RECORD_HEADER_LEN + big.len()) as u64);
    let got: Vec<SegmentId> = read_all(dir, 0).into_iter().map(|(s, _)| s).collect();
    assert_eq!(got, want.into_iter().chain([5, 6]).collect::<Vec<_>>());
}

#[test]
fn invalid_records_are_refused_and_nothing_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (wal, _) = open(dir);
    assert!(matches!(wal.append(b""), Err(WalError::Record(FrameError::Empty))));
    let big = vec![0u8; MAX_RECORD_SIZE as usize + 1];
    assert!(matches!(
        wal.append(&big),
        Err(WalError::Record(FrameError::TooLarge { len, max: MAX_RECORD_SIZE })) if len == big.len()
    ));
    assert!(matches!(wal.append_many(&[b"ok".as_slice(), b"".as_slice()]), Err(WalError::Record(FrameError::Empty))));
    assert_eq!(wal.append_many(&[]).unwrap(), 0);
    assert_eq!(wal.size_bytes(), HEADER_LEN);
    drop(wal);
    assert!(payloads(dir).is_empty());
}

#[test]
fn replay_refuses_a_missing_segment_in_its_range() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_three_segments(dir);
    fs::remove_file(seg_path(dir, 1)).unwrap();
    let err = replay::<WalError, _>(dir, 0, |_, _| Ok(())).unwrap_err();
    assert!(matches!(err, WalError::SegmentGap { missing: 1, .. }), "{err}");
    let tail: Vec<Vec<u8>> = read_all(dir, 2).into_iter().map(|(_, r)| r).collect();
    assert_eq!(tail, (6..9).map(rec).collect::<Vec<_>>());
    // Open leaves the gap alone (it deletes nothing it cannot repair).
    let (_wal, recovery) = open(dir);
    assert!(recovery.cuts.is_empty());
    assert_eq!(segment_ids(dir), vec![0, 2, 3, 4]);
}

#[test]
fn replay_stops_at_the_callbacks_error() {
    #[derive(Debug, PartialEq)]
    enum TestError {
        Stop(usize),
        Wal,
    }
    impl From<WalError> for TestError {
        fn from(_: WalError) -> Self {
            TestError::Wal
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_one_segment(dir, 10);
    let mut seen = 0;
    let err = Wal::replay(dir, 0, |_, _| {
        seen += 1;
        if seen == 4 {
            Err(TestError::Stop(seen))
        } else {
            Ok(())
        }
    })
    .unwrap_err();
    assert_eq!((err, seen), (TestError::Stop(4), 4));
    let stats = Wal::replay::<TestError, _>(dir, 0, |_, _| Ok(())).unwrap();
    assert_eq!(stats, ReplayStats { segments: 1, records: 10, bytes: len_of(dir, 0) });
}

#[test]
fn other_files_in_the_directory_are_left_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    fs::create_dir(dir.join("00000005")).unwrap();
    fs::write(dir.join("checkpoint.00000003"), b"not a segment").unwrap();
    fs::write(dir.join("000000012"), b"non-canonical name").unwrap();
    let (wal, recovery) = open(dir);
    assert_eq!((recovery.segments, recovery.next_segment), (0, 0));
    wal.append(b"x").unwrap();
    drop(wal);
    assert_eq!(payloads(dir), vec![b"x".to_vec()]);
    assert!(dir.join("checkpoint.00000003").is_file());
    assert!(dir.join("000000012").is_file());
}

/// Appends from several threads; checks every record is replayed exactly
/// once, in each thread's order, in the segment its append returned.
fn concurrent_appends(fsync: FsyncPolicy) {
    const THREADS: usize = 8;
    const PER_THREAD: usize = 1000;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let syncs = Arc::new(AtomicUsize::new(0));
    let counter = syncs.clone();
    let options = WalOptions {
        segment_size: 64 << 10,
        fsync,
        on_fsync: Some(Arc::new(move |_| {
            counter.fetch_add(1, Ordering::Relaxed);
        })),
    };
    let (wal, _) = Wal::open(dir, options).unwrap();
    let start = Barrier::new(THREADS);
    let landed: Vec<Vec<SegmentId>> = thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let (wal, start) = (&wal, &start);
                s.spawn(move || {
                    start.wait();
                    let mut buf = Vec::new();
                    (0..PER_THREAD)
                        .map(|i| {
                            buf.clear();
                            buf.extend_from_slice(&(t as u32).to_le_bytes());
                            buf.extend_from_slice(&(i as u32).to_le_bytes());
                            buf.resize(8 + (i * 7 + t) % 200, b'p');
                            wal.append(&buf).unwrap()
                        })
                        .collect()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(wal.segments().len() > 2, "the test should cross segments");
    if fsync == FsyncPolicy::Always {
        assert!(syncs.load(Ordering::Relaxed) > 0);
    }
    wal.close().unwrap();

    let mut next = [0usize; THREADS];
    for (seg, r) in read_all(dir, 0) {
        let t = u32::from_le_bytes(r[..4].try_into().unwrap()) as usize;
        let i = u32::from_le_bytes(r[4..8].try_into().unwrap()) as usize;
        assert_eq!(i, next[t], "thread {t}: records in order, none missing or repeated");
        assert_eq!(r.len(), 8 + (i * 7 + t) % 200);
        assert_eq!(seg, landed[t][i], "thread {t} record {i}: segment reported by append");
        next[t] += 1;
    }
    assert_eq!(next, [PER_THREAD; THREADS]);
}

#[test]
fn group_commit_under_concurrency() {
    for fsync in [FsyncPolicy::Always, FsyncPolicy::Interval(Duration::from_millis(1)), FsyncPolicy::Never] {
        concurrent_appends(fsync);
    }
}

#[test]
fn waiting_appends_share_one_write_and_one_fsync() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let syncs = Arc::new(AtomicUsize::new(0));
    let counter = syncs.clone();
    let options = WalOptions {
        on_fsync: Some(Arc::new(move |_| {
            counter.fetch_add(1, Ordering::Relaxed);
        })),
        ..WalOptions::default()
    };
    let (wal, _) = Wal::open(dir, options).unwrap();
    let followers = 7;
    let segs: Vec<SegmentId> = thread::scope(|s| {
        // Hold the file so the first append's batch cannot be written while
        // the others queue up behind it.
        let file = wal.inner.writer.lock();
        let first = s.spawn(|| wal.append(b"leader").unwrap());
        while !wal.inner.commit.lock().leader {
            thread::yield_now();
        }
        let rest: Vec<_> = (0..followers)
            .map(|i| {
                let wal = &wal;
                s.spawn(move || wal.append(format!("follower {i}").as_bytes()).unwrap())
            })
            .collect();
        while wal.inner.commit.lock().callers < followers {
            thread::yield_now();
        }
        drop(file);
        std::iter::once(first).chain(rest).map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(segs, vec![0; followers + 1]);
    assert_eq!(syncs.load(Ordering::Relaxed), 2, "one fsync for the leader, one for all followers");
    assert!(wal.inner.commit.lock().outcomes.is_empty(), "all outcomes picked up");
    drop(wal);
    let got = payloads(dir);
    assert_eq!(got.len(), followers + 1);
    assert_eq!(got[0], b"leader");
}

#[test]
fn interval_policy_fsyncs_in_the_background() {
    let tmp = tempfile::tempdir().unwrap();
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let options = WalOptions {
        segment_size: DEFAULT_SEGMENT_SIZE,
        fsync: FsyncPolicy::Interval(Duration::from_millis(5)),
        on_fsync: Some(Arc::new(move |d| {
            let _ = tx.lock().send(d);
        })),
    };
    let (wal, _) = Wal::open(tmp.path(), options).unwrap();
    wal.append(b"x").unwrap();
    assert!(rx.recv_timeout(Duration::from_secs(600)).is_ok(), "the fsync thread synced");
    assert!(!wal.inner.writer.lock().dirty);
    wal.close().unwrap();
}

#[test]
fn a_panicking_fsync_hook_poisons_instead_of_hanging() {
    let tmp = tempfile::tempdir().unwrap();
    let options = WalOptions { on_fsync: Some(Arc::new(|_| panic!("hook"))), ..WalOptions::default() };
    let (wal, _) = Wal::open(tmp.path(), options).unwrap();
    assert!(matches!(wal.append(b"x"), Err(WalError::Poisoned { segment: 0 })));
    assert!(matches!(wal.append(b"y"), Err(WalError::Poisoned { segment: 0 })));
    assert!(matches!(wal.rotate(), Err(WalError::Poisoned { segment: 0 })));
}

/// Cuts the WAL in `dir` at byte `at` of the concatenation of its segments:
/// the segment holding that byte is truncated there, later ones removed.
fn truncate_stream(dir: &Path, at: u64) {
    let mut start = 0;
    for (_, path) in list_segments(dir).unwrap() {
        let len = file_len(&path).unwrap();
        if start >= at {
            fs::remove_file(&path).unwrap();
        } else if start + len > at {
            File::options().write(true).open(&path).unwrap().set_len(at - start).unwrap();
        }
        start += len;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn truncated_wal_replays_a_prefix(
        sizes in prop::collection::vec(1usize..120, 1..40),
        segment_size in 40u64..400,
        cut in 0.0f64..=1.0,
    ) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let records: Vec<Vec<u8>> =
            sizes.iter().enumerate().map(|(i, &n)| vec![i as u8; n]).collect();
        let (wal, _) = Wal::open(dir, opts(FsyncPolicy::Never, segment_size)).unwrap();
        let mut ends = BTreeMap::new(); // stream offset just past each record
        let mut bases = BTreeMap::new(); // stream offset of each segment
        let mut stream = 0u64;
        for (i, r) in records.iter().enumerate() {
            let seg = wal.append(r).unwrap();
            if !bases.contains_key(&seg) {
                stream += bases.last_key_value().map_or(0, |(&s, _)| len_of(dir, s));
                bases.insert(seg, stream);
            }
            ends.insert(i, bases[&seg] + len_of(dir, seg));
        }
        drop(wal);
        let total: u64 = segment_ids(dir).iter().map(|&s| len_of(dir, s)).sum();
        let at = (total as f64 * cut) as u64;
        truncate_stream(dir, at);

        let (wal, recovery) = Wal::open(dir, opts(FsyncPolicy::Never, segment_size)).unwrap();
        let kept = ends.values().filter(|&&end| end <= at).count();
        prop_assert_eq!(recovery.records, kept as u64);
        wal.append(b"after").unwrap();
        drop(wal);
        let mut want = records[..kept].to_vec();
        want.push(b"after".to_vec());
        prop_assert_eq!(payloads(dir), want);
        let (_wal, again) = Wal::open(dir, opts(FsyncPolicy::Never, segment_size)).unwrap();
        prop_assert!(again.cuts.is_empty(), "{:?}", again.cuts);
    }
}
