//! ICMPv4 echo request and reply encoding (RFC 792). Pure functions.

/// ICMP type of an echo request.
pub const ECHO_REQUEST: u8 = 8;
/// ICMP type of an echo reply.
pub const ECHO_REPLY: u8 = 0;

/// The Internet checksum (RFC 1071) of `data`.
pub fn checksum(data: &[u8]) -> u16 {
    // A u64 accumulator cannot overflow before 2^48 words, far beyond any slice; a u32
    // one overflowed at 65,538 words (found by the healthcheck_icmp fuzz target).
    let mut sum: u64 = 0;
    let mut chunks = data.chunks_exact(2);
    for pair in &mut chunks {
        sum += u64::from(u16::from_be_bytes([pair[0], pair[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u64::from(*last) << 8;
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An echo request with its checksum filled in.
pub fn echo_request(identifier: u16, sequence: u16, payload: &[u8]) -> Vec<u8> {
    let mut packet = Vec::with_capacity(8 + payload.len());
    packet.extend_from_slice(&[ECHO_REQUEST, 0, 0, 0]);
    packet.extend_from_slice(&identifier.to_be_bytes());
    packet.extend_from_slice(&sequence.to_be_bytes());
    packet.extend_from_slice(payload);
    let sum = checksum(&packet);
    packet[2..4].copy_from_slice(&sum.to_be_bytes());
    packet
}

/// ICMPv6 type of an echo request (RFC 4443).
pub const ECHO_REQUEST_V6: u8 = 128;
/// ICMPv6 type of an echo reply.
pub const ECHO_REPLY_V6: u8 = 129;

/// An ICMPv6 echo request. The checksum is left zero: for ICMPv6 sockets the kernel
/// fills it in, since it covers a pseudo-header only the kernel knows for sure.
pub fn echo_request_v6(identifier: u16, sequence: u16, payload: &[u8]) -> Vec<u8> {
    let mut packet = Vec::with_capacity(8 + payload.len());
    packet.extend_from_slice(&[ECHO_REQUEST_V6, 0, 0, 0]);
    packet.extend_from_slice(&identifier.to_be_bytes());
    packet.extend_from_slice(&sequence.to_be_bytes());
    packet.extend_from_slice(payload);
    packet
}

/// Parse an ICMPv6 echo reply (sockets never deliver the IPv6 header).
pub fn parse_echo_reply_v6(packet: &[u8]) -> Option<EchoReply> {
    if packet.len() < 8 || packet[0] != ECHO_REPLY_V6 || packet[1] != 0 {
        return None;
    }
    Some(EchoReply {
        identifier: u16::from_be_bytes([packet[4], packet[5]]),
        sequence: u16::from_be_bytes([packet[6], packet[7]]),
    })
}

/// The identifying fields of an echo reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EchoReply {
    /// Identifier (rewritten by the kernel on unprivileged datagram sockets).
    pub identifier: u16,
    /// Sequence number.
    pub sequence: u16,
}

/// Parse an echo reply. `with_ip_header` is true for raw sockets, which deliver the
/// IPv4 header too. Anything else (other ICMP types, short packets) is `None`.
pub fn parse_echo_reply(packet: &[u8], with_ip_header: bool) -> Option<EchoReply> {
    let icmp = if with_ip_header {
        let ihl = usize::from(packet.first()? & 0x0f) * 4;
        if ihl < 20 {
            return None;
        }
        packet.get(ihl..)?
    } else {
        packet
    };
    if icmp.len() < 8 || icmp[0] != ECHO_REPLY || icmp[1] != 0 {
        return None;
    }
    Some(EchoReply {
        identifier: u16::from_be_bytes([icmp[4], icmp[5]]),
        sequence: u16::from_be_bytes([icmp[6], icmp[7]]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_of_a_huge_all_ones_buffer_does_not_overflow() {
        // 65,538 words of 0xffff: each adds 0xffff, which folds back to 0xffff, so the
        // one's-complement sum is 0xffff and the checksum 0.
        let data = vec![0xff; 131_076];
        assert_eq!(checksum(&data), 0);
        // And a buffer whose sum carries many times still verifies once filled in.
        let req = echo_request(1, 2, &vec![0xab; 200_000]);
        assert_eq!(checksum(&req), 0);
    }

    #[test]
    fn request_checksums_to_zero_and_reply_parses() {
        let req = echo_request(0x1234, 7, b"hakit");
        assert_eq!(checksum(&req), 0, "a packet with its checksum sums to zero");
        assert_eq!(
            parse_echo_reply(&req, false),
            None,
            "a request is not a reply"
        );
        let mut reply = req.clone();
        reply[0] = ECHO_REPLY;
        assert_eq!(
            parse_echo_reply(&reply, false),
            Some(EchoReply {
                identifier: 0x1234,
                sequence: 7
            })
        );
        let mut with_ip = vec![0x45u8];
        with_ip.extend_from_slice(&[0; 19]);
        with_ip.extend_from_slice(&reply);
        assert_eq!(
            parse_echo_reply(&with_ip, true).map(|r| r.sequence),
            Some(7)
        );
        assert_eq!(parse_echo_reply(&[0x41, 0, 0], true), None);
    }

    #[test]
    fn v6_request_and_reply() {
        let req = echo_request_v6(9, 300, b"x");
        assert_eq!(req[0], ECHO_REQUEST_V6);
        assert_eq!(parse_echo_reply_v6(&req), None);
        let mut reply = req;
        reply[0] = ECHO_REPLY_V6;
        assert_eq!(
            parse_echo_reply_v6(&reply),
            Some(EchoReply {
                identifier: 9,
                sequence: 300
            })
        );
        assert_eq!(parse_echo_reply_v6(&reply[..7]), None);
    }

    #[test]
    fn checksum_matches_rfc1071_example() {
        // RFC 1071 section 3 example bytes sum to 0xddf2; the checksum is its complement.
        assert_eq!(
            checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            !0xddf2
        );
    }
}
