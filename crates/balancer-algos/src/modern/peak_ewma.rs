//! Latency-aware power of two choices on a peak-EWMA of response times (Finagle's and
//! Linkerd's balancer). Each server's cost is an exponentially weighted moving average
//! of its response times that jumps straight up to any slower sample (the "peak") and
//! decays with time constant `decay`; the load is `cost x (in-flight + 1)`. Two distinct
//! servers are drawn uniformly and the lower load wins.

use std::time::Duration;

use rand::RngCore;

use crate::balancer::{Policy, below};
use crate::error::Error;
use crate::pool::ServerPool;
use crate::request::Request;

#[derive(Clone, Copy, Debug)]
struct Ewma {
    cost_ns: f64,
    stamp: Duration,
}

/// Peak-EWMA power of two choices.
#[derive(Clone, Debug)]
pub struct PeakEwma {
    decay_ns: f64,
    default_ns: f64,
    stats: Vec<Ewma>,
    members: Vec<usize>,
}

impl PeakEwma {
    /// `decay` is the EWMA time constant (Finagle uses 10 s); `default_rtt` the cost of a
    /// server never measured.
    pub fn new(decay: Duration, default_rtt: Duration) -> Result<Self, Error> {
        if decay.is_zero() {
            return Err(Error::InvalidParameter {
                name: "decay",
                reason: "must be positive",
            });
        }
        Ok(PeakEwma {
            decay_ns: decay.as_nanos() as f64,
            default_ns: default_rtt.as_nanos() as f64,
            stats: Vec::new(),
            members: Vec::new(),
        })
    }

    /// Current cost estimate of pool index `index` at `now`, in nanoseconds.
    pub fn cost(&self, index: usize, now: Duration) -> f64 {
        let Some(e) = self.stats.get(index) else {
            return self.default_ns;
        };
        let elapsed = now.saturating_sub(e.stamp).as_nanos() as f64;
        e.cost_ns * (-elapsed / self.decay_ns).exp()
    }

    fn load(&self, pool: &ServerPool, index: usize, now: Duration) -> f64 {
        self.cost(index, now) * (f64::from(pool.slot(index).active()) + 1.0)
    }
}

impl Policy for PeakEwma {
    fn rebuild(&mut self, pool: &ServerPool) -> Result<(), Error> {
        let default = Ewma {
            cost_ns: self.default_ns,
            stamp: Duration::ZERO,
        };
        self.stats.resize(pool.slots().len(), default);
        self.members = pool.tier().to_vec();
        Ok(())
    }

    fn choose<R: RngCore>(
        &mut self,
        pool: &ServerPool,
        request: &Request<'_>,
        rng: &mut R,
    ) -> Option<usize> {
        let n = self.members.len() as u64;
        let (a, b) = match n {
            0 => return None,
            1 => (self.members[0], self.members[0]),
            _ => {
                let a = below(rng, n);
                let mut b = below(rng, n - 1);
                if b >= a {
                    b += 1;
                }
                (self.members[a as usize], self.members[b as usize])
            }
        };
        let now = request.now;
        let (first, second) = if self.load(pool, b, now) < self.load(pool, a, now) {
            (b, a)
        } else {
            (a, b)
        };
        [first, second]
            .into_iter()
            .find(|&i| pool.slot(i).has_room())
    }

    fn observe_response_time(&mut self, index: usize, elapsed: Duration, now: Duration) {
        let decay = self.decay_ns;
        let Some(e) = self.stats.get_mut(index) else {
            return;
        };
        let rtt = elapsed.as_nanos() as f64;
        let dt = now.saturating_sub(e.stamp).as_nanos() as f64;
        let w = (-dt / decay).exp();
        e.cost_ns = if rtt > e.cost_ns {
            rtt
        } else {
            e.cost_ns * w + rtt * (1.0 - w)
        };
        e.stamp = now;
    }
}
