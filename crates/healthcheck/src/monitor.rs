//! The driver: one monitor runs many targets from one scheduling task.
//!
//! Every pending check sits in one queue ordered by due time. The driver task sleeps
//! until the first is due (rounded up by the timer slack, so that one wake-up serves
//! the checks due within a few milliseconds of each other), then starts every due
//! check, a batch at a time and up to the cap on checks in flight: it polls the probe
//! once in place, and a connect check against a fast
//! network usually finishes right there, with no task, timer or wake-up of its own
//! (the way HAProxy runs checks from its scheduler). A probe that has to wait is moved,
//! already started, to a task of its own, which hands its result back to the driver.
//! The driver feeds each result to the target's [`HealthMachine`], publishes a
//! [`StateChange`] if the state flipped, and queues the next check after the machine's
//! delay (with spread-checks jitter, or sooner if observed traffic errors asked for a
//! quick recheck). Everything a stats page needs is kept per target and read with
//! [`Monitor::snapshot`].
//!
//! Randomness (jitter) comes from a seeded generator per check, so a run with the
//! same seed spreads checks the same way.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use parking_lot::Mutex;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::sync::mpsc;
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
use crate::wheel::Wheel;

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
    /// How late a check may start so that it shares a wake-up with its neighbours
    /// (Linux's timer slack). The driver sleeps until the first due check rounded up
    /// to a multiple of this, then starts everything due: with 10,000 targets a
    /// slack of 8 ms means 125 wake-ups a second instead of 1,000, each starting a
    /// batch of checks. Intervals are counted from the due time, not from the late
    /// start, so the slack never makes the schedule drift. Zero or anything below a
    /// millisecond means no slack.
    pub timer_slack: Duration,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        Self {
            max_concurrent_checks: 1024,
            spread_checks_percent: 5,
            seed: 0x0068_616b_6974,
            timer_slack: Duration::from_millis(8),
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

impl StateChange {
    fn of(target: TargetId, addr: SocketAddr, t: Transition, result: Option<CheckResult>) -> Self {
        Self {
            target,
            addr,
            from: t.from,
            to: t.to,
            cause: t.cause,
            result,
            at: t.at,
        }
    }
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
    pub last_description: Option<Cow<'static, str>>,
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
}

/// Runs checks for many targets and reports their state.
pub struct Monitor {
    config: MonitorConfig,
    changes: mpsc::UnboundedSender<StateChange>,
    targets: Mutex<HashMap<TargetId, TargetEntry>>,
    next_id: AtomicU64,
    /// The scheduling task and its command channel, started by the first `add`.
    driver: Mutex<Option<(JoinHandle<()>, mpsc::UnboundedSender<Command>)>>,
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
    /// A monitor and the receiving end of its state-change stream. Targets run on the
    /// tokio runtime that is current when the first [`Monitor::add`] is called.
    pub fn new(config: MonitorConfig) -> (Self, mpsc::UnboundedReceiver<StateChange>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let monitor = Self {
            config: MonitorConfig {
                max_concurrent_checks: config.max_concurrent_checks.max(1),
                spread_checks_percent: config.spread_checks_percent.min(50),
                ..config
            },
            changes: tx,
            targets: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            driver: Mutex::new(None),
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
        let runner = |role: Role, check: Check, timeouts: Timeouts, first: Duration, salt: u64| {
            let mut rng = SmallRng::seed_from_u64(
                self.config.seed ^ id.0.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ salt,
            );
            // The first check falls at a random point of the first interval, so that
            // thousands of targets added together do not all fire at once.
            let due = now + first.mul_f64(rng.random_range(0.0..1.0));
            let runner = Runner {
                addr: spec.addr,
                role,
                check: Arc::new(check),
                timeouts,
                state: state.clone(),
                rng,
                due,
            };
            (runner, due)
        };
        let mut jobs = vec![(
            false,
            runner(
                Role::Health,
                spec.check,
                spec.timeouts,
                spec.timing.inter,
                0,
            ),
        )];
        if let Some(agent) = spec.agent {
            let role = Role::Agent { inter: agent.inter };
            jobs.push((
                true,
                runner(role, agent.check, agent.timeouts, agent.inter, 0xa9e7),
            ));
        }
        self.targets.lock().insert(
            id,
            TargetEntry {
                addr: spec.addr,
                state,
            },
        );
        for (agent, (runner, due)) in jobs {
            let runner = Box::new(runner);
            self.command(
                &runtime,
                Command::Add {
                    target: id,
                    agent,
                    runner,
                    due,
                },
            );
        }
        Ok(id)
    }

    /// Sends a command to the driver, starting it first if needed.
    fn command(&self, runtime: &tokio::runtime::Handle, command: Command) {
        let mut driver = self.driver.lock();
        let alive = driver
            .as_ref()
            .is_some_and(|(task, tx)| !task.is_finished() && !tx.is_closed());
        if !alive {
            let (tx, rx) = mpsc::unbounded_channel();
            let d = Driver::new(&self.config, self.changes.clone());
            *driver = Some((runtime.spawn(d.run(rx)), tx));
        }
        if let Some((_, tx)) = driver.as_ref() {
            let _ = tx.send(command);
        }
    }

    /// Sends a command to a running driver (none runs before the first target).
    fn tell(&self, command: Command) {
        if let Some((_, tx)) = self.driver.lock().as_ref() {
            let _ = tx.send(command);
        }
    }

    /// Stop monitoring a target. A check in flight is cancelled (a script's process
    /// group is killed). Returns whether the target existed.
    pub fn remove(&self, id: TargetId) -> bool {
        let existed = self.targets.lock().remove(&id).is_some();
        if existed {
            self.tell(Command::Remove(id));
        }
        existed
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
        let (transition, addr) = {
            let targets = self.targets.lock();
            let entry = targets.get(&id)?;
            let mut st = entry.state.lock();
            let action = st.observer.as_mut()?.report(outcome)?;
            let now = Instant::now().into_std();
            (st.machine.apply_on_error(now, action), entry.addr)
        };
        self.tell(Command::Wake(id));
        if let Some(t) = transition {
            let _ = self.changes.send(StateChange::of(id, addr, t, None));
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

    /// Totals over every target, without copying any per-target figures: what a
    /// summary line or a metrics scrape needs.
    pub fn totals(&self) -> MonitorTotals {
        let targets = self.targets.lock();
        let mut totals = MonitorTotals {
            targets: targets.len(),
            ..MonitorTotals::default()
        };
        for entry in targets.values() {
            let st = entry.state.lock();
            totals.checks += st.machine.checks();
            totals.failures += st.machine.failures();
            if st.machine.state() == HealthState::Down {
                totals.down += 1;
            }
        }
        totals
    }
}

/// Figures summed over a monitor's targets ([`Monitor::totals`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MonitorTotals {
    /// Targets monitored.
    pub targets: usize,
    /// Targets down.
    pub down: usize,
    /// Checks run, over all targets.
    pub checks: u64,
    /// Checks failed, over all targets.
    pub failures: u64,
}

impl Drop for Monitor {
    fn drop(&mut self) {
        // Aborting the driver drops its in-flight set, which aborts every check task.
        if let Some((task, _)) = self.driver.get_mut().take() {
            task.abort();
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

/// What a check does for its target.
#[derive(Debug, Clone, Copy)]
enum Role {
    /// Runs the health check and drives the rise/fall machine.
    Health,
    /// Runs the agent check every `inter`.
    Agent { inter: Duration },
}

/// What the monitor asks of its driver.
enum Command {
    /// Run this check of the target (its health check, or its agent check when
    /// `agent`), first at `due`.
    Add {
        target: TargetId,
        agent: bool,
        runner: Box<Runner>,
        due: Instant,
    },
    /// Forget every check of this target, cancelling any in flight.
    Remove(TargetId),
    /// Observed errors changed the target's schedule: recheck after the new delay.
    Wake(TargetId),
}

/// Everything the driver needs to run one check and record its results.
struct Runner {
    addr: SocketAddr,
    role: Role,
    check: Arc<Check>,
    timeouts: Timeouts,
    state: Arc<Mutex<TargetState>>,
    rng: SmallRng,
    /// When the check was (or is next) due; intervals count from here.
    due: Instant,
}

type CheckFuture = Pin<Box<dyn Future<Output = CheckResult> + Send>>;

/// Most checks the driver starts before it looks at its channels again.
const START_BATCH: usize = 256;

/// The tick to wake at for a check due at `due`: rounded up to a multiple of `slack`
/// ticks, so that checks due close together start in one wake-up, and never early.
fn wake_tick(due: u64, slack: u64) -> u64 {
    due.div_ceil(slack).saturating_mul(slack)
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

/// One check the driver runs, in its slot of the driver's table.
struct Job {
    target: TargetId,
    runner: Runner,
    /// Stamp of the wheel entry that is live for this job; 0 when none is (the check
    /// is running, or the job is being removed).
    queued: u64,
    /// Stamp of the run in flight in a task of its own, and that task.
    running: Option<(u64, JoinHandle<()>)>,
}

/// The driver's table of jobs: slots indexed by small integers, reused after removal,
/// so that the hot path finds a job without hashing.
#[derive(Default)]
struct Jobs {
    slots: Vec<Option<Job>>,
    free: Vec<u32>,
}

impl Jobs {
    fn insert(&mut self, job: Job) -> u32 {
        match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = Some(job);
                i
            }
            None => {
                self.slots.push(Some(job));
                (self.slots.len() - 1) as u32
            }
        }
    }

    fn get_mut(&mut self, i: u32) -> Option<&mut Job> {
        self.slots.get_mut(i as usize).and_then(Option::as_mut)
    }

    fn remove(&mut self, i: u32) -> Option<Job> {
        let job = self.slots.get_mut(i as usize)?.take()?;
        self.free.push(i);
        Some(job)
    }
}

impl Drop for Jobs {
    /// Dropping the driver (the monitor was dropped) aborts every check task.
    fn drop(&mut self) {
        for job in self.slots.iter().flatten() {
            if let Some((_, task)) = &job.running {
                task.abort();
            }
        }
    }
}

/// The scheduling task's state. Only the driver task touches it.
struct Driver {
    cap: usize,
    spread_percent: u8,
    /// [`MonitorConfig::timer_slack`] in ticks (at least 1).
    slack_ticks: u64,
    changes: mpsc::UnboundedSender<StateChange>,
    jobs: Jobs,
    /// The slots of each target's health and agent checks.
    by_target: HashMap<TargetId, [Option<u32>; 2]>,
    /// Pending checks, on millisecond ticks counted from `epoch`.
    wheel: Wheel,
    epoch: Instant,
    /// Due checks not started yet because the cap was reached, oldest first.
    ready: VecDeque<(u32, u64)>,
    stamp: u64,
    in_flight: usize,
    done_tx: mpsc::UnboundedSender<(u32, u64, CheckResult)>,
    done_rx: mpsc::UnboundedReceiver<(u32, u64, CheckResult)>,
}

impl Driver {
    fn new(config: &MonitorConfig, changes: mpsc::UnboundedSender<StateChange>) -> Self {
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        Driver {
            cap: config.max_concurrent_checks,
            spread_percent: config.spread_checks_percent,
            slack_ticks: u64::try_from(config.timer_slack.as_millis())
                .unwrap_or(u64::MAX)
                .max(1),
            changes,
            jobs: Jobs::default(),
            by_target: HashMap::new(),
            wheel: Wheel::new(),
            epoch: Instant::now(),
            ready: VecDeque::new(),
            stamp: 0,
            in_flight: 0,
            done_tx,
            done_rx,
        }
    }

    /// The tick at which something due at `at` is started: rounded up, never early.
    fn tick_of(&self, at: Instant) -> u64 {
        let ns = at.saturating_duration_since(self.epoch).as_nanos();
        u64::try_from(ns.div_ceil(1_000_000)).unwrap_or(u64::MAX)
    }

    fn instant_of(&self, tick: u64) -> Instant {
        self.epoch + Duration::from_millis(tick)
    }

    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        let sleep = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(sleep);
        let mut armed: Option<Instant> = None;
        loop {
            self.start_due(Instant::now());
            let next = if self.in_flight >= self.cap {
                None // at the cap: a finishing check wakes us
            } else if !self.ready.is_empty() {
                Some(self.instant_of(0)) // a batch is left: go on at once
            } else {
                self.wheel
                    .next_tick()
                    .map(|t| self.instant_of(wake_tick(t, self.slack_ticks)))
            };
            if let Some(at) = next
                && armed != Some(at)
            {
                sleep.as_mut().reset(at);
                armed = Some(at);
            }
            tokio::select! {
                biased;
                command = commands.recv() => match command {
                    Some(c) => self.obey(c),
                    None => return, // the monitor is gone
                },
                Some((slot, stamp, result)) = self.done_rx.recv() => {
                    self.finished(slot, stamp, result);
                }
                () = &mut sleep, if next.is_some() => {
                    armed = None;
                }
            }
            // Take whatever else is waiting before looking at the clock again.
            while let Ok(c) = commands.try_recv() {
                self.obey(c);
            }
            while let Ok((slot, stamp, result)) = self.done_rx.try_recv() {
                self.finished(slot, stamp, result);
            }
        }
    }

    fn obey(&mut self, command: Command) {
        match command {
            Command::Add {
                target,
                agent,
                runner,
                due,
            } => {
                let slot = self.jobs.insert(Job {
                    target,
                    runner: *runner,
                    queued: 0,
                    running: None,
                });
                self.by_target.entry(target).or_default()[usize::from(agent)] = Some(slot);
                self.enqueue(slot, due);
            }
            Command::Remove(target) => {
                for slot in self
                    .by_target
                    .remove(&target)
                    .into_iter()
                    .flatten()
                    .flatten()
                {
                    if let Some(Job {
                        running: Some((_, task)),
                        ..
                    }) = self.jobs.remove(slot)
                    {
                        task.abort();
                        self.in_flight -= 1;
                    }
                }
            }
            Command::Wake(target) => {
                let Some(&[Some(slot), _]) = self.by_target.get(&target) else {
                    return;
                };
                let Some(job) = self.jobs.get_mut(slot) else {
                    return;
                };
                // A check in flight reschedules itself when it finishes.
                if job.queued == 0 {
                    return;
                }
                let r = &mut job.runner;
                r.due = Instant::now() + r.state.lock().machine.next_delay();
                let due = r.due;
                self.enqueue(slot, due);
            }
        }
    }

    fn enqueue(&mut self, slot: u32, due: Instant) {
        let tick = self.tick_of(due);
        self.stamp += 1;
        if let Some(job) = self.jobs.get_mut(slot) {
            job.queued = self.stamp;
            self.wheel.insert(tick, slot, self.stamp);
        }
    }

    /// Starts every check due at `now`, while the cap allows.
    fn start_due(&mut self, now: Instant) {
        // A tick is due once it has begun (`tick_of` rounds due times up).
        let since = now.saturating_duration_since(self.epoch).as_millis();
        let now_tick = u64::try_from(since).unwrap_or(u64::MAX);
        if self.ready.is_empty() {
            self.wheel.collect_due(now_tick, &mut self.ready);
        }
        // At most a batch per call: thousands of checks due at once would otherwise
        // hold the runtime for as long as their system calls take; the rest start after
        // the driver has looked at its channels again.
        for _ in 0..START_BATCH {
            if self.in_flight >= self.cap {
                return;
            }
            let Some((slot, stamp)) = self.ready.pop_front() else {
                return;
            };
            let Some(job) = self.jobs.get_mut(slot) else {
                continue; // removed
            };
            if job.queued != stamp {
                continue; // rescheduled since
            }
            job.queued = 0;
            let r = &job.runner;
            let (check, addr, timeouts) = (r.check.clone(), r.addr, r.timeouts);
            let mut probe: CheckFuture = Box::pin(async move { check.run(addr, timeouts).await });
            // One poll in place: most connect checks on a fast network end here.
            let mut cx = Context::from_waker(Waker::noop());
            match probe.as_mut().poll(&mut cx) {
                Poll::Ready(result) => self.record(slot, result),
                Poll::Pending => {
                    let done = self.done_tx.clone();
                    let task = tokio::spawn(async move {
                        let result = probe.await;
                        let _ = done.send((slot, stamp, result));
                    });
                    job.running = Some((stamp, task));
                    self.in_flight += 1;
                }
            }
        }
    }

    /// A check task finished: record its result unless its job is gone (removed, and
    /// perhaps the slot reused by another job).
    fn finished(&mut self, slot: u32, stamp: u64, result: CheckResult) {
        let Some(job) = self.jobs.get_mut(slot) else {
            return;
        };
        if !matches!(job.running, Some((s, _)) if s == stamp) {
            return;
        }
        job.running = None;
        self.in_flight -= 1;
        self.record(slot, result);
    }

    /// Feeds a finished check to its target and queues the next one.
    fn record(&mut self, slot: u32, result: CheckResult) {
        let Some(job) = self.jobs.get_mut(slot) else {
            return;
        };
        let r = &mut job.runner;
        let next = match r.role {
            Role::Health => record_health(job.target, r, result, &self.changes),
            Role::Agent { inter } => {
                record_agent(job.target, r, result, &self.changes);
                inter
            }
        };
        // Intervals run from when the check was due, so neither check duration nor a
        // late wake-up on a busy machine makes the rate drift; a check slower than its
        // interval runs back to back.
        let jittered = spread(next, self.spread_percent, &mut r.rng);
        r.due = (r.due + jittered).max(Instant::now());
        let due = r.due;
        self.enqueue(slot, due);
    }
}

fn record_agent(
    id: TargetId,
    r: &Runner,
    result: CheckResult,
    changes: &mpsc::UnboundedSender<StateChange>,
) {
    let Some(reply) = result.agent.clone() else {
        return;
    };
    let now = Instant::now().into_std();
    let mut st = r.state.lock();
    if let Some(percent) = reply.weight_percent {
        st.weight = Some(WeightHint::Percent(percent));
    }
    let transition = st.machine.set_agent_down(now, reply.forces_down());
    st.agent = Some(reply);
    if let Some(t) = transition {
        let _ = changes.send(StateChange::of(id, r.addr, t, Some(result)));
    }
}

/// Records a health check result; returns the delay before the next check.
fn record_health(
    id: TargetId,
    r: &Runner,
    result: CheckResult,
    changes: &mpsc::UnboundedSender<StateChange>,
) -> Duration {
    let now = Instant::now().into_std();
    let mut st = r.state.lock();
    let transition = st.machine.record(now, result.passed());
    if result.weight.is_some() {
        st.weight = result.weight;
    }
    if result.agent.is_some() {
        st.agent = result.agent.clone();
    }
    if let Some(t) = transition {
        let _ = changes.send(StateChange::of(id, r.addr, t, Some(result.clone())));
    }
    st.last = Some(result);
    st.machine.next_delay()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wake_ups_round_up_to_the_slack_and_are_never_early() {
        assert_eq!(wake_tick(0, 8), 0);
        assert_eq!(wake_tick(1, 8), 8);
        assert_eq!(wake_tick(8, 8), 8);
        assert_eq!(wake_tick(9, 8), 16);
        assert_eq!(wake_tick(9, 1), 9, "no slack: the due tick itself");
        assert_eq!(
            wake_tick(u64::MAX - 1, 8),
            u64::MAX,
            "saturates, never early"
        );
        for due in 0..100 {
            let at = wake_tick(due, 5);
            assert!(at >= due && at < due + 5 && at % 5 == 0, "{due} -> {at}");
        }
    }

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
