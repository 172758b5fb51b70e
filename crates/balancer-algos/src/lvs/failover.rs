//! LVS `fo` (weighted failover) and `ovf` (overflow-connection).

use rand::RngCore;

use crate::balancer::Policy;
use crate::error::Error;
use crate::pool::ServerPool;
use crate::request::Request;

/// `fo`: everything to the available server with the highest weight (first on ties).
#[derive(Clone, Debug, Default)]
pub struct WeightedFailover;

impl Policy for WeightedFailover {
    fn rebuild(&mut self, _pool: &ServerPool) -> Result<(), Error> {
        Ok(())
    }

    fn choose<R: RngCore>(
        &mut self,
        pool: &ServerPool,
        _request: &Request<'_>,
        _rng: &mut R,
    ) -> Option<usize> {
        let mut best: Option<usize> = None;
        for &i in pool.tier() {
            let s = pool.slot(i);
            if s.lvs_overloaded() {
                continue;
            }
            if best.is_none_or(|b| s.eweight() > pool.slot(b).eweight()) {
                best = Some(i);
            }
        }
        best
    }
}

/// `ovf`: the highest-weight server while its active connections do not exceed its
/// weight, then the next highest: weight doubles as a connection budget.
#[derive(Clone, Debug, Default)]
pub struct Overflow;

impl Policy for Overflow {
    fn rebuild(&mut self, _pool: &ServerPool) -> Result<(), Error> {
        Ok(())
    }

    fn choose<R: RngCore>(
        &mut self,
        pool: &ServerPool,
        _request: &Request<'_>,
        _rng: &mut R,
    ) -> Option<usize> {
        let mut best: Option<usize> = None;
        for &i in pool.tier() {
            let s = pool.slot(i);
            let w = u32::from(s.weight());
            if s.lvs_overloaded() || s.active() > w || w == 0 {
                continue;
            }
            if best.is_none_or(|b| w > u32::from(pool.slot(b).weight())) {
                best = Some(i);
            }
        }
        best
    }
}
