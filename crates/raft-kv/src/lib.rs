//! Raft consensus with durable storage: the base of hakit's etcd replacement.
//!
//! - [`raft`]: the I/O-free consensus core (`tick`, `step`, `propose`, `ready`, `advance`).
//! - [`storage`]: the write-ahead log, hard state and snapshot files.
//! - [`transport`]: the TCP peer transport.
//! - [`sim`]: the deterministic simulation that checks the core (safety, linearizability).
//! - [`node`]: the driver that runs the core with real disk, network and time.
//! - [`Error`]: the one error type of every layer; decoders keep "the input ended
//!   early" ([`Error::Incomplete`]) apart from "the input is invalid"
//!   ([`Error::Malformed`]).
//!
//! # The driver loop
//!
//! [`node::start_node`] runs one task per node: on every timer tick, peer
//! message or client request it feeds the core, then takes the core's
//! `Ready`, appends its entries and hard state to the WAL and syncs once,
//! sends its messages (only after the sync), applies its committed entries to
//! the [`raft::StateMachine`] and answers the proposers, serves reads whose
//! ReadIndex is applied, and calls `advance`. Work that arrives during a sync
//! joins the next `Ready`, so under load many proposals share one fsync.
//!
//! ```
//! use std::time::Duration;
//! use raft_kv::node::{KvMachine, NodeConfig, encode_put, start_node};
//!
//! # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let peers = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let members = vec![(1, peers.local_addr()?)];
//! let mut config = NodeConfig::new(1, members, dir.path().to_path_buf());
//! config.tick = Duration::from_millis(10);
//! let node = start_node(config, peers, KvMachine::default()).await?;
//! node.handle.wait_for(Duration::from_secs(10), |s| s.leader == Some(1)).await;
//! let (index, _) = node.handle.propose(encode_put(b"k", b"v")).await?;
//! let value = node.handle.read(|kv| kv.get(b"k").cloned()).await?;
//! assert_eq!((index > 0, value.as_deref()), (true, Some(&b"v"[..])));
//! # Ok(())
//! # }
//! ```

mod error;
pub mod node;
pub mod raft;
pub mod sim;
pub mod storage;
pub mod transport;

pub use error::{Error, Malformed, Result};
