//! The snapshot file: the latest snapshot of a node, replaced atomically.
//!
//! ```text
//! version 1: 0xFFFF_FFFF: u32 | version: u32 LE | meta_len: u32 LE | SnapshotMeta | discard_before | data
//! version 0:                                      meta_len: u32 LE | SnapshotMeta | discard_before | data
//! discard_before: segment: u64 LE | offset: u64 LE
//! ```
//! wrapped in [`super::atomic_file`]'s checksummed container. `SnapshotMeta` is in the
//! raft codec; version 1 added the members' contexts (their peer addresses) to it, so a
//! node restarting from a snapshot knows where members added at run time live. Version 0
//! files, which began straight with the metadata length, are still read (their members
//! have no contexts); the marker `0xFFFF_FFFF` can never be such a length, since the
//! metadata is a few dozen bytes. Newer versions are refused with an error naming the file.
//!
//! `discard_before` is a log position `(segment, offset)`: log entries written
//! before it are not part of the log any more, even those after the snapshot's
//! index. It is set when a snapshot from the leader replaces a log that
//! disagrees with it, and it lives in this file so that installing the
//! snapshot and discarding the old log are one atomic step.

use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};

use super::atomic_file::{read_checked, remove_temp_files, write_atomically};
use super::segment::create_dir_durably;
use crate::error::{Error, Malformed};
use crate::raft::codec::decode_meta_without_contexts;
use crate::raft::{Codec, Snapshot, SnapshotMeta};

const SNAPSHOT_FILE_NAME: &str = "snapshot";

/// First four bytes of a versioned snapshot file (never a version-0 metadata length).
const VERSION_MARKER: u32 = u32::MAX;

/// The format [`SnapshotFile::save`] writes.
pub const SNAPSHOT_FORMAT_VERSION: u32 = 1;

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
    pub fn open(dir: &Path) -> Result<SnapshotFile, Error> {
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
    pub fn save(&self, stored: &StoredSnapshot) -> Result<(), Error> {
        let snapshot = &stored.snapshot;
        let mut meta = BytesMut::new();
        snapshot.meta.encode(&mut meta);
        let mut out = Vec::with_capacity(28 + meta.len() + snapshot.data.len());
        out.extend_from_slice(&VERSION_MARKER.to_le_bytes());
        out.extend_from_slice(&SNAPSHOT_FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&(meta.len() as u32).to_le_bytes());
        out.extend_from_slice(&meta);
        let (segment, offset) = stored.discard_before;
        out.extend_from_slice(&segment.to_le_bytes());
        out.extend_from_slice(&offset.to_le_bytes());
        out.extend_from_slice(&snapshot.data);
        write_atomically(&self.dir, SNAPSHOT_FILE_NAME, &out)
    }

    /// The stored snapshot, or `None` if none was ever saved.
    pub fn load(&self) -> Result<Option<StoredSnapshot>, Error> {
        let path = self.path();
        let Some(buf) = read_checked(&path)? else {
            return Ok(None);
        };
        let incomplete = |offset: usize, needed: usize| {
            Error::Incomplete { offset, needed }.in_file("snapshot", &path, offset as u64)
        };
        let Some(first) = read_u32(&buf, 0) else {
            return Err(incomplete(buf.len(), 4 - buf.len()));
        };
        let (version, header_len) = if first == VERSION_MARKER {
            let Some(version) = read_u32(&buf, 4) else {
                return Err(incomplete(buf.len(), 8 - buf.len()));
            };
            (version, 8)
        } else {
            (0, 0)
        };
        let decode_meta = match version {
            0 => decode_meta_without_contexts,
            SNAPSHOT_FORMAT_VERSION => SnapshotMeta::decode,
            _ => {
                return Err(Error::UnknownVersion {
                    what: "snapshot",
                    path,
                    version,
                    supported: SNAPSHOT_FORMAT_VERSION,
                });
            }
        };
        let Some(meta_len) = read_u32(&buf, header_len) else {
            return Err(incomplete(buf.len(), header_len + 4 - buf.len()));
        };
        let meta_start = header_len + 4;
        let meta_len = meta_len as usize;
        let Some(meta_bytes) = buf.get(meta_start..meta_start.saturating_add(meta_len)) else {
            return Err(Error::malformed(
                header_len,
                Malformed::Length {
                    what: "snapshot metadata",
                    len: meta_len as u64,
                },
            )
            .in_file("snapshot", &path, header_len as u64));
        };
        let meta = decode_meta(meta_bytes)
            .map_err(|e| e.in_file("snapshot metadata", &path, meta_start as u64))?;
        let position_start = meta_start + meta_len;
        let rest = &buf[position_start..];
        let Some(position) = rest.get(..16) else {
            return Err(incomplete(position_start, 16 - rest.len()));
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

fn read_u32(buf: &[u8], at: usize) -> Option<u32> {
    let bytes = buf.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::raft::ConfState;

    fn stored_with_addresses() -> StoredSnapshot {
        let mut conf_state = ConfState::with_voters([1, 2, 3, 4]);
        conf_state.contexts = BTreeMap::from([(4, Bytes::from_static(b"127.0.0.1:7004"))]);
        StoredSnapshot {
            snapshot: Snapshot {
                meta: SnapshotMeta {
                    index: 40,
                    term: 3,
                    conf_state,
                },
                data: Bytes::from_static(b"machine state"),
            },
            discard_before: (2, 128),
        }
    }

    /// The layout `save` wrote before the format had a version.
    fn version_0_payload(stored: &StoredSnapshot) -> Vec<u8> {
        let mut meta = BytesMut::new();
        crate::raft::codec::put_varint(&mut meta, stored.snapshot.meta.index);
        crate::raft::codec::put_varint(&mut meta, stored.snapshot.meta.term);
        for ids in [
            &stored.snapshot.meta.conf_state.voters,
            &stored.snapshot.meta.conf_state.learners,
        ] {
            crate::raft::codec::put_varint(&mut meta, ids.len() as u64);
            for &id in ids {
                crate::raft::codec::put_varint(&mut meta, id);
            }
        }
        let mut out = (meta.len() as u32).to_le_bytes().to_vec();
        out.extend_from_slice(&meta);
        out.extend_from_slice(&stored.discard_before.0.to_le_bytes());
        out.extend_from_slice(&stored.discard_before.1.to_le_bytes());
        out.extend_from_slice(&stored.snapshot.data);
        out
    }

    #[test]
    fn member_addresses_survive_save_and_load() {
        let dir = tempfile::tempdir().unwrap();
        let file = SnapshotFile::open(dir.path()).unwrap();
        let stored = stored_with_addresses();
        file.save(&stored).unwrap();
        assert_eq!(file.load().unwrap(), Some(stored));
    }

    #[test]
    fn version_0_files_are_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let file = SnapshotFile::open(dir.path()).unwrap();
        let mut stored = stored_with_addresses();
        let payload = version_0_payload(&stored);
        write_atomically(dir.path(), SNAPSHOT_FILE_NAME, &payload).unwrap();
        // Version 0 had no member contexts.
        stored.snapshot.meta.conf_state.contexts.clear();
        assert_eq!(file.load().unwrap(), Some(stored));
    }

    #[test]
    fn an_unknown_version_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = SnapshotFile::open(dir.path()).unwrap();
        let mut payload = VERSION_MARKER.to_le_bytes().to_vec();
        payload.extend_from_slice(&(SNAPSHOT_FORMAT_VERSION + 1).to_le_bytes());
        payload.extend_from_slice(&[0; 32]);
        write_atomically(dir.path(), SNAPSHOT_FILE_NAME, &payload).unwrap();
        match file.load() {
            Err(Error::UnknownVersion {
                what: "snapshot",
                path,
                version,
                supported: SNAPSHOT_FORMAT_VERSION,
            }) => {
                assert_eq!(path, file.path());
                assert_eq!(version, SNAPSHOT_FORMAT_VERSION + 1);
            }
            other => panic!("expected UnknownVersion, got {other:?}"),
        }
    }

    #[test]
    fn a_file_cut_inside_its_header_is_a_decode_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = SnapshotFile::open(dir.path()).unwrap();
        for payload in [&[0xff, 0xff][..], &[0xff, 0xff, 0xff, 0xff, 1, 0]] {
            write_atomically(dir.path(), SNAPSHOT_FILE_NAME, payload).unwrap();
            assert!(
                matches!(file.load(), Err(Error::FileDecode { .. })),
                "{payload:?}"
            );
        }
    }
}
