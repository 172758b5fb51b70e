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

use crate::raft::{Codec, Message, NodeId};

const HANDSHAKE_MAGIC: [u8; 6] = *b"HKRAFT";
/// Version 2: snapshot metadata carries the members' contexts (their peer addresses).
const WIRE_VERSION: u8 = 2;
/// Bytes of the handshake.
pub const HANDSHAKE_LEN: usize = 16;

/// Why a connection was refused or closed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The socket failed or closed mid-frame.
    #[error("connection error: {0}")]
    Io(#[from] std::io::Error),
    /// The peer did not open with a valid handshake.
    #[error("bad handshake from peer")]
    BadHandshake,
    /// A frame announced more bytes than allowed.
    #[error("frame of {len} bytes exceeds the limit of {max}")]
    FrameTooLarge {
        /// Announced length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A frame did not decode to a message.
    #[error("undecodable message: {0}")]
    Decode(#[from] crate::raft::DecodeError),
}

/// Encodes the handshake of a connection from `from`.
pub fn encode_handshake(from: NodeId) -> [u8; HANDSHAKE_LEN] {
    let mut out = [0u8; HANDSHAKE_LEN];
    out[..6].copy_from_slice(&HANDSHAKE_MAGIC);
    out[6] = WIRE_VERSION;
    out[8..].copy_from_slice(&from.to_le_bytes());
    out
}

/// Reads and checks a handshake; returns the sender's id.
pub async fn read_handshake<R: AsyncRead + Unpin>(reader: &mut R) -> Result<NodeId, WireError> {
    let mut buf = [0u8; HANDSHAKE_LEN];
    reader.read_exact(&mut buf).await?;
    if buf[..6] != HANDSHAKE_MAGIC || buf[6] != WIRE_VERSION || buf[7] != 0 {
        return Err(WireError::BadHandshake);
    }
    let mut id = [0u8; 8];
    id.copy_from_slice(&buf[8..]);
    let from = u64::from_le_bytes(id);
    if from == 0 {
        return Err(WireError::BadHandshake);
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
pub async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
    max_len: usize,
    buf: &mut Vec<u8>,
) -> Result<Option<Message>, WireError> {
    let mut len = [0u8; 4];
    match reader.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let len = u32::from_le_bytes(len) as usize;
    if len > max_len {
        return Err(WireError::FrameTooLarge { len, max: max_len });
    }
    buf.clear();
    buf.resize(len, 0);
    reader.read_exact(buf).await?;
    Ok(Some(Message::decode(buf)?))
}
