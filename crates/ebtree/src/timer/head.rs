//! The head's order: the first bucket's live timers as one FIFO list per tick.
//!
//! A bucket's entries are in arming order, not expiry order. When a bucket becomes the
//! head (the first bucket in wrapping order, whose timers expire next), one walk over
//! its entries threads each live entry onto the list of its tick (the low `K` bits of
//! its expiry, at most 64 lists); a 64-bit mask says which lists are non-empty. The
//! next timer is then the front of the list of the lowest set bit: one
//! `trailing_zeros`, two loads. A timer armed into the head is appended to its tick's
//! list, in O(1) wherever it falls, which keeps equal ticks in arming order (FIFO)
//! without a sort or a heap.
//!
//! The lists link *ranks*: an entry's index in the head's walk order (dead entries
//! included). Each rank is a node `[position, next rank]` in a buffer that every head
//! reuses, so it stays in cache: links kept beside the entries in the pool cost a cold
//! line per chunk whenever a bucket became the head (0.4 misses per step of the
//! configured benchmark), and mapping ranks to positions through the head's chunk
//! list cost 4% more instructions than keeping the position in the node.
//!
//! Dead entries (cancelled, or moved by `reschedule`) stay in their list until they
//! reach its front, where [`HeadOrder::discard_dead`] drops them: the front of every
//! non-empty list is live, so `&self` peeks are exact and O(1).

use super::pool::Pool;
use super::slots::NONE;

/// The head bucket and its per-tick lists.
#[derive(Debug)]
pub(super) struct HeadOrder {
    /// The head's bucket id; `NONE` when there is no bucket.
    pub(super) bucket: u32,
    /// The head's entries (live and dead) when its lists were built: the compaction
    /// rule lets the head keep that many more dead entries than other buckets, so that
    /// draining it never compacts it.
    pub(super) base: u32,
    /// Bit `t`: the list of tick `t` is non-empty.
    occupied: u64,
    /// Front and back rank of each tick's list (meaningful while its bit is set).
    front: [u32; 64],
    back: [u32; 64],
    /// Per rank: the entry's position and the next rank of the same tick (`NONE` at
    /// the back).
    nodes: Vec<[u32; 2]>,
}

impl HeadOrder {
    pub(super) fn new() -> Self {
        HeadOrder {
            bucket: NONE,
            base: 0,
            occupied: 0,
            front: [NONE; 64],
            back: [NONE; 64],
            nodes: Vec::new(),
        }
    }

    /// Room for a head of `entries` entries.
    pub(super) fn reserve(&mut self, entries: usize) {
        self.nodes.reserve(entries.saturating_sub(self.nodes.len()));
    }

    /// Makes `bucket` the head with no entries yet (or, with `NONE`, says there is no
    /// bucket).
    #[inline]
    pub(super) fn reset(&mut self, bucket: u32) {
        self.bucket = bucket;
        self.base = 0;
        self.occupied = 0;
        self.nodes.clear();
    }

    /// Makes `bucket` the head and builds its lists from its entries, walked in arming
    /// order: its chunks run from `first` to `last`, the last holding `fill` entries.
    pub(super) fn rebuild<V, const C: usize>(
        &mut self,
        pool: &Pool<V, C>,
        bucket: u32,
        (first, last, fill): (u32, u32, u32),
        tick_mask: u32,
    ) {
        self.reset(bucket);
        let mut c = first;
        loop {
            let end = if c == last { fill as usize } else { C };
            for pos in c as usize * C..c as usize * C + end {
                let e = pool.entry(pos);
                let rank = self.nodes.len() as u32;
                self.nodes.push([pos as u32, NONE]);
                if e.is_live() {
                    self.link(rank, e.expiry & tick_mask);
                }
            }
            if c == last {
                break;
            }
            c = pool.next_chunk(c);
        }
        self.base = self.nodes.len() as u32;
    }

    /// Appends the head's new entry (the last of its walk), of tick `tick`, after the
    /// others of its tick.
    #[inline]
    pub(super) fn push(&mut self, pos: usize, tick: u32) {
        let rank = self.nodes.len() as u32;
        self.nodes.push([pos as u32, NONE]);
        self.link(rank, tick);
    }

    #[inline]
    fn link(&mut self, rank: u32, tick: u32) {
        let t = tick as usize;
        if self.occupied & (1 << t) == 0 {
            self.occupied |= 1 << t;
            self.front[t] = rank;
        } else {
            self.nodes[self.back[t] as usize][1] = rank;
        }
        self.back[t] = rank;
    }

    /// The entry position of rank `rank`.
    #[inline(always)]
    fn position(&self, rank: u32) -> usize {
        self.nodes[rank as usize][0] as usize
    }

    /// The head's next timer: the front of the lowest non-empty tick.
    #[inline]
    pub(super) fn next(&self) -> Option<usize> {
        if self.occupied == 0 {
            return None;
        }
        let t = self.occupied.trailing_zeros() as usize;
        Some(self.position(self.front[t]))
    }

    /// Drops the dead entries at the front of tick `tick`'s list (after an entry of the
    /// head died), so that its front is live again or the list is empty.
    #[inline]
    pub(super) fn discard_dead<V, const C: usize>(&mut self, pool: &Pool<V, C>, tick: u32) {
        let t = tick as usize;
        while self.occupied & (1 << t) != 0 {
            let front = self.front[t];
            if pool.entry(self.position(front)).is_live() {
                return;
            }
            if front == self.back[t] {
                self.occupied &= !(1 << t);
            } else {
                self.front[t] = self.nodes[front as usize][1];
            }
        }
    }

    pub(super) fn heap_bytes(&self) -> usize {
        self.nodes.capacity() * size_of::<[u32; 2]>()
    }

    pub(super) fn used_bytes(&self) -> usize {
        self.nodes.len() * size_of::<[u32; 2]>()
    }

    /// Ranks made: the head's entries, live and dead (for the invariant check).
    pub(super) fn ranks(&self) -> usize {
        self.nodes.len()
    }

    /// The entry positions by rank (for the invariant check).
    pub(super) fn positions(&self) -> Vec<usize> {
        self.nodes.iter().map(|n| n[0] as usize).collect()
    }

    /// The positions of tick `tick`'s list, front to back (for the invariant check).
    pub(super) fn list(&self, tick: u32) -> Vec<usize> {
        let t = tick as usize;
        let mut out = Vec::new();
        if self.occupied & (1 << t) == 0 {
            return out;
        }
        let mut rank = self.front[t];
        loop {
            out.push(self.position(rank));
            if rank == self.back[t] {
                return out;
            }
            rank = self.nodes[rank as usize][1];
            assert!(rank != NONE, "tick {t}: list ends before its back");
        }
    }
}
