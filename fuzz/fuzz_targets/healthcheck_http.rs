//! `healthcheck_http`: see `hakit_fuzz::healthcheck::http_head` for what it asserts.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hakit_fuzz::healthcheck::http_head(data));
