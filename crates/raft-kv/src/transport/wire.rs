//! The peer wire format.
//!
//! A connection carries messages one way, from the dialing node to the
//! accepting one. It opens with a handshake naming the sender, then carries
//! length-prefixed frames, each one message in the core's binary codec:
//!
//! ```text
//! handshake: magic "HKRAFT" | version: u8 | reserved: u8 | from: u64 LE
//! frame:     len: u32 LE | Message (raft codec, len bytes)
//! ```
//!
//! TCP already checksums the bytes in flight, so frames carry no CRC; a frame
//! that does not decode closes the connection.

use bytes::{BufMut, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::error::{Error, Result};
use crate::raft::{Codec, Message, NodeId};

const HANDSHAKE_MAGIC: [u8; 6] = *b"HKRAFT";
/// Version 2: snapshot metadata carries the members' contexts (their peer addresses).
const WIRE_VERSION: u8 = 2;
/// Bytes of the handshake.
pub const HANDSHAKE_LEN: usize = 16;

/// Encodes the handshake of a connection from `from`.
pub fn encode_handshake(from: NodeId) -> [u8; HANDSHAKE_LEN] {
    let mut out = [0u8; HANDSHAKE_LEN];
    out[..6].copy_from_slice(&HANDSHAKE_MAGIC);
    out[6] = WIRE_VERSION;
    out[8..].copy_from_slice(&from.to_le_bytes());
    out
}

/// Reads and checks a handshake; returns the sender's id.
pub async fn read_handshake<R: AsyncRead + Unpin>(reader: &mut R) -> Result<NodeId> {
    let mut buf = [0u8; HANDSHAKE_LEN];
    reader.read_exact(&mut buf).await.map_err(Error::Network)?;
    if buf[..6] != HANDSHAKE_MAGIC || buf[6] != WIRE_VERSION || buf[7] != 0 {
        return Err(Error::BadHandshake);
    }
    let mut id = [0u8; 8];
    id.copy_from_slice(&buf[8..]);
    let from = u64::from_le_bytes(id);
    if from == 0 {
        return Err(Error::BadHandshake);
    }
    Ok(from)
}

/// Appends one framed message to `out`.
pub fn encode_frame(message: &Message, out: &mut BytesMut) {
    let start = out.len();
    out.put_u32_le(0);
    message.encode(out);
    let len = (out.len() - start - 4) as u32;
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
}

/// Reads one framed message; `Ok(None)` on a clean end of stream between frames.
/// A stream that ends anywhere inside a frame, even one byte into its length
/// prefix, is [`Error::TruncatedFrame`].
pub async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
    max_len: usize,
    buf: &mut Vec<u8>,
) -> Result<Option<Message>> {
    let mut len = [0u8; 4];
    match read_full(reader, &mut len).await.map_err(Error::Network)? {
        0 => return Ok(None),
        4 => {}
        received => {
            return Err(Error::TruncatedFrame {
                part: "length prefix",
                received,
                expected: 4,
            });
        }
    }
    let len = u32::from_le_bytes(len) as usize;
    if len > max_len {
        return Err(Error::FrameTooLarge { len, max: max_len });
    }
    buf.clear();
    buf.resize(len, 0);
    let received = read_full(reader, buf).await.map_err(Error::Network)?;
    if received < len {
        return Err(Error::TruncatedFrame {
            part: "message",
            received,
            expected: len,
        });
    }
    Ok(Some(Message::decode(buf)?))
}

/// Fills `buf` unless the stream ends first; returns how many bytes were read.
async fn read_full<R: AsyncRead + Unpin>(reader: &mut R, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]).await {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft::MessageBody;

    fn frame() -> Vec<u8> {
        let message = Message {
            from: 1,
            to: 2,
            term: 3,
            body: MessageBody::TimeoutNow,
        };
        let mut out = BytesMut::new();
        encode_frame(&message, &mut out);
        out.to_vec()
    }

    async fn read_all(mut stream: &[u8]) -> (usize, Result<Option<Message>>) {
        let mut frames = 0;
        let mut buf = Vec::new();
        loop {
            match read_frame(&mut stream, 1 << 20, &mut buf).await {
                Ok(Some(_)) => frames += 1,
                end => return (frames, end),
            }
        }
    }

    #[tokio::test]
    async fn an_empty_stream_ends_cleanly() {
        assert!(matches!(read_all(&[]).await, (0, Ok(None))));
        let one = frame();
        assert!(matches!(read_all(&one).await, (1, Ok(None))));
    }

    #[tokio::test]
    async fn a_stream_ending_inside_a_length_prefix_is_truncated() {
        for cut in 1..4 {
            let mut stream = frame();
            stream.extend_from_slice(&frame()[..cut]);
            match read_all(&stream).await {
                (
                    1,
                    Err(Error::TruncatedFrame {
                        part: "length prefix",
                        received,
                        expected: 4,
                    }),
                ) => assert_eq!(received, cut),
                other => panic!("cut after {cut} bytes: {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn a_stream_ending_inside_a_message_is_truncated() {
        let whole = frame();
        for cut in 4..whole.len() {
            match read_all(&whole[..cut]).await {
                (
                    0,
                    Err(Error::TruncatedFrame {
                        part: "message",
                        received,
                        expected,
                    }),
                ) => assert_eq!((received, expected), (cut - 4, whole.len() - 4)),
                other => panic!("cut after {cut} bytes: {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn a_length_prefix_cut_across_reads_is_reassembled() {
        // A duplex pipe delivers the prefix a byte at a time.
        let (mut tx, mut rx) = tokio::io::duplex(1);
        let whole = frame();
        let writer = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            for byte in whole {
                tx.write_all(&[byte]).await.expect("write");
            }
        });
        let mut buf = Vec::new();
        let message = read_frame(&mut rx, 1 << 20, &mut buf).await.expect("frame");
        assert!(matches!(
            message,
            Some(Message {
                body: MessageBody::TimeoutNow,
                ..
            })
        ));
        writer.await.expect("writer");
        assert!(matches!(
            read_frame(&mut rx, 1 << 20, &mut buf).await,
            Ok(None)
        ));
    }
}
