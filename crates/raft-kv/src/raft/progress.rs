//! What the leader knows about each follower's log, and how fast it may send to it.
//!
//! States and transitions (as in etcd's raft):
//!
//! ```text
//!            reject / heartbeat silence            snapshot needed
//!   Replicate ----------------------------> Probe --------------> Snapshot
//!       ^                                    |                       |
//!       +----------- append accepted --------+<---- installed -------+
//! ```
//!
//! - **Probe**: one append in flight at a time until the follower's match index is found.
//! - **Replicate**: appends are pipelined, `next` advances optimistically, bounded by
//!   [`Inflights`] (messages and bytes), so a slow follower cannot make the leader buffer
//!   without limit.
//! - **Snapshot**: the follower is behind the compacted log; chunks are sent one at a time.

use std::collections::VecDeque;

use bytes::Bytes;

use super::types::{Index, SnapshotMeta};

/// Bounded window of appends sent but not yet acknowledged.
#[derive(Debug, Clone)]
pub(crate) struct Inflights {
    /// (last index of the message, bytes in it), oldest first.
    window: VecDeque<(Index, u64)>,
    bytes: u64,
    max_count: usize,
    max_bytes: u64,
}

impl Inflights {
    pub(crate) fn new(max_count: usize, max_bytes: u64) -> Self {
        Inflights {
            window: VecDeque::new(),
            bytes: 0,
            max_count: max_count.max(1),
            max_bytes,
        }
    }

    pub(crate) fn full(&self) -> bool {
        self.window.len() >= self.max_count || (self.max_bytes > 0 && self.bytes >= self.max_bytes)
    }

    pub(crate) fn add(&mut self, last: Index, bytes: u64) {
        self.window.push_back((last, bytes));
        self.bytes += bytes;
    }

    /// Frees every message whose last index is `<= index`.
    pub(crate) fn free_to(&mut self, index: Index) {
        while let Some(&(last, bytes)) = self.window.front() {
            if last > index {
                break;
            }
            self.bytes -= bytes;
            self.window.pop_front();
        }
    }

    /// Frees the oldest message: used when the follower answers a heartbeat while the
    /// window is full, since appends in it may have been lost and nothing else would ever
    /// free it.
    pub(crate) fn free_first(&mut self) {
        if let Some((_, bytes)) = self.window.pop_front() {
            self.bytes -= bytes;
        }
    }

    pub(crate) fn reset(&mut self) {
        self.window.clear();
        self.bytes = 0;
    }
}

/// Replication mode of one follower.
#[derive(Debug, Clone)]
pub(crate) enum ProgressState {
    Probe,
    Replicate,
    Snapshot(SnapshotTransfer),
}

/// A snapshot being streamed to a follower.
#[derive(Debug, Clone)]
pub(crate) struct SnapshotTransfer {
    pub(crate) meta: SnapshotMeta,
    pub(crate) data: Bytes,
    /// Offset of the next chunk to send (everything before it was acknowledged).
    pub(crate) offset: u64,
}

/// The leader's view of one peer.
#[derive(Debug, Clone)]
pub(crate) struct Progress {
    /// Highest index known to be replicated on the peer.
    pub(crate) matched: Index,
    /// Next index to send.
    pub(crate) next: Index,
    pub(crate) state: ProgressState,
    /// In probe state: an append is outstanding, wait for an answer or a heartbeat.
    pub(crate) probe_sent: bool,
    pub(crate) inflights: Inflights,
    /// Heard from since the last check-quorum round.
    pub(crate) recent_active: bool,
    /// Highest read-index sequence the peer acknowledged in this term.
    pub(crate) read_ack: u64,
}

impl Progress {
    pub(crate) fn new(next: Index, max_inflight: usize, max_inflight_bytes: u64) -> Self {
        Progress {
            matched: 0,
            next,
            state: ProgressState::Probe,
            probe_sent: false,
            inflights: Inflights::new(max_inflight, max_inflight_bytes),
            recent_active: true,
            read_ack: 0,
        }
    }

    pub(crate) fn become_probe(&mut self) {
        if let ProgressState::Snapshot(t) = &self.state {
            let pending = t.meta.index;
            self.next = (self.matched + 1).max(pending + 1);
        } else {
            self.next = self.matched + 1;
        }
        self.state = ProgressState::Probe;
        self.probe_sent = false;
        self.inflights.reset();
    }

    pub(crate) fn become_replicate(&mut self) {
        self.state = ProgressState::Replicate;
        self.next = self.matched + 1;
        self.probe_sent = false;
        self.inflights.reset();
    }

    pub(crate) fn become_snapshot(&mut self, meta: SnapshotMeta, data: Bytes) {
        self.state = ProgressState::Snapshot(SnapshotTransfer {
            meta,
            data,
            offset: 0,
        });
        self.probe_sent = false;
        self.inflights.reset();
    }

    /// Whether the leader should hold further appends back.
    pub(crate) fn is_paused(&self) -> bool {
        match self.state {
            ProgressState::Probe => self.probe_sent,
            ProgressState::Replicate => self.inflights.full(),
            ProgressState::Snapshot(_) => true,
        }
    }

    /// An append was accepted up to `index`; returns whether it taught us anything new.
    pub(crate) fn maybe_update(&mut self, index: Index) -> bool {
        let updated = index > self.matched;
        if updated {
            self.matched = index;
            self.probe_sent = false;
        }
        self.next = self.next.max(index + 1);
        updated
    }

    /// An append at `rejected` was refused; moves `next` back. Returns false for a stale
    /// rejection (one that predates what we already know).
    pub(crate) fn maybe_decr_to(&mut self, rejected: Index, hint: Index) -> bool {
        if matches!(self.state, ProgressState::Replicate) {
            if rejected <= self.matched {
                return false;
            }
            self.next = self.matched + 1;
            return true;
        }
        if self.next == 0 || self.next - 1 != rejected {
            return false;
        }
        self.next = (hint + 1).min(rejected).max(self.matched + 1).max(1);
        self.probe_sent = false;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inflights_bound_messages_and_bytes() {
        let mut f = Inflights::new(3, 100);
        f.add(5, 40);
        f.add(9, 40);
        assert!(!f.full());
        f.add(12, 40);
        assert!(f.full(), "three messages");
        f.free_to(9);
        assert!(!f.full());
        f.add(20, 90);
        assert!(f.full(), "130 bytes in flight");
        f.free_to(100);
        assert!(!f.full());
    }

    #[test]
    fn probe_sends_one_at_a_time_and_rejections_move_next_back() {
        let mut p = Progress::new(11, 4, 0);
        assert!(!p.is_paused());
        p.probe_sent = true;
        assert!(p.is_paused());
        // A stale rejection (not for next - 1) is ignored.
        assert!(!p.maybe_decr_to(5, 2));
        assert!(p.maybe_decr_to(10, 6));
        assert_eq!(p.next, 7);
        assert!(!p.is_paused());
        assert!(p.maybe_update(7));
        p.become_replicate();
        assert_eq!(p.next, 8);
        // In replicate state a rejection above match falls back to match + 1.
        p.next = 15;
        assert!(p.maybe_decr_to(14, 3));
        assert_eq!(p.next, 8);
    }
}
