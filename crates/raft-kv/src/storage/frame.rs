//! Record framing inside a log segment.
//!
//! ```text
//! +-------------+----------+--------------------+---------------------+-----------+
//! | len: u32 LE | kind: u8 | header_crc: u32 LE | payload_crc: u32 LE | payload   |
//! +-------------+----------+--------------------+---------------------+-----------+
//! header_crc  = CRC32C(len bytes ++ kind)
//! payload_crc = CRC32C(payload)
//! ```
//!
//! The header has its own checksum so that a damaged length is caught before
//! it is believed: otherwise one flipped bit in a length could make the reader
//! take several intact records for one long torn record and cut them off as a
//! "torn tail". With a trusted header, the frame's end is known, and a torn
//! write is recognisable: a damaged frame followed only by zeros.
//!
//! Kind 0 is reserved: a header of zero bytes marks the end of written data,
//! which is how the reader tells preallocated (zero-filled) space from records.

/// Bytes before the payload: length, kind and the two checksums.
pub const FRAME_HEADER_LEN: usize = 13;

/// Largest payload a record may carry. Snapshots are kept in their own files,
/// so log records stay well under this.
pub const MAX_RECORD_LEN: usize = 64 << 20;

/// What the reader found at one position of a segment.
#[derive(Debug, PartialEq, Eq)]
pub enum FrameScan<'a> {
    /// A record whose checksums hold.
    Record {
        /// The record's kind (never 0).
        kind: u8,
        /// The record's payload.
        payload: &'a [u8],
        /// Bytes the whole frame occupies.
        frame_len: usize,
    },
    /// No more records: end of the buffer, or zero-filled preallocated space.
    End,
    /// Something that is neither a record nor zeros.
    Bad {
        /// Which check failed.
        reason: &'static str,
        /// Where the damaged frame ends as far as can be trusted (clamped to
        /// the buffer): the header's end if the header is damaged, the
        /// payload's end otherwise. Non-zero bytes after this point mean the
        /// damage is not a torn final write.
        claimed_end: usize,
    },
}

/// Appends one framed record to `out`.
pub fn encode_frame(kind: u8, payload: &[u8], out: &mut Vec<u8>) {
    debug_assert!(kind != 0, "kind 0 is reserved for the end marker");
    debug_assert!(payload.len() <= MAX_RECORD_LEN);
    let len = (payload.len() as u32).to_le_bytes();
    out.extend_from_slice(&len);
    out.push(kind);
    out.extend_from_slice(&header_crc(len, kind).to_le_bytes());
    out.extend_from_slice(&crc32c::crc32c(payload).to_le_bytes());
    out.extend_from_slice(payload);
}

/// Bytes a record with `payload_len` bytes of payload occupies.
pub fn frame_len(payload_len: usize) -> usize {
    FRAME_HEADER_LEN + payload_len
}

fn header_crc(len: [u8; 4], kind: u8) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&len), &[kind])
}

fn read_u32(bytes: &[u8]) -> u32 {
    u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

/// Reads the frame starting at the beginning of `buf`.
pub fn scan_frame(buf: &[u8]) -> FrameScan<'_> {
    if buf.is_empty() {
        return FrameScan::End;
    }
    if buf.len() < FRAME_HEADER_LEN {
        if is_zero(buf) {
            return FrameScan::End;
        }
        return FrameScan::Bad {
            reason: "short frame header",
            claimed_end: buf.len(),
        };
    }
    let header = &buf[..FRAME_HEADER_LEN];
    if is_zero(header) {
        return FrameScan::End;
    }
    let len_bytes = [header[0], header[1], header[2], header[3]];
    let kind = header[4];
    let bad_header = |reason| FrameScan::Bad {
        reason,
        claimed_end: FRAME_HEADER_LEN,
    };
    if header_crc(len_bytes, kind) != read_u32(&header[5..9]) {
        return bad_header("record header checksum mismatch");
    }
    if kind == 0 {
        return bad_header("record of reserved kind 0");
    }
    let len = u32::from_le_bytes(len_bytes) as usize;
    if len > MAX_RECORD_LEN {
        return bad_header("record length beyond limit");
    }
    let end = FRAME_HEADER_LEN + len;
    if end > buf.len() {
        return FrameScan::Bad {
            reason: "record runs past end of file",
            claimed_end: buf.len(),
        };
    }
    let payload = &buf[FRAME_HEADER_LEN..end];
    if crc32c::crc32c(payload) != read_u32(&header[9..13]) {
        return FrameScan::Bad {
            reason: "record payload checksum mismatch",
            claimed_end: end,
        };
    }
    FrameScan::Record {
        kind,
        payload,
        frame_len: end,
    }
}

/// True when every byte is zero.
pub fn is_zero(buf: &[u8]) -> bool {
    buf.iter().all(|&b| b == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_end_marker() {
        let mut buf = Vec::new();
        encode_frame(3, b"hello", &mut buf);
        encode_frame(4, b"", &mut buf);
        buf.extend_from_slice(&[0u8; 32]);
        let FrameScan::Record {
            kind,
            payload,
            frame_len,
        } = scan_frame(&buf)
        else {
            panic!("first record unreadable");
        };
        assert_eq!((kind, payload), (3, &b"hello"[..]));
        let rest = &buf[frame_len..];
        let FrameScan::Record {
            kind, frame_len, ..
        } = scan_frame(rest)
        else {
            panic!("second record unreadable");
        };
        assert_eq!(kind, 4);
        assert_eq!(scan_frame(&rest[frame_len..]), FrameScan::End);
    }

    #[test]
    fn every_single_bit_flip_is_detected() {
        let mut clean = Vec::new();
        encode_frame(7, b"payload bytes", &mut clean);
        for byte in 0..clean.len() {
            for bit in 0..8 {
                let mut damaged = clean.clone();
                damaged[byte] ^= 1 << bit;
                assert!(
                    !matches!(scan_frame(&damaged), FrameScan::Record { .. }),
                    "flip of bit {bit} in byte {byte} went unnoticed"
                );
            }
        }
    }
}
