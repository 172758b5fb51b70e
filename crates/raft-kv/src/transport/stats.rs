//! Transport counters.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub sent: AtomicU64,
    pub dropped: AtomicU64,
    pub received: AtomicU64,
    pub connects: AtomicU64,
    pub connect_failures: AtomicU64,
    pub connections_lost: AtomicU64,
    pub rejected_connections: AtomicU64,
    pub claimed_addrs: AtomicU64,
}

/// A snapshot of the transport's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TransportStats {
    /// Messages written to peer sockets.
    pub sent: u64,
    /// Messages refused because the peer's queue was full (or the peer unknown).
    pub dropped: u64,
    /// Messages received and handed to the node.
    pub received: u64,
    /// Successful outbound connections.
    pub connects: u64,
    /// Failed dial attempts (each followed by a backoff).
    pub connect_failures: u64,
    /// Established outbound connections that broke.
    pub connections_lost: u64,
    /// Inbound connections closed for a bad handshake or frame.
    pub rejected_connections: u64,
    /// Peer addresses taken from handshakes: a peer the transport had no
    /// address for dialed in and said where it listens.
    pub claimed_addrs: u64,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> TransportStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        TransportStats {
            sent: get(&self.sent),
            dropped: get(&self.dropped),
            received: get(&self.received),
            connects: get(&self.connects),
            connect_failures: get(&self.connect_failures),
            connections_lost: get(&self.connections_lost),
            rejected_connections: get(&self.rejected_connections),
            claimed_addrs: get(&self.claimed_addrs),
        }
    }
}
