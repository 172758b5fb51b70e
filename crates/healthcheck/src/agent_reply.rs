//! HAProxy's agent-check protocol: the one ASCII line an agent answers with.
//!
//! The line holds words separated by spaces, tabs or commas, in any order:
//! a weight `N%`, an operational state (`up`, `down`, `fail`, `stopped`), an administrative
//! state (`ready`, `drain`, `maint`), `maxconn:N`, and after `#` a free description.
//! Unknown words are ignored, as HAProxy does, so newer agents still work; a line
//! with no word we understand is invalid.

/// The operational state an agent reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentOpState {
    /// `up`: the service is running.
    Up,
    /// `down`: the service is down.
    Down,
    /// `fail`: the service failed.
    Fail,
    /// `stopped`: the service was stopped on purpose.
    Stopped,
}

/// The administrative state an agent asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentAdminState {
    /// `ready`: take normal traffic.
    Ready,
    /// `drain`: keep existing sessions, take no new ones (weight 0).
    Drain,
    /// `maint`: maintenance, take no traffic at all.
    Maint,
}

/// A parsed agent reply. Each field is `None` when the agent did not mention it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AgentReply {
    /// Weight as a percentage of the configured weight.
    pub weight_percent: Option<u32>,
    /// Operational state.
    pub op_state: Option<AgentOpState>,
    /// Administrative state.
    pub admin_state: Option<AgentAdminState>,
    /// Maximum concurrent connections the agent allows.
    pub maxconn: Option<u32>,
    /// Text after `#`, if any.
    pub description: Option<String>,
}

impl AgentReply {
    /// Whether this reply should make the target fail its check.
    pub fn forces_down(&self) -> bool {
        matches!(
            self.op_state,
            Some(AgentOpState::Down | AgentOpState::Fail | AgentOpState::Stopped)
        ) || self.admin_state == Some(AgentAdminState::Maint)
    }

    /// Parse one reply line (with or without its trailing newline).
    ///
    /// Returns `None` when the line holds no word the protocol defines.
    pub fn parse(line: &str) -> Option<Self> {
        let line = line.trim_end_matches(['\r', '\n']);
        let (words, description) = match line.split_once('#') {
            Some((w, d)) => (w, Some(d.trim().to_owned())),
            None => (line, None),
        };
        let mut reply = AgentReply {
            description,
            ..AgentReply::default()
        };
        let mut understood = false;
        for word in words.split([' ', '\t', ',']).filter(|w| !w.is_empty()) {
            let lower = word.to_ascii_lowercase();
            understood |= reply.apply_word(&lower);
        }
        understood.then_some(reply)
    }

    fn apply_word(&mut self, word: &str) -> bool {
        if let Some(number) = word.strip_suffix('%') {
            return match number.parse::<u32>() {
                Ok(percent) => {
                    // HAProxy caps agent weights at 256% of the configured weight.
                    self.weight_percent = Some(percent.min(256));
                    true
                }
                Err(_) => false,
            };
        }
        if let Some(number) = word.strip_prefix("maxconn:") {
            return match number.parse::<u32>() {
                Ok(n) => {
                    self.maxconn = Some(n);
                    true
                }
                Err(_) => false,
            };
        }
        match word {
            "up" => self.op_state = Some(AgentOpState::Up),
            "down" => self.op_state = Some(AgentOpState::Down),
            "fail" => self.op_state = Some(AgentOpState::Fail),
            "stopped" => self.op_state = Some(AgentOpState::Stopped),
            "ready" => self.admin_state = Some(AgentAdminState::Ready),
            "drain" => self.admin_state = Some(AgentAdminState::Drain),
            "maint" => self.admin_state = Some(AgentAdminState::Maint),
            _ => return false,
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_word_kind() {
        let r = AgentReply::parse("75%, drain maxconn:30\tup # busy node\n").expect("valid");
        assert_eq!(r.weight_percent, Some(75));
        assert_eq!(r.admin_state, Some(AgentAdminState::Drain));
        assert_eq!(r.op_state, Some(AgentOpState::Up));
        assert_eq!(r.maxconn, Some(30));
        assert_eq!(r.description.as_deref(), Some("busy node"));
        assert!(!r.forces_down());
    }

    #[test]
    fn down_states_force_down() {
        for line in ["down", "fail", "stopped", "maint", "50% DOWN"] {
            let r = AgentReply::parse(line).expect("valid");
            assert!(r.forces_down(), "{line}");
        }
    }

    #[test]
    fn garbage_is_rejected_and_weights_are_capped() {
        assert_eq!(AgentReply::parse("hello world"), None);
        assert_eq!(AgentReply::parse(""), None);
        assert_eq!(AgentReply::parse("x%"), None);
        let r = AgentReply::parse("900%").expect("valid");
        assert_eq!(r.weight_percent, Some(256));
    }
}
