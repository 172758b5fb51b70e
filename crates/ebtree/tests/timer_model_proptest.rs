//! Property tests of `TimerQueue` against a plain model (see `timer_model/`), in its
//! production geometry and in tiny ones (2- and 16-tick buckets, 2- and 4-entry chunks,
//! windows of 16 to 512 ticks) where chunk, bucket, window and bucket-limit boundaries
//! are crossed all the time. The queue's structural invariants are checked after every
//! operation.
//!
//! `PROPTEST_CASES` raises the number of cases (default 32 per property, which keeps
//! the suite to a few seconds on a shared machine).

mod timer_model;

use ebtree::{BucketQueue, TimerQueue};
use proptest::prelude::*;
use timer_model::{Expiry, Move, Scenario, Step, TimerOp};

fn expiry() -> impl Strategy<Value = Expiry> {
    prop_oneof![
        9 => (0u16..400).prop_map(Expiry::Soon),
        3 => (1u16..300).prop_map(Expiry::Past),
        5 => any::<u8>().prop_map(Expiry::Recent),
        5 => (0u8..192).prop_map(Expiry::Head),
        3 => (0u32..5_000_000).prop_map(Expiry::Later),
        2 => any::<i8>().prop_map(Expiry::Split),
        3 => (-(1i32 << 30)..(1 << 30)).prop_map(Expiry::Wide),
        1 => any::<u32>().prop_map(Expiry::Raw),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => Just(Step::Still),
        4 => (0u16..3).prop_map(Step::By),
        4 => (0u16..40).prop_map(Step::By),
        2 => (0u16..400).prop_map(Step::By),
        1 => (0u16..2000).prop_map(Step::Back),
        1 => any::<u32>().prop_map(Step::Jump),
    ]
}

fn op() -> impl Strategy<Value = TimerOp> {
    prop_oneof![
        35 => expiry().prop_map(TimerOp::Schedule),
        10 => any::<usize>().prop_map(TimerOp::Cancel),
        10 => (any::<usize>(), prop_oneof![
            (0u16..600).prop_map(Move::Earlier),
            (0u16..600).prop_map(Move::Later),
            expiry().prop_map(Move::To),
        ]).prop_map(|(i, m)| TimerOp::Reschedule(i, m)),
        15 => (step(), 0u8..4).prop_map(|(s, n)| TimerOp::Advance(s, n)),
        8 => Just(TimerOp::Peek),
        8 => any::<usize>().prop_map(TimerOp::Get),
        2 => Just(TimerOp::Iter),
        1 => Just(TimerOp::Clear),
        1 => (0u16..300).prop_map(TimerOp::Reserve),
    ]
}

/// Clocks at 0, just before the wrap, just before 2^31, anywhere.
fn scenario(max_ops: usize) -> impl Strategy<Value = Scenario> {
    let start = prop_oneof![
        Just(0u32),
        Just(u32::MAX - 300),
        Just((1u32 << 31) - 300),
        Just(u32::MAX - 3),
        any::<u32>(),
    ];
    (start, 0u16..64, prop::collection::vec(op(), 0..max_ops)).prop_map(|(start, capacity, ops)| {
        Scenario {
            start,
            capacity,
            ops,
        }
    })
}

/// Most expiries in and next to the bucket being drained, the clock creeping: arms
/// into the head's lists, compaction of the head, reheads.
fn head_churn() -> impl Strategy<Value = Scenario> {
    let op = prop_oneof![
        6 => (0u8..192).prop_map(|d| TimerOp::Schedule(Expiry::Head(d))),
        2 => (0u16..64).prop_map(|d| TimerOp::Schedule(Expiry::Soon(d))),
        3 => any::<usize>().prop_map(TimerOp::Cancel),
        3 => (any::<usize>(), (0u8..192).prop_map(Expiry::Head))
            .prop_map(|(i, x)| TimerOp::Reschedule(i, Move::To(x))),
        4 => ((0u16..3).prop_map(Step::By), 0u8..4).prop_map(|(s, n)| TimerOp::Advance(s, n)),
        2 => Just(TimerOp::Peek),
        1 => Just(TimerOp::Iter),
    ];
    (any::<u32>(), 0u16..64, prop::collection::vec(op, 0..600)).prop_map(
        |(start, capacity, ops)| Scenario {
            start,
            capacity,
            ops,
        },
    )
}

/// Timers about 2^31 ticks from the clock, bucketed (the first one, in an empty queue,
/// centres the window on them): the look-back split falls inside a bucket, whose ticks
/// from the split on come first and the ones before it last.
fn around_the_split() -> impl Strategy<Value = Scenario> {
    let op = prop_oneof![
        6 => any::<i8>().prop_map(|d| TimerOp::Schedule(Expiry::Split(d))),
        1 => (0u16..64).prop_map(|d| TimerOp::Schedule(Expiry::Soon(d))),
        2 => any::<usize>().prop_map(TimerOp::Cancel),
        2 => (any::<usize>(), any::<i8>().prop_map(Expiry::Split))
            .prop_map(|(i, x)| TimerOp::Reschedule(i, Move::To(x))),
        3 => ((0u16..3).prop_map(Step::By), 0u8..4).prop_map(|(s, n)| TimerOp::Advance(s, n)),
        1 => ((0u16..3).prop_map(Step::Back), 0u8..4).prop_map(|(s, n)| TimerOp::Advance(s, n)),
        4 => Just(TimerOp::Peek),
        2 => Just(TimerOp::Iter),
    ];
    (any::<u32>(), any::<i8>(), prop::collection::vec(op, 0..300)).prop_map(|(start, d, ops)| {
        let mut all = vec![TimerOp::Schedule(Expiry::Split(d))];
        all.extend(ops);
        Scenario {
            start,
            capacity: 0,
            ops: all,
        }
    })
}

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(32);
    ProptestConfig::with_cases(cases)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn timer_queue_agrees_with_the_model(s in scenario(600)) {
        timer_model::run::<TimerQueue<u64>>(&s);
    }

    #[test]
    fn timer_queue_agrees_under_head_churn(s in head_churn()) {
        timer_model::run::<TimerQueue<u64>>(&s);
    }

    #[test]
    fn two_tick_buckets_of_two_entry_chunks_agree(s in scenario(600)) {
        timer_model::run::<BucketQueue<u64, 1, 2, 6>>(&s);
    }

    #[test]
    fn four_tick_buckets_in_a_small_window_agree(s in scenario(600)) {
        timer_model::run::<BucketQueue<u64, 2, 4, 9>>(&s);
    }

    #[test]
    fn a_window_narrower_than_a_bucket_agrees(s in scenario(600)) {
        timer_model::run::<BucketQueue<u64, 6, 4, 4>>(&s);
    }

    #[test]
    fn sixteen_tick_buckets_agree_under_head_churn(s in head_churn()) {
        timer_model::run::<BucketQueue<u64, 4, 2, 8>>(&s);
    }

    #[test]
    fn timers_around_the_split_agree(s in around_the_split()) {
        timer_model::run::<TimerQueue<u64>>(&s);
        timer_model::run::<BucketQueue<u64, 2, 2, 6>>(&s);
    }

    #[test]
    fn decoded_fuzz_input_agrees(data in prop::collection::vec(any::<u8>(), 0..3000)) {
        let s = timer_model::decode(&data);
        timer_model::run::<TimerQueue<u64>>(&s);
        timer_model::run::<BucketQueue<u64, 2, 2, 6>>(&s);
    }
}

/// Scenarios that once broke a design or that pin a corner, kept as plain tests.
#[test]
fn two_timers_half_the_clock_apart_both_pop() {
    for start in [0u32, u32::MAX - 3, 1 << 31] {
        let s = Scenario {
            start,
            capacity: 0,
            ops: vec![
                TimerOp::Schedule(Expiry::Soon(5)),
                TimerOp::Schedule(Expiry::Split(5)),
                TimerOp::Peek,
                TimerOp::Iter,
                TimerOp::Advance(Step::Jump(1 << 31), 0),
                TimerOp::Peek,
                TimerOp::Iter,
            ],
        };
        timer_model::run::<TimerQueue<u64>>(&s);
        timer_model::run::<BucketQueue<u64, 2, 2, 4>>(&s);
    }
}
