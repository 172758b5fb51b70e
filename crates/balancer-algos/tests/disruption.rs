//! Removing or adding a server moves few keys: exactly the removed server's keys for
//! the consistent ring and rendezvous, within 1% extra for Maglev, and about 1/(N+1)
//! of all keys when adding one.

use balancer_algos::ServerId;
use balancer_algos::haproxy::ring::{ConsistentRing, RingMember};
use balancer_algos::hash_fn::{avalanche, mix64};
use balancer_algos::modern::jump::jump_hash;
use balancer_algos::modern::maglev::{DEFAULT_TABLE_SIZE, MaglevMember, MaglevTable};
use balancer_algos::modern::rendezvous::score;

const N: u32 = 10;
const KEYS: u32 = 100_000;

/// Maps every key with `f`, which returns a server id.
fn assign(f: impl Fn(u32) -> u32) -> Vec<u32> {
    (0..KEYS).map(f).collect()
}

/// (keys not on `removed` that moved, keys moved in total) between two assignments.
fn moved(before: &[u32], after: &[u32], removed: Option<u32>) -> (usize, usize) {
    let mut collateral = 0;
    let mut total = 0;
    for (b, a) in before.iter().zip(after) {
        if b != a {
            total += 1;
            if Some(*b) != removed {
                collateral += 1;
            }
        }
    }
    (collateral, total)
}

fn ring(ids: impl Iterator<Item = u32>) -> ConsistentRing {
    let members: Vec<RingMember> = ids
        .enumerate()
        .map(|(i, id)| RingMember {
            index: i,
            id: ServerId(id),
            weight: 16,
        })
        .collect();
    ConsistentRing::build(&members).expect("fits")
}

fn ring_assign(r: &ConsistentRing) -> Vec<u32> {
    assign(|k| {
        let pos = r.lookup(avalanche(k)).expect("non-empty ring");
        r.members()[pos].id.0
    })
}

#[test]
fn consistent_ring_remaps_only_the_removed_servers_keys() {
    let before = ring_assign(&ring(1..=N));
    let removed = 4;
    let after = ring_assign(&ring((1..=N).filter(|&i| i != removed)));
    let (collateral, total) = moved(&before, &after, Some(removed));
    assert_eq!(collateral, 0, "keys of other servers moved");
    assert_eq!(total, before.iter().filter(|&&s| s == removed).count());
}

#[test]
fn consistent_ring_adding_one_moves_about_one_in_n_plus_one() {
    let before = ring_assign(&ring(1..=N));
    let after = ring_assign(&ring(1..=N + 1));
    for (b, a) in before.iter().zip(&after) {
        assert!(b == a || *a == N + 1, "a key moved between old servers");
    }
    let (_, total) = moved(&before, &after, None);
    let frac = total as f64 / f64::from(KEYS);
    // 16 points per server leave some variance around 1/(N+1) = 9.1%.
    assert!(frac <= 1.5 / f64::from(N + 1), "moved {frac:.3}");
}

fn maglev(ids: impl Iterator<Item = u32>) -> MaglevTable {
    let members: Vec<MaglevMember> = ids
        .enumerate()
        .map(|(i, id)| MaglevMember {
            index: i,
            id: ServerId(id),
            weight: 1,
        })
        .collect();
    MaglevTable::build(&members, DEFAULT_TABLE_SIZE).expect("prime")
}

fn maglev_assign(t: &MaglevTable) -> Vec<u32> {
    assign(|k| t.lookup(mix64(u64::from(k))).expect("non-empty").id.0)
}

#[test]
fn maglev_removal_moves_at_most_one_percent_extra() {
    let before = maglev_assign(&maglev(1..=N));
    let removed = 7;
    let after = maglev_assign(&maglev((1..=N).filter(|&i| i != removed)));
    let (collateral, _) = moved(&before, &after, Some(removed));
    let frac = collateral as f64 / f64::from(KEYS);
    assert!(frac <= 0.01, "collateral {frac:.4}");
    for (b, a) in before.iter().zip(&after) {
        assert!(*b != removed || *a != removed);
    }
}

#[test]
fn maglev_adding_one_moves_about_one_in_n_plus_one() {
    let before = maglev_assign(&maglev(1..=N));
    let after = maglev_assign(&maglev(1..=N + 1));
    let (_, total) = moved(&before, &after, None);
    let frac = total as f64 / f64::from(KEYS);
    assert!(frac <= 1.0 / f64::from(N + 1) + 0.01, "moved {frac:.4}");
}

fn hrw_assign(ids: &[u32]) -> Vec<u32> {
    assign(|k| {
        let h = mix64(u64::from(k));
        *ids.iter()
            .max_by(|&&a, &&b| score(h, ServerId(a), 1).total_cmp(&score(h, ServerId(b), 1)))
            .expect("servers")
    })
}

#[test]
fn rendezvous_moves_only_what_it_must() {
    let all: Vec<u32> = (1..=N).collect();
    let before = hrw_assign(&all);
    let removed = 2;
    let fewer: Vec<u32> = all.iter().copied().filter(|&i| i != removed).collect();
    let after = hrw_assign(&fewer);
    let (collateral, _) = moved(&before, &after, Some(removed));
    assert_eq!(collateral, 0);
    let more: Vec<u32> = (1..=N + 1).collect();
    let grown = hrw_assign(&more);
    let (_, total) = moved(&before, &grown, None);
    for (b, a) in before.iter().zip(&grown) {
        assert!(b == a || *a == N + 1);
    }
    let frac = total as f64 / f64::from(KEYS);
    assert!(
        (frac - 1.0 / f64::from(N + 1)).abs() <= 0.01,
        "moved {frac:.4}"
    );
}

#[test]
fn jump_hash_growth_moves_only_to_the_new_bucket() {
    let before = assign(|k| jump_hash(mix64(u64::from(k)), N));
    let after = assign(|k| jump_hash(mix64(u64::from(k)), N + 1));
    for (b, a) in before.iter().zip(&after) {
        assert!(b == a || *a == N, "moved between old buckets");
    }
    let (_, total) = moved(&before, &after, None);
    let frac = total as f64 / f64::from(KEYS);
    assert!(
        (frac - 1.0 / f64::from(N + 1)).abs() <= 0.01,
        "moved {frac:.4}"
    );
}
