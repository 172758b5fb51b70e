//! Walker's alias method (Vose's construction): weighted sampling in O(1) per draw.

use rand::RngCore;

use crate::pool::ServerPool;

/// A weighted sampler over positions `0..n`.
#[derive(Clone, Debug, Default)]
pub struct AliasTable {
    /// Per column: take the column itself when the coin is below this (out of 2^32).
    threshold: Vec<u64>,
    alias: Vec<u32>,
}

impl AliasTable {
    /// Builds a sampler; zero weights are never drawn. Empty when all weights are 0.
    pub fn build(weights: &[u64]) -> Self {
        let n = weights.len();
        let total: u128 = weights.iter().map(|&w| u128::from(w)).sum();
        if n == 0 || total == 0 {
            return AliasTable::default();
        }
        // Work in units where the average column height is `total`.
        let mut height: Vec<u128> = weights.iter().map(|&w| u128::from(w) * n as u128).collect();
        let mut threshold = vec![1u64 << 32; n];
        let mut alias: Vec<u32> = (0..n as u32).collect();
        let (mut small, mut large): (Vec<usize>, Vec<usize>) =
            (0..n).partition(|&i| height[i] < total);
        while let (Some(s), Some(&l)) = (small.pop(), large.last()) {
            threshold[s] = ((height[s] << 32) / total) as u64;
            alias[s] = l as u32;
            height[l] = height[l] + height[s] - total;
            if height[l] < total {
                large.pop();
                small.push(l);
            }
        }
        AliasTable { threshold, alias }
    }

    /// Number of columns.
    pub fn len(&self) -> usize {
        self.alias.len()
    }

    /// Whether nothing can be drawn.
    pub fn is_empty(&self) -> bool {
        self.alias.is_empty()
    }

    /// Draws a position with probability proportional to its weight.
    pub fn sample<R: RngCore>(&self, rng: &mut R) -> Option<usize> {
        let n = self.alias.len() as u64;
        if n == 0 {
            return None;
        }
        let r = rng.next_u64();
        let column = (((r & 0xffff_ffff) * n) >> 32) as usize;
        let coin = r >> 32;
        Some(if coin < self.threshold[column] {
            column
        } else {
            self.alias[column] as usize
        })
    }
}

/// Weighted random draws over the servers of the pool's current tier (the active servers,
/// or the backups when they serve), in proportion to their effective weights: what
/// `random(N)` and LVS `twos` draw their candidates from.
#[derive(Clone, Debug, Default)]
pub struct TierSampler {
    members: Vec<usize>,
    alias: AliasTable,
}

impl TierSampler {
    /// Rebuilds the draw for the pool's current tier and effective weights.
    pub fn rebuild(&mut self, pool: &ServerPool) {
        self.members = pool.tier().to_vec();
        let weights: Vec<u64> = self
            .members
            .iter()
            .map(|&i| u64::from(pool.slot(i).eweight()))
            .collect();
        self.alias = AliasTable::build(&weights);
    }

    /// Draws the pool index of a server; `None` when no server has weight.
    pub fn sample<R: RngCore>(&self, rng: &mut R) -> Option<usize> {
        self.alias.sample(rng).map(|column| self.members[column])
    }
}
