//! The crate's one error type.

use crate::server::ServerId;

/// Everything that can go wrong when configuring a balancer or a persistence table.
///
/// Picking never fails with an error: "nothing available" is `None`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Two servers were given the same id.
    #[error("server id {id:?} appears more than once")]
    DuplicateServer {
        /// The repeated id.
        id: ServerId,
    },
    /// A run-time change named a server the balancer does not know.
    #[error("unknown server {id:?}")]
    UnknownServer {
        /// The id that was not found.
        id: ServerId,
    },
    /// A table size must be a prime (Maglev) or otherwise fit the algorithm.
    #[error("table size {size} is invalid: {reason}")]
    InvalidTableSize {
        /// The size that was asked for.
        size: u64,
        /// Why it was refused.
        reason: &'static str,
    },
    /// The weights would make a lookup structure larger than the crate allows.
    #[error("{what} would need {needed} entries, more than the limit of {limit}")]
    TooLarge {
        /// Which structure.
        what: &'static str,
        /// Entries it would need.
        needed: u64,
        /// The limit.
        limit: u64,
    },
    /// The algorithm only accepts weight changes to 0 or back to the configured weight
    /// (HAProxy's static-rr and map-based hashing behave like this).
    #[error("server {id:?}: this algorithm is static; weight may only be 0 or {configured}")]
    StaticWeight {
        /// The server.
        id: ServerId,
        /// The weight it was configured with.
        configured: u16,
    },
    /// A parameter is out of its range (e.g. random draws of 0, a balance factor below 100).
    #[error("invalid parameter {name}: {reason}")]
    InvalidParameter {
        /// The parameter.
        name: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An algorithm name or option this crate does not know (configuration parsing).
    #[error("unknown or unsupported balancing keyword {keyword:?}")]
    UnknownKeyword {
        /// The word that was not understood.
        keyword: String,
    },
    /// A stick-table key does not have the table's key type.
    #[error("stick table expects {expected} keys, got {got}")]
    KeyTypeMismatch {
        /// The table's key type.
        expected: &'static str,
        /// The key type given.
        got: &'static str,
    },
}
