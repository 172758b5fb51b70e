//! Checks for the decoders of `crates/healthcheck`: DNS responses, ICMP echo replies, TCP
//! segments of half-open checks, HTTP response heads and chunked bodies, and agent-check
//! reply lines.
//!
//! Where the crate has no encoder for what it parses, a small reference encoder here writes
//! the decoded value back out, so the round trip can still be checked.

use healthcheck::dns_wire::{self, DnsParseError, DnsResponse};
use healthcheck::http_response::{self, BodyFraming, HeadError, ResponseHead};
use healthcheck::icmp_wire::{self, EchoReply};
use healthcheck::tcp_wire::{self, DecodeError, TcpHeader};
use healthcheck::{AgentAdminState, AgentOpState, AgentReply};

use crate::ByteReader;

/// A DNS response carrying `response`'s fields: one question for the root, and one answer
/// per type, each for the root name, class IN, TTL 0 and empty data.
pub fn encode_dns_response(response: &DnsResponse) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&response.id.to_be_bytes());
    let mut flags = 0x8000u16 | u16::from(response.rcode & 0x0f);
    if response.truncated {
        flags |= 0x0200;
    }
    out.extend_from_slice(&flags.to_be_bytes());
    let answers = u16::try_from(response.answer_types.len()).expect("at most 65535 answers");
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&answers.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&[0, 0, 1, 0, 1]);
    for rtype in &response.answer_types {
        out.push(0);
        out.extend_from_slice(&rtype.to_be_bytes());
        out.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
    }
    out
}

/// `parse_response` on one message: fields match the header bytes, and re-encoding parses
/// to the same value.
fn dns_response(data: &[u8]) {
    match dns_wire::parse_response(data) {
        Ok(response) => {
            assert_eq!(response.id, u16::from_be_bytes([data[0], data[1]]));
            assert_eq!(response.rcode, data[3] & 0x0f);
            assert_eq!(response.truncated, data[2] & 0x02 != 0);
            let answers = usize::from(u16::from_be_bytes([data[6], data[7]]));
            assert_eq!(response.answer_types.len(), answers);
            let again = dns_wire::parse_response(&encode_dns_response(&response));
            assert_eq!(again, Ok(response), "decode(encode(x)) == x");
        }
        Err(DnsParseError::NotAResponse) => assert!(data[2] & 0x80 == 0),
        Err(_) => {}
    }
}

/// `decode_tcp_message` on a DNS-over-TCP stream: a message comes out exactly when the
/// input holds its whole announced length, it is the bytes after the prefix, framing it
/// again gives the input's first frame, and one byte less is not enough.
fn dns_tcp_stream(data: &[u8]) {
    let announced = match data {
        [hi, lo, ..] => Some(2 + usize::from(u16::from_be_bytes([*hi, *lo]))),
        _ => None,
    };
    match dns_wire::decode_tcp_message(data) {
        Some(message) => {
            let frame = announced.expect("a message needs a length prefix");
            assert_eq!(message, &data[2..frame]);
            assert_eq!(
                dns_wire::encode_tcp_message(message).as_deref(),
                Some(&data[..frame])
            );
            assert_eq!(dns_wire::decode_tcp_message(&data[..frame - 1]), None);
            dns_response(message);
        }
        None => assert!(announced.is_none_or(|frame| data.len() < frame)),
    }
}

/// `healthcheck_dns`: `parse_response` on the input as one message (fields must match
/// the header bytes, re-encoding must parse to the same value), and the input as a
/// DNS-over-TCP stream through `decode_tcp_message`. The input is also used as a query
/// name: a query that `build_query` accepts, marked as a response, parses back with its
/// id and no answers.
pub fn dns(data: &[u8]) {
    dns_response(data);
    dns_tcp_stream(data);
    if let Some((&id, name)) = data.split_first()
        && let Ok(name) = std::str::from_utf8(name)
        && let Ok(mut query) = dns_wire::build_query(u16::from(id), name, dns_wire::TYPE_A)
    {
        assert_eq!(
            dns_wire::parse_response(&query),
            Err(DnsParseError::NotAResponse)
        );
        query[2] |= 0x80;
        let parsed = dns_wire::parse_response(&query).expect("a query marked as a response");
        assert_eq!(parsed.id, u16::from(id));
        assert!(parsed.answer_types.is_empty());
        assert_eq!(
            dns_wire::encode_name(name).ok(),
            Some(query[12..query.len() - 4].to_vec())
        );
    }
}

/// `healthcheck_icmp`: the ICMPv4 (with and without IP header) and ICMPv6 echo-reply
/// parsers, and the echo-request encoders. Parsed fields must be the bytes at their
/// offsets; a request built from the input must checksum to zero and, turned into a reply,
/// parse back to its identifier and sequence.
pub fn icmp(data: &[u8]) {
    let check = |icmp: &[u8], reply: Option<EchoReply>, reply_type: u8| {
        if let Some(reply) = reply {
            assert!(icmp.len() >= 8 && icmp[0] == reply_type && icmp[1] == 0);
            assert_eq!(reply.identifier, u16::from_be_bytes([icmp[4], icmp[5]]));
            assert_eq!(reply.sequence, u16::from_be_bytes([icmp[6], icmp[7]]));
        }
    };
    check(
        data,
        icmp_wire::parse_echo_reply(data, false),
        icmp_wire::ECHO_REPLY,
    );
    check(
        data,
        icmp_wire::parse_echo_reply_v6(data),
        icmp_wire::ECHO_REPLY_V6,
    );
    let with_ip = icmp_wire::parse_echo_reply(data, true);
    if with_ip.is_some() {
        let ihl = usize::from(data[0] & 0x0f) * 4;
        assert!(ihl >= 20);
        check(&data[ihl..], with_ip, icmp_wire::ECHO_REPLY);
    }

    let mut r = ByteReader::new(data);
    let (identifier, sequence) = (r.u16(), r.u16());
    let payload = r.rest();
    let expected = Some(EchoReply {
        identifier,
        sequence,
    });
    let mut request = icmp_wire::echo_request(identifier, sequence, payload);
    assert_eq!(icmp_wire::checksum(&request), 0, "a request sums to zero");
    assert_eq!(icmp_wire::parse_echo_reply(&request, false), None);
    request[0] = icmp_wire::ECHO_REPLY;
    assert_eq!(icmp_wire::parse_echo_reply(&request, false), expected);
    let mut packet = vec![0x45];
    packet.resize(20, 0);
    packet.extend_from_slice(&request);
    assert_eq!(icmp_wire::parse_echo_reply(&packet, true), expected);
    let mut request_v6 = icmp_wire::echo_request_v6(identifier, sequence, payload);
    assert_eq!(icmp_wire::parse_echo_reply_v6(&request_v6), None);
    request_v6[0] = icmp_wire::ECHO_REPLY_V6;
    assert_eq!(icmp_wire::parse_echo_reply_v6(&request_v6), expected);
}

/// The TCP header fields at the start of `segment` must be what `parse_segment` gave.
fn tcp_fields_match(segment: &[u8], h: &TcpHeader) {
    let u16_at = |i: usize| u16::from_be_bytes([segment[i], segment[i + 1]]);
    let u32_at =
        |i: usize| u32::from_be_bytes([segment[i], segment[i + 1], segment[i + 2], segment[i + 3]]);
    assert_eq!((h.src_port, h.dst_port), (u16_at(0), u16_at(2)));
    assert_eq!((h.seq, h.ack), (u32_at(4), u32_at(8)));
    assert_eq!((h.flags, h.window), (segment[13], u16_at(14)));
    assert!(segment[12] >> 4 >= 5);
}

/// `healthcheck_tcp`: `tcp_wire::parse_ipv4_packet` and `parse_segment` (the half-open
/// check's receiver runs them on whatever its raw socket gets). No panic; decoded fields
/// are the bytes at their offsets; a decoded header re-encodes (with a fresh checksum)
/// to a packet that decodes equal; cutting a decodable input short is `Truncated`.
/// Then a header built from the input is encoded over IPv4 and IPv6: checksums verify
/// and it decodes back equal.
pub fn tcp(data: &[u8]) {
    match tcp_wire::parse_ipv4_packet(data) {
        Ok(seg) => {
            let ihl = usize::from(data[0] & 0x0f) * 4;
            assert_eq!(data[0] >> 4, 4);
            assert_eq!(data[9], tcp_wire::PROTOCOL_TCP);
            assert_eq!(seg.src.octets(), data[12..16]);
            assert_eq!(seg.dst.octets(), data[16..20]);
            tcp_fields_match(&data[ihl..], &seg.tcp);
            let again = tcp_wire::ipv4_packet(&seg.tcp, seg.src, seg.dst);
            assert_eq!(
                tcp_wire::parse_ipv4_packet(&again),
                Ok(seg),
                "decode(encode(x)) == x"
            );
            let total = usize::from(u16::from_be_bytes([data[2], data[3]]));
            assert!(matches!(
                tcp_wire::parse_ipv4_packet(&data[..total - 1]),
                Err(DecodeError::Truncated { .. })
            ));
        }
        // The TCP header may be what is cut short, inside a whole IPv4 packet.
        Err(DecodeError::Truncated { needed, got }) => assert!(needed > got && got <= data.len()),
        Err(_) => {}
    }
    match tcp_wire::parse_segment(data) {
        Ok(h) => {
            tcp_fields_match(data, &h);
            let again = tcp_wire::encode_header(&h);
            assert_eq!(
                tcp_wire::parse_segment(&again),
                Ok(h),
                "decode(encode(x)) == x"
            );
            let header_len = usize::from(data[12] >> 4) * 4;
            assert!(matches!(
                tcp_wire::parse_segment(&data[..header_len - 1]),
                Err(DecodeError::Truncated { .. })
            ));
        }
        Err(DecodeError::Truncated { needed, got }) => assert!(needed > got && got == data.len()),
        Err(_) => {}
    }

    let mut r = ByteReader::new(data);
    let header = TcpHeader {
        src_port: r.u16(),
        dst_port: r.u16(),
        seq: u32::from(r.u16()) << 16 | u32::from(r.u16()),
        ack: u32::from(r.u16()) << 16 | u32::from(r.u16()),
        flags: r.u8(),
        window: r.u16(),
        mss: if r.u8() & 1 == 1 { Some(r.u16()) } else { None },
    };
    let mut v4 = [0u8; 4];
    v4.copy_from_slice(&[r.u8(), r.u8(), r.u8(), r.u8()]);
    let (src4, dst4) = (
        std::net::Ipv4Addr::from(v4),
        std::net::Ipv4Addr::from(r.u16() as u32),
    );
    let packet = tcp_wire::ipv4_packet(&header, src4, dst4);
    assert_eq!(tcp_wire::ipv4_header_checksum(&packet[..20]), 0);
    assert_eq!(tcp_wire::checksum_v4(src4, dst4, &packet[20..]), 0);
    let decoded = tcp_wire::parse_ipv4_packet(&packet).expect("own packet decodes");
    assert_eq!(
        (decoded.src, decoded.dst, decoded.tcp),
        (src4, dst4, header)
    );
    let mut v6 = [0u8; 16];
    for b in &mut v6 {
        *b = r.u8();
    }
    let (src6, dst6) = (
        std::net::Ipv6Addr::from(v6),
        std::net::Ipv6Addr::from(u128::from(r.u16())),
    );
    let packet = tcp_wire::ipv6_packet(&header, src6, dst6);
    assert_eq!(tcp_wire::checksum_v6(src6, dst6, &packet[40..]), 0);
    assert_eq!(tcp_wire::parse_segment(&packet[40..]), Ok(header));
    let isn = header.ack.wrapping_sub(1);
    let answers = header.answers_syn(isn);
    let (syn, rst, ack) = (
        header.flags & tcp_wire::SYN != 0,
        header.flags & tcp_wire::RST != 0,
        header.flags & tcp_wire::ACK != 0,
    );
    assert_eq!(
        answers.is_some(),
        ack && syn != rst,
        "answers only SYN+ACK or RST+ACK"
    );
}

/// The head `head` describes, written with CRLF line ends.
pub fn encode_head(head: &ResponseHead) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.{} {:03} {}\r\n",
        head.minor_version, head.status, head.reason
    );
    for (name, value) in &head.headers {
        out.push_str(name);
        out.push_str(": ");
        out.push_str(value);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    out.into_bytes()
}

/// Whether `data` holds an empty line (bare LF or CRLF), which ends a head.
fn has_blank_line(data: &[u8]) -> bool {
    data.starts_with(b"\n")
        || data.starts_with(b"\r\n")
        || data.windows(2).any(|w| w == b"\n\n")
        || data.windows(3).any(|w| w == b"\n\r\n")
}

/// `healthcheck_http`: `parse_head` and `body_framing`. A parsed head must lie inside the
/// input, must parse the same from exactly its own bytes, must be `Incomplete` one byte
/// shorter, and must survive re-encoding; the framing must agree with the headers.
pub fn http_head(data: &[u8]) {
    let head = match http_response::parse_head(data) {
        Ok(head) => head,
        Err(HeadError::Incomplete) => {
            assert!(!has_blank_line(data), "blank line missed");
            return;
        }
        Err(HeadError::Invalid(_)) => return,
    };
    assert!(head.head_len <= data.len());
    assert!(head.minor_version <= 1 && head.status <= 999);
    assert!(head.headers.len() <= http_response::MAX_HEADERS);
    assert_eq!(
        http_response::parse_head(&data[..head.head_len]).as_ref(),
        Ok(&head),
        "the head depends only on its own bytes"
    );
    assert_eq!(
        http_response::parse_head(&data[..head.head_len - 1]),
        Err(HeadError::Incomplete)
    );
    let encoded = encode_head(&head);
    let again = http_response::parse_head(&encoded).expect("re-encoded head parses");
    assert_eq!(again.head_len, encoded.len());
    assert_eq!(
        (
            again.minor_version,
            again.status,
            &again.reason,
            &again.headers
        ),
        (head.minor_version, head.status, &head.reason, &head.headers),
        "decode(encode(x)) == x"
    );
    assert_eq!(encode_head(&again), encoded, "re-encoding is stable");
    for request_was_head in [false, true] {
        match http_response::body_framing(&head, request_was_head) {
            Ok(BodyFraming::Empty) => {
                assert!(request_was_head || head.status < 200 || matches!(head.status, 204 | 304))
            }
            Ok(BodyFraming::Chunked) => assert!(head.header("transfer-encoding").is_some()),
            Ok(BodyFraming::Length(n)) => {
                let value = head.header("content-length").expect("length from a header");
                assert_eq!(value.parse::<u64>().ok(), Some(n));
            }
            Ok(BodyFraming::UntilClose) | Err(_) => {}
        }
    }
}

/// `body` in chunked coding, cut into chunks of the given sizes (0 is skipped: it would end
/// the body), followed by the last chunk and an empty trailer.
pub fn encode_chunked(body: &[u8], sizes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = body;
    let mut sizes = sizes.iter().copied().filter(|&s| s > 0).cycle();
    while !rest.is_empty() {
        let size = sizes.next().map_or(rest.len(), usize::from).min(rest.len());
        out.extend_from_slice(format!("{size:x}\r\n").as_bytes());
        out.extend_from_slice(&rest[..size]);
        out.extend_from_slice(b"\r\n");
        rest = &rest[size..];
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

/// `healthcheck_http_chunked`: `dechunk`. It must not panic on any input nor return more
/// body than input; a body the reference encoder wrote (chunk sizes from the input's first
/// bytes) must come back whole, and every prefix of that encoding must give a prefix of the
/// body, complete only once the last-chunk line is in.
pub fn http_chunked(data: &[u8]) {
    if let Ok(decoded) = http_response::dechunk(data) {
        assert!(decoded.body.len() <= data.len());
    }
    let mut r = ByteReader::new(data);
    let count = usize::from(r.u8() % 8);
    let sizes = r.take(count).to_vec();
    let body = r.rest();
    let encoded = encode_chunked(body, &sizes);
    let whole = http_response::dechunk(&encoded).expect("encoded body dechunks");
    assert_eq!((&whole.body[..], whole.complete), (body, true));
    // Complete once "0\r\n" is in: trailers are skipped unread.
    let complete_at = encoded.len() - 2;
    let step = (encoded.len() / 64).max(1);
    for cut in (0..encoded.len()).step_by(step) {
        let part = http_response::dechunk(&encoded[..cut]).expect("a prefix is never invalid");
        assert!(body.starts_with(&part.body), "a prefix gives a prefix");
        assert_eq!(part.complete, cut >= complete_at, "cut at {cut}");
    }
}

/// The reply line `reply` describes.
pub fn encode_agent_reply(reply: &AgentReply) -> String {
    let mut words = Vec::new();
    if let Some(weight) = reply.weight_percent {
        words.push(format!("{weight}%"));
    }
    if let Some(state) = reply.op_state {
        words.push(
            match state {
                AgentOpState::Up => "up",
                AgentOpState::Down => "down",
                AgentOpState::Fail => "fail",
                AgentOpState::Stopped => "stopped",
            }
            .to_owned(),
        );
    }
    if let Some(state) = reply.admin_state {
        words.push(
            match state {
                AgentAdminState::Ready => "ready",
                AgentAdminState::Drain => "drain",
                AgentAdminState::Maint => "maint",
            }
            .to_owned(),
        );
    }
    if let Some(maxconn) = reply.maxconn {
        words.push(format!("maxconn:{maxconn}"));
    }
    let mut line = words.join(" ");
    if let Some(description) = &reply.description {
        line.push_str(" # ");
        line.push_str(description);
    }
    line.push('\n');
    line
}

/// `healthcheck_agent_reply`: `AgentReply::parse` on the input as text (lossily decoded,
/// as an agent's bytes may be anything). A parsed reply must survive re-encoding.
pub fn agent_reply(data: &[u8]) {
    let line = String::from_utf8_lossy(data);
    let Some(reply) = AgentReply::parse(&line) else {
        return;
    };
    if let Some(weight) = reply.weight_percent {
        assert!(weight <= 256, "weights are capped at 256%");
    }
    let encoded = encode_agent_reply(&reply);
    let again = AgentReply::parse(&encoded).expect("re-encoded reply parses");
    assert_eq!(again, reply, "decode(encode(x)) == x");
    assert_eq!(encode_agent_reply(&again), encoded, "re-encoding is stable");
}
