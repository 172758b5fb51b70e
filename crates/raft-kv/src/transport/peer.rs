//! The outbound side: one task per peer that dials it, keeps the connection,
//! and writes what the node queues for it.
//!
//! Two bounded queues feed the task: ordinary messages and snapshot chunks.
//! Ordinary messages (heartbeats, votes, appends) always go first, so a large
//! snapshot streaming to a follower never delays the heartbeats that keep the
//! cluster's leadership stable. When the peer is unreachable the task retries
//! with exponential backoff; meanwhile the queues fill and further sends are
//! refused, which Raft treats as message loss.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};

use super::stats::Counters;
use super::wire::encode_frame;
use super::{TransportConfig, set_keepalive};
use crate::raft::{Message, NodeId};

/// How many bytes of queued messages are coalesced into one socket write.
const WRITE_BATCH_BYTES: usize = 256 << 10;

/// Everything one peer task needs.
pub(crate) struct PeerTask {
    pub to: NodeId,
    pub addr: SocketAddr,
    /// This node's handshake (its id and advertised address), encoded once.
    pub handshake: Arc<[u8]>,
    pub messages: mpsc::Receiver<Message>,
    pub snapshots: mpsc::Receiver<Message>,
    pub config: TransportConfig,
    pub counters: Arc<Counters>,
    pub shutdown: watch::Receiver<bool>,
}

enum Next {
    Message(Message),
    Stop,
}

impl PeerTask {
    pub(crate) async fn run(mut self) {
        let mut backoff = self.config.backoff_initial;
        loop {
            if self.messages.is_closed() {
                // The peer was removed or replaced: stop dialing it.
                return;
            }
            let Some(mut stream) = self.connect().await else {
                return;
            };
            let Some(stream_ok) = stream.as_mut() else {
                self.counters
                    .connect_failures
                    .fetch_add(1, Ordering::Relaxed);
                tracing::debug!(to = self.to, addr = %self.addr, ?backoff, "peer unreachable");
                if !self.sleep(backoff).await {
                    return;
                }
                backoff = (backoff * 2).min(self.config.backoff_max);
                continue;
            };
            backoff = self.config.backoff_initial;
            self.counters.connects.fetch_add(1, Ordering::Relaxed);
            match self.pump(stream_ok).await {
                Ok(()) => return,
                Err(e) => {
                    self.counters
                        .connections_lost
                        .fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(to = self.to, error = %e, "peer connection lost");
                }
            }
        }
    }

    /// Dials the peer. `None`: shut down; `Some(None)`: failed, retry later.
    async fn connect(&mut self) -> Option<Option<TcpStream>> {
        let dial = tokio::time::timeout(self.config.connect_timeout, TcpStream::connect(self.addr));
        tokio::select! {
            _ = self.shutdown.changed() => None,
            result = dial => {
                let Ok(Ok(mut stream)) = result else { return Some(None) };
                if stream.set_nodelay(true).is_err()
                    || set_keepalive(&stream, self.config.keepalive).is_err()
                {
                    return Some(None);
                }
                if stream.write_all(&self.handshake).await.is_err() {
                    return Some(None);
                }
                Some(Some(stream))
            }
        }
    }

    /// Waits `delay`; `false` if the transport shut down meanwhile.
    async fn sleep(&mut self, delay: Duration) -> bool {
        tokio::select! {
            _ = self.shutdown.changed() => false,
            () = tokio::time::sleep(delay) => true,
        }
    }

    async fn next(&mut self) -> Next {
        tokio::select! {
            biased;
            _ = self.shutdown.changed() => Next::Stop,
            m = self.messages.recv() => m.map_or(Next::Stop, Next::Message),
            m = self.snapshots.recv() => m.map_or(Next::Stop, Next::Message),
        }
    }

    /// Writes queued messages until the connection fails (`Err`) or the
    /// transport stops (`Ok`). Messages of a failed write are lost.
    async fn pump(&mut self, stream: &mut TcpStream) -> std::io::Result<()> {
        let mut buf = BytesMut::with_capacity(WRITE_BATCH_BYTES);
        loop {
            let Next::Message(first) = self.next().await else {
                return Ok(());
            };
            buf.clear();
            encode_frame(&first, &mut buf);
            let mut count = 1u64;
            // Coalesce whatever else is already queued, ordinary messages first.
            while buf.len() < WRITE_BATCH_BYTES {
                let more = match self.messages.try_recv() {
                    Ok(m) => m,
                    Err(_) => match self.snapshots.try_recv() {
                        Ok(m) => m,
                        Err(_) => break,
                    },
                };
                encode_frame(&more, &mut buf);
                count += 1;
            }
            match tokio::time::timeout(self.config.write_timeout, stream.write_all(&buf)).await {
                Ok(written) => written?,
                Err(_) => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "peer stopped reading",
                    ));
                }
            }
            self.counters.sent.fetch_add(count, Ordering::Relaxed);
        }
    }
}
