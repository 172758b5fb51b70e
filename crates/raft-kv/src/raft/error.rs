//! Errors of the consensus core and of [`super::Storage`] implementations.

use super::codec::DecodeError;
use super::types::{Index, NodeId};

/// Everything that can go wrong in the Raft layer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The requested log index was discarded by compaction; send a snapshot instead.
    #[error("log index {index} has been compacted")]
    Compacted {
        /// The index asked for.
        index: Index,
    },
    /// The requested log index is past the end of the log.
    #[error("log index {index} is not available")]
    Unavailable {
        /// The index asked for.
        index: Index,
    },
    /// A snapshot older than what storage already holds was offered.
    #[error("snapshot at index {index} is older than the current state")]
    SnapshotOutOfDate {
        /// Index of the rejected snapshot.
        index: Index,
    },
    /// Storage cannot produce a snapshot right now (the core retries later).
    #[error("snapshot temporarily unavailable")]
    SnapshotTemporarilyUnavailable,
    /// A storage implementation failed (disk error); the message comes from it.
    #[error("storage failure: {message}")]
    Storage {
        /// What failed.
        message: String,
    },
    /// A proposal was not accepted because this node is not the leader.
    #[error("not the leader (leader hint: {leader:?})")]
    NotLeader {
        /// The leader, if known, so the caller can redirect.
        leader: Option<NodeId>,
    },
    /// A proposal was refused because leadership is being transferred.
    #[error("leadership transfer in progress")]
    TransferInProgress,
    /// A membership change was refused because another one is still uncommitted, or the
    /// leader has not yet committed an entry of its own term.
    #[error("a membership change is already pending")]
    ConfChangePending,
    /// A membership change that makes no sense (e.g. removing the last voter).
    #[error("invalid membership change: {reason}")]
    InvalidConfChange {
        /// Why.
        reason: &'static str,
    },
    /// The configuration is unusable.
    #[error("invalid configuration: {reason}")]
    InvalidConfig {
        /// Why.
        reason: &'static str,
    },
    /// A stored or received record did not decode.
    #[error("decode error: {0}")]
    Decode(#[from] DecodeError),
}

/// Result alias for the Raft layer.
pub type Result<T> = std::result::Result<T, Error>;
