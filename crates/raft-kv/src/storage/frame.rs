//! Record framing inside a log segment.
//!
//! ```text
//! +-------------+-------------+----------+-----------------+
//! | len: u32 LE | crc: u32 LE | kind: u8 | payload (len B) |
//! +-------------+-------------+----------+-----------------+
//! crc = CRC32C(len bytes ++ kind ++ payload)
//! ```
//!
//! The checksum covers the length too, so a damaged length field is caught
//! rather than read as a different record boundary. Kind 0 is reserved: a
//! header of nine zero bytes marks the end of written data, which is how the
//! reader tells preallocated (zero-filled) space from records.

/// Bytes before the payload: length, checksum and kind.
pub const FRAME_HEADER_LEN: usize = 9;

/// Largest payload a record may carry. Snapshots are kept in their own files,
/// so log records stay well under this.
pub const MAX_RECORD_LEN: usize = 64 << 20;

/// What the reader found at one position of a segment.
#[derive(Debug, PartialEq, Eq)]
pub enum FrameScan<'a> {
    /// A record whose checksum holds.
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
        /// Where the damaged frame claims to end (clamped to the buffer); bytes
        /// after this point decide whether the damage is a torn tail.
        claimed_end: usize,
    },
}

/// Appends one framed record to `out`.
pub fn encode_frame(kind: u8, payload: &[u8], out: &mut Vec<u8>) {
    debug_assert!(kind != 0, "kind 0 is reserved for the end marker");
    debug_assert!(payload.len() <= MAX_RECORD_LEN);
    let len = (payload.len() as u32).to_le_bytes();
    let crc = frame_crc(len, kind, payload);
    out.extend_from_slice(&len);
    out.extend_from_slice(&crc.to_le_bytes());
    out.push(kind);
    out.extend_from_slice(payload);
}

/// Bytes a record with `payload_len` bytes of payload occupies.
pub fn frame_len(payload_len: usize) -> usize {
    FRAME_HEADER_LEN + payload_len
}

fn frame_crc(len: [u8; 4], kind: u8, payload: &[u8]) -> u32 {
    let crc = crc32c::crc32c(&len);
    let crc = crc32c::crc32c_append(crc, &[kind]);
    crc32c::crc32c_append(crc, payload)
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
    let len = u32::from_le_bytes(len_bytes) as usize;
    let stored_crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    let kind = header[8];
    if len > MAX_RECORD_LEN {
        return FrameScan::Bad {
            reason: "record length beyond limit",
            claimed_end: FRAME_HEADER_LEN,
        };
    }
    let end = FRAME_HEADER_LEN + len;
    if end > buf.len() {
        return FrameScan::Bad {
            reason: "record runs past end of file",
            claimed_end: buf.len(),
        };
    }
    let payload = &buf[FRAME_HEADER_LEN..end];
    if frame_crc(len_bytes, kind, payload) != stored_crc {
        return FrameScan::Bad {
            reason: "record checksum mismatch",
            claimed_end: end,
        };
    }
    if kind == 0 {
        return FrameScan::Bad {
            reason: "record of reserved kind 0",
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
