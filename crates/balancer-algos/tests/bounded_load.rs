//! Consistent hashing with bounded loads (`hash-balance-factor 125`): even when every
//! request carries the same key, no server holds more than 1.25x the average.

mod common;

use balancer_algos::haproxy::hashing::HashType;
use balancer_algos::{Algorithm, DispatchOptions, HashKey, HashSpec, Request};
use common::servers;

fn run(keys: impl Fn(u32) -> Vec<u8>, factor: Option<u32>) -> (u64, Vec<u64>) {
    let n = 10usize;
    let mut lb = Algorithm::Hash {
        key: HashKey::Key,
        spec: HashSpec::default(),
        kind: HashType::Consistent {
            balance_factor: factor,
        },
    }
    .build(servers(&[1; 10]), DispatchOptions::default())
    .expect("valid");
    let mut held = vec![0u64; n];
    let mut worst_excess = 0u64;
    for i in 0..1000u32 {
        let key = keys(i);
        let s = lb.pick(&Request::from_key(&key)).expect("available");
        lb.connection_started(s);
        held[s.0 as usize - 1] += 1;
        let total: u64 = held.iter().sum();
        // The bound at every step: ceil(1.25 x total / n) (HAProxy rounds slots up).
        let bound = (total * 125).div_ceil(100 * n as u64);
        let max = *held.iter().max().expect("servers");
        worst_excess = worst_excess.max(max.saturating_sub(bound));
    }
    (worst_excess, held)
}

#[test]
fn balance_factor_125_caps_every_server_at_125_percent_of_average() {
    let (excess, held) = run(|_| b"hot-key".to_vec(), Some(125));
    assert!(
        excess <= 1,
        "a server went past the bound by {excess}: {held:?}"
    );
    let avg = held.iter().sum::<u64>() as f64 / held.len() as f64;
    let max = *held.iter().max().expect("servers") as f64;
    assert!(max <= 1.25 * avg, "max {max} avg {avg}: {held:?}");
}

#[test]
fn without_a_balance_factor_a_hot_key_piles_onto_one_server() {
    // The control: the same workload without the bound is maximally unbalanced, so the
    // test above is measuring the bound and not the workload.
    let (_, held) = run(|_| b"hot-key".to_vec(), None);
    assert_eq!(*held.iter().max().expect("servers"), 1000);
}

#[test]
fn bounded_loads_keep_affinity_for_spread_keys() {
    let (excess, held) = run(|i| (i % 50).to_le_bytes().to_vec(), Some(125));
    assert!(excess <= 1, "{held:?}");
}
