//! LVS `rr` and `wrr`.

use rand::RngCore;

use crate::balancer::Policy;
use crate::error::Error;
use crate::haproxy::gcd;
use crate::pool::ServerPool;
use crate::request::Request;

/// `rr`: each server in turn, skipping overloaded ones.
#[derive(Clone, Debug, Default)]
pub struct RoundRobin {
    next: usize,
}

impl RoundRobin {
    /// A new policy.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Policy for RoundRobin {
    fn rebuild(&mut self, _pool: &ServerPool) -> Result<(), Error> {
        Ok(())
    }

    fn choose<R: RngCore>(
        &mut self,
        pool: &ServerPool,
        _request: &Request<'_>,
        _rng: &mut R,
    ) -> Option<usize> {
        let tier = pool.tier();
        let n = tier.len();
        for _ in 0..n {
            let i = tier[self.next % n];
            self.next = (self.next + 1) % n;
            if !pool.slot(i).lvs_overloaded() {
                return Some(i);
            }
        }
        None
    }
}

/// `wrr`: the LVS sequence. A current weight `cw` starts at the largest weight and
/// drops by the gcd of all weights each time the list wraps; a pass hands a connection
/// to every server whose weight is at least `cw`. Weights 4,3,2 give `AABABCABC`.
#[derive(Clone, Debug, Default)]
pub struct WeightedRoundRobin {
    position: Option<usize>,
    current: u64,
    max: u64,
    step: u64,
}

impl WeightedRoundRobin {
    /// A new policy.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Policy for WeightedRoundRobin {
    fn rebuild(&mut self, pool: &ServerPool) -> Result<(), Error> {
        let weights = pool
            .tier()
            .iter()
            .map(|&i| u64::from(pool.slot(i).eweight()));
        self.max = weights.clone().max().unwrap_or(0);
        self.step = weights.fold(0, gcd).max(1);
        // IPVS restarts the sequence whenever the server list changes.
        self.position = None;
        self.current = 0;
        Ok(())
    }

    fn choose<R: RngCore>(
        &mut self,
        pool: &ServerPool,
        _request: &Request<'_>,
        _rng: &mut R,
    ) -> Option<usize> {
        let tier = pool.tier();
        let n = tier.len();
        if n == 0 || self.max == 0 {
            return None;
        }
        // Enough steps to visit every server at every level of `cw` once.
        let bound = n as u64 * (self.max / self.step + 1) + 1;
        for _ in 0..bound {
            let p = self.position.map_or(0, |p| (p + 1) % n);
            self.position = Some(p);
            if p == 0 {
                self.current = self.current.saturating_sub(self.step);
                if self.current == 0 {
                    self.current = self.max;
                }
            }
            let s = pool.slot(tier[p]);
            if !s.lvs_overloaded() && u64::from(s.eweight()) >= self.current {
                return Some(tier[p]);
            }
        }
        None
    }
}
