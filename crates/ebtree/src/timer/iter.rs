//! `Timers`: every pending timer in wrapping order seen from `now`, without allocating.
//!
//! Two sorted streams are merged by distance from the look-back split: the far tree's
//! (a rotation of its tick order), and the buckets' (buckets in rotated key order; the
//! bucket holding the split, if one does, yields its ticks from the split on first and
//! the ones before it last). Within a bucket, whose entries are in arming order, one
//! walk finds which ticks are present (a 64-bit mask), then one walk per present tick
//! yields its live entries, which is arming order among equal ticks. That costs up to
//! `2^K` walks of a bucket, so `iter` is for inspection, not for a hot loop.

use super::far::FarTimer;
use super::pool::Walk;
use super::queue::BucketQueue;
use crate::Handle;
use crate::tree::Iter;
use std::iter::Chain;

/// The iterator of [`TimerQueue::iter`](crate::TimerQueue::iter):
/// `(handle, expiry, value)`.
pub struct Timers<'a, V, const K: u32, const C: usize, const HB: u32> {
    queue: &'a BucketQueue<V, K, C, HB>,
    split: u32,
    near: NearTimers<'a>,
    far: Chain<Iter<'a, u32, FarTimer<V>>, Iter<'a, u32, FarTimer<V>>>,
    /// The next near entry's position, and the next far timer, looked ahead.
    next_near: Option<usize>,
    next_far: Option<(u32, &'a FarTimer<V>)>,
}

/// Where the bucket stream is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// The split bucket's ticks from the split on.
    SplitHigh,
    /// The other buckets, in rotated key order.
    Middle,
    /// The split bucket's ticks before the split.
    SplitLow,
    Done,
}

struct NearTimers<'a> {
    buckets: Chain<Iter<'a, u32, u32>, Iter<'a, u32, u32>>,
    /// The bucket the split falls in (not at its first tick), with the split's tick.
    split_bucket: Option<(u32, u32)>,
    stage: Stage,
    scan: Option<BucketScan>,
}

/// One bucket's live entries of some ticks, tick by tick.
struct BucketScan {
    start: Walk,
    walk: Walk,
    tick: u32,
    /// Ticks still to visit, after `tick`.
    rest: u64,
}

impl<'a, V, const K: u32, const C: usize, const HB: u32> Timers<'a, V, K, C, HB> {
    pub(super) fn new(queue: &'a BucketQueue<V, K, C, HB>, split: u32) -> Self {
        let mask = BucketQueue::<V, K, C, HB>::TICK_MASK;
        let start = split & !mask;
        let split_bucket = if split & mask != 0 {
            queue.buckets.lookup(start).map(|b| (b, split & mask))
        } else {
            None
        };
        let index = queue.buckets.index();
        let mut it = Timers {
            queue,
            split,
            near: NearTimers {
                buckets: index.range(start..).chain(index.range(..start)),
                split_bucket,
                stage: Stage::SplitHigh,
                scan: None,
            },
            far: queue.far.iter_from(split),
            next_near: None,
            next_far: None,
        };
        it.next_near = it.advance_near();
        it.next_far = it.far.next().map(|(_, k, t)| (k, t));
        it
    }

    /// The next near entry in order.
    fn advance_near(&mut self) -> Option<usize> {
        let q = self.queue;
        let all_ticks = if K == 6 {
            u64::MAX
        } else {
            (1u64 << (1 << K)) - 1
        };
        loop {
            if let Some(scan) = &mut self.near.scan {
                if let Some(pos) = scan.next(q) {
                    return Some(pos);
                }
                self.near.scan = None;
            }
            match self.near.stage {
                Stage::SplitHigh => {
                    self.near.stage = Stage::Middle;
                    if let Some((b, tick)) = self.near.split_bucket {
                        self.near.scan = BucketScan::new(q, b, all_ticks & (u64::MAX << tick));
                    }
                }
                Stage::Middle => match self.near.buckets.next() {
                    Some((_, _, &b)) => {
                        if self.near.split_bucket.is_none_or(|(s, _)| s != b) {
                            self.near.scan = BucketScan::new(q, b, all_ticks);
                        }
                    }
                    None => self.near.stage = Stage::SplitLow,
                },
                Stage::SplitLow => {
                    self.near.stage = Stage::Done;
                    if let Some((b, tick)) = self.near.split_bucket {
                        self.near.scan = BucketScan::new(q, b, !(u64::MAX << tick));
                    }
                }
                Stage::Done => return None,
            }
        }
    }
}

impl BucketScan {
    /// A scan of bucket `b`'s live entries whose ticks are in `ticks`; `None` if it has
    /// none.
    fn new<V, const K: u32, const C: usize, const HB: u32>(
        q: &BucketQueue<V, K, C, HB>,
        b: u32,
        ticks: u64,
    ) -> Option<Self> {
        let mask = BucketQueue::<V, K, C, HB>::TICK_MASK;
        let h = q.buckets.get(b);
        let start = Walk::new(h.first, h.last, h.fill);
        let mut walk = start;
        let mut present = 0u64;
        while let Some(pos) = walk.next(&q.pool) {
            let e = q.pool.entry(pos);
            if e.is_live() {
                present |= 1 << (e.expiry & mask);
            }
        }
        present &= ticks;
        if present == 0 {
            return None;
        }
        Some(BucketScan {
            start,
            walk: start,
            tick: present.trailing_zeros(),
            rest: present & (present - 1),
        })
    }

    fn next<V, const K: u32, const C: usize, const HB: u32>(
        &mut self,
        q: &BucketQueue<V, K, C, HB>,
    ) -> Option<usize> {
        let mask = BucketQueue::<V, K, C, HB>::TICK_MASK;
        loop {
            while let Some(pos) = self.walk.next(&q.pool) {
                let e = q.pool.entry(pos);
                if e.is_live() && e.expiry & mask == self.tick {
                    return Some(pos);
                }
            }
            if self.rest == 0 {
                return None;
            }
            self.tick = self.rest.trailing_zeros();
            self.rest &= self.rest - 1;
            self.walk = self.start;
        }
    }
}

impl<'a, V, const K: u32, const C: usize, const HB: u32> Iterator for Timers<'a, V, K, C, HB> {
    type Item = (Handle, u32, &'a V);

    fn next(&mut self) -> Option<Self::Item> {
        let q = self.queue;
        let near_first = match (self.next_near, self.next_far) {
            (None, None) => return None,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(pos), Some((k, _))) => {
                // Never equal: equal expiries share a range, which is near or far.
                q.pool.entry(pos).expiry.wrapping_sub(self.split) < k.wrapping_sub(self.split)
            }
        };
        if near_first {
            let pos = self.next_near?;
            self.next_near = self.advance_near();
            let e = q.pool.entry(pos);
            let handle = Handle {
                idx: e.slot,
                generation: e.generation,
            };
            Some((handle, e.expiry, e.value.as_ref()?))
        } else {
            let (k, t) = self.next_far?;
            self.next_far = self.far.next().map(|(_, k, t)| (k, t));
            let handle = Handle {
                idx: t.slot,
                generation: t.generation,
            };
            Some((handle, k, &t.value))
        }
    }
}
