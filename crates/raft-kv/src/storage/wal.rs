//! The segmented write-ahead log.
//!
//! Records are appended to an in-memory batch and reach disk on [`Wal::sync`]:
//! one write and one `fdatasync` for the whole batch (group commit). Segments
//! are preallocated, so those appends never change the file size and the sync
//! has no metadata to flush. When a record would not fit in the active
//! segment, the log rolls over: the old segment is synced first (so a crash
//! can never leave a hole between durable records), then a new one is created
//! atomically and begins with the *preamble*, the records that must survive
//! compaction of every older segment (the store puts its hard state and
//! snapshot marker there).
//!
//! Recovery ([`Wal::open`]) reads every segment in order. A torn final record
//! of the last segment is cut off and reported; damage anywhere else, or a
//! missing segment in the sequence, stops startup with an error naming the
//! file and offset.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::frame::{MAX_RECORD_LEN, encode_frame, frame_len};
use super::segment::{
    SEGMENT_HEADER_LEN, TornTail, create_dir_durably, create_segment, parse_segment_file_name,
    preallocate, scan_segment, segment_file_name, sync_dir,
};
use crate::error::Error;

/// How the log lays out its files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalOptions {
    /// Target size of a segment; a record that does not fit starts a new one.
    pub segment_size: u64,
    /// Reserve each segment's full size when it is created.
    pub preallocate: bool,
}

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions {
            segment_size: 64 << 20,
            preallocate: true,
        }
    }
}

/// A record read back at startup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalRecord {
    /// Sequence number of the segment holding it.
    pub segment: u64,
    /// Byte offset of its frame in that segment.
    pub offset: u64,
    /// The record's kind (chosen by the caller, never 0).
    pub kind: u8,
    /// The record's payload.
    pub payload: Vec<u8>,
}

/// Everything recovery found.
#[derive(Debug, Default)]
pub struct WalReplay {
    /// Every intact record, oldest first.
    pub records: Vec<WalRecord>,
    /// The torn final record that was cut off, if the last run crashed mid-write.
    pub torn_tail: Option<TornTail>,
}

/// Counters for benchmarks and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WalStats {
    /// Data syncs issued on segment files (one per non-empty [`Wal::sync`],
    /// plus one per rollover).
    pub syncs: u64,
    /// Record bytes written.
    pub bytes_written: u64,
    /// Segments created since open.
    pub segments_created: u64,
}

/// The write-ahead log of one node.
#[derive(Debug)]
pub struct Wal {
    dir: PathBuf,
    options: WalOptions,
    /// Sequence numbers of the segments on disk, oldest first; the last is active.
    segments: VecDeque<u64>,
    active: File,
    active_path: PathBuf,
    /// Where the next write lands in the active segment.
    offset: u64,
    /// Framed records not yet written.
    pending: Vec<u8>,
    /// Records (other than the preamble) in the active segment, written or pending.
    records_in_active: usize,
    /// Bytes written since the last sync.
    unsynced: bool,
    /// Encoded frames that open every new segment.
    preamble: Vec<u8>,
    stats: WalStats,
}

impl Wal {
    /// Opens (or creates) the log in `dir` and replays it.
    pub fn open(dir: &Path, options: WalOptions) -> Result<(Wal, WalReplay), Error> {
        create_dir_durably(dir)?;
        let mut seqs = Vec::new();
        let listing = std::fs::read_dir(dir).map_err(|e| Error::io("list", dir, e))?;
        for item in listing {
            let item = item.map_err(|e| Error::io("list", dir, e))?;
            let name = item.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.ends_with(".wal.tmp") {
                // A segment whose creation never finished holds no records.
                let path = item.path();
                std::fs::remove_file(&path)
                    .map_err(|e| Error::io("remove unfinished segment", &path, e))?;
            } else if let Some(seq) = parse_segment_file_name(name) {
                seqs.push(seq);
            }
        }
        seqs.sort_unstable();
        for pair in seqs.windows(2) {
            if pair[1] != pair[0] + 1 {
                return Err(Error::MissingSegment {
                    dir: dir.to_path_buf(),
                    missing: pair[0] + 1,
                    found: pair[1],
                });
            }
        }
        let prealloc = if options.preallocate {
            options.segment_size
        } else {
            0
        };
        let Some(&last_seq) = seqs.last() else {
            let (active, active_path) = create_segment(dir, 0, prealloc)?;
            let wal = Wal::new(dir, options, VecDeque::from([0]), active, active_path, 0);
            return Ok((wal, WalReplay::default()));
        };

        let mut replay = WalReplay::default();
        let mut last_end = SEGMENT_HEADER_LEN;
        let mut last_records = 0;
        for &seq in &seqs {
            let path = dir.join(segment_file_name(seq));
            let scanned = scan_segment(&path, seq, seq == last_seq)?;
            last_end = scanned.end;
            last_records = scanned.records.len();
            replay
                .records
                .extend(scanned.records.into_iter().map(|r| WalRecord {
                    segment: seq,
                    offset: r.offset,
                    kind: r.kind,
                    payload: r.payload,
                }));
            replay.torn_tail = scanned.torn;
        }
        let active_path = dir.join(segment_file_name(last_seq));
        let active = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&active_path)
            .map_err(|e| Error::io("open segment", &active_path, e))?;
        if let Some(torn) = &replay.torn_tail {
            tracing::warn!(
                path = %torn.path.display(),
                offset = torn.offset,
                reason = torn.reason,
                "cutting off torn record at the tail of the write-ahead log"
            );
            // Zero the torn bytes (cut, then re-reserve) so the next append
            // starts on clean space and a later scan sees a proper end.
            active
                .set_len(torn.offset)
                .map_err(|e| Error::io("truncate torn tail", &active_path, e))?;
            if prealloc > torn.offset {
                preallocate(&active, &active_path, torn.offset, prealloc - torn.offset)?;
            }
            active
                .sync_all()
                .map_err(|e| Error::io("fsync", &active_path, e))?;
        }
        let mut wal = Wal::new(
            dir,
            options,
            seqs.into_iter().collect(),
            active,
            active_path,
            last_end,
        );
        wal.records_in_active = last_records;
        Ok((wal, replay))
    }

    fn new(
        dir: &Path,
        options: WalOptions,
        segments: VecDeque<u64>,
        active: File,
        active_path: PathBuf,
        offset: u64,
    ) -> Wal {
        Wal {
            dir: dir.to_path_buf(),
            options,
            segments,
            active,
            active_path,
            offset: offset.max(SEGMENT_HEADER_LEN),
            pending: Vec::new(),
            records_in_active: 0,
            unsynced: false,
            preamble: Vec::new(),
            stats: WalStats::default(),
        }
    }

    /// Sets the records written at the start of every new segment. They must
    /// describe, on their own, the state that older segments carried and that
    /// compaction may delete.
    pub fn set_preamble<'a>(&mut self, records: impl IntoIterator<Item = (u8, &'a [u8])>) {
        self.preamble.clear();
        for (kind, payload) in records {
            encode_frame(kind, payload, &mut self.preamble);
        }
    }

    /// Adds a record to the current batch and returns the segment it will be
    /// in. Nothing is durable until [`Wal::sync`].
    pub fn append(&mut self, kind: u8, payload: &[u8]) -> Result<u64, Error> {
        if payload.len() > MAX_RECORD_LEN {
            return Err(Error::RecordTooLarge {
                len: payload.len(),
                max: MAX_RECORD_LEN,
            });
        }
        let needed = frame_len(payload.len()) as u64;
        let used = self.offset + self.pending.len() as u64;
        if used + needed > self.options.segment_size && self.records_in_active > 0 {
            self.roll_over()?;
        }
        encode_frame(kind, payload, &mut self.pending);
        self.records_in_active += 1;
        Ok(self.active_segment())
    }

    /// Writes the batch and makes it durable with one data sync.
    pub fn sync(&mut self) -> Result<(), Error> {
        self.write_pending()?;
        if self.unsynced {
            self.active
                .sync_data()
                .map_err(|e| Error::io("fdatasync", &self.active_path, e))?;
            self.unsynced = false;
            self.stats.syncs += 1;
        }
        Ok(())
    }

    fn write_pending(&mut self) -> Result<(), Error> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.active
            .write_all_at(&self.pending, self.offset)
            .map_err(|e| Error::io("write", &self.active_path, e))?;
        self.offset += self.pending.len() as u64;
        self.stats.bytes_written += self.pending.len() as u64;
        self.pending.clear();
        self.unsynced = true;
        Ok(())
    }

    fn roll_over(&mut self) -> Result<(), Error> {
        // Everything in the old segment must be durable before anything lands
        // in the new one; otherwise a crash could keep later records and lose
        // earlier ones.
        self.sync()?;
        let seq = self.active_segment() + 1;
        let prealloc = if self.options.preallocate {
            self.options.segment_size
        } else {
            0
        };
        let (file, path) = create_segment(&self.dir, seq, prealloc)?;
        self.active = file;
        self.active_path = path;
        self.segments.push_back(seq);
        self.offset = SEGMENT_HEADER_LEN;
        self.records_in_active = 0;
        self.pending.extend_from_slice(&self.preamble);
        self.stats.segments_created += 1;
        Ok(())
    }

    /// Where the next record will land, as `(segment, offset)`; positions of
    /// records compare in log order. Only exact after [`Wal::sync`].
    pub fn position(&self) -> (u64, u64) {
        (
            self.active_segment(),
            self.offset + self.pending.len() as u64,
        )
    }

    /// Sequence number of the segment appends go to.
    pub fn active_segment(&self) -> u64 {
        self.segments.back().copied().unwrap_or(0)
    }

    /// Sequence numbers of the segments on disk, oldest first.
    pub fn segments(&self) -> impl Iterator<Item = u64> + '_ {
        self.segments.iter().copied()
    }

    /// Deletes every segment older than `seq` (never the active one) and
    /// returns how many were deleted. The caller must first have made durable
    /// whatever those segments held that is still needed (a snapshot).
    pub fn remove_segments_before(&mut self, seq: u64) -> Result<usize, Error> {
        let limit = seq.min(self.active_segment());
        let mut removed = 0;
        while let Some(&oldest) = self.segments.front() {
            if oldest >= limit {
                break;
            }
            let path = self.dir.join(segment_file_name(oldest));
            std::fs::remove_file(&path).map_err(|e| Error::io("remove segment", &path, e))?;
            self.segments.pop_front();
            removed += 1;
        }
        if removed > 0 {
            sync_dir(&self.dir)?;
        }
        Ok(removed)
    }

    /// Counters since open.
    pub fn stats(&self) -> WalStats {
        self.stats
    }

    /// The log's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}
