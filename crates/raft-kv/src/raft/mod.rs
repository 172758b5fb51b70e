//! The I/O-free Raft consensus core.
