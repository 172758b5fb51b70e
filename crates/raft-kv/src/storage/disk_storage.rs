//! [`DiskStorage`]: the Raft log, hard state and snapshot of one node on disk,
//! implementing the core's [`Storage`] trait from an in-memory index that is
//! rebuilt from the files at startup.
//!
//! Layout under the data directory:
//!
//! ```text
//! wal/0000000000000000.wal ...   log segments: entry and hard-state records
//! snap/snapshot                  latest snapshot (atomic, checksummed)
//! ```
//!
//! Writes follow the driver's `Ready` cycle: [`DiskStorage::append`] and
//! [`DiskStorage::set_hard_state`] only buffer records, and one
//! [`DiskStorage::sync`] makes the whole batch durable with a single data sync.
//!
//! The log is append-only on disk. When a new leader overwrites an
//! uncommitted suffix, the replacement entries are simply appended; replay
//! applies the same rule as the core (an entry at index `i` replaces every
//! entry from `i` on), so the bytes of the overwritten entries are never
//! rewritten in place and a crash cannot leave a half-truncated file.
//! Segments whose entries a snapshot covers are deleted after that snapshot is
//! durable; every new segment starts with the current hard state, so the latest
//! one survives the deletion of older segments.

use std::collections::BTreeMap;
use std::path::Path;

use bytes::Bytes;

use super::segment::{TornTail, segment_file_name};
use super::snapshot_file::{SnapshotFile, StoredSnapshot};
use super::wal::{Wal, WalOptions, WalStats};
use crate::error::{Error, Result};
use crate::raft::{
    Codec, ConfState, Entry, HardState, Index, InitialState, Snapshot, SnapshotMeta, Storage, Term,
};

/// Record kind of a log entry (payload: the raft codec's [`Entry`]).
const RECORD_ENTRY: u8 = 1;
/// Record kind of a hard state (payload: the raft codec's [`HardState`]).
const RECORD_HARD_STATE: u8 = 2;

/// A node's durable Raft state.
#[derive(Debug)]
pub struct DiskStorage {
    wal: Wal,
    snapshots: SnapshotFile,
    hard_state: HardState,
    stored: StoredSnapshot,
    /// Entries after the snapshot: `entries[0].index == snapshot index + 1`.
    entries: Vec<Entry>,
    /// Highest entry index written to each segment, to know which segments a
    /// snapshot makes redundant.
    segment_max_index: BTreeMap<u64, Index>,
    torn_tail: Option<TornTail>,
}

impl DiskStorage {
    /// Opens the node state in `dir`, creating it with membership `bootstrap`
    /// if the directory holds none yet.
    pub fn open(dir: &Path, options: WalOptions, bootstrap: ConfState) -> Result<DiskStorage> {
        let snapshots = SnapshotFile::open(&dir.join("snap"))?;
        let wal_dir = dir.join("wal");
        let (wal, replay) = Wal::open(&wal_dir, options)?;
        let stored = match snapshots.load()? {
            Some(stored) => stored,
            None if replay.records.is_empty() => {
                // A new node: its bootstrap membership is the snapshot at index 0.
                let stored = StoredSnapshot {
                    snapshot: Snapshot {
                        meta: SnapshotMeta {
                            index: 0,
                            term: 0,
                            conf_state: bootstrap,
                        },
                        data: Bytes::new(),
                    },
                    discard_before: (0, 0),
                };
                snapshots.save(&stored)?;
                stored
            }
            None => {
                return Err(Error::Inconsistent {
                    path: snapshots.path(),
                    offset: 0,
                    reason: "the log has records but the snapshot file is missing".into(),
                });
            }
        };

        let mut store = DiskStorage {
            wal,
            snapshots,
            hard_state: HardState::default(),
            stored,
            entries: Vec::new(),
            segment_max_index: BTreeMap::new(),
            torn_tail: replay.torn_tail,
        };
        for record in replay.records {
            let path = wal_dir.join(segment_file_name(record.segment));
            match record.kind {
                RECORD_HARD_STATE => {
                    store.hard_state = HardState::decode(&record.payload)
                        .map_err(|e| e.in_file("hard state", &path, record.offset))?;
                }
                RECORD_ENTRY => {
                    let entry = Entry::decode(&record.payload)
                        .map_err(|e| e.in_file("log entry", &path, record.offset))?;
                    let max = store.segment_max_index.entry(record.segment).or_default();
                    *max = (*max).max(entry.index);
                    if (record.segment, record.offset) < store.stored.discard_before {
                        continue;
                    }
                    let snapshot_index = store.snapshot_index();
                    if entry.index <= snapshot_index {
                        // Covered by the snapshot, but writing it replaced
                        // everything after it: later entries come again
                        // further on in the log if they still exist.
                        store.entries.clear();
                        continue;
                    }
                    let last = store.last();
                    if entry.index > last + 1 {
                        return Err(Error::Inconsistent {
                            path,
                            offset: record.offset,
                            reason: format!(
                                "entry {} follows entry {last}: the log has a gap",
                                entry.index
                            ),
                        });
                    }
                    store
                        .entries
                        .truncate((entry.index - snapshot_index - 1) as usize);
                    store.entries.push(entry);
                }
                kind => {
                    return Err(Error::Inconsistent {
                        path,
                        offset: record.offset,
                        reason: format!("unknown record kind {kind}"),
                    });
                }
            }
        }
        store.hard_state.commit = store.hard_state.commit.max(store.snapshot_index());
        store.refresh_preamble();
        Ok(store)
    }

    fn snapshot_index(&self) -> Index {
        self.stored.snapshot.meta.index
    }

    fn last(&self) -> Index {
        self.snapshot_index() + self.entries.len() as u64
    }

    fn entry_at(&self, index: Index) -> Option<&Entry> {
        let offset = self.snapshot_index() + 1;
        if index < offset {
            return None;
        }
        self.entries.get((index - offset) as usize)
    }

    fn refresh_preamble(&mut self) {
        let hard_state = self.hard_state.to_bytes();
        self.wal
            .set_preamble([(RECORD_HARD_STATE, &hard_state[..])]);
    }

    /// The torn record cut off the log's tail when it was opened, if any.
    pub fn torn_tail(&self) -> Option<&TornTail> {
        self.torn_tail.as_ref()
    }

    /// The current hard state (as buffered, durable after [`DiskStorage::sync`]).
    pub fn hard_state(&self) -> HardState {
        self.hard_state
    }

    /// The latest snapshot.
    pub fn current_snapshot(&self) -> &Snapshot {
        &self.stored.snapshot
    }

    /// WAL counters (syncs, bytes, segments).
    pub fn wal_stats(&self) -> WalStats {
        self.wal.stats()
    }

    /// Segments of the WAL on disk, oldest first.
    pub fn wal_segments(&self) -> Vec<u64> {
        self.wal.segments().collect()
    }

    /// Buffers `entries` for the log, replacing any entries from the first new
    /// index on. Entries the snapshot already covers are skipped.
    pub fn append(&mut self, entries: &[Entry]) -> Result<()> {
        let snapshot_index = self.snapshot_index();
        let skip = entries
            .iter()
            .take_while(|e| e.index <= snapshot_index)
            .count();
        let entries = &entries[skip..];
        let Some(first) = entries.first() else {
            return Ok(());
        };
        if first.index > self.last() + 1 {
            return Err(Error::LogGap {
                index: first.index,
                last: self.last(),
            });
        }
        for pair in entries.windows(2) {
            if pair[1].index != pair[0].index + 1 {
                return Err(Error::LogGap {
                    index: pair[1].index,
                    last: pair[0].index,
                });
            }
        }
        for entry in entries {
            let segment = self.wal.append(RECORD_ENTRY, &entry.to_bytes())?;
            let max = self.segment_max_index.entry(segment).or_default();
            *max = (*max).max(entry.index);
        }
        self.entries
            .truncate((first.index - snapshot_index - 1) as usize);
        self.entries.extend_from_slice(entries);
        Ok(())
    }

    /// Buffers a new hard state (a no-op if it is unchanged).
    pub fn set_hard_state(&mut self, hard_state: HardState) -> Result<()> {
        if hard_state == self.hard_state {
            return Ok(());
        }
        self.wal.append(RECORD_HARD_STATE, &hard_state.to_bytes())?;
        self.hard_state = hard_state;
        self.refresh_preamble();
        Ok(())
    }

    /// Makes everything buffered durable with one data sync.
    pub fn sync(&mut self) -> Result<()> {
        self.wal.sync()
    }

    /// Installs a snapshot received from the leader; returns `false` (and does
    /// nothing) if it is not newer than the current one. Entries after the
    /// snapshot are kept only if the log agrees with the snapshot's last entry.
    /// Durable on return.
    pub fn apply_snapshot(&mut self, snapshot: Snapshot) -> Result<bool> {
        let index = snapshot.meta.index;
        if index <= self.snapshot_index() {
            return Ok(false);
        }
        let keep = self
            .entry_at(index)
            .is_some_and(|e| e.term == snapshot.meta.term);
        // Flush what is buffered so the log position below is exact.
        self.wal.sync()?;
        let discard_before = if keep {
            self.stored.discard_before
        } else {
            self.wal.position()
        };
        let stored = StoredSnapshot {
            snapshot,
            discard_before,
        };
        self.snapshots.save(&stored)?;
        if keep {
            let drop = (index - self.snapshot_index()) as usize;
            self.entries.drain(..drop);
        } else {
            self.entries.clear();
        }
        self.stored = stored;
        let mut hard_state = self.hard_state;
        hard_state.commit = hard_state.commit.max(index);
        self.set_hard_state(hard_state)?;
        self.wal.sync()?;
        self.compact_segments()?;
        Ok(true)
    }

    /// Records a snapshot of the local state machine taken at `index` (which
    /// must be in the log) and discards the entries it covers. Durable on return.
    pub fn create_snapshot(
        &mut self,
        index: Index,
        conf_state: ConfState,
        data: Bytes,
    ) -> Result<()> {
        if index <= self.snapshot_index() {
            return Ok(());
        }
        let Some(term) = self.entry_at(index).map(|e| e.term) else {
            return Err(Error::LogGap {
                index,
                last: self.last(),
            });
        };
        // Entries up to `index` must be durable before the snapshot claims them.
        self.wal.sync()?;
        let stored = StoredSnapshot {
            snapshot: Snapshot {
                meta: SnapshotMeta {
                    index,
                    term,
                    conf_state,
                },
                data,
            },
            discard_before: self.stored.discard_before,
        };
        self.snapshots.save(&stored)?;
        let drop = (index - self.snapshot_index()) as usize;
        self.entries.drain(..drop);
        self.stored = stored;
        self.compact_segments()
    }

    /// Deletes the oldest segments whose entries the snapshot covers.
    fn compact_segments(&mut self) -> Result<()> {
        let snapshot_index = self.snapshot_index();
        let active = self.wal.active_segment();
        let mut first_kept = active;
        for seq in self.wal.segments() {
            let max = self.segment_max_index.get(&seq).copied().unwrap_or(0);
            if seq == active || max > snapshot_index {
                first_kept = seq;
                break;
            }
        }
        self.wal.remove_segments_before(first_kept)?;
        self.segment_max_index.retain(|&seq, _| seq >= first_kept);
        Ok(())
    }
}

impl Storage for DiskStorage {
    fn initial_state(&self) -> Result<InitialState> {
        Ok(InitialState {
            hard_state: self.hard_state,
            conf_state: self.stored.snapshot.meta.conf_state.clone(),
        })
    }

    fn entries(&self, low: Index, high: Index, max_bytes: u64) -> Result<Vec<Entry>> {
        let offset = self.snapshot_index() + 1;
        if low < offset {
            return Err(Error::Compacted { index: low });
        }
        if high > self.last() + 1 {
            return Err(Error::Unavailable { index: high - 1 });
        }
        if low >= high {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        let mut size = 0;
        for e in &self.entries[(low - offset) as usize..(high - offset) as usize] {
            size += e.size();
            if !out.is_empty() && size > max_bytes {
                break;
            }
            out.push(e.clone());
        }
        Ok(out)
    }

    fn term(&self, index: Index) -> Result<Term> {
        let snapshot_index = self.snapshot_index();
        if index == snapshot_index {
            return Ok(self.stored.snapshot.meta.term);
        }
        if index < snapshot_index {
            return Err(Error::Compacted { index });
        }
        self.entry_at(index)
            .map(|e| e.term)
            .ok_or(Error::Unavailable { index })
    }

    fn first_index(&self) -> Result<Index> {
        Ok(self.snapshot_index() + 1)
    }

    fn last_index(&self) -> Result<Index> {
        Ok(self.last())
    }

    fn snapshot(&self) -> Result<Snapshot> {
        Ok(self.stored.snapshot.clone())
    }
}
