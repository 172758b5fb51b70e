//! Behaviour of the public API that the model tests don't reach: handles, key kinds,
//! prefixes on IPv6, byte strings, and the timer queue's wrap-around.

use ebtree::{
    BytesTree, EbTree, Error, Handle, PrefixTree, TimerQueue, tick_is_expired, tick_is_lt,
};
use std::collections::HashSet;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::ops::Bound;

#[test]
fn stale_handles_are_detected_after_slot_reuse() {
    let mut t: EbTree<u32, &str> = EbTree::new();
    let a = t.insert(1, "a");
    assert_eq!(t.remove(a), Some((1, "a")));
    let b = t.insert(1, "b"); // reuses a's slot
    assert_eq!(a.slot(), b.slot());
    assert_ne!(a, b);
    assert_eq!(t.get(a), None);
    assert_eq!(t.key(a), None);
    assert_eq!(t.remove(a), None);
    assert!(!t.rekey(a, 5));
    assert!(!t.contains(a));
    assert_eq!(t.get(b), Some(&"b"));
    assert_eq!(t.len(), 1);
}

#[test]
fn clear_invalidates_every_handle_and_keeps_capacity() {
    let mut t: EbTree<u64, u64> = EbTree::with_capacity(100);
    let hs: Vec<Handle> = (0..100).map(|i| t.insert(i % 7, i)).collect();
    let cap = t.capacity();
    t.clear();
    assert!(t.is_empty());
    assert_eq!(t.capacity(), cap);
    assert!(hs.iter().all(|&h| t.get(h).is_none()));
    let fresh: Vec<Handle> = (0..100).map(|i| t.insert(i, i)).collect();
    assert!(fresh.iter().all(|h| !hs.contains(h)));
    assert_eq!(t.iter().count(), 100);
}

#[test]
fn handles_from_another_tree_are_rejected() {
    let mut a: EbTree<u32, u32> = EbTree::new();
    let mut b: EbTree<u32, u32> = EbTree::new();
    let ha = a.insert(1, 1);
    let hb = b.insert(1, 1);
    assert_eq!(b.get(ha), None);
    assert_eq!(a.get(hb), None);
}

#[test]
fn handles_hash_and_compare() {
    let mut t: EbTree<i32, ()> = EbTree::new();
    let set: HashSet<Handle> = (0..50).map(|i| t.insert(i % 3, ())).collect();
    assert_eq!(set.len(), 50);
    assert!(format!("{:?}", set.iter().next().copied()).contains("Handle("));
}

#[test]
fn signed_keys_are_ordered_by_value() {
    let mut t: EbTree<i64, ()> = EbTree::new();
    let keys = [0, -1, i64::MIN, 5, i64::MAX, -100, 1];
    for k in keys {
        t.insert(k, ());
    }
    let got: Vec<i64> = t.iter().map(|(_, k, _)| k).collect();
    let mut want = keys.to_vec();
    want.sort();
    assert_eq!(got, want);
    assert_eq!(t.lookup_ge(-50).and_then(|h| t.key(h)), Some(-1));
    assert_eq!(t.lookup_le(-2).and_then(|h| t.key(h)), Some(-100));
    let mid: Vec<i64> = t.range(-100..=1).map(|(_, k, _)| k).collect();
    assert_eq!(mid, [-100, -1, 0, 1]);
    let mut small: EbTree<i32, ()> = EbTree::new();
    small.insert(i32::MIN, ());
    small.insert(-1, ());
    small.insert(i32::MAX, ());
    assert_eq!(small.first().and_then(|h| small.key(h)), Some(i32::MIN));
    assert_eq!(small.last().and_then(|h| small.key(h)), Some(i32::MAX));
}

#[test]
fn duplicates_come_back_in_insertion_order() {
    let mut t: EbTree<u32, usize> = EbTree::new();
    for i in 0..1000 {
        t.insert(7, i);
        t.insert(3 + (i as u32 % 2) * 10, i);
    }
    let sevens: Vec<usize> = t.range(7..=7).map(|(_, _, v)| *v).collect();
    assert_eq!(sevens, (0..1000).collect::<Vec<_>>());
    let first = t.lookup(7).expect("present");
    assert_eq!(t.get(first), Some(&0));
    assert_eq!(t.lookup_le(7).and_then(|h| t.get(h)), Some(&999));
    assert_eq!(t.insert_unique(7, 5), Err(first));
    assert!(t.insert_unique(8, 5).is_ok());
}

#[test]
fn byte_array_keys_order_like_slices() {
    let mut t: EbTree<[u8; 3], u8> = EbTree::new();
    for (i, k) in [*b"abc", *b"abd", *b"\0zz", *b"ab\0", *b"\xff\0\0"]
        .into_iter()
        .enumerate()
    {
        t.insert(k, i as u8);
    }
    let got: Vec<[u8; 3]> = t.iter().map(|(_, k, _)| k).collect();
    assert_eq!(got, [*b"\0zz", *b"ab\0", *b"abc", *b"abd", *b"\xff\0\0"]);
    assert_eq!(t.lookup_ge(*b"abb").and_then(|h| t.key(h)), Some(*b"abc"));
    assert_eq!(t.lookup_gt(*b"abc").and_then(|h| t.key(h)), Some(*b"abd"));
}

#[test]
fn ipv6_cidr_table() -> Result<(), Error> {
    let mut t: PrefixTree<Ipv6Addr, &str> = PrefixTree::new();
    let net = |s: &str| s.parse::<Ipv6Addr>().expect("valid address");
    t.insert_prefix(net("2001:db8::"), 32, "doc")?;
    t.insert_prefix(net("2001:db8:1::"), 48, "doc-1")?;
    t.insert_prefix(net("::"), 0, "default")?;
    let host = t.insert(net("2001:db8:1::42"), "host");
    let hit = |t: &PrefixTree<Ipv6Addr, &'static str>, a: &str| {
        t.lookup_longest(net(a)).and_then(|h| t.get(h)).copied()
    };
    assert_eq!(hit(&t, "2001:db8:1::42"), Some("host"));
    assert_eq!(hit(&t, "2001:db8:1::43"), Some("doc-1"));
    assert_eq!(hit(&t, "2001:db8:2::1"), Some("doc"));
    assert_eq!(hit(&t, "fe80::1"), Some("default"));
    assert_eq!(t.key(host), Some((net("2001:db8:1::42"), 128)));
    assert_eq!(
        t.lookup_prefix(net("2001:db8:1:ffff::"), 48)
            .and_then(|h| t.get(h)),
        Some(&"doc-1")
    );
    assert_eq!(
        t.insert_prefix(net("::"), 129, "too long"),
        Err(Error::PrefixTooLong { len: 129, max: 128 })
    );
    assert_eq!(t.remove(host), Some((net("2001:db8:1::42"), 128, "host")));
    assert_eq!(hit(&t, "2001:db8:1::42"), Some("doc-1"));
    Ok(())
}

#[test]
fn prefix_bits_past_the_length_are_ignored() -> Result<(), Error> {
    let mut t: PrefixTree<Ipv4Addr, u8> = PrefixTree::new();
    let h = t.insert_prefix(Ipv4Addr::new(10, 1, 2, 3), 8, 1)?;
    assert_eq!(t.key(h), Some((Ipv4Addr::new(10, 0, 0, 0), 8)));
    assert_eq!(t.lookup_prefix(Ipv4Addr::new(10, 9, 9, 9), 8), Some(h));
    assert_eq!(
        t.insert_prefix_unique(Ipv4Addr::new(10, 200, 0, 0), 8, 2)?,
        Err(h)
    );
    assert_eq!(t.lookup_longest(Ipv4Addr::new(11, 0, 0, 0)), None);
    Ok(())
}

#[test]
fn byte_strings_with_zero_bytes_and_prefixes() {
    let mut t: BytesTree<Vec<u8>, u32> = BytesTree::new();
    let keys: [&[u8]; 6] = [b"a", b"", b"a\0", b"ab", b"a\0b", b"b"];
    for (i, k) in keys.iter().enumerate() {
        t.insert(k.to_vec(), i as u32);
    }
    let got: Vec<&[u8]> = t.iter().map(|(_, k, _)| k.as_slice()).collect();
    let mut want = keys.to_vec();
    want.sort();
    assert_eq!(got, want);
    assert_eq!(t.lookup(b"a\0").and_then(|h| t.get(h)), Some(&2));
    assert_eq!(t.lookup(b"a\0\0"), None);
    assert_eq!(
        t.lookup_ge(b"a\x01")
            .and_then(|h| t.key(h))
            .map(Vec::as_slice),
        Some(&b"ab"[..])
    );
    let mid: Vec<u32> = t
        .range(Bound::Excluded(&b"a"[..]), Bound::Included(&b"ab"[..]))
        .map(|(_, _, v)| *v)
        .collect();
    assert_eq!(mid, [2, 4, 3]);
    let h = t.lookup("b").expect("present");
    assert_eq!(t.remove(h), Some((b"b".to_vec(), 5)));
    assert_eq!(t.get(h), None);
}

#[test]
fn tick_comparisons_wrap() {
    assert!(tick_is_lt(u32::MAX, 0));
    assert!(tick_is_lt(5, 6));
    assert!(!tick_is_lt(6, 5));
    assert!(tick_is_expired(u32::MAX - 3, 2));
    assert!(!tick_is_expired(3, u32::MAX));
}

/// Timers around the wrap expire in wrapping order, matching a sort by distance from a
/// reference tick.
#[test]
fn timers_expire_in_wrapping_order_across_the_wrap() {
    let mut rng = 0x1234_5678_9abc_def0u64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for start in [0u32, u32::MAX - 50_000, 1 << 31, (1 << 31) - 10] {
        let mut q: TimerQueue<u32> = TimerQueue::new();
        let mut want: Vec<(i64, u32)> = Vec::new();
        for id in 0..2000u32 {
            // Some already overdue, most in the future.
            let offset = (next() % 200_000) as i64 - 1000;
            q.schedule(start.wrapping_add(offset as u32), id);
            want.push((offset, id));
        }
        want.sort(); // by expiry, then scheduling order (ids increase)
        let mut got = Vec::new();
        let mut now = start;
        for _ in 0..400 {
            while let Some((expire, id)) = q.pop_expired(now) {
                assert!(tick_is_expired(expire, now));
                got.push(id);
            }
            if let Some(e) = q.next_expiry(now) {
                assert!(tick_is_lt(now, e), "next expiry {e} is after now {now}");
            }
            now = now.wrapping_add(500);
        }
        assert!(q.is_empty());
        let want_ids: Vec<u32> = want.iter().map(|&(_, id)| id).collect();
        assert_eq!(got, want_ids, "start {start}");
    }
}

#[test]
fn timer_reschedule_keeps_the_handle() {
    let mut q: TimerQueue<&str> = TimerQueue::new();
    let a = q.schedule(100, "a");
    let b = q.schedule(50, "b");
    assert_eq!(q.peek(0), Some(b));
    assert!(q.reschedule(b, 200));
    assert_eq!(q.peek(0), Some(a));
    assert_eq!(q.expiry(b), Some(200));
    assert_eq!(q.first_expired(99), None);
    assert_eq!(q.first_expired(100), Some(a));
    let order: Vec<&str> = q.iter(0).map(|(_, _, v)| *v).collect();
    assert_eq!(order, ["a", "b"]);
    assert_eq!(q.cancel(a), Some((100, "a")));
    assert_eq!(q.cancel(a), None);
    assert!(!q.reschedule(a, 5));
}
