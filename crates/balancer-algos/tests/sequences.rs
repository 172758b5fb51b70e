//! Exact pick sequences over one full weight cycle.

mod common;

use std::time::Duration;

use balancer_algos::haproxy::smooth_rr::smooth_sequence;
use balancer_algos::{Algorithm, Balancer, DispatchOptions, Error, ServerId};
use common::{sequence, servers};

fn build(a: Algorithm, weights: &[u16]) -> Box<dyn Balancer + Send> {
    a.build(servers(weights), DispatchOptions::default())
        .expect("valid configuration")
}

#[test]
fn smooth_roundrobin_spreads_the_heavy_server() {
    let mut lb = build(Algorithm::RoundRobin, &[5, 1, 1]);
    // nginx's smooth WRR for 5,1,1 is a a b a c a a, and the cycle repeats.
    let one = [1, 1, 2, 1, 3, 1, 1];
    let got = sequence(lb.as_mut(), 14);
    assert_eq!(&got[..7], &one);
    assert_eq!(&got[7..], &one);
}

#[test]
fn smooth_sequence_serves_each_weight_exactly_once_per_cycle() {
    let weights = [7u64, 3, 5, 1, 4];
    let seq = smooth_sequence(&weights);
    assert_eq!(seq.len() as u64, weights.iter().sum::<u64>());
    for (i, &w) in weights.iter().enumerate() {
        assert_eq!(seq.iter().filter(|&&p| p == i).count() as u64, w);
    }
    // Smoothness: a server of weight w never waits more than ceil(total / w) + 1 picks.
    let total = seq.len();
    for (i, &w) in weights.iter().enumerate() {
        let pos: Vec<usize> = (0..2 * total).filter(|&k| seq[k % total] == i).collect();
        let max_gap = pos.windows(2).map(|p| p[1] - p[0]).max().unwrap_or(0);
        assert!(
            max_gap <= total.div_ceil(w as usize) + 1,
            "server {i} gap {max_gap}"
        );
    }
}

#[test]
fn lvs_wrr_gives_aababcabc() {
    let mut lb = build(Algorithm::LvsWrr, &[4, 3, 2]);
    let want = [1, 1, 2, 1, 2, 3, 1, 2, 3];
    let got = sequence(lb.as_mut(), 18);
    assert_eq!(&got[..9], &want, "first cycle");
    assert_eq!(&got[9..], &want, "second cycle");
}

#[test]
fn static_rr_walks_haproxys_map() {
    // HAProxy's map for weights 3,2,1 (scores divided by the total, first server on
    // ties): a a b a b c.
    let mut lb = build(Algorithm::StaticRoundRobin, &[3, 2, 1]);
    let got = sequence(lb.as_mut(), 12);
    assert_eq!(got, [1, 1, 2, 1, 2, 3, 1, 1, 2, 1, 2, 3]);
}

#[test]
fn static_rr_refuses_weight_changes_but_allows_zero_and_back() {
    let mut lb = build(Algorithm::StaticRoundRobin, &[3, 2, 1]);
    let now = Duration::ZERO;
    assert_eq!(
        lb.set_weight(ServerId(1), 7, now),
        Err(Error::StaticWeight {
            id: ServerId(1),
            configured: 3
        })
    );
    lb.set_weight(ServerId(1), 0, now).expect("0 is allowed");
    let got = sequence(lb.as_mut(), 6);
    assert!(!got.contains(&1), "weight 0 takes no new sessions: {got:?}");
    lb.set_weight(ServerId(1), 3, now)
        .expect("back to configured");
    assert_eq!(
        sequence(lb.as_mut(), 6).iter().filter(|&&s| s == 1).count(),
        3
    );
}

#[test]
fn roundrobin_weight_change_takes_effect_at_once() {
    let mut lb = build(Algorithm::RoundRobin, &[1, 1]);
    lb.set_weight(ServerId(2), 3, Duration::ZERO)
        .expect("known server");
    let got = sequence(lb.as_mut(), 8);
    assert_eq!(got.iter().filter(|&&s| s == 2).count(), 6, "{got:?}");
}
