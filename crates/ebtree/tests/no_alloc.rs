//! Once capacity is reserved, inserting, removing, re-keying, looking up and iterating
//! allocate nothing; a reserved `TimerQueue` allocates nothing whatever its timers'
//! spread, as long as no more than the reserved number are pending. Counted with a global allocator wrapper, which counts every thread:
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
    reserved_timer_queue_does_not_allocate();
    println!("no_alloc: reserved_timer_queue_does_not_allocate ... ok");
    println!("test result: ok. 2 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out");
}

/// The shapes a timer population can take, each run over every timer of a queue
/// holding exactly its reservation: each timer is cancelled and armed again.
#[derive(Clone, Copy, Debug)]
enum Phase {
    /// Spread over 50k ticks.
    Dense,
    /// 300 ticks apart: a bucket each, as many buckets as the reservation allows,
    /// the rest far.
    Sparse,
    /// All in one tick: one bucket, one tick list.
    OneTick,
    /// In the bucket being drained, rescheduled to now and popped at once.
    HeadChurn,
    /// Beyond the bucket window: all in the far tree.
    Far,
    /// Spread over 100k ticks, the clock moving and due timers re-armed.
    Running,
}

/// Runs every phase over a queue holding one timer per handle slot (the reservation),
/// returning a checksum.
fn churn_timers(q: &mut TimerQueue<u32>, handles: &mut [Option<ebtree::Handle>]) -> u64 {
    handles.fill(None);
    let n = handles.len() as u32;
    let mut now = u32::MAX - 10_000; // wraps during the run
    let mut sum = 0u64;
    let phases = [
        Phase::Dense,
        Phase::Sparse,
        Phase::OneTick,
        Phase::HeadChurn,
        Phase::Far,
        Phase::Running,
        Phase::Sparse,
        Phase::Running,
    ];
    for phase in phases {
        for i in 0..n {
            if let Some(h) = handles[i as usize].take() {
                q.cancel(h);
            }
            let x = scramble(i ^ now);
            let e = match phase {
                Phase::Dense => now.wrapping_add(x % 50_000),
                Phase::Sparse => now.wrapping_add(1000 + 300 * i),
                Phase::OneTick => now.wrapping_add(5),
                Phase::HeadChurn => now.wrapping_add(x % 256),
                Phase::Far => now.wrapping_add((1 << 21) + 1000 * i),
                Phase::Running => now.wrapping_add(x % 100_000),
            };
            handles[i as usize] = Some(q.schedule(e, i));
            match phase {
                Phase::HeadChurn => {
                    if let Some(h) = handles[i as usize] {
                        q.reschedule(h, now);
                    }
                    if let Some((_, id)) = q.pop_expired(now) {
                        handles[id as usize] = Some(q.schedule(now, id));
                    }
                }
                Phase::Running if i % 3 == 0 => {
                    now = now.wrapping_add(1);
                    while let Some((_, id)) = q.pop_expired(now) {
                        sum += u64::from(id);
                        let e = now.wrapping_add(1 + scramble(id) % 200);
                        handles[id as usize] = Some(q.schedule(e, id));
                    }
                }
                _ => {}
            }
        }
        sum += q
            .iter(now)
            .take(100)
            .map(|(_, e, _)| u64::from(e))
            .sum::<u64>();
        if let Some(e) = q.next_expiry(now) {
            sum += u64::from(e);
        }
    }
    while q.pop_expired(now.wrapping_add(1 << 30)).is_some() {}
    sum
}

fn reserved_timer_queue_does_not_allocate() {
    const TIMERS: u32 = 20_000;
    let mut reserved: TimerQueue<u32> = TimerQueue::new();
    reserved.reserve(TIMERS as usize);
    let mut with_capacity: TimerQueue<u32> = TimerQueue::with_capacity(TIMERS as usize);
    let mut small: TimerQueue<u32> = TimerQueue::with_capacity(100);

    let mut handles = vec![None; TIMERS as usize];

    let region = Region::new(GLOBAL);
    let mut sum = churn_timers(&mut reserved, &mut handles);
    sum += churn_timers(&mut with_capacity, &mut handles);
    with_capacity.clear();
    sum += churn_timers(&mut with_capacity, &mut handles); // after clear
    sum += churn_timers(&mut small, &mut handles[..100]);
    let stats = region.change();

    assert_eq!(stats.allocations, 0, "{stats:?}");
    assert_eq!(stats.reallocations, 0, "{stats:?}");
    assert!(sum > 0);
    assert!(reserved.is_empty() && with_capacity.is_empty() && small.is_empty());
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
