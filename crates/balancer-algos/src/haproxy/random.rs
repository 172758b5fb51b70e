//! `balance random(N)`: draw N servers at random, in proportion to their weights, and
//! keep the least loaded (power of N choices). HAProxy draws on its consistent-hash
//! ring; an alias table gives the same weighted distribution in O(1) per draw.
//! If the chosen server is full, the pick is `None` so the request waits in the backend
//! queue, as HAProxy does.

use rand::RngCore;

use super::alias::TierSampler;
use crate::balancer::Policy;
use crate::error::Error;
use crate::pool::ServerPool;
use crate::request::Request;

/// Power of N random choices.
#[derive(Clone, Debug)]
pub struct RandomDraws {
    draws: u32,
    sampler: TierSampler,
}

impl RandomDraws {
    /// `random(draws)`; draws must be at least 1 (HAProxy's default is 2).
    pub fn new(draws: u32) -> Result<Self, Error> {
        if draws == 0 {
            return Err(Error::InvalidParameter {
                name: "random draws",
                reason: "must be at least 1",
            });
        }
        Ok(RandomDraws {
            draws,
            sampler: TierSampler::default(),
        })
    }
}

impl Policy for RandomDraws {
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
        let mut best: Option<usize> = None;
        for _ in 0..self.draws {
            let cur = self.sampler.sample(rng)?;
            best = match best {
                Some(prev) if prev != cur => {
                    let (p, c) = (pool.slot(prev), pool.slot(cur));
                    // Keep the previous choice when the new one is more loaded per weight.
                    let cur_load = u64::from(c.active()) * u64::from(p.eweight());
                    let prev_load = u64::from(p.active()) * u64::from(c.eweight());
                    if cur_load > prev_load {
                        Some(prev)
                    } else {
                        Some(cur)
                    }
                }
                _ => Some(cur),
            };
        }
        best.filter(|&i| pool.slot(i).has_room())
    }
}
