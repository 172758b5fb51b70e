//! `TimerQueue`: timers on wrapping `u32` millisecond ticks, as HAProxy's wait queue.
//!
//! Ticks wrap around every 49.7 days, so "earlier" is decided by the sign of the
//! wrapping difference, which is exact as long as every pending timer is less than
//! 2^31 ms (24.8 days) away from `now`. The timers live in an [`EbTree`] keyed by the
//! raw tick, whose order differs from the wrapping order only by a rotation: the next
//! timer to expire is the first one at or after `now - 2^31`, or, if there is none,
//! the first of the tree (the keys wrapped). This is HAProxy's `wake_expired_tasks`
//! with its `TIMER_LOOK_BACK` of 2^31.

use crate::core::Plan;
use crate::key::BitsProbe;
use crate::{EbTree, Handle};

/// How far back in time the search for expired timers starts.
const LOOK_BACK: u32 = 1 << 31;

/// How many recently armed timers are remembered as starting points for the next.
const FINGERS: usize = 8;

/// A finger is used when it shares this many leading bits with the new expiry (they
/// are less than 256 ticks apart); farther, a descent from the root is cheaper.
const NEAR_BITS: u32 = 24;

/// Whether tick `a` comes before tick `b`, in wrapping order.
#[inline]
pub fn tick_is_lt(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

/// Whether a timer set for `expire` has expired at `now` (`expire <= now`, wrapping).
#[inline]
pub fn tick_is_expired(expire: u32, now: u32) -> bool {
    !tick_is_lt(now, expire)
}

/// A queue of timers, each a value with an expiry tick.
///
/// ```
/// use ebtree::TimerQueue;
///
/// let mut q = TimerQueue::new();
/// let now = u32::MAX - 5; // about to wrap
/// let late = q.schedule(now.wrapping_add(10), "late"); // expires at tick 4
/// q.schedule(now + 3, "soon");
///
/// assert_eq!(q.pop_expired(now), None);
/// assert_eq!(q.pop_expired(now.wrapping_add(10)).map(|(_, v)| v), Some("soon"));
/// assert_eq!(q.next_expiry(now), Some(4));
/// assert!(q.reschedule(late, 100)); // same handle, new expiry
/// assert_eq!(q.pop_expired(50), None);
/// assert_eq!(q.pop_expired(100), Some((100, "late")));
/// ```
///
/// # Why it is fast
///
/// Servers arm timers with a handful of timeouts, so a new expiry is usually a few ticks
/// from one armed shortly before. The queue remembers the last few timers it armed and
/// inserts next to the closest one (walking up to their common ancestor and down again)
/// instead of descending from the root; the first timer is cached, so finding the next
/// one to expire costs one step.
#[derive(Debug)]
pub struct TimerQueue<V> {
    tree: EbTree<u32, V>,
    /// Expiries and slots of recently armed timers (a ring); any may since have been
    /// removed or moved, which only makes it a worse starting point.
    finger_keys: [u32; FINGERS],
    finger_slots: [u32; FINGERS],
    next_finger: usize,
}

impl<V> Default for TimerQueue<V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<V> TimerQueue<V> {
    /// An empty queue.
    pub fn new() -> Self {
        Self::with_capacity(0)
    }

    /// An empty queue with room for `n` timers.
    pub fn with_capacity(n: usize) -> Self {
        TimerQueue {
            tree: EbTree::with_capacity(n),
            finger_keys: [0; FINGERS],
            finger_slots: [u32::MAX; FINGERS],
            next_finger: 0,
        }
    }

    /// Makes room for `n` more timers: scheduling them will not allocate.
    pub fn reserve(&mut self, n: usize) {
        self.tree.reserve(n);
    }

    /// Bytes of heap the queue holds.
    pub fn heap_bytes(&self) -> usize {
        self.tree.heap_bytes()
    }

    /// Number of pending timers.
    pub fn len(&self) -> usize {
        self.tree.len()
    }

    /// Whether no timer is pending.
    pub fn is_empty(&self) -> bool {
        self.tree.is_empty()
    }

    /// Cancels every timer, invalidating every handle.
    pub fn clear(&mut self) {
        self.tree.clear();
    }

    /// Adds a timer expiring at tick `expire`; timers with the same tick expire in the
    /// order they were scheduled.
    pub fn schedule(&mut self, expire: u32, value: V) -> Handle {
        let plan = self.plan(expire);
        let i = self.tree.core.insert_planned(plan, expire, value);
        self.remember(i, expire);
        self.tree.core.handle(i)
    }

    /// Moves a pending timer to a new expiry, keeping its handle. `false` if stale.
    pub fn reschedule(&mut self, h: Handle, expire: u32) -> bool {
        let Some(i) = self.tree.core.resolve(h) else {
            return false;
        };
        if self.tree.core.fits_in_place(&BitsProbe(expire), i) {
            self.tree.core.set_key(i, expire);
            self.remember(i, expire);
            return true;
        }
        self.tree.core.unlink(i);
        let plan = self.plan(expire);
        self.tree.core.set_key(i, expire);
        self.tree.core.link(plan, i);
        self.remember(i, expire);
        true
    }

    /// Where a timer expiring at `expire` goes: found from the nearest recently armed
    /// timer if one is near enough, else from the root.
    #[inline]
    fn plan(&self, expire: u32) -> Plan {
        let core = &self.tree.core;
        let probe = BitsProbe(expire);
        // The finger sharing the most leading bits is the one whose key XOR is smallest:
        // a branch-free minimum over the ring, then its position.
        let nearest = self
            .finger_keys
            .iter()
            .fold(u32::MAX, |m, &k| m.min(k ^ expire));
        if nearest.leading_zeros() >= NEAR_BITS {
            let best = self
                .finger_keys
                .iter()
                .position(|&k| k ^ expire == nearest)
                .unwrap_or(0);
            // Falls back to the root if that timer is gone.
            core.plan_near(&probe, self.finger_slots[best], u32::MAX)
        } else {
            core.plan(&probe)
        }
    }

    #[inline]
    fn remember(&mut self, i: u32, expire: u32) {
        self.finger_keys[self.next_finger] = expire;
        self.finger_slots[self.next_finger] = i;
        self.next_finger = (self.next_finger + 1) % FINGERS;
    }

    /// Cancels a pending timer, returning its expiry and value; `None` if stale.
    pub fn cancel(&mut self, h: Handle) -> Option<(u32, V)> {
        self.tree.remove(h)
    }

    /// The value of a pending timer.
    pub fn get(&self, h: Handle) -> Option<&V> {
        self.tree.get(h)
    }

    /// The value of a pending timer, mutably.
    pub fn get_mut(&mut self, h: Handle) -> Option<&mut V> {
        self.tree.get_mut(h)
    }

    /// The expiry tick of a pending timer.
    pub fn expiry(&self, h: Handle) -> Option<u32> {
        self.tree.key(h)
    }

    /// The slot of the timer that expires first, seen from `now`.
    #[inline]
    fn peek_slot(&self, now: u32) -> Option<u32> {
        let core = &self.tree.core;
        let first = core.first()?;
        let split = now.wrapping_sub(LOOK_BACK);
        if *core.key(first) >= split {
            // The smallest key is past the split: it is the answer, without a descent.
            return Some(first);
        }
        core.lookup_ge(&BitsProbe(split)).or(Some(first))
    }

    /// The slot of the first timer that has expired at `now`.
    #[inline]
    fn expired_slot(&self, now: u32) -> Option<u32> {
        let i = self.peek_slot(now)?;
        tick_is_expired(*self.tree.core.key(i), now).then_some(i)
    }

    /// The timer that expires first, seen from `now` (expired or not).
    pub fn peek(&self, now: u32) -> Option<Handle> {
        self.peek_slot(now).map(|i| self.tree.core.handle(i))
    }

    /// The tick at which the first timer expires, seen from `now`: how long the event
    /// loop may sleep.
    pub fn next_expiry(&self, now: u32) -> Option<u32> {
        self.peek_slot(now).map(|i| *self.tree.core.key(i))
    }

    /// The first timer that has expired at `now`, left in the queue (to reschedule it).
    pub fn first_expired(&self, now: u32) -> Option<Handle> {
        self.expired_slot(now).map(|i| self.tree.core.handle(i))
    }

    /// Removes and returns the first timer that has expired at `now`, as
    /// `(expiry, value)`. Call it until `None` to run every due timer in order.
    pub fn pop_expired(&mut self, now: u32) -> Option<(u32, V)> {
        let i = self.expired_slot(now)?;
        Some(self.tree.core.remove(i))
    }

    #[cfg(test)]
    pub(crate) fn tree(&self) -> &EbTree<u32, V> {
        &self.tree
    }

    /// The timers in wrapping order seen from `now`, as `(handle, expiry, value)`.
    pub fn iter(&self, now: u32) -> impl Iterator<Item = (Handle, u32, &V)> + '_ {
        let split = now.wrapping_sub(LOOK_BACK);
        self.tree.range(split..).chain(self.tree.range(..split))
    }
}
