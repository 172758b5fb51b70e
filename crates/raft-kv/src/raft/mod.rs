//! The I/O-free Raft consensus core.
//!
//! Shared types ([`types`]), messages ([`message`]) and their binary codec ([`codec`]) are
//! used by the write-ahead log and the transport as well.

pub mod codec;
pub mod error;
pub mod message;
pub mod state_machine;
pub mod storage;
pub mod types;

pub use codec::{Codec, DecodeError};
pub use error::{Error, Result};
pub use message::{Message, MessageBody};
pub use state_machine::StateMachine;
pub use storage::{InitialState, MemStorage, Storage};
pub use types::{
    ConfChange, ConfChangeKind, ConfState, Entry, EntryKind, HardState, Index, NodeId, Snapshot,
    SnapshotMeta, Term,
};
