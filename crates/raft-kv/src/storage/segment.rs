//! One segment file of the write-ahead log: its header, creation with
//! preallocated space, and the scan that recovery runs over it.
//!
//! A segment is created under a temporary name, given its header and its
//! preallocated zero-filled space, synced, and only then renamed into place
//! (and the directory synced). So a segment that exists under its final name
//! always has a complete header, and its unused space always reads as zeros.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::frame::{FrameScan, is_zero, scan_frame};
use crate::error::Error;

/// Magic bytes at the start of every segment (format version 1).
const SEGMENT_MAGIC: [u8; 8] = *b"HKWALv01";

/// Bytes of the segment header: magic, sequence number, CRC32C of both.
pub const SEGMENT_HEADER_LEN: u64 = 20;

/// File name of segment `seq`: fixed-width hex so names sort by sequence.
pub fn segment_file_name(seq: u64) -> String {
    format!("{seq:016x}.wal")
}

/// Parses a segment file name back into its sequence number.
pub fn parse_segment_file_name(name: &str) -> Option<u64> {
    let hex = name.strip_suffix(".wal")?;
    if hex.len() != 16 {
        return None;
    }
    u64::from_str_radix(hex, 16).ok()
}

fn encode_header(seq: u64) -> [u8; SEGMENT_HEADER_LEN as usize] {
    let mut header = [0u8; SEGMENT_HEADER_LEN as usize];
    header[..8].copy_from_slice(&SEGMENT_MAGIC);
    header[8..16].copy_from_slice(&seq.to_le_bytes());
    let crc = crc32c::crc32c(&header[..16]);
    header[16..20].copy_from_slice(&crc.to_le_bytes());
    header
}

/// Creates `dir` (and missing parents) durably: each directory created is
/// synced, and so is the parent that gained an entry for it, so the path
/// survives a crash along with what is later written in it.
pub fn create_dir_durably(dir: &Path) -> Result<(), Error> {
    let mut missing = Vec::new();
    let mut probe = Some(dir);
    while let Some(path) = probe {
        if path.as_os_str().is_empty() || path.is_dir() {
            break;
        }
        missing.push(path);
        probe = path.parent();
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io("create directory", dir, e))?;
    for created in missing {
        sync_dir(created)?;
        if let Some(parent) = created.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(parent)?;
        }
    }
    Ok(())
}

/// Syncs a directory so that a rename or unlink inside it is durable.
pub fn sync_dir(dir: &Path) -> Result<(), Error> {
    let handle = File::open(dir).map_err(|e| Error::io("open directory", dir, e))?;
    handle
        .sync_all()
        .map_err(|e| Error::io("fsync directory", dir, e))
}

/// Reserves `len` bytes of zero-filled space from `offset` so later appends do
/// not change the file size (and `fdatasync` need not write metadata).
/// Falls back to extending the file where the filesystem has no `fallocate`.
pub fn preallocate(file: &File, path: &Path, offset: u64, len: u64) -> Result<(), Error> {
    if len == 0 {
        return Ok(());
    }
    match rustix::fs::fallocate(file, rustix::fs::FallocateFlags::empty(), offset, len) {
        Ok(()) => Ok(()),
        Err(_) => {
            // Not every filesystem supports fallocate; a sparse extension still
            // reads as zeros, which is all the reader relies on.
            let wanted = offset + len;
            let current = file
                .metadata()
                .map_err(|e| Error::io("stat", path, e))?
                .len();
            if current < wanted {
                file.set_len(wanted)
                    .map_err(|e| Error::io("extend", path, e))?;
            }
            Ok(())
        }
    }
}

/// Creates segment `seq` in `dir` atomically and returns it open for writing.
pub fn create_segment(
    dir: &Path,
    seq: u64,
    preallocate_len: u64,
) -> Result<(File, PathBuf), Error> {
    let final_path = dir.join(segment_file_name(seq));
    let tmp_path = dir.join(format!("{}.tmp", segment_file_name(seq)));
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp_path)
        .map_err(|e| Error::io("create segment", &tmp_path, e))?;
    file.write_all_at(&encode_header(seq), 0)
        .map_err(|e| Error::io("write segment header", &tmp_path, e))?;
    if preallocate_len > SEGMENT_HEADER_LEN {
        preallocate(
            &file,
            &tmp_path,
            SEGMENT_HEADER_LEN,
            preallocate_len - SEGMENT_HEADER_LEN,
        )?;
    }
    file.sync_all()
        .map_err(|e| Error::io("fsync segment", &tmp_path, e))?;
    std::fs::rename(&tmp_path, &final_path)
        .map_err(|e| Error::io("rename segment", &final_path, e))?;
    sync_dir(dir)?;
    Ok((file, final_path))
}

/// One record read back from a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScannedRecord {
    /// Byte offset of the record's frame in its segment.
    pub offset: u64,
    /// The record's kind.
    pub kind: u8,
    /// The record's payload.
    pub payload: Vec<u8>,
}

/// A torn final record found (and cut off) during recovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    /// The segment it was in.
    pub path: PathBuf,
    /// Where the torn record began; the log now ends here.
    pub offset: u64,
    /// Which check the torn record failed.
    pub reason: &'static str,
}

/// The result of scanning one segment.
#[derive(Debug)]
pub struct ScannedSegment {
    /// The segment's records, in order.
    pub records: Vec<ScannedRecord>,
    /// Offset just past the last good record: where appends continue.
    pub end: u64,
    /// Set when the final record was torn (only possible in the last segment).
    pub torn: Option<TornTail>,
}

/// Reads and checks segment `seq`. In the last segment a damaged final record
/// (one followed by nothing but zeros) is a torn write and is reported in
/// [`ScannedSegment::torn`]; any other damage is [`Error::Corrupt`].
pub fn scan_segment(path: &Path, seq: u64, is_last: bool) -> Result<ScannedSegment, Error> {
    let buf = std::fs::read(path).map_err(|e| Error::io("read segment", path, e))?;
    let corrupt = |offset: usize, reason: &'static str| Error::Corrupt {
        path: path.to_path_buf(),
        offset: offset as u64,
        reason,
    };
    let header_len = SEGMENT_HEADER_LEN as usize;
    if buf.len() < header_len {
        return Err(corrupt(0, "segment shorter than its header"));
    }
    if buf[..header_len] != encode_header(seq) {
        return Err(corrupt(0, "segment header does not match its file name"));
    }
    let mut records = Vec::new();
    let mut pos = header_len;
    loop {
        match scan_frame(&buf[pos..]) {
            FrameScan::Record {
                kind,
                payload,
                frame_len,
            } => {
                records.push(ScannedRecord {
                    offset: pos as u64,
                    kind,
                    payload: payload.to_vec(),
                });
                pos += frame_len;
            }
            FrameScan::End => {
                if !is_zero(&buf[pos..]) {
                    // A gap of zeros followed by data: not something an append
                    // can leave behind, so refuse rather than guess.
                    return Err(corrupt(pos, "data after the end-of-records marker"));
                }
                return Ok(ScannedSegment {
                    records,
                    end: pos as u64,
                    torn: None,
                });
            }
            FrameScan::Bad {
                reason,
                claimed_end,
            } => {
                let after = pos + claimed_end;
                if is_last && is_zero(&buf[after.min(buf.len())..]) {
                    return Ok(ScannedSegment {
                        records,
                        end: pos as u64,
                        torn: Some(TornTail {
                            path: path.to_path_buf(),
                            offset: pos as u64,
                            reason,
                        }),
                    });
                }
                return Err(corrupt(pos, reason));
            }
        }
    }
}
