//! `BytesTree`: variable-length byte strings.
//!
//! A string is encoded as the bit string `1 b0 1 b1 … 0`: each byte is preceded by a 1
//! and a 0 ends the string (9 bits per byte). The encoding keeps the order of `[u8]`
//! and no encoded string is a prefix of another, which is what the radix tree needs;
//! unlike HAProxy's string trees, keys may contain zero bytes. Keys are kept beside the
//! values, as the caller's own type (`String`, `Vec<u8>`, `&str`, `Box<[u8]>`, …), and
//! the tree itself never allocates for them.

use crate::Handle;
use crate::core::{Core, Probe, Span};
use std::fmt;
use std::ops::Bound;

/// Longest key, so that its bit positions fit a node's `i32`.
const MAX_KEY_LEN: usize = (i32::MAX / 9) as usize - 1;

/// Position of the first differing bit between the encodings of `a` and `b`, knowing
/// that they agree below bit `from`.
#[inline]
fn enc_diff(a: &[u8], b: &[u8], from: u32) -> Option<u32> {
    let common = a.len().min(b.len());
    let start = ((from / 9) as usize).min(common);
    match a[start..common]
        .iter()
        .zip(&b[start..common])
        .position(|(x, y)| x != y)
    {
        Some(j) => {
            let i = start + j;
            Some(9 * i as u32 + 1 + (a[i] ^ b[i]).leading_zeros())
        }
        None if a.len() == b.len() => None,
        None => Some(9 * common as u32),
    }
}

/// The encoding's bit at `pos`.
#[inline]
fn enc_bit(x: &[u8], pos: u32) -> usize {
    let i = (pos / 9) as usize;
    match (pos % 9, x.get(i)) {
        (0, byte) => usize::from(byte.is_some()),
        (_, None) => 0,
        (r, Some(&byte)) => usize::from((byte >> (8 - r)) & 1 == 1),
    }
}

struct BytesProbe<'a, K, V> {
    x: &'a [u8],
    core: &'a Core<(), (K, V)>,
}

impl<K: AsRef<[u8]>, V> Probe<()> for BytesProbe<'_, K, V> {
    #[inline]
    fn diff(&self, idx: u32, _key: &(), from: u32) -> Option<u32> {
        enc_diff(self.x, self.core.val(idx).0.as_ref(), from)
    }

    #[inline]
    fn side(&self, pos: u32) -> usize {
        enc_bit(self.x, pos)
    }
}

/// An elastic binary tree on variable-length byte strings: an ordered multimap from
/// `K` (anything that is `AsRef<[u8]>`) to `V`, in `[u8]` order, equal keys in
/// insertion order.
///
/// ```
/// use ebtree::BytesTree;
///
/// let mut hosts = BytesTree::new();
/// hosts.insert("www.example.com", 1);
/// hosts.insert("api.example.com", 2);
/// hosts.insert("example.com", 3);
///
/// let h = hosts.lookup("api.example.com").unwrap();
/// assert_eq!(hosts.get(h), Some(&2));
/// let order: Vec<_> = hosts.iter().map(|(_, k, _)| *k).collect();
/// assert_eq!(order, ["api.example.com", "example.com", "www.example.com"]);
/// ```
pub struct BytesTree<K: AsRef<[u8]>, V> {
    core: Core<(), (K, V)>,
}

impl<K: AsRef<[u8]>, V> Default for BytesTree<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: AsRef<[u8]> + fmt::Debug, V: fmt::Debug> fmt::Debug for BytesTree<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.iter().map(|(_, k, v)| (k, v)))
            .finish()
    }
}

impl<K: AsRef<[u8]>, V> BytesTree<K, V> {
    /// An empty tree.
    pub fn new() -> Self {
        Self::with_capacity(0)
    }

    /// An empty tree with room for `n` entries.
    pub fn with_capacity(n: usize) -> Self {
        BytesTree {
            core: Core::with_capacity(n),
        }
    }

    /// Makes room for `n` more entries: inserting them will not allocate.
    pub fn reserve(&mut self, n: usize) {
        self.core.reserve(n);
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

    fn probe<'a>(&'a self, x: &'a [u8]) -> BytesProbe<'a, K, V> {
        BytesProbe {
            x,
            core: &self.core,
        }
    }

    /// Inserts an entry; an equal key goes after the existing ones.
    ///
    /// # Panics
    /// If the key is longer than 238 million bytes.
    pub fn insert(&mut self, key: K, value: V) -> Handle {
        assert!(key.as_ref().len() <= MAX_KEY_LEN, "ebtree: key too long");
        let plan = self.core.plan(&self.probe(key.as_ref()));
        let i = self.core.insert_planned(plan, (), (key, value));
        self.core.handle(i)
    }

    /// Inserts an entry unless the key is present, in which case the first entry with
    /// that key is returned as the error and the key and value are dropped.
    ///
    /// # Panics
    /// If the key is longer than 238 million bytes.
    pub fn insert_unique(&mut self, key: K, value: V) -> Result<Handle, Handle> {
        assert!(key.as_ref().len() <= MAX_KEY_LEN, "ebtree: key too long");
        let plan = self.core.plan(&self.probe(key.as_ref()));
        if let Some(i) = plan.existing(&self.core) {
            return Err(self.core.handle(i));
        }
        let i = self.core.insert_planned(plan, (), (key, value));
        Ok(self.core.handle(i))
    }

    /// Removes an entry, returning its key and value; `None` if the handle is stale.
    pub fn remove(&mut self, h: Handle) -> Option<(K, V)> {
        let i = self.core.resolve(h)?;
        Some(self.core.remove(i).1)
    }

    /// The value of an entry.
    pub fn get(&self, h: Handle) -> Option<&V> {
        let i = self.core.resolve(h)?;
        Some(&self.core.val(i).1)
    }

    /// The value of an entry, mutably.
    pub fn get_mut(&mut self, h: Handle) -> Option<&mut V> {
        let i = self.core.resolve(h)?;
        Some(&mut self.core.val_mut(i).1)
    }

    /// The key of an entry.
    pub fn key(&self, h: Handle) -> Option<&K> {
        let i = self.core.resolve(h)?;
        Some(&self.core.val(i).0)
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

    /// The first entry with this key.
    pub fn lookup<Q: AsRef<[u8]> + ?Sized>(&self, key: &Q) -> Option<Handle> {
        let i = self.core.lookup(&self.probe(key.as_ref()))?;
        Some(self.core.handle(i))
    }

    /// The last entry with the largest key `<= key`.
    pub fn lookup_le<Q: AsRef<[u8]> + ?Sized>(&self, key: &Q) -> Option<Handle> {
        let i = self.core.lookup_le(&self.probe(key.as_ref()))?;
        Some(self.core.handle(i))
    }

    /// The first entry with the smallest key `>= key`.
    pub fn lookup_ge<Q: AsRef<[u8]> + ?Sized>(&self, key: &Q) -> Option<Handle> {
        let i = self.core.lookup_ge(&self.probe(key.as_ref()))?;
        Some(self.core.handle(i))
    }

    /// All entries in order.
    pub fn iter(&self) -> BytesIter<'_, K, V> {
        BytesIter {
            core: &self.core,
            span: Span::new(self.core.first().zip(self.core.last())),
        }
    }

    /// The entries whose keys are between the two bounds, in order.
    pub fn range(&self, lo: Bound<&[u8]>, hi: Bound<&[u8]>) -> BytesIter<'_, K, V> {
        let front = match lo {
            Bound::Included(k) => self.core.lookup_ge(&self.probe(k)),
            Bound::Excluded(k) => match self.core.lookup_le(&self.probe(k)) {
                Some(i) => self.core.next(i),
                None => self.core.first(),
            },
            Bound::Unbounded => self.core.first(),
        };
        let back = match hi {
            Bound::Included(k) => self.core.lookup_le(&self.probe(k)),
            Bound::Excluded(k) => match self.core.lookup_ge(&self.probe(k)) {
                Some(i) => self.core.prev(i),
                None => self.core.last(),
            },
            Bound::Unbounded => self.core.last(),
        };
        // The front is the first entry of its key and the back the last of its own.
        let key = |i| self.core.val(i).0.as_ref();
        let ends = front.zip(back).filter(|&(f, b)| key(f) <= key(b));
        BytesIter {
            core: &self.core,
            span: Span::new(ends),
        }
    }

    #[cfg(test)]
    pub(crate) fn check(&self) {
        self.core.check();
    }
}

/// The iterator of [`BytesTree::iter`] and [`BytesTree::range`].
pub struct BytesIter<'a, K, V> {
    core: &'a Core<(), (K, V)>,
    span: Span,
}

impl<'a, K, V> Iterator for BytesIter<'a, K, V> {
    type Item = (Handle, &'a K, &'a V);

    fn next(&mut self) -> Option<Self::Item> {
        let i = self.span.next(self.core)?;
        let (k, v) = self.core.val(i);
        Some((self.core.handle(i), k, v))
    }
}

impl<K, V> DoubleEndedIterator for BytesIter<'_, K, V> {
    fn next_back(&mut self) -> Option<Self::Item> {
        let i = self.span.next_back(self.core)?;
        let (k, v) = self.core.val(i);
        Some((self.core.handle(i), k, v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_orders_like_slices() {
        let keys: [&[u8]; 7] = [b"", b"\0", b"\0\0", b"\x01", b"a", b"ab", b"b"];
        for a in keys {
            for b in keys {
                let d = enc_diff(a, b, 0);
                assert_eq!(d.is_none(), a == b);
                if let Some(d) = d {
                    // The larger key has the 1 at the first differing position.
                    assert_eq!(enc_bit(a, d) == 1, a > b, "{a:?} {b:?}");
                    assert_ne!(enc_bit(a, d), enc_bit(b, d));
                    for p in 0..d {
                        assert_eq!(enc_bit(a, p), enc_bit(b, p));
                    }
                }
            }
        }
    }
}
