//! The one error type of the crate.
//!
//! Grouped by where an error arises, in one enum so that a caller matches a
//! single type whatever layer failed:
//!
//! - decoding (the raft codec, state machine snapshots): [`Error::Incomplete`]
//!   when the input ends inside a value (more bytes would help), apart from
//!   [`Error::Malformed`] when no continuation could make it valid;
//! - the consensus core: [`Error::NotLeader`], [`Error::Compacted`], ...;
//! - durable storage: every variant about data on disk names the file, and where
//!   it matters the byte offset, so an operator can inspect exactly what is wrong;
//! - the peer transport and the node driver: [`Error::BadHandshake`],
//!   [`Error::UnsupportedWireVersion`], [`Error::TruncatedHandshake`],
//!   [`Error::Stopped`], ...

use std::fmt;
use std::path::PathBuf;

use crate::raft::{Index, NodeId};

/// Everything that can go wrong in raft-kv.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // ----- decoding -------------------------------------------------------------------
    /// The input ended inside a value: `needed` more bytes were expected at `offset`.
    /// Whole records (a WAL record, a frame, a file) that end early are damaged; a
    /// reader of a stream would wait for more.
    #[error("truncated input: needed {needed} more bytes at offset {offset}")]
    Incomplete {
        /// Offset where the incomplete field started.
        offset: usize,
        /// Bytes missing.
        needed: usize,
    },
    /// The input is not a valid encoding, whatever bytes might follow.
    #[error("malformed input at offset {offset}: {kind}")]
    Malformed {
        /// Offset of the offending field.
        offset: usize,
        /// What is wrong with it.
        kind: Malformed,
    },

    // ----- consensus core -------------------------------------------------------------
    /// The requested log index was discarded by compaction; send a snapshot instead.
    #[error("log index {index} has been compacted")]
    Compacted {
        /// The index asked for.
        index: Index,
    },
    /// The requested log index is past the end of the log.
    #[error("log index {index} is not available")]
    Unavailable {
        /// The index asked for.
        index: Index,
    },
    /// A snapshot older than what storage already holds was offered.
    #[error("snapshot at index {index} is older than the current state")]
    SnapshotOutOfDate {
        /// Index of the rejected snapshot.
        index: Index,
    },
    /// Storage cannot produce a snapshot right now (the core retries later).
    #[error("snapshot temporarily unavailable")]
    SnapshotTemporarilyUnavailable,
    /// A state machine snapshot's data does not decode.
    #[error("state machine snapshot at index {index} is malformed")]
    BadSnapshot {
        /// Index of the snapshot.
        index: Index,
    },
    /// Only the leader takes proposals, membership changes and reads; retry at
    /// `leader` if known.
    #[error("not the leader (leader hint: {leader:?})")]
    NotLeader {
        /// The leader, if known, so the caller can redirect.
        leader: Option<NodeId>,
    },
    /// A proposal was refused because leadership is being transferred.
    #[error("leadership transfer in progress")]
    TransferInProgress,
    /// A membership change was refused because another one is still uncommitted, or the
    /// leader has not yet committed an entry of its own term.
    #[error("a membership change is already pending")]
    ConfChangePending,
    /// A membership change that makes no sense (e.g. removing the last voter).
    #[error("invalid membership change: {reason}")]
    InvalidConfChange {
        /// Why.
        reason: &'static str,
    },
    /// The configuration is unusable.
    #[error("invalid configuration: {reason}")]
    InvalidConfig {
        /// Why.
        reason: &'static str,
    },

    // ----- durable storage ------------------------------------------------------------
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
    /// A value read from a file does not decode.
    #[error("cannot decode {what} in {path} at offset {offset}: {source}")]
    FileDecode {
        /// What was being decoded.
        what: &'static str,
        /// The file it came from.
        path: PathBuf,
        /// Byte offset of the value (a record's, or a field's in the file).
        offset: u64,
        /// The decoder's complaint ([`Error::Incomplete`] or [`Error::Malformed`]), boxed:
        /// `source()` downcasts to `Box<Error>`.
        #[source]
        source: Box<Error>,
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

    // ----- peer transport and node ----------------------------------------------------
    /// A socket failed (the peer listener, a peer or client connection).
    #[error("network: {0}")]
    Network(#[source] std::io::Error),
    /// A peer did not open its connection with a valid handshake.
    #[error("bad handshake from peer")]
    BadHandshake,
    /// A peer opened its connection with a handshake of another peer wire version (it
    /// runs a different build): the connection is refused. Nodes of one cluster must
    /// speak the same version.
    #[error("peer handshake has wire version {version}; this build speaks version {supported}")]
    UnsupportedWireVersion {
        /// The version the peer sent.
        version: u8,
        /// The version this build speaks.
        supported: u8,
    },
    /// A peer's stream ended inside its handshake: the peer went away while
    /// opening the connection, or the dialer is not a peer at all.
    #[error("stream ended {received} bytes into a handshake of at least {expected} bytes")]
    TruncatedHandshake {
        /// Bytes of the handshake received.
        received: usize,
        /// Bytes the handshake needed, as far as what was received tells.
        expected: usize,
    },
    /// A peer's frame announced more bytes than allowed.
    #[error("frame of {len} bytes exceeds the limit of {max}")]
    FrameTooLarge {
        /// Announced length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A peer's stream ended inside a frame (in its length prefix or its message): the
    /// peer went away mid-write, or sent garbage. Only an end between frames is clean.
    #[error("stream ended {received} bytes into a frame's {part} of {expected} bytes")]
    TruncatedFrame {
        /// The part of the frame being read: `"length prefix"` or `"message"`.
        part: &'static str,
        /// Bytes of that part received.
        received: usize,
        /// Bytes of that part expected.
        expected: usize,
    },
    /// The proposal's log slot was taken by another leader's entry (or a snapshot
    /// covered it): it was not applied here and its outcome is unknown.
    #[error("proposal dropped by a change of leader")]
    Dropped,
    /// The node has stopped (shut down or failed).
    #[error("node stopped")]
    Stopped,
    /// A node that joined with no membership of its own committed log entries that
    /// leave it with no voters: the cluster's log does not start with its bootstrap
    /// members (it was created before they were recorded there), so the joining node
    /// cannot know the membership. Join such a cluster by a snapshot that covers the
    /// start of the log, or with a version that takes the members from `--peers`.
    #[error("committed entries up to {index} name no voters: the log lacks the bootstrap members")]
    NoBootstrapMembers {
        /// The commit index at which the membership was still empty.
        index: Index,
    },
}

/// What makes an input [`Error::Malformed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Malformed {
    /// A varint was not the shortest encoding of its value, was longer than ten bytes,
    /// or overflowed 64 bits. Every value has exactly one accepted encoding, so
    /// `encode(decode(x)) == x` for accepted input.
    Varint,
    /// An enum tag had no meaning.
    UnknownTag {
        /// Which enum.
        what: &'static str,
        /// The tag read.
        tag: u8,
    },
    /// A length or count was larger than the input could possibly hold.
    Length {
        /// What was being sized.
        what: &'static str,
        /// The length read.
        len: u64,
    },
    /// A map's keys were not in strictly increasing order (each map has one encoding).
    Unordered {
        /// Which map.
        what: &'static str,
    },
    /// Bytes were left over after a complete value.
    TrailingBytes {
        /// How many.
        count: usize,
    },
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Malformed::Varint => write!(f, "malformed varint"),
            Malformed::UnknownTag { what, tag } => write!(f, "unknown {what} tag {tag}"),
            Malformed::Length { what, len } => write!(f, "{what} length {len} exceeds the input"),
            Malformed::Unordered { what } => {
                write!(f, "{what} key is not greater than the one before")
            }
            Malformed::TrailingBytes { count } => {
                write!(f, "{count} trailing bytes after a complete value")
            }
        }
    }
}

/// Result alias for the crate.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Wraps an I/O error with the operation and path it concerns.
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// An [`Error::Malformed`] at `offset`.
    pub(crate) fn malformed(offset: usize, kind: Malformed) -> Self {
        Error::Malformed { offset, kind }
    }

    /// Places a decoder's error in the file it came from.
    pub(crate) fn in_file(self, what: &'static str, path: impl Into<PathBuf>, offset: u64) -> Self {
        Error::FileDecode {
            what,
            path: path.into(),
            offset,
            source: Box::new(self),
        }
    }

    /// Whether this is a decoder's "the input ended early" ([`Error::Incomplete`]).
    pub fn is_incomplete(&self) -> bool {
        matches!(self, Error::Incomplete { .. })
    }
}
