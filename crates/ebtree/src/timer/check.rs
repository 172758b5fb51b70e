//! The structural invariants of a [`BucketQueue`], checked in full (for tests: O(n)
//! with allocation; it panics, naming the broken invariant).

use super::pool::Walk;
use super::queue::BucketQueue;
use super::slots::{FAR, NONE};

impl<V, const K: u32, const C: usize, const HB: u32> BucketQueue<V, K, C, HB> {
    /// Checks every invariant of the queue's layout; panics at the first broken one.
    #[doc(hidden)]
    pub fn check_invariants(&self) {
        let mask = Self::TICK_MASK;
        // Where each slot's live timer is (NONE: not live).
        let mut live_slots = vec![NONE; self.slots.slots()];
        let mut live_count = 0usize;
        let mut chunk_owner = vec![NONE; self.pool.chunks()];
        let mut chunks_used = 0usize;
        let mut near = 0usize;
        let index = self.buckets.index();
        assert_eq!(
            index.len(),
            self.buckets.open_count(),
            "index and open count"
        );
        assert!(
            self.buckets.open_count() <= self.max_buckets,
            "{} open buckets, limit {}",
            self.buckets.open_count(),
            self.max_buckets
        );
        for (_, key, &b) in index.iter() {
            let h = *self.buckets.get(b);
            assert!(h.is_open(), "bucket {b} in the index is open");
            assert_eq!(h.key, key, "bucket {b}: key");
            assert_eq!(key & mask, 0, "bucket {b}: key aligned");
            assert!(
                h.fill >= 1 && h.fill as usize <= C,
                "bucket {b}: fill {}",
                h.fill
            );
            // Its chunks: each in one list only, owned by it.
            let mut c = h.first;
            let mut chunks = 1;
            loop {
                assert_eq!(chunk_owner[c as usize], NONE, "chunk {c} in two lists");
                chunk_owner[c as usize] = b;
                assert_eq!(self.pool.owner(c as usize * C), b, "chunk {c}: owner");
                if c == h.last {
                    break;
                }
                c = self.pool.next_chunk(c);
                chunks += 1;
            }
            assert_eq!(chunks, h.chunks(C), "bucket {b}: chunks");
            chunks_used += chunks;
            let (mut live, mut dead) = (0, 0);
            let mut walk = Walk::new(h.first, h.last, h.fill);
            while let Some(pos) = walk.next(&self.pool) {
                let e = self.pool.entry(pos);
                if !e.is_live() {
                    dead += 1;
                    continue;
                }
                live += 1;
                assert_eq!(e.expiry & !mask, key, "entry {pos}: expiry in its bucket");
                assert_eq!(
                    self.slots.place(e.slot),
                    Some(pos as u32),
                    "slot {}",
                    e.slot
                );
                let place = &mut live_slots[e.slot as usize];
                assert_eq!(*place, NONE, "slot {} live twice", e.slot);
                *place = pos as u32;
                live_count += 1;
            }
            assert_eq!((live, dead), (h.live, h.dead), "bucket {b}: live and dead");
            assert!(live > 0, "bucket {b} is open with no live entry");
            near += live as usize;
            if b == self.head.bucket {
                let slack = self.head.base.min(self.max_head_slack) + C as u32;
                assert!(dead <= live + slack, "head {b}: {dead} dead, {live} live");
            } else {
                assert!(dead <= live, "bucket {b}: {dead} dead, {live} live");
            }
        }
        assert_eq!(near, self.near_len, "near timers");
        // Free chunks: the rest, once each.
        let free = self.pool.free_list();
        assert_eq!(free.len(), self.pool.free_chunks(), "free chunk count");
        for &c in &free {
            assert_eq!(chunk_owner[c as usize], NONE, "chunk {c} free and used");
            chunk_owner[c as usize] = u32::MAX - 1;
        }
        assert_eq!(chunks_used + free.len(), self.pool.chunks(), "chunks lost");
        if self.len() <= self.capacity {
            let bound = Self::chunk_bound(self.capacity);
            assert!(chunks_used <= bound, "{chunks_used} chunks, bound {bound}");
        }
        self.check_head();
        // Far timers: their slot says so, and their range has no bucket.
        for (i, expiry, t) in self.far.entries() {
            assert_eq!(
                self.slots.place(t.slot),
                Some(FAR | i),
                "far slot {}",
                t.slot
            );
            assert!(
                self.buckets.lookup(expiry & !mask).is_none(),
                "far timer at {expiry} has a bucket"
            );
            let place = &mut live_slots[t.slot as usize];
            assert_eq!(*place, NONE, "slot {} live twice", t.slot);
            *place = FAR | i;
            live_count += 1;
        }
        assert_eq!(live_count, self.len(), "len");
        // Free slots: not live, once each.
        let mut free = vec![false; self.slots.slots()];
        for &(slot, _) in self.slots.free_slots() {
            assert_eq!(live_slots[slot as usize], NONE, "slot {slot} free and live");
            let twice = std::mem::replace(&mut free[slot as usize], true);
            assert!(!twice, "slot {slot} free twice");
        }
    }

    /// The head: first in wrapping order from `origin`, and its lists hold each of its
    /// live entries once, by tick, in arming order, with live fronts.
    fn check_head(&self) {
        let mask = Self::TICK_MASK;
        let b = self.head.bucket;
        if self.buckets.open_count() == 0 {
            assert_eq!(b, NONE, "a head with no bucket");
            return;
        }
        let h = *self.buckets.get(b);
        assert!(h.is_open(), "head {b} is open");
        let head_rank = h.key.wrapping_sub(self.origin);
        for (_, key, _) in self.buckets.index().iter() {
            assert!(
                key.wrapping_sub(self.origin) >= head_rank,
                "bucket {key} comes before the head {} from origin {}",
                h.key,
                self.origin
            );
        }
        // Arming order: rank of each position along the bucket's walk.
        let mut rank = vec![usize::MAX; self.pool.chunks() * C];
        let mut walk_order = Vec::new();
        let mut walk = Walk::new(h.first, h.last, h.fill);
        let mut live = 0;
        while let Some(pos) = walk.next(&self.pool) {
            rank[pos] = walk_order.len();
            walk_order.push(pos);
            live += usize::from(self.pool.entry(pos).is_live());
        }
        assert_eq!(self.head.ranks(), h.entries() as usize, "head ranks");
        assert_eq!(
            self.head.positions(),
            walk_order,
            "head ranks in walk order"
        );
        let mut listed = 0;
        for tick in 0..64 {
            let list = self.head.list(tick);
            if tick > mask {
                assert!(list.is_empty(), "tick {tick} outside the bucket has a list");
                continue;
            }
            if let Some(&front) = list.first() {
                assert!(self.pool.entry(front).is_live(), "tick {tick}: dead front");
            }
            let mut prev = None;
            for &pos in &list {
                let r = rank[pos];
                assert!(r != usize::MAX, "tick {tick}: entry {pos} not in the head");
                assert!(prev < Some(r), "tick {tick}: out of arming order");
                prev = Some(r);
                let e = self.pool.entry(pos);
                assert_eq!(
                    e.expiry & mask,
                    tick,
                    "entry {pos} in the list of tick {tick}"
                );
                listed += usize::from(e.is_live());
            }
        }
        assert_eq!(listed, live, "head lists hold every live entry once");
    }
}
