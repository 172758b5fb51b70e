//! Jump consistent hash (Lamping and Veach, 2014): no table, O(log n) per lookup, and
//! growing from n to n+1 buckets moves exactly the keys the new bucket takes (1/(n+1)).
//! Buckets are numbered, so only removing the *last* server is minimally disruptive;
//! weights are ignored. Use Maglev or rendezvous when servers leave from the middle.

use rand::RngCore;

use super::affinity_hash;
use crate::balancer::Policy;
use crate::error::Error;
use crate::haproxy::TierCursor;
use crate::pool::ServerPool;
use crate::request::Request;

/// The bucket in `0..buckets` for `key` (`buckets > 0`).
pub fn jump_hash(mut key: u64, buckets: u32) -> u32 {
    let mut b: i64 = -1;
    let mut j: i64 = 0;
    while j < i64::from(buckets) {
        b = j;
        key = key.wrapping_mul(2_862_933_555_777_941_757).wrapping_add(1);
        j = ((b + 1) as f64 * ((1u64 << 31) as f64 / ((key >> 33) + 1) as f64)) as i64;
    }
    b.max(0) as u32
}

/// Jump hash over the tier in declaration order.
#[derive(Clone, Debug, Default)]
pub struct JumpHash {
    members: Vec<usize>,
    fallback: TierCursor,
}

impl JumpHash {
    /// A new policy.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Policy for JumpHash {
    fn rebuild(&mut self, pool: &ServerPool) -> Result<(), Error> {
        self.members = pool.tier().to_vec();
        Ok(())
    }

    fn choose<R: RngCore>(
        &mut self,
        pool: &ServerPool,
        request: &Request<'_>,
        _rng: &mut R,
    ) -> Option<usize> {
        if self.members.is_empty() {
            return None;
        }
        match affinity_hash(request) {
            Some(h) => Some(self.members[jump_hash(h, self.members.len() as u32) as usize]),
            None => self.fallback.next(pool),
        }
    }
}
