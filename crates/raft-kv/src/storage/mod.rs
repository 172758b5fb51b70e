//! Durable storage: the write-ahead log, hard state and snapshot files.
//!
//! - [`Wal`]: segmented log files of checksummed records, group commit (one
//!   data sync per batch), preallocated segments, torn-tail recovery.
//! - [`atomic_file`]: whole files replaced atomically (temp file, fsync,
//!   rename, fsync directory) with a checksum, used for the snapshot file.
//! - [`DiskStorage`]: the core's [`crate::raft::Storage`] on top of both. Hard
//!   state rides in the WAL (so a `Ready` costs one sync, not three), and each
//!   new segment repeats it so compaction never deletes the latest one.

pub mod atomic_file;
mod disk_storage;
pub mod frame;
pub mod segment;
mod snapshot_file;
mod wal;

pub use disk_storage::DiskStorage;
pub use segment::TornTail;
pub use snapshot_file::{SNAPSHOT_FORMAT_VERSION, SnapshotFile, StoredSnapshot};
pub use wal::{Wal, WalOptions, WalRecord, WalReplay, WalStats};
