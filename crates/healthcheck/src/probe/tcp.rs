//! TCP connect and HAProxy-style `tcp-check` send/expect sequences.

use std::net::SocketAddr;

use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

use super::Timeouts;
use super::connect::{ReadStop, connect, read_until, verdict};
use super::expect::{ExpectSpec, Matcher, parse_hex};
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
}

impl Default for TcpSpec {
    fn default() -> Self {
        Self {
            steps: Vec::new(),
            max_read: 16 * 1024,
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
        })
    }
}

impl TcpCheck {
    pub(crate) async fn run(&self, target: SocketAddr, timeouts: Timeouts) -> CheckResult {
        let connected = match connect(target, timeouts.connect).await {
            Ok(c) => c,
            Err(r) => return r,
        };
        if self.steps.is_empty() {
            return verdict(CheckStatus::L4Ok, "connected");
        }
        let mut stream = match connected.into_stream() {
            Ok(s) => s,
            Err(r) => return r,
        };
        let deadline = Instant::now() + timeouts.check;
        let mut buf = Vec::new();
        let mut expects = 0;
        for (index, step) in self.steps.iter().enumerate() {
            match step {
                Step::Send(bytes) => {
                    let write = tokio::time::timeout_at(deadline, stream.write_all(bytes)).await;
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
            verdict(CheckStatus::L4Ok, "connected")
        } else {
            verdict(CheckStatus::L7Ok, format!("{expects} expectations matched"))
        }
    }
}
