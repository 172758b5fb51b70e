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

mod inbound;
mod peer;
mod stats;
pub mod wire;

use std::collections::HashMap;
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

struct PeerQueues {
    messages: mpsc::Sender<Message>,
    snapshots: mpsc::Sender<Message>,
}

struct Inner {
    id: NodeId,
    config: TransportConfig,
    peers: Mutex<HashMap<NodeId, PeerQueues>>,
    counters: Arc<Counters>,
    shutdown: watch::Sender<bool>,
    local_addr: SocketAddr,
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
        let (inbox_tx, inbox_rx) = mpsc::channel(config.inbox_capacity.max(1));
        let (shutdown, shutdown_rx) = watch::channel(false);
        let counters = Arc::new(Counters::default());
        tokio::spawn(inbound::accept_loop(
            listener,
            inbox_tx,
            config.clone(),
            counters.clone(),
            shutdown_rx,
        ));
        let transport = Transport {
            inner: Arc::new(Inner {
                id,
                config,
                peers: Mutex::new(HashMap::new()),
                counters,
                shutdown,
                local_addr,
            }),
        };
        for (peer, addr) in peers {
            transport.add_peer(peer, addr);
        }
        Ok((transport, inbox_rx))
    }

    /// Starts talking to `peer` at `addr` (replacing any earlier address).
    pub fn add_peer(&self, peer: NodeId, addr: SocketAddr) {
        if peer == self.inner.id {
            return;
        }
        let config = &self.inner.config;
        let (messages_tx, messages) = mpsc::channel(config.queue_capacity.max(1));
        let (snapshots_tx, snapshots) = mpsc::channel(config.snapshot_queue_capacity.max(1));
        let task = PeerTask {
            from: self.inner.id,
            to: peer,
            addr,
            messages,
            snapshots,
            config: config.clone(),
            counters: self.inner.counters.clone(),
            shutdown: self.inner.shutdown.subscribe(),
        };
        tokio::spawn(task.run());
        // Replacing the queues drops the old senders, which ends the old task.
        self.inner.peers.lock().insert(
            peer,
            PeerQueues {
                messages: messages_tx,
                snapshots: snapshots_tx,
            },
        );
    }

    /// Stops talking to `peer`.
    pub fn remove_peer(&self, peer: NodeId) {
        self.inner.peers.lock().remove(&peer);
    }

    /// Queues `message` for `message.to` without waiting.
    pub fn send(&self, message: Message) -> SendOutcome {
        let peers = self.inner.peers.lock();
        let Some(queues) = peers.get(&message.to) else {
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

    /// The address peers dial to reach this node.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local_addr
    }

    /// Counters since start.
    pub fn stats(&self) -> TransportStats {
        self.inner.counters.snapshot()
    }

    /// Stops every task of this transport and closes its connections.
    pub fn shutdown(&self) {
        self.inner.shutdown.send_replace(true);
        self.inner.peers.lock().clear();
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
