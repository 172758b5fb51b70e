//! Write-ahead log tests on real files: group commit, preallocation, rollover,
//! reopen, torn tails at every byte of the final record, and corruption that
//! must stop startup.

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use raft_kv::Error;
use raft_kv::storage::frame::frame_len;
use raft_kv::storage::segment::segment_file_name;
use raft_kv::storage::{Wal, WalOptions, WalReplay};

fn options(segment_size: u64, preallocate: bool) -> WalOptions {
    WalOptions {
        segment_size,
        preallocate,
    }
}

fn payload(i: usize) -> Vec<u8> {
    // Varying lengths and contents so offsets differ record to record.
    (0..(10 + i % 17)).map(|j| (i * 31 + j) as u8 | 1).collect()
}

/// Appends records `0..` in batches of the given sizes, one sync per batch.
fn write_batches(dir: &Path, opts: WalOptions, batch_sizes: &[usize]) -> Wal {
    let (mut wal, _) = Wal::open(dir, opts).expect("open");
    let mut next = 0;
    for &size in batch_sizes {
        for i in next..next + size {
            wal.append(1, &payload(i)).expect("append");
        }
        next += size;
        wal.sync().expect("sync");
    }
    wal
}

fn payloads(replay: &WalReplay) -> Vec<Vec<u8>> {
    replay.records.iter().map(|r| r.payload.clone()).collect()
}

fn expected(range: std::ops::Range<usize>) -> Vec<Vec<u8>> {
    range.map(payload).collect()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for item in std::fs::read_dir(from).expect("list") {
        let item = item.expect("entry");
        std::fs::copy(item.path(), to.join(item.file_name())).expect("copy");
    }
}

fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(segment_file_name(seq))
}

#[test]
fn records_survive_reopen_with_one_sync_per_batch() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let wal = write_batches(tmp.path(), options(1 << 20, true), &[10, 1, 29]);
    assert_eq!(wal.stats().syncs, 3, "one data sync per batch");
    drop(wal);
    let (_, replay) = Wal::open(tmp.path(), options(1 << 20, true)).expect("reopen");
    assert_eq!(payloads(&replay), expected(0..40));
    assert!(replay.torn_tail.is_none());
}

#[test]
fn sync_without_new_records_issues_no_sync() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut wal = write_batches(tmp.path(), options(1 << 20, true), &[3]);
    wal.sync().expect("sync");
    wal.sync().expect("sync");
    assert_eq!(wal.stats().syncs, 1);
}

#[test]
fn segments_are_preallocated_and_zero_space_reads_as_end() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let size = 256 << 10;
    let wal = write_batches(tmp.path(), options(size, true), &[5]);
    let meta = std::fs::metadata(segment_path(tmp.path(), 0)).expect("stat");
    assert_eq!(meta.len(), size, "segment reserved at its full size");
    {
        use std::os::unix::fs::MetadataExt;
        // fallocate reserves blocks; a sparse fallback would not.
        let reserved = meta.blocks() * 512;
        assert!(reserved >= size, "only {reserved} of {size} bytes reserved");
    }
    drop(wal);
    let (_, replay) = Wal::open(tmp.path(), options(size, true)).expect("reopen");
    assert_eq!(payloads(&replay), expected(0..5));
    assert!(replay.torn_tail.is_none());
}

#[test]
fn rollover_starts_new_segments_with_the_preamble() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let opts = options(512, true);
    let (mut wal, _) = Wal::open(tmp.path(), opts).expect("open");
    wal.set_preamble([(9u8, &b"state"[..])]);
    for i in 0..60 {
        wal.append(1, &payload(i)).expect("append");
        if i % 7 == 0 {
            wal.sync().expect("sync");
        }
    }
    wal.sync().expect("sync");
    let segments: Vec<u64> = wal.segments().collect();
    assert!(segments.len() > 3, "expected rollovers, got {segments:?}");
    assert_eq!(wal.stats().segments_created as usize, segments.len() - 1);
    drop(wal);

    let (_, replay) = Wal::open(tmp.path(), opts).expect("reopen");
    let data: Vec<Vec<u8>> = replay
        .records
        .iter()
        .filter(|r| r.kind == 1)
        .map(|r| r.payload.clone())
        .collect();
    assert_eq!(data, expected(0..60));
    for &seq in &segments[1..] {
        let first = replay
            .records
            .iter()
            .find(|r| r.segment == seq)
            .expect("segment has records");
        assert_eq!((first.kind, &first.payload[..]), (9, &b"state"[..]));
    }
    for seq in &segments {
        let len = std::fs::metadata(segment_path(tmp.path(), *seq))
            .expect("stat")
            .len();
        assert!(len >= 512, "segment {seq} not preallocated");
    }
}

#[test]
fn compaction_removes_only_older_segments() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let opts = options(400, false);
    let mut wal = write_batches(tmp.path(), opts, &[50]);
    let segments: Vec<u64> = wal.segments().collect();
    assert!(segments.len() >= 4);
    let cut = segments[2];
    assert_eq!(wal.remove_segments_before(cut).expect("compact"), 2);
    assert!(!segment_path(tmp.path(), segments[0]).exists());
    assert!(segment_path(tmp.path(), cut).exists());
    // The active segment is never removed, whatever is asked.
    let active = wal.active_segment();
    wal.remove_segments_before(u64::MAX).expect("compact");
    assert_eq!(wal.segments().collect::<Vec<_>>(), vec![active]);
    drop(wal);
    let (_, replay) = Wal::open(tmp.path(), opts).expect("reopen after compaction");
    assert!(replay.records.iter().all(|r| r.segment == active));
}

/// Crash mid-write of the final record: every prefix of it is on disk, the
/// rest is whatever was there before (preallocated zeros, or nothing).
#[test]
fn torn_final_record_at_every_byte_offset_is_cut_and_startup_continues() {
    for preallocate in [true, false] {
        let base = tempfile::tempdir().expect("tempdir");
        let opts = options(64 << 10, preallocate);
        let wal = write_batches(base.path(), opts, &[8, 1]);
        drop(wal);
        let (_, replay) = Wal::open(base.path(), opts).expect("reopen");
        let last = replay.records.last().expect("records").clone();
        let last_len = frame_len(last.payload.len()) as u64;
        let path = segment_path(base.path(), last.segment);
        let pristine = std::fs::read(&path).expect("read");

        for kept in 0..last_len {
            let case = tempfile::tempdir().expect("tempdir");
            copy_dir(base.path(), case.path());
            let case_path = segment_path(case.path(), last.segment);
            let mut damaged = pristine.clone();
            let cut = (last.offset + kept) as usize;
            if preallocate {
                damaged[cut..(last.offset + last_len) as usize].fill(0);
            } else {
                damaged.truncate(cut);
            }
            std::fs::write(&case_path, &damaged).expect("write");

            let (mut wal, replay) = Wal::open(case.path(), opts)
                .unwrap_or_else(|e| panic!("prealloc={preallocate} kept={kept}: {e}"));
            assert_eq!(
                payloads(&replay),
                expected(0..8),
                "prealloc={preallocate} kept={kept}"
            );
            if let Some(torn) = &replay.torn_tail {
                assert_eq!(torn.offset, last.offset);
                assert_eq!(torn.path, case_path);
            } else {
                // Only a prefix of zero bytes (nothing distinguishable written)
                // reads as a clean end.
                assert!(
                    damaged[last.offset as usize..cut].iter().all(|&b| b == 0),
                    "kept={kept}: torn record not reported"
                );
            }
            // The log continues after the cut, and the new record is read back.
            wal.append(1, b"after recovery").expect("append");
            wal.sync().expect("sync");
            drop(wal);
            let (_, replay) = Wal::open(case.path(), opts).expect("second reopen");
            let mut want = expected(0..8);
            want.push(b"after recovery".to_vec());
            assert_eq!(
                payloads(&replay),
                want,
                "prealloc={preallocate} kept={kept}"
            );
            assert!(replay.torn_tail.is_none());
        }
    }
}

fn expect_corrupt(result: Result<(Wal, WalReplay), Error>, path: &Path, offset: u64) {
    match result {
        Err(Error::Corrupt {
            path: p, offset: o, ..
        }) => {
            assert_eq!(p, path);
            assert_eq!(o, offset);
        }
        Err(other) => panic!("expected corruption at {offset}, got {other}"),
        Ok((_, replay)) => panic!(
            "expected corruption at {offset}, opened with {} records",
            replay.records.len()
        ),
    }
}

#[test]
fn bad_checksum_in_the_middle_stops_startup_naming_file_and_offset() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let opts = options(64 << 10, true);
    drop(write_batches(tmp.path(), opts, &[10]));
    let (_, replay) = Wal::open(tmp.path(), opts).expect("reopen");
    let victim = replay.records[4].clone();
    let path = segment_path(tmp.path(), victim.segment);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .expect("open");
    let mut byte = [0u8; 1];
    let at = victim.offset + 11;
    file.read_exact_at(&mut byte, at).expect("read");
    file.write_all_at(&[byte[0] ^ 0x40], at).expect("write");
    drop(file);
    expect_corrupt(Wal::open(tmp.path(), opts), &path, victim.offset);
}

#[test]
fn damaged_final_record_followed_by_data_is_corruption_not_a_torn_tail() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let opts = options(64 << 10, true);
    drop(write_batches(tmp.path(), opts, &[4]));
    let (_, replay) = Wal::open(tmp.path(), opts).expect("reopen");
    let last = replay.records.last().expect("records").clone();
    let path = segment_path(tmp.path(), last.segment);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .expect("open");
    // Damage the final record, and put stray bytes well after it.
    file.write_all_at(&[0xff], last.offset + 12).expect("write");
    file.write_all_at(&[0xaa; 4], 40_000).expect("write");
    drop(file);
    expect_corrupt(Wal::open(tmp.path(), opts), &path, last.offset);
}

#[test]
fn damaged_record_at_the_end_of_an_older_segment_stops_startup() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let opts = options(400, true);
    drop(write_batches(tmp.path(), opts, &[40]));
    let (_, replay) = Wal::open(tmp.path(), opts).expect("reopen");
    let last_of_first = replay
        .records
        .iter()
        .rfind(|r| r.segment == 0)
        .expect("records in segment 0")
        .clone();
    let path = segment_path(tmp.path(), 0);
    let len = frame_len(last_of_first.payload.len()) as u64;
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .expect("open");
    // Zero the second half of the record: it looks torn, but it is not in the
    // last segment, so it was synced and is now damaged.
    let half = vec![0u8; (len / 2) as usize];
    file.write_all_at(&half, last_of_first.offset + len - half.len() as u64)
        .expect("write");
    drop(file);
    expect_corrupt(Wal::open(tmp.path(), opts), &path, last_of_first.offset);
}

#[test]
fn missing_segment_stops_startup() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let opts = options(400, false);
    drop(write_batches(tmp.path(), opts, &[40]));
    std::fs::remove_file(segment_path(tmp.path(), 1)).expect("remove");
    match Wal::open(tmp.path(), opts) {
        Err(Error::MissingSegment { missing, found, .. }) => {
            assert_eq!((missing, found), (1, 2));
        }
        Err(other) => panic!("expected a missing-segment error, got {other}"),
        Ok(_) => panic!("opened a log with a hole in it"),
    }
}

#[test]
fn damaged_segment_header_stops_startup() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let opts = options(4096, true);
    drop(write_batches(tmp.path(), opts, &[3]));
    let path = segment_path(tmp.path(), 0);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .expect("open");
    file.write_all_at(&[0x00], 3).expect("write");
    drop(file);
    expect_corrupt(Wal::open(tmp.path(), opts), &path, 0);
}

#[test]
fn unfinished_segment_creation_is_discarded() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let opts = options(4096, true);
    drop(write_batches(tmp.path(), opts, &[3]));
    let stray = tmp.path().join(format!("{}.tmp", segment_file_name(1)));
    std::fs::write(&stray, b"half a header").expect("write");
    let (_, replay) = Wal::open(tmp.path(), opts).expect("reopen");
    assert_eq!(payloads(&replay), expected(0..3));
    assert!(!stray.exists());
}

#[test]
fn oversized_record_is_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (mut wal, _) = Wal::open(tmp.path(), options(4096, false)).expect("open");
    let big = vec![1u8; raft_kv::storage::frame::MAX_RECORD_LEN + 1];
    assert!(matches!(
        wal.append(1, &big),
        Err(Error::RecordTooLarge { .. })
    ));
}

/// A crash in the middle of a multi-record batch: whatever prefix of the batch
/// reached the disk, recovery keeps every record of the earlier (synced)
/// batches plus the complete records of the torn batch, and never errors.
#[test]
fn torn_multi_record_batch_keeps_synced_prefix_and_complete_records() {
    let base = tempfile::tempdir().expect("tempdir");
    let opts = options(64 << 10, true);
    drop(write_batches(base.path(), opts, &[5, 6]));
    let (_, replay) = Wal::open(base.path(), opts).expect("reopen");
    let batch_start = replay.records[5].offset as usize;
    let last = replay.records.last().expect("records");
    let batch_end = last.offset as usize + frame_len(last.payload.len());
    let path = segment_path(base.path(), 0);
    let pristine = std::fs::read(&path).expect("read");
    // Every cut point in the last batch (stride 3 keeps the test fast while
    // still landing inside every header and payload).
    for cut in (batch_start..batch_end).step_by(3) {
        let case = tempfile::tempdir().expect("tempdir");
        copy_dir(base.path(), case.path());
        let mut damaged = pristine.clone();
        damaged[cut..batch_end].fill(0);
        std::fs::write(segment_path(case.path(), 0), &damaged).expect("write");
        let (_, recovered) = Wal::open(case.path(), opts).expect("recovery must not fail");
        let complete = replay
            .records
            .iter()
            .filter(|r| r.offset as usize + frame_len(r.payload.len()) <= cut)
            .count();
        assert!(complete >= 5);
        assert_eq!(payloads(&recovered), expected(0..complete), "cut at {cut}");
    }
}

mod arbitrary_bytes {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Whatever a segment file holds, opening the log answers (records or
        /// an error) and never panics.
        #[test]
        fn opening_garbage_never_panics(body in proptest::collection::vec(any::<u8>(), 0..600), keep_header in any::<bool>()) {
            let tmp = tempfile::tempdir().expect("tempdir");
            let opts = options(4096, false);
            drop(write_batches(tmp.path(), opts, &[2]));
            let path = segment_path(tmp.path(), 0);
            let mut bytes = std::fs::read(&path).expect("read");
            if keep_header {
                bytes.truncate(20);
            } else {
                bytes.clear();
            }
            bytes.extend_from_slice(&body);
            std::fs::write(&path, &bytes).expect("write");
            let _ = Wal::open(tmp.path(), opts);
        }

        /// Damage anywhere in a synced log other than its final record is
        /// either caught (an error) or, if it only hits bytes after the last
        /// record, harmless: never a silently shorter log.
        #[test]
        fn damage_is_never_silent(seed in any::<u64>()) {
            let tmp = tempfile::tempdir().expect("tempdir");
            let opts = options(4096, true);
            drop(write_batches(tmp.path(), opts, &[6]));
            let path = segment_path(tmp.path(), 0);
            let mut bytes = std::fs::read(&path).expect("read");
            let (_, replay) = Wal::open(tmp.path(), opts).expect("open");
            let last = replay.records.last().expect("records").offset as usize;
            // Damage one byte before the final record.
            let at = 20 + (seed as usize % (last - 20));
            bytes[at] ^= 1 << (seed % 8);
            std::fs::write(&path, &bytes).expect("write");
            match Wal::open(tmp.path(), opts) {
                Err(Error::Corrupt { .. }) => {}
                Err(other) => panic!("unexpected error {other}"),
                Ok((_, replay)) => panic!("damage at {at} went unnoticed ({} records)", replay.records.len()),
            }
        }
    }
}
