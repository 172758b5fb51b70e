//! TCP connection set-up and bounded reads shared by the TCP-based probes.

use std::net::SocketAddr;
use std::time::Duration;

use parking_lot::Mutex;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};

use crate::status::{CheckResult, CheckStatus};

/// A connected socket, either finished without ever touching the poller or already
/// registered with the runtime.
pub(crate) enum Connected {
    /// The handshake was complete by the time `connect` returned (typical on loopback
    /// and fast LANs): no epoll registration, no wake-up.
    Ready(Socket),
    /// The handshake finished later; the stream is registered with tokio.
    Registered(TcpStream),
}

impl Connected {
    /// The connection as a tokio stream, for probes that talk over it.
    pub(crate) fn into_stream(self) -> Result<TcpStream, CheckResult> {
        let stream = match self {
            Self::Registered(s) => s,
            Self::Ready(socket) => TcpStream::from_std(socket.into())
                .map_err(|e| verdict(CheckStatus::L4Con, format!("register socket: {e}")))?,
        };
        // Requests are written in one piece; do not let Nagle hold the last segment.
        let _ = stream.set_nodelay(true);
        Ok(stream)
    }
}

fn connect_error(e: &std::io::Error) -> CheckResult {
    verdict(CheckStatus::L4Con, format!("connect: {e}"))
}

/// Who speaks first once the connection is up; decides how the handshake ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FirstWord {
    /// The checker sends first (HTTP, TLS, tcp-check starting with send), or nothing
    /// is sent at all (plain connect check).
    Checker,
    /// The server speaks first (banner protocols, agents without `agent-send`).
    Server,
}

/// Connect within `limit`. The socket closes with RST (`SO_LINGER 0`), so thousands of
/// checks a second leave no TIME_WAIT sockets behind to exhaust ephemeral ports.
///
/// When the checker speaks first (or never), quick ACKs are turned off, as HAProxy does
/// for its checks: the handshake's last ACK then rides on our first data, and a plain
/// connect check resets the connection before the server ever has to accept it, which
/// saves kernel work on both ends. When the server speaks first the ACK must go out at
/// once, or the server would wait for it before greeting us.
pub(crate) async fn connect(
    target: SocketAddr,
    limit: Duration,
    first: FirstWord,
) -> Result<Connected, CheckResult> {
    let socket = match take_pooled(target) {
        Some(s) => s,
        None => {
            let s = Socket::new(
                Domain::for_address(target),
                Type::STREAM.nonblocking(),
                Some(Protocol::TCP),
            )
            .map_err(|e| verdict(CheckStatus::L4Con, format!("socket: {e}")))?;
            // Failing to set this only costs a TIME_WAIT entry, never correctness.
            let _ = s.set_linger(Some(Duration::ZERO));
            s
        }
    };
    if first == FirstWord::Checker {
        let _ = socket.set_tcp_quickack(false);
    }
    match socket.connect(&target.into()) {
        Ok(()) => return Ok(Connected::Ready(socket)),
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::INPROGRESS.raw_os_error()) => {}
        Err(e) => return Err(connect_error(&e)),
    }
    // On loopback the kernel has usually finished the handshake (or received the RST)
    // inside connect(); asking now saves an epoll registration and a wake-up. Having a
    // peer address means connected; only without one is the pending error worth a look.
    if socket.peer_addr().is_ok() {
        return Ok(Connected::Ready(socket));
    }
    match socket.take_error() {
        Ok(Some(e)) | Err(e) => return Err(connect_error(&e)),
        Ok(None) => {}
    }
    let stream = TcpStream::from_std(socket.into()).map_err(|e| connect_error(&e))?;
    match tokio::time::timeout(limit, stream.writable()).await {
        Err(_) => return Err(verdict(CheckStatus::L4Tout, "connect timeout")),
        Ok(Err(e)) => return Err(connect_error(&e)),
        Ok(Ok(())) => {}
    }
    match stream.take_error() {
        Ok(Some(e)) | Err(e) => Err(connect_error(&e)),
        Ok(None) => match stream.peer_addr() {
            Ok(_) => Ok(Connected::Registered(stream)),
            Err(e) => Err(connect_error(&e)),
        },
    }
}

/// Disconnected sockets kept for the next connect-only check. Reconnecting a socket
/// after `connect(AF_UNSPEC)` costs the kernel much less than closing it and creating a
/// new one, and at thousands of checks a second that is most of a check's cost.
static POOL_V4: Mutex<Vec<Socket>> = Mutex::new(Vec::new());
static POOL_V6: Mutex<Vec<Socket>> = Mutex::new(Vec::new());
/// More idle sockets than this are closed rather than kept.
const POOL_MAX: usize = 256;

fn pool_for(target: SocketAddr) -> &'static Mutex<Vec<Socket>> {
    if target.is_ipv4() { &POOL_V4 } else { &POOL_V6 }
}

fn take_pooled(target: SocketAddr) -> Option<Socket> {
    pool_for(target).lock().pop()
}

impl Connected {
    /// Done with a connection that carried no data: reset it and keep the socket for
    /// the next check. `connect(AF_UNSPEC)` on an established socket sends the RST and
    /// returns the socket to its unconnected state with a fresh port on next use.
    pub(crate) fn recycle(self, target: SocketAddr) {
        let Self::Ready(socket) = self else {
            return;
        };
        // The disconnect leaves ECONNRESET pending on the socket; the next connect
        // clears it (tcp_connect_init), so it is not read here: one system call less.
        if rustix::net::connect_unspec(&socket).is_err() {
            return;
        }
        let mut pool = pool_for(target).lock();
        if pool.len() < POOL_MAX {
            pool.push(socket);
        }
    }
}

pub(crate) fn verdict(
    status: CheckStatus,
    description: impl Into<std::borrow::Cow<'static, str>>,
) -> CheckResult {
    CheckResult::new(status, Duration::ZERO, description)
}

/// Why a bounded read stopped without the caller's condition being met.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ReadStop {
    Eof,
    Limit,
    Timeout,
    Error(String),
}

/// Read into `buf` until `done(buf)` holds, the peer closes, `buf` reaches `limit`
/// bytes, or `deadline` passes. A huge or endless stream costs at most `limit` bytes.
pub(crate) async fn read_until<S, F>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    limit: usize,
    deadline: Instant,
    mut done: F,
) -> Result<(), ReadStop>
where
    S: AsyncRead + Unpin,
    F: FnMut(&[u8]) -> bool,
{
    // Reads land straight in `buf` (no buffer of its own held across the await, which
    // would make every probe's future, and so every check, 4 KiB bigger).
    const CHUNK: usize = 4096;
    loop {
        if done(buf) {
            return Ok(());
        }
        if buf.len() >= limit {
            return Err(ReadStop::Limit);
        }
        let old = buf.len();
        buf.resize(old + CHUNK.min(limit - old), 0);
        let read = timeout_at(deadline, stream.read(&mut buf[old..])).await;
        buf.truncate(old + read.as_ref().map_or(0, |r| *r.as_ref().unwrap_or(&0)));
        match read {
            Err(_) => return Err(ReadStop::Timeout),
            Ok(Err(e)) => return Err(ReadStop::Error(e.to_string())),
            Ok(Ok(0)) => return Err(ReadStop::Eof),
            Ok(Ok(_)) => {}
        }
    }
}
