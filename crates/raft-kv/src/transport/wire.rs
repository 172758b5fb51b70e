//! The peer wire format.
//!
//! A connection carries messages one way, from the dialing node to the
//! accepting one. It opens with a handshake naming the sender and, when it has
//! one, the address it listens on for peers (so that the acceptor can dial
//! back a node it has no address for), then carries length-prefixed frames,
//! each one message in the core's binary codec:
//!
//! ```text
//! handshake: magic "HKRAFT" | version: u8 | reserved: u8 = 0 | from: u64 LE | advertised
//! advertised: family: u8 = 0        (no address)
//!           | family: u8 = 4 | IPv4: 4 bytes  | port: u16 LE
//!           | family: u8 = 6 | IPv6: 16 bytes | port: u16 LE
//! frame:     len: u32 LE | Message (raft codec, len bytes)
//! ```
//!
//! The address is binary, not text, so that each one has exactly one encoding
//! (an IPv6 scope or flow label is not carried). The version is read before
//! anything after it, so a peer of another version is refused with
//! [`Error::UnsupportedWireVersion`] naming both versions, never misread. What
//! the acceptor does with an advertised address, and why it never lets one
//! replace an address it knows, is in the [transport's docs](super).
//!
//! TCP already checksums the bytes in flight, so frames carry no CRC; a frame
//! that does not decode closes the connection.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use bytes::{BufMut, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::error::{Error, Result};
use crate::raft::{Codec, Message, NodeId};

const HANDSHAKE_MAGIC: [u8; 6] = *b"HKRAFT";
/// The peer wire version this build speaks (and the only one it accepts).
///
/// - 2: snapshot metadata carries the members' contexts (their peer addresses).
/// - 3: the handshake carries the dialer's advertised peer address.
pub const WIRE_VERSION: u8 = 3;
/// Bytes of the handshake's fixed part: magic, version, reserved byte, sender id.
pub const HANDSHAKE_HEADER_LEN: usize = 16;
/// Bytes of the longest handshake (one advertising an IPv6 address).
pub const HANDSHAKE_MAX_LEN: usize = HANDSHAKE_HEADER_LEN + 1 + 16 + 2;

const FAMILY_NONE: u8 = 0;
const FAMILY_IPV4: u8 = 4;
const FAMILY_IPV6: u8 = 6;

/// What a connection's handshake says about the node that dialed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handshake {
    /// The dialer's node id (never 0).
    pub from: NodeId,
    /// Where the dialer accepts peer connections, if it said.
    pub advertised: Option<SocketAddr>,
}

/// Encodes the handshake of a connection from `from`, which listens for peers
/// at `advertised` (if given). An IPv6 address loses its scope id and flow label.
pub fn encode_handshake(from: NodeId, advertised: Option<SocketAddr>) -> Vec<u8> {
    let mut out = Vec::with_capacity(HANDSHAKE_MAX_LEN);
    out.extend_from_slice(&HANDSHAKE_MAGIC);
    out.push(WIRE_VERSION);
    out.push(0);
    out.extend_from_slice(&from.to_le_bytes());
    match advertised {
        None => out.push(FAMILY_NONE),
        Some(addr) => {
            match addr.ip() {
                IpAddr::V4(ip) => {
                    out.push(FAMILY_IPV4);
                    out.extend_from_slice(&ip.octets());
                }
                IpAddr::V6(ip) => {
                    out.push(FAMILY_IPV6);
                    out.extend_from_slice(&ip.octets());
                }
            }
            out.extend_from_slice(&addr.port().to_le_bytes());
        }
    }
    out
}

/// Reads and checks a handshake.
///
/// The magic and the version are read first and checked before anything else,
/// so a handshake of another wire version is [`Error::UnsupportedWireVersion`]
/// whatever its layout. A stream that ends inside the handshake is
/// [`Error::TruncatedHandshake`] (the peer went away, or is not a peer);
/// anything else that is not a valid handshake (wrong magic, a reserved byte
/// that is not 0, sender 0, an unknown address family) is
/// [`Error::BadHandshake`].
pub async fn read_handshake<R: AsyncRead + Unpin>(reader: &mut R) -> Result<Handshake> {
    let mut buf = [0u8; HANDSHAKE_MAX_LEN];
    let mut have = 0;
    fill(reader, &mut buf, &mut have, HANDSHAKE_MAGIC.len() + 1).await?;
    if buf[..6] != HANDSHAKE_MAGIC {
        return Err(Error::BadHandshake);
    }
    if buf[6] != WIRE_VERSION {
        return Err(Error::UnsupportedWireVersion {
            version: buf[6],
            supported: WIRE_VERSION,
        });
    }
    fill(reader, &mut buf, &mut have, HANDSHAKE_HEADER_LEN + 1).await?;
    if buf[7] != 0 {
        return Err(Error::BadHandshake);
    }
    let mut id = [0u8; 8];
    id.copy_from_slice(&buf[8..HANDSHAKE_HEADER_LEN]);
    let from = u64::from_le_bytes(id);
    if from == 0 {
        return Err(Error::BadHandshake);
    }
    let family = buf[HANDSHAKE_HEADER_LEN];
    let address_len = match family {
        FAMILY_NONE => {
            return Ok(Handshake {
                from,
                advertised: None,
            });
        }
        FAMILY_IPV4 => 4,
        FAMILY_IPV6 => 16,
        _ => return Err(Error::BadHandshake),
    };
    let start = HANDSHAKE_HEADER_LEN + 1;
    fill(reader, &mut buf, &mut have, start + address_len + 2).await?;
    let address = &buf[start..start + address_len];
    let ip = if family == FAMILY_IPV4 {
        let mut octets = [0u8; 4];
        octets.copy_from_slice(address);
        IpAddr::V4(Ipv4Addr::from(octets))
    } else {
        let mut octets = [0u8; 16];
        octets.copy_from_slice(address);
        IpAddr::V6(Ipv6Addr::from(octets))
    };
    let port = u16::from_le_bytes([buf[start + address_len], buf[start + address_len + 1]]);
    Ok(Handshake {
        from,
        advertised: Some(SocketAddr::new(ip, port)),
    })
}

/// Reads `buf[*have..need]`, so that the handshake's first `need` bytes are
/// there; a stream that ends first is [`Error::TruncatedHandshake`].
async fn fill<R: AsyncRead + Unpin>(
    reader: &mut R,
    buf: &mut [u8; HANDSHAKE_MAX_LEN],
    have: &mut usize,
    need: usize,
) -> Result<()> {
    *have += read_full(reader, &mut buf[*have..need])
        .await
        .map_err(Error::Network)?;
    if *have < need {
        return Err(Error::TruncatedHandshake {
            received: *have,
            expected: need,
        });
    }
    Ok(())
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

    fn advertised_addresses() -> [Option<SocketAddr>; 3] {
        [
            None,
            Some("192.0.2.7:7001".parse().expect("IPv4")),
            Some("[2001:db8::7]:65535".parse().expect("IPv6")),
        ]
    }

    async fn read_one(mut stream: &[u8]) -> Result<Handshake> {
        read_handshake(&mut stream).await
    }

    #[tokio::test]
    async fn handshakes_round_trip_with_and_without_an_address() {
        for (advertised, len) in advertised_addresses().into_iter().zip([17, 23, 35]) {
            let mut stream = encode_handshake(u64::MAX, advertised);
            assert_eq!(stream.len(), len, "{advertised:?}");
            // The frames that follow are left for the frame reader.
            stream.extend_from_slice(&frame());
            let mut reader = &stream[..];
            let handshake = read_handshake(&mut reader).await.expect("handshake");
            assert_eq!(
                handshake,
                Handshake {
                    from: u64::MAX,
                    advertised
                }
            );
            assert_eq!(reader, &frame()[..]);
        }
    }

    #[tokio::test]
    async fn an_ipv6_scope_is_not_carried() {
        let scoped = SocketAddr::V6(std::net::SocketAddrV6::new(
            "fe80::1".parse().expect("IPv6"),
            7001,
            9,
            3,
        ));
        let handshake = read_one(&encode_handshake(1, Some(scoped)))
            .await
            .expect("handshake");
        let expected = "[fe80::1]:7001".parse().expect("IPv6");
        assert_eq!(handshake.advertised, Some(expected));
    }

    #[tokio::test]
    async fn another_wire_version_is_refused_naming_both_versions() {
        // A version-2 build's handshake: the same header, no address after it.
        let mut v2 = HANDSHAKE_MAGIC.to_vec();
        v2.extend_from_slice(&[2, 0]);
        v2.extend_from_slice(&7u64.to_le_bytes());
        // A future version, cut right after its version byte: nothing past it is
        // needed to refuse it.
        let mut v4 = encode_handshake(7, None);
        v4[6] = 4;
        v4.truncate(7);
        for (stream, version) in [(v2, 2), (v4, 4)] {
            match read_one(&stream).await {
                Err(Error::UnsupportedWireVersion {
                    version: got,
                    supported,
                }) => assert_eq!((got, supported), (version, WIRE_VERSION)),
                other => panic!("version {version}: {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn a_truncated_handshake_is_an_error_saying_how_far_it_got() {
        for advertised in advertised_addresses() {
            let whole = encode_handshake(3, advertised);
            for cut in 0..whole.len() {
                // What the reader knows it needs, from the bytes it has.
                let expected = match cut {
                    0..7 => 7,
                    7..17 => 17,
                    _ => whole.len(),
                };
                match read_one(&whole[..cut]).await {
                    Err(Error::TruncatedHandshake {
                        received,
                        expected: needed,
                    }) => assert_eq!((received, needed), (cut, expected)),
                    other => panic!("{advertised:?} cut at {cut}: {other:?}"),
                }
            }
        }
    }

    #[tokio::test]
    async fn an_invalid_handshake_is_bad() {
        let valid = encode_handshake(3, advertised_addresses()[1]);
        let mut cases = Vec::new();
        for family in [1, 2, 3, 5, 7, 16, 255] {
            let mut bad = valid.clone();
            bad[HANDSHAKE_HEADER_LEN] = family;
            cases.push(bad);
        }
        let mut magic = valid.clone();
        magic[0] = b'X';
        let mut reserved = valid.clone();
        reserved[7] = 1;
        cases.extend([magic, reserved, encode_handshake(0, None)]);
        for stream in cases {
            assert!(
                matches!(read_one(&stream).await, Err(Error::BadHandshake)),
                "{stream:?}"
            );
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
