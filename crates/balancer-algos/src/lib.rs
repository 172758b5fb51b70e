//! Every load-balancing algorithm of HAProxy and LVS, and the ones they lack; pure,
//! synchronous and deterministic.
//!
//! `balancer-algos` decides *which server* gets a request. It does no I/O and reads no
//! clock: time arrives as a `Duration` since the caller's epoch, randomness from a
//! seeded generator the balancer owns. Both the L7 proxy and the L4 director use it.
//!
//! - [`server`] and [`pool`]: the server model (weight 0..=65535, up / drain / down /
//!   maintenance, backups, maxconn, slow start) and its run-time state.
//! - [`balancer`]: the narrow [`Balancer`] trait (pick, connection accounting, run-time
//!   changes), the [`Policy`] trait algorithms implement, and [`Dispatcher`] joining them.
//! - [`haproxy`]: roundrobin, static-rr, leastconn, first, source/uri/url_param/hdr/
//!   rdp-cookie/hash (map-based or consistent, bounded loads), random(N).
//! - [`lvs`]: rr, wrr, lc, wlc, sed, nq, fo, ovf, lblc, lblcr, dh, sh, twos (mh is
//!   [`modern::maglev`]).
//! - [`modern`]: weighted Maglev, jump consistent hash, rendezvous, peak-EWMA P2C.
//! - [`persistence`]: stick tables with HAProxy's counters, cookie persistence.
//! - [`algorithm`]: every algorithm by name, for configuration-driven callers.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use balancer_algos::{Algorithm, Balancer, DispatchOptions, Request, ServerConfig,
//!                      ServerId, ServerState};
//!
//! let servers = vec![
//!     ServerConfig::new(1, 5),
//!     ServerConfig::new(2, 1),
//!     ServerConfig::new(3, 1),
//!     ServerConfig::new(9, 1).backup(),
//! ];
//! let mut lb = Algorithm::RoundRobin.build(servers, DispatchOptions::default())?;
//! let req = Request::default();
//! let picks: Vec<u32> = (0..7).map(|_| lb.pick(&req).unwrap().0).collect();
//! assert_eq!(picks, [1, 1, 2, 1, 3, 1, 1]); // smooth: the heavy server is spread out
//!
//! // Health checks take every active server down: the backup serves.
//! let now = Duration::from_secs(10);
//! for id in 1..=3 {
//!     lb.set_state(ServerId(id), ServerState::Down, now)?;
//! }
//! assert_eq!(lb.pick(&req), Some(ServerId(9)));
//! lb.set_state(ServerId(9), ServerState::Maintenance, now)?;
//! assert_eq!(lb.pick(&req), None); // the caller answers 503
//! # Ok::<(), balancer_algos::Error>(())
//! ```
//!
//! # The driver loop
//!
//! A proxy drives a balancer like this; nothing here blocks or allocates per pick:
//!
//! 1. On a new request: `pick(&request)`. `None` means answer 503, queue, or drop.
//! 2. When the connection to the server opens: `connection_started(id)`; when it
//!    closes: `connection_ended(id)`. Least-connection algorithms re-key the server then.
//!    Latency-aware ones also want `observe_response_time(id, elapsed, now)`.
//! 3. When a health check or the admin changes a server: `set_state` / `set_weight`.
//!    Tables (maps, rings, Maglev) are rebuilt there, off the hot path.
//! 4. From a timer (every 100 ms to 1 s): `advance(now)`, which moves slow-start ramps
//!    along and ages locality tables.
//!
//! Lock-free readers that only need a hash lookup can skip the dispatcher: build a
//! [`haproxy::ring::ConsistentRing`] or [`modern::maglev::MaglevTable`] (immutable,
//! `Send + Sync`), publish it behind an `ArcSwap`, and rebuild-and-swap on change.

//!
//! # Where behaviour differs from HAProxy and IPVS
//!
//! - `random(N)` draws from an alias table (same weighted distribution, O(1) per draw)
//!   rather than from the consistent-hash ring.
//! - `roundrobin` is nginx's smooth weighted round robin over a precomputed cycle, not
//!   HAProxy's fwrr trees; when `cycle x servers` exceeds 2^25 it steps online in
//!   O(servers) per pick.
//! - Weights go to 65535 (HAProxy: 256). Ring points past weight 256 use a mixed key, as
//!   HAProxy's `id x 4096 + n` would collide with the next server's points.
//! - The consistent ring's lookups binary-search an array frozen from the ebtree after
//!   each change (the tree is what weight changes update, in place).
//! - LVS `mh` is this crate's weighted Maglev (4093 slots) keyed on [`Request::key`] or
//!   the source address, not the kernel's SipHash permutations (so not the same table).
//! - IPVS has no backups, drain or slow start; its schedulers get them from the pool
//!   like every algorithm. `ovf` and `lblc`/`lblcr` compare connections to the
//!   configured weight, so slow start does not ramp them.
//! - Hash-based algorithms (and Maglev, jump, rendezvous) return the hashed server even
//!   when it is at maxconn, keeping affinity (HAProxy queues on that server); the
//!   caller decides whether to queue. `url_param ... check_post` is not supported.

pub mod algorithm;
pub mod balancer;
pub mod error;
pub mod haproxy;
pub mod hash_fn;
pub mod lvs;
pub mod modern;
pub mod persistence;
pub mod pool;
pub mod request;
pub mod server;

pub use algorithm::Algorithm;
pub use balancer::{Balancer, DispatchOptions, Dispatcher, Policy};
pub use error::Error;
pub use hash_fn::{HashFunction, HashSpec};
pub use pool::{ServerPool, ServerSlot};
pub use request::{HashKey, Request, UriOptions};
pub use server::{ServerConfig, ServerId, ServerState};
