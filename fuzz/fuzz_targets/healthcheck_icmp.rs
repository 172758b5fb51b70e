//! `healthcheck_icmp`: see `hakit_fuzz::healthcheck::icmp` for what it asserts.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hakit_fuzz::healthcheck::icmp(data));
