//! Property tests: random operation sequences against ordered models (see `model/`).
//!
//! `PROPTEST_CASES` raises the number of cases (default 64 per property, which keeps
//! the suite to a few seconds on a shared machine).

mod model;

use model::{Op, PrefixOp};
use proptest::prelude::*;

/// Keys from a small range (duplicates and neighbours) or from anywhere.
fn key() -> impl Strategy<Value = i32> {
    prop_oneof![3 => -8i32..=8, 1 => any::<i32>()]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => key().prop_map(Op::Insert),
        2 => (any::<usize>(), key()).prop_map(|(i, k)| Op::InsertNear(i, k)),
        1 => key().prop_map(Op::InsertUnique),
        4 => any::<usize>().prop_map(Op::Remove),
        1 => any::<usize>().prop_map(Op::UseStale),
        2 => (any::<usize>(), key()).prop_map(|(i, k)| Op::Rekey(i, k)),
        1 => key().prop_map(Op::Lookup),
        2 => key().prop_map(Op::LookupLe),
        2 => key().prop_map(Op::LookupGe),
        1 => key().prop_map(Op::LookupLt),
        1 => key().prop_map(Op::LookupGt),
        2 => any::<usize>().prop_map(Op::Next),
        2 => any::<usize>().prop_map(Op::Prev),
        1 => (key(), 0i32..9, any::<u8>()).prop_map(|(a, l, b)| Op::Range(a, l, b)),
        1 => Just(Op::PopFirst),
    ]
}

fn prefix_op() -> impl Strategy<Value = PrefixOp> {
    prop_oneof![
        4 => (any::<u32>(), 0u8..=32).prop_map(|(a, l)| PrefixOp::Insert(model::fold_addr(a), l)),
        2 => any::<usize>().prop_map(PrefixOp::Remove),
        4 => any::<u32>().prop_map(|a| PrefixOp::Longest(model::fold_addr(a))),
        1 => (any::<u32>(), 0u8..=32).prop_map(|(a, l)| PrefixOp::Exact(model::fold_addr(a), l)),
    ]
}

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    ProptestConfig::with_cases(cases)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn int_tree_agrees_with_btreemap(ops in prop::collection::vec(op(), 0..300)) {
        model::run_int(&ops);
    }

    #[test]
    fn int_tree_survives_clear(
        a in prop::collection::vec(op(), 0..80),
        b in prop::collection::vec(op(), 0..80),
    ) {
        let mut ops = a;
        ops.push(Op::Clear);
        ops.extend(b);
        model::run_int(&ops);
    }

    #[test]
    fn prefix_tree_agrees_with_naive_longest_match(ops in prop::collection::vec(prefix_op(), 0..300)) {
        model::run_prefix(&ops);
    }

    #[test]
    fn decoded_fuzz_input_agrees(data in prop::collection::vec(any::<u8>(), 0..1500)) {
        let (ops, pops) = model::decode(&data);
        model::run_int(&ops);
        model::run_prefix(&pops);
    }
}
