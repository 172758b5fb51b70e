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
/// Overloaded servers are skipped; a pick costs at most a few passes over the servers.
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
        let eligible = |i: usize| !pool.slot(i).lvs_overloaded();
        // Without overloaded servers every pass finds the heaviest server, so a pass that
        // finds nothing means the servers heavy enough for `cw` are all overloaded: jump
        // `cw` to the heaviest eligible weight instead of descending one gcd per pass
        // (effective weights reach 2^20, so that descent could take a million passes).
        let mut misses = 0;
        for _ in 0..4 * n + 4 {
            let p = self.position.map_or(0, |p| (p + 1) % n);
            self.position = Some(p);
            if p == 0 {
                self.current = self.current.saturating_sub(self.step);
                if self.current == 0 {
                    self.current = self.max;
                }
            }
            let s = pool.slot(tier[p]);
            if eligible(tier[p]) && u64::from(s.eweight()) >= self.current {
                return Some(tier[p]);
            }
            misses += 1;
            if misses >= n {
                let heaviest = tier
                    .iter()
                    .filter(|&&i| eligible(i))
                    .map(|&i| u64::from(pool.slot(i).eweight()))
                    .max()?;
                // The next wrap lowers `cw` by one step, onto `heaviest`.
                self.current = self.current.min(heaviest + self.step);
                misses = 0;
            }
        }
        None
    }
}
