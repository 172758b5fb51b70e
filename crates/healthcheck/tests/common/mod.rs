//! Local servers the probe tests run against, all on 127.0.0.1.

#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinHandle;

/// A spawned server task, aborted when dropped so no test leaks a listener.
pub struct Server {
    pub addr: SocketAddr,
    pub accepted: Arc<AtomicUsize>,
    pub in_flight: Arc<AtomicUsize>,
    pub max_in_flight: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serve every accepted connection with `handle`.
pub async fn tcp_server<F, Fut>(handle: F) -> Server
where
    F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    serve_on(listener, handle)
}

pub fn serve_on<F, Fut>(listener: TcpListener, handle: F) -> Server
where
    F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let addr = listener.local_addr().expect("addr");
    let accepted = Arc::new(AtomicUsize::new(0));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let max_in_flight = Arc::new(AtomicUsize::new(0));
    let handle = Arc::new(handle);
    let (a, f, m) = (accepted.clone(), in_flight.clone(), max_in_flight.clone());
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            a.fetch_add(1, Ordering::SeqCst);
            let now = f.fetch_add(1, Ordering::SeqCst) + 1;
            m.fetch_max(now, Ordering::SeqCst);
            let (h, f) = (handle.clone(), f.clone());
            tokio::spawn(async move {
                h(stream).await;
                f.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
    Server {
        addr,
        accepted,
        in_flight,
        max_in_flight,
        task,
    }
}

/// An address where nothing listens: bind, note the port, close.
pub async fn refused_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    listener.local_addr().expect("addr")
}

/// Read a request head (up to the blank line), bounded.
pub async fn read_head(stream: &mut TcpStream) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 64 * 1024 {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    buf
}

/// An HTTP server answering every request with `response`.
pub async fn http_server(response: &'static [u8]) -> Server {
    tcp_server(move |mut s| async move {
        read_head(&mut s).await;
        let _ = s.write_all(response).await;
    })
    .await
}

/// Hold a connection open without ever answering, until the peer goes away.
pub async fn silent(mut s: TcpStream) {
    let mut buf = [0u8; 1024];
    // Bounded: ends when the checker closes, or after a minute at worst.
    let _ = tokio::time::timeout(Duration::from_secs(60), async {
        while let Ok(n) = s.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}

/// A UDP server; `reply` maps a request to an optional answer.
pub async fn udp_server<F>(reply: F) -> (SocketAddr, AbortOnDrop)
where
    F: Fn(&[u8]) -> Option<Vec<u8>> + Send + 'static,
{
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind udp");
    let addr = socket.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        let mut buf = vec![0u8; 2048];
        while let Ok((n, from)) = socket.recv_from(&mut buf).await {
            if let Some(answer) = reply(&buf[..n]) {
                let _ = socket.send_to(&answer, from).await;
            }
        }
    });
    (addr, AbortOnDrop(task))
}

pub struct AbortOnDrop(pub JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A listener on 127.0.0.1 that nobody accepts from, with the smallest backlog: its
/// accept queue fills after a connection or two, and from then on the kernel drops every
/// SYN (how a black-holed target looks from the checker).
pub fn never_accepting_listener() -> (tokio::net::TcpListener, SocketAddr) {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind("127.0.0.1:0".parse().expect("addr"))
        .expect("bind");
    let listener = socket.listen(0).expect("listen");
    let addr = listener.local_addr().expect("addr");
    (listener, addr)
}
