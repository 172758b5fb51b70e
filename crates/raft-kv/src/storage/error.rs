//! The one error type of the storage layer.

use std::path::PathBuf;

/// Why a durable-storage operation failed.
///
/// Every variant that concerns data on disk names the file, and where it
/// matters the byte offset, so an operator can inspect exactly what is wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// An operating-system call on `path` failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done (`open`, `write`, `fsync`, ...).
        op: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A record or file failed its checksum somewhere other than the torn tail
    /// of the log: the data was damaged after it was written, so startup stops.
    #[error("corrupt data in {path} at offset {offset}: {reason}")]
    Corrupt {
        /// The damaged file.
        path: PathBuf,
        /// Byte offset of the damaged record or field.
        offset: u64,
        /// What check failed.
        reason: &'static str,
    },
    /// The log's segment files are not a contiguous sequence: one is missing.
    #[error("write-ahead log in {dir} is missing segment {missing} (found {found} next)")]
    MissingSegment {
        /// The log directory.
        dir: PathBuf,
        /// The sequence number that should exist.
        missing: u64,
        /// The sequence number found instead.
        found: u64,
    },
    /// A record is larger than the log accepts.
    #[error("record of {len} bytes exceeds the limit of {max}")]
    RecordTooLarge {
        /// The record's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The replayed log does not describe a consistent Raft log (for example an
    /// entry index jumps forward with no snapshot to explain the gap).
    #[error("inconsistent log in {path} at offset {offset}: {reason}")]
    Inconsistent {
        /// The segment file holding the offending record.
        path: PathBuf,
        /// Byte offset of the offending record.
        offset: u64,
        /// What rule was broken.
        reason: String,
    },
    /// Entries handed to the store do not continue its log.
    #[error("entry {index} does not follow the log, which ends at {last}")]
    LogGap {
        /// Index of the offending entry.
        index: u64,
        /// The index it should have followed.
        last: u64,
    },
    /// A value read from disk decoded to something the codec rejects.
    #[error("cannot decode {what} from {path}: {reason}")]
    Decode {
        /// What was being decoded.
        what: &'static str,
        /// The file it came from.
        path: PathBuf,
        /// The codec's complaint.
        reason: String,
    },
    /// A file was written in a format version this build does not know (by a newer one).
    #[error(
        "{path}: {what} format version {version} is not supported (this build reads up to {supported})"
    )]
    UnknownVersion {
        /// What kind of file it is.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The version it declares.
        version: u32,
        /// The newest version this build reads.
        supported: u32,
    },
}

impl StorageError {
    /// Wraps an I/O error with the operation and path it concerns.
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StorageError::Io {
            op,
            path: path.into(),
            source,
        }
    }
}
