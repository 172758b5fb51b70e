//! The slice of the DNS wire format (RFC 1035 section 4) a health check needs: build a
//! one-question query, read a response's code and answer types, and frame a message for
//! DNS over TCP (RFC 1035 4.2.2, RFC 7766). Pure functions.

use crate::error::Error;

/// Record type A.
pub const TYPE_A: u16 = 1;
/// Record type NS.
pub const TYPE_NS: u16 = 2;
/// Record type CNAME.
pub const TYPE_CNAME: u16 = 5;
/// Record type SOA.
pub const TYPE_SOA: u16 = 6;
/// Record type MX.
pub const TYPE_MX: u16 = 15;
/// Record type TXT.
pub const TYPE_TXT: u16 = 16;
/// Record type AAAA.
pub const TYPE_AAAA: u16 = 28;
/// Class IN.
pub const CLASS_IN: u16 = 1;

const HEADER_LEN: usize = 12;
const FLAG_RESPONSE: u16 = 0x8000;
const FLAG_TRUNCATED: u16 = 0x0200;
const FLAG_RECURSION_DESIRED: u16 = 0x0100;

/// Encode a domain name as DNS labels. A trailing dot is optional; `""` or `"."` is the root.
pub fn encode_name(name: &str) -> Result<Vec<u8>, Error> {
    let bad = || Error::InvalidDnsName {
        name: name.to_owned(),
    };
    let trimmed = name.strip_suffix('.').unwrap_or(name);
    let mut out = Vec::with_capacity(trimmed.len() + 2);
    if !trimmed.is_empty() {
        for label in trimmed.split('.') {
            if label.is_empty() || label.len() > 63 || !label.is_ascii() {
                return Err(bad());
            }
            out.push(label.len() as u8);
            out.extend_from_slice(label.as_bytes());
        }
    }
    out.push(0);
    if out.len() > 255 {
        return Err(bad());
    }
    Ok(out)
}

/// A query with one question of class IN, recursion desired.
pub fn build_query(id: u16, name: &str, qtype: u16) -> Result<Vec<u8>, Error> {
    let qname = encode_name(name)?;
    let mut q = Vec::with_capacity(HEADER_LEN + qname.len() + 4);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&FLAG_RECURSION_DESIRED.to_be_bytes());
    q.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
    q.extend_from_slice(&qname);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&CLASS_IN.to_be_bytes());
    Ok(q)
}

/// The longest message DNS over TCP can carry: its length prefix is 16 bits.
pub const MAX_TCP_MESSAGE: usize = u16::MAX as usize;

/// Frame `message` for DNS over TCP: its length as two big-endian bytes, then the
/// message. `None` when it is longer than [`MAX_TCP_MESSAGE`].
pub fn encode_tcp_message(message: &[u8]) -> Option<Vec<u8>> {
    let len = u16::try_from(message.len()).ok()?;
    let mut out = Vec::with_capacity(2 + message.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(message);
    Some(out)
}

/// The first message of a DNS-over-TCP stream, once `buf` holds all of it; `None`
/// means more bytes are needed (every length is valid, so nothing here is invalid).
/// Bytes after the message are left alone.
pub fn decode_tcp_message(buf: &[u8]) -> Option<&[u8]> {
    let len = usize::from(u16::from_be_bytes([*buf.first()?, *buf.get(1)?]));
    buf.get(2..2 + len)
}

/// What a health check wants to know about a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsResponse {
    /// The message id.
    pub id: u16,
    /// The response code (0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN, 5 REFUSED ...).
    pub rcode: u8,
    /// The TC bit: the answer was cut to fit a datagram.
    pub truncated: bool,
    /// The type of each answer record, in order.
    pub answer_types: Vec<u16>,
}

/// Why a message could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsParseError {
    /// The message ends before a field it announces.
    Short,
    /// The QR bit is clear: this is a query, not a response.
    NotAResponse,
    /// A name uses a reserved label type.
    BadLabel,
}

fn u16_at(buf: &[u8], at: usize) -> Result<u16, DnsParseError> {
    match buf.get(at..at + 2) {
        Some(b) => Ok(u16::from_be_bytes([b[0], b[1]])),
        None => Err(DnsParseError::Short),
    }
}

/// Skip a possibly compressed name starting at `at`; returns the offset after it.
/// Compression pointers end a name in place, so no pointer is followed and loops
/// cannot happen.
fn skip_name(buf: &[u8], mut at: usize) -> Result<usize, DnsParseError> {
    loop {
        let len = *buf.get(at).ok_or(DnsParseError::Short)?;
        match len & 0xc0 {
            0x00 if len == 0 => return Ok(at + 1),
            0x00 => at += 1 + usize::from(len),
            0xc0 => {
                buf.get(at + 1).ok_or(DnsParseError::Short)?;
                return Ok(at + 2);
            }
            _ => return Err(DnsParseError::BadLabel),
        }
    }
}

/// Read a response's header and the types of its answers.
pub fn parse_response(buf: &[u8]) -> Result<DnsResponse, DnsParseError> {
    let id = u16_at(buf, 0)?;
    let flags = u16_at(buf, 2)?;
    if flags & FLAG_RESPONSE == 0 {
        return Err(DnsParseError::NotAResponse);
    }
    let questions = u16_at(buf, 4)?;
    let answers = u16_at(buf, 6)?;
    let mut at = HEADER_LEN;
    for _ in 0..questions {
        at = skip_name(buf, at)? + 4;
    }
    if at > buf.len() {
        return Err(DnsParseError::Short);
    }
    let mut answer_types = Vec::with_capacity(usize::from(answers).min(64));
    for _ in 0..answers {
        at = skip_name(buf, at)?;
        let rtype = u16_at(buf, at)?;
        let rdlength = usize::from(u16_at(buf, at + 8)?);
        at += 10 + rdlength;
        if at > buf.len() {
            return Err(DnsParseError::Short);
        }
        answer_types.push(rtype);
    }
    Ok(DnsResponse {
        id,
        rcode: (flags & 0x000f) as u8,
        truncated: flags & FLAG_TRUNCATED != 0,
        answer_types,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_names_and_rejects_bad_ones() {
        assert_eq!(encode_name("a.bc").expect("valid"), b"\x01a\x02bc\x00");
        assert_eq!(encode_name("a.bc.").expect("valid"), b"\x01a\x02bc\x00");
        assert_eq!(encode_name(".").expect("valid"), b"\x00");
        for bad in [
            "a..b",
            &"x".repeat(64),
            &["abcdefghij"; 30].join("."),
            "ü.de",
        ] {
            assert!(encode_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn query_layout() {
        let q = build_query(0xbeef, "example.org", TYPE_AAAA).expect("valid");
        assert_eq!(&q[..4], &[0xbe, 0xef, 0x01, 0x00]);
        assert_eq!(&q[4..6], &[0, 1], "one question");
        assert_eq!(&q[q.len() - 4..], &[0, 28, 0, 1]);
        assert_eq!(parse_response(&q), Err(DnsParseError::NotAResponse));
    }

    #[test]
    fn parses_a_compressed_answer() {
        let mut r = build_query(7, "example.org", TYPE_A).expect("valid");
        r[2] |= 0x80; // QR
        r[3] |= 0x03; // NXDOMAIN, to see the rcode come through
        r[7] = 1; // one answer
        r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 1]);
        let parsed = parse_response(&r).expect("valid");
        assert_eq!(parsed.id, 7);
        assert_eq!(parsed.rcode, 3);
        assert_eq!(parsed.answer_types, vec![TYPE_A]);
        assert_eq!(parse_response(&r[..r.len() - 1]), Err(DnsParseError::Short));
    }

    #[test]
    fn frames_messages_for_tcp() {
        let q = build_query(9, "ok.test", TYPE_A).expect("valid");
        let framed = encode_tcp_message(&q).expect("fits");
        assert_eq!(framed[..2], (q.len() as u16).to_be_bytes());
        for cut in 0..framed.len() {
            assert_eq!(decode_tcp_message(&framed[..cut]), None, "cut at {cut}");
        }
        assert_eq!(decode_tcp_message(&framed), Some(&q[..]));
        let mut two = framed.clone();
        two.extend_from_slice(&framed);
        assert_eq!(
            decode_tcp_message(&two),
            Some(&q[..]),
            "only the first message"
        );
        assert_eq!(decode_tcp_message(&[0, 0]), Some(&[][..]));

        let largest = vec![0u8; MAX_TCP_MESSAGE];
        let framed = encode_tcp_message(&largest).expect("fits");
        assert_eq!(framed[..2], [0xff, 0xff]);
        assert_eq!(
            decode_tcp_message(&framed).map(<[u8]>::len),
            Some(MAX_TCP_MESSAGE)
        );
        assert_eq!(encode_tcp_message(&vec![0u8; MAX_TCP_MESSAGE + 1]), None);
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let _ = parse_response(&bytes);
            if let Some(message) = decode_tcp_message(&bytes) {
                let framed = encode_tcp_message(message);
                proptest::prop_assert_eq!(framed.as_deref(), bytes.get(..2 + message.len()));
            }
        }
    }
}
