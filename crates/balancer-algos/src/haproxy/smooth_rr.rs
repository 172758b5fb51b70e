//! `balance roundrobin`: smooth weighted round robin (nginx's algorithm), dynamic, with no
//! limit on the number of servers.
//!
//! Each step adds every server's weight to its score, picks the highest score (first on
//! ties) and takes the total weight off the winner. Weights 5,1,1 give `a a b a c a a`:
//! heavy servers are spread out instead of bunched.
//!
//! The cycle is precomputed at rebuild time (off the hot path) so a pick is one array
//! read; when a cycle would be too large to precompute, the steps run online (O(servers)
//! per pick).

use rand::RngCore;

use super::{gcd, tier_has_room};
use crate::balancer::Policy;
use crate::error::Error;
use crate::pool::ServerPool;
use crate::request::Request;

/// Budget of `cycle length x servers` work for precomputing the cycle.
const PRECOMPUTE_BUDGET: u64 = 1 << 25;

/// Smooth weighted round robin.
#[derive(Clone, Debug)]
pub struct SmoothRoundRobin {
    cycle: Vec<u32>,
    cursor: usize,
    online: Option<Online>,
    budget: u64,
}

impl Default for SmoothRoundRobin {
    fn default() -> Self {
        SmoothRoundRobin {
            cycle: Vec::new(),
            cursor: 0,
            online: None,
            budget: PRECOMPUTE_BUDGET,
        }
    }
}

#[derive(Clone, Debug)]
struct Online {
    members: Vec<usize>,
    weights: Vec<i64>,
    scores: Vec<i64>,
    total: i64,
}

impl Online {
    fn step(&mut self) -> usize {
        let mut best = 0;
        for i in 0..self.members.len() {
            self.scores[i] += self.weights[i];
            if self.scores[i] > self.scores[best] {
                best = i;
            }
        }
        self.scores[best] -= self.total;
        self.members[best]
    }
}

impl SmoothRoundRobin {
    /// A new, empty policy.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the most `cycle length x servers` work spent precomputing a cycle; beyond it
    /// the steps run online at O(servers) per pick (0 = always online).
    pub fn with_precompute_budget(budget: u64) -> Self {
        SmoothRoundRobin {
            budget,
            ..Self::default()
        }
    }

    /// Whether picks currently run online rather than from a precomputed cycle.
    pub fn is_online(&self) -> bool {
        self.online.is_some()
    }

    /// One full cycle of picks as pool indices (empty when running online); for tests
    /// and diagnostics.
    pub fn cycle(&self) -> &[u32] {
        &self.cycle
    }
}

/// The smooth weighted round-robin sequence for `weights` over one full cycle, as
/// positions into `weights`.
pub fn smooth_sequence(weights: &[u64]) -> Vec<usize> {
    let total: u64 = weights.iter().sum();
    let mut scores = vec![0i128; weights.len()];
    let mut out = Vec::with_capacity(total as usize);
    for _ in 0..total {
        let mut best = 0;
        for (i, &w) in weights.iter().enumerate() {
            scores[i] += i128::from(w);
            if scores[i] > scores[best] {
                best = i;
            }
        }
        scores[best] -= i128::from(total);
        out.push(best);
    }
    out
}

impl Policy for SmoothRoundRobin {
    fn rebuild(&mut self, pool: &ServerPool) -> Result<(), Error> {
        let tier = pool.tier();
        let raw: Vec<u64> = tier
            .iter()
            .map(|&i| u64::from(pool.slot(i).eweight()))
            .collect();
        let g = raw.iter().fold(0, |g, &w| gcd(g, w)).max(1);
        let weights: Vec<u64> = raw.iter().map(|w| w / g).collect();
        let total: u64 = weights.iter().sum();
        self.cycle.clear();
        self.online = None;
        if total.saturating_mul(tier.len() as u64) <= self.budget {
            self.cycle = smooth_sequence(&weights)
                .into_iter()
                .map(|p| tier[p] as u32)
                .collect();
            if !self.cycle.is_empty() {
                self.cursor %= self.cycle.len();
            }
        } else {
            self.online = Some(Online {
                members: tier.to_vec(),
                weights: weights.iter().map(|&w| w as i64).collect(),
                scores: vec![0; tier.len()],
                total: total as i64,
            });
        }
        Ok(())
    }

    fn choose<R: RngCore>(
        &mut self,
        pool: &ServerPool,
        _request: &Request<'_>,
        _rng: &mut R,
    ) -> Option<usize> {
        if let Some(online) = &mut self.online {
            for _ in 0..online.members.len() {
                let i = online.step();
                if pool.slot(i).has_room() {
                    return Some(i);
                }
            }
            return None;
        }
        let n = self.cycle.len();
        for step in 0..n {
            let i = self.cycle[self.cursor] as usize;
            self.cursor += 1;
            if self.cursor == n {
                self.cursor = 0;
            }
            if pool.slot(i).has_room() {
                return Some(i);
            }
            if step == 0 && !tier_has_room(pool) {
                return None;
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balancer::{Balancer, Dispatcher};
    use crate::server::{ServerConfig, ServerId, ServerState};
    use std::time::Duration;

    fn seq(lb: &mut Dispatcher<SmoothRoundRobin>, n: usize) -> Vec<u32> {
        (0..n)
            .map(|_| lb.pick(&Request::default()).map_or(0, |s| s.0))
            .collect()
    }

    #[test]
    fn online_steps_match_the_precomputed_cycle() {
        let cfg: Vec<ServerConfig> = [5u16, 1, 1, 3, 7]
            .iter()
            .enumerate()
            .map(|(i, &w)| ServerConfig::new(i as u32, w))
            .collect();
        let mut table = Dispatcher::new(cfg.clone(), SmoothRoundRobin::new()).expect("valid");
        let mut online =
            Dispatcher::new(cfg, SmoothRoundRobin::with_precompute_budget(0)).expect("valid");
        assert!(!table.policy().is_online());
        assert!(online.policy().is_online());
        assert_eq!(seq(&mut table, 51), seq(&mut online, 51));
        // Both skip a server taken out, the same way.
        let now = Duration::ZERO;
        for lb in [&mut table, &mut online] {
            lb.set_state(ServerId(4), ServerState::Down, now)
                .expect("known");
        }
        let (a, b) = (seq(&mut table, 20), seq(&mut online, 20));
        assert!(!a.contains(&4));
        assert_eq!(a, b);
    }
}
