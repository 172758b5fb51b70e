//! Decodes raw bytes into tree operations and checks every answer of `EbTree` and
//! `PrefixTree` against ordered models: the same comparison as the crate's proptest
//! suite (`crates/ebtree/tests/model/`).

#![no_main]

#[path = "../../crates/ebtree/tests/model/mod.rs"]
mod model;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let (ops, prefix_ops) = model::decode(data);
    model::run_int(&ops);
    model::run_prefix(&prefix_ops);
});
