//! End-to-end tests of the `hakit` binary's command line.

use std::process::Command;

fn hakit() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hakit"))
}

#[test]
fn version_prints_the_package_version() {
    let out = hakit()
        .arg("--version")
        .output()
        .expect("run hakit --version");
    assert!(out.status.success(), "hakit --version failed: {out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.trim(),
        format!("hakit {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn help_lists_the_subcommands() {
    let out = hakit().arg("help").output().expect("run hakit help");
    assert!(out.status.success(), "hakit help failed: {out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("Usage: hakit"),
        "no usage line in: {stdout}"
    );
    assert!(
        stdout.contains("demo"),
        "demo subcommand missing from: {stdout}"
    );
}

#[test]
fn unknown_subcommand_fails_with_usage_error() {
    let out = hakit().arg("no-such-command").output().expect("run hakit");
    assert_eq!(
        out.status.code(),
        Some(2),
        "clap reports usage errors with exit code 2"
    );
}

#[test]
fn sim_runs_seeds_and_replays_one() {
    let out = hakit()
        .args(["sim", "--seeds", "3", "--start", "7"])
        .output()
        .expect("run hakit sim");
    assert!(out.status.success(), "hakit sim failed: {out:?}");
    let out = hakit()
        .args(["sim", "--seed", "8"])
        .output()
        .expect("run hakit sim --seed");
    assert!(out.status.success(), "hakit sim --seed failed: {out:?}");
}

#[test]
fn sim_rejects_an_overflowing_range() {
    let out = hakit()
        .args(["sim", "--start", &u64::MAX.to_string(), "--seeds", "2"])
        .output()
        .expect("run hakit sim");
    assert_eq!(out.status.code(), Some(1));
}
