//! HAProxy's consistent-hash ring (`hash-type consistent`) with optional bounded loads
//! (`hash-balance-factor`).
//!
//! Each server places `effective weight` points (user weight x 16) on a 32-bit ring at
//! `avalanche(id x 4096 + n)`, as HAProxy does. A hash goes to the closer of the points
//! just before and just after it. With a balance factor `f`, a server already holding
//! its share of `f/100 x (in-flight + 1)` is skipped in favour of the next point
//! (Mirrokni, Thorup and Zadimoghaddam, "Consistent Hashing with Bounded Loads").
//!
//! The points live in an [`EbTree`], which is what changes when a weight does: like
//! HAProxy, a weight change adds or removes only that server's last points (so a slow
//! start ramp moves few keys). After each change the tree is frozen into a sorted array
//! that lookups binary-search: the ring is read far more often than it changes, and a
//! flat array is the fastest thing to search (see the `lookup` benchmark, which
//! measures both).

use ebtree::{EbTree, Handle};

use crate::error::Error;
use crate::hash_fn::{avalanche, mix64};
use crate::server::ServerId;

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

/// The ring. Build or update it off the hot path; lookups take `&self`, so a built ring
/// can be shared (e.g. behind `arc-swap`).
#[derive(Debug, Default)]
pub struct ConsistentRing {
    tree: EbTree<u32, u32>,
    points: Vec<Vec<Handle>>,
    members: Vec<RingMember>,
    cumulative: Vec<u64>,
    total_weight: u64,
    frozen_keys: Vec<u32>,
    frozen_members: Vec<u32>,
}

/// Points per server that HAProxy's formula can name without colliding with the next
/// server's (its weights stop at 256, times 16).
const HAPROXY_POINTS: u32 = 4096;

fn point_key(id: ServerId, n: u32) -> u32 {
    if n < HAPROXY_POINTS {
        avalanche(id.0.wrapping_mul(HAPROXY_POINTS).wrapping_add(n))
    } else {
        // Past weight 256, `id x 4096 + n` would land exactly on the next server's points;
        // mix id and n instead.
        (mix64((u64::from(id.0) << 32) | u64::from(n)) >> 32) as u32
    }
}

fn check_limit(total: u64) -> Result<(), Error> {
    if total > RING_LIMIT {
        return Err(Error::TooLarge {
            what: "consistent-hash ring",
            needed: total,
            limit: RING_LIMIT,
        });
    }
    Ok(())
}

impl ConsistentRing {
    /// Builds the ring; fails when it would exceed [`RING_LIMIT`] points.
    pub fn build(members: &[RingMember]) -> Result<Self, Error> {
        let total: u64 = members.iter().map(|m| u64::from(m.weight)).sum();
        check_limit(total)?;
        let mut ring = ConsistentRing {
            tree: EbTree::with_capacity(total as usize),
            points: vec![Vec::new(); members.len()],
            members: members.to_vec(),
            ..ConsistentRing::default()
        };
        for pos in 0..members.len() {
            ring.place_points(pos);
        }
        ring.recount();
        ring.freeze();
        Ok(ring)
    }

    /// Adds or removes member `pos`'s last points until it has `weight` of them.
    fn place_points(&mut self, pos: usize) {
        let m = self.members[pos];
        let points = &mut self.points[pos];
        while points.len() > m.weight as usize {
            if let Some(h) = points.pop() {
                self.tree.remove(h);
            }
        }
        while points.len() < m.weight as usize {
            let n = points.len() as u32;
            points.push(self.tree.insert(point_key(m.id, n), pos as u32));
        }
    }

    fn recount(&mut self) {
        self.cumulative.clear();
        let mut acc = 0u64;
        for m in &self.members {
            self.cumulative.push(acc);
            acc += u64::from(m.weight);
        }
        self.total_weight = acc;
    }

    fn freeze(&mut self) {
        self.frozen_keys.clear();
        self.frozen_members.clear();
        for (_, key, &pos) in self.tree.iter() {
            self.frozen_keys.push(key);
            self.frozen_members.push(pos);
        }
    }

    /// Changes members' weights in place (`(position, weight)` pairs): only the points
    /// of the changed members are added or removed, as in HAProxy.
    pub fn set_weights(&mut self, changes: &[(usize, u32)]) -> Result<(), Error> {
        let mut total = self.total_weight;
        for &(pos, w) in changes {
            let old = self.members.get(pos).map_or(0, |m| u64::from(m.weight));
            total = total - old + u64::from(w);
        }
        check_limit(total)?;
        for &(pos, w) in changes {
            if let Some(m) = self.members.get_mut(pos) {
                m.weight = w;
                self.place_points(pos);
            }
        }
        self.recount();
        self.freeze();
        Ok(())
    }

    /// Members as given to `build` (with current weights).
    pub fn members(&self) -> &[RingMember] {
        &self.members
    }

    /// Number of points.
    pub fn points(&self) -> usize {
        self.frozen_keys.len()
    }

    /// Index into the frozen arrays of the point closest to `hash` (HAProxy compares the
    /// distance to the point before and the point after, the earlier winning ties).
    fn closest(&self, hash: u32) -> Option<usize> {
        let n = self.frozen_keys.len();
        if n == 0 {
            return None;
        }
        let ge = self.frozen_keys.partition_point(|&k| k < hash);
        let next = if ge == n { 0 } else { ge };
        let prev = if next == 0 { n - 1 } else { next - 1 };
        let dp = hash.wrapping_sub(self.frozen_keys[prev]);
        let dn = self.frozen_keys[next].wrapping_sub(hash);
        Some(if dp <= dn { prev } else { next })
    }

    /// The member position for `hash`.
    #[inline]
    pub fn lookup(&self, hash: u32) -> Option<usize> {
        self.closest(hash).map(|i| self.frozen_members[i] as usize)
    }

    /// The same lookup done on the tree itself (`lookup_ge`, `prev`), without the frozen
    /// array; kept to check the two agree and to measure the difference.
    pub fn lookup_in_tree(&self, hash: u32) -> Option<usize> {
        let next = self.tree.lookup_ge(hash).or_else(|| self.tree.first())?;
        let prev = self.tree.prev(next).or_else(|| self.tree.last())?;
        let dp = hash.wrapping_sub(self.tree.key(prev)?);
        let dn = self.tree.key(next)?.wrapping_sub(hash);
        let h = if dp <= dn { prev } else { next };
        self.tree.get(h).map(|&p| p as usize)
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
        let n = self.frozen_keys.len();
        // Each point at most once; capacity sums to more than the load, so some member
        // is eligible, but bound the walk anyway.
        for step in 0..n {
            let pos = self.frozen_members[(start + step) % n] as usize;
            if served(pos) < self.slots(pos, total_served, factor) {
                return Some(pos);
            }
        }
        Some(self.frozen_members[start] as usize)
    }

    /// Requests member `pos` may hold: its weight's share of
    /// `ceil((total_served + 1) x factor / 100)`, at least 1.
    pub fn slots(&self, pos: usize, total_served: u64, factor: u32) -> u64 {
        let w = u64::from(self.members[pos].weight);
        let tot = self.total_weight.max(1);
        // u128: a factor straight from a configuration file may be as large as u32 allows.
        let tot = u128::from(tot);
        let w = u128::from(w);
        let tot_slots = ((u128::from(total_served) + 1) * u128::from(factor)).div_ceil(100);
        let per_weight = tot_slots / tot;
        let remainder = tot_slots % tot;
        let cum = u128::from(self.cumulative[pos]);
        let slots = w * per_weight + ((cum + w) * remainder) / tot - (cum * remainder) / tot;
        u64::try_from(slots).unwrap_or(u64::MAX).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(weights: &[u32]) -> Vec<RingMember> {
        weights
            .iter()
            .enumerate()
            .map(|(i, &w)| RingMember {
                index: i,
                id: ServerId(i as u32 + 1),
                weight: w,
            })
            .collect()
    }

    #[test]
    fn frozen_lookup_agrees_with_the_tree_before_and_after_updates() {
        let mut ring = ConsistentRing::build(&members(&[16, 32, 48, 16])).expect("fits");
        let check = |ring: &ConsistentRing| {
            for k in 0..20_000u32 {
                let h = avalanche(k);
                assert_eq!(ring.lookup(h), ring.lookup_in_tree(h), "hash {h:#x}");
            }
        };
        check(&ring);
        ring.set_weights(&[(1, 8), (3, 0)]).expect("fits");
        assert_eq!(ring.points(), 16 + 8 + 48);
        check(&ring);
    }

    #[test]
    fn heavy_servers_do_not_share_point_positions() {
        // Weight 1024 x 16 points each: with HAProxy's formula alone, server 1's points
        // 4096.. would coincide with server 2's first points.
        let ring = ConsistentRing::build(&members(&[16_384, 16_384])).expect("fits");
        let mut keys = ring.frozen_keys.clone();
        keys.dedup();
        // Random 32-bit keys collide rarely (about n^2 / 2^33, i.e. ~0.1 here), never by
        // thousands.
        assert!(ring.frozen_keys.len() - keys.len() < 10);
    }

    #[test]
    fn lowering_a_weight_moves_only_keys_of_that_server() {
        let mut ring = ConsistentRing::build(&members(&[64, 64, 64])).expect("fits");
        let before: Vec<_> = (0..20_000u32).map(|k| ring.lookup(avalanche(k))).collect();
        ring.set_weights(&[(2, 16)]).expect("fits");
        for (k, b) in before.iter().enumerate() {
            let a = ring.lookup(avalanche(k as u32));
            assert!(
                a == *b || *b == Some(2),
                "key {k} moved off a server that kept its points"
            );
        }
        // And raising it back restores the very same points.
        ring.set_weights(&[(2, 64)]).expect("fits");
        let again: Vec<_> = (0..20_000u32).map(|k| ring.lookup(avalanche(k))).collect();
        assert_eq!(before, again);
    }
}
