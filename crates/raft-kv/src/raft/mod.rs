//! The I/O-free Raft consensus core, in the style of etcd's raft and raft-rs's `RawNode`.
//!
//! The core never touches a clock, a socket, a disk or a random source: the driver calls
//! [`RawNode::tick`] at a fixed interval, feeds received messages to [`RawNode::step`] and
//! proposals to [`RawNode::propose`], and then drains a [`Ready`]:
//!
//! 1. persist `ready.snapshot`, `ready.entries` and `ready.hard_state` (fsync if
//!    `ready.must_sync`);
//! 2. send `ready.messages` (after step 1: a vote or an acknowledgement promises that what
//!    it talks about is durable);
//! 3. restore the state machine from the snapshot, apply `ready.committed_entries`;
//! 4. answer reads in `ready.read_states` once their index is applied;
//! 5. [`RawNode::advance`].
//!
//! Election timeouts are randomised with a generator seeded from [`Config::seed`], so a run
//! with the same inputs is the same run (the [`crate::sim`] module relies on it).
//!
//! ```
//! use raft_kv::raft::{ConfState, Config, MemStorage, RawNode, Role};
//!
//! // A single-voter cluster: it elects itself and commits on its own.
//! let storage = MemStorage::new(ConfState::with_voters([1]));
//! let mut node = RawNode::new(Config::new(1), storage).unwrap();
//! for _ in 0..20 {
//!     node.tick();
//! }
//! assert_eq!(node.role(), Role::Leader);
//! let index = node.propose(&b"hello"[..]).unwrap();
//! let mut applied = Vec::new();
//! while node.has_ready() {
//!     let ready = node.ready();
//!     let storage = node.storage_mut();
//!     storage.append(&ready.entries).unwrap();
//!     if let Some(hs) = ready.hard_state {
//!         storage.set_hard_state(hs);
//!     }
//!     // (a real driver sends ready.messages here)
//!     applied.extend(ready.committed_entries.iter().map(|e| e.data.clone()));
//!     node.advance(ready);
//! }
//! assert_eq!(node.applied(), index);
//! assert_eq!(applied.last().map(|d| &d[..]), Some(&b"hello"[..]));
//! ```
//!
//! # What is implemented
//!
//! - Leader election with randomised timeouts in `[election_tick, 2 * election_tick)`;
//!   pre-vote (a node that cannot win does not raise the term); check-quorum (a leader that
//!   has not heard from a quorum for an election timeout steps down, and voters that heard
//!   from a leader within that time ignore campaigns).
//! - Replication: probe / replicate / snapshot states per follower (see `progress.rs`),
//!   pipelined appends bounded by [`Config::max_inflight_msgs`] and
//!   [`Config::max_inflight_bytes`], batching of all proposals made between two `Ready`s
//!   into one append per follower, and fast log back-tracking by term on rejection.
//! - Commit only by counting replicas of an entry of the leader's own term (Raft §5.4.2,
//!   the paper's figure 8); each new leader appends an empty entry to get there.
//! - Linearizable reads without writing the log: [`RawNode::read_index`] (ReadIndex: the
//!   leader records its commit index and confirms leadership with a heartbeat round;
//!   followers forward to the leader), and optionally leader leases ([`ReadMode::Lease`]):
//!   a read is answered at once while a quorum acknowledged a heartbeat within the last
//!   election timeout minus a tick. A lease is only as good as the assumption that ticks
//!   run at the same rate everywhere; nodes in lease mode also refuse votes for one election
//!   timeout after starting, because before a crash they may have promised a lease.
//! - Leadership transfer ([`RawNode::transfer_leader`]): the target is brought up to date
//!   and sent `TimeoutNow`; its election bypasses pre-vote and leases. The old leader stops
//!   accepting proposals meanwhile, and gives up after an election timeout.
//! - Snapshots: a follower behind the compacted log gets an `InstallSnapshot` stream in
//!   chunks of [`Config::snapshot_chunk_size`], one chunk in flight, resumed from the
//!   follower's offset after loss.
//!
//! # Membership changes: one server at a time
//!
//! Changes add or remove one voter (or add, promote or remove a learner) per
//! [`ConfChange`]; joint consensus is not implemented. The argument: any majority of a
//! configuration and any majority of a configuration differing from it by one voter
//! intersect, so two leaders of one term cannot be elected from the old and the new
//! configuration alike; a second change waits until the first is committed, so at most two
//! adjacent configurations are ever in use. The known hole in single-server changes (a
//! leader that proposes a change before committing an entry of its own term can lose an
//! earlier, uncommitted change and end up with two disjoint majorities; Ongaro, raft-dev,
//! 2015) is closed the way the dissertation's erratum says: a leader accepts a change only
//! after its no-op of the current term committed. Joint consensus would allow arbitrary
//! replacements in one step, but every production need here (add a member as a learner,
//! let it catch up, promote it; remove a member) is a sequence of single steps, and the
//! simpler rule is easier to get right and to check in the simulation.
//!
//! A change takes effect when its entry commits (as in etcd), on every node alike; a
//! leader that commits its own removal tells the followers the commit index and steps down.
//! So [`RawNode::conf_state`] is the membership as of the commit index, which can be ahead
//! of the applied index: a `Ready` hands out at most [`Config::max_committed_size_per_ready`]
//! bytes of committed entries, and a driver may apply asynchronously. A snapshot at the
//! applied index must carry the membership in effect at that index, or a node restoring it
//! would start with a configuration its log has not reached (and could count votes in
//! it); [`RawNode::applied_conf_state`] is that membership, and what the node driver and
//! the simulation put in their snapshots. The simulation checks every snapshot taken or
//! installed against the membership its index has in the committed log, with seeds that
//! cap the committed entries per `Ready` (with the commit index's membership, seeds 284,
//! 315, 329, 453 and 469 of the default sweep fail that check).
//! A node joining the cluster must start with the membership its log starts from: a new
//! cluster's log starts with its bootstrap members as committed entries ([`bootstrap_log`],
//! as etcd does), so a joining node starts with an empty log and an empty membership, and
//! learns the members (and the contexts they were added with) from the leader's log or
//! snapshot. It follows the log but cannot campaign until it is added. (A storage created
//! with a non-empty bootstrap [`ConfState`] instead, as before, works too, as long as every
//! node that starts from an empty log is given that same membership.)

pub mod codec;
pub mod config;
mod consensus;
pub mod kv;
pub mod message;
mod progress;
mod raft_log;
pub mod raw_node;
pub mod read_queue;
pub mod state_machine;
pub mod storage;
pub mod types;

pub use codec::Codec;
pub use config::{Config, ReadMode};
pub use consensus::{ReadState, Role};
pub use kv::{KvCommand, KvOp, KvResponse, KvStateMachine};
pub use message::{Message, MessageBody};
pub use raw_node::{RawNode, Ready};
pub use read_queue::ReadQueue;
pub use state_machine::StateMachine;
pub use storage::{InitialState, MemStorage, Storage, bootstrap_log};
pub use types::{
    ConfChange, ConfChangeKind, ConfState, Entry, EntryKind, HardState, Index, NodeId, Snapshot,
    SnapshotMeta, Term,
};
