//! Pick and build costs at 10, 100 and 1000 servers.
//!
//! Targets (issue 3): roundrobin, leastconn and random(2) pick <= 30 ns at 1000 servers;
//! consistent-hash lookup <= 60 ns; Maglev lookup <= 20 ns; a 65537-slot Maglev table
//! for 1000 servers built in <= 5 ms. The ring lookup (binary search in the array frozen
//! from the ebtree) is also measured walking the ebtree directly.

use std::hint::black_box;

use balancer_algos::haproxy::leastconn::LeastConn;
use balancer_algos::haproxy::random::RandomDraws;
use balancer_algos::haproxy::ring::{ConsistentRing, RingMember};
use balancer_algos::haproxy::smooth_rr::SmoothRoundRobin;
use balancer_algos::hash_fn::mix64;
use balancer_algos::modern::maglev::{DEFAULT_TABLE_SIZE, MaglevMember, MaglevTable};
use balancer_algos::{Balancer, Dispatcher, Request, ServerConfig, ServerId};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

const SIZES: [usize; 3] = [10, 100, 1000];

fn servers(n: usize) -> Vec<ServerConfig> {
    (0..n as u32).map(|i| ServerConfig::new(i + 1, 1)).collect()
}

fn picks(c: &mut Criterion) {
    let mut g = c.benchmark_group("pick");
    let req = Request::default();
    for n in SIZES {
        g.bench_with_input(BenchmarkId::new("roundrobin", n), &n, |b, &n| {
            let mut lb = Dispatcher::new(servers(n), SmoothRoundRobin::new()).expect("valid");
            b.iter(|| black_box(lb.pick(black_box(&req))));
        });
        g.bench_with_input(BenchmarkId::new("leastconn", n), &n, |b, &n| {
            let mut lb = Dispatcher::new(servers(n), LeastConn::new()).expect("valid");
            // Some load so the tree is not all ties.
            for i in 0..n as u32 {
                for _ in 0..i % 5 {
                    lb.connection_started(ServerId(i + 1));
                }
            }
            b.iter(|| black_box(lb.pick(black_box(&req))));
        });
        g.bench_with_input(
            BenchmarkId::new("leastconn_pick_start_end", n),
            &n,
            |b, &n| {
                let mut lb = Dispatcher::new(servers(n), LeastConn::new()).expect("valid");
                b.iter(|| {
                    if let Some(s) = lb.pick(black_box(&req)) {
                        lb.connection_started(s);
                        lb.connection_ended(s);
                    }
                });
            },
        );
        g.bench_with_input(BenchmarkId::new("random2", n), &n, |b, &n| {
            let pol = RandomDraws::new(2).expect("valid");
            let mut lb = Dispatcher::new(servers(n), pol).expect("valid");
            b.iter(|| black_box(lb.pick(black_box(&req))));
        });
    }
    g.finish();
}

fn lookups(c: &mut Criterion) {
    let mut g = c.benchmark_group("lookup");
    // The same 65536 well-mixed keys for every lookup benchmark, read in order, so each
    // lookup lands at a random place in its table (as real traffic would).
    const KEYS: usize = 1 << 16;
    let keys: Vec<u64> = (0..KEYS as u64).map(mix64).collect();
    let hashes: Vec<u32> = keys.iter().map(|&k| (k >> 32) as u32).collect();
    for n in SIZES {
        let members: Vec<RingMember> = (0..n as u32)
            .map(|i| RingMember {
                index: i as usize,
                id: ServerId(i + 1),
                weight: 16,
            })
            .collect();
        let ring = ConsistentRing::build(&members).expect("fits");
        g.bench_with_input(BenchmarkId::new("chash", n), &n, |b, _| {
            let mut k = 0;
            b.iter(|| {
                k = (k + 1) & (KEYS - 1);
                black_box(ring.lookup(black_box(hashes[k])))
            });
        });
        // The alternative: the same lookup walking the ebtree (lookup_ge, prev) instead of
        // the array frozen from it.
        g.bench_with_input(BenchmarkId::new("chash_on_tree", n), &n, |b, _| {
            let mut k = 0;
            b.iter(|| {
                k = (k + 1) & (KEYS - 1);
                black_box(ring.lookup_in_tree(black_box(hashes[k])))
            });
        });
        let mm: Vec<MaglevMember> = members
            .iter()
            .map(|m| MaglevMember {
                index: m.index,
                id: m.id,
                weight: 1,
            })
            .collect();
        let table = MaglevTable::build(&mm, DEFAULT_TABLE_SIZE).expect("prime");
        g.bench_with_input(BenchmarkId::new("maglev", n), &n, |b, _| {
            let mut k = 0;
            b.iter(|| {
                k = (k + 1) & (KEYS - 1);
                black_box(table.lookup(black_box(keys[k])).map(|m| m.index))
            });
        });
    }
    g.finish();
}

fn builds(c: &mut Criterion) {
    let mut g = c.benchmark_group("build");
    g.sample_size(10);
    for n in SIZES {
        let mm: Vec<MaglevMember> = (0..n as u32)
            .map(|i| MaglevMember {
                index: i as usize,
                id: ServerId(i + 1),
                weight: 1,
            })
            .collect();
        g.bench_with_input(BenchmarkId::new("maglev_65537", n), &n, |b, _| {
            b.iter(|| black_box(MaglevTable::build(black_box(&mm), DEFAULT_TABLE_SIZE)));
        });
    }
    g.finish();
}

criterion_group!(benches, picks, lookups, builds);
criterion_main!(benches);
