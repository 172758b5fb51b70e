//! DNS check: one query over UDP; the server must answer NOERROR with a record of the
//! asked type.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, Ordering};

use tokio::time::{Instant, timeout_at};

use super::Timeouts;
use super::connect::verdict;
use super::udp::{connected_socket, io_verdict};
use crate::dns_wire::{TYPE_A, build_query, encode_name, parse_response};
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
        let socket = match connected_socket(target).await {
            Ok(s) => s,
            Err(e) => return io_verdict(&e, "DNS socket"),
        };
        if let Err(e) = socket.send(&query).await {
            return io_verdict(&e, "DNS send");
        }
        let deadline = Instant::now() + timeouts.check;
        let mut buf = vec![0u8; 4096];
        // Bounded by the deadline; stray datagrams with other ids are skipped.
        loop {
            let n = match timeout_at(deadline, socket.recv(&mut buf)).await {
                Err(_) => return verdict(CheckStatus::L7Tout, "no DNS answer"),
                Ok(Err(e)) => return io_verdict(&e, "DNS receive"),
                Ok(Ok(n)) => n,
            };
            let response = match parse_response(&buf[..n]) {
                Ok(r) if r.id == id => r,
                Ok(_) => continue,
                Err(e) => {
                    return verdict(CheckStatus::L7Rsp, format!("malformed DNS answer: {e:?}"));
                }
            };
            if response.rcode != 0 {
                return verdict(CheckStatus::L7Sts, format!("DNS rcode {}", response.rcode));
            }
            if !response.answer_types.contains(&self.qtype) {
                return verdict(
                    CheckStatus::L7Rsp,
                    format!("no record of type {} in answer", self.qtype),
                );
            }
            return verdict(
                CheckStatus::L7Ok,
                format!("{} answer records", response.answer_types.len()),
            );
        }
    }
}
