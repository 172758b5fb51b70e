//! The workloads of `ebtree_vs_btreemap`, one at a time and without criterion, for
//! instruction and cache-miss counts under valgrind, which are repeatable on a loaded
//! machine where timings are not:
//!
//! ```text
//! cargo bench -p ebtree --no-run
//! valgrind --tool=callgrind --cache-sim=yes --toggle-collect='ebtree_profile::run_*' \
//!     target/release/deps/ebtree_profile-* timers_uniform ebtree
//! ```
//!
//! Arguments: a workload (`insert`, `timers_configured`, `timers_uniform`, `lookup_ge`,
//! `lpm`, `rekey`) and a contender (`ebtree`, `btreemap`). The setup is outside the `run_*`
//! functions, so `--toggle-collect` counts the measured part alone. Without arguments
//! (as `cargo bench` runs it) every pair runs once, small, and prints its time.

use ebtree::{EbTree, Handle, PrefixTree, TimerQueue};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::hint::black_box;
use std::net::Ipv4Addr;
use std::time::Instant;

const SEED: u64 = 0x5EED_EB7E;
const TIMERS: usize = 100_000;

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

/// The timer workload's random choices, identical for every contender.
struct Driver {
    rng: SmallRng,
    now: u32,
    uniform: bool,
}

impl Driver {
    fn new(uniform: bool) -> Self {
        Driver {
            rng: SmallRng::seed_from_u64(SEED),
            now: 0,
            uniform,
        }
    }
    fn initial(&mut self) -> u32 {
        self.now + self.rng.random_range(1..=50_000)
    }
    fn timeout(&mut self) -> u32 {
        self.now
            + if self.uniform {
                self.rng.random_range(1..=100_000)
            } else {
                [2_000, 5_000, 30_000, 50_000][self.rng.random_range(0..4)]
            }
    }
    fn victim(&mut self) -> usize {
        self.rng.random_range(0..TIMERS)
    }
}

#[inline(never)]
fn run_timers_ebtree(
    d: &mut Driver,
    q: &mut TimerQueue<u32>,
    handles: &mut [Handle],
    steps: u64,
) -> usize {
    for _ in 0..steps {
        d.now += 1;
        let id = d.victim();
        q.cancel(handles[id]);
        let t = d.timeout();
        handles[id] = q.schedule(t, id as u32);
        while let Some((_, id)) = q.pop_expired(d.now) {
            let t = d.timeout();
            handles[id as usize] = q.schedule(t, id);
        }
    }
    q.len()
}

#[inline(never)]
fn run_timers_btreemap(
    d: &mut Driver,
    m: &mut BTreeMap<(u32, u32), ()>,
    expiry: &mut [u32],
    steps: u64,
) -> usize {
    for _ in 0..steps {
        d.now += 1;
        let id = d.victim();
        m.remove(&(expiry[id], id as u32));
        let t = d.timeout();
        m.insert((t, id as u32), ());
        expiry[id] = t;
        while let Some(entry) = m.first_entry() {
            let (t, id) = *entry.key();
            if t > d.now {
                break;
            }
            entry.remove();
            let t = d.timeout();
            m.insert((t, id), ());
            expiry[id as usize] = t;
        }
    }
    m.len()
}

fn timers(uniform: bool, contender: &str, warm: u64, steps: u64) {
    let mut d = Driver::new(uniform);
    if contender == "ebtree" {
        let mut q = TimerQueue::with_capacity(TIMERS);
        let mut handles: Vec<Handle> = (0..TIMERS as u32)
            .map(|id| {
                let t = d.initial();
                q.schedule(t, id)
            })
            .collect();
        run_timers_ebtree(&mut d, &mut q, &mut handles, warm);
        timed(
            || run_timers_ebtree(&mut d, &mut q, &mut handles, steps),
            steps,
        );
    } else {
        let mut m = BTreeMap::new();
        let mut expiry: Vec<u32> = (0..TIMERS as u32)
            .map(|id| {
                let t = d.initial();
                m.insert((t, id), ());
                t
            })
            .collect();
        run_timers_btreemap(&mut d, &mut m, &mut expiry, warm);
        timed(
            || run_timers_btreemap(&mut d, &mut m, &mut expiry, steps),
            steps,
        );
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

/// Wall time: only indicative on a shared machine, but it works under valgrind, which
/// the thread CPU-time clock (as rustix reads it) does not; the valgrind counts are the
/// figures to trust.
fn timed<R>(f: impl FnOnce() -> R, ops: u64) {
    let start = Instant::now();
    black_box(f());
    let ns = start.elapsed().as_nanos() as f64 / ops as f64;
    println!("  {ns:.1} ns/op (wall, {ops} ops)");
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
            "lookup_ge",
            "lpm",
            "rekey",
        ]
        .iter()
        .flat_map(|w| ["ebtree", "btreemap"].map(|c| (w.to_string(), c.to_string())))
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
            "timers_configured" | "timers_uniform" => {
                let (warm, steps) = if small {
                    (1000, 10_000)
                } else {
                    (20_000, 100_000)
                };
                timers(w == "timers_uniform", &c, warm, steps);
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
