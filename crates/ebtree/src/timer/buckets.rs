//! Buckets: the headers of the `2^K`-tick ranges that hold timers in chunks, indexed by
//! their first tick.
//!
//! A bucket holds every near timer whose expiry has the bits above the low `K` equal to
//! its `key`. Its header says where its chunks are and how many of its entries are live
//! or dead. The index, an [`EbTree`] from key to bucket id, gives the buckets in tick
//! order, hence in wrapping order after a rotation, and the "first bucket at or after the
//! look-back split" search; a small direct-mapped cache in front of it finds the bucket
//! of a new timer in one probe most of the time (servers arm timers with a few
//! timeouts, so consecutive expiries fall in a few buckets).

use super::slots::NONE;
use crate::EbTree;
use crate::core::Node;
use crate::key::BitsProbe;

/// Where one bucket's entries are, and how many are live.
#[derive(Clone, Copy, Debug)]
pub(super) struct Bucket {
    /// First tick of the range (low `K` bits clear).
    pub(super) key: u32,
    /// First chunk; `NONE` for a free bucket id.
    pub(super) first: u32,
    /// Last chunk (for a free id: the next free id).
    pub(super) last: u32,
    /// Entries used in the last chunk (at least one while the bucket is open).
    pub(super) fill: u32,
    pub(super) live: u32,
    pub(super) dead: u32,
    /// The bucket's entry in the index (a slot of its arena).
    node: u32,
}

impl Bucket {
    #[inline(always)]
    pub(super) fn is_open(&self) -> bool {
        self.first != NONE
    }

    #[inline(always)]
    pub(super) fn entries(&self) -> u32 {
        self.live + self.dead
    }

    /// Chunks in the bucket's list, every one full but the last.
    #[inline]
    pub(super) fn chunks(&self, chunk_len: usize) -> usize {
        (self.entries() - self.fill) as usize / chunk_len + 1
    }
}

/// The bucket headers, their index and the cache.
#[derive(Debug)]
pub(super) struct Buckets<const K: u32> {
    headers: Vec<Bucket>,
    /// Free bucket ids, linked through `Bucket::last`.
    free: u32,
    open: usize,
    index: EbTree<u32, u32>,
    /// `(key >> K) & (len - 1)` -> a bucket id that had that key (checked on use).
    cache: Vec<u32>,
}

/// The cache never grows past this many slots (8 KiB), which covers 2^11 ranges: 131k
/// ticks, two minutes of millisecond ticks, for `K = 6`.
const MAX_CACHE: usize = 1 << 11;

impl<const K: u32> Buckets<K> {
    pub(super) fn new() -> Self {
        Buckets {
            headers: Vec::new(),
            free: NONE,
            open: 0,
            index: EbTree::new(),
            cache: Vec::new(),
        }
    }

    /// Room for `buckets` open buckets in all.
    pub(super) fn reserve(&mut self, buckets: usize) {
        self.headers
            .reserve(buckets.saturating_sub(self.headers.len()));
        self.index.reserve(buckets.saturating_sub(self.index.len()));
        let cache = buckets
            .saturating_mul(2)
            .next_power_of_two()
            .clamp(16, MAX_CACHE);
        if cache > self.cache.len() {
            // Only a hint: a new table starts empty.
            self.cache = vec![NONE; cache];
        }
    }

    #[inline(always)]
    fn cache_slot(&self, key: u32) -> usize {
        (key >> K) as usize & (self.cache.len().wrapping_sub(1))
    }

    /// The open bucket for `key`, if there is one.
    #[inline]
    pub(super) fn find(&mut self, key: u32) -> Option<u32> {
        if !self.cache.is_empty() {
            let b = self.cache[self.cache_slot(key)];
            if let Some(h) = self.headers.get(b as usize)
                && h.key == key
                && h.is_open()
            {
                return Some(b);
            }
        }
        self.find_in_index(key)
    }

    #[inline(never)]
    fn find_in_index(&mut self, key: u32) -> Option<u32> {
        let i = self.index.core.lookup(&BitsProbe(key))?;
        let b = *self.index.core.val(i);
        if !self.cache.is_empty() {
            let slot = self.cache_slot(key);
            self.cache[slot] = b;
        }
        Some(b)
    }

    /// The open bucket for `key`, without updating the cache.
    pub(super) fn lookup(&self, key: u32) -> Option<u32> {
        self.index
            .core
            .lookup(&BitsProbe(key))
            .map(|i| *self.index.core.val(i))
    }

    /// The id [`open`](Self::open) will give the next bucket.
    #[inline]
    pub(super) fn next_id(&self) -> u32 {
        if self.free != NONE {
            self.free
        } else {
            self.headers.len() as u32
        }
    }

    /// Opens a bucket for `key` (which has none) whose only chunk is `chunk`.
    pub(super) fn open(&mut self, key: u32, chunk: u32) -> u32 {
        let b = if self.free != NONE {
            let b = self.free;
            self.free = self.headers[b as usize].last;
            b
        } else {
            self.headers.push(Bucket {
                key,
                first: NONE,
                last: NONE,
                fill: 0,
                live: 0,
                dead: 0,
                node: NONE,
            });
            (self.headers.len() - 1) as u32
        };
        let node = self.index.insert(key, b).idx;
        self.headers[b as usize] = Bucket {
            key,
            first: chunk,
            last: chunk,
            fill: 0,
            live: 0,
            dead: 0,
            node,
        };
        if !self.cache.is_empty() {
            let slot = self.cache_slot(key);
            self.cache[slot] = b;
        }
        self.open += 1;
        b
    }

    /// Closes bucket `b` (its chunks were released): its id is free again.
    pub(super) fn close(&mut self, b: u32) {
        let h = self.headers[b as usize];
        self.index.core.remove(h.node);
        if !self.cache.is_empty() {
            let slot = self.cache_slot(h.key);
            if self.cache[slot] == b {
                self.cache[slot] = NONE;
            }
        }
        let header = &mut self.headers[b as usize];
        header.first = NONE;
        header.last = self.free;
        self.free = b;
        self.open -= 1;
    }

    /// Closes every bucket (their chunks were released).
    pub(super) fn clear(&mut self) {
        self.index.clear();
        self.cache.fill(NONE);
        self.free = NONE;
        for b in (0..self.headers.len()).rev() {
            let header = &mut self.headers[b];
            header.first = NONE;
            header.last = self.free;
            self.free = b as u32;
        }
        self.open = 0;
    }

    #[inline(always)]
    pub(super) fn get(&self, b: u32) -> &Bucket {
        &self.headers[b as usize]
    }

    #[inline(always)]
    pub(super) fn get_mut(&mut self, b: u32) -> &mut Bucket {
        &mut self.headers[b as usize]
    }

    /// Open buckets.
    #[inline(always)]
    pub(super) fn open_count(&self) -> usize {
        self.open
    }

    /// Bucket ids made so far (open and free).
    pub(super) fn ids(&self) -> usize {
        self.headers.len()
    }

    /// The first bucket at or after tick `start`, else the first: the head for a
    /// wrapping order that starts at `start`.
    pub(super) fn first_from(&self, start: u32) -> Option<u32> {
        let core = &self.index.core;
        let i = core.lookup_ge(&BitsProbe(start)).or_else(|| core.first())?;
        Some(*core.val(i))
    }

    /// The bucket after `b` in cyclic key order; `None` if `b` is the only one.
    pub(super) fn cyclic_next(&self, b: u32) -> Option<u32> {
        let core = &self.index.core;
        let node = self.headers[b as usize].node;
        let i = core.next(node).or_else(|| core.first())?;
        let next = *core.val(i);
        (next != b).then_some(next)
    }

    /// The index: bucket key -> id.
    #[inline]
    pub(super) fn index(&self) -> &EbTree<u32, u32> {
        &self.index
    }

    pub(super) fn heap_bytes(&self) -> usize {
        self.headers.capacity() * size_of::<Bucket>()
            + self.index.heap_bytes()
            + self.cache.capacity() * size_of::<u32>()
    }

    /// Bytes in use: open headers, their index entries, and the cache.
    pub(super) fn used_bytes(&self) -> usize {
        let node = size_of::<Node<u32, u32>>();
        self.open * (size_of::<Bucket>() + node) + self.cache.len() * size_of::<u32>()
    }
}
