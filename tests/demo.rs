//! `hakit demo` end to end: a real 3-node cluster on loopback loses its leader under
//! write load; the command's exit status says whether every acknowledged write survived
//! and the restarted node caught up and passed its health check again.

use std::process::Command;

#[test]
fn demo_survives_losing_its_leader_without_losing_acknowledged_writes() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let out = Command::new(env!("CARGO_BIN_EXE_hakit"))
        .args(["demo", "--writes", "300", "--clients", "4", "--data-dir"])
        .arg(dir.path())
        .output()
        .expect("run hakit demo");
    assert!(
        out.status.success(),
        "hakit demo failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The nodes wrote their logs where they were told to.
    for node in 1..=3 {
        let node_dir = dir.path().join(format!("node-{node}"));
        let entries = std::fs::read_dir(&node_dir)
            .unwrap_or_else(|e| panic!("{} missing: {e}", node_dir.display()))
            .count();
        assert!(entries > 0, "{} is empty", node_dir.display());
    }
}

#[test]
fn demo_rejects_nonsense_options() {
    let out = Command::new(env!("CARGO_BIN_EXE_hakit"))
        .args(["demo", "--writes", "1"])
        .output()
        .expect("run hakit demo");
    assert_eq!(out.status.code(), Some(1));
}
