//! TCP half-open (SYN) check, as F5 BIG-IP's `tcp_half_open` monitor and nmap's SYN scan
//! do it: send one SYN from a raw socket; a SYN-ACK means something listens (L4OK), a RST
//! means nothing does (L4CON), silence until the connect timeout is L4TOUT. The SYN is
//! sent once: no retransmission, so one lost SYN or SYN-ACK fails that check (the
//! rise/fall machine is there to absorb it).
//!
//! Neither end builds a full socket: the SYN-ACK reaches a port of ours that is bound
//! but neither listening nor connected, so our kernel answers it with a RST, which
//! removes the server's half-open request at once. That is the whole point: a
//! connect check on loopback costs about 80 % kernel TCP work for both ends.
//!
//! # The shared prober
//!
//! One [`Prober`] per process and address family, created by the first check that needs
//! it, shared by all:
//!
//! - a raw TCP socket with `IP_HDRINCL` / `IPV6_HDRINCL` (we write the IP header, so the
//!   source address in the TCP checksum's pseudo-header is the one actually sent) and a
//!   classic BPF filter that lets only SYN+ACK and RST+ACK segments reach user space
//!   (without it a raw TCP socket gets a copy of every TCP segment the host receives);
//! - [`SOURCE_PORTS`] local ports reserved by binding ordinary TCP sockets (never
//!   listening, never connected) for the prober's life: the kernel hands them to no one
//!   else, and it answers any SYN-ACK arriving on them with a RST;
//! - a map of pending probes keyed by (target address, target port, our port); the
//!   entry holds the probe's random initial sequence number, which an answer must
//!   acknowledge (+1). A key is used by one probe at a time, so a server never sees two
//!   of our SYNs on one 4-tuple at once; a probe finding every port busy for its target
//!   waits for one to free up, within its timeout;
//! - one receiver task reading the raw socket and handing each answer to its probe. It
//!   runs on the runtime of the check that created the prober, so on a one-thread
//!   runtime an answer (which on loopback is queued before `sendto` even returns) costs
//!   no thread switch at all. If that runtime shuts down, the task's guard marks the
//!   prober dead and wakes its waiting probes, which retry on a new prober created on
//!   their own runtime. A runtime that stays alive but is never driven again would leave
//!   other runtimes' probes unanswered: run half-open checks on runtimes that run.
//!   (A first version ran the receiver on a thread of its own: twice the CPU per check
//!   at 10,000 checks a second, the difference mostly thread switches.)
//!
//! Entries leave the map when answered, and when the probe stops waiting for any reason
//! (timeout, or its future dropped) through a guard, so the map holds at most the probes
//! in flight.
//!
//! The source address comes from a route lookup (a UDP socket `connect()`ed to the
//! target, then `local_addr()`), cached per target for [`ROUTE_TTL`].

use std::borrow::Cow;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::io::{self, Read};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use rustix::net::RecvFlags;
use socket2::{Domain, Protocol, SockAddr, SockFilter, Socket, Type};
use tokio::net::UdpSocket;
use tokio::sync::{Notify, oneshot};
use tokio::time::{Instant, timeout_at};

use super::Timeouts;
use super::connect::verdict;
use crate::error::Error;
use crate::status::{CheckResult, CheckStatus};
use crate::tcp_wire::{
    SynAnswer, bpf_answers_v4, bpf_answers_v6, parse_ipv4_packet, parse_segment, syn_packet_v4,
    syn_packet_v6,
};

/// A TCP half-open check: one SYN, judged by the answer (SYN-ACK up, RST refused,
/// nothing within the connect timeout: timeout). Needs root or CAP_NET_RAW, checked when
/// the check is built. IPv4 and IPv6 targets; an IPv4-mapped IPv6 address is probed over
/// IPv4.
///
/// What an answer means: a SYN-ACK comes from the target's kernel, so the check proves a
/// listening socket with room in its accept queue, not an application that accepts. A
/// listener whose application never calls `accept()` still passes, since half-open
/// probes never enter the accept queue; once real connections fill that queue the
/// kernel drops SYNs and the check times out.
///
/// The SYN is sent once, never retransmitted. Checks in flight to one address share 64
/// source ports; a 65th concurrent check to the same address waits for a port, within
/// its connect timeout.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HalfOpenSpec {}

/// Receive window announced in the SYN (Linux's initial window for a 1460-byte MSS).
const WINDOW: u16 = 64240;
/// MSS option in IPv4 SYNs (Ethernet MTU minus IPv4 and TCP headers).
const MSS_V4: u16 = 1460;
/// MSS option in IPv6 SYNs.
const MSS_V6: u16 = 1440;
/// Local ports each prober reserves and spreads its probes over.
pub(crate) const SOURCE_PORTS: usize = 64;
/// How long a route lookup's source address is reused for a target.
pub(crate) const ROUTE_TTL: Duration = Duration::from_secs(30);
/// Most targets whose source address is cached; past this the cache starts over.
const ROUTE_CACHE_MAX: usize = 16_384;
/// Receive buffer asked for the raw socket, so a burst of answers is not dropped.
const RECV_BUFFER: usize = 4 << 20;

#[derive(Debug, Clone)]
pub(crate) struct HalfOpenCheck;

impl HalfOpenSpec {
    pub(crate) fn build(self) -> Result<HalfOpenCheck, Error> {
        // Find out now, not at the first check, whether this process may open raw sockets.
        Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::TCP))
            .map_err(|source| Error::HalfOpenUnavailable { source })?;
        Ok(HalfOpenCheck)
    }
}

/// How one SYN ended when it did not end in a verdict.
enum Attempt {
    Done(CheckResult),
    /// The prober's runtime shut down while the probe waited; a new prober may answer.
    ProberGone,
}

impl HalfOpenCheck {
    pub(crate) async fn run(&self, target: SocketAddr, timeouts: Timeouts) -> CheckResult {
        let deadline = Instant::now() + timeouts.connect;
        let target = match target {
            SocketAddr::V6(t) => match t.ip().to_ipv4_mapped() {
                Some(v4) => SocketAddr::new(IpAddr::V4(v4), t.port()),
                None => target,
            },
            SocketAddr::V4(_) => target,
        };
        // Bounded: a prober is only replaced when the runtime it lived on has stopped.
        for _ in 0..3 {
            let prober = match Prober::get(target.is_ipv6()) {
                Ok(p) => p,
                Err(e) => {
                    return verdict(
                        CheckStatus::L4Con,
                        format!("half-open: cannot open the raw socket: {e}"),
                    );
                }
            };
            if let Attempt::Done(result) = probe(&prober, target, deadline).await {
                return result;
            }
        }
        verdict(CheckStatus::L4Tout, "half-open: receiver stopped")
    }
}

async fn probe(prober: &Prober, target: SocketAddr, deadline: Instant) -> Attempt {
    let done = |status, description: Cow<'static, str>| Attempt::Done(verdict(status, description));
    let source = match prober.source_for(target) {
        Ok(ip) => ip,
        Err(e) => {
            return done(
                CheckStatus::L4Con,
                format!("no route to {target}: {e}").into(),
            );
        }
    };
    let isn: u32 = rand::random();
    let (answer_tx, answer_rx) = oneshot::channel();
    let Some(waiting) = prober.register(target, isn, answer_tx, deadline).await else {
        return done(
            CheckStatus::L4Tout,
            "half-open: every source port busy with this target".into(),
        );
    };
    let packet = match (source, target) {
        (IpAddr::V4(src), SocketAddr::V4(dst)) => syn_packet_v4(
            SocketAddrV4::new(src, waiting.key.our_port),
            dst,
            isn,
            WINDOW,
            MSS_V4,
        ),
        (IpAddr::V6(src), SocketAddr::V6(dst)) => syn_packet_v6(
            SocketAddrV6::new(src, waiting.key.our_port, 0, 0),
            dst,
            isn,
            WINDOW,
            MSS_V6,
        ),
        _ => {
            return done(
                CheckStatus::L4Con,
                format!("half-open: route to {target} has source {source} of another family")
                    .into(),
            );
        }
    };
    if let Err(e) = prober.send(&packet, target, deadline).await {
        return if e.kind() == io::ErrorKind::TimedOut {
            done(
                CheckStatus::L4Tout,
                "half-open: SYN not sent in time".into(),
            )
        } else {
            done(
                CheckStatus::L4Con,
                format!("half-open: sending SYN: {e}").into(),
            )
        };
    }
    // On loopback the answer was queued while `sendto` ran: reading it now ends the
    // check in this very poll, before the monitor moves it to a task of its own.
    prober.read_queued();
    let attempt = match timeout_at(deadline, answer_rx).await {
        Ok(Ok(SynAnswer::SynAck)) => done(CheckStatus::L4Ok, "half-open: SYN-ACK".into()),
        Ok(Ok(SynAnswer::Reset)) => done(CheckStatus::L4Con, "connection refused".into()),
        Ok(Err(_)) => Attempt::ProberGone,
        Err(_) => done(CheckStatus::L4Tout, "half-open: no answer to SYN".into()),
    };
    drop(waiting);
    attempt
}

/// Probes waiting for an answer, over both address families, in this process. Each
/// half-open check in flight holds one entry; it leaves when the check ends, also when
/// its future is dropped. For stats pages and tests.
pub fn half_open_pending() -> usize {
    [&PROBER_V4, &PROBER_V6]
        .iter()
        .filter_map(|slot| slot.lock().clone())
        .map(|p| p.pending.lock().len())
        .sum()
}

/// The current prober of each family; replaced when its runtime has stopped.
static PROBER_V4: Mutex<Option<Arc<Prober>>> = Mutex::new(None);
static PROBER_V6: Mutex<Option<Arc<Prober>>> = Mutex::new(None);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct ProbeKey {
    target: IpAddr,
    target_port: u16,
    our_port: u16,
}

#[derive(Debug)]
struct Pending {
    /// Tells this probe's entry from a later probe's entry under the same key.
    id: u64,
    isn: u32,
    answer: oneshot::Sender<SynAnswer>,
}

/// The raw socket, reserved ports and pending probes of one address family.
#[derive(Debug)]
struct Prober {
    v6: bool,
    /// False once the receiver task has ended.
    alive: AtomicBool,
    socket: UdpSocket,
    /// Bound, never listening: kept open so the kernel lends these ports to no one.
    _reserved: Vec<Socket>,
    ports: Vec<u16>,
    next_port: AtomicUsize,
    next_id: AtomicU64,
    pending: Mutex<HashMap<ProbeKey, Pending>>,
    /// Signalled whenever an entry leaves `pending`, for probes waiting for a port.
    port_freed: Notify,
    routes: Mutex<HashMap<SocketAddr, (IpAddr, std::time::Instant)>>,
}

/// Removes a probe's entry when it stops waiting, whatever the reason.
struct Waiting<'a> {
    prober: &'a Prober,
    key: ProbeKey,
    id: u64,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        {
            let mut pending = self.prober.pending.lock();
            if pending.get(&self.key).is_some_and(|p| p.id == self.id) {
                pending.remove(&self.key);
            }
        }
        self.prober.port_freed.notify_waiters();
    }
}

impl Prober {
    /// The prober of this family, created on first use (or when the runtime of the
    /// previous one has stopped) on the caller's runtime, with its receiver task.
    fn get(v6: bool) -> io::Result<Arc<Prober>> {
        let mut slot = if v6 { &PROBER_V6 } else { &PROBER_V4 }.lock();
        if let Some(p) = slot.as_ref().filter(|p| p.alive.load(Ordering::Acquire)) {
            return Ok(p.clone());
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(io::Error::other)?;
        let prober = {
            let _enter = runtime.enter();
            Arc::new(Prober::open(v6)?)
        };
        runtime.spawn(receive(ReceiverAlive(prober.clone())));
        *slot = Some(prober.clone());
        Ok(prober)
    }

    /// Must run inside the runtime that will drive the socket.
    fn open(v6: bool) -> io::Result<Self> {
        let domain = if v6 { Domain::IPV6 } else { Domain::IPV4 };
        let raw = Socket::new(domain, Type::RAW.nonblocking(), Some(Protocol::TCP))?;
        if v6 {
            raw.set_header_included_v6(true)?;
        } else {
            raw.set_header_included_v4(true)?;
        }
        let program = if v6 {
            bpf_answers_v6()
        } else {
            bpf_answers_v4()
        };
        let program: Vec<SockFilter> = program
            .into_iter()
            .map(|(code, jt, jf, k)| SockFilter::new(code, jt, jf, k))
            .collect();
        raw.attach_filter(&program)?;
        // A smaller buffer only risks dropped answers under bursts, never correctness.
        let _ = raw.set_recv_buffer_size(RECV_BUFFER);
        // Segments queued between socket() and the filter went through unfiltered; the
        // receiver would ignore them, but there is no reason to keep them.
        let mut scratch = [0u8; 256];
        while (&raw).read(&mut scratch).is_ok() {}

        let unspecified = if v6 {
            SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0)
        } else {
            SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0)
        };
        let mut reserved = Vec::with_capacity(SOURCE_PORTS);
        let mut ports = Vec::with_capacity(SOURCE_PORTS);
        for _ in 0..SOURCE_PORTS {
            let s = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?;
            s.bind(&SockAddr::from(unspecified))?;
            let port = s
                .local_addr()?
                .as_socket()
                .map(|a| a.port())
                .ok_or_else(|| io::Error::other("bound TCP socket has no port"))?;
            ports.push(port);
            reserved.push(s);
        }
        Ok(Self {
            v6,
            alive: AtomicBool::new(true),
            // tokio's UdpSocket only issues sendto/recvfrom, which work on raw sockets
            // too (as for the ICMP check's raw fallback).
            socket: UdpSocket::from_std(std::net::UdpSocket::from(OwnedFd::from(raw)))?,
            _reserved: reserved,
            ports,
            next_port: AtomicUsize::new(rand::random::<u16>().into()),
            next_id: AtomicU64::new(0),
            pending: Mutex::new(HashMap::new()),
            port_freed: Notify::new(),
            routes: Mutex::new(HashMap::new()),
        })
    }

    /// The address the kernel would send from to reach `target`.
    fn source_for(&self, target: SocketAddr) -> io::Result<IpAddr> {
        let mut key = target;
        key.set_port(0);
        let now = std::time::Instant::now();
        if let Some(&(source, at)) = self.routes.lock().get(&key) {
            if now.duration_since(at) < ROUTE_TTL {
                return Ok(source);
            }
        }
        let unspecified = if self.v6 {
            SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0)
        } else {
            SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0)
        };
        // A UDP connect only looks the route up; nothing is sent. Port 0 is refused, so
        // any other port stands in (the route does not depend on it).
        let mut probe_addr = target;
        probe_addr.set_port(9);
        let udp = std::net::UdpSocket::bind(unspecified)?;
        udp.connect(probe_addr)?;
        let source = udp.local_addr()?.ip();
        let mut routes = self.routes.lock();
        if routes.len() >= ROUTE_CACHE_MAX {
            routes.clear();
        }
        routes.insert(key, (source, now));
        Ok(source)
    }

    /// Take a free source port for `target` and enter the probe in the pending map,
    /// waiting until `deadline` if every port is busy with this target.
    async fn register(
        &self,
        target: SocketAddr,
        isn: u32,
        answer: oneshot::Sender<SynAnswer>,
        deadline: Instant,
    ) -> Option<Waiting<'_>> {
        let mut answer = Some(answer);
        loop {
            let freed = self.port_freed.notified();
            tokio::pin!(freed);
            // Registered before looking, so a port freed in between is not missed.
            freed.as_mut().enable();
            if let Some(waiting) = self.try_register(target, isn, &mut answer) {
                return Some(waiting);
            }
            if timeout_at(deadline, freed).await.is_err() {
                return None;
            }
        }
    }

    fn try_register(
        &self,
        target: SocketAddr,
        isn: u32,
        answer: &mut Option<oneshot::Sender<SynAnswer>>,
    ) -> Option<Waiting<'_>> {
        let start = self.next_port.fetch_add(1, Ordering::Relaxed);
        let mut pending = self.pending.lock();
        for i in 0..self.ports.len() {
            let key = ProbeKey {
                target: target.ip(),
                target_port: target.port(),
                our_port: self.ports[start.wrapping_add(i) % self.ports.len()],
            };
            if let Entry::Vacant(slot) = pending.entry(key) {
                let id = self.next_id.fetch_add(1, Ordering::Relaxed);
                slot.insert(Pending {
                    id,
                    isn,
                    answer: answer.take()?,
                });
                return Some(Waiting {
                    prober: self,
                    key,
                    id,
                });
            }
        }
        None
    }

    async fn send(&self, packet: &[u8], target: SocketAddr, deadline: Instant) -> io::Result<()> {
        // Raw sockets take no port (IPv6 ones refuse any but 0 or the protocol); an
        // IPv6 scope must stay for link-local targets.
        let mut to = target;
        to.set_port(0);
        // When the send buffer is full this waits for room. The socket belongs to the
        // receiver's runtime, whose readiness wakes this task whichever runtime it is on.
        match timeout_at(deadline, self.socket.send_to(packet, to)).await {
            Err(_) => Err(io::ErrorKind::TimedOut.into()),
            Ok(r) => r.map(drop),
        }
    }

    /// Read and dispatch the segments already queued on the socket, without waiting.
    /// One `recvfrom` returning `EAGAIN` when nothing is there.
    fn read_queued(&self) {
        let mut buf = [0u8; 2048];
        // Bounded, so one probe never reads for everyone for long; the receiver task
        // takes the rest.
        for _ in 0..64 {
            match rustix::net::recvfrom(&self.socket, &mut buf[..], RecvFlags::DONTWAIT) {
                Ok((len, _, from)) => {
                    let Some(from) = from.and_then(|a| SocketAddr::try_from(a).ok()) else {
                        continue;
                    };
                    self.dispatch(&buf[..len.min(buf.len())], from.ip());
                }
                Err(_) => return,
            }
        }
    }

    /// Hand a received segment to the probe it answers, if any. Anything malformed or
    /// unexpected is ignored.
    fn dispatch(&self, packet: &[u8], from: IpAddr) {
        let (source, tcp) = if self.v6 {
            let Ok(tcp) = parse_segment(packet) else {
                return;
            };
            (from, tcp)
        } else {
            let Ok(segment) = parse_ipv4_packet(packet) else {
                return;
            };
            (IpAddr::V4(segment.src), segment.tcp)
        };
        let key = ProbeKey {
            target: source,
            target_port: tcp.src_port,
            our_port: tcp.dst_port,
        };
        let answered = {
            let mut pending = self.pending.lock();
            let Some(answer) = pending.get(&key).and_then(|p| tcp.answers_syn(p.isn)) else {
                return;
            };
            pending.remove(&key).map(|p| (p.answer, answer))
        };
        // Woken outside the lock: waking may reach into another runtime.
        if let Some((tx, answer)) = answered {
            let _ = tx.send(answer);
            self.port_freed.notify_waiters();
        }
    }
}

/// Held by the receiver task: when the task ends (its runtime shut down), the prober is
/// marked dead and its pending probes are told, so they retry on a new prober.
struct ReceiverAlive(Arc<Prober>);

impl Drop for ReceiverAlive {
    fn drop(&mut self) {
        self.0.alive.store(false, Ordering::Release);
        // Dropping the senders wakes every waiting probe.
        let pending = std::mem::take(&mut *self.0.pending.lock());
        drop(pending);
        self.0.port_freed.notify_waiters();
    }
}

/// The receiver task: read answers until the runtime stops.
async fn receive(alive: ReceiverAlive) {
    let prober = &alive.0;
    let mut buf = vec![0u8; 65_536];
    loop {
        if prober.socket.readable().await.is_err() {
            return;
        }
        loop {
            match prober.socket.try_recv_from(&mut buf) {
                Ok((len, from)) => prober.dispatch(&buf[..len], from.ip()),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                // A socket error is reported once and cleared; keep reading.
                Err(_) => {}
            }
        }
    }
}
