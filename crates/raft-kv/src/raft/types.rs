//! The data Raft replicates and persists: log entries, hard state, membership and snapshots.
//!
//! These types are shared by the consensus core, the write-ahead log and the transport; their
//! binary form lives in [`super::codec`] and stays stable.

use std::collections::BTreeMap;

use bytes::Bytes;

/// Identifies a member of the cluster. `0` is never a valid id (it is reserved for "none").
pub type NodeId = u64;
/// A Raft term: a logical clock that increases with every election.
pub type Term = u64;
/// The position of an entry in the replicated log; the first real entry has index 1.
pub type Index = u64;

/// What an [`Entry`]'s payload means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EntryKind {
    /// Application data for the [`super::StateMachine`]; an empty payload is the no-op a new
    /// leader appends to commit entries of earlier terms.
    Normal,
    /// An encoded [`ConfChange`]: a membership change that the core applies when committed.
    ConfChange,
}

impl EntryKind {
    pub(crate) fn to_wire(self) -> u8 {
        match self {
            EntryKind::Normal => 0,
            EntryKind::ConfChange => 1,
        }
    }

    pub(crate) fn from_wire(tag: u8) -> Option<Self> {
        match tag {
            0 => Some(EntryKind::Normal),
            1 => Some(EntryKind::ConfChange),
            _ => None,
        }
    }
}

/// One record of the replicated log.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Entry {
    /// Term of the leader that created the entry.
    pub term: Term,
    /// Position in the log.
    pub index: Index,
    /// How to interpret `data`.
    pub kind: EntryKind,
    /// The payload.
    pub data: Bytes,
}

impl Entry {
    /// A normal entry carrying application data.
    pub fn normal(term: Term, index: Index, data: impl Into<Bytes>) -> Self {
        Entry {
            term,
            index,
            kind: EntryKind::Normal,
            data: data.into(),
        }
    }

    /// Approximate size in bytes, used for batching and flow control.
    pub fn size(&self) -> u64 {
        // Header fields are varints; 16 bytes is a fair upper estimate for them.
        self.data.len() as u64 + 16
    }
}

/// State that must be on stable storage before any message of the same [`super::Ready`] is
/// sent: the current term, the vote cast in it, and the highest known committed index.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct HardState {
    /// Latest term this node has seen.
    pub term: Term,
    /// Candidate this node voted for in `term`, if any.
    pub vote: Option<NodeId>,
    /// Highest log index known to be committed (persisting it is an optimisation, not a
    /// safety requirement).
    pub commit: Index,
}

/// Cluster membership: who votes and who only follows the log, and what the driver said
/// about each member when it was added.
///
/// Changes are made one server at a time (see the module documentation of [`super`]), so
/// there is never an outgoing configuration to track.
///
/// `contexts` is replicated state like the rest: it changes only through committed
/// [`ConfChange`]s (or the bootstrap configuration), and a snapshot carries it in its
/// [`SnapshotMeta`]. That is why a driver keeps member addresses there: once the log
/// entries that added a member are compacted away, the snapshot still knows where the
/// member lives.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ConfState {
    /// Members whose acknowledgements count towards quorums and who may become leader.
    pub voters: Vec<NodeId>,
    /// Members that receive the log but neither vote nor count towards quorums.
    pub learners: Vec<NodeId>,
    /// Per member, the non-empty [`ConfChange::context`] it was last added with (opaque to
    /// the core; the node driver stores the member's peer address). A change with an empty
    /// context (a promotion) keeps the member's context; removing the member drops it.
    pub contexts: BTreeMap<NodeId, Bytes>,
}

impl ConfState {
    /// A configuration of voters only.
    pub fn with_voters(voters: impl IntoIterator<Item = NodeId>) -> Self {
        let mut voters: Vec<NodeId> = voters.into_iter().collect();
        voters.sort_unstable();
        voters.dedup();
        ConfState {
            voters,
            learners: Vec::new(),
            contexts: BTreeMap::new(),
        }
    }

    /// The context a member was added with, if any (see [`ConfState::contexts`]).
    pub fn context(&self, id: NodeId) -> Option<&Bytes> {
        self.contexts.get(&id)
    }

    /// Whether `id` is a voter.
    pub fn is_voter(&self, id: NodeId) -> bool {
        self.voters.contains(&id)
    }

    /// Whether `id` is a learner.
    pub fn is_learner(&self, id: NodeId) -> bool {
        self.learners.contains(&id)
    }

    /// Whether `id` is a member at all.
    pub fn contains(&self, id: NodeId) -> bool {
        self.is_voter(id) || self.is_learner(id)
    }

    /// Every member, voters first.
    pub fn members(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.voters.iter().chain(self.learners.iter()).copied()
    }

    /// The configuration after applying `change` to this one.
    pub fn applied(&self, change: &ConfChange) -> ConfState {
        let mut next = self.clone();
        let id = change.node_id;
        next.voters.retain(|&v| v != id);
        next.learners.retain(|&v| v != id);
        match change.kind {
            ConfChangeKind::AddVoter => next.voters.push(id),
            ConfChangeKind::AddLearner => next.learners.push(id),
            ConfChangeKind::RemoveNode => {
                next.contexts.remove(&id);
            }
        }
        if change.kind != ConfChangeKind::RemoveNode && !change.context.is_empty() {
            next.contexts.insert(id, change.context.clone());
        }
        next.voters.sort_unstable();
        next.learners.sort_unstable();
        next
    }
}

/// What a [`ConfChange`] does to its node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConfChangeKind {
    /// Add the node as a voter, or promote a learner to voter.
    AddVoter,
    /// Add the node as a learner (or demote a voter to learner).
    AddLearner,
    /// Remove the node from the cluster.
    RemoveNode,
}

impl ConfChangeKind {
    pub(crate) fn to_wire(self) -> u8 {
        match self {
            ConfChangeKind::AddVoter => 0,
            ConfChangeKind::AddLearner => 1,
            ConfChangeKind::RemoveNode => 2,
        }
    }

    pub(crate) fn from_wire(tag: u8) -> Option<Self> {
        match tag {
            0 => Some(ConfChangeKind::AddVoter),
            1 => Some(ConfChangeKind::AddLearner),
            2 => Some(ConfChangeKind::RemoveNode),
            _ => None,
        }
    }
}

/// A single-server membership change, carried in an [`EntryKind::ConfChange`] entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ConfChange {
    /// What to do.
    pub kind: ConfChangeKind,
    /// To whom.
    pub node_id: NodeId,
    /// Opaque to the core; drivers use it to carry e.g. the new member's peer address.
    pub context: Bytes,
}

/// Identifies the state a snapshot captures.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct SnapshotMeta {
    /// Index of the last entry the snapshot includes.
    pub index: Index,
    /// Term of that entry.
    pub term: Term,
    /// Membership as of `index`.
    pub conf_state: ConfState,
}

/// A point-in-time image of the state machine, replacing the log up to `meta.index`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Snapshot {
    /// Where the snapshot sits in the log.
    pub meta: SnapshotMeta,
    /// The state machine's serialised state (see [`super::StateMachine::snapshot`]).
    pub data: Bytes,
}

impl Snapshot {
    /// Whether this is the empty placeholder (no snapshot taken yet).
    pub fn is_empty(&self) -> bool {
        self.meta.index == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(kind: ConfChangeKind, node_id: NodeId, context: &'static [u8]) -> ConfChange {
        ConfChange {
            kind,
            node_id,
            context: Bytes::from_static(context),
        }
    }

    #[test]
    fn contexts_follow_membership_changes() {
        let conf = ConfState::with_voters([1, 2, 3]);
        let added = conf.applied(&change(ConfChangeKind::AddLearner, 4, b"10.0.0.4:7000"));
        assert_eq!(added.learners, vec![4]);
        assert_eq!(
            added.context(4).map(|c| &c[..]),
            Some(&b"10.0.0.4:7000"[..])
        );
        // A promotion carries no context and keeps the one the member was added with.
        let promoted = added.applied(&change(ConfChangeKind::AddVoter, 4, b""));
        assert_eq!(promoted.voters, vec![1, 2, 3, 4]);
        assert_eq!(promoted.contexts, added.contexts);
        // Re-adding with a new context replaces it (a member that moved).
        let moved = promoted.applied(&change(ConfChangeKind::AddVoter, 4, b"10.0.0.5:7000"));
        assert_ne!(moved, promoted);
        assert_eq!(
            moved.context(4).map(|c| &c[..]),
            Some(&b"10.0.0.5:7000"[..])
        );
        let removed = moved.applied(&change(ConfChangeKind::RemoveNode, 4, b""));
        assert_eq!(removed, ConfState::with_voters([1, 2, 3]));
    }
}
