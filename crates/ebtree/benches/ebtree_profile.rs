//! The workloads of `ebtree_vs_btreemap`, one at a time and without criterion, for
//! instruction and cache-miss counts under valgrind, which are repeatable on a loaded
//! machine where timings are not:
//!
//! ```text
//! cargo bench -p ebtree --no-run
//! valgrind --tool=callgrind --cache-sim=yes --D1=49152,12,64 --LL=2097152,16,64 \
//!     --toggle-collect='ebtree_profile::run_*' \
//!     target/release/deps/ebtree_profile-* timers_uniform ebtree
//! ```
//!
//! Arguments: a workload (`insert`, `timers_configured`, `timers_uniform`,
//! `timers_short`, `lookup_ge`, `lpm`, `rekey`) and a contender (`ebtree`, `btreemap`;
//! for the timers also `ebtree_reschedule` and `ebtree_plain_tree`). The setup and the
//! timers' warm-up (20k steps) are outside the `run_*` functions, so `--toggle-collect`
//! counts the measured part alone (100k steps for the timers). Without arguments (as
//! `cargo bench` runs it) every pair runs once, small, and prints its time.

use ebtree::{EbTree, Handle, PrefixTree};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rustix::time::{ClockId, clock_gettime};
use std::collections::BTreeMap;
use std::hint::black_box;
use std::net::Ipv4Addr;
use std::time::Instant;

mod timer_workload;
use timer_workload::{
    BTreeMapTimers, PlainTree, QueueCancel, QueueReschedule, Timeouts, TimerWorkload,
};

const SEED: u64 = 0x5EED_EB7E;

fn random_keys(n: usize, seed: u64) -> Vec<u32> {
    let mut rng = SmallRng::seed_from_u64(seed);
    (0..n).map(|_| rng.random()).collect()
}

#[inline(never)]
fn run_insert_ebtree(keys: &[u32]) -> usize {
    let mut t = EbTree::<u32, u32>::with_capacity(keys.len());
    for (i, &k) in keys.iter().enumerate() {
        t.insert(k, i as u32);
    }
    black_box(&t).len()
}

#[inline(never)]
fn run_insert_btreemap(keys: &[u32]) -> usize {
    let mut m = BTreeMap::<(u32, u32), u32>::new();
    for (i, &k) in keys.iter().enumerate() {
        m.insert((k, i as u32), i as u32);
    }
    black_box(&m).len()
}

/// The measured part of a timer run: a symbol of its own, so that `--toggle-collect`
/// counts it and not the warm-up (which calls the same step functions outside it).
#[inline(never)]
fn run_timers<R>(steps: impl FnOnce() -> R) -> R {
    steps()
}

/// Contenders of the timer workloads.
const TIMER_CONTENDERS: [&str; 4] = [
    "ebtree",
    "ebtree_reschedule",
    "ebtree_plain_tree",
    "btreemap",
];

fn timers(t: Timeouts, contender: &str, warm: u64, steps: u64) {
    fn run<W: TimerWorkload>(t: Timeouts, warm: u64, steps: u64) {
        let mut w = W::new(t);
        w.steps(warm);
        timed(|| run_timers(|| w.steps(steps)), steps);
    }
    match contender {
        "ebtree" => run::<QueueCancel>(t, warm, steps),
        "ebtree_reschedule" => run::<QueueReschedule>(t, warm, steps),
        "ebtree_plain_tree" => run::<PlainTree>(t, warm, steps),
        _ => run::<BTreeMapTimers>(t, warm, steps),
    }
}

#[inline(never)]
fn run_lookup_ge_ebtree(t: &EbTree<u32, u32>, probes: &[u32]) -> u32 {
    let mut sum = 0u32;
    for &p in probes {
        if let Some(h) = t.lookup_ge(p) {
            sum = sum.wrapping_add(*t.get(h).unwrap_or(&0));
        }
    }
    sum
}

#[inline(never)]
fn run_lookup_ge_btreemap(m: &BTreeMap<(u32, u32), u32>, probes: &[u32]) -> u32 {
    let mut sum = 0u32;
    for &p in probes {
        if let Some((_, v)) = m.range((p, 0)..).next() {
            sum = sum.wrapping_add(*v);
        }
    }
    sum
}

/// Leastconn: 64 servers keyed `(conns + 1) << 32 / weight`, one connection opened or
/// closed per step, the server re-keyed.
#[inline(never)]
fn run_rekey_ebtree(t: &mut EbTree<u64, usize>, hs: &[Handle], conns: &mut [u64], ops: u64) {
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    for _ in 0..ops {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let s = (x % hs.len() as u64) as usize;
        if x & (1 << 40) != 0 || conns[s] == 0 {
            conns[s] += 1;
        } else {
            conns[s] -= 1;
        }
        let w = 1 + (s as u64 % 4);
        t.rekey(hs[s], ((conns[s] + 1) << 32) / w);
    }
}

#[inline(never)]
fn run_lpm_ebtree(t: &PrefixTree<Ipv4Addr, u32>, probes: &[u32]) -> u32 {
    let mut sum = 0u32;
    for &p in probes {
        if let Some(h) = t.lookup_longest(Ipv4Addr::from_bits(p)) {
            sum = sum.wrapping_add(*t.get(h).unwrap_or(&0));
        }
    }
    sum
}

/// Wall time, and with `EBTREE_PROFILE_CPU=1` the thread's CPU time (steadier on a
/// shared machine, but the clock as rustix reads it crashes under valgrind, whose
/// counts are the figures to trust anyway).
fn timed<R>(f: impl FnOnce() -> R, ops: u64) {
    let cpu = std::env::var_os("EBTREE_PROFILE_CPU").is_some();
    let thread_ns = || {
        let t = clock_gettime(ClockId::ThreadCPUTime);
        t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
    };
    let cpu_start = if cpu { thread_ns() } else { 0 };
    let start = Instant::now();
    black_box(f());
    let ns = start.elapsed().as_nanos() as f64 / ops as f64;
    if cpu {
        let cpu_ns = (thread_ns() - cpu_start) as f64 / ops as f64;
        println!("  {ns:.1} ns/op (wall, {ops} ops), {cpu_ns:.1} ns/op (thread CPU)");
    } else {
        println!("  {ns:.1} ns/op (wall, {ops} ops)");
    }
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let pairs: Vec<(String, String)> = match args.as_slice() {
        [w, c, ..] => vec![(w.clone(), c.clone())],
        _ => [
            "insert",
            "timers_configured",
            "timers_uniform",
            "timers_short",
            "lookup_ge",
            "lpm",
            "rekey",
        ]
        .iter()
        .flat_map(|&w| {
            let contenders: &[&str] = if w.starts_with("timers") {
                &TIMER_CONTENDERS
            } else {
                &["ebtree", "btreemap"]
            };
            contenders
                .iter()
                .map(move |c| (w.to_string(), c.to_string()))
        })
        .collect(),
    };
    let small = args.len() < 2;
    for (w, c) in pairs {
        println!("{w} {c}");
        match w.as_str() {
            "insert" => {
                let keys = random_keys(if small { 100_000 } else { 1_000_000 }, SEED);
                let n = keys.len() as u64;
                if c == "ebtree" {
                    timed(|| run_insert_ebtree(&keys), n);
                } else {
                    timed(|| run_insert_btreemap(&keys), n);
                }
            }
            "timers_configured" | "timers_uniform" | "timers_short" => {
                // EBTREE_PROFILE_WARM sets the warm-up steps (default 20k; the uniform
                // mix reaches its steady spread of expiries after about 100k).
                let warm = std::env::var("EBTREE_PROFILE_WARM")
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(if small { 1000 } else { 20_000 });
                let steps = if small { 10_000 } else { 100_000 };
                let timeouts = match w.as_str() {
                    "timers_configured" => Timeouts::Configured,
                    "timers_uniform" => Timeouts::Uniform,
                    _ => Timeouts::Short,
                };
                timers(timeouts, &c, warm, steps);
            }
            "lookup_ge" => {
                // EBTREE_PROFILE_KEYS sets the tree size (default 1M).
                let n = std::env::var("EBTREE_PROFILE_KEYS")
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(if small { 100_000 } else { 1_000_000 });
                let keys = random_keys(n, SEED);
                let probes = random_keys(100_000, SEED + 1);
                let n = probes.len() as u64;
                if c == "ebtree" {
                    let mut t = EbTree::new();
                    keys.iter().enumerate().for_each(|(i, &k)| {
                        t.insert(k, i as u32);
                    });
                    timed(|| run_lookup_ge_ebtree(&t, &probes), n);
                } else {
                    let m: BTreeMap<(u32, u32), u32> = keys
                        .iter()
                        .enumerate()
                        .map(|(i, &k)| ((k, i as u32), i as u32))
                        .collect();
                    timed(|| run_lookup_ge_btreemap(&m, &probes), n);
                }
            }
            "rekey" => {
                let mut t = EbTree::new();
                let hs: Vec<Handle> = (0..64)
                    .map(|s| t.insert((1u64 << 32) / (1 + s as u64 % 4), s))
                    .collect();
                let mut conns = vec![0u64; 64];
                let n = if small { 100_000 } else { 1_000_000 };
                timed(|| run_rekey_ebtree(&mut t, &hs, &mut conns, n), n);
            }
            "lpm" => {
                if c != "ebtree" {
                    println!("  (compared with hash maps in ebtree_vs_btreemap)");
                    continue;
                }
                let mut rng = SmallRng::seed_from_u64(SEED + 2);
                let mut t = PrefixTree::new();
                for i in 0..100_000u32 {
                    let len = match rng.random_range(0..100) {
                        0..=59 => 24,
                        60..=89 => rng.random_range(16..24),
                        90..=94 => rng.random_range(8..16),
                        _ => 32,
                    };
                    let addr: u32 = rng.random();
                    let _ = t.insert_prefix_unique(Ipv4Addr::from_bits(addr), len, i);
                }
                let probes = random_keys(100_000, SEED + 3);
                timed(|| run_lpm_ebtree(&t, &probes), probes.len() as u64);
            }
            other => println!("  unknown workload {other}"),
        }
    }
}
