//! `DiskStorage`: the core's `Storage` trait on the WAL and snapshot file,
//! checked across reopen, overwrite, snapshots, compaction and torn tails.

use bytes::Bytes;
use raft_kv::Error;
use raft_kv::raft::{ConfState, Entry, HardState, MemStorage, Snapshot, SnapshotMeta, Storage};
use raft_kv::storage::{DiskStorage, WalOptions};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn opts(segment_size: u64) -> WalOptions {
    WalOptions {
        segment_size,
        preallocate: true,
    }
}

fn voters() -> ConfState {
    ConfState::with_voters([1, 2, 3])
}

fn ents(range: std::ops::RangeInclusive<u64>, term: u64) -> Vec<Entry> {
    range
        .map(|i| Entry::normal(term, i, format!("entry {i} of term {term}").into_bytes()))
        .collect()
}

fn all_entries(s: &impl Storage) -> Vec<Entry> {
    let first = s.first_index().expect("first");
    let last = s.last_index().expect("last");
    s.entries(first, last + 1, u64::MAX).expect("entries")
}

#[test]
fn entries_and_hard_state_survive_reopen() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let hs = HardState {
        term: 3,
        vote: Some(2),
        commit: 7,
    };
    {
        let mut s = DiskStorage::open(tmp.path(), opts(1 << 20), voters()).expect("open");
        s.append(&ents(1..=10, 3)).expect("append");
        s.set_hard_state(hs).expect("hs");
        s.sync().expect("sync");
        assert_eq!(
            s.wal_stats().syncs,
            1,
            "one sync for entries and hard state"
        );
    }
    let s =
        DiskStorage::open(tmp.path(), opts(1 << 20), ConfState::with_voters([9])).expect("reopen");
    let init = s.initial_state().expect("initial state");
    assert_eq!(init.hard_state, hs);
    assert_eq!(
        init.conf_state,
        voters(),
        "bootstrap membership is kept, not replaced"
    );
    assert_eq!(all_entries(&s), ents(1..=10, 3));
    assert_eq!(s.term(0).expect("term 0"), 0);
}

#[test]
fn overwritten_suffix_stays_overwritten_after_reopen() {
    let tmp = tempfile::tempdir().expect("tempdir");
    {
        let mut s = DiskStorage::open(tmp.path(), opts(1 << 20), voters()).expect("open");
        s.append(&ents(1..=10, 1)).expect("append");
        s.sync().expect("sync");
        s.append(&ents(6..=8, 2)).expect("overwrite");
        s.sync().expect("sync");
        assert_eq!(s.last_index().expect("last"), 8);
    }
    let s = DiskStorage::open(tmp.path(), opts(1 << 20), voters()).expect("reopen");
    let mut want = ents(1..=5, 1);
    want.extend(ents(6..=8, 2));
    assert_eq!(all_entries(&s), want);
}

#[test]
fn empty_and_out_of_range_reads_answer_without_panicking() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut s = DiskStorage::open(tmp.path(), opts(1 << 20), voters()).expect("open");
    s.append(&ents(1..=5, 1)).expect("append");
    assert_eq!(s.entries(3, 3, u64::MAX).expect("empty range"), vec![]);
    assert_eq!(s.entries(5, 2, u64::MAX).expect("reversed range"), vec![]);
    assert!(s.entries(4, 8, u64::MAX).is_err(), "past the end");
    assert!(s.term(9).is_err());
    s.create_snapshot(3, voters(), Bytes::new())
        .expect("snapshot");
    assert!(s.entries(2, 4, u64::MAX).is_err(), "compacted");
    assert!(s.term(2).is_err());
    assert_eq!(
        s.entries(4, 6, 1).expect("limited").len(),
        1,
        "max_bytes keeps one"
    );
}

#[test]
fn gaps_are_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut s = DiskStorage::open(tmp.path(), opts(1 << 20), voters()).expect("open");
    s.append(&ents(1..=3, 1)).expect("append");
    assert!(matches!(
        s.append(&ents(5..=6, 1)),
        Err(Error::LogGap { index: 5, last: 3 })
    ));
    let mut holey = ents(4..=4, 1);
    holey.extend(ents(6..=6, 1));
    assert!(matches!(s.append(&holey), Err(Error::LogGap { .. })));
}

#[test]
fn snapshot_compacts_segments_and_keeps_latest_hard_state() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let hs = HardState {
        term: 1,
        vote: Some(1),
        commit: 200,
    };
    {
        let mut s = DiskStorage::open(tmp.path(), opts(1024), voters()).expect("open");
        s.set_hard_state(hs).expect("hs");
        for chunk in 0..20u64 {
            s.append(&ents(chunk * 10 + 1..=chunk * 10 + 10, 1))
                .expect("append");
            s.sync().expect("sync");
        }
        let before = s.wal_segments();
        assert!(before.len() > 5, "expected several segments: {before:?}");
        s.create_snapshot(150, voters(), Bytes::from_static(b"state at 150"))
            .expect("snapshot");
        let after = s.wal_segments();
        assert!(
            after.len() < before.len() && after[0] > before[0],
            "old segments not removed: {before:?} -> {after:?}"
        );
        assert_eq!(s.first_index().expect("first"), 151);
    }
    let s = DiskStorage::open(tmp.path(), opts(1024), voters()).expect("reopen");
    assert_eq!(s.initial_state().expect("init").hard_state, hs);
    assert_eq!(s.first_index().expect("first"), 151);
    assert_eq!(s.term(150).expect("snapshot term"), 1);
    assert_eq!(all_entries(&s), ents(151..=200, 1));
    let snap = s.snapshot().expect("snapshot");
    assert_eq!(snap.meta.index, 150);
    assert_eq!(&snap.data[..], b"state at 150");
}

fn leader_snapshot(index: u64, term: u64) -> Snapshot {
    Snapshot {
        meta: SnapshotMeta {
            index,
            term,
            conf_state: voters(),
        },
        data: Bytes::from(format!("leader state at {index}")),
    }
}

#[test]
fn installed_snapshot_discards_a_disagreeing_log_for_good() {
    let tmp = tempfile::tempdir().expect("tempdir");
    {
        let mut s = DiskStorage::open(tmp.path(), opts(1 << 20), voters()).expect("open");
        s.append(&ents(1..=30, 1)).expect("append");
        s.sync().expect("sync");
        // The leader's entry 20 has term 2: our 20..30 are not in its log.
        assert!(s.apply_snapshot(leader_snapshot(20, 2)).expect("install"));
        assert_eq!(s.last_index().expect("last"), 20);
        assert!(
            !s.apply_snapshot(leader_snapshot(10, 1)).expect("stale"),
            "an older snapshot is ignored"
        );
    }
    {
        let mut s = DiskStorage::open(tmp.path(), opts(1 << 20), voters()).expect("reopen");
        assert_eq!(s.first_index().expect("first"), 21);
        assert_eq!(s.last_index().expect("last"), 20, "old suffix came back");
        assert!(s.hard_state().commit >= 20);
        s.append(&ents(21..=25, 2)).expect("append after install");
        s.sync().expect("sync");
        // A later local snapshot must not resurrect the discarded entries either.
        s.create_snapshot(22, voters(), Bytes::new())
            .expect("local snapshot");
    }
    let s = DiskStorage::open(tmp.path(), opts(1 << 20), voters()).expect("reopen");
    assert_eq!(all_entries(&s), ents(23..=25, 2));
}

#[test]
fn installed_snapshot_keeps_an_agreeing_suffix() {
    let tmp = tempfile::tempdir().expect("tempdir");
    {
        let mut s = DiskStorage::open(tmp.path(), opts(1 << 20), voters()).expect("open");
        s.append(&ents(1..=30, 1)).expect("append");
        s.sync().expect("sync");
        assert!(s.apply_snapshot(leader_snapshot(20, 1)).expect("install"));
    }
    let s = DiskStorage::open(tmp.path(), opts(1 << 20), voters()).expect("reopen");
    assert_eq!(all_entries(&s), ents(21..=30, 1));
}

#[test]
fn unsynced_batch_torn_by_a_crash_is_lost_and_only_it() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let seg_path;
    {
        let mut s = DiskStorage::open(tmp.path(), opts(1 << 20), voters()).expect("open");
        s.append(&ents(1..=5, 1)).expect("append");
        s.sync().expect("sync");
        s.append(&ents(6..=6, 1)).expect("append");
        s.sync().expect("sync");
        seg_path = tmp
            .path()
            .join("wal")
            .join(raft_kv::storage::segment::segment_file_name(0));
    }
    // Tear the last record: zero its final bytes, as a crash mid-write would.
    let mut bytes = std::fs::read(&seg_path).expect("read");
    let end = bytes.iter().rposition(|&b| b != 0).expect("data") + 1;
    bytes[end - 4..end].fill(0);
    std::fs::write(&seg_path, &bytes).expect("write");
    let s = DiskStorage::open(tmp.path(), opts(1 << 20), voters()).expect("reopen");
    assert!(s.torn_tail().is_some());
    assert_eq!(all_entries(&s), ents(1..=5, 1));
}

/// Random appends, overwrites, hard states, snapshots and reopens, checked
/// against the core's in-memory `MemStorage` as the model.
#[test]
fn random_operations_match_the_in_memory_model() {
    let seeds: u64 = std::env::var("HAKIT_STORAGE_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    for seed in 0..seeds {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        // This test checks the logic, not the disk: on tmpfs its thousands
        // of fsyncs are free, which keeps it fast on a busy machine.
        let tmp = if std::path::Path::new("/dev/shm").is_dir() {
            tempfile::tempdir_in("/dev/shm").expect("tempdir")
        } else {
            tempfile::tempdir().expect("tempdir")
        };
        let mut model = MemStorage::new(voters());
        let mut disk = DiskStorage::open(tmp.path(), opts(2048), voters()).expect("open");
        let mut term = 1;
        let mut applied = 0;
        for step in 0..300 {
            match rng.random_range(0..10) {
                0..=5 => {
                    let last = model.last_index().expect("last");
                    let first = model.first_index().expect("first");
                    // Sometimes overwrite an uncommitted suffix with a newer term.
                    let start = if rng.random_bool(0.2) && last >= first.max(applied + 1) {
                        term += 1;
                        rng.random_range(first.max(applied + 1)..=last)
                    } else {
                        last + 1
                    };
                    let n = rng.random_range(1..6);
                    let batch = ents(start..=start + n - 1, term);
                    model.append(&batch).expect("model append");
                    disk.append(&batch).expect("disk append");
                    let hs = HardState {
                        term,
                        vote: Some(1),
                        commit: applied,
                    };
                    model.set_hard_state(hs);
                    disk.set_hard_state(hs).expect("hs");
                    disk.sync().expect("sync");
                }
                6 => {
                    let last = model.last_index().expect("last");
                    if last > applied {
                        // Only committed entries are applied, and commit is
                        // recorded before a snapshot can cover them.
                        applied = rng.random_range(applied + 1..=last);
                        let hs = HardState {
                            term,
                            vote: Some(1),
                            commit: applied,
                        };
                        model.set_hard_state(hs);
                        disk.set_hard_state(hs).expect("hs");
                        disk.sync().expect("sync");
                    }
                }
                7 if applied >= model.first_index().expect("first") => {
                    let data = Bytes::from(format!("sm at {applied}"));
                    model
                        .create_snapshot(applied, voters(), data.clone())
                        .expect("model snapshot");
                    disk.create_snapshot(applied, voters(), data)
                        .expect("disk snapshot");
                }
                8 => {
                    // A snapshot from a leader, agreeing with our log or not.
                    let first = model.first_index().expect("first");
                    let last = model.last_index().expect("last");
                    let index = rng.random_range(first..=last + 3);
                    let agree = rng.random_bool(0.5) && index <= last;
                    let snap_term = if agree {
                        model.term(index).expect("term")
                    } else {
                        term += 1;
                        term
                    };
                    let snapshot = Snapshot {
                        meta: SnapshotMeta {
                            index,
                            term: snap_term,
                            conf_state: voters(),
                        },
                        data: Bytes::from(format!("leader sm at {index}")),
                    };
                    model
                        .apply_snapshot(snapshot.clone())
                        .expect("model install");
                    assert!(disk.apply_snapshot(snapshot).expect("disk install"));
                    applied = index;
                    let hs = HardState {
                        term,
                        vote: Some(1),
                        commit: model.hard_state().commit,
                    };
                    model.set_hard_state(hs);
                    disk.set_hard_state(hs).expect("hs");
                    disk.sync().expect("sync");
                }
                _ => {
                    drop(disk);
                    disk = DiskStorage::open(tmp.path(), opts(2048), voters())
                        .unwrap_or_else(|e| panic!("seed {seed} step {step}: reopen: {e}"));
                }
            }
            assert_eq!(
                disk.first_index().expect("first"),
                model.first_index().expect("first"),
                "seed {seed} step {step}"
            );
            assert_eq!(
                all_entries(&disk),
                all_entries(&model),
                "seed {seed} step {step}"
            );
            assert_eq!(
                disk.hard_state(),
                model.hard_state(),
                "seed {seed} step {step}"
            );
            let snap_index = model.first_index().expect("first") - 1;
            assert_eq!(
                disk.term(snap_index).expect("term"),
                model.term(snap_index).expect("term"),
                "seed {seed} step {step}"
            );
        }
    }
}

#[test]
fn damaged_or_missing_snapshot_file_stops_startup() {
    let tmp = tempfile::tempdir().expect("tempdir");
    {
        let mut s = DiskStorage::open(tmp.path(), opts(1 << 20), voters()).expect("open");
        s.append(&ents(1..=10, 1)).expect("append");
        s.sync().expect("sync");
        s.create_snapshot(5, voters(), Bytes::from_static(b"five"))
            .expect("snapshot");
    }
    let snap = tmp.path().join("snap").join("snapshot");
    let mut bytes = std::fs::read(&snap).expect("read");
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    std::fs::write(&snap, &bytes).expect("write");
    match DiskStorage::open(tmp.path(), opts(1 << 20), voters()) {
        Err(Error::Corrupt { path, .. }) => assert_eq!(path, snap),
        other => panic!("damaged snapshot not reported: {other:?}"),
    }
    // Without the snapshot file the log cannot be interpreted either.
    std::fs::remove_file(&snap).expect("remove");
    assert!(matches!(
        DiskStorage::open(tmp.path(), opts(1 << 20), voters()),
        Err(Error::Inconsistent { .. })
    ));
}
