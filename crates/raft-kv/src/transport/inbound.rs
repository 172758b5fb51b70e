//! The inbound side: accept connections from peers and hand their messages to
//! the node.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::io::BufReader;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

use super::stats::Counters;
use super::wire::{read_frame, read_handshake};
use super::{TransportConfig, set_keepalive};
use crate::error::{Error, Result};
use crate::raft::Message;

pub(crate) async fn accept_loop(
    listener: TcpListener,
    inbox: mpsc::Sender<Message>,
    config: TransportConfig,
    counters: Arc<Counters>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let conn = serve_connection(
                    stream,
                    inbox.clone(),
                    config.clone(),
                    counters.clone(),
                    shutdown.clone(),
                );
                tokio::spawn(conn);
            }
        }
    }
}

async fn serve_connection(
    stream: TcpStream,
    inbox: mpsc::Sender<Message>,
    config: TransportConfig,
    counters: Arc<Counters>,
    mut shutdown: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    // A peer host that vanishes never closes its connection; keepalive probes
    // end this task instead of leaving it waiting forever.
    let _ = set_keepalive(&stream, config.keepalive);
    let mut reader = BufReader::with_capacity(256 << 10, stream);
    let result = tokio::select! {
        _ = shutdown.changed() => return,
        r = receive(&mut reader, &inbox, &config, &counters) => r,
    };
    if let Err(e) = result {
        // A peer that died mid-frame was not refused.
        if !matches!(e, Error::Network(_) | Error::TruncatedFrame { .. }) {
            counters
                .rejected_connections
                .fetch_add(1, Ordering::Relaxed);
        }
        tracing::debug!(error = %e, "closing inbound peer connection");
    }
}

async fn receive(
    reader: &mut BufReader<TcpStream>,
    inbox: &mpsc::Sender<Message>,
    config: &TransportConfig,
    counters: &Counters,
) -> Result<()> {
    let from = tokio::time::timeout(config.connect_timeout, read_handshake(reader))
        .await
        .map_err(|_| Error::BadHandshake)??;
    let mut buf = Vec::new();
    while let Some(message) = read_frame(reader, config.max_frame_len, &mut buf).await? {
        if message.from != from {
            // A peer may only speak for itself.
            return Err(Error::BadHandshake);
        }
        counters.received.fetch_add(1, Ordering::Relaxed);
        // Waiting here when the node is behind pushes back on the sender
        // through TCP flow control, until its bounded queue drops messages.
        if inbox.send(message).await.is_err() {
            return Ok(());
        }
    }
    Ok(())
}
