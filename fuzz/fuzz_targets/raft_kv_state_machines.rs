//! `raft_kv_state_machines`: see `hakit_fuzz::raft_kv::state_machines` for what it asserts.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hakit_fuzz::raft_kv::state_machines(data));
