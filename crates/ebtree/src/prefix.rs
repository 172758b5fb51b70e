//! `PrefixTree`: fixed-width keys with prefix lengths, and longest-prefix match.
//!
//! A prefix `p/len` is encoded as the bit string `1 p0 1 p1 … 1 p(len-1) 0`: every key
//! bit is preceded by a 1, and a 0 ends the prefix. No encoded prefix is a prefix of
//! another, so the engine's radix tree holds them as it holds any key, and:
//!
//! - a node at an odd position `2i + 1` branches on key bit `i` (a *normal* node);
//! - a node at an even position `2m` separates the entries that are exactly the
//!   `m`-bit prefix (left) from the longer ones it covers (right): HAProxy's *cover*
//!   node.
//!
//! A longest-prefix match walks down along the address, remembering the left side of
//! the last cover node it passed while the bits still agreed; if the walk ends on a
//! leaf that does not cover the address, that remembered entry is the answer.

use crate::core::{Core, Probe, Span};
use crate::key::Key;
use crate::key::private::Bits;
use crate::{Error, Handle};
use std::fmt;

/// A key and its prefix length, as stored.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub(crate) struct Pfx<B> {
    bits: B,
    len: u32,
}

struct PfxProbe<B>(Pfx<B>);

impl<B: Bits> Probe<Pfx<B>> for PfxProbe<B> {
    #[inline(always)]
    fn diff(&self, _idx: u32, key: &Pfx<B>, _from: u32) -> Option<u32> {
        let m = self.0.len.min(key.len);
        match self.0.bits.first_diff(&key.bits) {
            Some(d) if d < m => Some(2 * d + 1),
            _ if self.0.len == key.len => None,
            _ => Some(2 * m),
        }
    }

    #[inline(always)]
    fn side(&self, pos: u32) -> usize {
        let i = pos / 2;
        if pos % 2 == 0 {
            usize::from(i < self.0.len)
        } else if i < self.0.len {
            self.0.bits.bit(i)
        } else {
            0
        }
    }
}

/// An elastic binary tree of prefixes (`key/len`) on fixed-width keys: a CIDR table
/// for `PrefixTree<Ipv4Addr, V>` or `PrefixTree<Ipv6Addr, V>`.
///
/// Entries are ordered by their bits, a prefix before the longer prefixes it covers;
/// equal prefixes are kept in insertion order. Bits of a key beyond its prefix length
/// are ignored (cleared on insertion).
///
/// ```
/// use ebtree::PrefixTree;
/// use std::net::Ipv4Addr;
///
/// let mut routes = PrefixTree::new();
/// routes.insert_prefix(Ipv4Addr::new(10, 0, 0, 0), 8, "ten")?;
/// routes.insert_prefix(Ipv4Addr::new(10, 1, 0, 0), 16, "ten-one")?;
/// routes.insert_prefix(Ipv4Addr::new(0, 0, 0, 0), 0, "default")?;
///
/// let hit = |a| routes.lookup_longest(a).and_then(|h| routes.get(h)).copied();
/// assert_eq!(hit(Ipv4Addr::new(10, 1, 2, 3)), Some("ten-one"));
/// assert_eq!(hit(Ipv4Addr::new(10, 2, 2, 3)), Some("ten"));
/// assert_eq!(hit(Ipv4Addr::new(192, 0, 2, 1)), Some("default"));
/// # Ok::<(), ebtree::Error>(())
/// ```
pub struct PrefixTree<K: Key, V> {
    core: Core<Pfx<K::Raw>, V>,
}

impl<K: Key, V> Default for PrefixTree<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Key, V: fmt::Debug> fmt::Debug for PrefixTree<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.iter().map(|(_, k, len, v)| (k, len, v)))
            .finish()
    }
}

impl<K: Key, V> PrefixTree<K, V> {
    /// An empty tree.
    pub fn new() -> Self {
        Self::with_capacity(0)
    }

    /// An empty tree with room for `n` entries.
    pub fn with_capacity(n: usize) -> Self {
        PrefixTree {
            core: Core::with_capacity(n),
        }
    }

    /// Makes room for `n` more entries: inserting them will not allocate.
    pub fn reserve(&mut self, n: usize) {
        self.core.reserve(n);
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

    fn pfx(key: K, len: u32) -> Result<Pfx<K::Raw>, Error> {
        let max = K::Raw::BITS;
        if len > max {
            return Err(Error::PrefixTooLong { len, max });
        }
        Ok(Pfx {
            bits: key.to_raw().keep_prefix(len),
            len,
        })
    }

    fn full(key: K) -> Pfx<K::Raw> {
        Pfx {
            bits: key.to_raw(),
            len: K::Raw::BITS,
        }
    }

    /// Inserts a full-width key (a host route, for addresses).
    pub fn insert(&mut self, key: K, value: V) -> Handle {
        let p = Self::full(key);
        let plan = self.core.plan(&PfxProbe(p));
        let i = self.core.insert_planned(plan, p, value);
        self.core.handle(i)
    }

    /// Inserts the prefix `key/len`; equal prefixes go after the existing ones.
    pub fn insert_prefix(&mut self, key: K, len: u32, value: V) -> Result<Handle, Error> {
        let p = Self::pfx(key, len)?;
        let plan = self.core.plan(&PfxProbe(p));
        let i = self.core.insert_planned(plan, p, value);
        Ok(self.core.handle(i))
    }

    /// Inserts the prefix `key/len` unless it is present: then `Ok(Err(existing))`.
    pub fn insert_prefix_unique(
        &mut self,
        key: K,
        len: u32,
        value: V,
    ) -> Result<Result<Handle, Handle>, Error> {
        let p = Self::pfx(key, len)?;
        let plan = self.core.plan(&PfxProbe(p));
        if let Some(i) = plan.existing(&self.core) {
            return Ok(Err(self.core.handle(i)));
        }
        let i = self.core.insert_planned(plan, p, value);
        Ok(Ok(self.core.handle(i)))
    }

    /// Removes an entry, returning its key, prefix length and value; `None` if stale.
    pub fn remove(&mut self, h: Handle) -> Option<(K, u32, V)> {
        let i = self.core.resolve(h)?;
        let (p, v) = self.core.remove(i);
        Some((K::from_raw(p.bits), p.len, v))
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

    /// The key and prefix length of an entry.
    pub fn key(&self, h: Handle) -> Option<(K, u32)> {
        let i = self.core.resolve(h)?;
        let p = self.core.key(i);
        Some((K::from_raw(p.bits), p.len))
    }

    /// The first entry whose prefix is exactly the full-width `key`.
    pub fn lookup(&self, key: K) -> Option<Handle> {
        let i = self.core.lookup(&PfxProbe(Self::full(key)))?;
        Some(self.core.handle(i))
    }

    /// The first entry whose prefix is exactly `key/len`.
    pub fn lookup_prefix(&self, key: K, len: u32) -> Option<Handle> {
        let p = Self::pfx(key, len).ok()?;
        let i = self.core.lookup(&PfxProbe(p))?;
        Some(self.core.handle(i))
    }

    /// The entry with the longest prefix covering `addr` (the first inserted, among
    /// equal prefixes).
    pub fn lookup_longest(&self, addr: K) -> Option<Handle> {
        let probe = PfxProbe(Self::full(addr));
        let mut cover = None;
        let end = self.core.descend_path(&probe, |q, left, _right| {
            if q % 2 == 0 {
                // A cover node the address passes through on its right: its left side
                // holds the entries that are exactly this shorter prefix.
                cover = Some(left);
            }
        });
        let i = match end {
            Some((link, diff)) => {
                let leaf = self.core.walk_down(link, crate::core::LEFT);
                let len = self.core.key(leaf).len;
                // The leaf covers the address if they differ only past its length.
                if diff.is_none_or(|d| d == 2 * len) {
                    Some(leaf)
                } else {
                    cover.map(|c| self.core.walk_down(c, crate::core::LEFT))
                }
            }
            None => cover.map(|c| self.core.walk_down(c, crate::core::LEFT)),
        }?;
        Some(self.core.handle(i))
    }

    /// The first entry in order.
    pub fn first(&self) -> Option<Handle> {
        self.core.first().map(|i| self.core.handle(i))
    }

    /// The last entry in order.
    pub fn last(&self) -> Option<Handle> {
        self.core.last().map(|i| self.core.handle(i))
    }

    /// The entry after `h`; `None` at the end or if `h` is stale.
    pub fn next(&self, h: Handle) -> Option<Handle> {
        let i = self.core.resolve(h)?;
        self.core.next(i).map(|i| self.core.handle(i))
    }

    /// The entry before `h`; `None` at the start or if `h` is stale.
    pub fn prev(&self, h: Handle) -> Option<Handle> {
        let i = self.core.resolve(h)?;
        self.core.prev(i).map(|i| self.core.handle(i))
    }

    /// All entries in order, as `(handle, key, prefix length, value)`.
    pub fn iter(&self) -> PrefixIter<'_, K, V> {
        PrefixIter {
            core: &self.core,
            span: Span::new(self.core.first().zip(self.core.last())),
        }
    }

    #[cfg(test)]
    pub(crate) fn check(&self) {
        self.core.check();
    }
}

/// The iterator of [`PrefixTree::iter`].
pub struct PrefixIter<'a, K: Key, V> {
    core: &'a Core<Pfx<K::Raw>, V>,
    span: Span,
}

impl<'a, K: Key, V> Iterator for PrefixIter<'a, K, V> {
    type Item = (Handle, K, u32, &'a V);

    fn next(&mut self) -> Option<Self::Item> {
        let i = self.span.next(self.core)?;
        let p = self.core.key(i);
        Some((
            self.core.handle(i),
            K::from_raw(p.bits),
            p.len,
            self.core.val(i),
        ))
    }
}

impl<K: Key, V> DoubleEndedIterator for PrefixIter<'_, K, V> {
    fn next_back(&mut self) -> Option<Self::Item> {
        let i = self.span.next_back(self.core)?;
        let p = self.core.key(i);
        Some((
            self.core.handle(i),
            K::from_raw(p.bits),
            p.len,
            self.core.val(i),
        ))
    }
}
