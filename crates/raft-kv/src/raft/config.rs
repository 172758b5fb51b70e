//! Tunables of one Raft node.

use super::types::{Index, NodeId};
use crate::error::{Error, Result};

/// How linearizable reads are confirmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ReadMode {
    /// ReadIndex: the leader confirms it is still leader with a heartbeat round before
    /// answering. Safe regardless of clocks.
    #[default]
    Safe,
    /// Lease: the leader answers at once while a quorum acknowledged it within the last
    /// election timeout. Requires check-quorum and ticks that run at the same rate on every
    /// node (bounded clock drift); falls back to ReadIndex when the lease has lapsed.
    Lease,
}

/// Configuration of a [`super::RawNode`].
#[derive(Debug, Clone)]
pub struct Config {
    /// This node's id (non-zero).
    pub id: NodeId,
    /// Ticks without hearing from a leader before campaigning; the actual timeout is drawn
    /// from `[election_tick, 2 * election_tick)` so that candidates rarely collide.
    pub election_tick: u32,
    /// Ticks between leader heartbeats; must be smaller than `election_tick`.
    pub heartbeat_tick: u32,
    /// Ask for pre-votes before campaigning, so a node that was partitioned away does not
    /// disrupt the cluster by bumping the term when it returns.
    pub pre_vote: bool,
    /// A leader that has not heard from a quorum within an election timeout steps down,
    /// and followers that heard from a leader recently refuse to vote (leader stickiness).
    pub check_quorum: bool,
    /// How reads are confirmed.
    pub read_mode: ReadMode,
    /// Upper bound on the bytes of entries in one append message.
    pub max_size_per_msg: u64,
    /// Appends in flight to one follower in replicate state.
    pub max_inflight_msgs: usize,
    /// Bytes in flight to one follower (0 = unlimited).
    pub max_inflight_bytes: u64,
    /// Bytes per snapshot chunk.
    pub snapshot_chunk_size: u64,
    /// Upper bound on the bytes of committed entries handed out in one `Ready`.
    pub max_committed_size_per_ready: u64,
    /// The index the state machine has already applied when the node starts (after a
    /// restart: the snapshot index the state machine was restored from, or later).
    pub applied: Index,
    /// Seed of the generator that randomises election timeouts. Give every node a
    /// different seed (the driver may take it from the OS; the simulation derives it).
    pub seed: u64,
}

impl Config {
    /// Defaults like etcd's: election after 10 ticks, heartbeat every tick, pre-vote and
    /// check-quorum on.
    pub fn new(id: NodeId) -> Self {
        Config {
            id,
            election_tick: 10,
            heartbeat_tick: 1,
            pre_vote: true,
            check_quorum: true,
            read_mode: ReadMode::Safe,
            max_size_per_msg: 1 << 20,
            max_inflight_msgs: 256,
            max_inflight_bytes: 0,
            snapshot_chunk_size: 1 << 20,
            max_committed_size_per_ready: u64::MAX,
            applied: 0,
            seed: id,
        }
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if self.id == 0 {
            return Err(Error::InvalidConfig {
                reason: "node id 0 is reserved",
            });
        }
        if self.heartbeat_tick == 0 || self.election_tick <= self.heartbeat_tick {
            return Err(Error::InvalidConfig {
                reason: "need 0 < heartbeat_tick < election_tick",
            });
        }
        if self.read_mode == ReadMode::Lease && !self.check_quorum {
            return Err(Error::InvalidConfig {
                reason: "lease reads need check_quorum",
            });
        }
        if self.snapshot_chunk_size == 0 || self.max_inflight_msgs == 0 {
            return Err(Error::InvalidConfig {
                reason: "snapshot_chunk_size and max_inflight_msgs must be positive",
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_configs_are_refused() {
        assert!(Config::new(1).validate().is_ok());
        assert!(Config::new(0).validate().is_err());
        let mut c = Config::new(1);
        c.heartbeat_tick = c.election_tick;
        assert!(c.validate().is_err());
        let mut c = Config::new(1);
        c.read_mode = ReadMode::Lease;
        c.check_quorum = false;
        assert!(c.validate().is_err());
    }
}
