//! The inbound side: accept connections from peers and hand their messages to
//! the node.
//!
//! A peer's handshake may advertise where it listens; if the transport has no
//! address for that peer, it dials it there for as long as this connection is
//! open (the rule is in the [transport's docs](super)).

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use tokio::io::BufReader;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

use super::stats::Counters;
use super::wire::{Handshake, read_frame, read_handshake};
use super::{Inner, TransportConfig, set_keepalive};
use crate::error::{Error, Result};
use crate::raft::{Message, NodeId};

pub(crate) async fn accept_loop(
    listener: TcpListener,
    inbox: mpsc::Sender<Message>,
    transport: Weak<Inner>,
    config: TransportConfig,
    counters: Arc<Counters>,
    mut shutdown: watch::Receiver<bool>,
) {
    // Numbers the connections, so that a claim is withdrawn only by the
    // connection that made it.
    let mut next_connection = 0u64;
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                next_connection += 1;
                let conn = serve_connection(
                    stream,
                    Connection {
                        number: next_connection,
                        inbox: inbox.clone(),
                        transport: transport.clone(),
                        config: config.clone(),
                        counters: counters.clone(),
                    },
                    shutdown.clone(),
                );
                tokio::spawn(conn);
            }
        }
    }
}

/// What one inbound connection's task needs.
struct Connection {
    number: u64,
    inbox: mpsc::Sender<Message>,
    transport: Weak<Inner>,
    config: TransportConfig,
    counters: Arc<Counters>,
}

async fn serve_connection(
    stream: TcpStream,
    conn: Connection,
    mut shutdown: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    // A peer host that vanishes never closes its connection; keepalive probes
    // end this task instead of leaving it waiting forever.
    let _ = set_keepalive(&stream, conn.config.keepalive);
    let mut reader = BufReader::with_capacity(256 << 10, stream);
    let result = tokio::select! {
        _ = shutdown.changed() => return,
        r = receive(&mut reader, &conn) => r,
    };
    if let Err(e) = result {
        // A peer that died mid-handshake or mid-frame was not refused.
        if !matches!(
            e,
            Error::Network(_) | Error::TruncatedFrame { .. } | Error::TruncatedHandshake { .. }
        ) {
            conn.counters
                .rejected_connections
                .fetch_add(1, Ordering::Relaxed);
        }
        tracing::debug!(error = %e, "closing inbound peer connection");
    }
}

async fn receive(reader: &mut BufReader<TcpStream>, conn: &Connection) -> Result<()> {
    let handshake = tokio::time::timeout(conn.config.connect_timeout, read_handshake(reader))
        .await
        .map_err(|_| Error::BadHandshake)??;
    let from = handshake.from;
    // Before any of the peer's messages reach the node, so that the node's
    // answers to them can be sent; withdrawn when this function returns or is
    // cancelled.
    let _claim = Claim::record(&conn.transport, handshake, conn.number);
    let mut buf = Vec::new();
    while let Some(message) = read_frame(reader, conn.config.max_frame_len, &mut buf).await? {
        if message.from != from {
            // A peer may only speak for itself.
            return Err(Error::BadHandshake);
        }
        conn.counters.received.fetch_add(1, Ordering::Relaxed);
        // Waiting here when the node is behind pushes back on the sender
        // through TCP flow control, until its bounded queue drops messages.
        if conn.inbox.send(message).await.is_err() {
            return Ok(());
        }
    }
    Ok(())
}

/// A peer address recorded from a handshake, withdrawn when dropped (when the
/// connection that claimed it ends).
struct Claim {
    transport: Weak<Inner>,
    peer: NodeId,
    connection: u64,
}

impl Claim {
    /// Records the handshake's advertised address if the transport has none
    /// for its sender; `None` if there was nothing to record.
    fn record(transport: &Weak<Inner>, handshake: Handshake, connection: u64) -> Option<Claim> {
        let addr = handshake.advertised?;
        let inner = transport.upgrade()?;
        inner
            .claim(handshake.from, addr, connection)
            .then(|| Claim {
                transport: transport.clone(),
                peer: handshake.from,
                connection,
            })
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if let Some(inner) = self.transport.upgrade() {
            inner.withdraw_claim(self.peer, self.connection);
        }
    }
}
