//! `EbTree`: an ordered multimap on fixed-width keys (integers, byte arrays, addresses).

use crate::Handle;
use crate::core::{Core, Span};
use crate::key::{BitsProbe, Key};
use std::fmt;
use std::ops::{Bound, RangeBounds};

/// How far `rekey` walks up from the entry's neighbour before it searches from the root
/// instead: a few steps in cache are cheaper than a root descent, a whole path is not.
const REKEY_MAX_UP: u32 = 12;

/// An elastic binary tree on fixed-width keys, with values of type `V`.
///
/// Entries are ordered by key, and entries with equal keys by insertion order. Each
/// entry is named by a [`Handle`] that stays valid until the entry is removed. Insert
/// and lookup cost at most one step per key bit, removal by handle is O(1), `next` and
/// `prev` take two steps on average, and once [`reserve`](EbTree::reserve)d, insertion
/// and removal allocate nothing.
pub struct EbTree<K: Key, V> {
    pub(crate) core: Core<K::Raw, V>,
}

impl<K: Key, V> Default for EbTree<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Key, V: fmt::Debug> fmt::Debug for EbTree<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.iter().map(|(_, k, v)| (k, v)))
            .finish()
    }
}

impl<K: Key, V> EbTree<K, V> {
    /// An empty tree.
    pub fn new() -> Self {
        Self::with_capacity(0)
    }

    /// An empty tree with room for `n` entries.
    pub fn with_capacity(n: usize) -> Self {
        EbTree {
            core: Core::with_capacity(n),
        }
    }

    /// Makes room for `n` more entries: inserting them will not allocate.
    pub fn reserve(&mut self, n: usize) {
        self.core.reserve(n);
    }

    /// How many entries the tree can hold without allocating.
    pub fn capacity(&self) -> usize {
        self.core.capacity().saturating_sub(1)
    }

    /// Bytes of heap the tree holds (its arena, including unused capacity).
    pub fn heap_bytes(&self) -> usize {
        self.core.heap_bytes()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.core.len()
    }

    /// Whether the tree has no entry.
    pub fn is_empty(&self) -> bool {
        self.core.len() == 0
    }

    /// Removes every entry, invalidating every handle; the capacity is kept.
    pub fn clear(&mut self) {
        self.core.clear();
    }

    /// Inserts an entry; an entry with an equal key goes after the existing ones.
    pub fn insert(&mut self, key: K, value: V) -> Handle {
        let raw = key.to_raw();
        let plan = self.core.plan(&BitsProbe(raw));
        let i = self.core.insert_planned(plan, raw, value);
        self.core.handle(i)
    }

    /// Inserts an entry unless the key is present, in which case the first entry with
    /// that key is returned as the error and `value` is dropped. A tree filled only with
    /// `insert_unique` is a unique-key tree.
    pub fn insert_unique(&mut self, key: K, value: V) -> Result<Handle, Handle> {
        let raw = key.to_raw();
        let plan = self.core.plan(&BitsProbe(raw));
        if let Some(i) = plan.existing(&self.core) {
            return Err(self.core.handle(i));
        }
        let i = self.core.insert_planned(plan, raw, value);
        Ok(self.core.handle(i))
    }

    /// Inserts an entry starting the search from the live entry `hint` rather than from
    /// the root: faster when the key is close to the hint's (same upper bits), as
    /// successive keys often are. A stale hint only makes it a plain [`insert`].
    ///
    /// [`insert`]: EbTree::insert
    pub fn insert_near(&mut self, hint: Handle, key: K, value: V) -> Handle {
        let raw = key.to_raw();
        let plan = match self.core.resolve(hint) {
            Some(f) => self.core.plan_near(&BitsProbe(raw), f, u32::MAX),
            None => self.core.plan(&BitsProbe(raw)),
        };
        let i = self.core.insert_planned(plan, raw, value);
        self.core.handle(i)
    }

    /// Removes an entry, returning its key and value; `None` if the handle is stale.
    pub fn remove(&mut self, h: Handle) -> Option<(K, V)> {
        let i = self.core.resolve(h)?;
        let (raw, v) = self.core.remove(i);
        Some((K::from_raw(raw), v))
    }

    /// Moves an entry to a new key, keeping its handle and value (it goes after the
    /// entries already holding that key). Returns `false` if the handle is stale.
    ///
    /// This is how a timer is re-armed or a server's load updated without allocating
    /// and without handing out a new handle.
    ///
    /// A move that keeps the entry between its neighbours' subtrees is done in place, in
    /// O(1); otherwise the search starts from the entry's neighbour, and from the root
    /// only when the new place is far.
    pub fn rekey(&mut self, h: Handle, key: K) -> bool {
        let Some(i) = self.core.resolve(h) else {
            return false;
        };
        let raw = key.to_raw();
        let probe = BitsProbe(raw);
        if self.core.fits_in_place(&probe, i) {
            self.core.set_key(i, raw);
            return true;
        }
        let finger = self.core.next(i).or_else(|| self.core.prev(i));
        self.core.unlink(i);
        let plan = match finger {
            Some(f) => self.core.plan_near(&probe, f, REKEY_MAX_UP),
            None => self.core.plan(&probe),
        };
        self.core.set_key(i, raw);
        self.core.link(plan, i);
        true
    }

    /// The value of an entry.
    pub fn get(&self, h: Handle) -> Option<&V> {
        let i = self.core.resolve(h)?;
        Some(self.core.val(i))
    }

    /// The value of an entry, mutably.
    pub fn get_mut(&mut self, h: Handle) -> Option<&mut V> {
        let i = self.core.resolve(h)?;
        Some(self.core.val_mut(i))
    }

    /// The key of an entry.
    pub fn key(&self, h: Handle) -> Option<K> {
        let i = self.core.resolve(h)?;
        Some(K::from_raw(*self.core.key(i)))
    }

    /// The key and value of an entry.
    pub fn entry(&self, h: Handle) -> Option<(K, &V)> {
        let i = self.core.resolve(h)?;
        Some((K::from_raw(*self.core.key(i)), self.core.val(i)))
    }

    /// Whether the handle names a live entry of this tree.
    pub fn contains(&self, h: Handle) -> bool {
        self.core.resolve(h).is_some()
    }

    /// The entry with the smallest key (the first inserted among equals).
    pub fn first(&self) -> Option<Handle> {
        self.core.first().map(|i| self.core.handle(i))
    }

    /// The entry with the largest key (the last inserted among equals).
    pub fn last(&self) -> Option<Handle> {
        self.core.last().map(|i| self.core.handle(i))
    }

    /// The entry after `h`, duplicates included; `None` at the end or if `h` is stale.
    pub fn next(&self, h: Handle) -> Option<Handle> {
        let i = self.core.resolve(h)?;
        self.core.next(i).map(|i| self.core.handle(i))
    }

    /// The entry before `h`, duplicates included; `None` at the start or if `h` is stale.
    pub fn prev(&self, h: Handle) -> Option<Handle> {
        let i = self.core.resolve(h)?;
        self.core.prev(i).map(|i| self.core.handle(i))
    }

    /// The first entry with this key.
    pub fn lookup(&self, key: K) -> Option<Handle> {
        let i = self.core.lookup(&BitsProbe(key.to_raw()))?;
        Some(self.core.handle(i))
    }

    /// The last entry with the largest key `<= key`.
    pub fn lookup_le(&self, key: K) -> Option<Handle> {
        let i = self.core.lookup_le(&BitsProbe(key.to_raw()))?;
        Some(self.core.handle(i))
    }

    /// The first entry with the smallest key `>= key`.
    pub fn lookup_ge(&self, key: K) -> Option<Handle> {
        let i = self.core.lookup_ge(&BitsProbe(key.to_raw()))?;
        Some(self.core.handle(i))
    }

    /// The last entry with the largest key `< key`.
    pub fn lookup_lt(&self, key: K) -> Option<Handle> {
        self.lookup_lt_idx(key).map(|i| self.core.handle(i))
    }

    /// The first entry with the smallest key `> key`.
    pub fn lookup_gt(&self, key: K) -> Option<Handle> {
        self.lookup_gt_idx(key).map(|i| self.core.handle(i))
    }

    /// Removes and returns the first entry.
    pub fn pop_first(&mut self) -> Option<(K, V)> {
        let i = self.core.first()?;
        let (raw, v) = self.core.remove(i);
        Some((K::from_raw(raw), v))
    }

    /// Removes and returns the last entry.
    pub fn pop_last(&mut self) -> Option<(K, V)> {
        let i = self.core.last()?;
        let (raw, v) = self.core.remove(i);
        Some((K::from_raw(raw), v))
    }

    /// All entries in order: by key, then by insertion.
    pub fn iter(&self) -> Iter<'_, K, V> {
        let ends = self.core.first().zip(self.core.last());
        Iter {
            core: &self.core,
            span: Span::new(ends),
        }
    }

    /// The entries whose keys are in `r`, in order.
    pub fn range<R: RangeBounds<K>>(&self, r: R) -> Iter<'_, K, V> {
        let front = match r.start_bound() {
            Bound::Included(&k) => self.core.lookup_ge(&BitsProbe(k.to_raw())),
            Bound::Excluded(&k) => self.lookup_gt_idx(k),
            Bound::Unbounded => self.core.first(),
        };
        let back = match r.end_bound() {
            Bound::Included(&k) => self.core.lookup_le(&BitsProbe(k.to_raw())),
            Bound::Excluded(&k) => self.lookup_lt_idx(k),
            Bound::Unbounded => self.core.last(),
        };
        // The front is always the first entry of its key and the back the last of its
        // own, so ordered keys mean ordered entries.
        let key = |i| K::from_raw(*self.core.key(i));
        let ends = front.zip(back).filter(|&(f, b)| key(f) <= key(b));
        Iter {
            core: &self.core,
            span: Span::new(ends),
        }
    }

    fn lookup_lt_idx(&self, key: K) -> Option<u32> {
        match self.core.lookup_ge(&BitsProbe(key.to_raw())) {
            Some(i) => self.core.prev(i),
            None => self.core.last(),
        }
    }

    fn lookup_gt_idx(&self, key: K) -> Option<u32> {
        match self.core.lookup_le(&BitsProbe(key.to_raw())) {
            Some(i) => self.core.next(i),
            None => self.core.first(),
        }
    }

    #[cfg(test)]
    pub(crate) fn check(&self) {
        self.core.check();
    }

    #[cfg(test)]
    pub(crate) fn depths(&self) -> (usize, f64) {
        self.core.depths()
    }
}

/// The iterator of [`EbTree::iter`] and [`EbTree::range`].
pub struct Iter<'a, K: Key, V> {
    core: &'a Core<K::Raw, V>,
    span: Span,
}

impl<'a, K: Key, V> Iterator for Iter<'a, K, V> {
    type Item = (Handle, K, &'a V);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let i = self.span.next(self.core)?;
        Some((
            self.core.handle(i),
            K::from_raw(*self.core.key(i)),
            self.core.val(i),
        ))
    }
}

impl<K: Key, V> DoubleEndedIterator for Iter<'_, K, V> {
    #[inline]
    fn next_back(&mut self) -> Option<Self::Item> {
        let i = self.span.next_back(self.core)?;
        Some((
            self.core.handle(i),
            K::from_raw(*self.core.key(i)),
            self.core.val(i),
        ))
    }
}

impl<'a, K: Key, V> IntoIterator for &'a EbTree<K, V> {
    type Item = (Handle, K, &'a V);
    type IntoIter = Iter<'a, K, V>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}
