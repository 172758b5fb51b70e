//! Bytes per entry of ebtree and of the structures it is compared with, counted by a
//! global allocator wrapper: `cargo bench -p ebtree --bench ebtree_memory`.
//!
//! Kept apart from the timing bench so that counting never slows a timed allocation.

use ebtree::{EbTree, PrefixTree, TimerQueue};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use std::alloc::System;
use std::collections::{BTreeMap, HashMap};
use std::hint::black_box;
use std::net::Ipv4Addr;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Heap bytes still held after `build` returns its structure, per entry.
fn per_entry<T>(n: usize, build: impl FnOnce() -> T) -> f64 {
    let region = Region::new(GLOBAL);
    let built = build();
    let s = region.change();
    black_box(&built);
    let live = s.bytes_allocated as f64 - s.bytes_deallocated as f64;
    drop(built);
    live / n as f64
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is ignored.
    let mut rng = SmallRng::seed_from_u64(7);
    println!(
        "{:<48} {:>10} {:>12}",
        "structure", "entries", "bytes/entry"
    );
    for n in [100_000usize, 1_000_000] {
        let keys: Vec<u32> = (0..n).map(|_| rng.random()).collect();
        let row = |name: &str, b: f64| println!("{name:<48} {n:>10} {b:>12.1}");
        row(
            "EbTree<u32, u32> (grown by insert)",
            per_entry(n, || {
                let mut t = EbTree::new();
                keys.iter().for_each(|&k| {
                    t.insert(k, k);
                });
                t
            }),
        );
        row(
            "EbTree<u32, u32> (with_capacity(n))",
            per_entry(n, || {
                let mut t = EbTree::with_capacity(n);
                keys.iter().for_each(|&k| {
                    t.insert(k, k);
                });
                t
            }),
        );
        row(
            "BTreeMap<(u32, u32 seq), u32> (multimap)",
            per_entry(n, || {
                let mut m = BTreeMap::new();
                keys.iter().enumerate().for_each(|(i, &k)| {
                    m.insert((k, i as u32), k);
                });
                m
            }),
        );
        row(
            "BTreeMap<u32, u32> (unique keys)",
            per_entry(n, || {
                let mut m = BTreeMap::new();
                keys.iter().for_each(|&k| {
                    m.insert(k, k);
                });
                m
            }),
        );
        row(
            "TimerQueue<u32> (with_capacity(n))",
            per_entry(n, || {
                let mut q = TimerQueue::with_capacity(n);
                keys.iter().for_each(|&k| {
                    q.schedule(k % 100_000, k);
                });
                q
            }),
        );
        row(
            "BTreeMap<(u32 expiry, u32 id), ()>",
            per_entry(n, || {
                let mut m = BTreeMap::new();
                keys.iter().enumerate().for_each(|(i, &k)| {
                    m.insert((k % 100_000, i as u32), ());
                });
                m
            }),
        );
        let prefixes: Vec<(u32, u32)> = keys
            .iter()
            .map(|&k| {
                let len = 16 + k % 17;
                (k & (u32::MAX << (32 - len)), len)
            })
            .collect();
        row(
            "PrefixTree<Ipv4Addr, u32> (with_capacity(n))",
            per_entry(n, || {
                let mut t = PrefixTree::with_capacity(n);
                prefixes.iter().for_each(|&(net, len)| {
                    let _ = t.insert_prefix(Ipv4Addr::from_bits(net), len, net);
                });
                t
            }),
        );
        row(
            "per-length HashMap<u32, u32> (SipHash)",
            per_entry(n, || {
                let mut maps: Vec<HashMap<u32, u32>> = (0..=32).map(|_| HashMap::new()).collect();
                prefixes.iter().for_each(|&(net, len)| {
                    maps[len as usize].insert(net, net);
                });
                maps
            }),
        );
    }
}
