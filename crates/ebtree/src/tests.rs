//! Randomized checks of the engine's invariants against ordered models.

use crate::{BytesTree, EbTree, Handle, PrefixTree, TimerQueue};
use std::collections::BTreeMap;

/// A small deterministic generator (xorshift), so these tests need no dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn run_int_model(seed: u64, key_space: u64, steps: usize) {
    let mut rng = Rng(seed);
    let mut t: EbTree<u32, u64> = EbTree::new();
    let mut model: BTreeMap<(u32, u64), (Handle, u64)> = BTreeMap::new();
    let mut live: Vec<(u32, u64)> = Vec::new();
    let mut dead: Vec<Handle> = Vec::new();
    for seq in 0..steps as u64 {
        let k = rng.below(key_space) as u32;
        match rng.below(10) {
            0..=4 => {
                let h = t.insert(k, seq);
                model.insert((k, seq), (h, seq));
                live.push((k, seq));
            }
            5 | 6 if !live.is_empty() => {
                let j = rng.below(live.len() as u64) as usize;
                let mk = live.swap_remove(j);
                let (h, v) = model.remove(&mk).unwrap();
                assert_eq!(t.remove(h), Some((mk.0, v)));
                dead.push(h);
            }
            7 if !live.is_empty() => {
                let j = rng.below(live.len() as u64) as usize;
                let mk = live[j];
                let (h, v) = model.remove(&mk).unwrap();
                assert!(t.rekey(h, k));
                model.insert((k, seq), (h, v));
                live[j] = (k, seq);
            }
            _ => {}
        }
        t.check();
        let first_of = |key: u32| {
            model
                .range((key, 0)..=(key, u64::MAX))
                .next()
                .map(|(_, (h, _))| *h)
        };
        assert_eq!(t.lookup(k), first_of(k));
        let ge = model.range((k, 0)..).next().map(|(_, (h, _))| *h);
        assert_eq!(t.lookup_ge(k), ge, "ge {k}");
        let le = model
            .range(..=(k, u64::MAX))
            .next_back()
            .map(|(_, (h, _))| *h);
        assert_eq!(t.lookup_le(k), le, "le {k}");
        if let Some(&h) = dead.last() {
            assert_eq!(t.get(h), None);
        }
        if seq % 64 == 0 {
            let got: Vec<_> = t.iter().map(|(h, k, v)| (h, k, *v)).collect();
            let want: Vec<_> = model.iter().map(|(k, (h, v))| (*h, k.0, *v)).collect();
            assert_eq!(got, want);
            let back: Vec<_> = t.iter().rev().map(|(h, _, _)| h).collect();
            let want_back: Vec<_> = model.values().rev().map(|(h, _)| *h).collect();
            assert_eq!(back, want_back);
        }
    }
}

#[test]
fn int_tree_matches_model_dense_keys() {
    for seed in 1..8 {
        run_int_model(seed, 16, 1500);
    }
}

#[test]
fn int_tree_matches_model_sparse_keys() {
    for seed in 1..4 {
        run_int_model(seed * 7919, u32::MAX as u64 + 1, 1500);
    }
}

#[test]
fn prefix_tree_matches_naive_longest_match() {
    let mut rng = Rng(42);
    let mut t: PrefixTree<u32, u32> = PrefixTree::new();
    let mut entries: Vec<(Handle, u32, u32, u32)> = Vec::new();
    for step in 0..2000u32 {
        if rng.below(3) > 0 || entries.is_empty() {
            // Few distinct prefixes, so that covers and duplicates are frequent.
            let len = rng.below(33) as u32;
            let key = ((rng.below(8) as u32) << 29 | (rng.below(4) as u32) << 20)
                & crate::key::private::Bits::keep_prefix(u32::MAX, len);
            let h = t.insert_prefix(key, len, step).unwrap();
            entries.push((h, key, len, step));
        } else {
            let j = rng.below(entries.len() as u64) as usize;
            let (h, key, len, v) = entries.swap_remove(j);
            assert_eq!(t.remove(h), Some((key, len, v)));
        }
        t.check();
        let addr = (rng.below(8) as u32) << 29 | (rng.below(4) as u32) << 20 | rng.below(2) as u32;
        let want = entries
            .iter()
            .filter(|e| e.2 == 0 || (e.1 ^ addr) >> (32 - e.2) == 0)
            .max_by_key(|e| (e.2, std::cmp::Reverse(e.3)))
            .map(|e| e.0);
        assert_eq!(t.lookup_longest(addr), want, "addr {addr:08x}");
        if step % 50 != 0 {
            continue;
        }
        let mut want_order: Vec<_> = entries.clone();
        want_order.sort_by_key(|e| {
            let bits: Vec<u32> = (0..e.2).map(|b| (e.1 >> (31 - b)) & 1).collect();
            (bits, e.3)
        });
        let got: Vec<_> = t.iter().map(|(h, ..)| h).collect();
        assert_eq!(got, want_order.iter().map(|e| e.0).collect::<Vec<_>>());
    }
}

#[test]
fn bytes_tree_matches_model() {
    let mut rng = Rng(7);
    let mut t: BytesTree<Vec<u8>, u32> = BytesTree::new();
    let mut model: BTreeMap<(Vec<u8>, u32), Handle> = BTreeMap::new();
    for step in 0..1500u32 {
        let len = rng.below(4) as usize;
        let key: Vec<u8> = (0..len)
            .map(|_| [0u8, 1, b'a', 0xff][rng.below(4) as usize])
            .collect();
        if rng.below(3) > 0 || model.is_empty() {
            let h = t.insert(key.clone(), step);
            model.insert((key.clone(), step), h);
        } else {
            let (k, h) = model
                .iter()
                .nth(rng.below(model.len() as u64) as usize)
                .map(|(k, h)| (k.clone(), *h))
                .unwrap();
            model.remove(&k);
            assert_eq!(t.remove(h), Some((k.0, k.1)));
        }
        t.check();
        let ge = model.range((key.clone(), 0)..).next().map(|(_, h)| *h);
        assert_eq!(t.lookup_ge(&key), ge);
        let le = model
            .range(..=(key.clone(), u32::MAX))
            .next_back()
            .map(|(_, h)| *h);
        assert_eq!(t.lookup_le(&key), le);
        let got: Vec<_> = t.iter().map(|(h, _, _)| h).collect();
        assert_eq!(got, model.values().copied().collect::<Vec<_>>());
    }
}

#[test]
fn random_keys_make_a_shallow_tree() {
    let mut rng = Rng(3);
    let mut t: EbTree<u32, ()> = EbTree::new();
    for _ in 0..100_000 {
        t.insert(rng.next() as u32, ());
    }
    let (max, mean) = t.depths();
    // log2(100k) = 16.6; a radix tree on random keys stays close to it.
    assert!(mean < 22.0 && max < 40, "max {max} mean {mean}");
}

/// Timers armed with a server's few timeouts share buckets, fill chunks, drain through
/// the head's tick lists and get compacted as they are cancelled and rescheduled; the
/// queue's structure must stay sound and its order match a sorted model.
#[test]
fn timer_buckets_keep_their_invariants() {
    let mut rng = Rng(11);
    let mut q: TimerQueue<u32> = TimerQueue::new();
    let mut model: BTreeMap<(u32, u32), Handle> = BTreeMap::new();
    let mut by_id: Vec<Option<(u32, u32)>> = Vec::new();
    let mut now = 1000u32;
    for step in 0..6000u32 {
        let seq = step;
        now += 1;
        let timeout = [3, 40, 700, 9000][rng.below(4) as usize] + rng.below(3) as u32;
        let expire = now + timeout;
        match rng.below(4) {
            0 | 1 => {
                let id = by_id.len() as u32;
                let h = q.schedule(expire, id);
                model.insert((expire, seq), h);
                by_id.push(Some((expire, seq)));
            }
            2 if !by_id.is_empty() => {
                let id = rng.below(by_id.len() as u64) as usize;
                if let Some(mk) = by_id[id].take() {
                    let h = model.remove(&mk).unwrap();
                    assert!(q.reschedule(h, expire));
                    model.insert((expire, seq), h);
                    by_id[id] = Some((expire, seq));
                }
            }
            _ if !by_id.is_empty() => {
                let id = rng.below(by_id.len() as u64) as usize;
                if let Some(mk) = by_id[id].take() {
                    let h = model.remove(&mk).unwrap();
                    assert_eq!(q.cancel(h), Some((mk.0, id as u32)));
                }
            }
            _ => {}
        }
        while let Some(h) = q.first_expired(now) {
            let (&mk, &mh) = model.iter().next().unwrap();
            assert_eq!(h, mh);
            assert!(mk.0 <= now);
            model.remove(&mk);
            let id = *q.get(h).unwrap() as usize;
            by_id[id] = None;
            q.cancel(h);
        }
        if step % 16 == 0 {
            q.check_invariants();
            let got: Vec<Handle> = q.iter(now).map(|(h, _, _)| h).collect();
            assert_eq!(got, model.values().copied().collect::<Vec<_>>());
        }
    }
}

/// Small moves take `rekey`'s in-place path most of the time; the order must hold
/// whichever path was taken, duplicates (which never move in place) included.
#[test]
fn small_rekeys_keep_the_order() {
    let mut rng = Rng(0x5EED_0001);
    let mut t: EbTree<u32, usize> = EbTree::new();
    let mut keys: Vec<u32> = (0..200).map(|_| rng.below(4000) as u32).collect();
    let hs: Vec<Handle> = keys
        .iter()
        .enumerate()
        .map(|(i, &k)| t.insert(k, i))
        .collect();
    for _ in 0..5000 {
        let j = rng.below(hs.len() as u64) as usize;
        let delta = rng.below(7) as u32;
        keys[j] = (keys[j] + delta).saturating_sub(3);
        assert!(t.rekey(hs[j], keys[j]));
        t.check();
        let got: Vec<u32> = t.iter().map(|(_, k, _)| k).collect();
        assert!(got.windows(2).all(|w| w[0] <= w[1]), "out of order");
        assert_eq!(t.key(hs[j]), Some(keys[j]));
    }
    let mut want = keys.clone();
    want.sort_unstable();
    let got: Vec<u32> = t.iter().map(|(_, k, _)| k).collect();
    assert_eq!(got, want);
}
