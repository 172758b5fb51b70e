//! HAProxy's `observe layer4|layer7` with `error-limit` and `on-error`: judging a server
//! by the live traffic it serves.
//!
//! The proxy reports each request's outcome; after `error-limit` consecutive errors the
//! observer returns the configured [`OnError`] action, which the caller applies to the
//! target's [`crate::HealthMachine`] (or hands to `Monitor::report_outcome`,
//! which does both). The count restarts after each action, and any success resets it.

use crate::error::Error;

/// Which outcomes count as errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObserveLayer {
    /// Only connection failures and connect timeouts.
    Layer4,
    /// Also response timeouts, invalid responses and HTTP 5xx (except 501 and 505,
    /// which say the client asked for something unsupported, not that the server is ill).
    Layer7,
}

/// What to do when `error-limit` consecutive errors were seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnError {
    /// Check again soon, at `fastinter`; do not change the health counter.
    Fastinter,
    /// Count one failed check, then check at `fastinter` (HAProxy's default).
    FailCheck,
    /// Put the target one failed check away from down, then check at `fastinter`.
    SuddenDeath,
    /// Mark the target down at once, then check at `fastinter` to bring it back.
    MarkDown,
}

/// The outcome of one live request, as the proxy saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestOutcome {
    /// The request completed without a server-side error.
    Success,
    /// The connection to the server failed (refused, reset, unreachable).
    ConnectError,
    /// The connection to the server timed out.
    ConnectTimeout,
    /// The server accepted the connection but did not answer in time.
    ResponseTimeout,
    /// The server's answer could not be parsed.
    InvalidResponse,
    /// The server answered with this HTTP status.
    HttpStatus(u16),
}

impl RequestOutcome {
    /// Whether the outcome is a server error at the given layer.
    pub fn is_error(self, layer: ObserveLayer) -> bool {
        match self {
            Self::Success => false,
            Self::ConnectError | Self::ConnectTimeout => true,
            Self::ResponseTimeout | Self::InvalidResponse => layer == ObserveLayer::Layer7,
            Self::HttpStatus(code) => {
                layer == ObserveLayer::Layer7
                    && (500..600).contains(&code)
                    && code != 501
                    && code != 505
            }
        }
    }
}

/// Counts consecutive errors for one target.
#[derive(Debug, Clone)]
pub struct ErrorObserver {
    layer: ObserveLayer,
    error_limit: u32,
    on_error: OnError,
    consecutive_errors: u32,
}

impl ErrorObserver {
    /// HAProxy's defaults are `error-limit 10` and `on-error fail-check`.
    pub fn new(layer: ObserveLayer, error_limit: u32, on_error: OnError) -> Result<Self, Error> {
        if error_limit == 0 {
            return Err(Error::InvalidSetting {
                field: "error-limit",
                reason: "must be at least 1",
            });
        }
        Ok(Self {
            layer,
            error_limit,
            on_error,
            consecutive_errors: 0,
        })
    }

    /// Record one outcome; returns the action to take when the limit is reached.
    pub fn report(&mut self, outcome: RequestOutcome) -> Option<OnError> {
        if !outcome.is_error(self.layer) {
            self.consecutive_errors = 0;
            return None;
        }
        self.consecutive_errors += 1;
        if self.consecutive_errors >= self.error_limit {
            self.consecutive_errors = 0;
            return Some(self.on_error);
        }
        None
    }

    /// Errors seen in a row so far.
    pub fn consecutive_errors(&self) -> u32 {
        self.consecutive_errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RequestOutcome::*;

    #[test]
    fn layer_decides_what_is_an_error() {
        let cases = [
            (ConnectError, true, true),
            (ConnectTimeout, true, true),
            (ResponseTimeout, false, true),
            (InvalidResponse, false, true),
            (HttpStatus(500), false, true),
            (HttpStatus(503), false, true),
            (HttpStatus(501), false, false),
            (HttpStatus(505), false, false),
            (HttpStatus(404), false, false),
            (HttpStatus(200), false, false),
            (Success, false, false),
        ];
        for (outcome, l4, l7) in cases {
            assert_eq!(outcome.is_error(ObserveLayer::Layer4), l4, "{outcome:?} l4");
            assert_eq!(outcome.is_error(ObserveLayer::Layer7), l7, "{outcome:?} l7");
        }
    }

    #[test]
    fn fires_after_limit_consecutive_errors_and_restarts() {
        let mut o = ErrorObserver::new(ObserveLayer::Layer7, 3, OnError::MarkDown).expect("valid");
        assert_eq!(o.report(HttpStatus(502)), None);
        assert_eq!(o.report(ConnectError), None);
        assert_eq!(o.report(Success), None, "success resets the run");
        assert_eq!(o.consecutive_errors(), 0);
        assert_eq!(o.report(HttpStatus(502)), None);
        assert_eq!(o.report(HttpStatus(502)), None);
        assert_eq!(o.report(ResponseTimeout), Some(OnError::MarkDown));
        assert_eq!(o.consecutive_errors(), 0, "count restarts after the action");
        assert_eq!(o.report(HttpStatus(502)), None);
    }

    #[test]
    fn zero_limit_is_rejected() {
        assert!(ErrorObserver::new(ObserveLayer::Layer4, 0, OnError::FailCheck).is_err());
    }
}
