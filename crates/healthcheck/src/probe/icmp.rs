//! ICMP echo check.
//!
//! Uses an unprivileged ICMP datagram socket when `net.ipv4.ping_group_range` allows it,
//! and falls back to a raw socket (needs root or CAP_NET_RAW). Only IPv4 targets.

use std::net::{IpAddr, SocketAddr};
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU16, Ordering};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tokio::time::{Instant, timeout_at};

use super::Timeouts;
use super::connect::verdict;
use crate::error::Error;
use crate::icmp_wire::{echo_request, parse_echo_reply};
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
        open_socket().map_err(|source| Error::IcmpUnavailable { source })?;
        Ok(IcmpCheck {
            payload: (0..self.payload_size).map(|i| i as u8).collect(),
        })
    }
}

/// Sequence numbers tell our replies apart from others' on a shared raw socket view.
static NEXT_SEQUENCE: AtomicU16 = AtomicU16::new(1);

fn open_socket() -> std::io::Result<(Socket, bool)> {
    match Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::ICMPV4)) {
        Ok(s) => Ok((s, false)),
        Err(_) => Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4)).map(|s| (s, true)),
    }
}

impl IcmpCheck {
    pub(crate) async fn run(&self, target: SocketAddr, timeouts: Timeouts) -> CheckResult {
        let IpAddr::V4(ip) = target.ip() else {
            return verdict(CheckStatus::L4Con, "ICMP echo supports IPv4 targets only");
        };
        let (socket, raw) = match open_socket() {
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
        let packet = echo_request(identifier, sequence, &self.payload);
        let dest = SocketAddr::new(IpAddr::V4(ip), 0);
        if let Err(e) = socket.send_to(&packet, dest).await {
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
                    if from.ip() != IpAddr::V4(ip) {
                        continue;
                    }
                    let Some(reply) = parse_echo_reply(&buf[..n], raw) else {
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
