//! TCP connect and HAProxy-style `tcp-check` send/expect sequences.

use std::net::SocketAddr;

use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};
use tokio_rustls::TlsConnector;

use super::Timeouts;
use super::connect::{FirstWord, ReadStop, connect, read_until, verdict};
use super::expect::{ExpectSpec, Matcher, parse_hex};
use super::tls::{TlsClient, TlsSpec};
use crate::error::Error;
use crate::status::{CheckResult, CheckStatus};

/// One step of a tcp-check sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TcpStep {
    /// Send these bytes (`send`).
    Send(Vec<u8>),
    /// Send bytes written in hex (`send-binary`).
    SendHex(String),
    /// Wait for data satisfying the expectation (`expect`).
    Expect(ExpectSpec),
}

/// A TCP check: connect, then run the steps in order. No steps means a plain connect check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpSpec {
    /// The send/expect sequence.
    pub steps: Vec<TcpStep>,
    /// Most bytes buffered while waiting for one expectation (default 16 KiB, HAProxy's
    /// `tune.chksize`).
    pub max_read: usize,
    /// Run the steps over TLS (HAProxy `check-ssl`). With no steps, a finished
    /// handshake is the check (L6OK).
    pub tls: Option<TlsSpec>,
}

impl Default for TcpSpec {
    fn default() -> Self {
        Self {
            steps: Vec::new(),
            max_read: 16 * 1024,
            tls: None,
        }
    }
}

#[derive(Debug, Clone)]
enum Step {
    Send(Vec<u8>),
    Expect(Matcher),
}

#[derive(Debug, Clone)]
pub(crate) struct TcpCheck {
    steps: Vec<Step>,
    max_read: usize,
    tls: Option<TlsClient>,
}

impl TcpSpec {
    pub(crate) fn build(self) -> Result<TcpCheck, Error> {
        if self.max_read == 0 {
            return Err(Error::InvalidSetting {
                field: "max_read",
                reason: "must be greater than zero",
            });
        }
        let steps = self
            .steps
            .iter()
            .map(|s| match s {
                TcpStep::Send(b) => Ok(Step::Send(b.clone())),
                TcpStep::SendHex(h) => parse_hex(h).map(Step::Send),
                TcpStep::Expect(e) => e.build().map(Step::Expect),
            })
            .collect::<Result<_, _>>()?;
        Ok(TcpCheck {
            steps,
            max_read: self.max_read,
            tls: self.tls.as_ref().map(TlsSpec::build).transpose()?,
        })
    }
}

impl TcpCheck {
    pub(crate) async fn run(&self, target: SocketAddr, timeouts: Timeouts) -> CheckResult {
        let first = match self.steps.first() {
            Some(Step::Expect(_)) if self.tls.is_none() => FirstWord::Server,
            _ => FirstWord::Checker,
        };
        let connected = match connect(target, timeouts.connect, first).await {
            Ok(c) => c,
            Err(r) => return r,
        };
        if self.steps.is_empty() && self.tls.is_none() {
            connected.recycle(target);
            return verdict(CheckStatus::L4Ok, "connected");
        }
        let stream = match connected.into_stream() {
            Ok(s) => s,
            Err(r) => return r,
        };
        // On the heap: a plain connect check should not carry this part's size.
        Box::pin(self.talk(stream, target, timeouts)).await
    }

    /// The TLS handshake (if any) and the send/expect steps.
    async fn talk(&self, stream: TcpStream, target: SocketAddr, timeouts: Timeouts) -> CheckResult {
        let deadline = Instant::now() + timeouts.check;
        let Some(tls) = &self.tls else {
            return self.exchange(stream, deadline).await;
        };
        let name = tls
            .sni
            .clone()
            .unwrap_or_else(|| ServerName::IpAddress(target.ip().into()));
        let connector = TlsConnector::from(tls.config.clone());
        match timeout_at(deadline, connector.connect(name, stream)).await {
            Err(_) => verdict(CheckStatus::L6Tout, "TLS handshake timeout"),
            Ok(Err(e)) => verdict(CheckStatus::L6Rsp, format!("TLS handshake: {e}")),
            Ok(Ok(_)) if self.steps.is_empty() => verdict(CheckStatus::L6Ok, "TLS handshake done"),
            Ok(Ok(tls_stream)) => self.exchange(tls_stream, deadline).await,
        }
    }

    async fn exchange<S>(&self, mut stream: S, deadline: Instant) -> CheckResult
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let mut buf = Vec::new();
        let mut expects = 0;
        for (index, step) in self.steps.iter().enumerate() {
            match step {
                Step::Send(bytes) => {
                    // Flush too: over TLS, written bytes may sit in the record buffer.
                    let write = timeout_at(deadline, async {
                        stream.write_all(bytes).await?;
                        stream.flush().await
                    })
                    .await;
                    match write {
                        Err(_) => {
                            return verdict(
                                CheckStatus::L7Tout,
                                format!("step {index}: send timeout"),
                            );
                        }
                        Ok(Err(e)) => {
                            return verdict(CheckStatus::L7Rsp, format!("step {index}: send: {e}"));
                        }
                        Ok(Ok(())) => {}
                    }
                }
                Step::Expect(matcher) => {
                    expects += 1;
                    let mut end = 0;
                    let got = read_until(&mut stream, &mut buf, self.max_read, deadline, |b| {
                        matcher.find(b).map(|e| end = e).is_some()
                    })
                    .await;
                    if let Err(stop) = got {
                        let (status, why) = match stop {
                            ReadStop::Timeout => {
                                (CheckStatus::L7Tout, "timeout waiting for reply".to_owned())
                            }
                            ReadStop::Eof => (
                                CheckStatus::L7Rsp,
                                "connection closed before match".to_owned(),
                            ),
                            ReadStop::Limit => {
                                (CheckStatus::L7Rsp, "no match within read limit".to_owned())
                            }
                            ReadStop::Error(e) => (CheckStatus::L7Rsp, e),
                        };
                        return verdict(status, format!("step {index}: {why}"));
                    }
                    // What one expectation matched is not offered to the next one.
                    buf.drain(..end);
                }
            }
        }
        if expects == 0 {
            verdict(CheckStatus::L4Ok, "sent")
        } else {
            verdict(CheckStatus::L7Ok, format!("{expects} expectations matched"))
        }
    }
}
