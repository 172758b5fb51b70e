//! Workload (b), shared by `ebtree_vs_btreemap` (criterion, timed) and `ebtree_profile`
//! (callgrind, counted) so that both measure the same thing: [`TIMERS`] live timers;
//! each step advances the clock one tick, cancels an arbitrary timer and arms a new one
//! for it, then pops every expired timer and re-arms it. Every contender draws the same
//! random choices from a [`TimerDriver`] with the same seed.

use ebtree::{EbTree, Handle, TimerQueue};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;

/// Live timers in every run.
pub const TIMERS: usize = 100_000;

const SEED: u64 = 0x5EED_EB7E;

/// How new timers pick their timeout.
#[derive(Clone, Copy)]
pub enum Timeouts {
    /// A server's handful of configured timeouts (check inter 2 s, connect 5 s, client
    /// and server 30 s, tunnel 50 s), as HAProxy arms them.
    Configured,
    /// Uniform over 1..=100 s: keys spread over the whole window (the hard case).
    Uniform,
    /// Half short (1..=256 ticks: tasks woken soon, landing in the bucket being
    /// drained), half configured.
    Short,
}

/// The workload's clock and random choices, identical for every contender.
pub struct TimerDriver {
    rng: SmallRng,
    now: u32,
    timeouts: Timeouts,
}

impl TimerDriver {
    fn new(timeouts: Timeouts) -> Self {
        TimerDriver {
            rng: SmallRng::seed_from_u64(SEED),
            now: 0,
            timeouts,
        }
    }
    fn initial(&mut self) -> u32 {
        self.now + self.rng.random_range(1..=50_000)
    }
    fn timeout(&mut self) -> u32 {
        let configured = [2_000, 5_000, 30_000, 50_000];
        self.now
            + match self.timeouts {
                Timeouts::Uniform => self.rng.random_range(1..=100_000),
                Timeouts::Configured => configured[self.rng.random_range(0..4)],
                Timeouts::Short if self.rng.random() => self.rng.random_range(1..=256),
                Timeouts::Short => configured[self.rng.random_range(0..4)],
            }
    }
    fn victim(&mut self) -> usize {
        self.rng.random_range(0..TIMERS)
    }
}

/// One contender, set up with [`TIMERS`] timers armed.
pub trait TimerWorkload {
    fn new(timeouts: Timeouts) -> Self;
    /// Runs `n` steps; returns the timers pending after them (so nothing is optimised
    /// away).
    fn steps(&mut self, n: u64) -> usize;
}

/// hakit's timer queue: cancel and schedule (a new handle each time).
pub struct QueueCancel {
    d: TimerDriver,
    q: TimerQueue<u32>,
    handles: Vec<Handle>,
}

impl TimerWorkload for QueueCancel {
    fn new(timeouts: Timeouts) -> Self {
        let mut d = TimerDriver::new(timeouts);
        let mut q = TimerQueue::with_capacity(TIMERS);
        let handles = (0..TIMERS as u32)
            .map(|id| q.schedule(d.initial(), id))
            .collect();
        QueueCancel { d, q, handles }
    }

    #[inline(never)]
    fn steps(&mut self, n: u64) -> usize {
        let (d, q, handles) = (&mut self.d, &mut self.q, &mut self.handles);
        for _ in 0..n {
            d.now += 1;
            let id = d.victim();
            q.cancel(handles[id]);
            let t = d.timeout();
            handles[id] = q.schedule(t, id as u32);
            while let Some((_, id)) = q.pop_expired(d.now) {
                let t = d.timeout();
                handles[id as usize] = q.schedule(t, id);
            }
        }
        q.len()
    }
}

/// The queue again, moving timers in place with `reschedule` (handles never change).
pub struct QueueReschedule {
    d: TimerDriver,
    q: TimerQueue<u32>,
    handles: Vec<Handle>,
}

impl TimerWorkload for QueueReschedule {
    fn new(timeouts: Timeouts) -> Self {
        let QueueCancel { d, q, handles } = QueueCancel::new(timeouts);
        QueueReschedule { d, q, handles }
    }

    #[inline(never)]
    fn steps(&mut self, n: u64) -> usize {
        let (d, q, handles) = (&mut self.d, &mut self.q, &self.handles);
        for _ in 0..n {
            d.now += 1;
            let id = d.victim();
            let t = d.timeout();
            q.reschedule(handles[id], t);
            while let Some(h) = q.first_expired(d.now) {
                let t = d.timeout();
                q.reschedule(h, t);
            }
        }
        q.len()
    }
}

/// A bare `EbTree` used as a timer queue, one entry per timer (what `TimerQueue` was),
/// without wrap-around handling: the per-entry reference.
pub struct PlainTree {
    d: TimerDriver,
    t: EbTree<u32, u32>,
    handles: Vec<Handle>,
}

impl TimerWorkload for PlainTree {
    fn new(timeouts: Timeouts) -> Self {
        let mut d = TimerDriver::new(timeouts);
        let mut t = EbTree::with_capacity(TIMERS);
        let handles = (0..TIMERS as u32)
            .map(|id| t.insert(d.initial(), id))
            .collect();
        PlainTree { d, t, handles }
    }

    #[inline(never)]
    fn steps(&mut self, n: u64) -> usize {
        let (d, t, handles) = (&mut self.d, &mut self.t, &mut self.handles);
        for _ in 0..n {
            d.now += 1;
            let id = d.victim();
            t.remove(handles[id]);
            let k = d.timeout();
            handles[id] = t.insert(k, id as u32);
            while let Some(h) = t.first() {
                if t.key(h).is_none_or(|k| k > d.now) {
                    break;
                }
                let Some((_, id)) = t.remove(h) else { break };
                let k = d.timeout();
                handles[id as usize] = t.insert(k, id);
            }
        }
        t.len()
    }
}

/// `BTreeMap` keyed by (expiry, timer id): the id makes keys unique, and the caller
/// keeps each timer's current expiry to find it again.
pub struct BTreeMapTimers {
    d: TimerDriver,
    m: BTreeMap<(u32, u32), ()>,
    expiry: Vec<u32>,
}

impl TimerWorkload for BTreeMapTimers {
    fn new(timeouts: Timeouts) -> Self {
        let mut d = TimerDriver::new(timeouts);
        let mut m = BTreeMap::new();
        let expiry = (0..TIMERS as u32)
            .map(|id| {
                let t = d.initial();
                m.insert((t, id), ());
                t
            })
            .collect();
        BTreeMapTimers { d, m, expiry }
    }

    #[inline(never)]
    fn steps(&mut self, n: u64) -> usize {
        let (d, m, expiry) = (&mut self.d, &mut self.m, &mut self.expiry);
        for _ in 0..n {
            d.now += 1;
            let id = d.victim();
            m.remove(&(expiry[id], id as u32));
            let t = d.timeout();
            m.insert((t, id as u32), ());
            expiry[id] = t;
            while let Some(entry) = m.first_entry() {
                let (t, id) = *entry.key();
                if t > d.now {
                    break;
                }
                entry.remove();
                let t = d.timeout();
                m.insert((t, id), ());
                expiry[id as usize] = t;
            }
        }
        m.len()
    }
}
