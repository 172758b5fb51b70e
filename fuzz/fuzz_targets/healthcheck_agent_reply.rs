//! `healthcheck_agent_reply`: see `hakit_fuzz::healthcheck::agent_reply` for what it asserts.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hakit_fuzz::healthcheck::agent_reply(data));
