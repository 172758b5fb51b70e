//! Elastic binary trees: HAProxy's ebtree, in safe Rust.
//!
//! An elastic binary tree is a radix tree on the bits of its keys that never rebalances.
//! Each entry carries both a leaf and one internal node, so a tree of `n` entries needs
//! no other memory than its `n` slots. Insertion and lookup cost at most one step per
//! key bit (about log2(n) for spread keys), removal of a known entry is O(1), `next` and
//! `prev` take two steps on average, and entries with equal keys are kept in insertion
//! order. HAProxy builds its timers, least-connection and consistent-hash schedulers,
//! stick tables and ACL pattern tables on it; so does hakit.
//!
//! The trees here keep their entries in an arena they own and hand out [`Handle`]s:
//! small `Copy` names carrying a generation, so a handle used after its entry was
//! removed is detected (the call returns `None`) and never reaches another entry.
//! After [`reserve`](EbTree::reserve), inserting and removing allocate nothing.
//!
//! | type | keys | extra operations |
//! |---|---|---|
//! | [`EbTree`] | `u32`, `u64`, `u128`, `i32`, `i64`, `i128`, `[u8; N]`, IP addresses | lookup_le/ge/lt/gt, range, rekey |
//! | [`PrefixTree`] | the same, with a prefix length | longest-prefix match (CIDR tables) |
//! | [`BytesTree`] | variable-length byte strings (`String`, `Vec<u8>`, `&str`, …) | lookup_le/ge, range |
//! | [`TimerQueue`] | `u32` millisecond ticks that wrap around | expired timers in HAProxy's wait-queue order, in 64-tick buckets |
//!
//! # Example
//!
//! ```
//! use ebtree::EbTree;
//!
//! let mut t = EbTree::new();
//! let a = t.insert(20u32, "a");
//! let b = t.insert(10, "b");
//! let c = t.insert(20, "c"); // duplicates stay in insertion order
//!
//! assert_eq!(t.first(), Some(b));
//! assert_eq!(t.lookup(20), Some(a));
//! assert_eq!(t.next(a), Some(c));
//! assert_eq!(t.lookup_ge(11), Some(a));
//! assert_eq!(t.lookup_le(19), Some(b));
//!
//! assert_eq!(t.remove(a), Some((20, "a")));
//! assert_eq!(t.get(a), None); // the handle is stale now
//! let keys: Vec<_> = t.iter().map(|(_, k, v)| (k, *v)).collect();
//! assert_eq!(keys, [(10, "b"), (20, "c")]);
//! ```
//!
//! # How it works
//!
//! A branching node at bit position `q` splits a subtree whose keys all agree on the
//! bits before `q`: keys with a 0 at `q` are on its left. A descent compares the probed
//! key with the key of each node's owner, and stops as soon as they disagree above the
//! node's position, which is where an insertion puts its new node. Removal hands the
//! removed entry's node part over to the entry that lost its parent, which is why it
//! needs no search. Prefixes and variable-length strings are mapped to prefix-free bit
//! strings, so that one engine serves every key kind.

//!
//! # Performance, measured
//!
//! `cargo bench -p ebtree --bench ebtree_vs_btreemap` compares with
//! `std::collections::BTreeMap` in the same run (thread CPU time, on a 2-core VM shared
//! with other builds); `--bench ebtree_memory` counts bytes per entry; `--bench
//! ebtree_profile` runs one workload at a time for valgrind, whose instruction and
//! cache-miss counts are repeatable.
//!
//! Ratios are ebtree's throughput over its contender's, from two or three runs each
//! (the spread between runs is the machine, not the code: unchanged code moved by
//! 20%, and more for the timers).
//!
//! | workload | ebtree / BTreeMap | instructions per op, ebtree vs BTreeMap | L2 misses per op (512 KiB) |
//! |---|---|---|---|
//! | (a) 1M random `u32` inserts | 0.33-0.39x | 690 vs 629 | 7.4 vs 7.1 |
//! | (c) `lookup_ge` in 1M keys | ~0.3x (one run 0.58x, when `BTreeMap` itself ran 1.6x slow) | 534 vs 564 | 10.8 vs 7.0 |
//! | (d) longest-prefix match, 100k IPv4 prefixes | 0.40-0.53x (per-length `HashMap`s) | 886 | 6.2 |
//!
//! | (b) 100k timers, per step | `TimerQueue` / BTreeMap | instructions, `TimerQueue` vs BTreeMap | LL misses (2 MiB) |
//! |---|---|---|---|
//! | configured timeouts (2, 5, 30, 50 s) | 3.39-4.29x | 2235 vs 4774 | 2.62 vs 0.50 |
//! | uniform timeouts (1-100 s) | 3.41-4.45x | 1111 vs 2488 | 2.95 vs 0.04 |
//! | short: half 1-256 ticks, half configured | 2.34-4.39x | 4817 vs 8678 | 2.65 vs 0.52 |
//!
//! - ebtree runs no more instructions than `BTreeMap`, so what is left for the trees is
//!   memory: a radix tree is a *binary* tree, and a descent in 1M random keys follows
//!   ~20 dependent links, one cache line each, where a B-tree reads ~5 nodes whose keys
//!   share lines and load in parallel. The miss counts are close for inserts, but the
//!   B-tree's misses overlap and the tree's are a chain.
//! - The timer queue is not one tree entry per timer: it files timers in 64-tick
//!   buckets of 16-entry chunks and sorts only the bucket that expires next, with an
//!   `EbTree` over the buckets for the wrapping order and one over far-away timers
//!   (`timer/mod.rs` has the layout, the bounds and the full tables, with
//!   `reschedule` and a bare `EbTree` as contenders). It reserves ~143 bytes per
//!   timer and uses ~30 of them.
//! - `rekey` (leastconn) moves an entry in place, in O(1), when the new key keeps it
//!   between its neighbours' subtrees.
//! - 36 bytes per `u32 -> u32` entry (40 for an IPv4 prefix), against 15-21 for
//!   `BTreeMap`, but never any allocation after `reserve`, handles that stay valid while
//!   their entry lives, and O(1) `first`. A layout with 32-byte aligned slots and the
//!   values apart was tried: 3-8% fewer misses for random descents, 16% more for the
//!   timers (then one entry each), so the value stays in its slot.
//!
//! History of the timer queue: it was one `EbTree` entry per timer, inserting next to
//! a recently armed timer ("fingers"), and measured 0.90-1.15x (configured) and
//! 0.55-0.66x (uniform) against `BTreeMap`, with 11 LL misses per step: each timer
//! sat wherever a slot was free, so popping the next one and finding the one after it
//! touched cold slots. Placing timers in the arena by expiry (the slot after the
//! finger's, a FIFO free list, chunks of 16 slots with a free mask) and loading the
//! next timer's slot early were tried and measured without a gain worth keeping; four
//! bucketed designs were then prototyped and the best one became the queue.
//!
//! Pick ebtree's trees for what they guarantee (stable handles, no allocation, O(1)
//! removal by handle, duplicates in order, longest-prefix match), not for raw lookup
//! speed; its timer queue is also the faster one.

mod bytes;
mod core;
mod error;
mod handle;
mod key;
mod prefix;
mod timer;
mod tree;

#[cfg(test)]
mod tests;

pub use bytes::{BytesIter, BytesTree};
pub use error::Error;
pub use handle::Handle;
pub use key::Key;
pub use prefix::{PrefixIter, PrefixTree};
#[doc(hidden)]
pub use timer::BucketQueue;
pub use timer::{TimerQueue, tick_is_expired, tick_is_lt};
pub use tree::{EbTree, Iter};
