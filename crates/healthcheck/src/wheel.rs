//! The monitor's queue of pending checks: a hashed timing wheel on millisecond ticks.
//!
//! Checks repeat every few seconds and are due on whole milliseconds, so a ring of
//! 4,096 one-millisecond slots holds nearly all of them: arming one is a push onto its
//! slot's vector, and collecting the due ones walks the slots in order, both touching
//! memory in sequence (a binary heap of 10,000 checks cost a microsecond per pop in
//! cache misses). A bitmap of non-empty slots finds the next due tick in a few word
//! scans. Entries farther than the ring reaches (checks every minute, as keepalived's
//! default `delay_loop`) wait in a heap and move into the ring as it comes near.
//!
//! The wheel stores `(key, stamp)` pairs and never removes one: a caller that cancels
//! or reschedules an entry changes the stamp it expects, and ignores pairs whose stamp
//! is stale when they come due.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Slots in the ring (a power of two): the ring reaches 4.096 s ahead.
const SLOTS: u64 = 4096;
const WORDS: usize = (SLOTS / 64) as usize;

/// A timing wheel of `(key, stamp)` entries on `u64` ticks.
#[derive(Debug)]
pub(crate) struct Wheel {
    /// Every tick before this one has been handed out.
    cursor: u64,
    slots: Vec<Vec<(u32, u64)>>,
    /// Bit `i` set: `slots[i]` is not empty.
    occupied: [u64; WORDS],
    /// Entries due at or after `cursor + SLOTS` when they were added, by tick then
    /// stamp (stamps grow with insertion, so one tick keeps its insertion order).
    far: BinaryHeap<Reverse<(u64, u64, u32)>>,
}

impl Wheel {
    pub(crate) fn new() -> Self {
        Wheel {
            cursor: 0,
            slots: (0..SLOTS).map(|_| Vec::new()).collect(),
            occupied: [0; WORDS],
            far: BinaryHeap::new(),
        }
    }

    /// Adds an entry due at `tick`; a tick already past is due at the next collection.
    pub(crate) fn insert(&mut self, tick: u64, key: u32, stamp: u64) {
        let tick = tick.max(self.cursor);
        if tick - self.cursor < SLOTS {
            self.push_slot(tick, key, stamp);
        } else {
            self.far.push(Reverse((tick, stamp, key)));
        }
    }

    fn push_slot(&mut self, tick: u64, key: u32, stamp: u64) {
        let i = (tick % SLOTS) as usize;
        self.slots[i].push((key, stamp));
        self.occupied[i / 64] |= 1 << (i % 64);
    }

    /// Moves far entries that the ring now reaches into their slots.
    fn migrate(&mut self) {
        while let Some(&Reverse((tick, stamp, key))) = self.far.peek() {
            if tick >= self.cursor + SLOTS {
                break;
            }
            self.far.pop();
            self.push_slot(tick.max(self.cursor), key, stamp);
        }
    }

    /// The first tick at or after the cursor whose slot holds entries.
    fn next_occupied(&self) -> Option<u64> {
        let start = (self.cursor % SLOTS) as usize;
        // Walk the bitmap from the cursor's slot round the ring (WORDS + 1 words, so
        // that the cursor's own word is seen again with its low bits).
        for step in 0..=WORDS {
            let w = (start / 64 + step) % WORDS;
            let mut bits = self.occupied[w];
            if step == 0 {
                bits &= u64::MAX << (start % 64);
            } else if step == WORDS {
                bits &= !(u64::MAX << (start % 64));
            }
            if bits != 0 {
                let i = (w * 64 + bits.trailing_zeros() as usize) as u64;
                let offset = (i + SLOTS - start as u64) % SLOTS;
                return Some(self.cursor + offset);
            }
        }
        None
    }

    /// The earliest tick holding an entry (live or stale), if any.
    pub(crate) fn next_tick(&mut self) -> Option<u64> {
        self.migrate();
        self.next_occupied()
            .or_else(|| self.far.peek().map(|Reverse((t, _, _))| *t))
    }

    /// Appends every entry due at or before `now` to `out`, in tick order (entries of
    /// one tick in the order they were added), and moves the cursor past `now`.
    pub(crate) fn collect_due(&mut self, now: u64, out: &mut impl Extend<(u32, u64)>) {
        loop {
            self.migrate();
            match self.next_occupied() {
                Some(tick) if tick <= now => {
                    let i = (tick % SLOTS) as usize;
                    out.extend(self.slots[i].drain(..));
                    self.occupied[i / 64] &= !(1 << (i % 64));
                    self.cursor = tick + 1;
                }
                _ => {
                    // The ring holds nothing due, so its slots up to `now` are empty:
                    // jump to a due far entry if there is one, else past `now`.
                    if let Some(&Reverse((tick, _, _))) = self.far.peek()
                        && tick <= now
                    {
                        self.cursor = tick;
                        continue;
                    }
                    self.cursor = self.cursor.max(now + 1);
                    self.migrate();
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    #[test]
    fn entries_come_due_in_tick_order_near_and_far() {
        let mut w = Wheel::new();
        w.insert(5, 1, 10);
        w.insert(3, 2, 20);
        w.insert(SLOTS * 3 + 7, 3, 30); // far: beyond the ring
        w.insert(5, 4, 40);
        assert_eq!(w.next_tick(), Some(3));
        let mut out = Vec::new();
        w.collect_due(4, &mut out);
        assert_eq!(out, [(2, 20)]);
        assert_eq!(w.next_tick(), Some(5));
        out.clear();
        w.collect_due(SLOTS, &mut out);
        assert_eq!(out, [(1, 10), (4, 40)], "same tick: insertion order");
        assert_eq!(w.next_tick(), Some(SLOTS * 3 + 7));
        out.clear();
        w.collect_due(SLOTS * 3 + 6, &mut out);
        assert!(out.is_empty());
        w.collect_due(SLOTS * 10, &mut out);
        assert_eq!(out, [(3, 30)]);
        assert_eq!(w.next_tick(), None);
    }

    #[test]
    fn a_past_tick_is_due_at_once() {
        let mut w = Wheel::new();
        let mut out = Vec::new();
        w.collect_due(100, &mut out);
        w.insert(50, 9, 1);
        assert_eq!(w.next_tick(), Some(101));
        w.collect_due(101, &mut out);
        assert_eq!(out, [(9, 1)]);
    }

    #[test]
    fn far_entries_due_by_the_collection_are_not_late() {
        // Found by the property test: an entry exactly one ring away, and two far
        // entries on one tick, which must keep their insertion order.
        let mut w = Wheel::new();
        w.insert(SLOTS, 0, 1);
        let mut out = Vec::new();
        w.collect_due(SLOTS, &mut out);
        assert_eq!(out, [(0, 1)]);
        out.clear();
        w.insert(3 * SLOTS, 20, 2);
        w.insert(3 * SLOTS, 0, 3);
        w.collect_due(3 * SLOTS, &mut out);
        assert_eq!(out, [(20, 2), (0, 3)]);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u64, u32),
        Collect(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u64..3 * SLOTS, 0u32..50).prop_map(|(d, k)| Op::Insert(d, k)),
            (0u64..2 * SLOTS).prop_map(Op::Collect),
        ]
    }

    proptest! {
        /// Against a model: a sorted map from tick to entries, with the wheel's rule
        /// that a tick already collected past is due at the next one.
        #[test]
        fn matches_a_sorted_map(ops in proptest::collection::vec(op(), 1..200)) {
            let mut w = Wheel::new();
            let mut model: BTreeMap<u64, Vec<(u32, u64)>> = BTreeMap::new();
            let (mut now, mut cursor, mut stamp) = (0u64, 0u64, 0u64);
            for op in ops {
                match op {
                    Op::Insert(delay, key) => {
                        stamp += 1;
                        w.insert(now + delay, key, stamp);
                        model.entry((now + delay).max(cursor)).or_default().push((key, stamp));
                    }
                    Op::Collect(advance) => {
                        now += advance;
                        cursor = cursor.max(now + 1);
                        let mut got = Vec::new();
                        w.collect_due(now, &mut got);
                        let later = model.split_off(&(now + 1));
                        let want: Vec<_> = std::mem::replace(&mut model, later)
                            .into_values()
                            .flatten()
                            .collect();
                        prop_assert_eq!(got, want);
                        prop_assert_eq!(w.next_tick(), model.keys().next().copied());
                    }
                }
            }
        }
    }
}
