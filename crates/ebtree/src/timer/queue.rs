//! `BucketQueue`: the engine behind [`TimerQueue`](super::TimerQueue), generic over its
//! geometry so that tests can run it with tiny buckets, chunks and windows.
//!
//! `K`: a bucket spans `2^K` ticks (`K <= 6`, one bit per tick in the head's mask);
//! `C`: entries per chunk; `HB`: a timer more than `2^HB` ticks from the reference
//! tick goes to the far tree unless its range already has a bucket. How the parts fit
//! together, and why, is in the module documentation of `timer`.

use super::buckets::Buckets;
use super::far::{FarTimer, FarTimers};
use super::head::HeadOrder;
use super::iter::Timers;
use super::pool::{Entry, Pool, Walk};
use super::slots::{FAR, NONE, SlotTable};
use super::tick::{split_of, tick_is_expired, tick_is_lt};
use crate::Handle;
use std::fmt;

/// A bucketed timer queue with `2^K`-tick buckets of `C`-entry chunks and a far tree
/// for timers more than `2^HB` ticks away. Use [`TimerQueue`](crate::TimerQueue), which
/// is this with `K = 6, C = 16, HB = 20`; this type exists for tests.
#[doc(hidden)]
pub struct BucketQueue<V, const K: u32, const C: usize, const HB: u32> {
    pub(super) slots: SlotTable,
    pub(super) pool: Pool<V, C>,
    pub(super) buckets: Buckets<K>,
    pub(super) head: HeadOrder,
    pub(super) far: FarTimers<V>,
    /// Where the window of bucketed ranges is centred: the last `now` given to
    /// `pop_expired`, moved forward to a bucket's first tick when that bucket becomes
    /// the head (so that a queue driven by `first_expired` and `reschedule` alone keeps
    /// its window on the clock), and set to the first timer's expiry in an empty queue.
    pub(super) reference: u32,
    /// A bucket-aligned tick from which `head` comes first in tick order (no open
    /// bucket's key is in `origin..head key`, wrapping): for every split between the
    /// two, the head's lists give the next timer. The last split `pop_expired` saw, or
    /// 2^30 ticks after the head's key (covering clocks from 2^30 before the head to
    /// 2^31 after it), which a queue that is never popped relies on.
    pub(super) origin: u32,
    /// Timers in buckets (live entries).
    pub(super) near_len: usize,
    /// Timers the reservation covers: with at most this many, nothing allocates.
    pub(super) capacity: usize,
    /// Open buckets allowed (from `capacity`); a new range past it goes far.
    pub(super) max_buckets: usize,
    /// Cap on the head's extra dead entries (from `capacity`).
    pub(super) max_head_slack: u32,
}

/// Where a live timer is.
#[derive(Clone, Copy, Debug)]
pub(super) enum Place {
    Near(usize),
    Far(u32),
}

/// The next timer: a near entry's position, or a far timer's index and expiry.
#[derive(Clone, Copy, Debug)]
enum Next {
    Near(usize),
    Far(u32, u32),
}

impl<V, const K: u32, const C: usize, const HB: u32> Default for BucketQueue<V, K, C, HB> {
    fn default() -> Self {
        Self::new()
    }
}

impl<V: fmt::Debug, const K: u32, const C: usize, const HB: u32> fmt::Debug
    for BucketQueue<V, K, C, HB>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // In the order seen from the reference tick, as (expiry, value).
        f.debug_list()
            .entries(self.iter(self.reference).map(|(_, e, v)| (e, v)))
            .finish()
    }
}

impl<V, const K: u32, const C: usize, const HB: u32> BucketQueue<V, K, C, HB> {
    /// The low bits of an expiry: its tick within its bucket.
    pub(super) const TICK_MASK: u32 = (1 << K) - 1;
    /// Half-width of the window of bucketed ranges around the reference tick.
    const WINDOW: u32 = 1 << HB;
    /// Ranges of twice the window, plus two: more than a window's worth of buckets
    /// exist only when time jumps leave some behind.
    const WINDOW_BUCKETS: usize = ((4usize << HB) >> K) + 2;
    const GEOMETRY: () = assert!(K >= 1 && K <= 6 && C >= 1 && HB <= 30);

    /// An empty queue; allocates on the first `schedule`.
    pub fn new() -> Self {
        let () = Self::GEOMETRY;
        BucketQueue {
            slots: SlotTable::new(),
            pool: Pool::new(),
            buckets: Buckets::new(),
            head: HeadOrder::new(),
            far: FarTimers::new(),
            reference: 0,
            origin: 0,
            near_len: 0,
            capacity: 0,
            max_buckets: Self::bucket_limit(0),
            max_head_slack: Self::head_slack_limit(0),
        }
    }

    /// An empty queue with room for `n` timers.
    pub fn with_capacity(n: usize) -> Self {
        let mut q = Self::new();
        q.reserve(n);
        q
    }

    /// Open buckets allowed for a reservation of `n` timers: each open bucket may
    /// leave up to `C - 1` entries of its last chunk unused, so `n / C` of them waste
    /// at most `n` entries.
    pub(super) const fn bucket_limit(n: usize) -> usize {
        let by_capacity = n / C + 2;
        if by_capacity < Self::WINDOW_BUCKETS {
            by_capacity
        } else {
            Self::WINDOW_BUCKETS
        }
    }

    /// How many more dead entries than live ones the head may keep beyond `C`: its
    /// size when it became the head, but at most a quarter of the reservation.
    pub(super) const fn head_slack_limit(n: usize) -> u32 {
        let q = n / 4;
        if q < (u32::MAX / 4) as usize {
            q as u32
        } else {
            u32::MAX / 4
        }
    }

    /// Chunks that `n` live timers can ever hold: a bucket other than the head has at
    /// most as many dead entries as live ones (it is compacted past that), the head at
    /// most `live + min(base, n / 4) + C`, so all entries number at most
    /// `2n + n / 4 + C`; every chunk of a bucket but its last is full, so each open
    /// bucket adds at most `C - 1` unused entries, and at most
    /// `bucket_limit(n)` are open.
    pub(super) fn chunk_bound(n: usize) -> usize {
        let entries = Self::head_bound(n);
        let unused = Self::bucket_limit(n).saturating_mul(C - 1);
        entries.saturating_add(unused) / C
    }

    /// Entries the head can hold with `n` live timers: `2n + n / 4 + C` (see
    /// `chunk_bound`).
    pub(super) fn head_bound(n: usize) -> usize {
        n.saturating_mul(2)
            .saturating_add(Self::head_slack_limit(n) as usize)
            .saturating_add(C)
    }

    /// Makes room for `n` more timers: while at most `len() + n` are pending, no
    /// operation allocates.
    pub fn reserve(&mut self, n: usize) {
        let want = self.len().saturating_add(n);
        if want <= self.capacity {
            return;
        }
        self.capacity = want;
        self.max_buckets = Self::bucket_limit(want);
        self.max_head_slack = Self::head_slack_limit(want);
        self.slots.reserve(want);
        self.far.reserve(want);
        self.buckets.reserve(self.max_buckets);
        self.pool.reserve(Self::chunk_bound(want));
        self.head.reserve(Self::head_bound(want));
    }

    #[cold]
    #[inline(never)]
    fn grow(&mut self) {
        self.reserve(self.capacity.max(16));
    }

    /// Bytes of heap the queue holds (reserved, in use or not).
    pub fn heap_bytes(&self) -> usize {
        self.slots.heap_bytes()
            + self.pool.heap_bytes()
            + self.head.heap_bytes()
            + self.buckets.heap_bytes()
            + self.far.heap_bytes()
    }

    /// Bytes of the reservation in use: chunks holding entries, slots made, the head's
    /// nodes, open buckets, far timers.
    pub fn used_bytes(&self) -> usize {
        self.slots.used_bytes()
            + self.pool.used_bytes()
            + self.head.used_bytes()
            + self.buckets.used_bytes()
            + self.far.used_bytes()
    }

    /// Number of pending timers.
    #[inline]
    pub fn len(&self) -> usize {
        self.near_len + self.far.len()
    }

    /// Whether no timer is pending.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Cancels every timer, invalidating every handle; the reservation is kept.
    pub fn clear(&mut self) {
        for b in 0..self.buckets.ids() as u32 {
            let h = *self.buckets.get(b);
            if !h.is_open() {
                continue;
            }
            let mut walk = Walk::new(h.first, h.last, h.fill);
            while let Some(pos) = walk.next(&self.pool) {
                let e = self.pool.entry_mut(pos);
                if e.value.take().is_some() {
                    let (slot, generation) = (e.slot, e.generation);
                    self.slots.release(slot, generation);
                }
            }
            self.pool.release(h.first, h.last, h.chunks(C));
        }
        self.buckets.clear();
        for (_, _, t) in self.far.entries() {
            self.slots.release(t.slot, t.generation);
        }
        self.far.clear();
        self.head.reset(NONE);
        self.near_len = 0;
    }

    // ----- arming -----

    /// Adds a timer expiring at tick `expire`; timers with the same tick expire in the
    /// order they were scheduled.
    #[inline]
    pub fn schedule(&mut self, expire: u32, value: V) -> Handle {
        if self.len() >= self.capacity {
            self.grow();
        }
        if self.is_empty() {
            self.reference = expire;
        }
        let (slot, generation) = self.slots.alloc();
        self.arm(slot, generation, expire, value);
        Handle {
            idx: slot,
            generation,
        }
    }

    /// Whether `expire` is within the window around the reference tick.
    #[inline(always)]
    fn is_near(&self, expire: u32) -> bool {
        let d = expire.wrapping_sub(self.reference);
        d < Self::WINDOW || d >= Self::WINDOW.wrapping_neg()
    }

    /// Files the timer `(slot, generation)` under `expire`: into its range's bucket,
    /// opening one if the range is near and the reservation allows another, else far.
    #[inline]
    fn arm(&mut self, slot: u32, generation: u32, expire: u32, value: V) {
        let key = expire & !Self::TICK_MASK;
        let bucket = match self.buckets.find(key) {
            Some(b) => b,
            None if self.buckets.open_count() < self.max_buckets && self.is_near(expire) => {
                self.open_bucket(key)
            }
            None => {
                let i = self.far.insert(
                    expire,
                    FarTimer {
                        slot,
                        generation,
                        value,
                    },
                );
                self.slots.set_place(slot, FAR | i);
                return;
            }
        };
        self.append(
            bucket,
            Entry {
                expiry: expire,
                slot,
                generation,
                value: Some(value),
            },
        );
    }

    /// Opens the bucket of range `key`, which has none, makes it the head if it comes
    /// first, and moves the range's far timers into it (in the tree's order: by expiry,
    /// FIFO among equal ones), so that they stay ahead of the timer being armed.
    #[inline(never)]
    fn open_bucket(&mut self, key: u32) -> u32 {
        let b = self.buckets.next_id();
        let chunk = self.pool.alloc(b);
        self.buckets.open(key, chunk);
        if self.head.bucket == NONE {
            self.origin = Self::origin_for(key);
            self.head.reset(b);
            self.advance_reference(key);
        } else {
            let head_key = self.buckets.get(self.head.bucket).key;
            if key.wrapping_sub(self.origin) < head_key.wrapping_sub(self.origin) {
                let old = self.head.bucket;
                self.head.reset(b);
                self.advance_reference(key);
                self.unhead(old);
            }
        }
        while let Some((i, _)) = self.far.first_in_range(key, Self::TICK_MASK) {
            let (expiry, t) = self.far.remove(i);
            self.append(
                b,
                Entry {
                    expiry,
                    slot: t.slot,
                    generation: t.generation,
                    value: Some(t.value),
                },
            );
        }
        b
    }

    /// Appends a live entry to bucket `b`, after its others.
    #[inline]
    fn append(&mut self, b: u32, entry: Entry<V>) {
        let slot = entry.slot;
        let tick = entry.expiry & Self::TICK_MASK;
        let is_head = b == self.head.bucket;
        let header = self.buckets.get_mut(b);
        if header.fill as usize == C {
            let c = self.pool.alloc(b);
            self.pool.chain(header.last, c);
            header.last = c;
            header.fill = 0;
        }
        let pos = header.last as usize * C + header.fill as usize;
        header.fill += 1;
        header.live += 1;
        *self.pool.entry_mut(pos) = entry;
        self.slots.set_place(slot, pos as u32);
        self.near_len += 1;
        if is_head {
            self.head.push(pos, tick);
        }
    }

    /// Moves the reference tick forward to `tick` (a new head's first tick).
    #[inline]
    fn advance_reference(&mut self, tick: u32) {
        if tick_is_lt(self.reference, tick) {
            self.reference = tick;
        }
    }

    // ----- removal -----

    /// Takes the value of the live entry at `pos`: `(expiry, value)`. The caller has
    /// dealt with the slot.
    #[inline]
    fn kill(&mut self, pos: usize) -> (u32, V) {
        let e = self.pool.entry_mut(pos);
        let Some(value) = e.value.take() else {
            unreachable!("TimerQueue: a located entry is live")
        };
        let expiry = e.expiry;
        self.settle(pos, expiry);
        (expiry, value)
    }

    /// The bucket bookkeeping after the entry at `pos` (which expired at `expiry`)
    /// died: close the bucket when it has no live entry left, compact it when it holds
    /// too many dead ones, or keep the head's list front live.
    #[inline]
    fn settle(&mut self, pos: usize, expiry: u32) {
        self.near_len -= 1;
        let b = self.pool.owner(pos);
        let h = self.buckets.get_mut(b);
        h.live -= 1;
        h.dead += 1;
        let (live, dead) = (h.live, h.dead);
        if live == 0 {
            self.close_bucket(b);
        } else if b != self.head.bucket {
            if dead > live {
                self.compact(b);
            }
        } else if dead > live + self.head.base.min(self.max_head_slack) + C as u32 {
            self.compact(b);
        } else {
            self.head.discard_dead(&self.pool, expiry & Self::TICK_MASK);
        }
    }

    /// Closes bucket `b`, which has no live entry: its chunks go back to the pool in
    /// O(1), and if it was the head the bucket after it becomes the head.
    fn close_bucket(&mut self, b: u32) {
        let was_head = b == self.head.bucket;
        let next = if was_head {
            self.buckets.cyclic_next(b)
        } else {
            None
        };
        let h = *self.buckets.get(b);
        self.pool.release(h.first, h.last, h.chunks(C));
        self.buckets.close(b);
        if was_head {
            match next {
                Some(n) => self.make_head(n),
                None => self.head.reset(NONE),
            }
        }
    }

    /// Makes the open bucket `b` (the first from `origin`) the head, building its
    /// per-tick lists, and moves `origin` to 2^30 ticks after it when no bucket is in
    /// between, so that reads keep their fast path while the clock moves on even if
    /// `pop_expired` is never called.
    fn make_head(&mut self, b: u32) {
        let h = *self.buckets.get(b);
        self.head
            .rebuild(&self.pool, b, (h.first, h.last, h.fill), Self::TICK_MASK);
        self.advance_reference(h.key);
        let origin = Self::origin_for(h.key);
        if self.buckets.first_from(origin) == Some(b) {
            self.origin = origin;
        }
    }

    /// The origin that makes a lone bucket `key` the head for clocks from 2^30 ticks
    /// before it to 2^31 after it.
    #[inline]
    fn origin_for(key: u32) -> u32 {
        key.wrapping_add(1 << 30) & !Self::TICK_MASK
    }

    /// After bucket `old` stopped being the head: compacted if it has more dead entries
    /// than live ones (which the head may have), so that only the head ever does.
    fn unhead(&mut self, old: u32) {
        if old == NONE || old == self.head.bucket {
            return;
        }
        let h = self.buckets.get(old);
        if h.is_open() && h.dead > h.live {
            self.compact(old);
        }
    }

    /// Moves bucket `b`'s live entries to its front, in arming order, and returns the
    /// chunks left empty to the pool. Moved timers get their new position in the slot
    /// table; the head's lists are rebuilt.
    fn compact(&mut self, b: u32) {
        let h = *self.buckets.get(b);
        let mut read = Walk::new(h.first, h.last, h.fill);
        let (mut chunk, mut offset, mut kept) = (h.first, 0usize, 1usize);
        while let Some(r) = read.next(&self.pool) {
            if !self.pool.entry(r).is_live() {
                continue;
            }
            if offset == C {
                chunk = self.pool.next_chunk(chunk);
                offset = 0;
                kept += 1;
            }
            let w = chunk as usize * C + offset;
            offset += 1;
            if w != r {
                // `w` is behind `r` and dead: the swap leaves a dead entry at `r`.
                self.pool.swap(r, w);
                let slot = self.pool.entry(w).slot;
                self.slots.set_place(slot, w as u32);
            }
        }
        if chunk != h.last {
            let rest = self.pool.next_chunk(chunk);
            self.pool.release(rest, h.last, h.chunks(C) - kept);
            self.pool.end_at(chunk);
        }
        let header = self.buckets.get_mut(b);
        header.last = chunk;
        header.fill = offset as u32;
        header.dead = 0;
        if b == self.head.bucket {
            self.make_head(b);
        }
    }

    // ----- handles -----

    /// Where the timer named by `h` is, if it is pending.
    #[inline]
    pub(super) fn locate(&self, h: Handle) -> Option<Place> {
        let place = self.slots.place(h.idx)?;
        if place & FAR == 0 {
            let e = self.pool.get(place as usize)?;
            let found = e.slot == h.idx && e.generation == h.generation && e.is_live();
            return found.then_some(Place::Near(place as usize));
        }
        self.far
            .find(place & !FAR, h.idx, h.generation)
            .map(Place::Far)
    }

    /// Moves a pending timer to a new expiry, after the timers already there, keeping
    /// its handle. `false` if the handle is stale.
    #[inline]
    pub fn reschedule(&mut self, h: Handle, expire: u32) -> bool {
        let value = match self.locate(h) {
            None => return false,
            Some(Place::Near(pos)) => self.kill(pos).1,
            Some(Place::Far(i)) => self.far.remove(i).1.value,
        };
        self.arm(h.idx, h.generation, expire, value);
        true
    }

    /// Cancels a pending timer, returning its expiry and value; `None` if stale.
    #[inline]
    pub fn cancel(&mut self, h: Handle) -> Option<(u32, V)> {
        let taken = match self.locate(h)? {
            Place::Near(pos) => self.kill(pos),
            Place::Far(i) => {
                let (expiry, t) = self.far.remove(i);
                (expiry, t.value)
            }
        };
        self.slots.release(h.idx, h.generation);
        Some(taken)
    }

    /// The value of a pending timer.
    pub fn get(&self, h: Handle) -> Option<&V> {
        match self.locate(h)? {
            Place::Near(pos) => self.pool.entry(pos).value.as_ref(),
            Place::Far(i) => Some(&self.far.timer(i).value),
        }
    }

    /// The value of a pending timer, mutably.
    pub fn get_mut(&mut self, h: Handle) -> Option<&mut V> {
        match self.locate(h)? {
            Place::Near(pos) => self.pool.entry_mut(pos).value.as_mut(),
            Place::Far(i) => Some(&mut self.far.timer_mut(i).value),
        }
    }

    /// The expiry tick of a pending timer.
    pub fn expiry(&self, h: Handle) -> Option<u32> {
        match self.locate(h)? {
            Place::Near(pos) => Some(self.pool.entry(pos).expiry),
            Place::Far(i) => Some(self.far.expiry(i)),
        }
    }

    // ----- the next timer -----

    /// The next near timer in the wrapping order that starts at `split`, read-only.
    #[inline]
    fn near_next(&self, split: u32) -> Option<usize> {
        let b = self.head.bucket;
        if b == NONE {
            return None;
        }
        let start = split & !Self::TICK_MASK;
        let head_key = self.buckets.get(b).key;
        if head_key == start && split & Self::TICK_MASK != 0 {
            return self.scan_next(split);
        }
        let still_first = start.wrapping_sub(self.origin) <= head_key.wrapping_sub(self.origin);
        if still_first || self.buckets.first_from(start) == Some(b) {
            return self.head.next();
        }
        self.scan_next(split)
    }

    /// The same, moving the head to the first bucket for this split when the split
    /// passed it, and remembering the split.
    #[inline]
    fn near_next_mut(&mut self, split: u32) -> Option<usize> {
        if self.head.bucket == NONE {
            return None;
        }
        let start = split & !Self::TICK_MASK;
        if start != self.origin {
            let head_key = self.buckets.get(self.head.bucket).key;
            if head_key.wrapping_sub(self.origin) < start.wrapping_sub(self.origin) {
                self.rehead(start);
            }
            self.origin = start;
        }
        let head_key = self.buckets.get(self.head.bucket).key;
        if head_key == start && split & Self::TICK_MASK != 0 {
            return self.scan_next(split);
        }
        self.head.next()
    }

    /// Makes the first bucket at or after `start` (else the first) the head.
    #[inline(never)]
    fn rehead(&mut self, start: u32) {
        if let Some(b) = self.buckets.first_from(start)
            && b != self.head.bucket
        {
            let old = self.head.bucket;
            self.make_head(b);
            self.unhead(old);
        }
    }

    /// The next near timer found without the head's lists: the split falls inside a
    /// bucket (its timers are about 2^31 ticks from `now`, where the wrapping order
    /// stops being meaningful anyway), or a read-only call after the split passed the
    /// head. Scans a bucket.
    #[inline(never)]
    fn scan_next(&self, split: u32) -> Option<usize> {
        let start = split & !Self::TICK_MASK;
        let first = self.buckets.first_from(start)?;
        if self.buckets.get(first).key == start && split & Self::TICK_MASK != 0 {
            // The split bucket comes first with its ticks from the split on, last with
            // the ones before it.
            if let Some(p) = self.bucket_min(first, |x| x >= split) {
                return Some(p);
            }
            return match self.buckets.cyclic_next(first) {
                Some(next) => self.bucket_min(next, |_| true),
                None => self.bucket_min(first, |_| true),
            };
        }
        self.bucket_min(first, |_| true)
    }

    /// Bucket `b`'s first live entry (by expiry, then arming order) passing `keep`.
    fn bucket_min(&self, b: u32, keep: impl Fn(u32) -> bool) -> Option<usize> {
        let h = self.buckets.get(b);
        let mut walk = Walk::new(h.first, h.last, h.fill);
        let mut best: Option<(u32, usize)> = None;
        while let Some(pos) = walk.next(&self.pool) {
            let e = self.pool.entry(pos);
            if e.is_live() && keep(e.expiry) && best.is_none_or(|(x, _)| e.expiry < x) {
                best = Some((e.expiry, pos));
            }
        }
        best.map(|(_, pos)| pos)
    }

    /// The earlier of the next near timer and the next far one, seen from `split`
    /// (never equal: equal expiries share a range, which is near or far).
    #[inline]
    fn pick(&self, split: u32, near: Option<usize>) -> Option<Next> {
        if self.far.is_empty() {
            return near.map(Next::Near);
        }
        match (near, self.far.next_from(split)) {
            (Some(p), Some((i, k))) => {
                let near_expiry = self.pool.entry(p).expiry;
                if k.wrapping_sub(split) < near_expiry.wrapping_sub(split) {
                    Some(Next::Far(i, k))
                } else {
                    Some(Next::Near(p))
                }
            }
            (Some(p), None) => Some(Next::Near(p)),
            (None, Some((i, k))) => Some(Next::Far(i, k)),
            (None, None) => None,
        }
    }

    #[inline]
    fn next(&self, now: u32) -> Option<Next> {
        let split = split_of(now);
        self.pick(split, self.near_next(split))
    }

    #[inline]
    fn handle_of(&self, next: Next) -> Handle {
        let (idx, generation) = match next {
            Next::Near(pos) => {
                let e = self.pool.entry(pos);
                (e.slot, e.generation)
            }
            Next::Far(i, _) => {
                let t = self.far.timer(i);
                (t.slot, t.generation)
            }
        };
        Handle { idx, generation }
    }

    #[inline]
    fn expiry_of(&self, next: Next) -> u32 {
        match next {
            Next::Near(pos) => self.pool.entry(pos).expiry,
            Next::Far(_, k) => k,
        }
    }

    /// The timer that expires first, seen from `now` (expired or not).
    pub fn peek(&self, now: u32) -> Option<Handle> {
        self.next(now).map(|n| self.handle_of(n))
    }

    /// The tick at which the first timer expires, seen from `now`.
    pub fn next_expiry(&self, now: u32) -> Option<u32> {
        self.next(now).map(|n| self.expiry_of(n))
    }

    /// The first timer that has expired at `now`, left in the queue.
    #[inline]
    pub fn first_expired(&self, now: u32) -> Option<Handle> {
        let n = self.next(now)?;
        tick_is_expired(self.expiry_of(n), now).then(|| self.handle_of(n))
    }

    /// Removes and returns the first timer that has expired at `now`.
    #[inline]
    pub fn pop_expired(&mut self, now: u32) -> Option<(u32, V)> {
        self.reference = now;
        let split = split_of(now);
        let near = self.near_next_mut(split);
        match self.pick(split, near)? {
            Next::Near(pos) => {
                let e = self.pool.entry(pos);
                if !tick_is_expired(e.expiry, now) {
                    return None;
                }
                let (slot, generation) = (e.slot, e.generation);
                self.slots.release(slot, generation);
                Some(self.kill(pos))
            }
            Next::Far(i, expiry) => {
                if !tick_is_expired(expiry, now) {
                    return None;
                }
                let (expiry, t) = self.far.remove(i);
                self.slots.release(t.slot, t.generation);
                Some((expiry, t.value))
            }
        }
    }

    /// The timers in wrapping order seen from `now`, as `(handle, expiry, value)`.
    pub fn iter(&self, now: u32) -> Timers<'_, V, K, C, HB> {
        Timers::new(self, split_of(now))
    }
}
