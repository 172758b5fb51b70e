//! ICMP echo check.
//!
//! Uses an unprivileged ICMP datagram socket when `net.ipv4.ping_group_range` allows it,
//! and falls back to a raw socket (needs root or CAP_NET_RAW). IPv4 and IPv6 targets.

use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU16, Ordering};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tokio::time::{Instant, timeout_at};

use super::Timeouts;
use super::connect::verdict;
use crate::error::Error;
use crate::icmp_wire::{echo_request, echo_request_v6, parse_echo_reply, parse_echo_reply_v6};
use crate::status::{CheckResult, CheckStatus};

/// An ICMP echo check. The reply must arrive within the connect timeout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IcmpSpec {
    /// Bytes of payload in the echo request (default 56, as `ping`).
    pub payload_size: usize,
}

impl Default for IcmpSpec {
    fn default() -> Self {
        Self { payload_size: 56 }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct IcmpCheck {
    payload: Vec<u8>,
}

impl IcmpSpec {
    pub(crate) fn build(self) -> Result<IcmpCheck, Error> {
        if self.payload_size > 1400 {
            return Err(Error::InvalidSetting {
                field: "payload_size",
                reason: "must be at most 1400 bytes",
            });
        }
        // Find out now, not at the first check, whether this process may ping at all.
        open_socket(false).map_err(|source| Error::IcmpUnavailable { source })?;
        Ok(IcmpCheck {
            payload: (0..self.payload_size).map(|i| i as u8).collect(),
        })
    }
}

/// Sequence numbers tell our replies apart from others' on a shared raw socket view.
static NEXT_SEQUENCE: AtomicU16 = AtomicU16::new(1);

/// An ICMP socket and whether it is raw (raw IPv4 sockets deliver the IP header and
/// see every ICMP packet, not just replies to this socket).
fn open_socket(v6: bool) -> std::io::Result<(Socket, bool)> {
    let (domain, protocol) = if v6 {
        (Domain::IPV6, Protocol::ICMPV6)
    } else {
        (Domain::IPV4, Protocol::ICMPV4)
    };
    match Socket::new(domain, Type::DGRAM, Some(protocol)) {
        Ok(s) => Ok((s, false)),
        Err(_) => Socket::new(domain, Type::RAW, Some(protocol)).map(|s| (s, true)),
    }
}

impl IcmpCheck {
    pub(crate) async fn run(&self, target: SocketAddr, timeouts: Timeouts) -> CheckResult {
        let ip = target.ip();
        let v6 = ip.is_ipv6();
        let (socket, raw) = match open_socket(v6) {
            Ok(s) => s,
            Err(e) => return verdict(CheckStatus::L4Con, format!("cannot open ICMP socket: {e}")),
        };
        if let Err(e) = socket.set_nonblocking(true) {
            return verdict(CheckStatus::L4Con, format!("ICMP socket: {e}"));
        }
        // tokio's UdpSocket only issues sendto/recvfrom, which work on ICMP sockets too.
        let socket = match UdpSocket::from_std(std::net::UdpSocket::from(OwnedFd::from(socket))) {
            Ok(s) => s,
            Err(e) => return verdict(CheckStatus::L4Con, format!("ICMP socket: {e}")),
        };
        let identifier = (std::process::id() & 0xffff) as u16;
        let sequence = NEXT_SEQUENCE.fetch_add(1, Ordering::Relaxed);
        let packet = if v6 {
            echo_request_v6(identifier, sequence, &self.payload)
        } else {
            echo_request(identifier, sequence, &self.payload)
        };
        if let Err(e) = socket.send_to(&packet, SocketAddr::new(ip, 0)).await {
            return verdict(CheckStatus::L4Con, format!("sending echo: {e}"));
        }
        let deadline = Instant::now() + timeouts.connect;
        let mut buf = [0u8; 2048];
        // Bounded by the deadline; each iteration consumes one datagram.
        loop {
            match timeout_at(deadline, socket.recv_from(&mut buf)).await {
                Err(_) => return verdict(CheckStatus::L4Tout, "no echo reply"),
                Ok(Err(e)) => return verdict(CheckStatus::L4Con, format!("echo: {e}")),
                Ok(Ok((n, from))) => {
                    if from.ip() != ip {
                        continue;
                    }
                    let reply = if v6 {
                        parse_echo_reply_v6(&buf[..n])
                    } else {
                        parse_echo_reply(&buf[..n], raw)
                    };
                    let Some(reply) = reply else {
                        continue;
                    };
                    // Datagram sockets get their identifier rewritten by the kernel,
                    // which also filters replies per socket; raw sockets see everything.
                    if reply.sequence == sequence && (!raw || reply.identifier == identifier) {
                        return verdict(CheckStatus::L4Ok, "echo reply");
                    }
                }
            }
        }
    }
}
