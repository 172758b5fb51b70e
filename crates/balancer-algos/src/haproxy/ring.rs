//! HAProxy's consistent-hash ring (`hash-type consistent`) with optional bounded loads
//! (`hash-balance-factor`).
//!
//! Each server places `effective weight` points (user weight x 16) on a 32-bit ring at
//! `avalanche(id x 4096 + n)`, as HAProxy does. A hash goes to the closer of the points
//! just before and just after it. With a balance factor `f`, a server already holding
//! its share of `f/100 x (in-flight + 1)` is skipped in favour of the next point
//! (Mirrokni, Thorup and Zadimoghaddam, "Consistent Hashing with Bounded Loads").

use crate::error::Error;
use crate::hash_fn::avalanche;
use crate::server::ServerId;
use ebtree::{EbTree, Handle};

/// Most points a ring may hold.
pub const RING_LIMIT: u64 = 1 << 24;

/// A server on the ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingMember {
    /// Caller's index for the server (a pool index in the dispatcher).
    pub index: usize,
    /// Server id; seeds the point positions.
    pub id: ServerId,
    /// Number of points (effective weight).
    pub weight: u32,
}

/// An immutable ring, built off the hot path; share it (e.g. behind `arc-swap`) and look
/// up from any thread.
#[derive(Debug, Default)]
pub struct ConsistentRing {
    tree: EbTree<u32, u32>,
    members: Vec<RingMember>,
    cumulative: Vec<u64>,
    total_weight: u64,
}

impl ConsistentRing {
    /// Builds the ring; fails when it would exceed [`RING_LIMIT`] points.
    pub fn build(members: &[RingMember]) -> Result<Self, Error> {
        let total: u64 = members.iter().map(|m| u64::from(m.weight)).sum();
        if total > RING_LIMIT {
            return Err(Error::TooLarge {
                what: "consistent-hash ring",
                needed: total,
                limit: RING_LIMIT,
            });
        }
        let mut tree = EbTree::with_capacity(total as usize);
        let mut cumulative = Vec::with_capacity(members.len());
        let mut acc = 0u64;
        for (pos, m) in members.iter().enumerate() {
            cumulative.push(acc);
            acc += u64::from(m.weight);
            let base = m.id.0.wrapping_mul(4096);
            for n in 0..m.weight {
                tree.insert(avalanche(base.wrapping_add(n)), pos as u32);
            }
        }
        Ok(ConsistentRing {
            tree,
            members: members.to_vec(),
            cumulative,
            total_weight: total,
        })
    }

    /// Members as given to `build`.
    pub fn members(&self) -> &[RingMember] {
        &self.members
    }

    /// Number of points.
    pub fn points(&self) -> usize {
        self.tree.len()
    }

    fn member_at(&self, h: Handle) -> usize {
        self.tree.get(h).map_or(0, |&p| p as usize)
    }

    fn next_wrapping(&self, h: Handle) -> Option<Handle> {
        self.tree.next(h).or_else(|| self.tree.first())
    }

    /// The point closest to `hash` (HAProxy compares the distance to the point before
    /// and the point after, the earlier one winning ties).
    fn closest(&self, hash: u32) -> Option<Handle> {
        let next = self.tree.lookup_ge(hash).or_else(|| self.tree.first())?;
        let prev = self.tree.prev(next).or_else(|| self.tree.last())?;
        let dp = hash.wrapping_sub(self.tree.key(prev)?);
        let dn = self.tree.key(next)?.wrapping_sub(hash);
        Some(if dp <= dn { prev } else { next })
    }

    /// The member position for `hash`.
    pub fn lookup(&self, hash: u32) -> Option<usize> {
        self.closest(hash).map(|h| self.member_at(h))
    }

    /// The member position for `hash` with bounded loads: `served(pos)` is a member's
    /// in-flight count, `total_served` the sum over all, `factor` the balance factor in
    /// percent (>= 100). Members whose share is used up are skipped clockwise.
    pub fn lookup_bounded(
        &self,
        hash: u32,
        served: impl Fn(usize) -> u64,
        total_served: u64,
        factor: u32,
    ) -> Option<usize> {
        let start = self.closest(hash)?;
        let first_choice = self.member_at(start);
        let mut h = start;
        // Each point at most once; capacity sums to more than the load, so some member
        // is eligible, but bound the walk anyway.
        for _ in 0..self.tree.len() {
            let pos = self.member_at(h);
            if served(pos) < self.slots(pos, total_served, factor) {
                return Some(pos);
            }
            h = self.next_wrapping(h)?;
        }
        Some(first_choice)
    }

    /// Requests member `pos` may hold: its weight's share of
    /// `ceil((total_served + 1) x factor / 100)`, at least 1.
    pub fn slots(&self, pos: usize, total_served: u64, factor: u32) -> u64 {
        let w = u64::from(self.members[pos].weight);
        let tot = self.total_weight.max(1);
        let tot_slots = ((total_served + 1) * u64::from(factor)).div_ceil(100);
        let per_weight = tot_slots / tot;
        let remainder = tot_slots % tot;
        let cum = self.cumulative[pos];
        let slots = w * per_weight + ((cum + w) * remainder) / tot - (cum * remainder) / tot;
        slots.max(1)
    }
}
