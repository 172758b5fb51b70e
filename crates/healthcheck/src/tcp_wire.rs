//! TCP segments for half-open (SYN) checks: the SYN we send, the answers we read, the TCP
//! checksum (RFC 9293 section 3.1, pseudo-headers of RFC 791 and RFC 8200 section 8.1)
//! and the classic BPF programs that let only possible answers reach user space.
//! Pure functions, no I/O.
//!
//! Packets carry their IP header both ways: the prober's raw sockets send with
//! `IP_HDRINCL` / `IPV6_HDRINCL`, and a raw IPv4 socket delivers the IPv4 header.
//! A raw IPv6 socket delivers no IPv6 header, so answers are decoded from the TCP
//! segment alone ([`parse_segment`]) and the sender's address comes from `recvfrom`.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};

/// IP protocol number of TCP.
pub const PROTOCOL_TCP: u8 = 6;
/// FIN flag bit in the TCP flags byte.
pub const FIN: u8 = 0x01;
/// SYN flag bit.
pub const SYN: u8 = 0x02;
/// RST flag bit.
pub const RST: u8 = 0x04;
/// PSH flag bit.
pub const PSH: u8 = 0x08;
/// ACK flag bit.
pub const ACK: u8 = 0x10;
/// TCP option kind: end of option list.
const OPTION_END: u8 = 0;
/// TCP option kind: no-operation (padding).
const OPTION_NOP: u8 = 1;
/// TCP option kind: maximum segment size (RFC 9293 section 3.7.1).
const OPTION_MSS: u8 = 2;
/// Length of a TCP header without options.
pub const TCP_HEADER_LEN: usize = 20;
/// Length of an IPv4 header without options.
pub const IPV4_HEADER_LEN: usize = 20;
/// Length of the fixed IPv6 header.
pub const IPV6_HEADER_LEN: usize = 40;
/// Length of the SYN's TCP part: header plus one MSS option.
pub const SYN_SEGMENT_LEN: usize = TCP_HEADER_LEN + 4;
/// TTL / hop limit of the SYNs we send (Linux's default).
pub const HOP_LIMIT: u8 = 64;

/// The fields of a TCP header this crate reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpHeader {
    /// Sender's port.
    pub src_port: u16,
    /// Receiver's port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number (meaningful when [`ACK`] is set).
    pub ack: u32,
    /// Flag bits ([`SYN`], [`ACK`], [`RST`], ...), the low byte of the flags field.
    pub flags: u8,
    /// Receive window.
    pub window: u16,
    /// Maximum segment size option, when present.
    pub mss: Option<u16>,
}

/// Why bytes are not a TCP segment (or an IPv4 packet carrying one) this module accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// Fewer bytes than the headers announce; a longer read might decode.
    Truncated {
        /// Bytes the headers need.
        needed: usize,
        /// Bytes there were.
        got: usize,
    },
    /// The IPv4 header is invalid (version not 4, header length under 20 bytes, total
    /// length shorter than the header).
    InvalidIpHeader,
    /// The IPv4 packet carries another protocol than TCP.
    NotTcp {
        /// The protocol number found.
        protocol: u8,
    },
    /// The IPv4 packet is a fragment: a later fragment holds no TCP header and a first
    /// one is incomplete. SYN-ACKs and RSTs are never fragmented in practice.
    Fragment,
    /// The TCP data offset is under 5 words.
    InvalidDataOffset {
        /// The data offset found, in 32-bit words.
        words: u8,
    },
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Truncated { needed, got } => {
                write!(f, "truncated: need {needed} bytes, got {got}")
            }
            Self::InvalidIpHeader => f.write_str("invalid IPv4 header"),
            Self::NotTcp { protocol } => write!(f, "IP protocol {protocol}, not TCP"),
            Self::Fragment => f.write_str("IPv4 fragment"),
            Self::InvalidDataOffset { words } => write!(f, "TCP data offset {words} words"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// An IPv4 packet carrying a TCP segment, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Segment {
    /// Source address from the IPv4 header.
    pub src: Ipv4Addr,
    /// Destination address from the IPv4 header.
    pub dst: Ipv4Addr,
    /// The TCP header.
    pub tcp: TcpHeader,
}

/// What a segment says about a SYN we sent, if it answers one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SynAnswer {
    /// SYN and ACK set: something listens on the port.
    SynAck,
    /// RST with ACK set: nothing listens (RFC 9293 section 3.10.7.1).
    Reset,
}

impl TcpHeader {
    /// Whether this segment answers a SYN sent with initial sequence number `isn`: SYN+ACK
    /// or RST+ACK acknowledging `isn + 1`. A RST without ACK (what a kernel sends back to
    /// an unexpected SYN-ACK) answers nothing.
    pub fn answers_syn(&self, isn: u32) -> Option<SynAnswer> {
        if self.flags & ACK == 0 || self.ack != isn.wrapping_add(1) {
            return None;
        }
        match (self.flags & SYN != 0, self.flags & RST != 0) {
            (true, false) => Some(SynAnswer::SynAck),
            (false, true) => Some(SynAnswer::Reset),
            _ => None,
        }
    }
}

/// One's-complement sum of `data` as 16-bit big-endian words, added to `acc`. An odd last
/// byte is padded with zero. `acc` is a u64, so no realistic input overflows it.
fn sum_words(data: &[u8], mut acc: u64) -> u64 {
    let mut chunks = data.chunks_exact(2);
    for pair in &mut chunks {
        acc += u64::from(u16::from_be_bytes([pair[0], pair[1]]));
    }
    if let [last] = chunks.remainder() {
        acc += u64::from(*last) << 8;
    }
    acc
}

/// Fold a sum to 16 bits and complement it.
fn finish(mut sum: u64) -> u16 {
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The TCP checksum of `segment` (header with its checksum field as it is, plus data)
/// sent from `src` to `dst` over IPv4. A segment whose checksum field is right gives 0.
pub fn checksum_v4(src: Ipv4Addr, dst: Ipv4Addr, segment: &[u8]) -> u16 {
    let mut pseudo = [0u8; 12];
    pseudo[0..4].copy_from_slice(&src.octets());
    pseudo[4..8].copy_from_slice(&dst.octets());
    pseudo[9] = PROTOCOL_TCP;
    // An IPv4 packet holds at most 65,535 bytes; a longer slice cannot be a segment, and
    // its checksum is not meaningful anyway, so the length is simply truncated.
    pseudo[10..12].copy_from_slice(&(segment.len() as u16).to_be_bytes());
    finish(sum_words(segment, sum_words(&pseudo, 0)))
}

/// The TCP checksum of `segment` sent from `src` to `dst` over IPv6 (RFC 8200 section 8.1
/// pseudo-header: addresses, 32-bit upper-layer length, next header).
pub fn checksum_v6(src: Ipv6Addr, dst: Ipv6Addr, segment: &[u8]) -> u16 {
    let mut pseudo = [0u8; 40];
    pseudo[0..16].copy_from_slice(&src.octets());
    pseudo[16..32].copy_from_slice(&dst.octets());
    pseudo[32..36].copy_from_slice(&(segment.len() as u32).to_be_bytes());
    pseudo[39] = PROTOCOL_TCP;
    finish(sum_words(segment, sum_words(&pseudo, 0)))
}

/// The IPv4 header checksum of `header` (20 bytes or more, checksum field as it is).
pub fn ipv4_header_checksum(header: &[u8]) -> u16 {
    finish(sum_words(header, 0))
}

/// Write `header` as a TCP header with no data. The MSS option, when present, makes the
/// header 24 bytes, otherwise it is 20. The checksum field is left zero.
pub fn encode_header(header: &TcpHeader) -> Vec<u8> {
    let options = if header.mss.is_some() { 4 } else { 0 };
    let len = TCP_HEADER_LEN + options;
    let mut out = vec![0u8; len];
    out[0..2].copy_from_slice(&header.src_port.to_be_bytes());
    out[2..4].copy_from_slice(&header.dst_port.to_be_bytes());
    out[4..8].copy_from_slice(&header.seq.to_be_bytes());
    out[8..12].copy_from_slice(&header.ack.to_be_bytes());
    out[12] = ((len / 4) as u8) << 4;
    out[13] = header.flags;
    out[14..16].copy_from_slice(&header.window.to_be_bytes());
    if let Some(mss) = header.mss {
        out[20] = OPTION_MSS;
        out[21] = 4;
        out[22..24].copy_from_slice(&mss.to_be_bytes());
    }
    out
}

/// `header` as a segment from `src` to `dst` over IPv4, checksum filled in.
pub fn encode_segment_v4(header: &TcpHeader, src: Ipv4Addr, dst: Ipv4Addr) -> Vec<u8> {
    let mut segment = encode_header(header);
    let sum = checksum_v4(src, dst, &segment);
    segment[16..18].copy_from_slice(&sum.to_be_bytes());
    segment
}

/// `header` as a segment from `src` to `dst` over IPv6, checksum filled in.
pub fn encode_segment_v6(header: &TcpHeader, src: Ipv6Addr, dst: Ipv6Addr) -> Vec<u8> {
    let mut segment = encode_header(header);
    let sum = checksum_v6(src, dst, &segment);
    segment[16..18].copy_from_slice(&sum.to_be_bytes());
    segment
}

/// The SYN's TCP header: `isn` as sequence number, window `window`, MSS option `mss`.
pub fn syn_header(src_port: u16, dst_port: u16, isn: u32, window: u16, mss: u16) -> TcpHeader {
    TcpHeader {
        src_port,
        dst_port,
        seq: isn,
        ack: 0,
        flags: SYN,
        window,
        mss: Some(mss),
    }
}

/// A whole IPv4 packet (header with Don't Fragment, identification 0, TTL 64 and its
/// checksum; then `header` as a segment) from `src` to `dst`. With `IP_HDRINCL` Linux
/// picks the identification when it is 0 and recomputes the header checksum.
pub fn ipv4_packet(header: &TcpHeader, src: Ipv4Addr, dst: Ipv4Addr) -> Vec<u8> {
    let segment = encode_segment_v4(header, src, dst);
    let total = IPV4_HEADER_LEN + segment.len();
    let mut packet = Vec::with_capacity(total);
    packet.extend_from_slice(&[0x45, 0]);
    packet.extend_from_slice(&(total as u16).to_be_bytes());
    packet.extend_from_slice(&[0, 0, 0x40, 0, HOP_LIMIT, PROTOCOL_TCP, 0, 0]);
    packet.extend_from_slice(&src.octets());
    packet.extend_from_slice(&dst.octets());
    let sum = ipv4_header_checksum(&packet);
    packet[10..12].copy_from_slice(&sum.to_be_bytes());
    packet.extend_from_slice(&segment);
    packet
}

/// A whole IPv6 packet (fixed header, hop limit 64, then `header` as a segment) from
/// `src` to `dst`. With `IPV6_HDRINCL` Linux sends it as it is.
pub fn ipv6_packet(header: &TcpHeader, src: Ipv6Addr, dst: Ipv6Addr) -> Vec<u8> {
    let segment = encode_segment_v6(header, src, dst);
    let mut packet = Vec::with_capacity(IPV6_HEADER_LEN + segment.len());
    packet.extend_from_slice(&[0x60, 0, 0, 0]);
    packet.extend_from_slice(&(segment.len() as u16).to_be_bytes());
    packet.extend_from_slice(&[PROTOCOL_TCP, HOP_LIMIT]);
    packet.extend_from_slice(&src.octets());
    packet.extend_from_slice(&dst.octets());
    packet.extend_from_slice(&segment);
    packet
}

/// The SYN packet of a half-open probe over IPv4.
pub fn syn_packet_v4(
    src: SocketAddrV4,
    dst: SocketAddrV4,
    isn: u32,
    window: u16,
    mss: u16,
) -> Vec<u8> {
    let header = syn_header(src.port(), dst.port(), isn, window, mss);
    ipv4_packet(&header, *src.ip(), *dst.ip())
}

/// The SYN packet of a half-open probe over IPv6.
pub fn syn_packet_v6(
    src: SocketAddrV6,
    dst: SocketAddrV6,
    isn: u32,
    window: u16,
    mss: u16,
) -> Vec<u8> {
    let header = syn_header(src.port(), dst.port(), isn, window, mss);
    ipv6_packet(&header, *src.ip(), *dst.ip())
}

/// Decode a TCP header from the start of `segment`. Options other than MSS are skipped;
/// malformed options end option parsing without failing (the answer's flags and numbers
/// are what matters). The checksum is not verified: on loopback the kernel hands raw
/// sockets segments whose checksum it has not filled in yet.
pub fn parse_segment(segment: &[u8]) -> Result<TcpHeader, DecodeError> {
    if segment.len() < TCP_HEADER_LEN {
        return Err(DecodeError::Truncated {
            needed: TCP_HEADER_LEN,
            got: segment.len(),
        });
    }
    let words = segment[12] >> 4;
    if words < 5 {
        return Err(DecodeError::InvalidDataOffset { words });
    }
    let header_len = usize::from(words) * 4;
    let Some(options) = segment.get(TCP_HEADER_LEN..header_len) else {
        return Err(DecodeError::Truncated {
            needed: header_len,
            got: segment.len(),
        });
    };
    let u16_at = |i: usize| u16::from_be_bytes([segment[i], segment[i + 1]]);
    let u32_at =
        |i: usize| u32::from_be_bytes([segment[i], segment[i + 1], segment[i + 2], segment[i + 3]]);
    Ok(TcpHeader {
        src_port: u16_at(0),
        dst_port: u16_at(2),
        seq: u32_at(4),
        ack: u32_at(8),
        flags: segment[13],
        window: u16_at(14),
        mss: find_mss(options),
    })
}

fn find_mss(mut options: &[u8]) -> Option<u16> {
    while let Some((&kind, rest)) = options.split_first() {
        match kind {
            OPTION_END => return None,
            OPTION_NOP => options = rest,
            _ => {
                let len = usize::from(*rest.first()?);
                if len < 2 {
                    return None;
                }
                let body = options.get(2..len)?;
                if kind == OPTION_MSS {
                    return match body {
                        [hi, lo] => Some(u16::from_be_bytes([*hi, *lo])),
                        _ => None,
                    };
                }
                options = &options[len..];
            }
        }
    }
    None
}

/// Decode an IPv4 packet carrying a TCP segment, as a raw IPv4 socket delivers it.
/// Bytes after the IPv4 total length (link padding) are ignored.
pub fn parse_ipv4_packet(packet: &[u8]) -> Result<Ipv4Segment, DecodeError> {
    if packet.len() < IPV4_HEADER_LEN {
        return Err(DecodeError::Truncated {
            needed: IPV4_HEADER_LEN,
            got: packet.len(),
        });
    }
    let ihl = usize::from(packet[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([packet[2], packet[3]]));
    if packet[0] >> 4 != 4 || ihl < IPV4_HEADER_LEN || total < ihl {
        return Err(DecodeError::InvalidIpHeader);
    }
    if packet.len() < total {
        return Err(DecodeError::Truncated {
            needed: total,
            got: packet.len(),
        });
    }
    if packet[9] != PROTOCOL_TCP {
        return Err(DecodeError::NotTcp {
            protocol: packet[9],
        });
    }
    // More-fragments flag or a fragment offset: not a whole segment.
    if u16::from_be_bytes([packet[6], packet[7]]) & 0x3fff != 0 {
        return Err(DecodeError::Fragment);
    }
    let tcp = parse_segment(&packet[ihl..total])?;
    let addr = |i: usize| Ipv4Addr::new(packet[i], packet[i + 1], packet[i + 2], packet[i + 3]);
    Ok(Ipv4Segment {
        src: addr(12),
        dst: addr(16),
        tcp,
    })
}

/// One classic BPF instruction, as `struct sock_filter`: opcode, jump-if-true,
/// jump-if-false, constant.
pub type BpfInstruction = (u16, u8, u8, u32);

// Classic BPF opcodes (linux/filter.h, linux/bpf_common.h).
const BPF_LD: u16 = 0x00;
const BPF_LDX: u16 = 0x01;
const BPF_ALU: u16 = 0x04;
const BPF_JMP: u16 = 0x05;
const BPF_RET: u16 = 0x06;
const BPF_H: u16 = 0x08;
const BPF_B: u16 = 0x10;
const BPF_ABS: u16 = 0x20;
const BPF_IND: u16 = 0x40;
const BPF_MSH: u16 = 0xa0;
const BPF_AND: u16 = 0x50;
const BPF_JEQ: u16 = 0x10;
const BPF_JSET: u16 = 0x40;
const BPF_K: u16 = 0x00;

/// Bytes of an accepted packet passed to user space: all of it.
const ACCEPT_ALL: u32 = 0xffff_ffff;

/// Ends a program: the flags (in A, masked to SYN|RST|ACK) are SYN+ACK or RST+ACK.
const ACCEPT_ANSWERS: [BpfInstruction; 5] = [
    (BPF_ALU | BPF_AND | BPF_K, 0, 0, (SYN | RST | ACK) as u32),
    (BPF_JMP | BPF_JEQ | BPF_K, 2, 0, (SYN | ACK) as u32),
    (BPF_JMP | BPF_JEQ | BPF_K, 1, 0, (RST | ACK) as u32),
    (BPF_RET | BPF_K, 0, 0, 0),
    (BPF_RET | BPF_K, 0, 0, ACCEPT_ALL),
];

/// A socket filter for a raw IPv4 TCP socket (which sees packets from the IPv4 header
/// on): keeps only unfragmented segments whose flags, among SYN, RST and ACK, are exactly
/// SYN+ACK or RST+ACK. Without it, the socket would copy every TCP segment the host
/// receives to user space.
pub fn bpf_answers_v4() -> Vec<BpfInstruction> {
    let mut program = vec![
        // A = flags and fragment offset; any fragment bit but DF: drop.
        (BPF_LD | BPF_H | BPF_ABS, 0, 0, 6),
        (BPF_JMP | BPF_JSET | BPF_K, 0, 1, 0x3fff),
        (BPF_RET | BPF_K, 0, 0, 0),
        // X = IPv4 header length; A = TCP flags byte.
        (BPF_LDX | BPF_B | BPF_MSH, 0, 0, 0),
        (BPF_LD | BPF_B | BPF_IND, 0, 0, 13),
    ];
    program.extend_from_slice(&ACCEPT_ANSWERS);
    program
}

/// The same filter for a raw IPv6 TCP socket, which sees packets from the TCP header on.
pub fn bpf_answers_v6() -> Vec<BpfInstruction> {
    let mut program = vec![(BPF_LD | BPF_B | BPF_ABS, 0, 0, 13)];
    program.extend_from_slice(&ACCEPT_ANSWERS);
    program
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A classic BPF interpreter for the instructions the filters use, as the kernel runs
    /// them: a load past the end drops the packet.
    fn run_bpf(program: &[BpfInstruction], packet: &[u8]) -> u32 {
        let (mut a, mut x, mut pc) = (0u32, 0u32, 0usize);
        let byte = |i: usize| packet.get(i).map(|&b| u32::from(b));
        loop {
            let (code, jt, jf, k) = program[pc];
            pc += 1;
            match code {
                c if c == BPF_LD | BPF_H | BPF_ABS => {
                    let (Some(hi), Some(lo)) = (byte(k as usize), byte(k as usize + 1)) else {
                        return 0;
                    };
                    a = hi << 8 | lo;
                }
                c if c == BPF_LD | BPF_B | BPF_ABS => match byte(k as usize) {
                    Some(b) => a = b,
                    None => return 0,
                },
                c if c == BPF_LD | BPF_B | BPF_IND => match byte((x + k) as usize) {
                    Some(b) => a = b,
                    None => return 0,
                },
                c if c == BPF_LDX | BPF_B | BPF_MSH => match byte(k as usize) {
                    Some(b) => x = (b & 0x0f) * 4,
                    None => return 0,
                },
                c if c == BPF_ALU | BPF_AND | BPF_K => a &= k,
                c if c == BPF_JMP | BPF_JEQ | BPF_K => {
                    pc += usize::from(if a == k { jt } else { jf });
                }
                c if c == BPF_JMP | BPF_JSET | BPF_K => {
                    pc += usize::from(if a & k != 0 { jt } else { jf });
                }
                c if c == BPF_RET | BPF_K => return k,
                other => panic!("opcode {other:#x} not in the interpreter"),
            }
        }
    }

    fn reply(flags: u8) -> TcpHeader {
        TcpHeader {
            src_port: 80,
            dst_port: 40000,
            seq: 7,
            ack: 1001,
            flags,
            window: 100,
            mss: None,
        }
    }

    const A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const B: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

    #[test]
    fn syn_packet_v4_fields_and_checksums() {
        let p = syn_packet_v4(
            SocketAddrV4::new(A, 40000),
            SocketAddrV4::new(B, 80),
            1000,
            64240,
            1460,
        );
        assert_eq!(p.len(), IPV4_HEADER_LEN + SYN_SEGMENT_LEN);
        assert_eq!(ipv4_header_checksum(&p[..20]), 0, "IPv4 header checksum");
        assert_eq!(checksum_v4(A, B, &p[20..]), 0, "TCP checksum");
        assert_eq!(&p[2..4], &44u16.to_be_bytes());
        assert_eq!(p[6], 0x40, "don't fragment");
        let d = parse_ipv4_packet(&p).expect("decodes");
        assert_eq!((d.src, d.dst), (A, B));
        assert_eq!(d.tcp, syn_header(40000, 80, 1000, 64240, 1460));
        assert_eq!(d.tcp.answers_syn(999), None, "a SYN answers nothing");
    }

    #[test]
    fn checksum_matches_a_hand_computed_segment() {
        // A SYN from 10.0.0.1:1 to 10.0.0.2:2, seq 1, window 0x1000, no options.
        // Pseudo-header words 0a00 0001 0a00 0002 0006 0014 sum to 0x141d; header words
        // 0001 0002 0000 0001 0000 0000 5002 1000 0000 0000 sum to 0x6006; the checksum
        // is the complement of 0x7423.
        let header = TcpHeader {
            src_port: 1,
            dst_port: 2,
            seq: 1,
            ack: 0,
            flags: SYN,
            window: 0x1000,
            mss: None,
        };
        let seg = encode_segment_v4(
            &header,
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::new(10, 0, 0, 2),
        );
        assert_eq!(&seg[16..18], &(!0x7423u16).to_be_bytes());
    }

    #[test]
    fn ipv6_packet_layout_and_checksum() {
        let (a, b): (Ipv6Addr, Ipv6Addr) = (
            "2001:db8::1".parse().unwrap(),
            "2001:db8::2".parse().unwrap(),
        );
        let p = syn_packet_v6(
            SocketAddrV6::new(a, 5, 0, 0),
            SocketAddrV6::new(b, 443, 0, 0),
            9,
            64240,
            1440,
        );
        assert_eq!(p.len(), IPV6_HEADER_LEN + SYN_SEGMENT_LEN);
        assert_eq!(p[0] >> 4, 6);
        assert_eq!(&p[4..6], &(SYN_SEGMENT_LEN as u16).to_be_bytes());
        assert_eq!(p[6], PROTOCOL_TCP);
        assert_eq!(checksum_v6(a, b, &p[40..]), 0);
        let other: Ipv6Addr = "2001:db8::3".parse().unwrap();
        assert_ne!(checksum_v6(a, other, &p[40..]), 0, "addresses are summed");
        let tcp = parse_segment(&p[40..]).expect("decodes");
        assert_eq!(tcp.mss, Some(1440));
    }

    #[test]
    fn answers_need_ack_of_isn_plus_one() {
        assert_eq!(reply(SYN | ACK).answers_syn(1000), Some(SynAnswer::SynAck));
        assert_eq!(reply(RST | ACK).answers_syn(1000), Some(SynAnswer::Reset));
        assert_eq!(reply(SYN | ACK).answers_syn(1001), None, "wrong ISN");
        assert_eq!(reply(RST).answers_syn(1000), None, "RST without ACK");
        assert_eq!(reply(SYN | RST | ACK).answers_syn(1000), None);
        assert_eq!(reply(ACK).answers_syn(1000), None);
        let mut wrap = reply(SYN | ACK);
        wrap.ack = 0;
        assert_eq!(wrap.answers_syn(u32::MAX), Some(SynAnswer::SynAck));
    }

    #[test]
    fn decoder_refuses_what_is_not_a_whole_segment() {
        let p = ipv4_packet(&reply(SYN | ACK), B, A);
        for cut in 0..p.len() {
            assert!(
                matches!(
                    parse_ipv4_packet(&p[..cut]),
                    Err(DecodeError::Truncated { .. })
                ),
                "{cut}"
            );
        }
        let mut padded = p.clone();
        padded.extend_from_slice(&[0; 6]);
        assert!(
            parse_ipv4_packet(&padded).is_ok(),
            "link padding is ignored"
        );
        let mut frag = p.clone();
        frag[7] = 1;
        assert_eq!(parse_ipv4_packet(&frag), Err(DecodeError::Fragment));
        let mut udp = p.clone();
        udp[9] = 17;
        assert_eq!(
            parse_ipv4_packet(&udp),
            Err(DecodeError::NotTcp { protocol: 17 })
        );
        let mut v6 = p.clone();
        v6[0] = 0x65;
        assert_eq!(parse_ipv4_packet(&v6), Err(DecodeError::InvalidIpHeader));
        let mut offset = p.clone();
        offset[20 + 12] = 0x40;
        assert_eq!(
            parse_ipv4_packet(&offset),
            Err(DecodeError::InvalidDataOffset { words: 4 })
        );
        let mut long = p;
        long[20 + 12] = 0xf0;
        assert!(matches!(
            parse_ipv4_packet(&long),
            Err(DecodeError::Truncated { needed: 60, .. })
        ));
    }

    #[test]
    fn options_are_skipped_up_to_mss_and_garbage_ends_them() {
        let mut seg = encode_header(&TcpHeader {
            mss: Some(1),
            ..reply(SYN | ACK)
        });
        // NOP, NOP, window scale (kind 3, len 3, 7), NOP, then MSS 1200: 12 bytes of options.
        seg.truncate(20);
        seg.extend_from_slice(&[1, 1, 3, 3, 7, 1, 2, 4, 0x04, 0xb0, 0, 0]);
        seg[12] = 8 << 4;
        assert_eq!(parse_segment(&seg).expect("ok").mss, Some(1200));
        seg[20..].copy_from_slice(&[8, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            parse_segment(&seg).expect("ok").mss,
            None,
            "option length 1"
        );
        seg[20..].copy_from_slice(&[8, 40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            parse_segment(&seg).expect("ok").mss,
            None,
            "option past the header"
        );
    }

    #[test]
    fn v4_filter_keeps_only_answers() {
        let program = bpf_answers_v4();
        let pass = |flags: u8| run_bpf(&program, &ipv4_packet(&reply(flags), B, A)) != 0;
        assert!(pass(SYN | ACK));
        assert!(pass(RST | ACK));
        assert!(pass(SYN | ACK | 0x40), "ECE does not matter");
        assert!(!pass(SYN), "our own SYN looping back");
        assert!(!pass(RST), "the kernel's RST to a SYN-ACK");
        assert!(!pass(ACK));
        assert!(!pass(ACK | PSH));
        assert!(!pass(FIN | ACK));
        assert!(!pass(SYN | RST | ACK));
        // IPv4 options move the TCP header; the filter follows the header length.
        let mut with_options = ipv4_packet(&reply(SYN | ACK), B, A);
        with_options[0] = 0x46;
        with_options.splice(20..20, [1, 1, 1, 0]);
        assert!(run_bpf(&program, &with_options) != 0);
        with_options[20 + 4 + 13] = SYN;
        assert_eq!(run_bpf(&program, &with_options), 0);
        let mut frag = ipv4_packet(&reply(SYN | ACK), B, A);
        frag[6] |= 0x20;
        assert_eq!(run_bpf(&program, &frag), 0, "more fragments");
        assert_eq!(run_bpf(&program, &[0x45; 10]), 0, "short packet");
    }

    #[test]
    fn v6_filter_keeps_only_answers() {
        let program = bpf_answers_v6();
        let pass = |flags: u8| run_bpf(&program, &encode_header(&reply(flags))) != 0;
        assert!(pass(SYN | ACK) && pass(RST | ACK));
        assert!(!pass(SYN) && !pass(RST) && !pass(ACK));
    }

    fn header() -> impl Strategy<Value = TcpHeader> {
        (
            any::<u16>(),
            any::<u16>(),
            any::<u32>(),
            any::<u32>(),
            any::<u8>(),
            any::<u16>(),
            any::<Option<u16>>(),
        )
            .prop_map(
                |(src_port, dst_port, seq, ack, flags, window, mss)| TcpHeader {
                    src_port,
                    dst_port,
                    seq,
                    ack,
                    flags,
                    window,
                    mss,
                },
            )
    }

    proptest! {
        #[test]
        fn v4_round_trip(h in header(), src in any::<[u8; 4]>(), dst in any::<[u8; 4]>()) {
            let (src, dst) = (Ipv4Addr::from(src), Ipv4Addr::from(dst));
            let p = ipv4_packet(&h, src, dst);
            prop_assert_eq!(ipv4_header_checksum(&p[..20]), 0);
            prop_assert_eq!(checksum_v4(src, dst, &p[20..]), 0);
            prop_assert_eq!(parse_ipv4_packet(&p), Ok(Ipv4Segment { src, dst, tcp: h }));
        }

        #[test]
        fn v6_round_trip(h in header(), src in any::<[u8; 16]>(), dst in any::<[u8; 16]>()) {
            let (src, dst) = (Ipv6Addr::from(src), Ipv6Addr::from(dst));
            let p = ipv6_packet(&h, src, dst);
            prop_assert_eq!(checksum_v6(src, dst, &p[40..]), 0);
            prop_assert_eq!(parse_segment(&p[40..]), Ok(h));
        }

        #[test]
        fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
            let _ = parse_ipv4_packet(&bytes);
            let _ = parse_segment(&bytes);
            let _ = run_bpf(&bpf_answers_v4(), &bytes);
        }
    }
}
