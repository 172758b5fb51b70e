//! Health checking for hakit: active probes, a rise/fall state machine, a scheduler that
//! runs thousands of targets, and traffic-based judgement (HAProxy `observe`, Envoy
//! outlier ejection).
//!
//! # Layers
//!
//! - **Pure cores, time injected.** [`HealthMachine`] is HAProxy's rise/fall/inter/
//!   fastinter/downinter machine: feed it `(now, passed)` and it answers with state
//!   transitions and the delay before the next check. [`ErrorObserver`] and
//!   [`OutlierDetector`] judge live traffic the same way. None of them reads a clock or
//!   touches a socket; the detector's enforcing percentages draw from a generator seeded
//!   by its configuration, so a run replays exactly.
//! - **Async probes.** [`Check`] is built from a [`CheckSpec`] (bad regexes, hex or a
//!   missing script fail here, not later) and run against one address; it returns a
//!   [`CheckResult`] with a HAProxy status code, a duration and a description.
//! - **The driver.** [`Monitor`] runs every check of every target (two per target with
//!   an [`AgentTrack`]) from one scheduling task and one queue ordered by due time:
//!   sleep until the first check is due (the machine's delay from the last check's
//!   start, plus spread-checks jitter; sooner when observed traffic errors ask for
//!   `fastinter`) → start every due check while under the cap on checks in flight,
//!   polling it once in place (a connect check on a fast network ends there) and
//!   moving it to a task of its own only if it must wait → feed the result to the
//!   machine → publish a [`StateChange`] if the state flipped and refresh the target's
//!   [`TargetSnapshot`]. 10,000 targets cost about 16 MB.
//!
//! # Example: the pure machine
//!
//! ```
//! use std::time::{Duration, Instant};
//! use healthcheck::{CheckTiming, HealthMachine, HealthState, InitialState, Phase};
//!
//! let timing = CheckTiming { inter: Duration::from_secs(2), rise: 2, fall: 3, ..Default::default() };
//! let t0 = Instant::now();
//! let mut machine = HealthMachine::new(timing, InitialState::FullyUp, t0)?;
//! assert!(machine.record(t0, false).is_none()); // one failure: still up
//! assert_eq!(machine.phase(), Phase::GoingDown);
//! assert_eq!(machine.next_delay(), Duration::from_secs(2)); // fastinter defaults to inter
//! machine.record(t0, false);
//! let change = machine.record(t0, false).expect("third failure brings it down");
//! assert_eq!(change.to, HealthState::Down);
//! # Ok::<(), healthcheck::Error>(())
//! ```
//!
//! # Example: a monitor running real probes
//!
//! ```
//! use std::time::Duration;
//! use healthcheck::{CheckSpec, CheckStatus, HealthState, Monitor, MonitorConfig, TargetSpec};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A port where nothing listens: the target is up at first, then falls.
//! let closed = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
//! let (monitor, mut changes) = Monitor::new(MonitorConfig::default());
//! let mut target = TargetSpec::new(closed, CheckSpec::Tcp(Default::default()).build()?);
//! target.timing.inter = Duration::from_millis(20);
//! target.timing.fall = 1;
//! let id = monitor.add(target)?;
//!
//! let change = tokio::time::timeout(Duration::from_secs(5), changes.recv()).await?.expect("open");
//! assert_eq!((change.target, change.to), (id, HealthState::Down));
//! assert_eq!(change.result.map(|r| r.status), Some(CheckStatus::L4Con));
//! assert_eq!(monitor.snapshot(id).expect("exists").failures, 1);
//! # Ok(()) }
//! ```
//!
//! # Map
//!
//! `machine` (rise/fall), `observe` (HAProxy observe/on-error), `outlier` (Envoy
//! ejection), `status` (codes and results), `agent_reply`, `dns_wire`, `icmp_wire`,
//! `tcp_wire`, `http_response` (pure codecs), `probe/*` (one file per kind of check), `monitor`
//! (the driver), `error`.

mod agent_reply;
pub mod dns_wire;
mod error;
pub mod http_response;
pub mod icmp_wire;
mod machine;
mod monitor;
mod observe;
mod outlier;
pub mod probe;
mod status;
pub mod tcp_wire;
mod wheel;

pub use agent_reply::{AgentAdminState, AgentOpState, AgentReply};
pub use error::Error;
pub use machine::{
    CheckTiming, HealthMachine, HealthState, InitialState, Phase, Transition, TransitionCause,
};
pub use monitor::{
    AgentTrack, Monitor, MonitorConfig, MonitorTotals, StateChange, TargetId, TargetSnapshot,
    TargetSpec,
};
pub use observe::{ErrorObserver, ObserveLayer, OnError, RequestOutcome};
pub use outlier::{
    EjectReason, EjectionCounts, FailurePercentageConfig, OutlierConfig, OutlierDetector,
    OutlierEvent, OutlierStats, SuccessRateConfig,
};
pub use probe::{Check, CheckSpec, Timeouts};
pub use status::{CheckResult, CheckStatus, WeightHint};
