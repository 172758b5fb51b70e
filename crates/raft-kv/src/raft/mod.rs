//! The I/O-free Raft consensus core.
//!
//! Shared types ([`types`]), messages ([`message`]) and their binary codec ([`codec`]) are
//! used by the write-ahead log and the transport as well.

pub mod codec;
pub mod config;
mod consensus;
pub mod error;
pub mod kv;
pub mod message;
mod progress;
mod raft_log;
pub mod raw_node;
pub mod state_machine;
pub mod storage;
pub mod types;

pub use codec::{Codec, DecodeError};
pub use config::{Config, ReadMode};
pub use consensus::{ReadState, Role};
pub use error::{Error, Result};
pub use kv::{KvCommand, KvOp, KvResponse, KvStateMachine};
pub use message::{Message, MessageBody};
pub use raw_node::{RawNode, Ready};
pub use state_machine::StateMachine;
pub use storage::{InitialState, MemStorage, Storage};
pub use types::{
    ConfChange, ConfChangeKind, ConfState, Entry, EntryKind, HardState, Index, NodeId, Snapshot,
    SnapshotMeta, Term,
};
