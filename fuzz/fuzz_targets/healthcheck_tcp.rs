//! `healthcheck_tcp`: see `hakit_fuzz::healthcheck::tcp` for what it asserts.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hakit_fuzz::healthcheck::tcp(data));
