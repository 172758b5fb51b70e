//! The driver-facing API: feed ticks, messages and proposals in; take a [`Ready`] out,
//! persist and send what it says, then [`RawNode::advance`].

use bytes::Bytes;

use super::codec::Codec;
use super::config::Config;
use super::consensus::{Raft, ReadState, Role};
use super::message::Message;
use super::storage::Storage;
use super::types::{
    ConfChange, ConfState, Entry, EntryKind, HardState, Index, NodeId, Snapshot, Term,
};
use crate::error::Result;

/// Everything the driver must do after feeding the core, in this order:
///
/// 1. persist `snapshot` (if any), `entries` and `hard_state`, with an fsync if `must_sync`;
/// 2. send `messages` (only after step 1: they may promise what was just persisted);
/// 3. restore the state machine from `snapshot` (if any), then apply `committed_entries`;
/// 4. serve `read_states` once the state machine has applied their index;
/// 5. call [`RawNode::advance`] with this `Ready`.
#[derive(Debug, Default)]
#[must_use = "a Ready must be handled and passed back to advance()"]
pub struct Ready {
    /// New hard state to persist, if it changed.
    pub hard_state: Option<HardState>,
    /// Entries to append to the log (they may overwrite a suffix).
    pub entries: Vec<Entry>,
    /// A snapshot from the leader to persist and restore.
    pub snapshot: Option<Snapshot>,
    /// Entries to apply to the state machine, in order.
    pub committed_entries: Vec<Entry>,
    /// Messages to send.
    pub messages: Vec<Message>,
    /// Reads confirmed linearizable.
    pub read_states: Vec<ReadState>,
    /// Whether the writes must reach stable storage before `messages` are sent (term, vote
    /// or log changed). A commit-index-only change need not be synced.
    pub must_sync: bool,
}

/// The consensus core with the `Ready`/`advance` driver protocol.
#[derive(Debug)]
pub struct RawNode<S: Storage> {
    raft: Raft<S>,
    prev_hard_state: HardState,
    /// What the last `ready()` handed out, confirmed by `advance`.
    pending: Option<Handed>,
    /// Membership as of the applied index (see [`RawNode::applied_conf_state`]).
    applied_conf: ConfState,
}

#[derive(Debug)]
struct Handed {
    last_entry: Option<(Index, Term)>,
    snapshot_index: Option<Index>,
    last_committed: Option<Index>,
    hard_state: HardState,
    /// Membership after the handed snapshot and committed entries, if they change it.
    applied_conf: Option<ConfState>,
}

impl<S: Storage> RawNode<S> {
    /// Starts a node from what `storage` holds (an empty storage with a bootstrap membership
    /// for a new cluster).
    pub fn new(config: Config, storage: S) -> Result<Self> {
        let raft = Raft::new(config, storage)?;
        let prev_hard_state = raft_hard_state(&raft);
        // The storage's membership is the one at its snapshot; the changes between the
        // snapshot and what the state machine already applied come from the log.
        let mut applied_conf = raft.log.storage.initial_state()?.conf_state;
        let (first, applied) = (raft.log.first_index(), raft.log.applied);
        for entry in raft
            .log
            .slice(first, applied + 1, u64::MAX)
            .unwrap_or_default()
        {
            applied_conf = conf_after(applied_conf, &entry);
        }
        Ok(RawNode {
            raft,
            prev_hard_state,
            pending: None,
            applied_conf,
        })
    }

    /// Advances the logical clock by one tick (the driver calls this at a fixed interval).
    pub fn tick(&mut self) {
        self.raft.tick();
    }

    /// Feeds a message received from a peer.
    pub fn step(&mut self, message: Message) -> Result<()> {
        self.raft.step(message)
    }

    /// Proposes a command; returns the index it will have if committed. Only the leader
    /// accepts proposals (the error names the leader to redirect to).
    pub fn propose(&mut self, data: impl Into<Bytes>) -> Result<Index> {
        self.raft.propose(EntryKind::Normal, data.into())
    }

    /// Proposes a single-server membership change.
    pub fn propose_conf_change(&mut self, change: &ConfChange) -> Result<Index> {
        self.raft.propose_conf_change(change)
    }

    /// Asks for a linearizable read; a [`ReadState`] with `context` appears in a later
    /// `Ready` once leadership is confirmed. On a follower the request goes to the leader.
    pub fn read_index(&mut self, context: impl Into<Bytes>) -> Result<()> {
        self.raft.read_index(context.into())
    }

    /// Hands leadership to `to` (which must be a voter): it is brought up to date, then told
    /// to campaign at once. Proposals are refused meanwhile.
    pub fn transfer_leader(&mut self, to: NodeId) -> Result<()> {
        self.raft.transfer_leader(to)
    }

    /// Starts an election now (ignores the election timer).
    pub fn campaign(&mut self) {
        self.raft.force_campaign();
    }

    /// Whether `ready()` would return anything.
    pub fn has_ready(&self) -> bool {
        let r = &self.raft;
        r.need_broadcast
            || r.need_heartbeat
            || !r.msgs.is_empty()
            || !r.read_states.is_empty()
            || !r.log.unstable_entries().is_empty()
            || r.log.unstable_snapshot().is_some()
            || r.log.has_next_committed()
            || raft_hard_state(r) != self.prev_hard_state
    }

    /// Collects what the driver must do; pass it back to [`RawNode::advance`] when done.
    pub fn ready(&mut self) -> Ready {
        self.raft.flush();
        let r = &mut self.raft;
        let entries = r.log.unstable_entries().to_vec();
        let snapshot = r.log.unstable_snapshot().cloned();
        let committed_entries = r.log.next_committed(r.max_committed_size());
        let hs = raft_hard_state(r);
        let hard_state = (hs != self.prev_hard_state).then_some(hs);
        let mut applied_conf = snapshot.as_ref().map(|s| s.meta.conf_state.clone());
        for entry in committed_entries
            .iter()
            .filter(|e| e.kind == EntryKind::ConfChange)
        {
            let base = applied_conf.unwrap_or_else(|| self.applied_conf.clone());
            applied_conf = Some(conf_after(base, entry));
        }
        let must_sync = !entries.is_empty()
            || snapshot.is_some()
            || hs.term != self.prev_hard_state.term
            || hs.vote != self.prev_hard_state.vote;
        self.pending = Some(Handed {
            last_entry: entries.last().map(|e| (e.index, e.term)),
            snapshot_index: snapshot.as_ref().map(|s| s.meta.index),
            last_committed: committed_entries.last().map(|e| e.index),
            hard_state: hs,
            applied_conf,
        });
        Ready {
            hard_state,
            entries,
            snapshot,
            committed_entries,
            messages: std::mem::take(&mut r.msgs),
            read_states: std::mem::take(&mut r.read_states),
            must_sync,
        }
    }

    /// Confirms that the last `Ready` was persisted, sent and applied.
    pub fn advance(&mut self, ready: Ready) {
        drop(ready);
        let Some(h) = self.pending.take() else {
            return;
        };
        let log = &mut self.raft.log;
        if let Some(index) = h.snapshot_index {
            log.stable_snapshot_to(index);
            log.applied_to(index);
        }
        if let Some((index, term)) = h.last_entry {
            log.stable_to(index, term);
        }
        if let Some(index) = h.last_committed {
            log.applied_to(index);
        }
        self.prev_hard_state = h.hard_state;
        if let Some(conf) = h.applied_conf {
            self.applied_conf = conf;
        }
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.raft.id
    }

    /// Current role.
    pub fn role(&self) -> Role {
        self.raft.role
    }

    /// Current term.
    pub fn term(&self) -> Term {
        self.raft.term
    }

    /// The leader this node believes in, if any.
    pub fn leader(&self) -> Option<NodeId> {
        self.raft.leader
    }

    /// Highest committed index known here.
    pub fn committed(&self) -> Index {
        self.raft.log.committed
    }

    /// Highest index the driver has applied.
    pub fn applied(&self) -> Index {
        self.raft.log.applied
    }

    /// Index of the first entry still in the log (earlier ones are in the snapshot).
    pub fn first_index(&self) -> Index {
        self.raft.log.first_index()
    }

    /// Index of the last log entry.
    pub fn last_index(&self) -> Index {
        self.raft.log.last_index()
    }

    /// Term of the entry at `index`, if it is in the log.
    pub fn term_at(&self, index: Index) -> Option<Term> {
        self.raft.log.term(index).ok()
    }

    /// Membership as of the commit index: the one the core counts votes and
    /// acknowledgements in (a change takes effect when its entry commits).
    ///
    /// Not the one to put in a snapshot: the commit index can be ahead of the applied
    /// index (a capped [`Config::max_committed_size_per_ready`], or a driver that applies
    /// asynchronously), and a snapshot at the applied index must carry the membership in
    /// effect there. Use [`RawNode::applied_conf_state`] for that.
    pub fn conf_state(&self) -> &ConfState {
        &self.raft.conf
    }

    /// Membership as of [`RawNode::applied`]: the bootstrap or snapshot membership with
    /// every conf change the driver was handed (and confirmed with [`RawNode::advance`])
    /// applied. This is what a snapshot taken at the applied index carries in its
    /// [`super::SnapshotMeta::conf_state`].
    pub fn applied_conf_state(&self) -> &ConfState {
        &self.applied_conf
    }

    /// The leader's view of how far `id` has replicated (None if not leader).
    pub fn matched(&self, id: NodeId) -> Option<Index> {
        self.raft.progress_matched(id)
    }

    /// The storage the core reads from.
    pub fn storage(&self) -> &S {
        &self.raft.log.storage
    }

    /// Mutable access for the driver to persist `Ready` contents and take snapshots.
    pub fn storage_mut(&mut self) -> &mut S {
        &mut self.raft.log.storage
    }
}

/// `conf` after `entry`, if it is a conf change (an undecodable one changes nothing, as in
/// the core).
fn conf_after(conf: ConfState, entry: &Entry) -> ConfState {
    if entry.kind != EntryKind::ConfChange {
        return conf;
    }
    match ConfChange::decode(&entry.data) {
        Ok(change) => conf.applied(&change),
        Err(_) => conf,
    }
}

fn raft_hard_state<S: Storage>(r: &Raft<S>) -> HardState {
    HardState {
        term: r.term,
        vote: r.vote,
        commit: r.log.committed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft::{ConfChangeKind, MemStorage};

    /// Drains one `Ready` the way a driver does; returns whether there was one.
    fn drain_one(node: &mut RawNode<MemStorage>) -> bool {
        if !node.has_ready() {
            return false;
        }
        let ready = node.ready();
        let storage = node.storage_mut();
        storage.append(&ready.entries).expect("append");
        if let Some(hs) = ready.hard_state {
            storage.set_hard_state(hs);
        }
        node.advance(ready);
        true
    }

    #[test]
    fn applied_conf_state_follows_the_applied_index_not_the_commit_index() {
        let mut config = Config::new(1);
        // One committed entry per Ready: the applied index trails the commit index.
        config.max_committed_size_per_ready = 1;
        let mut node =
            RawNode::new(config, MemStorage::new(ConfState::with_voters([1]))).expect("node");
        for _ in 0..30 {
            node.tick();
        }
        while drain_one(&mut node) {}
        assert_eq!(node.role(), Role::Leader);
        node.propose(&b"a"[..]).expect("propose");
        node.propose(&b"b"[..]).expect("propose");
        while node.committed() < node.last_index() {
            assert!(drain_one(&mut node));
        }
        let change = ConfChange {
            kind: ConfChangeKind::AddLearner,
            node_id: 2,
            context: Bytes::from_static(b"10.0.0.2:7000"),
        };
        let before = node.conf_state().clone();
        let at = node.propose_conf_change(&change).expect("conf change");
        let after = before.applied(&change);
        let mut lagged = false;
        while drain_one(&mut node) {
            let expected = if node.applied() >= at {
                &after
            } else {
                &before
            };
            assert_eq!(
                node.applied_conf_state(),
                expected,
                "applied {}",
                node.applied()
            );
            lagged |= node.applied() < at && node.conf_state() == &after;
        }
        assert!(
            lagged,
            "the commit index never ran ahead of a conf change's apply"
        );
        assert_eq!(node.applied(), at);
        assert_eq!(node.applied_conf_state(), &after);

        // A restart with the state machine at an earlier index rebuilds the same view.
        let storage = node.storage().clone();
        let mut config = Config::new(1);
        config.applied = at - 1;
        let restarted = RawNode::new(config, storage.clone()).expect("restart");
        assert_eq!(restarted.conf_state(), &after);
        assert_eq!(restarted.applied_conf_state(), &before);
        let mut config = Config::new(1);
        config.applied = at;
        let restarted = RawNode::new(config, storage).expect("restart");
        assert_eq!(restarted.applied_conf_state(), &after);
    }
}
