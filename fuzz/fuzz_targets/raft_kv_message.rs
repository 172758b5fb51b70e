//! `raft_kv_message`: see `hakit_fuzz::raft_kv::message` for what it asserts.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hakit_fuzz::raft_kv::message(data));
