//! Checks for the decoders of `crates/raft-kv`: the Raft codec, the WAL record frame, the
//! segment scan that recovery runs, and the peer wire format.

use std::fmt::Debug;
use std::future::Future;
use std::path::PathBuf;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::{Bytes, BytesMut};
use raft_kv::node::{KvMachine, encode_put};
use raft_kv::raft::{
    Codec, ConfChange, Entry, HardState, KvCommand, KvStateMachine, Message, Snapshot,
    SnapshotMeta, StateMachine,
};
use raft_kv::storage::frame::{self, FRAME_HEADER_LEN, FrameScan};
use raft_kv::storage::segment::{SEGMENT_HEADER_LEN, scan_segment};
use raft_kv::storage::{SNAPSHOT_FORMAT_VERSION, SnapshotFile, StoredSnapshot};
use raft_kv::transport::wire;
use raft_kv::{Error, Malformed};

use crate::ByteReader;

/// Decoders fail only with "need more bytes" or "invalid", and error positions point into
/// the input, or diagnostics lie about where the damage is.
fn check_error_offset(err: &Error, input_len: usize) {
    let offset = match err {
        Error::Incomplete { offset, needed } => {
            assert!(*needed > 0, "{err:?}");
            *offset
        }
        Error::Malformed {
            offset,
            kind: Malformed::TrailingBytes { count },
        } => {
            assert!(
                *count > 0 && offset + count == input_len,
                "{err:?} for {input_len} bytes"
            );
            *offset
        }
        Error::Malformed { offset, .. } => *offset,
        other => panic!("a decoder failed with {other:?}"),
    };
    assert!(offset <= input_len, "{err:?} for {input_len} bytes");
}

/// Decodes `data` as a `T`; on success checks that the value re-encodes to exactly the
/// input bytes (the codec accepts only canonical encodings, so every value has one), and
/// that the input without its last byte is refused (`decode` must consume the whole buffer).
fn decode_and_round_trip<T: Codec + PartialEq + Debug>(data: &[u8]) {
    match T::decode(data) {
        Ok(value) => {
            let bytes = value.to_bytes();
            assert_eq!(&bytes[..], data, "encode(decode(x)) == x, byte for byte");
            if let Some((_, shorter)) = data.split_last() {
                assert!(
                    T::decode(shorter).is_err(),
                    "a strict prefix of a valid encoding decoded"
                );
            }
        }
        Err(err) => check_error_offset(&err, data.len()),
    }
}

/// `raft_kv_message`: [`Message`] as the transport and tests carry it.
pub fn message(data: &[u8]) {
    decode_and_round_trip::<Message>(data);
}

/// `raft_kv_codec`: the other codec types. The first byte picks the type: [`Entry`],
/// [`HardState`], [`SnapshotMeta`], [`ConfChange`] or [`KvCommand`] (an entry payload).
pub fn codec(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    match selector % 5 {
        0 => decode_and_round_trip::<Entry>(rest),
        1 => decode_and_round_trip::<HardState>(rest),
        2 => decode_and_round_trip::<SnapshotMeta>(rest),
        3 => decode_and_round_trip::<ConfChange>(rest),
        _ => match KvCommand::decode(rest) {
            Ok(command) => {
                assert_eq!(
                    &command.encode()[..],
                    rest,
                    "encode(decode(x)) == x, byte for byte"
                );
            }
            Err(err) => check_error_offset(&err, rest.len()),
        },
    }
}

/// Checks one `scan_frame` answer against the buffer it came from.
fn check_scan(rest: &[u8], scan: &FrameScan<'_>) {
    match scan {
        FrameScan::Record {
            kind,
            payload,
            frame_len,
        } => {
            assert_ne!(*kind, 0, "kind 0 is the end marker");
            assert_eq!(*frame_len, frame::frame_len(payload.len()));
            assert!(*frame_len <= rest.len());
            let mut encoded = Vec::new();
            frame::encode_frame(*kind, payload, &mut encoded);
            assert_eq!(&encoded[..], &rest[..*frame_len], "re-encoding is stable");
        }
        FrameScan::End => {
            let header = &rest[..rest.len().min(FRAME_HEADER_LEN)];
            assert!(frame::is_zero(header), "End only at zeros or the end");
        }
        FrameScan::Bad { claimed_end, .. } => {
            assert!(
                *claimed_end <= rest.len(),
                "claimed_end clamped to the buffer"
            );
            assert!(*claimed_end > 0);
        }
    }
}

/// Scans every frame of `buf` in order, checking each answer; returns the records read and
/// the offset where scanning stopped.
fn scan_all(buf: &[u8]) -> (Vec<(u8, Vec<u8>)>, usize) {
    let mut records = Vec::new();
    let mut pos = 0;
    // Every record takes at least a header, so this bounds the loop.
    for _ in 0..=buf.len() / FRAME_HEADER_LEN {
        let scan = frame::scan_frame(&buf[pos..]);
        check_scan(&buf[pos..], &scan);
        match scan {
            FrameScan::Record {
                kind,
                payload,
                frame_len,
            } => {
                records.push((kind, payload.to_vec()));
                pos += frame_len;
            }
            FrameScan::End | FrameScan::Bad { .. } => break,
        }
    }
    (records, pos)
}

/// Records described by fuzz input: `kind` (forced non-zero), `len`, `len` payload bytes.
fn read_records(r: &mut ByteReader<'_>, max: usize) -> Vec<(u8, Vec<u8>)> {
    let mut records = Vec::new();
    while records.len() < max && !r.is_empty() {
        let kind = r.u8().max(1);
        let len = usize::from(r.u8());
        records.push((kind, r.take(len).to_vec()));
    }
    records
}

fn encode_records(records: &[(u8, Vec<u8>)], out: &mut Vec<u8>) -> Vec<usize> {
    records
        .iter()
        .map(|(kind, payload)| {
            frame::encode_frame(*kind, payload, out);
            out.len()
        })
        .collect()
}

/// How a structured input damages the bytes it encoded.
enum Damage {
    None,
    FlipBit(usize),
    Truncate(usize),
}

fn read_damage(r: &mut ByteReader<'_>) -> Damage {
    let what = r.u8();
    let at = usize::from(r.u16());
    match what % 3 {
        0 => Damage::None,
        1 => Damage::FlipBit(at),
        _ => Damage::Truncate(at),
    }
}

/// `raft_kv_frame`: the WAL record frame. An even first byte scans the rest as raw bytes;
/// an odd one reads a damage and a list of records, encodes them, damages the encoding
/// (one flipped bit, or a cut) and checks the scan finds exactly the intact records.
pub fn wal_frame(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        let _ = scan_all(data);
        return;
    };
    if mode % 2 == 0 {
        let _ = scan_all(rest);
        return;
    }
    let mut r = ByteReader::new(rest);
    let damage = read_damage(&mut r);
    let zeros = usize::from(r.u8());
    let records = read_records(&mut r, 32);
    let mut buf = Vec::new();
    let ends = encode_records(&records, &mut buf);
    let written = buf.len();
    buf.resize(written + zeros, 0);
    let intact = match damage {
        Damage::None => records.len(),
        Damage::FlipBit(at) if written > 0 => {
            let at = at % (written * 8);
            buf[at / 8] ^= 1 << (at % 8);
            // The record holding the flipped bit, and every one after it, is lost.
            ends.iter().take_while(|&&end| end <= at / 8).count()
        }
        Damage::FlipBit(_) => 0,
        Damage::Truncate(at) => {
            let at = at % (buf.len() + 1);
            buf.truncate(at);
            ends.iter().take_while(|&&end| end <= at).count()
        }
    };
    let (found, _) = scan_all(&buf);
    assert_eq!(
        &found[..],
        &records[..intact],
        "scan returns exactly the intact records"
    );
}

/// The segment header `scan_segment` expects for segment `seq`: magic, seq, CRC32C.
pub fn segment_header(seq: u64) -> Vec<u8> {
    let mut header = Vec::with_capacity(SEGMENT_HEADER_LEN as usize);
    header.extend_from_slice(b"HKWALv01");
    header.extend_from_slice(&seq.to_le_bytes());
    let crc = crc32c::crc32c(&header);
    header.extend_from_slice(&crc.to_le_bytes());
    header
}

/// Where this thread keeps its scratch files: in memory if `/dev/shm` exists, named by
/// process and thread so parallel tests and fuzz jobs never share one.
fn scratch_path(what: &str) -> PathBuf {
    static NEXT_THREAD: AtomicU64 = AtomicU64::new(0);
    thread_local! {
        static THREAD: u64 = NEXT_THREAD.fetch_add(1, Ordering::Relaxed);
    }
    let shm = std::path::Path::new("/dev/shm");
    let base = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    let thread = THREAD.with(|t| *t);
    base.join(format!("hakit-fuzz-{what}-{}-{thread}", std::process::id()))
}

/// Removes the calling thread's scratch files (the fuzz targets leave theirs: libFuzzer
/// exits without running destructors; they are a few bytes in `/dev/shm`).
pub fn remove_scratch_files() {
    let _ = std::fs::remove_file(scratch_path("segment"));
    let _ = std::fs::remove_dir_all(scratch_path("snapshot"));
}

/// `raft_kv_segment`: recovery's scan of one WAL segment file, driven from bytes written to
/// a scratch file. Input: `flags` (bit 0: prepend a valid header, bit 1: the segment is the
/// last one, bit 2: the rest is records to encode rather than raw bytes), then the body.
/// Checks that every record returned re-encodes to the bytes at its offset, that records
/// tile the file from the header to `end`, that only zeros follow `end` unless a torn tail
/// is reported (last segment only), and that encoded records come back unchanged.
pub fn wal_segment(data: &[u8]) {
    const SEQ: u64 = 7;
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let with_header = flags & 1 != 0;
    let is_last = flags & 2 != 0;
    let structured = flags & 4 != 0;
    let mut file = Vec::new();
    if with_header {
        file.extend_from_slice(&segment_header(SEQ));
    }
    let mut r = ByteReader::new(rest);
    let encoded = if structured {
        let damage = read_damage(&mut r);
        let zeros = usize::from(r.u8());
        let records = read_records(&mut r, 32);
        encode_records(&records, &mut file);
        file.resize(file.len() + zeros, 0);
        Some((records, damage))
    } else {
        file.extend_from_slice(rest);
        None
    };
    let header_len = SEGMENT_HEADER_LEN as usize;
    if let Some((_, Damage::FlipBit(at))) = &encoded
        && file.len() > header_len
    {
        let at = at % ((file.len() - header_len) * 8);
        file[header_len + at / 8] ^= 1 << (at % 8);
    }
    if let Some((_, Damage::Truncate(at))) = &encoded {
        file.truncate(
            header_len.min(file.len()) + at % (file.len().saturating_sub(header_len) + 1),
        );
    }
    let path = scratch_path("segment");
    std::fs::write(&path, &file).expect("write scratch segment");
    let scanned = scan_segment(&path, SEQ, is_last);
    let _ = std::fs::remove_file(&path);
    let Ok(segment) = scanned else {
        return;
    };
    assert!(file.len() >= header_len && file[..header_len] == segment_header(SEQ)[..]);
    let mut pos = header_len;
    for record in &segment.records {
        assert_eq!(record.offset, pos as u64, "records tile the segment");
        let mut again = Vec::new();
        frame::encode_frame(record.kind, &record.payload, &mut again);
        assert_eq!(
            &file[pos..pos + again.len()],
            &again[..],
            "record re-encodes"
        );
        pos += again.len();
    }
    assert_eq!(segment.end, pos as u64, "end is just past the last record");
    match &segment.torn {
        None => assert!(frame::is_zero(&file[pos..]), "only zeros after the end"),
        Some(torn) => {
            assert!(is_last, "a torn tail only in the last segment");
            assert_eq!(torn.offset, segment.end);
        }
    }
    if let Some((records, Damage::None)) = &encoded {
        let found: Vec<_> = segment
            .records
            .iter()
            .map(|r| (r.kind, r.payload.clone()))
            .collect();
        assert_eq!(&found, records, "undamaged records come back unchanged");
        assert!(segment.torn.is_none());
    }
}

/// Polls a future that can never wait (it reads from a byte slice) to completion.
fn complete<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    match future.as_mut().poll(&mut cx) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("a read from a byte slice waited"),
    }
}

/// What `read_handshake` must make of `data`, worked out from the layout in
/// `raft_kv::transport::wire`'s docs: `Ok(len)` for a valid handshake of `len` bytes, or
/// the error. The reader takes magic and version first, then the rest of the header and
/// the family byte, then the address and port.
fn expected_handshake(data: &[u8]) -> Result<usize, Error> {
    let truncated = |expected: usize| Error::TruncatedHandshake {
        received: data.len(),
        expected,
    };
    if data.len() < 7 {
        return Err(truncated(7));
    }
    if &data[..6] != b"HKRAFT" {
        return Err(Error::BadHandshake);
    }
    if data[6] != wire::WIRE_VERSION {
        return Err(Error::UnsupportedWireVersion {
            version: data[6],
            supported: wire::WIRE_VERSION,
        });
    }
    let header = wire::HANDSHAKE_HEADER_LEN;
    if data.len() < header + 1 {
        return Err(truncated(header + 1));
    }
    if data[7] != 0 || data[8..header].iter().all(|&b| b == 0) {
        return Err(Error::BadHandshake);
    }
    let len = match data[header] {
        0 => header + 1,
        4 => header + 1 + 4 + 2,
        6 => header + 1 + 16 + 2,
        _ => return Err(Error::BadHandshake),
    };
    if data.len() < len {
        return Err(truncated(len));
    }
    Ok(len)
}

/// `raft_kv_wire`: the peer connection as it arrives: the handshake, then frames until the
/// stream ends or a frame is refused. Checks the handshake is accepted or refused exactly
/// as its layout says (a reference reading of the bytes: another version is
/// `UnsupportedWireVersion` naming both, a cut one `TruncatedHandshake` saying how far it
/// got, an unknown address family `BadHandshake`), an accepted one re-encodes to its bytes
/// and leaves the reader just past them; every accepted frame consumed exactly its length
/// prefix plus the announced length and holds a message that round-trips through
/// `encode_frame`; the stream ends cleanly only with nothing left, and a stream ending
/// inside a frame is `Truncated`.
pub fn wire_stream(data: &[u8]) {
    // A small limit so that fuzz inputs can reach the "too large" path.
    const MAX_FRAME: usize = 1 << 12;
    let mut reader = data;
    match (
        complete(wire::read_handshake(&mut reader)),
        expected_handshake(data),
    ) {
        (Ok(handshake), Ok(len)) => {
            assert_ne!(handshake.from, 0);
            assert_eq!(
                &data[..len],
                &wire::encode_handshake(handshake.from, handshake.advertised)[..]
            );
            assert_eq!(reader.len(), data.len() - len, "the reader stops after it");
        }
        (Err(got), Err(expected)) => {
            let same = match (&got, &expected) {
                (Error::BadHandshake, Error::BadHandshake) => true,
                (
                    Error::UnsupportedWireVersion { version, supported },
                    Error::UnsupportedWireVersion {
                        version: v,
                        supported: s,
                    },
                ) => (version, supported) == (v, s),
                (
                    Error::TruncatedHandshake { received, expected },
                    Error::TruncatedHandshake {
                        received: r,
                        expected: e,
                    },
                ) => (received, expected) == (r, e),
                _ => false,
            };
            assert!(
                same,
                "read_handshake gave {got:?}, the layout says {expected:?}"
            );
            // Also try the frame reader on streams without a handshake.
            reader = data
                .get(wire::HANDSHAKE_HEADER_LEN.min(data.len())..)
                .unwrap_or(&[]);
        }
        (got, expected) => panic!("read_handshake gave {got:?}, the layout says {expected:?}"),
    }
    let mut buf = Vec::new();
    for _ in 0..=data.len() / 4 {
        let before = reader.len();
        match complete(wire::read_frame(&mut reader, MAX_FRAME, &mut buf)) {
            Ok(Some(message)) => {
                let consumed = before - reader.len();
                let announced = u32::from_le_bytes(
                    data[data.len() - before..][..4]
                        .try_into()
                        .expect("four bytes"),
                ) as usize;
                assert_eq!(consumed, 4 + announced);
                let mut out = BytesMut::new();
                wire::encode_frame(&message, &mut out);
                let mut again: &[u8] = &out;
                let decoded = complete(wire::read_frame(&mut again, usize::MAX, &mut Vec::new()))
                    .expect("re-encoded frame reads back");
                assert_eq!(decoded.as_ref(), Some(&message));
                assert!(again.is_empty());
            }
            Ok(None) => {
                assert_eq!(before, 0, "a clean end only between frames");
                break;
            }
            Err(Error::TruncatedFrame {
                received, expected, ..
            }) => {
                assert!(received < expected && received <= before);
                break;
            }
            Err(_) => break,
        }
    }
}

/// The snapshot file's payload (inside the checked-file wrapper) for `stored`, in the
/// format `SnapshotFile::save` writes.
pub fn encode_snapshot_payload(stored: &StoredSnapshot) -> Vec<u8> {
    let meta = stored.snapshot.meta.to_bytes();
    let mut out = Vec::new();
    out.extend_from_slice(&u32::MAX.to_le_bytes());
    out.extend_from_slice(&SNAPSHOT_FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(meta.len() as u32).to_le_bytes());
    out.extend_from_slice(&meta);
    out.extend_from_slice(&stored.discard_before.0.to_le_bytes());
    out.extend_from_slice(&stored.discard_before.1.to_le_bytes());
    out.extend_from_slice(&stored.snapshot.data);
    out
}

/// `payload` wrapped as `write_atomically` writes it: magic, length, CRC32C.
pub fn wrap_checked_file(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(20 + payload.len());
    out.extend_from_slice(b"HKFILEv1");
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&crc32c::crc32c(payload).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

thread_local! {
    /// One snapshot directory per thread, opened once (opening syncs directories).
    static SNAPSHOTS: SnapshotFile =
        SnapshotFile::open(&scratch_path("snapshot")).expect("open scratch snapshot directory");
}

fn load_snapshot_file(file: &[u8]) -> Option<StoredSnapshot> {
    SNAPSHOTS.with(|snapshots| {
        std::fs::write(snapshots.path(), file).expect("write scratch snapshot");
        snapshots.load().ok().flatten()
    })
}

/// `raft_kv_snapshot_file`: `SnapshotFile::load`. An odd first byte wraps the rest in a
/// valid checked-file header (so the snapshot decoder behind the checksum is reached), an
/// even one writes the rest as the whole file. A loaded snapshot, written back in the same
/// format, must load to the same value, and that encoding must be stable.
pub fn snapshot_file(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let file = if mode % 2 == 1 {
        wrap_checked_file(rest)
    } else {
        rest.to_vec()
    };
    let Some(stored) = load_snapshot_file(&file) else {
        return;
    };
    let payload = encode_snapshot_payload(&stored);
    // A version-0 file lacks the 8-byte version header and the (empty) member context
    // count, which rewriting it in the current format adds.
    let version_0 = file.get(20..24).is_some_and(|first| first != [0xff; 4]);
    let growth = if version_0 { 9 } else { 0 };
    assert!(
        payload.len() <= file.len() + growth,
        "canonical form is never longer"
    );
    let again = load_snapshot_file(&wrap_checked_file(&payload)).expect("re-encoded loads");
    assert_eq!(again, stored, "decode(encode(x)) == x");
    assert_eq!(
        encode_snapshot_payload(&again),
        payload,
        "re-encoding is stable"
    );
}

/// `raft_kv_state_machines`: the two key-value state machines' command and snapshot
/// decoders. First byte: 0 `KvMachine::restore`, 1 `KvStateMachine::restore`, 2
/// `KvMachine::apply`, 3 `KvStateMachine::apply`. A restored machine's snapshot must
/// restore to the same machine and snapshot again to the same bytes; an applied put must
/// be readable back.
pub fn state_machines(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let snapshot = |data: Bytes| Snapshot {
        meta: SnapshotMeta {
            index: 5,
            ..SnapshotMeta::default()
        },
        data,
    };
    match selector % 4 {
        0 => restore_round_trip::<KvMachine>(rest, snapshot),
        1 => restore_round_trip::<KvStateMachine>(rest, snapshot),
        2 => {
            let mut machine = KvMachine::default();
            if machine.apply(1, rest) {
                let len = u32::from_le_bytes(rest[..4].try_into().expect("four bytes")) as usize;
                let (key, value) = rest[4..].split_at(len);
                assert_eq!(machine.get(key).map(|v| &v[..]), Some(value));
                assert_eq!(encode_put(key, value), rest, "re-encoding is stable");
            }
        }
        _ => {
            let mut machine = KvStateMachine::default();
            let response = machine.apply(1, rest);
            let mut check = KvStateMachine::default();
            match KvCommand::decode(rest) {
                Ok(command) => {
                    assert_eq!(response.request_id, command.request_id);
                    assert_eq!(response.previous, None, "nothing before the first put");
                    let again = check.apply(1, &command.encode());
                    assert_eq!(again, response);
                    assert_eq!(check, machine);
                }
                Err(_) => assert_eq!(response.request_id, 0),
            }
        }
    }
}

fn restore_round_trip<M>(data: &[u8], snapshot: impl Fn(Bytes) -> Snapshot)
where
    M: StateMachine + Default + PartialEq + Debug,
{
    let mut machine = M::default();
    if machine
        .restore(&snapshot(Bytes::copy_from_slice(data)))
        .is_err()
    {
        return;
    }
    let bytes = machine.snapshot();
    let mut again = M::default();
    again
        .restore(&snapshot(bytes.clone()))
        .expect("a machine's own snapshot restores");
    assert_eq!(again, machine, "decode(encode(x)) == x");
    assert_eq!(again.snapshot(), bytes, "re-encoding is stable");
}
