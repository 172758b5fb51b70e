//! HAProxy-style check status codes and the result every probe returns.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

/// The outcome class of one check, named as HAProxy names them on its stats page.
///
/// The layer tells how far the check got: L4 is the TCP connection, L6 the TLS
/// handshake, L7 the application exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CheckStatus {
    /// L4OK: the connection (or ICMP echo) succeeded and nothing more was asked.
    L4Ok,
    /// L4TOUT: the connection (or echo) timed out.
    L4Tout,
    /// L4CON: the connection was refused or otherwise failed (or port unreachable).
    L4Con,
    /// L6OK: the TLS handshake succeeded and nothing more was asked.
    L6Ok,
    /// L6TOUT: the TLS handshake timed out.
    L6Tout,
    /// L6RSP: the TLS handshake failed (bad certificate, wrong name, protocol error).
    L6Rsp,
    /// L7OK: the application answered as expected.
    L7Ok,
    /// L7OKC: the application answered in a way that passes conditionally
    /// (HTTP 404 with `disable-on-404`): the target stays up but should be drained.
    L7Okc,
    /// L7TOUT: the application did not answer in time.
    L7Tout,
    /// L7RSP: the application answered something invalid or unexpected.
    L7Rsp,
    /// L7STS: the application answered with a wrong status (HTTP status, script exit code).
    L7Sts,
}

impl CheckStatus {
    /// Whether this status counts as a passed check for the rise/fall machine.
    pub fn is_success(self) -> bool {
        matches!(self, Self::L4Ok | Self::L6Ok | Self::L7Ok | Self::L7Okc)
    }

    /// The code as HAProxy prints it (`L4OK`, `L7STS`, ...).
    pub fn code(self) -> &'static str {
        match self {
            Self::L4Ok => "L4OK",
            Self::L4Tout => "L4TOUT",
            Self::L4Con => "L4CON",
            Self::L6Ok => "L6OK",
            Self::L6Tout => "L6TOUT",
            Self::L6Rsp => "L6RSP",
            Self::L7Ok => "L7OK",
            Self::L7Okc => "L7OKC",
            Self::L7Tout => "L7TOUT",
            Self::L7Rsp => "L7RSP",
            Self::L7Sts => "L7STS",
        }
    }
}

impl fmt::Display for CheckStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A weight the target asked for, through an agent reply or a dynamic script's exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightHint {
    /// A percentage of the configured weight (agent `75%`).
    Percent(u32),
    /// An absolute weight (keepalived MISC_CHECK `misc_dynamic`: exit code minus 2).
    Absolute(u32),
}

/// The result of running one probe once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    /// What happened, as a HAProxy status code.
    pub status: CheckStatus,
    /// How long the probe took, from its start to its verdict.
    pub duration: Duration,
    /// A short human-readable explanation (`"connection refused"`, `"status 503"`).
    /// Fixed texts are borrowed, so a passing check allocates nothing for it.
    pub description: Cow<'static, str>,
    /// A weight the target asked for, if the probe carries one.
    pub weight: Option<WeightHint>,
    /// The parsed agent reply, for agent checks.
    pub agent: Option<crate::agent_reply::AgentReply>,
}

impl CheckResult {
    /// A result with no weight hint and no agent reply.
    pub fn new(
        status: CheckStatus,
        duration: Duration,
        description: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            status,
            duration,
            description: description.into(),
            weight: None,
            agent: None,
        }
    }

    /// Whether the rise/fall machine should count this result as a pass.
    ///
    /// An agent saying `down`, `fail`, `stopped` or `maint` fails the check even though
    /// the agent itself answered properly.
    pub fn passed(&self) -> bool {
        let agent_says_down = self.agent.as_ref().is_some_and(|r| r.forces_down());
        !agent_says_down && self.status.is_success()
    }
}
