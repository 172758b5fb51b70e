//! `TimerQueue`: timers on wrapping `u32` millisecond ticks, as HAProxy's wait queue.
//!
//! Ticks wrap around every 49.7 days, so "earlier" is decided by the sign of the
//! wrapping difference ([`tick_is_lt`]), exact while every pending timer is less than
//! 2^31 ms (24.8 days) from `now`. The order the queue pops in is HAProxy's: the wrapping
//! order that starts 2^31 ticks before `now` (its `TIMER_LOOK_BACK`), which is the tick
//! order rotated; HAProxy finds the next timer with `lookup_ge(now - 2^31)`, wrapping to
//! the first timer when there is none. Timers with equal ticks pop in the order they
//! were armed.
//!
//! ```
//! use ebtree::TimerQueue;
//!
//! let mut q = TimerQueue::new();
//! let now = u32::MAX - 5; // about to wrap
//! let late = q.schedule(now.wrapping_add(10), "late"); // expires at tick 4
//! q.schedule(now + 3, "soon");
//!
//! assert_eq!(q.pop_expired(now), None);
//! assert_eq!(q.pop_expired(now.wrapping_add(10)).map(|(_, v)| v), Some("soon"));
//! assert_eq!(q.next_expiry(now), Some(4));
//! assert!(q.reschedule(late, 100)); // same handle, new expiry
//! assert_eq!(q.pop_expired(50), None);
//! assert_eq!(q.pop_expired(100), Some((100, "late")));
//! ```
//!
//! # Layout, and why
//!
//! One ebtree entry per timer (what this queue was until it was measured against
//! `BTreeMap`) costs a cache miss per tree level for every arm, and pops timers that
//! sit wherever a slot was free. Servers arm timers a few timeouts from `now`, so most
//! pending timers expire in a window a few minutes wide, and timers armed together
//! expire together. The queue therefore files timers by *range*: all timers whose
//! expiry has the same bits above the low `K = 6` share a bucket (64 ticks), and only
//! the bucket that expires next is ever sorted.
//!
//! - **Entries** (`pool.rs`): `{expiry, slot, generation, value}`, 20 bytes for a `u32`
//!   value, in chunks of `C = 16` from one arena. A bucket is a singly linked list of
//!   chunks appended to in arming order; chunks of closed buckets are reused first.
//! - **Slot table** (`slots.rs`): handle slot -> entry position (4 bytes). The
//!   generation lives in the entry, so popping a timer reads only its entry, and its
//!   slot goes on a LIFO free stack that the next `schedule` takes while it is hot.
//! - **Buckets** (`buckets.rs`): a 28-byte header each, an [`EbTree`](crate::EbTree)
//!   from first tick to bucket (the wrapping order, and HAProxy's look-back search on
//!   buckets instead of timers), and a direct-mapped cache in front of it for arming.
//! - **Head** (`head.rs`): the first bucket in wrapping order has one FIFO list per tick
//!   and a 64-bit mask of non-empty ticks, built by one walk when it becomes the head;
//!   the list nodes (8 bytes: position, next) sit in a buffer every head reuses, so
//!   they stay in cache. The next timer is one `trailing_zeros` away; a timer armed
//!   into the head is appended to its tick's list, wherever its tick falls.
//! - **Far tree** (`far.rs`): a timer more than `2^HB = 2^20` ticks (17.5 min) from the
//!   reference tick (the last `now` popped at), or past the buckets the reservation
//!   allows, gets a per-timer
//!   `EbTree` entry instead, as the queue used to; a range is either a bucket or far
//!   timers, never both.
//!
//! Cache lines per operation, in the benchmark below (100k timers in 800 to 1,600
//! buckets): `schedule` reads the free stack's top, a cache slot and a bucket header
//! (small tables that stay cached) and writes the entry at its bucket's tail (a line
//! shared with the timers armed just before) and the slot's place (usually the slot
//! just freed): a fraction of a miss. `cancel` of an arbitrary timer reads its place
//! (a 400 KB table) and its entry: one to two misses. `pop_expired` reads the head's
//! mask, a list node and the entry, all in the head's few chunks: no miss, except that
//! the walk building a new head reads its entries once, armed seconds to a minute
//! before (about one miss per step in all). The per-entry tree it replaces took 10.6 to 11.3 misses
//! per step.
//!
//! # A bucket's life
//!
//! ```text
//!   free ──── an arm opens its range (near, room left) ──────▶ filling
//!    ▲                                                        │     ▲
//!    │                         the buckets before it close,   │     │ a bucket opens before it,
//!    │                         or it opens first: its tick    │     │ or the split passes it:
//!    │                         lists are built                ▼     │ compacted if dead > live
//!    └──── its last live timer goes (either state) ──────── head ───┘
//! ```
//!
//! - *filling*: entries appended in arming order; a cancel marks its entry dead; when
//!   dead entries outnumber live ones the bucket is compacted (live entries moved to
//!   the front, in order, trailing chunks freed, moved timers' places updated).
//! - *head*: arms go to the end of their tick's list; pops take list fronts; it is
//!   compacted (and its lists rebuilt) only when dead entries exceed live ones by its
//!   size when it became the head (at most a quarter of the reservation) plus `C`, so
//!   draining it never compacts it. When it stops being the head it is compacted if
//!   dead entries outnumber live ones.
//! - a range's far timers move into its bucket when an arm opens one, in tree order,
//!   before the new timer.
//!
//! # Invariants
//!
//! Checked by `check_invariants` after every operation of the model tests.
//!
//! - Every live timer is in exactly one place: an entry of its range's bucket, or the
//!   far tree when its range has no bucket; the slot table points to it, and its
//!   entry (or far value) holds its generation.
//! - An open bucket has at least one live entry; its chunks are full but the last.
//! - A bucket other than the head has at most as many dead entries as live ones; the
//!   head at most `live + min(base, capacity / 4) + C`.
//! - The head is the open bucket that comes first in tick order from `origin` (the
//!   last split `pop_expired` used, or 2^30 ticks after the head); the front of each of
//!   its tick lists is live, and the lists hold its live entries once each, in arming
//!   order.
//! - Open buckets never exceed `capacity / C + 2` (nor twice the window's ranges), so
//!   the chunks in use never exceed the bound below.
//!
//! # What `reserve(n)` buys
//!
//! With at most `len() + n` pending timers nothing allocates (`tests/no_alloc.rs`
//! churns a reserved queue through dense, sparse, one-tick and head-churn phases). The
//! bound: entries in buckets number at most `2n + n/4 + C` (the compaction rules
//! above), plus at most `C - 1` unused entries in each of at most `n/C + 2` open
//! buckets, so the pool reserves `(2n + n/4 + C + (n/C + 2)(C - 1)) / C` chunks (about
//! `3.2n` entries, 64 bytes per timer for a `u32` value), and the head's node buffer
//! `2n + n/4 + C` nodes (18 bytes per timer). The far tree reserves `n` entries, 44
//! bytes each (every timer may be far), the slot table `n` places and `n` free-stack
//! entries (12 bytes per timer), the buckets `n/C + 2` headers and index entries and a
//! cache of at most 2,048 slots (4 bytes per timer). Without a reservation the queue
//! doubles it when `len()` reaches it.
//!
//! The limit on open buckets is what makes the bound small: a range past it goes to
//! the far tree, decided when the range would open, so a range is still a bucket or
//! far timers, never both, and FIFO order holds (routing timers far only when the pool
//! ran dry would have to split a range that already has a bucket). Without it the
//! worst case (sparse timers, one bucket each, up to 65,538 of them: twice the
//! window's ranges) made `reserve` set aside 300 to 500 bytes per timer.
//!
//! # Measured
//!
//! Workload (b) of `benches/ebtree_vs_btreemap.rs`: 100k live timers; each step moves
//! the clock one tick, cancels an arbitrary timer and arms a new one for it, then pops
//! every expired timer and re-arms it. Timeouts: *configured* (2, 5, 30 or 50 s, as a
//! server arms them), *uniform* (1 to 100 s), *short* (half 1 to 256 ticks, tasks woken
//! soon, half configured). Instructions and simulated cache misses per step
//! (`benches/ebtree_profile.rs` under callgrind, D1 48 KiB 12-way, LL 2 MiB 16-way;
//! 100k steps after a 20k-step warm-up, and within 4% of that after 200k):
//!
//! | contender | configured | uniform | short |
//! |---|---|---|---|
//! | `TimerQueue` (cancel, schedule, `pop_expired`) | 2235 instr, 2.62 LL misses | 1111, 2.95 | 4817, 2.65 |
//! | `TimerQueue` (`reschedule`, `first_expired`) | 2141, 2.08 | 1055, 2.34 | 4647, 2.09 |
//! | the per-timer `TimerQueue` it replaced | 3321, 11.28 | 2682, 10.65 | — |
//! | `EbTree<u32, u32>`, one entry per timer | 4304, 11.21 | 2405, 10.64 | 8713, 11.08 |
//! | `BTreeMap<(expiry, id), ()>` | 4774, 0.50 | 2488, 0.04 | 8678, 0.52 |
//!
//! Throughput over `BTreeMap`'s, from four criterion runs (thread CPU time; the spread
//! is a shared 2-core VM, where the queue's ~3 misses per step make it the more
//! sensitive of the two), and in brackets the minimum of nine runs of the profile
//! bench with the contenders interleaved:
//!
//! | contender | configured | uniform | short |
//! |---|---|---|---|
//! | `TimerQueue` | 3.39-4.29x (4.04x) | 3.41-4.45x (4.23x) | 2.34-4.39x (3.80x) |
//! | `TimerQueue` with `reschedule` | 2.13-5.25x (3.84x) | 2.61-4.14x (4.00x) | 1.94-3.84x (3.96x) |
//! | `EbTree`, one entry per timer | 0.69-1.06x (1.01x) | 0.48-0.79x (0.63x) | 0.75-0.97x (0.81x) |
//!
//! `BTreeMap`'s working set fits the 2 MiB LL where the queue's does not; the queue
//! runs half the instructions with as many L1 misses or fewer (20.6 vs 21.1, 18.0 vs
//! 35.8, 42.2 vs 42.6 per step), and its 2 to 3 LL misses per step are the layout's
//! floor (a new head's entries, a cancelled timer's place and entry).
//! Bytes per timer (`benches/ebtree_memory.rs`, `V = u32`): `with_capacity(n)`
//! reserves 154 (n = 100), 144 (10,000) and 143 (100,000); in the benchmark's steady
//! state 29 to 31 are in use, against 36 for an `EbTree` entry and 15 for a
//! `BTreeMap` entry. What is reserved and never used is never touched: address space,
//! not memory.

mod buckets;
mod check;
mod far;
mod head;
mod iter;
mod pool;
mod queue;
mod slots;
mod tick;

pub use queue::BucketQueue;
pub use tick::{tick_is_expired, tick_is_lt};

use crate::Handle;
use std::fmt;

/// Ticks per bucket: `2^6`. Fewer means more buckets (more index and header lines);
/// more means longer head lists to build and more timers per bucket to skip.
const TICK_BITS: u32 = 6;
/// Entries per chunk: one chunk's links fill a cache line.
const CHUNK: usize = 16;
/// Timers more than `2^20` ticks (17.5 minutes of milliseconds) from the reference tick
/// go to the far tree, unless their range has a bucket.
const WINDOW_BITS: u32 = 20;

/// A queue of timers, each a value with an expiry tick.
///
/// ```
/// use ebtree::TimerQueue;
///
/// let mut q = TimerQueue::with_capacity(1000);
/// let check = q.schedule(2_000, "health check");
/// let idle = q.schedule(30_000, "client timeout");
/// assert_eq!(q.next_expiry(0), Some(2_000));
///
/// assert!(q.reschedule(idle, 31_000)); // activity: push the timeout back
/// while let Some((tick, what)) = q.pop_expired(2_000) {
///     assert_eq!((tick, what), (2_000, "health check"));
/// }
/// assert_eq!(q.get(check), None); // popped: the handle is stale
/// assert_eq!(q.expiry(idle), Some(31_000));
/// ```
///
/// Handles stay valid while their timer is pending (also across `reschedule`), and a
/// stale one is detected: every call answers `None` or `false`.
pub struct TimerQueue<V> {
    q: BucketQueue<V, TICK_BITS, CHUNK, WINDOW_BITS>,
}

impl<V> Default for TimerQueue<V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<V: fmt::Debug> fmt::Debug for TimerQueue<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TimerQueue").field(&self.q).finish()
    }
}

impl<V> TimerQueue<V> {
    /// An empty queue. It reserves room on the first `schedule`, and doubles it when
    /// full.
    pub fn new() -> Self {
        TimerQueue {
            q: BucketQueue::new(),
        }
    }

    /// An empty queue with room for `n` timers: while at most `n` are pending, no
    /// operation allocates.
    pub fn with_capacity(n: usize) -> Self {
        TimerQueue {
            q: BucketQueue::with_capacity(n),
        }
    }

    /// Makes room for `n` more timers: while at most `len() + n` are pending, no
    /// operation allocates. (See the module documentation for what that reserves.)
    pub fn reserve(&mut self, n: usize) {
        self.q.reserve(n);
    }

    /// Bytes of heap the queue holds, reserved or in use.
    pub fn heap_bytes(&self) -> usize {
        self.q.heap_bytes()
    }

    /// Number of pending timers.
    #[inline]
    pub fn len(&self) -> usize {
        self.q.len()
    }

    /// Whether no timer is pending.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.q.is_empty()
    }

    /// Cancels every timer, invalidating every handle; the capacity is kept.
    pub fn clear(&mut self) {
        self.q.clear();
    }

    /// Adds a timer expiring at tick `expire`; timers with the same tick expire in the
    /// order they were scheduled.
    #[inline]
    pub fn schedule(&mut self, expire: u32, value: V) -> Handle {
        self.q.schedule(expire, value)
    }

    /// Moves a pending timer to a new expiry, keeping its handle; it expires after the
    /// timers already set for that tick. `false` if the handle is stale.
    #[inline]
    pub fn reschedule(&mut self, h: Handle, expire: u32) -> bool {
        self.q.reschedule(h, expire)
    }

    /// Cancels a pending timer, returning its expiry and value; `None` if stale.
    #[inline]
    pub fn cancel(&mut self, h: Handle) -> Option<(u32, V)> {
        self.q.cancel(h)
    }

    /// The value of a pending timer.
    #[inline]
    pub fn get(&self, h: Handle) -> Option<&V> {
        self.q.get(h)
    }

    /// The value of a pending timer, mutably.
    #[inline]
    pub fn get_mut(&mut self, h: Handle) -> Option<&mut V> {
        self.q.get_mut(h)
    }

    /// The expiry tick of a pending timer.
    #[inline]
    pub fn expiry(&self, h: Handle) -> Option<u32> {
        self.q.expiry(h)
    }

    /// The timer that expires first, seen from `now` (expired or not).
    #[inline]
    pub fn peek(&self, now: u32) -> Option<Handle> {
        self.q.peek(now)
    }

    /// The tick at which the first timer expires, seen from `now`: how long the event
    /// loop may sleep.
    #[inline]
    pub fn next_expiry(&self, now: u32) -> Option<u32> {
        self.q.next_expiry(now)
    }

    /// The first timer that has expired at `now`, left in the queue (to reschedule it).
    #[inline]
    pub fn first_expired(&self, now: u32) -> Option<Handle> {
        self.q.first_expired(now)
    }

    /// Removes and returns the first timer that has expired at `now`, as
    /// `(expiry, value)`. Call it until `None` to run every due timer in order.
    #[inline]
    pub fn pop_expired(&mut self, now: u32) -> Option<(u32, V)> {
        self.q.pop_expired(now)
    }

    /// The timers in wrapping order seen from `now`, as `(handle, expiry, value)`.
    /// It allocates nothing, but sorts each bucket by walking it once per tick present
    /// (up to 64 times): for inspection, not for the event loop.
    pub fn iter(&self, now: u32) -> impl Iterator<Item = (Handle, u32, &V)> + '_ {
        self.q.iter(now)
    }

    /// Bytes of the reservation in use (chunks holding entries, slots made, open
    /// buckets, far timers): for the memory benchmark.
    #[doc(hidden)]
    pub fn used_bytes(&self) -> usize {
        self.q.used_bytes()
    }

    /// Checks the queue's structural invariants, panicking at the first broken one:
    /// for tests (O(n), allocates).
    #[doc(hidden)]
    pub fn check_invariants(&self) {
        self.q.check_invariants();
    }
}
