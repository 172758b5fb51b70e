//! Decodes raw bytes into timer-queue operations and checks every answer of
//! `TimerQueue`, and of a `BucketQueue` with 4-tick buckets of 2-entry chunks, against
//! a plain model, with the queue's structural invariants every 16 operations (a full
//! check is O(n)): the same comparison as the crate's proptest suite
//! (`crates/ebtree/tests/timer_model/`), which checks them after every operation.

#![no_main]

#[path = "../../crates/ebtree/tests/timer_model/mod.rs"]
mod timer_model;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let scenario = timer_model::decode(data);
    timer_model::run_checking_every::<ebtree::TimerQueue<u64>>(&scenario, 16);
    timer_model::run_checking_every::<ebtree::BucketQueue<u64, 2, 2, 6>>(&scenario, 16);
});
