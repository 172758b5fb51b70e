//! ICMP echo check.
//!
//! Uses an unprivileged ICMP datagram socket when `net.ipv4.ping_group_range` allows it,
//! and falls back to a raw socket (needs root or CAP_NET_RAW). IPv4 and IPv6 targets.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};

use parking_lot::Mutex;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tokio::sync::{OnceCell, oneshot};
use tokio::time::Instant;

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
    /// One socket per family, shared by every clone of this check (a monitor clones one
    /// check for all its targets). A raw socket sees every ICMP packet the host gets,
    /// so one socket per check in flight would multiply that work by the checks
    /// waiting; shared, each reply is read once and handed to the check it answers.
    v4: Arc<OnceCell<SharedSocket>>,
    v6: Arc<OnceCell<SharedSocket>>,
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
            v4: Arc::default(),
            v6: Arc::default(),
        })
    }
}

/// Sequence numbers tell apart the checks sharing a socket.
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

type WaiterKey = (IpAddr, u16);

#[derive(Debug)]
struct SharedSocket {
    socket: UdpSocket,
    raw: bool,
    v6: bool,
    identifier: u16,
    waiters: Mutex<HashMap<WaiterKey, oneshot::Sender<()>>>,
}

impl SharedSocket {
    fn open(v6: bool) -> std::io::Result<Self> {
        let (socket, raw) = open_socket(v6)?;
        socket.set_nonblocking(true)?;
        // tokio's UdpSocket only issues sendto/recvfrom, which work on ICMP sockets too.
        let socket = UdpSocket::from_std(std::net::UdpSocket::from(OwnedFd::from(socket)))?;
        Ok(Self {
            socket,
            raw,
            v6,
            identifier: (std::process::id() & 0xffff) as u16,
            waiters: Mutex::new(HashMap::new()),
        })
    }

    /// Hand a received packet to the check waiting for it, if any.
    fn dispatch(&self, packet: &[u8], from: IpAddr) {
        let reply = if self.v6 {
            parse_echo_reply_v6(packet)
        } else {
            parse_echo_reply(packet, self.raw)
        };
        let Some(reply) = reply else {
            return;
        };
        // Datagram sockets get their identifier rewritten by the kernel, which also
        // filters replies per socket; raw sockets see everyone's.
        if self.raw && reply.identifier != self.identifier {
            return;
        }
        if let Some(waiter) = self.waiters.lock().remove(&(from, reply.sequence)) {
            let _ = waiter.send(());
        }
    }
}

/// Removes a check's entry when it stops waiting, whatever the reason.
struct Waiting<'a> {
    shared: &'a SharedSocket,
    key: WaiterKey,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.shared.waiters.lock().remove(&self.key);
    }
}

impl IcmpCheck {
    pub(crate) async fn run(&self, target: SocketAddr, timeouts: Timeouts) -> CheckResult {
        let ip = target.ip();
        let v6 = ip.is_ipv6();
        let cell = if v6 { &self.v6 } else { &self.v4 };
        let shared = match cell
            .get_or_try_init(|| async { SharedSocket::open(v6) })
            .await
        {
            Ok(s) => s,
            Err(e) => return verdict(CheckStatus::L4Con, format!("cannot open ICMP socket: {e}")),
        };
        let sequence = NEXT_SEQUENCE.fetch_add(1, Ordering::Relaxed);
        let key = (ip, sequence);
        let (tx, mut answered) = oneshot::channel();
        shared.waiters.lock().insert(key, tx);
        let _waiting = Waiting { shared, key };
        let packet = if v6 {
            echo_request_v6(shared.identifier, sequence, &self.payload)
        } else {
            echo_request(shared.identifier, sequence, &self.payload)
        };
        if let Err(e) = shared.socket.send_to(&packet, SocketAddr::new(ip, 0)).await {
            return verdict(CheckStatus::L4Con, format!("sending echo: {e}"));
        }
        let deadline = Instant::now() + timeouts.connect;
        let mut buf = [0u8; 2048];
        // Every waiting check also reads the shared socket and passes on what it reads,
        // so no background task is needed. Bounded by the deadline.
        loop {
            tokio::select! {
                biased;
                got = &mut answered => {
                    return match got {
                        Ok(()) => verdict(CheckStatus::L4Ok, "echo reply"),
                        Err(_) => verdict(CheckStatus::L4Tout, "no echo reply"),
                    };
                }
                _ = tokio::time::sleep_until(deadline) => {
                    return verdict(CheckStatus::L4Tout, "no echo reply");
                }
                read = shared.socket.recv_from(&mut buf) => match read {
                    Ok((n, from)) => shared.dispatch(&buf[..n], from.ip()),
                    Err(e) => return verdict(CheckStatus::L4Con, format!("echo: {e}")),
                },
            }
        }
    }
}
