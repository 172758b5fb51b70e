//! How the core reads the durable log, and an in-memory implementation.
//!
//! The core never writes storage: it hands entries, hard state and snapshots to the driver in
//! a [`super::Ready`], the driver persists them and then calls [`super::RawNode::advance`].
//! Reads go through this trait, so a WAL-backed store only has to index what it wrote.

use std::collections::BTreeMap;

use bytes::Bytes;

use super::codec::Codec;
use super::types::{
    ConfChange, ConfChangeKind, ConfState, Entry, EntryKind, HardState, Index, NodeId, Snapshot,
    SnapshotMeta, Term,
};
use crate::error::{Error, Result};

/// What a node restarts from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InitialState {
    /// The last persisted hard state.
    pub hard_state: HardState,
    /// Membership as of the latest snapshot (or the bootstrap membership if there is none).
    /// The core replays `ConfChange` entries after the snapshot up to `hard_state.commit`.
    pub conf_state: ConfState,
}

/// The log a new cluster starts from, recorded the way etcd records its initial cluster:
/// one [`ConfChangeKind::AddVoter`] entry per bootstrap member, in id order, at indices
/// `1..=n` and term 1, each with the member's context (the node driver puts the peer
/// address there), and a hard state that marks them committed.
///
/// Every member of the initial cluster writes exactly these entries to an empty log whose
/// membership is empty ([`ConfState::default`]), so the entries are the same everywhere and
/// committing them without a vote is safe (no leader exists in term 1; the first election
/// is in term 2). The bootstrap membership, addresses included, is then ordinary replicated
/// state: a node that joins later starts with an empty log and an empty membership and
/// learns it from the leader's log or snapshot, and every snapshot carries it.
///
/// A repeated id keeps its first context.
pub fn bootstrap_log(
    members: impl IntoIterator<Item = (NodeId, Bytes)>,
) -> (Vec<Entry>, HardState) {
    let mut by_id: BTreeMap<NodeId, Bytes> = BTreeMap::new();
    for (id, context) in members {
        by_id.entry(id).or_insert(context);
    }
    let entries: Vec<Entry> = by_id
        .into_iter()
        .zip(1..)
        .map(|((node_id, context), index)| Entry {
            term: 1,
            index,
            kind: EntryKind::ConfChange,
            data: ConfChange {
                kind: ConfChangeKind::AddVoter,
                node_id,
                context,
            }
            .to_bytes(),
        })
        .collect();
    let hard_state = HardState {
        term: 1,
        vote: None,
        commit: entries.len() as Index,
    };
    (entries, hard_state)
}

/// Read access to the persisted log.
///
/// Indices: the log holds entries `first_index() ..= last_index()`; the entry just before
/// them (`first_index() - 1`) is the latest snapshot's, whose term [`Storage::term`] must
/// still answer. An empty log has `last_index() == first_index() - 1`.
pub trait Storage {
    /// Hard state and membership to start from.
    fn initial_state(&self) -> Result<InitialState>;
    /// Entries in `[low, high)`, stopping early once their total [`Entry::size`] exceeds
    /// `max_bytes` (always at least one entry if any is in range).
    fn entries(&self, low: Index, high: Index, max_bytes: u64) -> Result<Vec<Entry>>;
    /// Term of the entry at `index`, for `first_index() - 1 ..= last_index()`.
    fn term(&self, index: Index) -> Result<Term>;
    /// Index of the first entry still in the log.
    fn first_index(&self) -> Result<Index>;
    /// Index of the last entry in the log.
    fn last_index(&self) -> Result<Index>;
    /// The latest snapshot, to send to a follower that is too far behind.
    fn snapshot(&self) -> Result<Snapshot>;
}

/// A [`Storage`] kept entirely in memory: for tests, the simulation and benchmarks.
#[derive(Debug, Clone, Default)]
pub struct MemStorage {
    hard_state: HardState,
    snapshot: Snapshot,
    /// Entries after the snapshot, `entries[0].index == snapshot.meta.index + 1`.
    entries: Vec<Entry>,
}

impl MemStorage {
    /// An empty log whose bootstrap membership is `conf_state`.
    pub fn new(conf_state: ConfState) -> Self {
        MemStorage {
            hard_state: HardState::default(),
            snapshot: Snapshot {
                meta: SnapshotMeta {
                    index: 0,
                    term: 0,
                    conf_state,
                },
                data: Bytes::new(),
            },
            entries: Vec::new(),
        }
    }

    /// The stored hard state.
    pub fn hard_state(&self) -> HardState {
        self.hard_state
    }

    /// Records a new hard state.
    pub fn set_hard_state(&mut self, hs: HardState) {
        self.hard_state = hs;
    }

    /// Appends entries, replacing any existing entries from the first new index on (a new
    /// leader may overwrite an uncommitted suffix).
    pub fn append(&mut self, entries: &[Entry]) -> Result<()> {
        let Some(first) = entries.first() else {
            return Ok(());
        };
        let offset = self.snapshot.meta.index + 1;
        if first.index < offset {
            // Entries already covered by the snapshot are skipped.
            let skip = (offset - first.index) as usize;
            if skip >= entries.len() {
                return Ok(());
            }
            return self.append(&entries[skip..]);
        }
        let pos = (first.index - offset) as usize;
        if pos > self.entries.len() {
            return Err(Error::Unavailable { index: first.index });
        }
        self.entries.truncate(pos);
        self.entries.extend_from_slice(entries);
        Ok(())
    }

    /// Replaces the whole log with a snapshot received from the leader.
    pub fn apply_snapshot(&mut self, snapshot: Snapshot) -> Result<()> {
        if snapshot.meta.index <= self.snapshot.meta.index && !self.snapshot.is_empty() {
            return Err(Error::SnapshotOutOfDate {
                index: snapshot.meta.index,
            });
        }
        let idx = snapshot.meta.index;
        // Keep entries after the snapshot only if they agree with it.
        let keep = self
            .entry_at(idx)
            .is_some_and(|e| e.term == snapshot.meta.term);
        if keep {
            let offset = self.snapshot.meta.index + 1;
            self.entries.drain(..(idx + 1 - offset) as usize);
        } else {
            self.entries.clear();
        }
        self.hard_state.commit = self.hard_state.commit.max(idx);
        self.snapshot = snapshot;
        Ok(())
    }

    /// Records a snapshot taken locally at `index` (which must be applied, so known to be
    /// in the log) and discards the entries it covers.
    pub fn create_snapshot(
        &mut self,
        index: Index,
        conf_state: ConfState,
        data: Bytes,
    ) -> Result<()> {
        if index <= self.snapshot.meta.index {
            return Err(Error::SnapshotOutOfDate { index });
        }
        let term = self.term(index)?;
        self.compact(index)?;
        self.snapshot = Snapshot {
            meta: SnapshotMeta {
                index,
                term,
                conf_state,
            },
            data,
        };
        Ok(())
    }

    /// Discards entries up to and including `index`, which a snapshot must cover.
    fn compact(&mut self, index: Index) -> Result<()> {
        let offset = self.snapshot.meta.index + 1;
        if index < offset {
            return Ok(());
        }
        let n = ((index + 1 - offset) as usize).min(self.entries.len());
        self.entries.drain(..n);
        Ok(())
    }

    /// Keeps only entries up to `last` (models losing an unsynced tail after a crash).
    pub fn truncate_after(&mut self, last: Index) {
        let offset = self.snapshot.meta.index + 1;
        let keep = last.saturating_sub(offset - 1) as usize;
        self.entries.truncate(keep);
    }

    fn entry_at(&self, index: Index) -> Option<&Entry> {
        let offset = self.snapshot.meta.index + 1;
        if index < offset {
            return None;
        }
        self.entries.get((index - offset) as usize)
    }

    /// All entries after the snapshot.
    pub fn all_entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The current snapshot (empty if none was taken).
    pub fn current_snapshot(&self) -> &Snapshot {
        &self.snapshot
    }
}

impl Storage for MemStorage {
    fn initial_state(&self) -> Result<InitialState> {
        Ok(InitialState {
            hard_state: self.hard_state,
            conf_state: self.snapshot.meta.conf_state.clone(),
        })
    }

    fn entries(&self, low: Index, high: Index, max_bytes: u64) -> Result<Vec<Entry>> {
        let offset = self.snapshot.meta.index + 1;
        if low < offset {
            return Err(Error::Compacted { index: low });
        }
        let last = self.snapshot.meta.index + self.entries.len() as u64;
        if high > last + 1 {
            return Err(Error::Unavailable { index: high - 1 });
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
        if index == self.snapshot.meta.index {
            return Ok(self.snapshot.meta.term);
        }
        if index < self.snapshot.meta.index {
            return Err(Error::Compacted { index });
        }
        self.entry_at(index)
            .map(|e| e.term)
            .ok_or(Error::Unavailable { index })
    }

    fn first_index(&self) -> Result<Index> {
        Ok(self.snapshot.meta.index + 1)
    }

    fn last_index(&self) -> Result<Index> {
        Ok(self.snapshot.meta.index + self.entries.len() as u64)
    }

    fn snapshot(&self) -> Result<Snapshot> {
        Ok(self.snapshot.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ents(range: std::ops::RangeInclusive<u64>, term: u64) -> Vec<Entry> {
        range
            .map(|i| Entry::normal(term, i, vec![i as u8]))
            .collect()
    }

    #[test]
    fn append_overwrites_conflicting_suffix() {
        let mut s = MemStorage::new(ConfState::with_voters([1]));
        s.append(&ents(1..=5, 1)).unwrap();
        s.append(&ents(4..=6, 2)).unwrap();
        assert_eq!(s.last_index().unwrap(), 6);
        assert_eq!(s.term(3).unwrap(), 1);
        assert_eq!(s.term(4).unwrap(), 2);
        assert!(s.append(&ents(9..=9, 2)).is_err(), "a gap is refused");
    }

    #[test]
    fn snapshot_compacts_and_keeps_term() {
        let mut s = MemStorage::new(ConfState::with_voters([1]));
        s.append(&ents(1..=5, 1)).unwrap();
        s.create_snapshot(3, ConfState::with_voters([1]), Bytes::from_static(b"x"))
            .unwrap();
        assert_eq!(s.first_index().unwrap(), 4);
        assert_eq!(s.term(3).unwrap(), 1);
        assert!(matches!(
            s.entries(2, 4, u64::MAX),
            Err(Error::Compacted { index: 2 })
        ));
        assert_eq!(s.entries(4, 6, u64::MAX).unwrap().len(), 2);
        assert_eq!(s.entries(4, 6, 1).unwrap().len(), 1, "max_bytes limits");
    }
}
