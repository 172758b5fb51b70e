//! Deterministic simulation of a Raft cluster, and the checkers that judge it.
//!
//! One seed fixes everything: cluster shape, fault rates, message delays, crashes, client
//! operations. A run checks Raft's safety properties after every event ([`safety`]) and the
//! client history for linearizability at the end ([`linearizability`]). A failing seed
//! prints the command that replays it.
//!
//! ```
//! let report = raft_kv::sim::run_seed(1).expect("seed 1 is safe");
//! assert!(report.completed_ops > 0);
//! ```

pub mod cluster;
pub mod linearizability;
pub mod rng;
pub mod safety;

pub use cluster::{SimFailure, SimFailureKind, SimOptions, SimReport, Simulation, run_seed};
