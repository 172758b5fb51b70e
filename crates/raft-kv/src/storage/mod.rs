//! Durable storage: the write-ahead log, hard state and snapshot files.
//!
//! - [`Wal`]: segmented log files of checksummed records, group commit (one
//!   data sync per batch), preallocated segments, torn-tail recovery.
//! - [`atomic_file`]: whole files replaced atomically (temp file, fsync,
//!   rename, fsync directory) with a checksum, for snapshots and hard state.

pub mod atomic_file;
mod error;
pub mod frame;
pub mod segment;
mod wal;

pub use error::StorageError;
pub use segment::TornTail;
pub use wal::{Wal, WalOptions, WalRecord, WalReplay, WalStats};
