//! Errors of the node driver.

use crate::raft::NodeId;
use crate::storage::StorageError;

/// Why a request to a node failed, or why the node stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    /// Only the leader takes proposals; retry at `leader` if known.
    #[error("not the leader (leader: {leader:?})")]
    NotLeader {
        /// The leader this node knows of.
        leader: Option<NodeId>,
    },
    /// The proposal's log slot was taken by another leader's entry: it was not
    /// applied and may be retried.
    #[error("proposal dropped by a change of leader")]
    Dropped,
    /// The node has stopped (shut down or failed).
    #[error("node stopped")]
    Stopped,
    /// The consensus core refused the request.
    #[error("raft: {0}")]
    Raft(#[from] crate::raft::Error),
    /// Durable storage failed; the node stops, since it can no longer keep its
    /// promises.
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    /// The peer listener or another socket failed.
    #[error("network: {0}")]
    Io(#[from] std::io::Error),
}
