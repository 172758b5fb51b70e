//! TCP connection set-up and bounded reads shared by the TCP-based probes.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};

use crate::status::{CheckResult, CheckStatus};

/// Connect within `limit`. The socket closes with RST (`SO_LINGER 0`), so thousands of
/// checks a second leave no TIME_WAIT sockets behind to exhaust ephemeral ports.
pub(crate) async fn connect(target: SocketAddr, limit: Duration) -> Result<TcpStream, CheckResult> {
    match tokio::time::timeout(limit, TcpStream::connect(target)).await {
        Err(_) => Err(verdict(CheckStatus::L4Tout, "connect timeout")),
        Ok(Err(e)) => Err(verdict(CheckStatus::L4Con, format!("connect: {e}"))),
        Ok(Ok(stream)) => {
            // Failing to set these options only costs efficiency, never correctness.
            let sock = socket2::SockRef::from(&stream);
            let _ = sock.set_linger(Some(Duration::ZERO));
            let _ = stream.set_nodelay(true);
            Ok(stream)
        }
    }
}

pub(crate) fn verdict(status: CheckStatus, description: impl Into<String>) -> CheckResult {
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
    let mut chunk = [0u8; 4096];
    loop {
        if done(buf) {
            return Ok(());
        }
        if buf.len() >= limit {
            return Err(ReadStop::Limit);
        }
        let want = chunk.len().min(limit - buf.len());
        match timeout_at(deadline, stream.read(&mut chunk[..want])).await {
            Err(_) => return Err(ReadStop::Timeout),
            Ok(Err(e)) => return Err(ReadStop::Error(e.to_string())),
            Ok(Ok(0)) => return Err(ReadStop::Eof),
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}
