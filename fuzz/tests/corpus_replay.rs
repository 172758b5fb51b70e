//! Replays every committed corpus file of every decoder target through its check, and
//! checks every seed the generator makes, so `cargo test` in `fuzz/` covers them without
//! libFuzzer.

use std::path::Path;

#[test]
fn every_corpus_file_passes_its_check() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    for (target, check) in hakit_fuzz::TARGETS {
        let dir = root.join(target);
        let mut files = 0;
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{dir:?}: {e}")) {
            let path = entry.expect("directory entry").path();
            let data = std::fs::read(&path).expect("corpus file");
            eprintln!("{target}: {}", path.display());
            check(&data);
            files += 1;
        }
        assert!(files > 0, "{target} has no committed corpus");
    }
    hakit_fuzz::raft_kv::remove_scratch_files();
}

#[test]
fn every_generated_seed_passes_its_check() {
    for (target, name, bytes) in hakit_fuzz::seeds::all() {
        let (_, check) = hakit_fuzz::TARGETS
            .iter()
            .find(|(t, _)| *t == target)
            .unwrap_or_else(|| panic!("seed {name} for unknown target {target}"));
        check(&bytes);
    }
    hakit_fuzz::raft_kv::remove_scratch_files();
}

/// Inputs that showed a bug in a crate, under `regressions/<target>/`, replayed through
/// the target's own check; the bugs are fixed, so they must pass. See README.md.
#[test]
fn regressions_stay_fixed() {
    let checks: [(&str, hakit_fuzz::Check); 2] = [
        ("healthcheck_http", hakit_fuzz::healthcheck::http_head),
        ("healthcheck_icmp", hakit_fuzz::healthcheck::icmp),
    ];
    for (target, check) in checks {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("regressions")
            .join(target);
        for entry in std::fs::read_dir(&dir).expect("regressions folder") {
            let path = entry.expect("directory entry").path();
            eprintln!("{}", path.display());
            check(&std::fs::read(&path).expect("file"));
        }
    }
}

/// The seeds are what they claim: valid encodings that reach the decoders' success paths,
/// so the fuzzer starts from inputs that get past the first checks.
#[test]
fn seeds_decode_successfully() {
    use raft_kv::raft::{Codec, Message};
    for (target, name, bytes) in hakit_fuzz::seeds::all() {
        let ok = match target {
            "raft_kv_message" => Message::decode(&bytes).is_ok(),
            "healthcheck_http" => healthcheck::http_response::parse_head(&bytes).is_ok(),
            "healthcheck_tcp" if name.starts_with("v4") => {
                healthcheck::tcp_wire::parse_ipv4_packet(&bytes).is_ok()
            }
            "healthcheck_tcp" => healthcheck::tcp_wire::parse_segment(&bytes).is_ok(),
            "healthcheck_agent_reply" => {
                healthcheck::AgentReply::parse(std::str::from_utf8(&bytes).expect("text")).is_some()
            }
            "healthcheck_dns" if name == "tcp_framed" => {
                healthcheck::dns_wire::decode_tcp_message(&bytes)
                    .is_some_and(|m| healthcheck::dns_wire::parse_response(m).is_ok())
            }
            "healthcheck_dns" if name != "name" => {
                healthcheck::dns_wire::parse_response(&bytes).is_ok()
            }
            _ => continue,
        };
        assert!(ok, "seed {target}/{name} does not decode");
    }
}
