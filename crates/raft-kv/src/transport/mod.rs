//! The TCP transport between Raft peers.
//!
//! [`Transport::start`] takes a bound listener and the peers' addresses. Each
//! node dials every peer and writes to it over its own connection; it reads
//! what peers send on the connections they dial to it, and hands those
//! messages to the node through one bounded inbox.
//!
//! - Framing and handshake: [`wire`].
//! - Backpressure: [`Transport::send`] never waits. Each peer has a bounded
//!   queue; when it is full the message is dropped and [`SendOutcome::QueueFull`]
//!   says so. Raft tolerates lost messages (it retries appends and
//!   heartbeats), and a node must never stall its event loop on a slow peer.
//! - Reconnect: a broken or refused connection is retried with exponential
//!   backoff between [`TransportConfig::backoff_initial`] and
//!   [`TransportConfig::backoff_max`].
//! - Streamed snapshots: the core cuts a snapshot into `InstallSnapshot`
//!   chunks; the transport gives them their own queue, written only when no
//!   ordinary message is waiting, so they stream behind heartbeats.
//!
//! # Peer addresses and the handshake
//!
//! Every connection opens with a handshake naming the dialer and the address it
//! accepts peers on ([`TransportConfig::advertised_addr`]). That lets a node
//! answer a peer it has no address for yet: a node added at run time dials the
//! others before they have applied the change that carries its address, and a
//! joining node is dialed by a leader it was not told about. Such a
//! *claimed* address is only a stopgap, because nothing authenticates it (nor
//! the `from` of the handshake itself): a peer could lie, or be stale. The rule:
//!
//! 1. An address given to [`Transport::add_peer`] (the node's configured
//!    addresses and, overriding those, the addresses replicated in the
//!    membership, which snapshots carry) always wins. It replaces a claim;
//!    when it is the claimed address, the claim's connection and queued
//!    messages are kept.
//! 2. A handshake only fills a gap: its address is used when the transport has
//!    no address at all for that peer. It never replaces one given to
//!    `add_peer`, nor an earlier claim that is still in force.
//! 3. A claim lasts as long as the connection that made it: when that closes,
//!    the claim is withdrawn (so a stale or false one does not outlive it, and
//!    a peer that comes back elsewhere claims its new address).
//! 4. After [`Transport::remove_peer`], claims for that peer are ignored until
//!    `add_peer` names it again: a removed member that keeps dialing is not
//!    talked to again.
//!
//! The node driver adds every configured and committed address with
//! `add_peer`, so a replicated address always takes over from a claim as soon
//! as the driver applies it.

mod inbound;
mod peer;
mod stats;
pub mod wire;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use crate::raft::{Message, MessageBody, NodeId};
use peer::PeerTask;
use stats::Counters;
pub use stats::TransportStats;
use wire::encode_handshake;

/// Transport tunables.
#[derive(Debug, Clone)]
pub struct TransportConfig {
    /// Ordinary messages queued per peer before sends are refused.
    pub queue_capacity: usize,
    /// Snapshot chunks queued per peer before sends are refused.
    pub snapshot_queue_capacity: usize,
    /// Received messages waiting for the node before readers stop reading.
    pub inbox_capacity: usize,
    /// First delay before redialing a peer.
    pub backoff_initial: Duration,
    /// Longest delay between dial attempts.
    pub backoff_max: Duration,
    /// Limit on dialing and on receiving a handshake.
    pub connect_timeout: Duration,
    /// Largest frame accepted from a peer.
    pub max_frame_len: usize,
    /// A write to a peer that makes no progress for this long means the peer
    /// is gone (it stopped reading, or its host vanished): reconnect.
    pub write_timeout: Duration,
    /// TCP keepalive idle time on peer connections, so a connection to a host
    /// that vanished without closing it is eventually noticed.
    pub keepalive: Duration,
    /// Where peers should dial this node, sent in every handshake so that a
    /// peer with no address for this node can answer it (see the module docs).
    /// `None`: the listener's address, unless it is a wildcard (`0.0.0.0`,
    /// `[::]`) that no peer could dial, in which case nothing is advertised.
    pub advertised_addr: Option<SocketAddr>,
}

impl Default for TransportConfig {
    fn default() -> Self {
        TransportConfig {
            queue_capacity: 4096,
            snapshot_queue_capacity: 16,
            inbox_capacity: 8192,
            backoff_initial: Duration::from_millis(20),
            backoff_max: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(1),
            max_frame_len: 64 << 20,
            write_timeout: Duration::from_secs(5),
            keepalive: Duration::from_secs(10),
            advertised_addr: None,
        }
    }
}

/// What became of a message handed to [`Transport::send`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendOutcome {
    /// Queued for the peer.
    Queued,
    /// Dropped: the peer's queue is full (it is slow or unreachable).
    QueueFull,
    /// Dropped: no such peer.
    UnknownPeer,
}

/// Where the transport got a peer's address (the rule in the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// [`Transport::add_peer`]: configured, or replicated in the membership.
    Added,
    /// The peer's own handshake, on the inbound connection with this number;
    /// withdrawn when that connection closes.
    Claimed { connection: u64 },
}

struct PeerEntry {
    addr: SocketAddr,
    source: Source,
    messages: mpsc::Sender<Message>,
    snapshots: mpsc::Sender<Message>,
}

#[derive(Default)]
struct Peers {
    entries: HashMap<NodeId, PeerEntry>,
    /// Removed with [`Transport::remove_peer`] and not added since: their
    /// handshake claims are ignored.
    removed: HashSet<NodeId>,
}

struct Inner {
    id: NodeId,
    config: TransportConfig,
    peers: Mutex<Peers>,
    counters: Arc<Counters>,
    shutdown: watch::Sender<bool>,
    local_addr: SocketAddr,
    advertised: Option<SocketAddr>,
    /// This node's handshake, the same on every connection it dials.
    handshake: Arc<[u8]>,
}

impl Inner {
    /// Spawns the task that dials `peer` at `addr` and returns its entry.
    fn spawn_peer(&self, peer: NodeId, addr: SocketAddr, source: Source) -> PeerEntry {
        let config = &self.config;
        let (messages_tx, messages) = mpsc::channel(config.queue_capacity.max(1));
        let (snapshots_tx, snapshots) = mpsc::channel(config.snapshot_queue_capacity.max(1));
        let task = PeerTask {
            to: peer,
            addr,
            handshake: self.handshake.clone(),
            messages,
            snapshots,
            config: config.clone(),
            counters: self.counters.clone(),
            shutdown: self.shutdown.subscribe(),
        };
        tokio::spawn(task.run());
        PeerEntry {
            addr,
            source,
            messages: messages_tx,
            snapshots: snapshots_tx,
        }
    }

    /// Records `addr`, which `peer` advertised in the handshake of inbound
    /// connection `connection`, if the transport has no address for `peer`
    /// (rule 2 of the module docs). `true` if it was recorded.
    fn claim(&self, peer: NodeId, addr: SocketAddr, connection: u64) -> bool {
        if peer == self.id || !dialable(addr) || *self.shutdown.borrow() {
            return false;
        }
        let mut peers = self.peers.lock();
        if peers.removed.contains(&peer) {
            tracing::debug!(peer, %addr, "ignoring the address claimed by a removed peer");
            return false;
        }
        if let Some(known) = peers.entries.get(&peer) {
            if known.addr != addr {
                tracing::debug!(peer, claimed = %addr, known = %known.addr, "ignoring a claimed peer address: another is known");
            }
            return false;
        }
        let entry = self.spawn_peer(peer, addr, Source::Claimed { connection });
        peers.entries.insert(peer, entry);
        self.counters.claimed_addrs.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(peer, %addr, "dialing a peer at the address its handshake claimed");
        true
    }

    /// Forgets the claim `peer` made on inbound connection `connection`, unless
    /// `add_peer` or another connection's claim has taken its place.
    fn withdraw_claim(&self, peer: NodeId, connection: u64) {
        let mut peers = self.peers.lock();
        if peers
            .entries
            .get(&peer)
            .is_some_and(|entry| entry.source == Source::Claimed { connection })
        {
            // Dropping the queues ends the peer task.
            peers.entries.remove(&peer);
        }
    }
}

/// Whether a peer could dial `addr`: a wildcard address or port 0 names no
/// one in particular.
fn dialable(addr: SocketAddr) -> bool {
    !addr.ip().is_unspecified() && addr.port() != 0
}

/// A running transport; cheap to clone. Its tasks stop when
/// [`Transport::shutdown`] is called or the last clone is dropped.
#[derive(Clone)]
pub struct Transport {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("id", &self.inner.id)
            .field("local_addr", &self.inner.local_addr)
            .finish_non_exhaustive()
    }
}

impl Transport {
    /// Starts accepting on `listener` and dialing `peers`. Must be called
    /// within a tokio runtime. Returns the transport and the inbox of
    /// messages received from peers.
    pub fn start(
        id: NodeId,
        listener: TcpListener,
        peers: impl IntoIterator<Item = (NodeId, SocketAddr)>,
        config: TransportConfig,
    ) -> crate::Result<(Transport, mpsc::Receiver<Message>)> {
        let local_addr = listener.local_addr().map_err(crate::Error::Network)?;
        let advertised = config.advertised_addr.unwrap_or(local_addr);
        let advertised = if dialable(advertised) {
            Some(advertised)
        } else {
            // Peers that know this node's address can still reach it; the
            // others cannot answer it until they learn one.
            tracing::warn!(%advertised, "no dialable peer address to advertise");
            None
        };
        let (inbox_tx, inbox_rx) = mpsc::channel(config.inbox_capacity.max(1));
        let (shutdown, shutdown_rx) = watch::channel(false);
        let counters = Arc::new(Counters::default());
        let inner = Arc::new(Inner {
            id,
            config: config.clone(),
            peers: Mutex::new(Peers::default()),
            counters: counters.clone(),
            shutdown,
            local_addr,
            advertised,
            handshake: encode_handshake(id, advertised).into(),
        });
        // Weak: the accept loop must not keep the transport alive (its tasks
        // stop when the last handle is dropped).
        tokio::spawn(inbound::accept_loop(
            listener,
            inbox_tx,
            Arc::downgrade(&inner),
            config,
            counters,
            shutdown_rx,
        ));
        let transport = Transport { inner };
        for (peer, addr) in peers {
            transport.add_peer(peer, addr);
        }
        Ok((transport, inbox_rx))
    }

    /// Starts talking to `peer` at `addr`, replacing any earlier address, and
    /// any address `peer` claimed in a handshake (see the module docs). When
    /// `addr` is the one it claimed, its connection and queue are kept.
    pub fn add_peer(&self, peer: NodeId, addr: SocketAddr) {
        if peer == self.inner.id {
            return;
        }
        let mut peers = self.inner.peers.lock();
        peers.removed.remove(&peer);
        if let Some(entry) = peers.entries.get_mut(&peer)
            && entry.addr == addr
            && matches!(entry.source, Source::Claimed { .. })
        {
            // The claim was right: it is known now, and no longer tied to the
            // connection that made it.
            entry.source = Source::Added;
            return;
        }
        // Replacing the entry drops the old queues' senders, which ends the
        // old task.
        let entry = self.inner.spawn_peer(peer, addr, Source::Added);
        peers.entries.insert(peer, entry);
    }

    /// Stops talking to `peer`; its handshake claims are ignored until it is
    /// added again.
    pub fn remove_peer(&self, peer: NodeId) {
        let mut peers = self.inner.peers.lock();
        peers.entries.remove(&peer);
        peers.removed.insert(peer);
    }

    /// Where the transport dials `peer`: the address it was added with or,
    /// until it is added, the address it claimed in its handshake.
    pub fn peer_addr(&self, peer: NodeId) -> Option<SocketAddr> {
        self.inner.peers.lock().entries.get(&peer).map(|e| e.addr)
    }

    /// Queues `message` for `message.to` without waiting.
    pub fn send(&self, message: Message) -> SendOutcome {
        let peers = self.inner.peers.lock();
        let Some(queues) = peers.entries.get(&message.to) else {
            self.inner.counters.dropped.fetch_add(1, Ordering::Relaxed);
            return SendOutcome::UnknownPeer;
        };
        let queue = if matches!(message.body, MessageBody::InstallSnapshot { .. }) {
            &queues.snapshots
        } else {
            &queues.messages
        };
        match queue.try_send(message) {
            Ok(()) => SendOutcome::Queued,
            Err(_) => {
                self.inner.counters.dropped.fetch_add(1, Ordering::Relaxed);
                SendOutcome::QueueFull
            }
        }
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.inner.id
    }

    /// The address the peer listener is bound to (peers are told
    /// [`Transport::advertised_addr`], which is this unless configured).
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local_addr
    }

    /// The address this node's handshakes advertise, if any (see
    /// [`TransportConfig::advertised_addr`]).
    pub fn advertised_addr(&self) -> Option<SocketAddr> {
        self.inner.advertised
    }

    /// Counters since start.
    pub fn stats(&self) -> TransportStats {
        self.inner.counters.snapshot()
    }

    /// Stops every task of this transport and closes its connections.
    pub fn shutdown(&self) {
        self.inner.shutdown.send_replace(true);
        self.inner.peers.lock().entries.clear();
    }
}

/// Turns on TCP keepalive with `idle` before the first probe.
fn set_keepalive(stream: &tokio::net::TcpStream, idle: Duration) -> std::io::Result<()> {
    let params = socket2::TcpKeepalive::new()
        .with_time(idle)
        .with_interval((idle / 2).max(Duration::from_secs(1)));
    socket2::SockRef::from(stream).set_tcp_keepalive(&params)
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shutdown.send_replace(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The address rule of the module docs, one step at a time. The addresses are
    /// listeners of this test, so the peer tasks dial nothing else.
    #[tokio::test]
    async fn claims_fill_gaps_and_never_replace_an_added_address() {
        let mut sinks = Vec::new();
        for _ in 0..6 {
            sinks.push(TcpListener::bind("127.0.0.1:0").await.expect("bind"));
        }
        let addr = |i: usize| sinks[i].local_addr().expect("addr");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let (transport, _inbox) =
            Transport::start(1, listener, [(2, addr(0))], TransportConfig::default())
                .expect("start");
        let inner = &transport.inner;

        // An added address is never replaced by a claim.
        assert!(!inner.claim(2, addr(1), 1));
        assert_eq!(transport.peer_addr(2), Some(addr(0)));
        // A gap is filled; another claim while the first is in force is ignored.
        assert!(inner.claim(3, addr(2), 1));
        assert!(!inner.claim(3, addr(3), 2));
        assert_eq!(transport.peer_addr(3), Some(addr(2)));
        // Only the connection that claimed withdraws the claim.
        inner.withdraw_claim(3, 2);
        assert_eq!(transport.peer_addr(3), Some(addr(2)));
        inner.withdraw_claim(3, 1);
        assert_eq!(transport.peer_addr(3), None);

        // add_peer confirms a claim of the same address (which then outlives its
        // connection) and replaces a claim of another.
        assert!(inner.claim(4, addr(2), 3));
        transport.add_peer(4, addr(2));
        inner.withdraw_claim(4, 3);
        assert_eq!(transport.peer_addr(4), Some(addr(2)));
        assert!(inner.claim(5, addr(3), 4));
        transport.add_peer(5, addr(4));
        inner.withdraw_claim(5, 4);
        assert_eq!(transport.peer_addr(5), Some(addr(4)));

        // A removed peer's claims are ignored until it is added again.
        transport.remove_peer(5);
        assert!(!inner.claim(5, addr(3), 5));
        assert_eq!(transport.peer_addr(5), None);
        transport.add_peer(5, addr(4));
        assert_eq!(transport.peer_addr(5), Some(addr(4)));

        // Claims for this node, or of addresses no one could dial, are ignored.
        assert!(!inner.claim(1, addr(5), 6));
        assert!(!inner.claim(6, "0.0.0.0:7000".parse().expect("addr"), 6));
        assert!(!inner.claim(6, "127.0.0.1:0".parse().expect("addr"), 6));
        assert_eq!(transport.stats().claimed_addrs, 3);
        // And so is every claim once the transport has stopped.
        transport.shutdown();
        assert!(!inner.claim(6, addr(5), 7));
    }
}
