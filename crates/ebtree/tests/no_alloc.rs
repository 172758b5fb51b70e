//! Once capacity is reserved, inserting, removing, re-keying, looking up and iterating
//! allocate nothing. Counted with a global allocator wrapper, which counts every thread:
//! this test runs without libtest's harness (`harness = false`), on the main thread
//! alone, so that no harness thread allocates while it counts.

use ebtree::{BytesTree, EbTree, PrefixTree, TimerQueue};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use std::alloc::System;
use std::net::Ipv6Addr;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const N: u32 = 10_000;

/// A scrambled sequence, so that the trees get a realistic shape.
fn scramble(i: u32) -> u32 {
    i.wrapping_mul(0x9E37_79B9).rotate_left(7)
}

fn churn_int_tree(t: &mut EbTree<u64, u32>) -> u64 {
    let mut handles = [None; N as usize];
    for i in 0..N {
        handles[i as usize] = Some(t.insert(u64::from(scramble(i) % 5000), i));
    }
    let mut sum = 0u64;
    for i in 0..N {
        if let Some(h) = t.lookup_ge(u64::from(scramble(i))) {
            sum += u64::from(*t.get(h).unwrap_or(&0));
        }
        if let Some(h) = t.lookup_le(u64::from(scramble(i))) {
            sum += t.key(h).unwrap_or(0);
        }
    }
    for (i, h) in handles.iter().enumerate().step_by(2) {
        let h = h.expect("inserted above");
        assert!(t.rekey(h, u64::from(scramble(i as u32 + N))));
    }
    for h in handles.iter().skip(1).step_by(2) {
        assert!(t.remove(h.expect("inserted above")).is_some());
    }
    for i in 0..N / 2 {
        t.insert(u64::from(i), i);
    }
    sum += t.iter().map(|(_, k, _)| k).sum::<u64>();
    sum += t.range(100..200).count() as u64;
    while t.pop_first().is_some() {}
    sum
}

fn main() {
    reserved_trees_do_not_allocate();
    println!("no_alloc: reserved_trees_do_not_allocate ... ok");
    println!("test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out");
}

fn reserved_trees_do_not_allocate() {
    let mut ints: EbTree<u64, u32> = EbTree::with_capacity(N as usize);
    let mut timers: TimerQueue<u32> = TimerQueue::new();
    timers.reserve(N as usize);
    let mut prefixes: PrefixTree<Ipv6Addr, u32> = PrefixTree::new();
    prefixes.reserve(N as usize);
    let names: Vec<String> = (0..N)
        .map(|i| format!("host-{}", scramble(i) % 3000))
        .collect();
    let mut strings: BytesTree<&str, u32> = BytesTree::with_capacity(N as usize);

    let region = Region::new(GLOBAL);

    let mut sum = churn_int_tree(&mut ints);
    sum += churn_int_tree(&mut ints); // reusing freed slots
    ints.clear();

    let mut now = u32::MAX - 1000; // wraps during the run
    let mut armed = [None; N as usize];
    for i in 0..N {
        armed[i as usize] = Some(timers.schedule(now.wrapping_add(scramble(i) % 20_000), i));
    }
    for step in 0..N {
        now = now.wrapping_add(1);
        let h = armed[(scramble(step) % N) as usize].expect("armed above");
        timers.reschedule(h, now.wrapping_add(scramble(step) % 20_000));
        while let Some(h) = timers.first_expired(now) {
            timers.reschedule(h, now.wrapping_add(5000));
        }
    }
    while timers.pop_expired(now.wrapping_add(100_000)).is_some() {}

    for i in 0..N {
        let addr = Ipv6Addr::from_bits(u128::from(scramble(i)) << 96);
        prefixes
            .insert_prefix(addr, 16 + i % 33, i)
            .expect("length within 128");
    }
    for i in 0..N {
        let addr = Ipv6Addr::from_bits(u128::from(scramble(i * 7)) << 96 | 1);
        if let Some(h) = prefixes.lookup_longest(addr) {
            sum += u64::from(*prefixes.get(h).unwrap_or(&0));
        }
    }

    for (i, name) in names.iter().enumerate() {
        strings.insert(name.as_str(), i as u32);
    }
    for name in &names {
        if let Some(h) = strings.lookup_ge(name) {
            sum += u64::from(*strings.get(h).unwrap_or(&0));
        }
    }
    while let Some(h) = strings.first() {
        strings.remove(h);
    }

    let stats = region.change();
    assert_eq!(stats.allocations, 0, "{stats:?}");
    assert_eq!(stats.reallocations, 0, "{stats:?}");
    assert!(sum > 0);
    assert_eq!(timers.len(), 0);
}
