//! `raft_kv_wire`: see `hakit_fuzz::raft_kv::wire_stream` for what it asserts.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hakit_fuzz::raft_kv::wire_stream(data));
