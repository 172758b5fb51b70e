//! ebtree against `std::collections::BTreeMap` (and, for prefixes, per-length hash
//! maps), measured in the same run:
//!
//! - (a) `insert_1M_random_u32`: build a tree of 1M random `u32` keys;
//! - (b) `timers_100k_*`: 100k live timers; each step cancels an arbitrary timer, arms
//!   one, and pops (and re-arms) the expired ones; with a server's few configured
//!   timeouts, with uniformly spread ones, and with half of them short (1..=256 ticks:
//!   tasks woken soon, which land in the bucket being drained);
//! - (c) `lookup_ge_1M`: `lookup_ge` of random keys in a tree of 1M keys;
//! - (d) `longest_prefix_100k_ipv4`: longest-prefix match of random addresses in a
//!   table of 100k IPv4 prefixes.
//!
//! `cargo bench -p ebtree --bench ebtree_vs_btreemap`; bytes per entry are printed by
//! the `ebtree_memory` bench.
//!
//! Times are the benchmark thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`), not wall
//! time, so that a machine shared with other work does not charge its waiting to
//! whichever contender happened to run then.

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{
    BatchSize, BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main,
};
use ebtree::{EbTree, PrefixTree};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rustix::time::{ClockId, clock_gettime};
use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::hint::black_box;
use std::net::Ipv4Addr;
use std::time::Duration;

mod timer_workload;
use timer_workload::{
    BTreeMapTimers, PlainTree, QueueCancel, QueueReschedule, Timeouts, TimerWorkload,
};

const SEED: u64 = 0x5EED_EB7E;

/// Criterion measurement of the thread's CPU time, in nanoseconds.
struct CpuTime {
    wall: WallTime,
}

impl CpuTime {
    fn now(&self) -> u64 {
        let t = clock_gettime(ClockId::ThreadCPUTime);
        t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
    }
}

impl Measurement for CpuTime {
    type Intermediate = u64;
    type Value = u64;

    fn start(&self) -> u64 {
        self.now()
    }
    fn end(&self, start: u64) -> u64 {
        self.now().saturating_sub(start)
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, v: &u64) -> f64 {
        *v as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        // Nanoseconds, like wall time: reuse its formatting.
        self.wall.formatter()
    }
}

type Crit = Criterion<CpuTime>;

fn random_keys(n: usize) -> Vec<u32> {
    let mut rng = SmallRng::seed_from_u64(SEED);
    (0..n).map(|_| rng.random()).collect()
}

fn insert_random(c: &mut Crit) {
    const N: usize = 1_000_000;
    let keys = random_keys(N);
    let mut g = c.benchmark_group("insert_1M_random_u32");
    g.throughput(Throughput::Elements(N as u64));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(8));
    g.bench_function("ebtree", |b| {
        b.iter_batched(
            EbTree::<u32, u32>::new,
            |mut t| {
                for (i, &k) in keys.iter().enumerate() {
                    t.insert(k, i as u32);
                }
                t
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function("ebtree_reserved", |b| {
        b.iter_batched(
            || EbTree::<u32, u32>::with_capacity(N),
            |mut t| {
                for (i, &k) in keys.iter().enumerate() {
                    t.insert(k, i as u32);
                }
                t
            },
            BatchSize::PerIteration,
        )
    });
    // A multimap, as the ebtree is: (key, sequence) -> value.
    g.bench_function("btreemap_multimap", |b| {
        b.iter_batched(
            BTreeMap::<(u32, u32), u32>::new,
            |mut m| {
                for (i, &k) in keys.iter().enumerate() {
                    m.insert((k, i as u32), i as u32);
                }
                m
            },
            BatchSize::PerIteration,
        )
    });
    // Unique keys: what BTreeMap does best.
    g.bench_function("btreemap_unique", |b| {
        b.iter_batched(
            BTreeMap::<u32, u32>::new,
            |mut m| {
                for (i, &k) in keys.iter().enumerate() {
                    m.insert(k, i as u32);
                }
                m
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

const STEPS: u64 = 1000;

/// (b): see `timer_workload`; each contender in the same run, 1000 steps an iteration.
fn timers(c: &mut Crit) {
    fn bench<W: TimerWorkload>(g: &mut BenchmarkGroup<'_, CpuTime>, name: &str, t: Timeouts) {
        g.bench_function(name, |b| {
            let mut w = W::new(t);
            b.iter(|| black_box(w.steps(STEPS)))
        });
    }
    for (name, t) in [
        ("timers_100k_configured_timeouts", Timeouts::Configured),
        ("timers_100k_uniform_timeouts", Timeouts::Uniform),
        ("timers_100k_short_timeouts", Timeouts::Short),
    ] {
        let mut g = c.benchmark_group(name);
        g.throughput(Throughput::Elements(STEPS));
        bench::<QueueCancel>(&mut g, "ebtree_timerqueue", t);
        bench::<QueueReschedule>(&mut g, "ebtree_timerqueue_reschedule", t);
        bench::<PlainTree>(&mut g, "ebtree_plain_tree", t);
        bench::<BTreeMapTimers>(&mut g, "btreemap", t);
        g.finish();
    }
}

fn lookup_ge(c: &mut Crit) {
    const N: usize = 1_000_000;
    const PROBES: usize = 10_000;
    let keys = random_keys(N);
    let probes: Vec<u32> = {
        let mut rng = SmallRng::seed_from_u64(SEED + 1);
        (0..PROBES).map(|_| rng.random()).collect()
    };
    let mut t = EbTree::<u32, u32>::new();
    let mut m = BTreeMap::<(u32, u32), u32>::new();
    for (i, &k) in keys.iter().enumerate() {
        t.insert(k, i as u32);
        m.insert((k, i as u32), i as u32);
    }
    let mut g = c.benchmark_group("lookup_ge_1M");
    g.throughput(Throughput::Elements(PROBES as u64));
    g.bench_function("ebtree", |b| {
        b.iter(|| {
            let mut sum = 0u32;
            for &p in &probes {
                if let Some(h) = t.lookup_ge(p) {
                    sum = sum.wrapping_add(*t.get(h).unwrap_or(&0));
                }
            }
            black_box(sum)
        })
    });
    g.bench_function("btreemap", |b| {
        b.iter(|| {
            let mut sum = 0u32;
            for &p in &probes {
                if let Some((_, v)) = m.range((p, 0)..).next() {
                    sum = sum.wrapping_add(*v);
                }
            }
            black_box(sum)
        })
    });
    g.finish();
}

/// A multiplicative hash for `u32` keys, so the hash-map contender isn't held back by
/// SipHash.
#[derive(Default)]
struct MulHasher(u64);

impl Hasher for MulHasher {
    fn finish(&self) -> u64 {
        // The product's high half is well mixed; fold it into the low bits that
        // pick the bucket.
        self.0 ^ (self.0 >> 32)
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.0 = (u64::from(n) ^ 0xA5A5_5A5A).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// The classic alternative: one hash map per prefix length, probed longest first.
struct PerLengthMaps<S> {
    maps: Vec<(u32, HashMap<u32, u32, S>)>,
}

impl<S: std::hash::BuildHasher + Default> PerLengthMaps<S> {
    fn new(prefixes: &[(u32, u32)]) -> Self {
        let mut by_len: BTreeMap<u32, HashMap<u32, u32, S>> = BTreeMap::new();
        for (i, &(net, len)) in prefixes.iter().enumerate() {
            by_len
                .entry(len)
                .or_default()
                .entry(net)
                .or_insert(i as u32);
        }
        PerLengthMaps {
            maps: by_len.into_iter().rev().collect(),
        }
    }

    fn longest(&self, addr: u32) -> Option<u32> {
        self.maps.iter().find_map(|(len, m)| {
            let net = if *len == 0 {
                0
            } else {
                addr & (u32::MAX << (32 - len))
            };
            m.get(&net).copied()
        })
    }
}

/// 100k prefixes shaped like a routing table: mostly /24, then /16../23, a few shorter,
/// some host routes.
fn routing_table() -> Vec<(u32, u32)> {
    let mut rng = SmallRng::seed_from_u64(SEED + 2);
    (0..100_000)
        .map(|_| {
            let len = match rng.random_range(0..100) {
                0..=59 => 24,
                60..=89 => rng.random_range(16..24),
                90..=94 => rng.random_range(8..16),
                _ => 32,
            };
            let addr: u32 = rng.random();
            (addr & (u32::MAX << (32 - len)), len)
        })
        .collect()
}

fn longest_prefix(c: &mut Crit) {
    const PROBES: usize = 10_000;
    let prefixes = routing_table();
    let mut t: PrefixTree<Ipv4Addr, u32> = PrefixTree::new();
    for (i, &(net, len)) in prefixes.iter().enumerate() {
        // Keep the first of equal prefixes, as the hash maps do.
        let _ = t.insert_prefix_unique(Ipv4Addr::from_bits(net), len, i as u32);
    }
    let std_maps: PerLengthMaps<std::collections::hash_map::RandomState> =
        PerLengthMaps::new(&prefixes);
    let fast_maps: PerLengthMaps<BuildHasherDefault<MulHasher>> = PerLengthMaps::new(&prefixes);
    // Half the probes inside a known prefix, half random.
    let probes: Vec<u32> = {
        let mut rng = SmallRng::seed_from_u64(SEED + 3);
        (0..PROBES)
            .map(|i| {
                if i % 2 == 0 {
                    let (net, len) = prefixes[rng.random_range(0..prefixes.len())];
                    net | (rng.random::<u32>() & !(u32::MAX.checked_shl(32 - len).unwrap_or(0)))
                } else {
                    rng.random()
                }
            })
            .collect()
    };
    for &p in &probes {
        let got = t
            .lookup_longest(Ipv4Addr::from_bits(p))
            .and_then(|h| t.get(h))
            .copied();
        assert_eq!(got, fast_maps.longest(p), "contenders disagree on {p:08x}");
    }
    let mut g = c.benchmark_group("longest_prefix_100k_ipv4");
    g.throughput(Throughput::Elements(PROBES as u64));
    g.bench_function("ebtree", |b| {
        b.iter(|| {
            let mut sum = 0u32;
            for &p in &probes {
                if let Some(h) = t.lookup_longest(Ipv4Addr::from_bits(p)) {
                    sum = sum.wrapping_add(*t.get(h).unwrap_or(&0));
                }
            }
            black_box(sum)
        })
    });
    g.bench_function("hashmap_per_length_siphash", |b| {
        b.iter(|| {
            let mut sum = 0u32;
            for &p in &probes {
                sum = sum.wrapping_add(std_maps.longest(p).unwrap_or(0));
            }
            black_box(sum)
        })
    });
    g.bench_function("hashmap_per_length_fasthash", |b| {
        b.iter(|| {
            let mut sum = 0u32;
            for &p in &probes {
                sum = sum.wrapping_add(fast_maps.longest(p).unwrap_or(0));
            }
            black_box(sum)
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(CpuTime { wall: WallTime });
    targets = insert_random, timers, lookup_ge, longest_prefix
}
criterion_main!(benches);
