//! `raft_kv_codec`: see `hakit_fuzz::raft_kv::codec` for what it asserts.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hakit_fuzz::raft_kv::codec(data));
