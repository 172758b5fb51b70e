//! HAProxy's server map: a table with one entry per unit of (gcd-reduced) weight, filled
//! so equal weights keep declaration order. `static-rr` walks it; `hash-type map-based`
//! indexes it with `hash % size`.

use rand::RngCore;

use super::{gcd, tier_has_room};
use crate::balancer::Policy;
use crate::error::Error;
use crate::pool::ServerPool;
use crate::request::Request;

/// Largest map we build (entries).
const MAP_LIMIT: u64 = 1 << 24;
/// Largest `entries x servers` work for building it.
const BUILD_BUDGET: u64 = 1 << 28;

/// The server map, as pool indices.
#[derive(Clone, Debug, Default)]
pub struct WeightMap {
    slots: Vec<u32>,
}

impl WeightMap {
    /// Builds the map for `(pool index, weight)` members, weights reduced by their gcd.
    pub fn build(members: &[(usize, u64)]) -> Result<Self, Error> {
        let members: Vec<(usize, u64)> = members.iter().copied().filter(|m| m.1 > 0).collect();
        let g = members.iter().fold(0, |g, m| gcd(g, m.1)).max(1);
        let weights: Vec<u64> = members.iter().map(|m| m.1 / g).collect();
        let tot: u64 = weights.iter().sum();
        if tot > MAP_LIMIT || tot.saturating_mul(members.len() as u64) > BUILD_BUDGET {
            return Err(Error::TooLarge {
                what: "server map",
                needed: tot,
                limit: MAP_LIMIT,
            });
        }
        let mut slots = Vec::with_capacity(tot as usize);
        if tot == 1 {
            slots.push(members[0].0 as u32);
            return Ok(WeightMap { slots });
        }
        let t = tot as i64;
        let mut score = vec![0i64; members.len()];
        for _ in 0..tot {
            // Scores are compared after integer division by the total (values 0..=3), so
            // among servers "due" at once the first declared wins: HAProxy keeps
            // declaration order for equal weights this way.
            let mut best = 0;
            let mut max = i64::MIN;
            for (i, &w) in weights.iter().enumerate() {
                score[i] += w as i64;
                let v = (score[i] + t) / t;
                if v > max {
                    max = v;
                    best = i;
                }
            }
            score[best] -= t;
            slots.push(members[best].0 as u32);
        }
        Ok(WeightMap { slots })
    }

    /// Entries (pool indices).
    pub fn slots(&self) -> &[u32] {
        &self.slots
    }

    /// Number of entries (HAProxy's `tot_weight`).
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The entry for a hash (`hash % size`).
    pub fn lookup(&self, hash: u32) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        Some(self.slots[hash as usize % self.slots.len()] as usize)
    }
}

/// Members of the current tier with their configured user weights: static algorithms
/// ignore slow start, as in HAProxy.
pub(crate) fn static_members(pool: &ServerPool) -> Vec<(usize, u64)> {
    pool.tier()
        .iter()
        .map(|&i| (i, u64::from(pool.slot(i).weight())))
        .collect()
}

/// `balance static-rr`: walks the server map. Weights may only change to 0 and back.
#[derive(Clone, Debug, Default)]
pub struct StaticRoundRobin {
    map: WeightMap,
    cursor: usize,
}

impl StaticRoundRobin {
    /// A new, empty policy.
    pub fn new() -> Self {
        Self::default()
    }

    /// The current map.
    pub fn map(&self) -> &WeightMap {
        &self.map
    }
}

impl Policy for StaticRoundRobin {
    fn rebuild(&mut self, pool: &ServerPool) -> Result<(), Error> {
        self.map = WeightMap::build(&static_members(pool))?;
        if !self.map.is_empty() {
            self.cursor %= self.map.len();
        }
        Ok(())
    }

    fn choose<R: RngCore>(
        &mut self,
        pool: &ServerPool,
        _request: &Request<'_>,
        _rng: &mut R,
    ) -> Option<usize> {
        let n = self.map.len();
        for step in 0..n {
            let i = self.map.slots[self.cursor] as usize;
            self.cursor = (self.cursor + 1) % n;
            if pool.slot(i).has_room() {
                return Some(i);
            }
            if step == 0 && !tier_has_room(pool) {
                return None;
            }
        }
        None
    }

    fn is_static(&self) -> bool {
        true
    }
}
