//! Helpers shared by the integration tests.
#![allow(dead_code)] // each test binary uses a different subset

use std::collections::HashMap;

use balancer_algos::{Balancer, Request, ServerConfig, ServerId};

/// Servers with ids 1.. and the given weights.
pub fn servers(weights: &[u16]) -> Vec<ServerConfig> {
    weights
        .iter()
        .enumerate()
        .map(|(i, &w)| ServerConfig::new(i as u32 + 1, w))
        .collect()
}

/// Picks `n` times with the same request; counts per server.
pub fn count_picks(lb: &mut dyn Balancer, req: &Request<'_>, n: usize) -> HashMap<ServerId, u64> {
    let mut counts = HashMap::new();
    for _ in 0..n {
        let s = lb.pick(req).expect("a server is available");
        *counts.entry(s).or_insert(0) += 1;
    }
    counts
}

/// Asserts that each server's share of `counts` is within `tolerance` (absolute, as a
/// fraction of all picks) of its weight share. Servers are ids 1..=weights.len().
pub fn assert_shares(counts: &HashMap<ServerId, u64>, weights: &[u16], tolerance: f64, what: &str) {
    let total: u64 = counts.values().sum();
    let wsum: f64 = weights.iter().map(|&w| f64::from(w)).sum();
    for (i, &w) in weights.iter().enumerate() {
        let got = *counts.get(&ServerId(i as u32 + 1)).unwrap_or(&0) as f64 / total as f64;
        let want = f64::from(w) / wsum;
        assert!(
            (got - want).abs() <= tolerance,
            "{what}: server {} share {got:.4}, weight share {want:.4}",
            i + 1
        );
    }
}

/// Sequence of ids picked.
pub fn sequence(lb: &mut dyn Balancer, n: usize) -> Vec<u32> {
    (0..n)
        .map(|_| lb.pick(&Request::default()).expect("available").0)
        .collect()
}
