//! The node: the consensus core driven with real disk, network and time.
//!
//! - [`start_node`] opens a node's [`crate::storage::DiskStorage`], restores
//!   its state machine from the latest snapshot, starts its
//!   [`crate::transport::Transport`] and spawns the driver task (see
//!   [`driver`] for the loop).
//! - [`NodeHandle`] proposes commands and runs linearizable reads.
//! - [`KvMachine`] is a small key-value state machine; [`client`] serves it
//!   over a line protocol for the `raft-kv-node` binary.
//!
//! A one-node cluster, proposing a put and reading it back linearizably:
//!
//! ```
//! use std::time::Duration;
//! use raft_kv::node::{KvMachine, NodeConfig, encode_put, start_node};
//!
//! # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let members = vec![(1, listener.local_addr()?)];
//! let mut config = NodeConfig::new(1, members, dir.path().to_path_buf());
//! config.tick = Duration::from_millis(10);
//! let node = start_node(config, listener, KvMachine::default()).await?;
//! node.handle
//!     .wait_for(Duration::from_secs(10), |s| s.leader == Some(1))
//!     .await
//!     .expect("a single node elects itself");
//!
//! let (index, applied) = node.handle.propose(encode_put(b"color", b"blue")).await?;
//! assert!(applied && index > 0);
//! let value = node.handle.read(|kv| kv.get(b"color").cloned()).await?;
//! assert_eq!(value.as_deref(), Some(&b"blue"[..]));
//! node.handle.stop().await;
//! # Ok(())
//! # }
//! ```

pub mod client;
pub mod driver;
mod kv_machine;

pub use driver::{NodeConfig, NodeHandle, NodeStatus, RunningNode, start_node};
pub use kv_machine::{KvMachine, encode_put};
