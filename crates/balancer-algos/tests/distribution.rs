//! Shares of picks follow weights (within 1 percentage point) where promised.

mod common;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};

use balancer_algos::haproxy::hashing::HashType;
use balancer_algos::lvs::least_conn::LeastConnKind;
use balancer_algos::modern::maglev::{DEFAULT_TABLE_SIZE, MaglevMember, MaglevTable};
use balancer_algos::{Algorithm, Balancer, DispatchOptions, HashKey, HashSpec, Request, ServerId};
use common::{assert_shares, count_picks, servers};

const WEIGHTS: [u16; 4] = [1, 2, 3, 4];
const PICKS: usize = 100_000;

fn build(a: Algorithm) -> Box<dyn Balancer + Send> {
    a.build(
        servers(&WEIGHTS),
        DispatchOptions {
            seed: 7,
            ..DispatchOptions::default()
        },
    )
    .expect("valid configuration")
}

#[test]
fn deterministic_rotations_follow_weights() {
    for a in [
        Algorithm::RoundRobin,
        Algorithm::StaticRoundRobin,
        Algorithm::LvsWrr,
    ] {
        let mut lb = build(a.clone());
        let c = count_picks(lb.as_mut(), &Request::default(), 10_000);
        assert_shares(&c, &WEIGHTS, 0.0001, &format!("{a:?}"));
    }
}

#[test]
fn random_draws_follow_weights_when_idle() {
    for a in [
        Algorithm::Random { draws: 1 },
        Algorithm::Random { draws: 2 },
        Algorithm::LvsTwos,
    ] {
        let mut lb = build(a.clone());
        let c = count_picks(lb.as_mut(), &Request::default(), PICKS);
        assert_shares(&c, &WEIGHTS, 0.01, &format!("{a:?}"));
    }
}

/// Picks with keys 0..n; counts per server.
fn count_keyed(lb: &mut dyn Balancer, n: u32) -> HashMap<ServerId, u64> {
    let mut counts = HashMap::new();
    for k in 0..n {
        let key = k.to_le_bytes();
        let s = lb.pick(&Request::from_key(&key)).expect("available");
        *counts.entry(s).or_insert(0) += 1;
    }
    counts
}

#[test]
fn key_hashing_follows_weights() {
    for a in [
        Algorithm::Maglev {
            table_size: DEFAULT_TABLE_SIZE,
        },
        Algorithm::Rendezvous,
        Algorithm::Hash {
            key: HashKey::Key,
            spec: HashSpec {
                avalanche: true,
                ..HashSpec::default()
            },
            kind: HashType::MapBased,
        },
    ] {
        let mut lb = build(a.clone());
        let c = count_keyed(lb.as_mut(), PICKS as u32);
        assert_shares(&c, &WEIGHTS, 0.01, &format!("{a:?}"));
    }
}

#[test]
fn jump_hash_is_uniform() {
    let weights = [1u16; 7];
    let mut lb = Algorithm::Jump
        .build(servers(&weights), DispatchOptions::default())
        .expect("valid");
    let c = count_keyed(lb.as_mut(), PICKS as u32);
    assert_shares(&c, &weights, 0.01, "jump");
}

#[test]
fn maglev_table_slots_follow_weights_within_one_percent() {
    // 100 servers with weights 1..=4 repeating: each server's slot count is within 1% of
    // its exact share of the 65537 slots.
    let members: Vec<MaglevMember> = (0..100u32)
        .map(|i| MaglevMember {
            index: i as usize,
            id: ServerId(i + 1),
            weight: i % 4 + 1,
        })
        .collect();
    let t = MaglevTable::build(&members, DEFAULT_TABLE_SIZE).expect("prime size");
    let wsum: u32 = members.iter().map(|m| m.weight).sum();
    let mut slots = vec![0u32; members.len()];
    for s in t.slot_members() {
        slots[s] += 1;
    }
    for (m, &got) in members.iter().zip(&slots) {
        let want = f64::from(DEFAULT_TABLE_SIZE) * f64::from(m.weight) / f64::from(wsum);
        assert!(
            (f64::from(got) - want).abs() <= want * 0.01 + 1.0,
            "server {:?}: {got} slots, want {want:.1}",
            m.id
        );
    }
}

#[test]
fn source_hashing_covers_all_servers_by_weight() {
    // LVS sh deals weight consecutive buckets to each server: 256 buckets split 1:2:3:4
    // in runs, so with many addresses the shares are close to the weight shares.
    let mut lb = build(Algorithm::LvsSh {
        fallback: false,
        port: false,
    });
    let mut counts = HashMap::new();
    for i in 0..PICKS as u32 {
        let addr = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
        let s = lb.pick(&Request::from_source(addr)).expect("available");
        *counts.entry(s).or_insert(0u64) += 1;
    }
    // 256 buckets dealt 1,2,3,4,1,2,... : 26 rounds of 10 buckets minus the tail.
    assert_shares(&counts, &WEIGHTS, 0.01, "sh");
}

#[test]
fn leastconn_holds_connections_in_weight_ratio() {
    // With connections held open, leastconn keeps in-flight counts proportional to
    // weights: after 1000 picks each server holds its share.
    for a in [
        Algorithm::LeastConn,
        Algorithm::LvsLeastConn(LeastConnKind::Wlc),
        Algorithm::LvsLeastConn(LeastConnKind::Sed),
    ] {
        let mut lb = build(a.clone());
        let mut counts = HashMap::new();
        for _ in 0..1000 {
            let s = lb.pick(&Request::default()).expect("available");
            lb.connection_started(s);
            *counts.entry(s).or_insert(0u64) += 1;
        }
        assert_shares(&counts, &WEIGHTS, 0.01, &format!("{a:?}"));
    }
}

#[test]
fn lookup_tables_can_be_shared_across_threads() {
    // Tables are built off the hot path and published (e.g. behind arc-swap): they must
    // be Send + Sync.
    fn shareable<T: Send + Sync>() {}
    shareable::<balancer_algos::haproxy::ring::ConsistentRing>();
    shareable::<MaglevTable>();
    shareable::<balancer_algos::haproxy::weight_map::WeightMap>();
}
