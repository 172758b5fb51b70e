//! Messages Raft peers exchange. Every message carries the sender's term, so a receiver can
//! step down on a newer term before looking at the body.

use bytes::Bytes;

use super::types::{Entry, Index, NodeId, SnapshotMeta, Term};

/// One message between two peers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Sender.
    pub from: NodeId,
    /// Receiver.
    pub to: NodeId,
    /// Sender's term; for a pre-vote request, the term the sender would campaign in.
    pub term: Term,
    /// What the message says.
    pub body: MessageBody,
}

/// The kinds of [`Message`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MessageBody {
    /// Would you vote for me if I campaigned in `term`? Changes no state on the receiver.
    PreVote {
        /// Index of the candidate's last log entry.
        last_index: Index,
        /// Term of the candidate's last log entry.
        last_term: Term,
    },
    /// Answer to [`MessageBody::PreVote`].
    PreVoteResponse {
        /// `true` if the vote is refused.
        reject: bool,
    },
    /// Request for a vote in `term`.
    Vote {
        /// Index of the candidate's last log entry.
        last_index: Index,
        /// Term of the candidate's last log entry.
        last_term: Term,
        /// Set when the election follows a leadership transfer, so voters ignore their
        /// leader lease (the old leader asked for this election).
        transfer: bool,
    },
    /// Answer to [`MessageBody::Vote`].
    VoteResponse {
        /// `true` if the vote is refused.
        reject: bool,
    },
    /// Entries for the follower to append after `prev_index`, plus the leader's commit index.
    Append {
        /// Index of the entry just before `entries`.
        prev_index: Index,
        /// Term of that entry.
        prev_term: Term,
        /// The entries, consecutive from `prev_index + 1` (may be empty).
        entries: Vec<Entry>,
        /// Leader's commit index.
        commit: Index,
    },
    /// Answer to [`MessageBody::Append`].
    AppendResponse {
        /// `true` if `prev_index`/`prev_term` did not match the follower's log.
        reject: bool,
        /// On success the follower's new match index; on reject the rejected `prev_index`.
        index: Index,
        /// On reject, the highest index at or below `index` whose term is at most the
        /// rejected `prev_term`: where the leader should probe next.
        reject_hint: Index,
        /// On reject, the follower's term at `reject_hint`, so the leader can skip a whole
        /// divergent term in one round trip.
        reject_hint_term: Term,
    },
    /// Leader liveness and commit propagation; `read_seq` confirms leadership for reads.
    Heartbeat {
        /// Leader's commit index, capped at what the follower is known to have.
        commit: Index,
        /// Highest read-index request sequence the leader wants confirmed.
        read_seq: u64,
    },
    /// Answer to [`MessageBody::Heartbeat`].
    HeartbeatResponse {
        /// The `read_seq` being answered.
        read_seq: u64,
    },
    /// One chunk of a snapshot; the follower installs it when `done` is set.
    InstallSnapshot {
        /// The snapshot being sent.
        meta: SnapshotMeta,
        /// Byte offset of `data` in the snapshot's data.
        offset: u64,
        /// The chunk.
        data: Bytes,
        /// Whether this is the last chunk.
        done: bool,
    },
    /// Answer to [`MessageBody::InstallSnapshot`].
    InstallSnapshotResponse {
        /// Index of the snapshot being acknowledged.
        index: Index,
        /// Next byte offset the follower expects (the full length once installed).
        next_offset: u64,
        /// `true` if the follower cannot use the chunk (the leader should restart at
        /// `next_offset`).
        reject: bool,
        /// Whether the snapshot has been installed.
        done: bool,
    },
    /// Start an election now: sent by a leader handing leadership to the receiver.
    TimeoutNow,
    /// A follower asks the leader for a read index on behalf of a local read request.
    ReadIndex {
        /// The follower's request identifier, echoed back.
        context: Bytes,
    },
    /// The leader's answer to [`MessageBody::ReadIndex`].
    ReadIndexResponse {
        /// The request identifier.
        context: Bytes,
        /// The index the follower must apply up to before serving the read.
        index: Index,
    },
}
