//! Far timers: those whose `2^K`-tick range has no bucket, one [`EbTree`] entry each.
//!
//! A timer goes here when its expiry is more than `2^HB` ticks from the queue's
//! reference tick, or when the queue has as many buckets as its reservation allows. A
//! range's timers are all here or all in its bucket, never split, so timers of equal
//! expiry are always in one structure and keep their FIFO order: the tree keeps equal
//! keys in insertion order, and a range's far timers move into a new bucket in that
//! order. Sparse, far-away timers thus cost one tree node each instead of a chunk each.
//!
//! The tree is keyed by the raw tick; its order differs from the wrapping order by a
//! rotation, so the next far timer seen from `now` is the first at or after the
//! look-back split, or the first of all (HAProxy's `wake_expired_tasks`).

use crate::EbTree;
use crate::core::Node;
use crate::key::BitsProbe;
use crate::tree::Iter;
use std::iter::Chain;

/// A far timer's identity and value (its expiry is the tree key).
#[derive(Debug)]
pub(super) struct FarTimer<V> {
    pub(super) slot: u32,
    pub(super) generation: u32,
    pub(super) value: V,
}

/// The far timers, by expiry.
#[derive(Debug)]
pub(super) struct FarTimers<V> {
    tree: EbTree<u32, FarTimer<V>>,
}

impl<V> FarTimers<V> {
    pub(super) fn new() -> Self {
        FarTimers {
            tree: EbTree::new(),
        }
    }

    /// Room for `timers` far timers in all.
    pub(super) fn reserve(&mut self, timers: usize) {
        self.tree.reserve(timers.saturating_sub(self.tree.len()));
    }

    #[inline(always)]
    pub(super) fn len(&self) -> usize {
        self.tree.len()
    }

    #[inline(always)]
    pub(super) fn is_empty(&self) -> bool {
        self.tree.is_empty()
    }

    /// Adds a timer; returns its index in the tree's arena.
    #[inline]
    pub(super) fn insert(&mut self, expiry: u32, timer: FarTimer<V>) -> u32 {
        self.tree.insert(expiry, timer).idx
    }

    /// Removes the live timer at `index`: `(expiry, timer)`.
    #[inline]
    pub(super) fn remove(&mut self, index: u32) -> (u32, FarTimer<V>) {
        self.tree.core.remove(index)
    }

    /// The timer at `index` if it is live and has this handle.
    #[inline]
    pub(super) fn find(&self, index: u32, slot: u32, generation: u32) -> Option<u32> {
        let core = &self.tree.core;
        let t = core.is_linked(index).then(|| core.val(index))?;
        (t.slot == slot && t.generation == generation).then_some(index)
    }

    #[inline]
    pub(super) fn expiry(&self, index: u32) -> u32 {
        *self.tree.core.key(index)
    }

    #[inline]
    pub(super) fn timer(&self, index: u32) -> &FarTimer<V> {
        self.tree.core.val(index)
    }

    #[inline]
    pub(super) fn timer_mut(&mut self, index: u32) -> &mut FarTimer<V> {
        self.tree.core.val_mut(index)
    }

    /// The next far timer in the wrapping order that starts at `split`:
    /// `(index, expiry)`.
    #[inline]
    pub(super) fn next_from(&self, split: u32) -> Option<(u32, u32)> {
        let core = &self.tree.core;
        let first = core.first()?;
        let k = *core.key(first);
        if k >= split {
            // The smallest key is past the split: it is the answer, without a descent.
            return Some((first, k));
        }
        match core.lookup_ge(&BitsProbe(split)) {
            Some(i) => Some((i, *core.key(i))),
            None => Some((first, k)),
        }
    }

    /// The first far timer of the range starting at `key` (`tick_mask` its low bits):
    /// `(index, expiry)`.
    pub(super) fn first_in_range(&self, key: u32, tick_mask: u32) -> Option<(u32, u32)> {
        let core = &self.tree.core;
        let i = core.lookup_ge(&BitsProbe(key))?;
        let k = *core.key(i);
        (k & !tick_mask == key).then_some((i, k))
    }

    /// The far timers in the wrapping order that starts at `split`.
    pub(super) fn iter_from(
        &self,
        split: u32,
    ) -> Chain<Iter<'_, u32, FarTimer<V>>, Iter<'_, u32, FarTimer<V>>> {
        self.tree.range(split..).chain(self.tree.range(..split))
    }

    /// The far timers in tick order, with their indices (for `clear` and the checks).
    pub(super) fn entries(&self) -> impl Iterator<Item = (u32, u32, &FarTimer<V>)> + '_ {
        self.tree.iter().map(|(h, k, t)| (h.idx, k, t))
    }

    pub(super) fn clear(&mut self) {
        self.tree.clear();
    }

    pub(super) fn heap_bytes(&self) -> usize {
        self.tree.heap_bytes()
    }

    pub(super) fn used_bytes(&self) -> usize {
        self.tree.len() * size_of::<Node<u32, FarTimer<V>>>()
    }
}
