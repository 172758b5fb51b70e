//! `raft_kv_wal_segment`: see `hakit_fuzz::raft_kv::wal_segment` for what it asserts.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hakit_fuzz::raft_kv::wal_segment(data));
