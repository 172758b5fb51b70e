//! `healthcheck_dns`: see `hakit_fuzz::healthcheck::dns` for what it asserts.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hakit_fuzz::healthcheck::dns(data));
