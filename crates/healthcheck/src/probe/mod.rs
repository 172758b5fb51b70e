//! Async probes: one module per kind of check.
//!
//! A [`CheckSpec`] is plain configuration; [`CheckSpec::build`] validates it (regexes
//! compile, hex parses, the script exists, the TLS name is valid) and returns a [`Check`]
//! that is cheap to clone and can run any number of times, concurrently.
//! [`Check::run`] never fails: every way a probe can go wrong is a [`CheckResult`] with a
//! failure status.
//!
//! TCP-based probes share one connection routine (`connect.rs`) built for thousands of
//! checks a second: connections close with RST (no TIME_WAIT), a handshake finished
//! inside `connect()` skips the poller, the last ACK is delayed when the checker speaks
//! first (as HAProxy does), and connect-only checks reuse their sockets. The half-open
//! check (`half_open.rs`) skips all of that: one SYN from a shared raw socket.

mod agent;
mod connect;
mod dns;
mod expect;
mod half_open;
mod http;
mod icmp;
mod script;
mod tcp;
mod tls;
mod udp;

use std::net::SocketAddr;
use std::time::Duration;

use tokio::time::Instant;

use crate::error::Error;
use crate::status::CheckResult;

pub use agent::AgentSpec;
pub use dns::DnsSpec;
pub use expect::ExpectSpec;
pub use half_open::{HalfOpenSpec, half_open_pending};
pub use http::{HttpExpect, HttpSpec, HttpVersion, StatusRange};
pub use icmp::IcmpSpec;
pub use script::ScriptSpec;
pub use tcp::{TcpSpec, TcpStep};
pub use tls::TlsSpec;
pub use udp::UdpSpec;

/// How long each phase of a check may take (HAProxy's `timeout connect` and `timeout check`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Time allowed to establish the TCP connection (or get an ICMP echo reply).
    pub connect: Duration,
    /// Time allowed for everything after the connection: TLS handshake, request and
    /// response, agent line, script run, UDP or DNS reply.
    pub check: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(2),
            check: Duration::from_secs(2),
        }
    }
}

/// What to check, before validation.
// Configuration is built once per target and then dropped; boxing HTTP would only make
// it clumsier to write.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum CheckSpec {
    /// TCP connect, optionally followed by send/expect steps (HAProxy `tcp-check`).
    Tcp(TcpSpec),
    /// TCP half-open: one SYN from a raw socket, judged by the SYN-ACK or RST that
    /// answers it (F5 `tcp_half_open`). Needs root or CAP_NET_RAW.
    HalfOpen(HalfOpenSpec),
    /// HTTP or HTTPS request with expectations (HAProxy `httpchk`, keepalived `HTTP_GET`).
    Http(HttpSpec),
    /// HAProxy agent check: read one line of weight and state.
    Agent(AgentSpec),
    /// External program (keepalived `MISC_CHECK`).
    Script(ScriptSpec),
    /// ICMP echo.
    Icmp(IcmpSpec),
    /// UDP datagram that must be answered.
    Udp(UdpSpec),
    /// DNS query that must be answered.
    Dns(DnsSpec),
}

impl CheckSpec {
    /// Validate the configuration and build a runnable check.
    pub fn build(self) -> Result<Check, Error> {
        Ok(Check {
            kind: match self {
                Self::Tcp(s) => CheckKind::Tcp(s.build()?),
                Self::HalfOpen(s) => CheckKind::HalfOpen(s.build()?),
                Self::Http(s) => CheckKind::Http(Box::new(s.build()?)),
                Self::Agent(s) => CheckKind::Agent(s.build()?),
                Self::Script(s) => CheckKind::Script(s.build()?),
                Self::Icmp(s) => CheckKind::Icmp(s.build()?),
                Self::Udp(s) => CheckKind::Udp(s.build()?),
                Self::Dns(s) => CheckKind::Dns(s.build()?),
            },
        })
    }
}

/// A validated check, ready to run against any address.
#[derive(Debug, Clone)]
pub struct Check {
    kind: CheckKind,
}

#[derive(Debug, Clone)]
enum CheckKind {
    Tcp(tcp::TcpCheck),
    HalfOpen(half_open::HalfOpenCheck),
    Http(Box<http::HttpCheck>),
    Agent(agent::AgentCheck),
    Script(script::ScriptCheck),
    Icmp(icmp::IcmpCheck),
    Udp(udp::UdpCheck),
    Dns(dns::DnsCheck),
}

impl Check {
    /// Run the check once against `target`. Always returns within roughly
    /// `timeouts.connect + timeouts.check`.
    pub async fn run(&self, target: SocketAddr, timeouts: Timeouts) -> CheckResult {
        let start = Instant::now();
        // Probes that always talk keep their big futures (buffers, TLS state) on the
        // heap, so that this future, which the monitor creates for every check, stays
        // as small as a plain connect check needs.
        let mut result = match &self.kind {
            CheckKind::Tcp(c) => c.run(target, timeouts).await,
            CheckKind::HalfOpen(c) => c.run(target, timeouts).await,
            CheckKind::Http(c) => Box::pin(c.run(target, timeouts)).await,
            CheckKind::Agent(c) => Box::pin(c.run(target, timeouts)).await,
            CheckKind::Script(c) => Box::pin(c.run(target, timeouts)).await,
            CheckKind::Icmp(c) => Box::pin(c.run(target, timeouts)).await,
            CheckKind::Udp(c) => Box::pin(c.run(target, timeouts)).await,
            CheckKind::Dns(c) => Box::pin(c.run(target, timeouts)).await,
        };
        result.duration = start.elapsed();
        result
    }
}
