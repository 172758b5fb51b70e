//! The rise/fall state machine: pure, deterministic, time injected.
//!
//! It follows HAProxy's single health counter. `health` runs from `0` to
//! `rise + fall - 1`; the target is up while `health >= rise`.
//!
//! ```text
//!            pass: health += 1                          fail: health -= 1
//!   Down(0) ────────────────▶ GoingUp(1..rise-1) ... Up(rise+fall-1) ──▶ GoingDown(rise..)
//!      ▲   health reaches rise: state Up, health = rise+fall-1          │
//!      └────────────────────────────────────────────────────────────────┘
//!            health drops below rise: state Down, health = 0
//! ```
//!
//! A pass while going down climbs back toward full health, and a fail while going up
//! slides back toward zero, so flapping targets neither rise nor fall early.
//!
//! An agent (HAProxy `agent-check`) can hold a target down on top of this: the target
//! is up only while the checks say up and the agent does not say down.
//!
//! The delay before the next check depends on the phase: `inter` at full health,
//! `fastinter` while moving between states (and once after an observed error asks for
//! it), `downinter` while fully down.

use std::time::{Duration, Instant};

use crate::error::Error;
use crate::observe::OnError;

/// Check intervals and thresholds, as in HAProxy's `server ... check inter .. rise .. fall ..`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckTiming {
    /// Interval between checks at full health (HAProxy default 2 s).
    pub inter: Duration,
    /// Interval while a target is changing state; `None` means `inter`.
    pub fastinter: Option<Duration>,
    /// Interval while a target is fully down; `None` means `inter`.
    pub downinter: Option<Duration>,
    /// Consecutive passes (net of fails) that bring a down target up (default 2).
    pub rise: u32,
    /// Consecutive fails (net of passes) that bring an up target down (default 3).
    pub fall: u32,
}

impl Default for CheckTiming {
    fn default() -> Self {
        Self {
            inter: Duration::from_secs(2),
            fastinter: None,
            downinter: None,
            rise: 2,
            fall: 3,
        }
    }
}

impl CheckTiming {
    /// Reject settings the machine cannot run with.
    pub fn validate(&self) -> Result<(), Error> {
        if self.rise == 0 {
            return Err(Error::InvalidSetting {
                field: "rise",
                reason: "must be at least 1",
            });
        }
        if self.fall == 0 {
            return Err(Error::InvalidSetting {
                field: "fall",
                reason: "must be at least 1",
            });
        }
        if self.rise.checked_add(self.fall).is_none() {
            return Err(Error::InvalidSetting {
                field: "rise",
                reason: "rise + fall overflows",
            });
        }
        let zero = |d: Option<Duration>| d.is_some_and(|d| d.is_zero());
        if self.inter.is_zero() || zero(self.fastinter) || zero(self.downinter) {
            return Err(Error::InvalidSetting {
                field: "inter",
                reason: "intervals must be greater than zero",
            });
        }
        Ok(())
    }
}

/// Whether a target is taking traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HealthState {
    /// Serving.
    Up,
    /// Not serving.
    Down,
}

/// Where a new target starts (HAProxy `init-state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum InitialState {
    /// Up at full health: `fall` failed checks bring it down.
    FullyUp,
    /// Up, but the first failed check brings it down (HAProxy's default).
    #[default]
    Up,
    /// Down, but the first passed check brings it up.
    Down,
    /// Down at zero health: `rise` passed checks bring it up.
    FullyDown,
}

/// The state together with where the health counter sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Up at full health.
    Up,
    /// Still up, but some recent checks failed.
    GoingDown,
    /// Down with zero health.
    Down,
    /// Still down, but some recent checks passed.
    GoingUp,
}

/// What moved a target from one state to the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransitionCause {
    /// Active checks crossed the rise or fall threshold.
    Checks,
    /// Errors observed in live traffic triggered an `on-error` action.
    ObservedErrors(OnError),
    /// The target's agent said it is down, or stopped saying so.
    Agent,
}

/// A change of [`HealthState`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// The state before.
    pub from: HealthState,
    /// The state after.
    pub to: HealthState,
    /// When it happened (the `now` passed in).
    pub at: Instant,
    /// Why it happened.
    pub cause: TransitionCause,
}

/// The rise/fall machine for one target.
#[derive(Debug, Clone)]
pub struct HealthMachine {
    timing: CheckTiming,
    health: u32,
    /// The verdict of the health checks alone.
    checks_state: HealthState,
    /// An agent said down, fail, stopped or maint: the target is down whatever the
    /// health checks say (HAProxy ANDs the two).
    agent_down: bool,
    /// Set by an observed-error action: use `fastinter` for the next check even at
    /// full health, because traffic suggests something is wrong.
    hurry: bool,
    last_change: Instant,
    down_since: Option<Instant>,
    downtime_closed: Duration,
    checks: u64,
    failures: u64,
}

impl HealthMachine {
    /// A machine starting in `initial` at `now`.
    pub fn new(timing: CheckTiming, initial: InitialState, now: Instant) -> Result<Self, Error> {
        timing.validate()?;
        let full = timing.rise + timing.fall - 1;
        // Up means health >= rise: "up" sits on the threshold, "down" one below it.
        let (health, state) = match initial {
            InitialState::FullyUp => (full, HealthState::Up),
            InitialState::Up => (timing.rise, HealthState::Up),
            InitialState::Down => (timing.rise - 1, HealthState::Down),
            InitialState::FullyDown => (0, HealthState::Down),
        };
        Ok(Self {
            timing,
            health,
            checks_state: state,
            agent_down: false,
            hurry: false,
            last_change: now,
            down_since: (state == HealthState::Down).then_some(now),
            downtime_closed: Duration::ZERO,
            checks: 0,
            failures: 0,
        })
    }

    fn full_health(&self) -> u32 {
        self.timing.rise + self.timing.fall - 1
    }

    /// Feed one check result (`passed` as given by [`crate::CheckResult::passed`]).
    pub fn record(&mut self, now: Instant, passed: bool) -> Option<Transition> {
        let before = self.state();
        self.hurry = false;
        self.checks += 1;
        if passed {
            self.pass();
        } else {
            self.failures += 1;
            self.fail();
        }
        self.settle(now, before, TransitionCause::Checks)
    }

    fn pass(&mut self) {
        if self.health < self.full_health() {
            self.health += 1;
        }
        if self.checks_state == HealthState::Down && self.health >= self.timing.rise {
            self.health = self.full_health();
            self.checks_state = HealthState::Up;
        }
    }

    fn fail(&mut self) {
        self.health = self.health.saturating_sub(1);
        if self.checks_state == HealthState::Up && self.health < self.timing.rise {
            self.health = 0;
            self.checks_state = HealthState::Down;
        }
    }

    /// Report a transition if the combined state moved, and keep the books.
    fn settle(
        &mut self,
        now: Instant,
        from: HealthState,
        cause: TransitionCause,
    ) -> Option<Transition> {
        let to = self.state();
        if to == from {
            return None;
        }
        self.last_change = now;
        match to {
            HealthState::Down => self.down_since = Some(now),
            HealthState::Up => {
                if let Some(since) = self.down_since.take() {
                    self.downtime_closed += now.saturating_duration_since(since);
                }
            }
        }
        Some(Transition {
            from,
            to,
            at: now,
            cause,
        })
    }

    /// Apply an HAProxy `on-error` action decided by [`crate::ErrorObserver`].
    pub fn apply_on_error(&mut self, now: Instant, action: OnError) -> Option<Transition> {
        let before = self.state();
        self.hurry = true;
        match action {
            OnError::Fastinter => {}
            OnError::FailCheck => {
                self.failures += 1;
                self.fail();
            }
            OnError::SuddenDeath => {
                // One failed check away from down: health sits exactly at `rise`.
                if self.checks_state == HealthState::Up {
                    self.health = self.health.min(self.timing.rise);
                } else {
                    self.health = 0;
                }
            }
            OnError::MarkDown => {
                self.health = 0;
                self.checks_state = HealthState::Down;
            }
        }
        self.settle(now, before, TransitionCause::ObservedErrors(action))
    }

    /// Record what the target's agent said: `down` is true for down, fail, stopped or
    /// maint. An unreachable agent should not be reported at all (HAProxy does not
    /// count it: reachability is the health check's job).
    pub fn set_agent_down(&mut self, now: Instant, down: bool) -> Option<Transition> {
        let before = self.state();
        self.agent_down = down;
        self.settle(now, before, TransitionCause::Agent)
    }

    /// The delay to wait before the next check, without jitter. It follows the health
    /// checks' own progress, whatever an agent says.
    pub fn next_delay(&self) -> Duration {
        let fast = self.timing.fastinter.unwrap_or(self.timing.inter);
        if self.hurry {
            return fast;
        }
        match self.checks_phase() {
            Phase::Up => self.timing.inter,
            Phase::GoingDown | Phase::GoingUp => fast,
            Phase::Down => self.timing.downinter.unwrap_or(self.timing.inter),
        }
    }

    /// The current state: up only if the health checks say up and no agent says down.
    pub fn state(&self) -> HealthState {
        if self.agent_down {
            HealthState::Down
        } else {
            self.checks_state
        }
    }

    /// The health checks' verdict alone, ignoring any agent.
    pub fn checks_state(&self) -> HealthState {
        self.checks_state
    }

    /// Whether an agent currently holds the target down.
    pub fn agent_down(&self) -> bool {
        self.agent_down
    }

    /// The current phase; an agent holding the target down makes it [`Phase::Down`].
    pub fn phase(&self) -> Phase {
        if self.agent_down {
            Phase::Down
        } else {
            self.checks_phase()
        }
    }

    fn checks_phase(&self) -> Phase {
        match self.checks_state {
            HealthState::Up if self.health >= self.full_health() => Phase::Up,
            HealthState::Up => Phase::GoingDown,
            HealthState::Down if self.health == 0 => Phase::Down,
            HealthState::Down => Phase::GoingUp,
        }
    }

    /// The raw health counter, `0..=rise+fall-1`.
    pub fn health(&self) -> u32 {
        self.health
    }

    /// The timing the machine runs with.
    pub fn timing(&self) -> &CheckTiming {
        &self.timing
    }

    /// When the state last changed (or when the machine was created).
    pub fn last_change(&self) -> Instant {
        self.last_change
    }

    /// Total time spent down up to `now`, including a down period still running.
    pub fn total_downtime(&self, now: Instant) -> Duration {
        let open = self
            .down_since
            .map_or(Duration::ZERO, |since| now.saturating_duration_since(since));
        self.downtime_closed + open
    }

    /// Number of checks recorded.
    pub fn checks(&self) -> u64 {
        self.checks
    }

    /// Number of failed checks recorded (including `fail-check` actions).
    pub fn failures(&self) -> u64 {
        self.failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn timing() -> CheckTiming {
        CheckTiming {
            inter: 10 * S,
            fastinter: Some(2 * S),
            downinter: Some(30 * S),
            rise: 2,
            fall: 3,
        }
    }

    /// One row: the result fed in, then the phase and the delay expected after it.
    struct Row(bool, Phase, Duration);

    fn run_table(initial: InitialState, rows: &[Row]) {
        let t0 = Instant::now();
        let mut m = HealthMachine::new(timing(), initial, t0).expect("valid timing");
        for (i, Row(passed, phase, delay)) in rows.iter().enumerate() {
            m.record(t0 + S * i as u32, *passed);
            assert_eq!(m.phase(), *phase, "row {i}");
            assert_eq!(m.next_delay(), *delay, "row {i}");
        }
    }

    const P: bool = true;
    const F: bool = false;

    #[test]
    fn falls_after_fall_failures_and_rises_after_rise_passes() {
        use Phase::*;
        run_table(
            InitialState::FullyUp,
            &[
                Row(P, Up, 10 * S),
                Row(F, GoingDown, 2 * S),
                Row(F, GoingDown, 2 * S),
                Row(F, Down, 30 * S),
                Row(F, Down, 30 * S),
                Row(P, GoingUp, 2 * S),
                Row(P, Up, 10 * S),
            ],
        );
    }

    #[test]
    fn flapping_neither_rises_nor_falls_early() {
        use Phase::*;
        run_table(
            InitialState::FullyUp,
            &[
                Row(F, GoingDown, 2 * S),
                Row(P, Up, 10 * S),
                Row(F, GoingDown, 2 * S),
                Row(F, GoingDown, 2 * S),
                Row(P, GoingDown, 2 * S),
                Row(F, GoingDown, 2 * S),
                Row(F, Down, 30 * S),
                Row(P, GoingUp, 2 * S),
                Row(F, Down, 30 * S),
                Row(P, GoingUp, 2 * S),
                Row(P, Up, 10 * S),
            ],
        );
    }

    #[test]
    fn starting_down_needs_rise_passes() {
        use Phase::*;
        run_table(
            InitialState::FullyDown,
            &[
                Row(F, Down, 30 * S),
                Row(P, GoingUp, 2 * S),
                Row(P, Up, 10 * S),
            ],
        );
    }

    #[test]
    fn haproxy_init_states() {
        let t0 = Instant::now();
        let start = |initial| HealthMachine::new(timing(), initial, t0).expect("valid");
        // "up": the first failure is fatal, but a pass restores full health.
        let mut m = start(InitialState::Up);
        assert_eq!((m.state(), m.phase()), (HealthState::Up, Phase::GoingDown));
        assert!(m.record(t0, false).is_some());
        let mut m = start(InitialState::Up);
        m.record(t0, true);
        assert_eq!(
            m.phase(),
            Phase::GoingDown,
            "rise 2 of full 4: one pass is not enough"
        );
        m.record(t0, true);
        assert_eq!(m.phase(), Phase::Up);
        // "down": the first pass brings it up; "fully-down" needs `rise` passes.
        let mut m = start(InitialState::Down);
        assert_eq!((m.state(), m.phase()), (HealthState::Down, Phase::GoingUp));
        assert!(m.record(t0, true).is_some());
        let mut m = start(InitialState::FullyDown);
        assert!(m.record(t0, true).is_none());
        assert!(m.record(t0, true).is_some());
        assert_eq!(start(InitialState::FullyUp).phase(), Phase::Up);
        assert_eq!(
            InitialState::default(),
            InitialState::Up,
            "HAProxy's default"
        );
    }

    #[test]
    fn transitions_report_cause_and_downtime_accumulates() {
        let t0 = Instant::now();
        let mut m = HealthMachine::new(timing(), InitialState::FullyUp, t0).expect("valid");
        assert_eq!(m.record(t0 + S, false), None);
        assert_eq!(m.record(t0 + 2 * S, false), None);
        let down = m.record(t0 + 3 * S, false).expect("falls on third failure");
        assert_eq!((down.from, down.to), (HealthState::Up, HealthState::Down));
        assert_eq!(down.cause, TransitionCause::Checks);
        assert_eq!(m.total_downtime(t0 + 5 * S), 2 * S);
        m.record(t0 + 6 * S, true);
        let up = m.record(t0 + 7 * S, true).expect("rises on second pass");
        assert_eq!(up.to, HealthState::Up);
        assert_eq!(m.last_change(), t0 + 7 * S);
        assert_eq!(m.total_downtime(t0 + 100 * S), 4 * S);
        assert_eq!((m.checks(), m.failures()), (5, 3));
    }

    #[test]
    fn rise_one_fall_one_flips_on_every_change() {
        let t0 = Instant::now();
        let timing = CheckTiming {
            rise: 1,
            fall: 1,
            ..timing()
        };
        let mut m = HealthMachine::new(timing, InitialState::FullyDown, t0).expect("valid");
        assert!(m.record(t0, true).is_some());
        assert_eq!(m.phase(), Phase::Up);
        assert!(m.record(t0, false).is_some());
        assert_eq!(m.phase(), Phase::Down);
    }

    #[test]
    fn on_error_actions() {
        let t0 = Instant::now();
        let fresh = || HealthMachine::new(timing(), InitialState::FullyUp, t0).expect("valid");

        let mut m = fresh();
        assert_eq!(m.apply_on_error(t0, OnError::Fastinter), None);
        assert_eq!(m.phase(), Phase::Up);
        assert_eq!(m.next_delay(), 2 * S, "fastinter forced once");
        m.record(t0, true);
        assert_eq!(m.next_delay(), 10 * S, "back to inter after a check");

        let mut m = fresh();
        assert_eq!(m.apply_on_error(t0, OnError::FailCheck), None);
        assert_eq!(m.phase(), Phase::GoingDown);
        assert_eq!(m.failures(), 1);

        let mut m = fresh();
        assert_eq!(m.apply_on_error(t0, OnError::SuddenDeath), None);
        assert_eq!(m.state(), HealthState::Up);
        assert!(m.record(t0, false).is_some(), "one more failure is fatal");

        let mut m = fresh();
        let t = m.apply_on_error(t0, OnError::MarkDown).expect("marks down");
        assert_eq!(t.cause, TransitionCause::ObservedErrors(OnError::MarkDown));
        assert_eq!(m.phase(), Phase::Down);
        assert_eq!(m.next_delay(), 2 * S, "fastinter after mark-down");
    }

    #[test]
    fn agent_holds_down_on_top_of_checks() {
        let t0 = Instant::now();
        let mut m = HealthMachine::new(timing(), InitialState::FullyUp, t0).expect("valid");
        let t = m.set_agent_down(t0 + S, true).expect("agent takes it down");
        assert_eq!((t.to, t.cause), (HealthState::Down, TransitionCause::Agent));
        assert_eq!(m.phase(), Phase::Down);
        assert_eq!(m.checks_state(), HealthState::Up);
        assert_eq!(
            m.next_delay(),
            10 * S,
            "check pace follows the checks, not the agent"
        );
        assert_eq!(
            m.set_agent_down(t0 + S, true),
            None,
            "repeating changes nothing"
        );
        // While the agent holds it down, failing checks bring the checks' verdict down
        // silently; the agent letting go then leaves it down.
        for i in 0..3 {
            assert_eq!(m.record(t0 + 2 * S + S * i, false), None);
        }
        assert_eq!(m.set_agent_down(t0 + 5 * S, false), None);
        assert_eq!(m.state(), HealthState::Down);
        m.record(t0 + 6 * S, true);
        let up = m.record(t0 + 7 * S, true).expect("checks bring it up");
        assert_eq!(up.cause, TransitionCause::Checks);
        assert_eq!(m.total_downtime(t0 + 7 * S), 6 * S);
        // And the other way: checks up, agent lets go, up again at once.
        m.set_agent_down(t0 + 8 * S, true);
        let back = m
            .set_agent_down(t0 + 9 * S, false)
            .expect("agent releases it");
        assert_eq!(back.to, HealthState::Up);
        assert_eq!(m.total_downtime(t0 + 20 * S), 7 * S);
    }

    #[test]
    fn bad_timing_is_rejected() {
        let now = Instant::now();
        for bad in [
            CheckTiming {
                rise: 0,
                ..timing()
            },
            CheckTiming {
                fall: 0,
                ..timing()
            },
            CheckTiming {
                inter: Duration::ZERO,
                ..timing()
            },
            CheckTiming {
                fastinter: Some(Duration::ZERO),
                ..timing()
            },
            CheckTiming {
                rise: u32::MAX,
                ..timing()
            },
        ] {
            assert!(HealthMachine::new(bad, InitialState::FullyUp, now).is_err());
        }
    }

    proptest::proptest! {
        #[test]
        fn health_stays_in_range_and_state_matches_threshold(
            results in proptest::collection::vec(proptest::bool::ANY, 0..200),
            rise in 1u32..6, fall in 1u32..6,
        ) {
            let t0 = Instant::now();
            let timing = CheckTiming { rise, fall, ..timing() };
            let mut m = HealthMachine::new(timing, InitialState::FullyUp, t0).expect("valid");
            let mut run_of_fails = 0;
            let mut run_of_passes = 0;
            for r in results {
                let before = m.state();
                m.record(t0, r);
                if r { run_of_passes += 1; run_of_fails = 0 } else { run_of_fails += 1; run_of_passes = 0 }
                proptest::prop_assert!(m.health() < rise + fall);
                proptest::prop_assert_eq!(m.state() == HealthState::Up, m.health() >= rise);
                // `fall` straight failures always bring it down, `rise` straight passes up.
                if run_of_fails >= fall { proptest::prop_assert_eq!(m.state(), HealthState::Down); }
                if run_of_passes >= rise { proptest::prop_assert_eq!(m.state(), HealthState::Up); }
                // Only a pass can bring it up and only a fail can bring it down.
                if before != m.state() {
                    proptest::prop_assert_eq!(m.state() == HealthState::Up, r);
                }
            }
        }
    }
}
