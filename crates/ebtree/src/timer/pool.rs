//! The chunk pool: the entries of every bucket, in chunks of `C` taken from one arena.
//!
//! An entry is one armed timer: `{expiry, slot, generation, value}`, the value `None`
//! once the timer is gone (cancelled, popped or moved) until its bucket is compacted.
//! A bucket's entries are a singly linked list of chunks, filled in arming order: every
//! chunk but the last holds exactly `C` entries, the last `fill` of them. Freed chunks
//! go on a free list (through the same `next` links) and are reused before the arena
//! grows, so after [`Pool::reserve`] a bucket grows without allocating.

use super::slots::{FAR, NONE};

/// One armed timer.
#[derive(Debug)]
pub(super) struct Entry<V> {
    pub(super) expiry: u32,
    /// The timer's handle: its slot and generation.
    pub(super) slot: u32,
    pub(super) generation: u32,
    /// `None`: the timer is gone and the entry waits for its bucket's compaction.
    pub(super) value: Option<V>,
}

impl<V> Entry<V> {
    /// What a chunk holds before its entries are written.
    fn unused() -> Self {
        Entry {
            expiry: 0,
            slot: NONE,
            generation: 0,
            value: None,
        }
    }

    #[inline(always)]
    pub(super) fn is_live(&self) -> bool {
        self.value.is_some()
    }
}

#[derive(Clone, Copy, Debug)]
struct Chunk {
    /// The next chunk of the same bucket (or of the free list); `NONE` at the end.
    next: u32,
    /// The bucket that owns the chunk (stale while the chunk is free).
    owner: u32,
}

/// The arena of entries, cut into chunks of `C`.
#[derive(Debug)]
pub(super) struct Pool<V, const C: usize> {
    entries: Vec<Entry<V>>,
    chunks: Vec<Chunk>,
    free: u32,
    free_chunks: usize,
}

/// A walk over the positions of one bucket's entries, in arming order. It holds no
/// borrow, so the pool can change between steps (the entries it walks must not move).
#[derive(Clone, Copy, Debug)]
pub(super) struct Walk {
    chunk: u32,
    offset: usize,
    last: u32,
    fill: usize,
}

impl Walk {
    /// The walk over a bucket whose chunks run from `first` to `last`, the last holding
    /// `fill` entries.
    pub(super) fn new(first: u32, last: u32, fill: u32) -> Self {
        Walk {
            chunk: first,
            offset: 0,
            last,
            fill: fill as usize,
        }
    }

    /// The next position, `None` at the end.
    #[inline]
    pub(super) fn next<V, const C: usize>(&mut self, pool: &Pool<V, C>) -> Option<usize> {
        loop {
            let end = if self.chunk == self.last {
                self.fill
            } else {
                C
            };
            if self.offset < end {
                let pos = self.chunk as usize * C + self.offset;
                self.offset += 1;
                return Some(pos);
            }
            if self.chunk == self.last {
                return None;
            }
            self.chunk = pool.chunks[self.chunk as usize].next;
            self.offset = 0;
        }
    }
}

impl<V, const C: usize> Pool<V, C> {
    pub(super) fn new() -> Self {
        Pool {
            entries: Vec::new(),
            chunks: Vec::new(),
            free: NONE,
            free_chunks: 0,
        }
    }

    /// Room for `chunks` chunks in all (in use and free).
    pub(super) fn reserve(&mut self, chunks: usize) {
        self.chunks
            .reserve(chunks.saturating_sub(self.chunks.len()));
        let entries = chunks.saturating_mul(C);
        self.entries
            .reserve(entries.saturating_sub(self.entries.len()));
    }

    /// A chunk for bucket `owner`, from the free list if it has one.
    #[inline]
    pub(super) fn alloc(&mut self, owner: u32) -> u32 {
        let c = self.free;
        if c != NONE {
            let chunk = &mut self.chunks[c as usize];
            self.free = chunk.next;
            self.free_chunks -= 1;
            *chunk = Chunk { next: NONE, owner };
            return c;
        }
        self.grow(owner)
    }

    #[cold]
    fn grow(&mut self, owner: u32) -> u32 {
        let c = self.chunks.len();
        // Positions must stay below FAR, which marks far timers in the slot table.
        assert!(
            (c + 1) * C <= FAR as usize,
            "TimerQueue: more than 2^31 entries"
        );
        self.chunks.push(Chunk { next: NONE, owner });
        self.entries.extend((0..C).map(|_| Entry::unused()));
        c as u32
    }

    /// Links chunk `c` after `prev` in a bucket's list.
    #[inline]
    pub(super) fn chain(&mut self, prev: u32, c: u32) {
        self.chunks[prev as usize].next = c;
    }

    /// Returns the chunks `first ..= last` (a bucket's list, or its tail) to the free
    /// list, in O(1).
    pub(super) fn release(&mut self, first: u32, last: u32, count: usize) {
        self.chunks[last as usize].next = self.free;
        self.free = first;
        self.free_chunks += count;
    }

    /// The chunk after `c` in its list.
    #[inline]
    pub(super) fn next_chunk(&self, c: u32) -> u32 {
        self.chunks[c as usize].next
    }

    /// Ends a bucket's list at chunk `c`.
    #[inline]
    pub(super) fn end_at(&mut self, c: u32) {
        self.chunks[c as usize].next = NONE;
    }

    /// The bucket owning the entry at `pos`.
    #[inline]
    pub(super) fn owner(&self, pos: usize) -> u32 {
        self.chunks[pos / C].owner
    }

    #[inline]
    pub(super) fn entry(&self, pos: usize) -> &Entry<V> {
        &self.entries[pos]
    }

    #[inline]
    pub(super) fn entry_mut(&mut self, pos: usize) -> &mut Entry<V> {
        &mut self.entries[pos]
    }

    /// The entry at `pos`, if the pool has that position.
    #[inline]
    pub(super) fn get(&self, pos: usize) -> Option<&Entry<V>> {
        self.entries.get(pos)
    }

    /// Exchanges two entries (compaction moves a live entry onto a dead one).
    #[inline]
    pub(super) fn swap(&mut self, a: usize, b: usize) {
        self.entries.swap(a, b);
    }

    /// Chunks made so far (in use and free).
    pub(super) fn chunks(&self) -> usize {
        self.chunks.len()
    }

    /// Chunks on the free list.
    pub(super) fn free_chunks(&self) -> usize {
        self.free_chunks
    }

    /// The free list, for the invariant check.
    pub(super) fn free_list(&self) -> Vec<u32> {
        let mut list = Vec::new();
        let mut c = self.free;
        while c != NONE && list.len() <= self.chunks.len() {
            list.push(c);
            c = self.chunks[c as usize].next;
        }
        list
    }

    /// Bytes of one chunk: its entries and its header.
    pub(super) const CHUNK_BYTES: usize = C * size_of::<Entry<V>>() + size_of::<Chunk>();

    pub(super) fn heap_bytes(&self) -> usize {
        self.entries.capacity() * size_of::<Entry<V>>()
            + self.chunks.capacity() * size_of::<Chunk>()
    }

    /// Bytes of the chunks holding entries.
    pub(super) fn used_bytes(&self) -> usize {
        (self.chunks.len() - self.free_chunks) * Self::CHUNK_BYTES
    }
}
