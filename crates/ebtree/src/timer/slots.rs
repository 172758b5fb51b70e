//! The slot table: what a [`Handle`](crate::Handle)'s slot points to.
//!
//! A handle is `(slot, generation)`. The table maps a slot to where its timer is: the
//! position of its entry in the chunk pool, or [`FAR`] plus its index in the far tree.
//! The generation is not kept here but in the timer's entry (or far-tree value), which
//! an operation reads anyway: popping a timer touches its entry and the top of the
//! free stack, never the table, and arming writes one `u32` into it.
//!
//! A freed slot goes on a stack with the generation its next timer will get, so a slot
//! is reused by the next `schedule` while its table line is still in cache. A slot whose
//! generation went all the way round is retired instead of freed, so that no handle can
//! ever become valid again.

use crate::core::new_generation_base;

/// Marks a slot whose timer is in the far tree; the low 31 bits are the tree index.
pub(super) const FAR: u32 = 1 << 31;
/// No position: a slot that was never armed.
pub(super) const NONE: u32 = u32::MAX;

/// Slot -> location, and the free slots.
#[derive(Debug)]
pub(super) struct SlotTable {
    /// Per slot: an entry position (below [`FAR`]), or `FAR | far index`.
    places: Vec<u32>,
    /// Free slots, each with the generation its next timer gets (LIFO).
    free: Vec<(u32, u32)>,
    /// First generation of every slot (differs between queues).
    generation_base: u32,
}

impl SlotTable {
    pub(super) fn new() -> Self {
        SlotTable {
            places: Vec::new(),
            free: Vec::new(),
            generation_base: new_generation_base(),
        }
    }

    /// Room for `timers` live timers in all: a new slot is only made when every slot
    /// is live, so there are never more slots than the peak number of live timers (plus
    /// retired ones: one per 2^32 reuses of a slot).
    pub(super) fn reserve(&mut self, timers: usize) {
        self.places
            .reserve(timers.saturating_sub(self.places.len()));
        self.free.reserve(timers.saturating_sub(self.free.len()));
    }

    /// A slot for a new timer, and its generation.
    #[inline]
    pub(super) fn alloc(&mut self) -> (u32, u32) {
        if let Some(free) = self.free.pop() {
            return free;
        }
        let slot = self.places.len();
        assert!(
            slot < NONE as usize,
            "TimerQueue: more than 2^32 - 1 timer slots"
        );
        self.places.push(NONE);
        (slot as u32, self.generation_base)
    }

    /// Frees the slot of a timer that is gone; handles `(slot, generation)` go stale.
    #[inline]
    pub(super) fn release(&mut self, slot: u32, generation: u32) {
        let next = generation.wrapping_add(1);
        if next != self.generation_base {
            self.free.push((slot, next));
        }
    }

    /// Where the slot's timer is (or was): `None` for a slot this table never made.
    #[inline]
    pub(super) fn place(&self, slot: u32) -> Option<u32> {
        self.places.get(slot as usize).copied()
    }

    #[inline]
    pub(super) fn set_place(&mut self, slot: u32, place: u32) {
        self.places[slot as usize] = place;
    }

    /// Slots made so far (live, free and retired).
    pub(super) fn slots(&self) -> usize {
        self.places.len()
    }

    /// The free slots, for the invariant check.
    pub(super) fn free_slots(&self) -> &[(u32, u32)] {
        &self.free
    }

    pub(super) fn heap_bytes(&self) -> usize {
        self.places.capacity() * size_of::<u32>() + self.free.capacity() * size_of::<(u32, u32)>()
    }

    /// Bytes of the table in use: a place per slot made, and the free stack.
    pub(super) fn used_bytes(&self) -> usize {
        self.places.len() * size_of::<u32>() + self.free.len() * size_of::<(u32, u32)>()
    }
}
