//! Raft consensus with durable storage: the base of hakit's etcd replacement.
//!
//! - [`raft`]: the I/O-free consensus core (`tick`, `step`, `propose`, `ready`, `advance`).
//! - [`storage`]: the write-ahead log, hard state and snapshot files.
//! - [`transport`]: the TCP peer transport.

pub mod raft;
pub mod storage;
pub mod transport;
