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
//! | [`TimerQueue`] | `u32` millisecond ticks that wrap around | expired timers, as HAProxy's wait queue |
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
//! with other builds); `--bench ebtree_memory`
//! counts bytes per entry; `--bench ebtree_profile` runs one workload at a time for
//! valgrind, whose instruction and cache-miss counts are repeatable (the miss figures
//! below simulate a 512 KiB L2, this machine's per-core size).
//!
//! Ratios are ebtree's throughput over its contender's, from two runs each (the spread
//! between runs is the machine, not the code: unchanged code moved by 20%).
//!
//! | workload | ebtree / BTreeMap | instructions per op, ebtree vs BTreeMap | L2 misses per op |
//! |---|---|---|---|
//! | (a) 1M random `u32` inserts | 0.33-0.39x | 690 vs 629 | 7.4 vs 7.1 |
//! | (b) 100k timers, configured timeouts | 0.90-1.15x | 3250 vs 4640 per step | 12.6 vs 6.6 |
//! | (b) 100k timers, uniform timeouts | 0.55-0.66x | 2710 vs 2500 per step | 19.7 vs 12.4 |
//! | (c) `lookup_ge` in 1M keys | ~0.3x (one run 0.58x, when `BTreeMap` itself ran 1.6x slow) | 534 vs 564 | 10.8 vs 7.0 |
//! | (d) longest-prefix match, 100k IPv4 prefixes | 0.40-0.53x (per-length `HashMap`s) | 886 | 6.2 |
//!
//! - ebtree now runs no more instructions than `BTreeMap` (fewer, for timers), so what
//!   is left is memory: a radix tree is a *binary* tree, and a descent in 1M random keys
//!   follows ~20 dependent links, one cache line each, where a B-tree reads ~5 nodes
//!   whose keys share lines and load in parallel. The miss counts are close for
//!   inserts, but the B-tree's misses overlap and the tree's are a chain.
//! - In the timer workload each timer is its own slot, placed wherever a slot was
//!   free: popping the next timer and finding the one after it touches cold slots,
//!   where a B-tree pops ~11 neighbours from one leaf. The queue's fingers (insert next
//!   to a recently armed timer, straight after it when the expiry is equal) keep the
//!   insertions short; with a server's few timeouts ebtree is on par with `BTreeMap`,
//!   not the 1.5x the design issue hoped for.
//! - `rekey` (leastconn) and `TimerQueue::reschedule` move an entry in place, in O(1),
//!   when the new key keeps it between its neighbours' subtrees.
//! - 36 bytes per `u32 -> u32` entry (40 for an IPv4 prefix), against 15-21 for
//!   `BTreeMap`, but never any allocation after `reserve`, handles that stay valid while
//!   their entry lives, and O(1) `first`. A layout with 32-byte aligned slots and the
//!   values apart was tried: 3-8% fewer misses for random descents, 16% more for the
//!   configured timers, so the value stays in its slot.
//! - Placing timers in memory by expiry was tried and measured, and is not kept
//!   (callgrind counts per step of the configured-timeout workload, against 3250
//!   instructions and 12.6 L2 read misses; ratios from one criterion run against
//!   1.13x configured, 0.61x uniform in the same session). Taking the slot after the
//!   finger's when free, else the oldest free slot (a doubly linked FIFO free list):
//!   15.3 misses, since at full occupancy the only free slot is the one just freed,
//!   and the list's links touch cold slots. Chunks of 16 slots with a free mask each,
//!   a new timer going into its finger's chunk, else an empty one: 12.6 misses and
//!   4060 instructions with no room to spare; with a quarter more slots than timers
//!   11.4 misses, 3970 instructions, 1.02x configured and 0.50x uniform; with twice
//!   as many slots 9.2 misses, 3700 instructions and 0.93x. Cancelled timers leave
//!   holes, so chunks stay apart only with spare memory, and the bigger arena and the
//!   bookkeeping cost more than the misses saved.
//!
//! - Loading the next timer's slot as soon as it becomes the first (so that its cache
//!   miss overlaps the caller's work instead of the next pop) was tried in a later
//!   session: no measurable change (minimum of six alternated runs: 695 against 681 ns
//!   per step). The same session measured 1.15x (configured) and 0.55x (uniform) with
//!   criterion on a quiet machine.
//!
//! Pick ebtree for what it guarantees (stable handles, no allocation, O(1) removal by
//! handle, duplicates in order, longest-prefix match, wrapping timers), not for raw
//! lookup speed.

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
pub use timer::{TimerQueue, tick_is_expired, tick_is_lt};
pub use tree::{EbTree, Iter};
