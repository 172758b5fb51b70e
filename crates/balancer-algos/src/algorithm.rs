//! Every algorithm by name, for configuration-driven callers (`balance ...` in
//! haproxy.cfg, `-s` of ipvsadm): [`Algorithm::build`] gives a boxed [`Balancer`].

use std::time::Duration;

use crate::balancer::{Balancer, DispatchOptions, Dispatcher};
use crate::error::Error;
use crate::haproxy::first::First;
use crate::haproxy::hashing::{HashBalancer, HashType};
use crate::haproxy::leastconn::LeastConn;
use crate::haproxy::random::RandomDraws;
use crate::haproxy::smooth_rr::SmoothRoundRobin;
use crate::haproxy::weight_map::StaticRoundRobin;
use crate::hash_fn::HashSpec;
use crate::lvs::addr_hash::{DestinationHash, SourceHash};
use crate::lvs::failover::{Overflow, WeightedFailover};
use crate::lvs::least_conn::{LeastConnKind, LeastConnection};
use crate::lvs::locality::{Lblc, Lblcr};
use crate::lvs::round_robin::{RoundRobin, WeightedRoundRobin};
use crate::lvs::twos::TwoChoices;
use crate::modern::jump::JumpHash;
use crate::modern::maglev::Maglev;
use crate::modern::peak_ewma::PeakEwma;
use crate::modern::rendezvous::Rendezvous;
use crate::request::HashKey;
use crate::server::ServerConfig;

/// A balancing algorithm and its parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Algorithm {
    /// HAProxy `roundrobin` (smooth weighted).
    RoundRobin,
    /// HAProxy `static-rr`.
    StaticRoundRobin,
    /// HAProxy `leastconn`.
    LeastConn,
    /// HAProxy `first`.
    First,
    /// HAProxy `source`, `uri`, `url_param`, `hdr`, `rdp-cookie`, `hash`.
    Hash {
        /// What to hash.
        key: HashKey,
        /// Hash function and avalanche.
        spec: HashSpec,
        /// Map-based or consistent (with optional balance factor).
        kind: HashType,
    },
    /// HAProxy `random(draws)`.
    Random {
        /// Number of draws (2 = power of two choices).
        draws: u32,
    },
    /// LVS `rr`.
    LvsRr,
    /// LVS `wrr`.
    LvsWrr,
    /// LVS `lc`, `wlc`, `sed`, `nq`.
    LvsLeastConn(LeastConnKind),
    /// LVS `fo`.
    LvsFo,
    /// LVS `ovf`.
    LvsOvf,
    /// LVS `lblc`.
    LvsLblc,
    /// LVS `lblcr`.
    LvsLblcr,
    /// LVS `dh`.
    LvsDh,
    /// LVS `sh` with its `sh-fallback` and `sh-port` flags.
    LvsSh {
        /// Probe further buckets when the hashed server is unavailable.
        fallback: bool,
        /// Include the source port.
        port: bool,
    },
    /// LVS `mh` (Maglev, 4093 slots).
    LvsMh,
    /// LVS `twos`.
    LvsTwos,
    /// Weighted Maglev with a prime table size.
    Maglev {
        /// Table size (e.g. 65537).
        table_size: u32,
    },
    /// Jump consistent hash.
    Jump,
    /// Rendezvous (HRW) hashing.
    Rendezvous,
    /// Peak-EWMA power of two choices.
    PeakEwma {
        /// EWMA time constant.
        decay: Duration,
        /// Cost assumed for servers not yet measured.
        default_rtt: Duration,
    },
}

fn boxed<P: crate::balancer::Policy + Send + 'static>(
    servers: Vec<ServerConfig>,
    policy: P,
    options: DispatchOptions,
) -> Result<Box<dyn Balancer + Send>, Error> {
    Ok(Box::new(Dispatcher::with_options(
        servers, policy, options,
    )?))
}

impl Algorithm {
    /// Builds the balancer over `servers`.
    pub fn build(
        self,
        servers: Vec<ServerConfig>,
        options: DispatchOptions,
    ) -> Result<Box<dyn Balancer + Send>, Error> {
        match self {
            Algorithm::RoundRobin => boxed(servers, SmoothRoundRobin::new(), options),
            Algorithm::StaticRoundRobin => boxed(servers, StaticRoundRobin::new(), options),
            Algorithm::LeastConn => boxed(servers, LeastConn::new(), options),
            Algorithm::First => boxed(servers, First::new(), options),
            Algorithm::Hash { key, spec, kind } => {
                boxed(servers, HashBalancer::new(key, spec, kind)?, options)
            }
            Algorithm::Random { draws } => boxed(servers, RandomDraws::new(draws)?, options),
            Algorithm::LvsRr => boxed(servers, RoundRobin::new(), options),
            Algorithm::LvsWrr => boxed(servers, WeightedRoundRobin::new(), options),
            Algorithm::LvsLeastConn(kind) => boxed(servers, LeastConnection::new(kind), options),
            Algorithm::LvsFo => boxed(servers, WeightedFailover, options),
            Algorithm::LvsOvf => boxed(servers, Overflow, options),
            Algorithm::LvsLblc => boxed(servers, Lblc::new(), options),
            Algorithm::LvsLblcr => boxed(servers, Lblcr::new(), options),
            Algorithm::LvsDh => boxed(servers, DestinationHash::new(), options),
            Algorithm::LvsSh { fallback, port } => {
                boxed(servers, SourceHash::new(fallback, port), options)
            }
            Algorithm::LvsMh => boxed(servers, Maglev::lvs(), options),
            Algorithm::LvsTwos => boxed(servers, TwoChoices::new(), options),
            Algorithm::Maglev { table_size } => boxed(servers, Maglev::new(table_size)?, options),
            Algorithm::Jump => boxed(servers, JumpHash::new(), options),
            Algorithm::Rendezvous => boxed(servers, Rendezvous::new(), options),
            Algorithm::PeakEwma { decay, default_rtt } => {
                boxed(servers, PeakEwma::new(decay, default_rtt)?, options)
            }
        }
    }
}
