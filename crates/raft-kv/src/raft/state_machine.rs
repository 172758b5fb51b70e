//! The replicated service: what users implement to put their own state behind Raft.

use bytes::Bytes;

use super::types::{Index, Snapshot};
use crate::error::Result;

/// A deterministic state machine fed with committed entries.
///
/// Every replica applies the same entries in the same order, so `apply` must depend only on
/// the current state and the command (no clock, no randomness, no I/O that can fail
/// differently on different replicas).
pub trait StateMachine {
    /// What applying a command answers to the client that proposed it.
    type Response;

    /// Applies the command committed at `index`. Empty entries (leader no-ops) and
    /// membership changes are not passed here.
    fn apply(&mut self, index: Index, command: &[u8]) -> Self::Response;

    /// Serialises the whole state, as of the last applied index, for a snapshot.
    fn snapshot(&self) -> Bytes;

    /// Replaces the whole state with a snapshot's. Bad snapshot data is an error.
    fn restore(&mut self, snapshot: &Snapshot) -> Result<()>;
}
