//! Bytes per entry of ebtree and of the structures it is compared with, counted by a
//! global allocator wrapper: `cargo bench -p ebtree --bench ebtree_memory`.
//!
//! Kept apart from the timing bench so that counting never slows a timed allocation.

use ebtree::{EbTree, Handle, PrefixTree, TimerQueue};
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
    timer_queue_bytes();
}

/// The timer queue's reservation after `with_capacity(n)`, and what it uses in the
/// steady state of workload (b) of `ebtree_vs_btreemap` (100k timers, after the
/// 20k-step warm-up), per timer.
fn timer_queue_bytes() {
    println!();
    println!(
        "{:<48} {:>10} {:>12}",
        "TimerQueue<u32>", "timers", "bytes/timer"
    );
    for n in [100usize, 10_000, 100_000] {
        let q: TimerQueue<u32> = TimerQueue::with_capacity(n);
        let row = "reserved by with_capacity(n) (heap_bytes)";
        println!(
            "{row:<48} {n:>10} {:>12.1}",
            q.heap_bytes() as f64 / n as f64
        );
    }
    const TIMERS: usize = 100_000;
    for mix in ["configured", "uniform", "short"] {
        let mut rng = SmallRng::seed_from_u64(0x5EED_EB7E);
        let mut now = 0u32;
        let configured = [2_000, 5_000, 30_000, 50_000];
        let timeout = |rng: &mut SmallRng, now: u32| {
            now + match mix {
                "uniform" => rng.random_range(1..=100_000),
                "short" if rng.random() => rng.random_range(1..=256),
                _ => configured[rng.random_range(0..4)],
            }
        };
        let mut q: TimerQueue<u32> = TimerQueue::with_capacity(TIMERS);
        let mut handles: Vec<Handle> = (0..TIMERS as u32)
            .map(|id| q.schedule(rng.random_range(1..=50_000), id))
            .collect();
        for _ in 0..20_000 {
            now += 1;
            let id = rng.random_range(0..TIMERS);
            q.cancel(handles[id]);
            handles[id] = q.schedule(timeout(&mut rng, now), id as u32);
            while let Some((_, id)) = q.pop_expired(now) {
                handles[id as usize] = q.schedule(timeout(&mut rng, now), id);
            }
        }
        let row = format!("in use, workload (b) {mix} (used_bytes)");
        println!(
            "{row:<48} {:>10} {:>12.1}",
            q.len(),
            q.used_bytes() as f64 / q.len() as f64
        );
    }
}
