//! The timer-queue model comparison shared by the proptest suite (`timer_model.rs`) and
//! the `ebtree_timers` fuzz target (which includes this file by path).
//!
//! A scenario (a start tick, a reservation and a list of operations) is applied both to
//! a queue and to a plain model: a list of every timer ever armed with its expiry,
//! arming sequence and value while it is pending. The model's next timer seen from
//! `now` is the one with the smallest `(expiry - (now - 2^31), sequence)` (wrapping),
//! which is HAProxy's order: every answer of the queue must agree, and the queue's
//! structural invariants must hold after every operation.
//!
//! Expiries are described relative to `now` so that generated scenarios reach the
//! edge cases: the bucket being drained, equal expiries, timers in the past, near the
//! 2^31 split either way, beyond the far-tree window, and anywhere. The clock stands
//! still, creeps, runs or jumps (forwards and backwards).

use ebtree::{BucketQueue, Handle, TimerQueue, tick_is_expired};

const LOOK_BACK: u32 = 1 << 31;

/// A timer's expiry, relative to the current tick.
#[derive(Clone, Copy, Debug)]
pub enum Expiry {
    /// `now + d`.
    Soon(u16),
    /// `now - d`: already due.
    Past(u16),
    /// One of the recently used expiries (equal ticks).
    Recent(u8),
    /// Within a few 64-tick buckets of the one `now` is in (the head and its
    /// neighbours): `(now & !63) - 64 + d`.
    Head(u8),
    /// `now + d`, often past the far-tree window.
    Later(u32),
    /// `now + 2^31 + d` (either side of the look-back split).
    Split(i8),
    /// `now + d`, up to 2^30 either way.
    Wide(i32),
    /// Any tick.
    Raw(u32),
}

/// How a pending timer is moved.
#[derive(Clone, Copy, Debug)]
pub enum Move {
    Earlier(u16),
    Later(u16),
    To(Expiry),
}

/// How the clock moves before the due timers are popped.
#[derive(Clone, Copy, Debug)]
pub enum Step {
    Still,
    By(u16),
    Back(u16),
    Jump(u32),
}

/// One operation. Indices pick among every handle ever issued, modulo their count.
#[derive(Clone, Copy, Debug)]
pub enum TimerOp {
    Schedule(Expiry),
    Cancel(usize),
    Reschedule(usize, Move),
    /// Moves the clock, then pops due timers (at most `max`; 0: all of them).
    Advance(Step, u8),
    /// `peek`, `next_expiry` and `first_expired`.
    Peek,
    /// `get`, `expiry`, and a change through `get_mut`.
    Get(usize),
    Iter,
    Clear,
    Reserve(u16),
}

/// Where the clock starts and how much is reserved up front.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub start: u32,
    pub capacity: u16,
    pub ops: Vec<TimerOp>,
}

/// The queue API, for `TimerQueue` and `BucketQueue` of any geometry.
pub trait Queue {
    fn with_capacity(n: usize) -> Self;
    fn reserve(&mut self, n: usize);
    fn len(&self) -> usize;
    fn schedule(&mut self, expire: u32, value: u64) -> Handle;
    fn reschedule(&mut self, h: Handle, expire: u32) -> bool;
    fn cancel(&mut self, h: Handle) -> Option<(u32, u64)>;
    fn get(&self, h: Handle) -> Option<&u64>;
    fn get_mut(&mut self, h: Handle) -> Option<&mut u64>;
    fn expiry(&self, h: Handle) -> Option<u32>;
    fn peek(&self, now: u32) -> Option<Handle>;
    fn next_expiry(&self, now: u32) -> Option<u32>;
    fn first_expired(&self, now: u32) -> Option<Handle>;
    fn pop_expired(&mut self, now: u32) -> Option<(u32, u64)>;
    fn clear(&mut self);
    fn timers(&self, now: u32) -> Vec<(Handle, u32, u64)>;
    fn check_invariants(&self);
}

macro_rules! queue_api {
    () => {
        fn with_capacity(n: usize) -> Self {
            Self::with_capacity(n)
        }
        fn reserve(&mut self, n: usize) {
            self.reserve(n)
        }
        fn len(&self) -> usize {
            self.len()
        }
        fn schedule(&mut self, expire: u32, value: u64) -> Handle {
            self.schedule(expire, value)
        }
        fn reschedule(&mut self, h: Handle, expire: u32) -> bool {
            self.reschedule(h, expire)
        }
        fn cancel(&mut self, h: Handle) -> Option<(u32, u64)> {
            self.cancel(h)
        }
        fn get(&self, h: Handle) -> Option<&u64> {
            self.get(h)
        }
        fn get_mut(&mut self, h: Handle) -> Option<&mut u64> {
            self.get_mut(h)
        }
        fn expiry(&self, h: Handle) -> Option<u32> {
            self.expiry(h)
        }
        fn peek(&self, now: u32) -> Option<Handle> {
            self.peek(now)
        }
        fn next_expiry(&self, now: u32) -> Option<u32> {
            self.next_expiry(now)
        }
        fn first_expired(&self, now: u32) -> Option<Handle> {
            self.first_expired(now)
        }
        fn pop_expired(&mut self, now: u32) -> Option<(u32, u64)> {
            self.pop_expired(now)
        }
        fn clear(&mut self) {
            self.clear()
        }
        fn timers(&self, now: u32) -> Vec<(Handle, u32, u64)> {
            self.iter(now).map(|(h, e, v)| (h, e, *v)).collect()
        }
        fn check_invariants(&self) {
            self.check_invariants()
        }
    };
}

impl Queue for TimerQueue<u64> {
    queue_api!();
}

impl<const K: u32, const C: usize, const HB: u32> Queue for BucketQueue<u64, K, C, HB> {
    queue_api!();
}

/// A timer of the model: `(expiry, arming sequence, value)`.
type Timer = (u32, u64, u64);

/// Every timer ever armed: `Some` while pending.
#[derive(Default)]
struct Model {
    timers: Vec<Option<Timer>>,
    seq: u64,
}

impl Model {
    /// The index of the next timer seen from `now`.
    fn next(&self, now: u32) -> Option<usize> {
        let split = now.wrapping_sub(LOOK_BACK);
        self.timers
            .iter()
            .enumerate()
            .filter_map(|(i, t)| t.map(|(e, s, _)| ((e.wrapping_sub(split), s), i)))
            .min()
            .map(|(_, i)| i)
    }

    fn next_due(&self, now: u32) -> Option<usize> {
        self.next(now)
            .filter(|&i| self.timers[i].is_some_and(|(e, _, _)| tick_is_expired(e, now)))
    }

    fn live(&self) -> usize {
        self.timers.iter().filter(|t| t.is_some()).count()
    }

    /// The pending timers in order seen from `now`: indices.
    fn in_order(&self, now: u32) -> Vec<usize> {
        let split = now.wrapping_sub(LOOK_BACK);
        let mut v: Vec<((u32, u64), usize)> = self
            .timers
            .iter()
            .enumerate()
            .filter_map(|(i, t)| t.map(|(e, s, _)| ((e.wrapping_sub(split), s), i)))
            .collect();
        v.sort_unstable();
        v.into_iter().map(|(_, i)| i).collect()
    }
}

/// Turns an [`Expiry`] into a tick.
fn resolve(x: Expiry, now: u32, recent: &[u32]) -> u32 {
    match x {
        Expiry::Soon(d) => now.wrapping_add(u32::from(d)),
        Expiry::Past(d) => now.wrapping_sub(u32::from(d)),
        Expiry::Recent(i) if !recent.is_empty() => recent[usize::from(i) % recent.len()],
        Expiry::Recent(i) => now.wrapping_add(u32::from(i)),
        Expiry::Head(d) => (now & !63).wrapping_sub(64).wrapping_add(u32::from(d)),
        Expiry::Later(d) => now.wrapping_add(d),
        Expiry::Split(d) => now.wrapping_add(LOOK_BACK).wrapping_add(d as i32 as u32),
        Expiry::Wide(d) => now.wrapping_add(d as u32),
        Expiry::Raw(t) => t,
    }
}

/// Applies the scenario to a fresh queue `Q` and the model; panics at the first
/// disagreement or broken invariant, naming the operation.
pub fn run<Q: Queue>(s: &Scenario) {
    run_checking_every::<Q>(s, 1);
}

/// The same, checking the queue's invariants every `k` operations (and at the end): a
/// full check is O(n), which the fuzzer trades for more inputs per second.
pub fn run_checking_every<Q: Queue>(s: &Scenario, k: usize) {
    let mut q = Q::with_capacity(usize::from(s.capacity));
    let mut m = Model::default();
    let mut handles: Vec<Handle> = Vec::new();
    let mut recent: Vec<u32> = Vec::new();
    let mut now = s.start;
    let mut value = 0u64;
    for (n, &op) in s.ops.iter().enumerate() {
        let at = |now: u32, what: &str| format!("op {n} ({op:?}) at now {now}: {what}");
        match op {
            TimerOp::Schedule(x) => {
                let e = resolve(x, now, &recent);
                if recent.len() < 16 {
                    recent.push(e);
                } else {
                    recent[n % 16] = e;
                }
                value += 1;
                handles.push(q.schedule(e, value));
                m.seq += 1;
                m.timers.push(Some((e, m.seq, value)));
            }
            TimerOp::Cancel(i) if !handles.is_empty() => {
                let i = i % handles.len();
                let want = m.timers[i].take().map(|(e, _, v)| (e, v));
                assert_eq!(q.cancel(handles[i]), want, "{}", at(now, "cancel"));
            }
            TimerOp::Reschedule(i, mv) if !handles.is_empty() => {
                let i = i % handles.len();
                let old = m.timers[i].map_or(now, |(e, _, _)| e);
                let e = match mv {
                    Move::Earlier(d) => old.wrapping_sub(u32::from(d)),
                    Move::Later(d) => old.wrapping_add(u32::from(d)),
                    Move::To(x) => resolve(x, now, &recent),
                };
                let pending = m.timers[i].is_some();
                assert_eq!(
                    q.reschedule(handles[i], e),
                    pending,
                    "{}",
                    at(now, "reschedule")
                );
                if let Some(t) = &mut m.timers[i] {
                    m.seq += 1;
                    *t = (e, m.seq, t.2);
                }
            }
            TimerOp::Advance(step, max) => {
                now = match step {
                    Step::Still => now,
                    Step::By(d) => now.wrapping_add(u32::from(d)),
                    Step::Back(d) => now.wrapping_sub(u32::from(d)),
                    Step::Jump(d) => now.wrapping_add(d),
                };
                let mut popped = 0usize;
                loop {
                    let want = m.next_due(now).and_then(|i| m.timers[i].take());
                    let got = q.pop_expired(now);
                    assert_eq!(
                        got,
                        want.map(|(e, _, v)| (e, v)),
                        "{}",
                        at(now, "pop_expired")
                    );
                    popped += 1;
                    if want.is_none() || popped == usize::from(max) {
                        break;
                    }
                }
            }
            TimerOp::Peek => {
                let next = m.next(now);
                assert_eq!(q.peek(now), next.map(|i| handles[i]), "{}", at(now, "peek"));
                let expiry = next.and_then(|i| m.timers[i]).map(|t| t.0);
                assert_eq!(q.next_expiry(now), expiry, "{}", at(now, "next_expiry"));
                let due = m.next_due(now).map(|i| handles[i]);
                assert_eq!(q.first_expired(now), due, "{}", at(now, "first_expired"));
            }
            TimerOp::Get(i) if !handles.is_empty() => {
                let i = i % handles.len();
                let t = m.timers[i];
                assert_eq!(
                    q.get(handles[i]).copied(),
                    t.map(|t| t.2),
                    "{}",
                    at(now, "get")
                );
                assert_eq!(
                    q.expiry(handles[i]),
                    t.map(|t| t.0),
                    "{}",
                    at(now, "expiry")
                );
                match (q.get_mut(handles[i]), &mut m.timers[i]) {
                    (Some(v), Some(t)) => {
                        *v += 1 << 40;
                        t.2 += 1 << 40;
                    }
                    (None, None) => {}
                    (got, _) => panic!("{}", at(now, &format!("get_mut gave {got:?}"))),
                }
            }
            TimerOp::Iter => {
                let want: Vec<(Handle, u32, u64)> = m
                    .in_order(now)
                    .into_iter()
                    .map(|i| {
                        let (e, _, v) = m.timers[i].expect("pending");
                        (handles[i], e, v)
                    })
                    .collect();
                assert_eq!(q.timers(now), want, "{}", at(now, "iter"));
            }
            TimerOp::Clear => {
                q.clear();
                m.timers.iter_mut().for_each(|t| *t = None);
            }
            TimerOp::Reserve(n) => q.reserve(usize::from(n)),
            TimerOp::Cancel(_) | TimerOp::Reschedule(..) | TimerOp::Get(_) => {}
        }
        assert_eq!(q.len(), m.live(), "{}", at(now, "len"));
        if n % k == 0 {
            q.check_invariants();
        }
    }
    // Every timer pops, in order. Moving the clock to the next expiry, and one tick
    // further every other time: two timers exactly 2^31 apart would otherwise be
    // each other's successor, neither ever due.
    let mut rounds = 0usize;
    while let Some(i) = m.next(now) {
        let (e, _, v) = m.timers[i].expect("pending");
        if tick_is_expired(e, now) {
            m.timers[i] = None;
            assert_eq!(q.pop_expired(now), Some((e, v)), "final drain at now {now}");
        } else {
            assert_eq!(
                q.pop_expired(now),
                None,
                "final drain at now {now}: none due"
            );
            now = e.wrapping_add(rounds as u32 & 1);
            rounds += 1;
            assert!(rounds <= 4 * handles.len() + 4, "final drain does not end");
        }
    }
    assert_eq!(q.len(), 0, "drained");
    q.check_invariants();
}

/// Turns raw fuzzer bytes into a scenario: 5 bytes of start tick and reservation,
/// then 5 bytes per operation (a selector and a 32-bit payload).
pub fn decode(data: &[u8]) -> Scenario {
    let word = |c: &[u8]| u32::from_le_bytes([c[1], c[2], c[3], c[4]]);
    let (start, capacity) = match data.get(..5) {
        Some(c) => {
            let start = match c[0] % 5 {
                0 => 0,
                1 => u32::MAX - 300,
                2 => LOOK_BACK - 300,
                3 => u32::MAX - 3,
                _ => word(c),
            };
            (start, u16::from(c[0] >> 3) * 4)
        }
        None => (0, 0),
    };
    let ops = data
        .get(5..)
        .unwrap_or_default()
        .chunks_exact(5)
        .map(|c| {
            let w = word(c);
            let idx = w as usize;
            let sel = c[0];
            match sel {
                0..=89 => TimerOp::Schedule(expiry(sel, w)),
                90..=114 => TimerOp::Cancel(idx),
                115..=139 => TimerOp::Reschedule(
                    idx >> 8,
                    match c[1] % 3 {
                        0 => Move::Earlier((w >> 16) as u16 % 600),
                        1 => Move::Later((w >> 16) as u16 % 600),
                        _ => Move::To(expiry(c[2], w >> 8)),
                    },
                ),
                140..=189 => TimerOp::Advance(
                    match c[1] % 16 {
                        0..=3 => Step::Still,
                        4..=13 => Step::By((w >> 8) as u16 % [3, 40, 400][usize::from(c[2] % 3)]),
                        14 => Step::Back((w >> 8) as u16 % 2000),
                        _ => Step::Jump(w),
                    },
                    c[4] % 4,
                ),
                190..=209 => TimerOp::Peek,
                210..=229 => TimerOp::Get(idx),
                230..=239 => TimerOp::Iter,
                240..=241 => TimerOp::Clear,
                242..=245 => TimerOp::Reserve((w % 300) as u16),
                _ => TimerOp::Peek,
            }
        })
        .collect();
    Scenario {
        start,
        capacity,
        ops,
    }
}

/// An expiry kind picked by `sel`, its payload from `w`.
fn expiry(sel: u8, w: u32) -> Expiry {
    match sel % 32 {
        0..=8 => Expiry::Soon((w % 400) as u16),
        9..=11 => Expiry::Past((w % 300) as u16),
        12..=16 => Expiry::Recent(w as u8),
        17..=21 => Expiry::Head((w % 192) as u8),
        22..=24 => Expiry::Later(w % 5_000_000),
        25..=26 => Expiry::Split((w % 192) as u8 as i8),
        27..=29 => Expiry::Wide((w % (1 << 31)) as i32 - (1 << 30)),
        _ => Expiry::Raw(w),
    }
}
