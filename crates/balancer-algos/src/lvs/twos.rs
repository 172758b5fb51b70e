//! LVS `twos`: two weighted random picks, the one with the lower overhead per weight wins.

use rand::RngCore;

use super::wlc_among;
use crate::balancer::Policy;
use crate::error::Error;
use crate::haproxy::alias::TierSampler;
use crate::pool::ServerPool;
use crate::request::Request;

/// Weighted power of two choices on IPVS overhead.
#[derive(Clone, Debug, Default)]
pub struct TwoChoices {
    sampler: TierSampler,
}

impl TwoChoices {
    /// A new policy.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Policy for TwoChoices {
    fn rebuild(&mut self, pool: &ServerPool) -> Result<(), Error> {
        self.sampler.rebuild(pool);
        Ok(())
    }

    fn choose<R: RngCore>(
        &mut self,
        pool: &ServerPool,
        _request: &Request<'_>,
        rng: &mut R,
    ) -> Option<usize> {
        let a = self.sampler.sample(rng)?;
        let b = self.sampler.sample(rng)?;
        let (sa, sb) = (pool.slot(a), pool.slot(b));
        let choice = match (sa.lvs_overloaded(), sb.lvs_overloaded()) {
            (false, false) => {
                let lhs = u128::from(sb.lvs_overhead()) * u128::from(sa.eweight());
                let rhs = u128::from(sa.lvs_overhead()) * u128::from(sb.eweight());
                Some(if lhs < rhs { b } else { a })
            }
            (false, true) => Some(a),
            (true, false) => Some(b),
            // IPVS never draws overloaded servers; drawing from a table built off the hot
            // path, we fall back to a scan when both draws are overloaded.
            (true, true) => None,
        };
        choice.or_else(|| {
            wlc_among(pool, pool.tier().iter().copied(), |i| {
                pool.slot(i).lvs_overhead()
            })
        })
    }
}
