//! The driver: one monitor runs many targets, each in its own small task.
//!
//! Each target task loops: wait for the machine's next delay (with spread-checks
//! jitter, or less if observed traffic errors asked for a quick recheck) → take a
//! permit from the cap on concurrent checks → run the probe → feed the result to the
//! [`HealthMachine`] → publish a [`StateChange`] if the state flipped. Everything a
//! stats page needs is kept per target and read with [`Monitor::snapshot`].
//!
//! Randomness (jitter) comes from a seeded generator per target, so a run with the
//! same seed spreads checks the same way.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::sync::{Notify, Semaphore, mpsc};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::agent_reply::AgentReply;
use crate::error::Error;
use crate::machine::{
    CheckTiming, HealthMachine, HealthState, InitialState, Phase, Transition, TransitionCause,
};
use crate::observe::{ErrorObserver, ObserveLayer, OnError, RequestOutcome};
use crate::probe::{Check, Timeouts};
use crate::status::{CheckResult, CheckStatus, WeightHint};

/// Monitor-wide settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitorConfig {
    /// Most checks in flight at once across all targets (at least 1).
    pub max_concurrent_checks: usize,
    /// HAProxy `spread-checks`: each interval is randomly lengthened or shortened by up
    /// to this percent (0 to 50), so checks of many targets do not bunch up.
    pub spread_checks_percent: u8,
    /// Seed for the jitter.
    pub seed: u64,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        Self {
            max_concurrent_checks: 1024,
            spread_checks_percent: 5,
            seed: 0x0068_616b_6974,
        }
    }
}

/// Identifies a target within one monitor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TargetId(pub u64);

/// A target to monitor.
#[derive(Debug, Clone)]
pub struct TargetSpec {
    /// Where to send the probe.
    pub addr: SocketAddr,
    /// What to send.
    pub check: Check,
    /// Intervals and thresholds.
    pub timing: CheckTiming,
    /// Probe timeouts.
    pub timeouts: Timeouts,
    /// State before the first check (HAProxy `init-state`, default up).
    pub initial: InitialState,
    /// Traffic-based health: layer, `error-limit`, `on-error`.
    pub observe: Option<(ObserveLayer, u32, OnError)>,
    /// An agent check run beside the health check (HAProxy `agent-check`).
    pub agent: Option<AgentTrack>,
}

/// An agent check on its own interval (HAProxy `agent-check agent-inter`).
///
/// Its replies set the target's weight and admin state, and `down`, `fail`, `stopped`
/// or `maint` hold the target down until the agent says otherwise. An agent that cannot
/// be reached changes nothing: reachability is the health check's business.
#[derive(Debug, Clone)]
pub struct AgentTrack {
    /// The agent probe, normally built from [`crate::CheckSpec::Agent`]; results
    /// without an agent reply are ignored.
    pub check: Check,
    /// Interval between agent checks.
    pub inter: Duration,
    /// Agent probe timeouts.
    pub timeouts: Timeouts,
}

impl TargetSpec {
    /// A target with default timing and timeouts, starting up, not observing traffic.
    pub fn new(addr: SocketAddr, check: Check) -> Self {
        Self {
            addr,
            check,
            timing: CheckTiming::default(),
            timeouts: Timeouts::default(),
            initial: InitialState::default(),
            observe: None,
            agent: None,
        }
    }
}

/// A state change, as published on the monitor's channel.
#[derive(Debug, Clone)]
pub struct StateChange {
    /// Which target.
    pub target: TargetId,
    /// Its address.
    pub addr: SocketAddr,
    /// The state before.
    pub from: HealthState,
    /// The state now.
    pub to: HealthState,
    /// Why.
    pub cause: TransitionCause,
    /// The check (or agent) result that caused it; `None` when errors observed in
    /// live traffic caused it.
    pub result: Option<CheckResult>,
    /// When.
    pub at: std::time::Instant,
}

/// Per-target figures for a stats page.
#[derive(Debug, Clone)]
pub struct TargetSnapshot {
    /// Which target.
    pub target: TargetId,
    /// Its address.
    pub addr: SocketAddr,
    /// Up or down.
    pub state: HealthState,
    /// Up, going down, down or going up.
    pub phase: Phase,
    /// The last check's status, if a check ran.
    pub last_status: Option<CheckStatus>,
    /// The last check's description.
    pub last_description: Option<String>,
    /// The last check's duration.
    pub last_duration: Option<Duration>,
    /// The last weight a probe asked for.
    pub weight: Option<WeightHint>,
    /// The last agent reply (admin state, maxconn), from an agent check.
    pub agent: Option<AgentReply>,
    /// Whether an agent currently holds the target down.
    pub agent_down: bool,
    /// Checks run.
    pub checks: u64,
    /// Checks failed.
    pub failures: u64,
    /// When the state last changed.
    pub last_change: std::time::Instant,
    /// Time spent down so far.
    pub total_downtime: Duration,
}

struct TargetState {
    machine: HealthMachine,
    observer: Option<ErrorObserver>,
    last: Option<CheckResult>,
    weight: Option<WeightHint>,
    agent: Option<AgentReply>,
}

struct TargetEntry {
    addr: SocketAddr,
    state: Arc<Mutex<TargetState>>,
    wake: Arc<Notify>,
    tasks: Vec<JoinHandle<()>>,
}

/// Runs checks for many targets and reports their state.
pub struct Monitor {
    config: MonitorConfig,
    permits: Arc<Semaphore>,
    changes: mpsc::UnboundedSender<StateChange>,
    targets: Mutex<HashMap<TargetId, TargetEntry>>,
    next_id: AtomicU64,
}

impl std::fmt::Debug for Monitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Monitor")
            .field("config", &self.config)
            .field("targets", &self.targets.lock().len())
            .finish()
    }
}

impl Monitor {
    /// A monitor and the receiving end of its state-change stream. Targets added later
    /// run on the tokio runtime that is current when [`Monitor::add`] is called.
    pub fn new(config: MonitorConfig) -> (Self, mpsc::UnboundedReceiver<StateChange>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let monitor = Self {
            permits: Arc::new(Semaphore::new(config.max_concurrent_checks.max(1))),
            config: MonitorConfig {
                spread_checks_percent: config.spread_checks_percent.min(50),
                ..config
            },
            changes: tx,
            targets: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
        };
        (monitor, rx)
    }

    /// Start monitoring a target, on the tokio runtime this is called from (outside
    /// one, [`Error::NoRuntime`]).
    pub fn add(&self, spec: TargetSpec) -> Result<TargetId, Error> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| Error::NoRuntime)?;
        let zero_timeout = |t: &Timeouts| t.connect.is_zero() || t.check.is_zero();
        if zero_timeout(&spec.timeouts)
            || spec
                .agent
                .as_ref()
                .is_some_and(|a| zero_timeout(&a.timeouts))
        {
            return Err(Error::InvalidSetting {
                field: "timeout",
                reason: "connect and check timeouts must be greater than zero",
            });
        }
        if spec.agent.as_ref().is_some_and(|a| a.inter.is_zero()) {
            return Err(Error::InvalidSetting {
                field: "agent-inter",
                reason: "must be greater than zero",
            });
        }
        let now = Instant::now();
        let machine = HealthMachine::new(spec.timing, spec.initial, now.into_std())?;
        let observer = spec
            .observe
            .map(|(layer, limit, action)| ErrorObserver::new(layer, limit, action))
            .transpose()?;
        let id = TargetId(self.next_id.fetch_add(1, Ordering::Relaxed));
        let state = Arc::new(Mutex::new(TargetState {
            machine,
            observer,
            last: None,
            weight: None,
            agent: None,
        }));
        let wake = Arc::new(Notify::new());
        let runner = |role: Role, check: Check, timeouts: Timeouts, salt: u64| TargetRunner {
            id,
            addr: spec.addr,
            role,
            check,
            timeouts,
            state: state.clone(),
            wake: wake.clone(),
            permits: self.permits.clone(),
            changes: self.changes.clone(),
            spread_percent: self.config.spread_checks_percent,
            rng: SmallRng::seed_from_u64(
                self.config.seed ^ id.0.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ salt,
            ),
        };
        let mut tasks =
            vec![runtime.spawn(runner(Role::Health, spec.check.clone(), spec.timeouts, 0).run())];
        if let Some(agent) = &spec.agent {
            let role = Role::Agent { inter: agent.inter };
            tasks.push(
                runtime.spawn(runner(role, agent.check.clone(), agent.timeouts, 0xa9e7).run()),
            );
        }
        self.targets.lock().insert(
            id,
            TargetEntry {
                addr: spec.addr,
                state,
                wake,
                tasks,
            },
        );
        Ok(id)
    }

    /// Stop monitoring a target. A check in flight is cancelled (a script's process
    /// group is killed). Returns whether the target existed.
    pub fn remove(&self, id: TargetId) -> bool {
        match self.targets.lock().remove(&id) {
            Some(entry) => {
                entry.tasks.iter().for_each(JoinHandle::abort);
                true
            }
            None => false,
        }
    }

    /// Number of targets.
    pub fn len(&self) -> usize {
        self.targets.lock().len()
    }

    /// Whether the monitor has no targets.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Report the outcome of one live request to a target (HAProxy `observe`). When it
    /// completes `error-limit` errors, the `on-error` action is applied at once and the
    /// target is rechecked at `fastinter`. Returns the transition, if the action caused one.
    pub fn report_outcome(&self, id: TargetId, outcome: RequestOutcome) -> Option<Transition> {
        let targets = self.targets.lock();
        let entry = targets.get(&id)?;
        let mut st = entry.state.lock();
        let action = st.observer.as_mut()?.report(outcome)?;
        let now = Instant::now().into_std();
        let transition = st.machine.apply_on_error(now, action);
        entry.wake.notify_one();
        if let Some(t) = transition {
            let _ = self.changes.send(StateChange {
                target: id,
                addr: entry.addr,
                from: t.from,
                to: t.to,
                cause: t.cause,
                result: None,
                at: t.at,
            });
        }
        transition
    }

    /// The figures of one target.
    pub fn snapshot(&self, id: TargetId) -> Option<TargetSnapshot> {
        let targets = self.targets.lock();
        let entry = targets.get(&id)?;
        Some(snapshot_of(id, entry, Instant::now().into_std()))
    }

    /// The figures of every target, ordered by id.
    pub fn snapshots(&self) -> Vec<TargetSnapshot> {
        let now = Instant::now().into_std();
        let targets = self.targets.lock();
        let mut all: Vec<_> = targets
            .iter()
            .map(|(id, e)| snapshot_of(*id, e, now))
            .collect();
        all.sort_by_key(|s| s.target);
        all
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        for entry in self.targets.get_mut().values() {
            entry.tasks.iter().for_each(JoinHandle::abort);
        }
    }
}

fn snapshot_of(id: TargetId, entry: &TargetEntry, now: std::time::Instant) -> TargetSnapshot {
    let st = entry.state.lock();
    TargetSnapshot {
        target: id,
        addr: entry.addr,
        state: st.machine.state(),
        phase: st.machine.phase(),
        last_status: st.last.as_ref().map(|r| r.status),
        last_description: st.last.as_ref().map(|r| r.description.clone()),
        last_duration: st.last.as_ref().map(|r| r.duration),
        weight: st.weight,
        agent: st.agent.clone(),
        agent_down: st.machine.agent_down(),
        checks: st.machine.checks(),
        failures: st.machine.failures(),
        last_change: st.machine.last_change(),
        total_downtime: st.machine.total_downtime(now),
    }
}

/// What a runner task does for its target.
#[derive(Debug, Clone, Copy)]
enum Role {
    /// Runs the health check and drives the rise/fall machine.
    Health,
    /// Runs the agent check every `inter`.
    Agent { inter: Duration },
}

struct TargetRunner {
    id: TargetId,
    addr: SocketAddr,
    role: Role,
    check: Check,
    timeouts: Timeouts,
    state: Arc<Mutex<TargetState>>,
    wake: Arc<Notify>,
    permits: Arc<Semaphore>,
    changes: mpsc::UnboundedSender<StateChange>,
    spread_percent: u8,
    rng: SmallRng,
}

/// HAProxy `spread-checks`: lengthen or shorten `delay` by a random amount of up to
/// `percent` percent (capped at 50).
fn spread(delay: Duration, percent: u8, rng: &mut impl Rng) -> Duration {
    if percent == 0 {
        return delay;
    }
    let spread = f64::from(percent.min(50)) / 100.0;
    delay.mul_f64(1.0 + rng.random_range(-spread..=spread))
}

impl TargetRunner {
    fn jittered(&mut self, delay: Duration) -> Duration {
        spread(delay, self.spread_percent, &mut self.rng)
    }

    async fn run(mut self) {
        // The first check of each target falls at a random point of its first interval,
        // so thousands of targets added together do not all fire at once.
        let inter = match self.role {
            Role::Health => self.state.lock().machine.timing().inter,
            Role::Agent { inter } => inter,
        };
        let mut due = Instant::now() + inter.mul_f64(self.rng.random_range(0.0..1.0));
        let wake = self.wake.clone();
        loop {
            // Only the health runner answers wake-ups: they are about its schedule.
            let woken = async {
                match self.role {
                    Role::Health => wake.notified().await,
                    Role::Agent { .. } => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = tokio::time::sleep_until(due) => {}
                _ = woken => {
                    // Observed errors changed the schedule; wait the new, shorter delay.
                    due = Instant::now() + self.state.lock().machine.next_delay();
                    continue;
                }
            }
            let result = {
                let Ok(_permit) = self.permits.acquire().await else {
                    return;
                };
                self.check.run(self.addr, self.timeouts).await
            };
            let next = match self.role {
                Role::Health => self.record(result),
                Role::Agent { inter } => {
                    self.record_agent(result);
                    inter
                }
            };
            // Intervals run from when the check was due, so neither check duration nor a
            // late wake-up on a busy machine makes the rate drift; a check slower than
            // its interval runs back to back.
            due = (due + self.jittered(next)).max(Instant::now());
        }
    }

    fn record_agent(&mut self, result: CheckResult) {
        let Some(reply) = result.agent.clone() else {
            return;
        };
        let now = Instant::now().into_std();
        let mut st = self.state.lock();
        if let Some(percent) = reply.weight_percent {
            st.weight = Some(WeightHint::Percent(percent));
        }
        let transition = st.machine.set_agent_down(now, reply.forces_down());
        st.agent = Some(reply);
        if let Some(t) = transition {
            let _ = self.changes.send(StateChange {
                target: self.id,
                addr: self.addr,
                from: t.from,
                to: t.to,
                cause: t.cause,
                result: Some(result),
                at: t.at,
            });
        }
    }

    fn record(&mut self, result: CheckResult) -> Duration {
        let now = Instant::now().into_std();
        let mut st = self.state.lock();
        let transition = st.machine.record(now, result.passed());
        if result.weight.is_some() {
            st.weight = result.weight;
        }
        if result.agent.is_some() {
            st.agent = result.agent.clone();
        }
        if let Some(t) = transition {
            let _ = self.changes.send(StateChange {
                target: self.id,
                addr: self.addr,
                from: t.from,
                to: t.to,
                cause: t.cause,
                result: Some(result.clone()),
                at: t.at,
            });
        }
        st.last = Some(result);
        st.machine.next_delay()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_stays_within_bounds_and_replays_with_the_seed() {
        let inter = Duration::from_secs(10);
        let draw = |seed| {
            let mut rng = SmallRng::seed_from_u64(seed);
            (0..1000)
                .map(|_| spread(inter, 20, &mut rng))
                .collect::<Vec<_>>()
        };
        let a = draw(42);
        assert_eq!(a, draw(42), "same seed, same schedule");
        assert_ne!(a, draw(43));
        assert!(
            a.iter()
                .all(|d| *d >= Duration::from_secs(8) && *d <= Duration::from_secs(12))
        );
        // Both directions are used, so checks really spread out.
        assert!(a.iter().any(|d| *d < Duration::from_millis(8500)));
        assert!(a.iter().any(|d| *d > Duration::from_millis(11500)));
        let mut rng = SmallRng::seed_from_u64(1);
        assert_eq!(spread(inter, 0, &mut rng), inter);
        assert!(
            spread(inter, 200, &mut rng) <= Duration::from_secs(15),
            "capped at 50%"
        );
    }
}
