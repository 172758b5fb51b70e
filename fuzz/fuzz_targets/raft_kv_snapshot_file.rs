//! `raft_kv_snapshot_file`: see `hakit_fuzz::raft_kv::snapshot_file` for what it asserts.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hakit_fuzz::raft_kv::snapshot_file(data));
