//! `healthcheck_http_chunked`: see `hakit_fuzz::healthcheck::http_chunked` for what it asserts.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hakit_fuzz::healthcheck::http_chunked(data));
