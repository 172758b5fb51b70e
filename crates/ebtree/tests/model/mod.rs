//! The model comparison shared by the proptest suite and the `ebtree_model` fuzz target
//! (which includes this file by path): a sequence of operations is applied both to an
//! ebtree and to an obviously correct model, and every answer must agree.
//!
//! - `EbTree<i32, u32>` against `BTreeMap<(key, seq), (handle, value)>`, duplicates
//!   included: signed keys from a small range (many duplicates) and from the whole range.
//! - `PrefixTree<u32, u32>` against a list scanned for the longest covering prefix.
//!
//! Operations are plain data, so proptest generates them and the fuzzer decodes them from
//! raw bytes with [`decode`].

use ebtree::{EbTree, Handle, PrefixTree};
use std::collections::BTreeMap;
use std::ops::{Bound, RangeBounds};

/// One step applied to the integer tree and its model. Indices pick among the live (or
/// removed) entries modulo their count.
#[derive(Clone, Debug)]
pub enum Op {
    Insert(i32),
    InsertNear(usize, i32),
    InsertUnique(i32),
    Remove(usize),
    UseStale(usize),
    Rekey(usize, i32),
    Lookup(i32),
    LookupLe(i32),
    LookupGe(i32),
    LookupLt(i32),
    LookupGt(i32),
    Next(usize),
    Prev(usize),
    Range(i32, i32, u8),
    PopFirst,
    Clear,
}

/// One step applied to the prefix tree and its naive model.
#[derive(Clone, Debug)]
pub enum PrefixOp {
    Insert(u32, u8),
    Remove(usize),
    Longest(u32),
    Exact(u32, u8),
}

/// Turns raw fuzzer bytes into operations (5 bytes each: a selector and a payload).
/// Keys are folded into a small range most of the time so that duplicates are common.
pub fn decode(data: &[u8]) -> (Vec<Op>, Vec<PrefixOp>) {
    let mut ops = Vec::new();
    let mut pops = Vec::new();
    for c in data.chunks_exact(5) {
        let w = u32::from_le_bytes([c[1], c[2], c[3], c[4]]);
        let key = if c[0] & 0x80 != 0 {
            w as i32
        } else {
            (w % 17) as i32 - 8
        };
        let idx = w as usize;
        let sel = c[0] & 0x7f;
        if sel >= 102 {
            pops.push(match sel {
                102..=111 => PrefixOp::Insert(fold_addr(w), (w >> 3) as u8 % 33),
                112..=116 => PrefixOp::Remove(idx),
                117..=124 => PrefixOp::Longest(fold_addr(w)),
                _ => PrefixOp::Exact(fold_addr(w), c[1] % 33),
            });
            continue;
        }
        ops.push(match sel {
            0..=19 => Op::Insert(key),
            20..=24 => Op::InsertNear(usize::from(c[1]), key),
            25..=29 => Op::InsertUnique(key),
            30..=49 => Op::Remove(idx),
            50..=52 => Op::UseStale(idx),
            53..=59 => Op::Rekey(idx, key),
            60..=64 => Op::Lookup(key),
            65..=69 => Op::LookupLe(key),
            70..=74 => Op::LookupGe(key),
            75..=77 => Op::LookupLt(key),
            78..=80 => Op::LookupGt(key),
            81..=86 => Op::Next(idx),
            87..=92 => Op::Prev(idx),
            93..=97 => Op::Range(key, (w >> 16) as i32 % 9, c[1]),
            98..=100 => Op::PopFirst,
            _ => Op::Clear,
        });
    }
    (ops, pops)
}

/// Addresses from a few clusters, so that prefixes nest and collide.
pub fn fold_addr(w: u32) -> u32 {
    (w & 0xE0F0_0003) | ((w >> 8) & 0x0000_0100)
}

/// An entry of the integer model: `(key, sequence)` to `(handle, value)`.
type ModelEntry<'a> = (&'a (i32, u32), &'a (Handle, u32));

fn pick<T: Copy>(v: &[T], idx: usize) -> Option<T> {
    (!v.is_empty()).then(|| v[idx % v.len()])
}

/// Applies `ops` to an `EbTree<i32, u32>` and a `BTreeMap` model, panicking at the
/// first disagreement.
pub fn run_int(ops: &[Op]) {
    let mut t: EbTree<i32, u32> = EbTree::new();
    let mut model: BTreeMap<(i32, u32), (Handle, u32)> = BTreeMap::new();
    let mut live: Vec<(i32, u32)> = Vec::new();
    let mut dead: Vec<Handle> = Vec::new();
    let handle_of = |e: Option<ModelEntry>| e.map(|(_, (h, _))| *h);
    for (seq, op) in ops.iter().enumerate() {
        let seq = seq as u32;
        match *op {
            Op::Insert(k) => {
                let h = t.insert(k, seq);
                model.insert((k, seq), (h, seq));
                live.push((k, seq));
            }
            Op::InsertNear(i, k) => {
                // The hint is a live entry, or a removed one (then ignored).
                let live_hint = pick(&live, i).map(|mk| model[&mk].0);
                let hint = if i % 4 == 0 {
                    pick(&dead, i).or(live_hint)
                } else {
                    live_hint.or_else(|| pick(&dead, i))
                };
                let h = match hint {
                    Some(hint) => t.insert_near(hint, k, seq),
                    None => t.insert(k, seq),
                };
                model.insert((k, seq), (h, seq));
                live.push((k, seq));
            }
            Op::InsertUnique(k) => {
                let existing = handle_of(model.range((k, 0)..=(k, u32::MAX)).next());
                match t.insert_unique(k, seq) {
                    Ok(h) => {
                        assert_eq!(existing, None, "insert_unique({k}) accepted a duplicate");
                        model.insert((k, seq), (h, seq));
                        live.push((k, seq));
                    }
                    Err(h) => assert_eq!(Some(h), existing, "insert_unique({k})"),
                }
            }
            Op::Remove(i) => {
                if let Some(mk) = pick(&live, i) {
                    live.retain(|&e| e != mk);
                    let (h, v) = model.remove(&mk).expect("model has every live entry");
                    assert_eq!(t.remove(h), Some((mk.0, v)), "remove {mk:?}");
                    dead.push(h);
                }
            }
            Op::UseStale(i) => {
                if let Some(h) = pick(&dead, i) {
                    assert_eq!(t.get(h), None);
                    assert_eq!(t.key(h), None);
                    assert_eq!(t.next(h), None);
                    assert_eq!(t.prev(h), None);
                    assert!(!t.rekey(h, 0));
                    assert_eq!(t.remove(h), None);
                }
            }
            Op::Rekey(i, k) => {
                if let Some(mk) = pick(&live, i) {
                    let (h, v) = model.remove(&mk).expect("model has every live entry");
                    assert!(t.rekey(h, k));
                    model.insert((k, seq), (h, v));
                    live.retain(|&e| e != mk);
                    live.push((k, seq));
                }
            }
            Op::Lookup(k) => {
                let want = handle_of(model.range((k, 0)..=(k, u32::MAX)).next());
                assert_eq!(t.lookup(k), want, "lookup({k})");
            }
            Op::LookupLe(k) => {
                let want = handle_of(model.range(..=(k, u32::MAX)).next_back());
                assert_eq!(t.lookup_le(k), want, "lookup_le({k})");
            }
            Op::LookupGe(k) => {
                let want = handle_of(model.range((k, 0)..).next());
                assert_eq!(t.lookup_ge(k), want, "lookup_ge({k})");
            }
            Op::LookupLt(k) => {
                let want = handle_of(model.range(..(k, 0)).next_back());
                assert_eq!(t.lookup_lt(k), want, "lookup_lt({k})");
            }
            Op::LookupGt(k) => {
                let want = match k.checked_add(1) {
                    Some(k1) => handle_of(model.range((k1, 0)..).next()),
                    None => None,
                };
                assert_eq!(t.lookup_gt(k), want, "lookup_gt({k})");
            }
            Op::Next(i) => {
                if let Some(mk) = pick(&live, i) {
                    let h = model[&mk].0;
                    let want =
                        handle_of(model.range((Bound::Excluded(mk), Bound::Unbounded)).next());
                    assert_eq!(t.next(h), want, "next of {mk:?}");
                }
            }
            Op::Prev(i) => {
                if let Some(mk) = pick(&live, i) {
                    let h = model[&mk].0;
                    let want = handle_of(model.range(..mk).next_back());
                    assert_eq!(t.prev(h), want, "prev of {mk:?}");
                }
            }
            Op::Range(a, len, kinds) => {
                let b = a.saturating_add(len.abs());
                let lo = match kinds % 3 {
                    0 => Bound::Included(a),
                    1 => Bound::Excluded(a),
                    _ => Bound::Unbounded,
                };
                let hi = match (kinds / 3) % 3 {
                    0 => Bound::Included(b),
                    1 => Bound::Excluded(b),
                    _ => Bound::Unbounded,
                };
                let want: Vec<Handle> = model
                    .iter()
                    .filter(|((k, _), _)| (lo, hi).contains(k))
                    .map(|(_, (h, _))| *h)
                    .collect();
                let got: Vec<Handle> = t.range((lo, hi)).map(|(h, _, _)| h).collect();
                assert_eq!(got, want, "range {lo:?}..{hi:?}");
                let mut back: Vec<Handle> = t.range((lo, hi)).rev().map(|(h, _, _)| h).collect();
                back.reverse();
                assert_eq!(back, want, "reverse range {lo:?}..{hi:?}");
            }
            Op::PopFirst => {
                let want = model.pop_first().map(|((k, s), (h, v))| {
                    live.retain(|&e| e != (k, s));
                    dead.push(h);
                    (k, v)
                });
                assert_eq!(t.pop_first(), want);
            }
            Op::Clear => {
                dead.extend(model.values().map(|(h, _)| *h));
                model.clear();
                live.clear();
                t.clear();
            }
        }
        assert_eq!(t.len(), model.len());
        assert_eq!(t.first(), handle_of(model.iter().next()));
        assert_eq!(t.last(), handle_of(model.iter().next_back()));
    }
    let got: Vec<(Handle, i32, u32)> = t.iter().map(|(h, k, v)| (h, k, *v)).collect();
    let want: Vec<(Handle, i32, u32)> = model.iter().map(|(k, (h, v))| (*h, k.0, *v)).collect();
    assert_eq!(got, want, "final order");
}

/// Applies `ops` to a `PrefixTree<u32, u32>` and a list of `(handle, addr, len, seq)`,
/// checking longest-prefix and exact-prefix lookups against a scan of the list.
pub fn run_prefix(ops: &[PrefixOp]) {
    let mut t: PrefixTree<u32, u32> = PrefixTree::new();
    let mut entries: Vec<(Handle, u32, u32, u32)> = Vec::new();
    let covers = |addr: u32, net: u32, len: u32| len == 0 || (addr ^ net) >> (32 - len) == 0;
    for (seq, op) in ops.iter().enumerate() {
        let seq = seq as u32;
        match *op {
            PrefixOp::Insert(addr, len) => {
                let len = u32::from(len.min(32));
                let h = t.insert_prefix(addr, len, seq).expect("len <= 32");
                let net = if len == 0 {
                    0
                } else {
                    addr & (u32::MAX << (32 - len))
                };
                entries.push((h, net, len, seq));
            }
            PrefixOp::Remove(i) => {
                if !entries.is_empty() {
                    let (h, net, len, v) = entries.remove(i % entries.len());
                    assert_eq!(t.remove(h), Some((net, len, v)));
                }
            }
            PrefixOp::Longest(addr) => {
                // Longest prefix first, then the first inserted among equal prefixes.
                let want = entries
                    .iter()
                    .filter(|e| covers(addr, e.1, e.2))
                    .max_by_key(|e| (e.2, std::cmp::Reverse(e.3)))
                    .map(|e| e.0);
                assert_eq!(t.lookup_longest(addr), want, "longest match of {addr:08x}");
            }
            PrefixOp::Exact(addr, len) => {
                let len = u32::from(len.min(32));
                let net = if len == 0 {
                    0
                } else {
                    addr & (u32::MAX << (32 - len))
                };
                let want = entries
                    .iter()
                    .filter(|e| e.1 == net && e.2 == len)
                    .min_by_key(|e| e.3)
                    .map(|e| e.0);
                assert_eq!(t.lookup_prefix(addr, len), want, "exact {net:08x}/{len}");
            }
        }
        assert_eq!(t.len(), entries.len());
    }
    // In order: by bits, a prefix before the longer ones it covers, equals by insertion.
    let mut want = entries.clone();
    want.sort_by_key(|e| {
        let bits: Vec<u32> = (0..e.2).map(|b| (e.1 >> (31 - b)) & 1).collect();
        (bits, e.3)
    });
    let got: Vec<Handle> = t.iter().map(|(h, ..)| h).collect();
    assert_eq!(
        got,
        want.iter().map(|e| e.0).collect::<Vec<_>>(),
        "prefix order"
    );
}
