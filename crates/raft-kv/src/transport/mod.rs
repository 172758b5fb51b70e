//! The TCP transport between Raft peers.
