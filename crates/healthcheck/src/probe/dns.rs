//! DNS check: one query over UDP; the server must answer NOERROR with a record of the
//! asked type.
//!
//! An answer with the TC bit set was cut to fit a datagram, so the same query goes again
//! over TCP to the same server (RFC 1035 4.2.2, RFC 7766) and that answer is judged. The
//! TCP exchange shares the check timeout with the UDP one, and reads at most one
//! length-prefixed message (64 KiB), so a huge length or an endless stream costs no more.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::time::{Instant, timeout_at};

use super::Timeouts;
use super::connect::{FirstWord, ReadStop, connect, read_until, verdict};
use super::udp::{connected_socket, io_verdict};
use crate::dns_wire::{
    DnsResponse, MAX_TCP_MESSAGE, TYPE_A, build_query, decode_tcp_message, encode_name,
    encode_tcp_message, parse_response,
};
use crate::error::Error;
use crate::status::{CheckResult, CheckStatus};

/// A DNS check (keepalived `DNS_CHECK`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsSpec {
    /// The name to ask for.
    pub name: String,
    /// The record type to ask for (see [`crate::dns_wire`] for constants; default A).
    pub qtype: u16,
}

impl Default for DnsSpec {
    fn default() -> Self {
        Self {
            name: ".".into(),
            qtype: TYPE_A,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct DnsCheck {
    name: String,
    qtype: u16,
}

impl DnsSpec {
    pub(crate) fn build(self) -> Result<DnsCheck, Error> {
        encode_name(&self.name)?;
        Ok(DnsCheck {
            name: self.name,
            qtype: self.qtype,
        })
    }
}

/// Ids only need to differ between outstanding queries on different sockets; the
/// connected socket already filters by server address.
static NEXT_ID: AtomicU16 = AtomicU16::new(0x4861);

impl DnsCheck {
    pub(crate) async fn run(&self, target: SocketAddr, timeouts: Timeouts) -> CheckResult {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let query = match build_query(id, &self.name, self.qtype) {
            Ok(q) => q,
            Err(e) => return verdict(CheckStatus::L7Rsp, e.to_string()),
        };
        let deadline = Instant::now() + timeouts.check;
        let response = match ask_udp(target, &query, id, deadline).await {
            Ok(r) => r,
            Err(failed) => return failed,
        };
        if !response.truncated {
            return self.judge(&response, "");
        }
        match ask_tcp(target, &query, id, timeouts.connect, deadline).await {
            Ok(r) => self.judge(&r, " over TCP"),
            Err(failed) => failed,
        }
    }

    fn judge(&self, response: &DnsResponse, transport: &str) -> CheckResult {
        if response.rcode != 0 {
            return verdict(
                CheckStatus::L7Sts,
                format!("DNS rcode {}{transport}", response.rcode),
            );
        }
        if !response.answer_types.contains(&self.qtype) {
            return verdict(
                CheckStatus::L7Rsp,
                format!("no record of type {} in answer{transport}", self.qtype),
            );
        }
        verdict(
            CheckStatus::L7Ok,
            format!("{} answer records{transport}", response.answer_types.len()),
        )
    }
}

/// Send `query` in one datagram and wait until `deadline` for the answer with our id.
async fn ask_udp(
    target: SocketAddr,
    query: &[u8],
    id: u16,
    deadline: Instant,
) -> Result<DnsResponse, CheckResult> {
    let socket = connected_socket(target)
        .await
        .map_err(|e| io_verdict(&e, "DNS socket"))?;
    socket
        .send(query)
        .await
        .map_err(|e| io_verdict(&e, "DNS send"))?;
    let mut buf = vec![0u8; 4096];
    // Bounded by the deadline; stray datagrams with other ids are skipped.
    loop {
        let n = match timeout_at(deadline, socket.recv(&mut buf)).await {
            Err(_) => return Err(verdict(CheckStatus::L7Tout, "no DNS answer")),
            Ok(Err(e)) => return Err(io_verdict(&e, "DNS receive")),
            Ok(Ok(n)) => n,
        };
        match parse_response(&buf[..n]) {
            Ok(r) if r.id == id => return Ok(r),
            Ok(_) => continue,
            Err(e) => {
                return Err(verdict(
                    CheckStatus::L7Rsp,
                    format!("malformed DNS answer: {e:?}"),
                ));
            }
        }
    }
}

/// Ask again over TCP after a truncated answer: connect within `connect_limit` (and
/// before `deadline`), send the framed query, read one framed answer by `deadline`.
async fn ask_tcp(
    target: SocketAddr,
    query: &[u8],
    id: u16,
    connect_limit: Duration,
    deadline: Instant,
) -> Result<DnsResponse, CheckResult> {
    let failed = |status, what: String| verdict(status, format!("DNS over TCP: {what}"));
    let remaining = deadline.saturating_duration_since(Instant::now());
    if remaining.is_zero() {
        return Err(failed(
            CheckStatus::L7Tout,
            "answer truncated, no time left to ask again".into(),
        ));
    }
    let Some(framed) = encode_tcp_message(query) else {
        return Err(failed(CheckStatus::L7Rsp, "query too long".into()));
    };
    let mut stream = connect(target, connect_limit.min(remaining), FirstWord::Checker)
        .await
        .and_then(|c| c.into_stream())
        .map_err(|r| failed(r.status, r.description.into_owned()))?;
    match timeout_at(deadline, stream.write_all(&framed)).await {
        Err(_) => return Err(failed(CheckStatus::L7Tout, "send timeout".into())),
        Ok(Err(e)) => return Err(failed(CheckStatus::L4Con, format!("send: {e}"))),
        Ok(Ok(())) => {}
    }
    let mut buf = Vec::new();
    let read = read_until(&mut stream, &mut buf, 2 + MAX_TCP_MESSAGE, deadline, |b| {
        decode_tcp_message(b).is_some()
    })
    .await;
    let stopped = match read {
        Ok(()) => None,
        Err(ReadStop::Timeout) => Some((CheckStatus::L7Tout, "no answer".into())),
        Err(ReadStop::Eof) => Some((
            CheckStatus::L7Rsp,
            format!("connection closed after {} bytes of the answer", buf.len()),
        )),
        Err(ReadStop::Limit) => Some((CheckStatus::L7Rsp, "answer too long".into())),
        Err(ReadStop::Error(e)) => Some((CheckStatus::L7Rsp, format!("receive: {e}"))),
    };
    if let Some((status, what)) = stopped {
        return Err(failed(status, what));
    }
    let Some(message) = decode_tcp_message(&buf) else {
        return Err(failed(CheckStatus::L7Rsp, "incomplete answer".into()));
    };
    match parse_response(message) {
        Ok(r) if r.id == id => Ok(r),
        Ok(r) => Err(failed(
            CheckStatus::L7Rsp,
            format!("answer to another query (id {})", r.id),
        )),
        Err(e) => Err(failed(
            CheckStatus::L7Rsp,
            format!("malformed answer: {e:?}"),
        )),
    }
}
