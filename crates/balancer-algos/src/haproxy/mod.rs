//! HAProxy's `balance` algorithms.

pub mod alias;
pub mod first;
pub mod hashing;
pub mod leastconn;
pub mod random;
pub mod ring;
pub mod smooth_rr;
pub mod weight_map;

use crate::pool::ServerPool;

/// A cursor that walks the tier in order, skipping full servers: the round-robin
/// fallback HAProxy uses when a hash key is missing.
#[derive(Clone, Debug, Default)]
pub(crate) struct TierCursor {
    next: usize,
}

impl TierCursor {
    pub(crate) fn next(&mut self, pool: &ServerPool) -> Option<usize> {
        let tier = pool.tier();
        let n = tier.len();
        for _ in 0..n {
            let i = tier[self.next % n];
            self.next = (self.next + 1) % n;
            if pool.slot(i).has_room() {
                return Some(i);
            }
        }
        None
    }
}

/// Whether any server of the tier has a free connection slot. Cycle walkers call it
/// after a first miss, so a saturated backend answers `None` in O(servers) instead of
/// walking a cycle that may hold millions of entries.
pub(crate) fn tier_has_room(pool: &ServerPool) -> bool {
    pool.tier().iter().any(|&i| pool.slot(i).has_room())
}

/// Greatest common divisor.
pub(crate) fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}
