//! Raft consensus with durable storage: the base of hakit's etcd replacement.
//!
//! - [`raft`]: the I/O-free consensus core (`tick`, `step`, `propose`, `ready`, `advance`).
//! - [`storage`]: the write-ahead log, hard state and snapshot files.
//! - [`transport`]: the TCP peer transport.
//! - [`sim`]: the deterministic simulation that checks the core (safety, linearizability).
//! - [`node`]: the driver that runs the core with real disk, network and time.

pub mod node;
pub mod raft;
pub mod sim;
pub mod storage;
pub mod transport;
