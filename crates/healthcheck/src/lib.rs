//! Health checking for hakit: active probes, a rise/fall state machine, a scheduler that
//! runs thousands of targets, and traffic-based judgement (HAProxy `observe`, Envoy
//! outlier ejection).
//!
//! # Layers
//!
//! - **Pure cores, time injected.** [`HealthMachine`] is HAProxy's rise/fall/inter/
//!   fastinter/downinter machine: feed it `(now, passed)` and it answers with state
//!   transitions and the delay before the next check. [`ErrorObserver`] and
//!   [`OutlierDetector`] judge live traffic the same way. None of them reads a clock,
//!   draws a random number or touches a socket.
//! - **Async probes.** [`Check`] is built from a [`CheckSpec`] (bad regexes, hex or a
//!   missing script fail here, not later) and run against one address; it returns a
//!   [`CheckResult`] with a HAProxy status code, a duration and a description.
//! - **The driver.** [`Monitor`] owns one small task per target. Each task loops:
//!   sleep for the machine's next delay (plus spread-checks jitter) → take a permit from
//!   the concurrency cap → run the probe → feed the result to the machine → publish a
//!   [`StateChange`] if the state flipped and refresh the target's [`TargetSnapshot`].
//!
//! # Example
//!
//! ```
//! use std::time::{Duration, Instant};
//! use healthcheck::{CheckTiming, HealthMachine, HealthState, Phase};
//!
//! let timing = CheckTiming { inter: Duration::from_secs(2), rise: 2, fall: 3, ..Default::default() };
//! let t0 = Instant::now();
//! let mut machine = HealthMachine::new(timing, HealthState::Up, t0)?;
//! assert!(machine.record(t0, false).is_none()); // one failure: still up
//! assert_eq!(machine.phase(), Phase::GoingDown);
//! machine.record(t0, false);
//! let change = machine.record(t0, false).expect("third failure brings it down");
//! assert_eq!(change.to, HealthState::Down);
//! # Ok::<(), healthcheck::Error>(())
//! ```
//!
//! Running real probes under a monitor:
//!
//! ```no_run
//! # async fn demo() -> Result<(), healthcheck::Error> {
//! use healthcheck::{CheckSpec, Monitor, MonitorConfig, TargetSpec};
//! let (monitor, mut changes) = Monitor::new(MonitorConfig::default());
//! let check = CheckSpec::Tcp(Default::default()).build()?;
//! let id = monitor.add(TargetSpec::new("127.0.0.1:80".parse().unwrap(), check))?;
//! while let Some(change) = changes.recv().await {
//!     println!("{:?} is now {:?}: {}", change.target, change.to, change.result.description);
//! }
//! # let _ = id; Ok(()) }
//! ```

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

pub use agent_reply::{AgentAdminState, AgentOpState, AgentReply};
pub use error::Error;
pub use machine::{CheckTiming, HealthMachine, HealthState, Phase, Transition, TransitionCause};
pub use monitor::{
    AgentTrack, Monitor, MonitorConfig, StateChange, TargetId, TargetSnapshot, TargetSpec,
};
pub use observe::{ErrorObserver, ObserveLayer, OnError, RequestOutcome};
pub use outlier::{EjectReason, OutlierConfig, OutlierDetector, OutlierEvent, SuccessRateConfig};
pub use probe::{Check, CheckSpec, Timeouts};
pub use status::{CheckResult, CheckStatus, WeightHint};
