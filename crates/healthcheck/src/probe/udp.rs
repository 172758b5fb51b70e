//! UDP check: send a datagram, require a reply (optionally matching an expectation).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use tokio::net::UdpSocket;
use tokio::time::timeout;

use super::Timeouts;
use super::connect::verdict;
use super::expect::{ExpectSpec, Matcher};
use crate::error::Error;
use crate::status::{CheckResult, CheckStatus};

/// A UDP check.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UdpSpec {
    /// The datagram to send.
    pub payload: Vec<u8>,
    /// What the reply must contain; `None` accepts any reply.
    pub expect: Option<ExpectSpec>,
}

#[derive(Debug, Clone)]
pub(crate) struct UdpCheck {
    payload: Vec<u8>,
    expect: Option<Matcher>,
}

impl UdpSpec {
    pub(crate) fn build(self) -> Result<UdpCheck, Error> {
        Ok(UdpCheck {
            expect: self.expect.as_ref().map(ExpectSpec::build).transpose()?,
            payload: self.payload,
        })
    }
}

/// A connected UDP socket toward `target`, so ICMP port-unreachable surfaces as an error.
pub(crate) async fn connected_socket(target: SocketAddr) -> std::io::Result<UdpSocket> {
    let local: IpAddr = match target {
        SocketAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        SocketAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
    };
    let socket = UdpSocket::bind(SocketAddr::new(local, 0)).await?;
    socket.connect(target).await?;
    Ok(socket)
}

pub(crate) fn io_verdict(e: &std::io::Error, what: &str) -> CheckResult {
    if e.kind() == std::io::ErrorKind::ConnectionRefused {
        verdict(CheckStatus::L4Con, format!("{what}: port unreachable"))
    } else {
        verdict(CheckStatus::L4Con, format!("{what}: {e}"))
    }
}

impl UdpCheck {
    pub(crate) async fn run(&self, target: SocketAddr, timeouts: Timeouts) -> CheckResult {
        let socket = match connected_socket(target).await {
            Ok(s) => s,
            Err(e) => return io_verdict(&e, "UDP socket"),
        };
        if let Err(e) = socket.send(&self.payload).await {
            return io_verdict(&e, "UDP send");
        }
        let mut buf = vec![0u8; 65536];
        match timeout(timeouts.check, socket.recv(&mut buf)).await {
            Err(_) => verdict(CheckStatus::L7Tout, "no UDP reply"),
            Ok(Err(e)) => io_verdict(&e, "UDP receive"),
            Ok(Ok(n)) => match &self.expect {
                Some(m) if m.find(&buf[..n]).is_none() => {
                    verdict(CheckStatus::L7Rsp, "UDP reply does not match")
                }
                _ => verdict(CheckStatus::L7Ok, format!("UDP reply of {n} bytes")),
            },
        }
    }
}
