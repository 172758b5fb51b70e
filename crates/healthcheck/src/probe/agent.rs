//! HAProxy agent check: connect to the agent, optionally send a string, read one line.

use std::net::SocketAddr;

use tokio::io::AsyncWriteExt;
use tokio::time::{Instant, timeout_at};

use super::Timeouts;
use super::connect::{FirstWord, ReadStop, connect, read_until, verdict};
use crate::agent_reply::AgentReply;
use crate::error::Error;
use crate::status::{CheckResult, CheckStatus, WeightHint};

/// Longest agent line accepted; HAProxy reads into a small check buffer too.
const MAX_LINE: usize = 1024;

/// An agent check (HAProxy `agent-check agent-port N agent-send STR`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AgentSpec {
    /// Port the agent listens on; `None` uses the target's port.
    pub port: Option<u16>,
    /// A string sent to the agent before reading (`agent-send`).
    pub send: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct AgentCheck {
    port: Option<u16>,
    send: Option<Vec<u8>>,
}

impl AgentSpec {
    pub(crate) fn build(self) -> Result<AgentCheck, Error> {
        if self.port == Some(0) {
            return Err(Error::InvalidSetting {
                field: "agent-port",
                reason: "must not be zero",
            });
        }
        Ok(AgentCheck {
            port: self.port,
            send: self.send.map(String::into_bytes),
        })
    }
}

impl AgentCheck {
    pub(crate) async fn run(&self, target: SocketAddr, timeouts: Timeouts) -> CheckResult {
        let addr = SocketAddr::new(target.ip(), self.port.unwrap_or(target.port()));
        let first = if self.send.is_some() {
            FirstWord::Checker
        } else {
            FirstWord::Server
        };
        let mut stream = match connect(addr, timeouts.connect, first)
            .await
            .and_then(|c| c.into_stream())
        {
            Ok(s) => s,
            Err(r) => return r,
        };
        let deadline = Instant::now() + timeouts.check;
        if let Some(send) = &self.send {
            match timeout_at(deadline, stream.write_all(send)).await {
                Err(_) => return verdict(CheckStatus::L7Tout, "timeout sending to agent"),
                Ok(Err(e)) => return verdict(CheckStatus::L7Rsp, format!("sending to agent: {e}")),
                Ok(Ok(())) => {}
            }
        }
        let mut buf = Vec::new();
        match read_until(&mut stream, &mut buf, MAX_LINE, deadline, |b| {
            b.contains(&b'\n')
        })
        .await
        {
            // An agent may close right after its line without a newline.
            Ok(()) | Err(ReadStop::Eof) if !buf.is_empty() => {}
            Err(ReadStop::Timeout) => return verdict(CheckStatus::L7Tout, "agent did not answer"),
            Err(ReadStop::Limit) => return verdict(CheckStatus::L7Rsp, "agent line too long"),
            _ => return verdict(CheckStatus::L7Rsp, "agent closed without answering"),
        }
        let line_end = buf.iter().position(|&b| b == b'\n').unwrap_or(buf.len());
        let Ok(line) = std::str::from_utf8(&buf[..line_end]) else {
            return verdict(CheckStatus::L7Rsp, "agent line is not text");
        };
        let Some(reply) = AgentReply::parse(line) else {
            return verdict(CheckStatus::L7Rsp, format!("agent said {:?}", line.trim()));
        };
        let mut result = verdict(CheckStatus::L7Ok, format!("agent: {}", line.trim()));
        result.weight = reply.weight_percent.map(WeightHint::Percent);
        result.agent = Some(reply);
        result
    }
}
