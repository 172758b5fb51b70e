//! The core's view of the log: what storage holds plus entries and a snapshot that the
//! driver has not persisted yet ("unstable"), and the commit and apply positions.

use super::storage::Storage;
use super::types::{Entry, Index, Snapshot, Term};
use crate::error::{Error, Result};

/// Entries and a snapshot not yet handed to storage.
#[derive(Debug, Default)]
struct Unstable {
    /// A snapshot received from the leader, waiting to be persisted.
    snapshot: Option<Snapshot>,
    /// Entries from `offset` on.
    entries: Vec<Entry>,
    /// Index of `entries[0]` (or where the next entry would go).
    offset: Index,
}

impl Unstable {
    fn last_index(&self) -> Option<Index> {
        if let Some(e) = self.entries.last() {
            return Some(e.index);
        }
        self.snapshot.as_ref().map(|s| s.meta.index)
    }

    fn term(&self, index: Index) -> Option<Term> {
        if index < self.offset {
            return self
                .snapshot
                .as_ref()
                .filter(|s| s.meta.index == index)
                .map(|s| s.meta.term);
        }
        self.entries
            .get((index - self.offset) as usize)
            .map(|e| e.term)
    }

    fn truncate_and_append(&mut self, entries: &[Entry]) {
        let Some(first) = entries.first() else {
            return;
        };
        let after = first.index;
        if after == self.offset + self.entries.len() as u64 {
            self.entries.extend_from_slice(entries);
        } else if after <= self.offset {
            // Replaces everything unstable, and the stored suffix from `after` on: the
            // driver's append overwrites it.
            self.offset = after;
            self.entries.clear();
            self.entries.extend_from_slice(entries);
        } else {
            self.entries.truncate((after - self.offset) as usize);
            self.entries.extend_from_slice(entries);
        }
    }
}

/// The log as the algorithm sees it.
#[derive(Debug)]
pub(crate) struct RaftLog<S> {
    pub(crate) storage: S,
    unstable: Unstable,
    /// Highest index known to be committed.
    pub(crate) committed: Index,
    /// Highest index the driver has applied (reported through `advance`).
    pub(crate) applied: Index,
}

impl<S: Storage> RaftLog<S> {
    pub(crate) fn new(storage: S, committed: Index, applied: Index) -> Result<Self> {
        let last = storage.last_index()?;
        let first = storage.first_index()?;
        Ok(RaftLog {
            storage,
            unstable: Unstable {
                snapshot: None,
                entries: Vec::new(),
                offset: last + 1,
            },
            committed: committed.max(first - 1),
            applied: applied.max(first - 1),
        })
    }

    pub(crate) fn first_index(&self) -> Index {
        if let Some(s) = &self.unstable.snapshot {
            return s.meta.index + 1;
        }
        self.storage.first_index().unwrap_or(1)
    }

    pub(crate) fn last_index(&self) -> Index {
        match self.unstable.last_index() {
            Some(i) => i,
            None => self.storage.last_index().unwrap_or(0),
        }
    }

    pub(crate) fn term(&self, index: Index) -> Result<Term> {
        let dummy = self.first_index() - 1;
        if index < dummy {
            return Err(Error::Compacted { index });
        }
        if index > self.last_index() {
            return Err(Error::Unavailable { index });
        }
        if let Some(t) = self.unstable.term(index) {
            return Ok(t);
        }
        self.storage.term(index)
    }

    pub(crate) fn last_term(&self) -> Term {
        self.term(self.last_index()).unwrap_or(0)
    }

    pub(crate) fn match_term(&self, index: Index, term: Term) -> bool {
        self.term(index).ok() == Some(term)
    }

    /// Whether a candidate whose log ends at (`index`, `term`) is at least as up to date as
    /// this log (Raft §5.4.1).
    pub(crate) fn is_up_to_date(&self, index: Index, term: Term) -> bool {
        let last_term = self.last_term();
        term > last_term || (term == last_term && index >= self.last_index())
    }

    /// Appends entries after the last one; returns the new last index.
    pub(crate) fn append(&mut self, entries: &[Entry]) -> Index {
        self.unstable.truncate_and_append(entries);
        self.last_index()
    }

    /// The follower side of AppendEntries: if the log has (`prev_index`, `prev_term`),
    /// appends what is new in `entries` (truncating a conflicting suffix) and returns the
    /// index of the last entry the leader sent.
    pub(crate) fn maybe_append(
        &mut self,
        prev_index: Index,
        prev_term: Term,
        entries: &[Entry],
    ) -> Option<Index> {
        if !self.match_term(prev_index, prev_term) {
            return None;
        }
        let last_new = prev_index + entries.len() as u64;
        let conflict = entries
            .iter()
            .position(|e| !self.match_term(e.index, e.term));
        if let Some(pos) = conflict {
            // A conflict at or below the commit index would mean two different committed
            // entries: the leader completeness property rules it out, and the simulation
            // checks that it holds. Never overwrite committed entries.
            let first_conflict = entries[pos].index;
            if first_conflict > self.committed {
                self.append(&entries[pos..]);
            }
        }
        Some(last_new)
    }

    /// Largest index `<= index` whose term is `<= term`: the point where a log that has
    /// `term` at `index` can no longer conflict with this one.
    pub(crate) fn find_conflict_by_term(&self, index: Index, term: Term) -> (Index, Term) {
        let mut i = index.min(self.last_index());
        loop {
            match self.term(i) {
                Ok(t) if t > term && i > 0 => i -= 1,
                Ok(t) => return (i, t),
                Err(_) => return (i, 0),
            }
        }
    }

    pub(crate) fn commit_to(&mut self, index: Index) -> bool {
        let index = index.min(self.last_index());
        if index > self.committed {
            self.committed = index;
            true
        } else {
            false
        }
    }

    /// Entries in `[low, last]`, at most about `max_bytes` (always at least one).
    pub(crate) fn entries(&self, low: Index, max_bytes: u64) -> Result<Vec<Entry>> {
        self.slice(low, self.last_index() + 1, max_bytes)
    }

    /// Entries in `[low, high)`, at most about `max_bytes` (always at least one).
    pub(crate) fn slice(&self, low: Index, high: Index, max_bytes: u64) -> Result<Vec<Entry>> {
        if low >= high {
            return Ok(Vec::new());
        }
        if low < self.first_index() {
            return Err(Error::Compacted { index: low });
        }
        if high > self.last_index() + 1 {
            return Err(Error::Unavailable { index: high - 1 });
        }
        let mut out = Vec::new();
        let offset = self.unstable.offset;
        if low < offset {
            let stored_high = high.min(offset);
            out = self.storage.entries(low, stored_high, max_bytes)?;
            if (out.len() as u64) < stored_high - low {
                return Ok(out);
            }
        }
        if high > offset {
            let mut size: u64 = out.iter().map(Entry::size).sum();
            let from = low.max(offset);
            for e in &self.unstable.entries[(from - offset) as usize..(high - offset) as usize] {
                size += e.size();
                if !out.is_empty() && size > max_bytes {
                    break;
                }
                out.push(e.clone());
            }
        }
        Ok(out)
    }

    pub(crate) fn has_next_committed(&self) -> bool {
        self.unstable.snapshot.is_none() && self.committed > self.applied
    }

    pub(crate) fn next_committed(&self, max_bytes: u64) -> Vec<Entry> {
        if !self.has_next_committed() {
            return Vec::new();
        }
        let low = (self.applied + 1).max(self.first_index());
        self.slice(low, self.committed + 1, max_bytes)
            .unwrap_or_default()
    }

    pub(crate) fn unstable_entries(&self) -> &[Entry] {
        &self.unstable.entries
    }

    pub(crate) fn unstable_snapshot(&self) -> Option<&Snapshot> {
        self.unstable.snapshot.as_ref()
    }

    /// The driver persisted entries up to (`index`, `term`).
    pub(crate) fn stable_to(&mut self, index: Index, term: Term) {
        if self.unstable.term(index) != Some(term) || index < self.unstable.offset {
            return;
        }
        let n = (index + 1 - self.unstable.offset) as usize;
        self.unstable
            .entries
            .drain(..n.min(self.unstable.entries.len()));
        self.unstable.offset = index + 1;
    }

    /// The driver persisted the snapshot at `index`.
    pub(crate) fn stable_snapshot_to(&mut self, index: Index) {
        if self
            .unstable
            .snapshot
            .as_ref()
            .is_some_and(|s| s.meta.index == index)
        {
            self.unstable.snapshot = None;
        }
    }

    pub(crate) fn applied_to(&mut self, index: Index) {
        if index > self.applied {
            self.applied = index.min(self.committed);
        }
    }

    /// Replaces the log with a snapshot received from the leader.
    pub(crate) fn restore(&mut self, snapshot: Snapshot) {
        let index = snapshot.meta.index;
        self.committed = index;
        self.unstable.offset = index + 1;
        self.unstable.entries.clear();
        self.unstable.snapshot = Some(snapshot);
    }

    /// The latest snapshot to send: the unstable one if any, else storage's.
    pub(crate) fn snapshot(&self) -> Result<Snapshot> {
        if let Some(s) = &self.unstable.snapshot {
            return Ok(s.clone());
        }
        self.storage.snapshot()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft::storage::MemStorage;
    use crate::raft::types::ConfState;

    fn entry(index: Index, term: Term) -> Entry {
        Entry::normal(term, index, Vec::new())
    }

    fn log_with(stable: &[(Index, Term)]) -> RaftLog<MemStorage> {
        let mut s = MemStorage::new(ConfState::with_voters([1]));
        let ents: Vec<Entry> = stable.iter().map(|&(i, t)| entry(i, t)).collect();
        s.append(&ents).unwrap();
        RaftLog::new(s, 0, 0).unwrap()
    }

    #[test]
    fn conflicting_suffix_is_replaced_across_stable_and_unstable() {
        let mut log = log_with(&[(1, 1), (2, 1), (3, 1)]);
        log.append(&[entry(4, 2), entry(5, 2)]);
        assert_eq!(log.last_index(), 5);
        // The leader of term 3 disagrees from index 3 on.
        let last = log.maybe_append(2, 1, &[entry(3, 3), entry(4, 3)]);
        assert_eq!(last, Some(4));
        assert_eq!(log.last_index(), 4);
        assert_eq!(log.term(3).ok(), Some(3));
        assert_eq!(log.term(2).ok(), Some(1));
        assert_eq!(log.unstable_entries().len(), 2);
        // A mismatching previous entry is refused.
        assert_eq!(log.maybe_append(4, 2, &[entry(5, 3)]), None);
    }

    #[test]
    fn committed_entries_are_never_overwritten() {
        let mut log = log_with(&[(1, 1), (2, 1)]);
        log.commit_to(2);
        log.maybe_append(1, 1, &[entry(2, 9)]);
        assert_eq!(log.term(2).ok(), Some(1));
    }

    #[test]
    fn conflict_search_skips_a_whole_term() {
        let log = log_with(&[(1, 1), (2, 2), (3, 2), (4, 2), (5, 2)]);
        assert_eq!(log.find_conflict_by_term(5, 1), (1, 1));
        assert_eq!(log.find_conflict_by_term(5, 3), (5, 2));
    }

    #[test]
    fn stable_to_drops_persisted_unstable_entries() {
        let mut log = log_with(&[]);
        log.append(&[entry(1, 1), entry(2, 1)]);
        log.stable_to(1, 1);
        assert_eq!(log.unstable_entries().len(), 1);
        // A stale acknowledgement (wrong term) changes nothing.
        log.stable_to(2, 7);
        assert_eq!(log.unstable_entries().len(), 1);
    }
}
