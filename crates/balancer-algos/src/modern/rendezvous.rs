//! Rendezvous (highest random weight) hashing, weighted: every server scores the key
//! and the best score wins, so removing a server moves only its own keys. Scores use
//! the logarithmic method, `-weight / ln(u)` with `u` uniform in (0, 1), which gives
//! each server a share proportional to its weight. O(servers) per lookup.

use rand::RngCore;

use super::affinity_hash;
use crate::balancer::Policy;
use crate::error::Error;
use crate::haproxy::TierCursor;
use crate::hash_fn::mix64;
use crate::pool::ServerPool;
use crate::request::Request;
use crate::server::ServerId;

/// The weighted score of `server` for a key hash.
pub fn score(key_hash: u64, server: ServerId, weight: u32) -> f64 {
    let h = mix64(key_hash ^ mix64(u64::from(server.0)));
    // Map to (0, 1), never 0 or 1, so ln is finite and negative.
    let u = ((h >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    -f64::from(weight) / u.ln()
}

/// Rendezvous hashing over the tier.
#[derive(Clone, Debug, Default)]
pub struct Rendezvous {
    members: Vec<(usize, ServerId, u32)>,
    fallback: TierCursor,
}

impl Rendezvous {
    /// A new policy.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Policy for Rendezvous {
    fn rebuild(&mut self, pool: &ServerPool) -> Result<(), Error> {
        self.members = pool
            .tier()
            .iter()
            .map(|&i| (i, pool.slot(i).id(), pool.slot(i).eweight()))
            .collect();
        Ok(())
    }

    fn choose<R: RngCore>(
        &mut self,
        pool: &ServerPool,
        request: &Request<'_>,
        _rng: &mut R,
    ) -> Option<usize> {
        let Some(h) = affinity_hash(request) else {
            return self.fallback.next(pool);
        };
        let mut best: Option<(usize, f64)> = None;
        for &(i, id, w) in &self.members {
            let s = score(h, id, w);
            if best.is_none_or(|(_, b)| s > b) {
                best = Some((i, s));
            }
        }
        best.map(|(i, _)| i)
    }
}
