//! The snapshot file: the latest snapshot of a node, replaced atomically.
//!
//! ```text
//! meta_len: u32 LE | SnapshotMeta (raft codec) | discard_before: 2 x u64 LE | data
//! ```
//! wrapped in [`super::atomic_file`]'s checksummed container.
//!
//! `discard_before` is a log position `(segment, offset)`: log entries written
//! before it are not part of the log any more, even those after the snapshot's
//! index. It is set when a snapshot from the leader replaces a log that
//! disagrees with it, and it lives in this file so that installing the
//! snapshot and discarding the old log are one atomic step.

use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};

use super::atomic_file::{read_checked, remove_temp_files, write_atomically};
use super::error::StorageError;
use super::segment::create_dir_durably;
use crate::raft::{Codec, Snapshot, SnapshotMeta};

const SNAPSHOT_FILE_NAME: &str = "snapshot";

/// A snapshot as stored, with the log position before which entries are void.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredSnapshot {
    /// The snapshot.
    pub snapshot: Snapshot,
    /// Log entries at positions before this `(segment, offset)` are discarded;
    /// `(0, 0)` discards nothing beyond what the snapshot covers.
    pub discard_before: (u64, u64),
}

/// Where a node keeps its latest snapshot.
#[derive(Debug, Clone)]
pub struct SnapshotFile {
    dir: PathBuf,
}

impl SnapshotFile {
    /// Uses `dir` (created if missing) and removes temp files of interrupted writes.
    pub fn open(dir: &Path) -> Result<SnapshotFile, StorageError> {
        create_dir_durably(dir)?;
        remove_temp_files(dir)?;
        Ok(SnapshotFile {
            dir: dir.to_path_buf(),
        })
    }

    /// Path of the snapshot file.
    pub fn path(&self) -> PathBuf {
        self.dir.join(SNAPSHOT_FILE_NAME)
    }

    /// Replaces the stored snapshot, atomically and durably.
    pub fn save(&self, stored: &StoredSnapshot) -> Result<(), StorageError> {
        let snapshot = &stored.snapshot;
        let mut meta = BytesMut::new();
        snapshot.meta.encode(&mut meta);
        let mut out = Vec::with_capacity(20 + meta.len() + snapshot.data.len());
        out.extend_from_slice(&(meta.len() as u32).to_le_bytes());
        out.extend_from_slice(&meta);
        let (segment, offset) = stored.discard_before;
        out.extend_from_slice(&segment.to_le_bytes());
        out.extend_from_slice(&offset.to_le_bytes());
        out.extend_from_slice(&snapshot.data);
        write_atomically(&self.dir, SNAPSHOT_FILE_NAME, &out)
    }

    /// The stored snapshot, or `None` if none was ever saved.
    pub fn load(&self) -> Result<Option<StoredSnapshot>, StorageError> {
        let path = self.path();
        let Some(buf) = read_checked(&path)? else {
            return Ok(None);
        };
        let decode_error = |reason: String| StorageError::Decode {
            what: "snapshot",
            path: path.clone(),
            reason,
        };
        if buf.len() < 4 {
            return Err(decode_error("shorter than its metadata length".into()));
        }
        let meta_len = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
        let Some(meta_bytes) = buf.get(4..4 + meta_len) else {
            return Err(decode_error(format!(
                "metadata length {meta_len} exceeds the file"
            )));
        };
        let meta = SnapshotMeta::decode(meta_bytes).map_err(|e| decode_error(e.to_string()))?;
        let rest = &buf[4 + meta_len..];
        let Some(position) = rest.get(..16) else {
            return Err(decode_error("missing log position".into()));
        };
        let mut segment = [0u8; 8];
        let mut offset = [0u8; 8];
        segment.copy_from_slice(&position[..8]);
        offset.copy_from_slice(&position[8..]);
        Ok(Some(StoredSnapshot {
            snapshot: Snapshot {
                meta,
                data: Bytes::copy_from_slice(&rest[16..]),
            },
            discard_before: (u64::from_le_bytes(segment), u64::from_le_bytes(offset)),
        }))
    }
}
