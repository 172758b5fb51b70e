//! Agent checks against a local agent, and external scripts including ones that hang.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{silent, tcp_server};
use healthcheck::probe::{AgentSpec, ScriptSpec};
use healthcheck::{
    AgentAdminState, AgentOpState, CheckSpec, CheckStatus, Error, Timeouts, WeightHint,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn quick() -> Timeouts {
    Timeouts {
        connect: Duration::from_millis(500),
        check: Duration::from_millis(500),
    }
}

async fn agent_replying(line: &'static [u8]) -> common::Server {
    tcp_server(move |mut s| async move {
        let _ = s.write_all(line).await;
    })
    .await
}

fn agent() -> healthcheck::Check {
    CheckSpec::Agent(AgentSpec::default())
        .build()
        .expect("valid")
}

#[tokio::test]
async fn agent_weight_and_states() {
    let busy = agent_replying(b"75% drain maxconn:12\n").await;
    let r = agent().run(busy.addr, quick()).await;
    assert_eq!(r.status, CheckStatus::L7Ok, "{r:?}");
    assert!(r.passed());
    assert_eq!(r.weight, Some(WeightHint::Percent(75)));
    let reply = r.agent.expect("agent reply kept");
    assert_eq!(reply.admin_state, Some(AgentAdminState::Drain));
    assert_eq!(reply.maxconn, Some(12));

    let down = agent_replying(b"down # disk full\r\n").await;
    let r = agent().run(down.addr, quick()).await;
    assert_eq!(r.status, CheckStatus::L7Ok, "the agent answered properly");
    assert!(!r.passed(), "but it says down");
    assert_eq!(r.agent.and_then(|a| a.op_state), Some(AgentOpState::Down));

    // No newline, then close: still one line.
    let terse = agent_replying(b"up").await;
    assert!(agent().run(terse.addr, quick()).await.passed());

    let garbage = agent_replying(b"hello there\n").await;
    assert_eq!(
        agent().run(garbage.addr, quick()).await.status,
        CheckStatus::L7Rsp
    );

    let quiet = tcp_server(silent).await;
    assert_eq!(
        agent().run(quiet.addr, quick()).await.status,
        CheckStatus::L7Tout
    );
}

#[tokio::test]
async fn agent_send_string_and_agent_port() {
    let server = tcp_server(|mut s| async move {
        let mut buf = [0u8; 32];
        let n = s.read(&mut buf).await.unwrap_or(0);
        let reply: &[u8] = if &buf[..n] == b"status web\n" {
            b"up 50%\n"
        } else {
            b"fail\n"
        };
        let _ = s.write_all(reply).await;
    })
    .await;
    let check = CheckSpec::Agent(AgentSpec {
        port: Some(server.addr.port()),
        send: Some("status web\n".into()),
    })
    .build()
    .expect("valid");
    // The target's own port is irrelevant: the agent port is used.
    let target = std::net::SocketAddr::new(server.addr.ip(), 9);
    let r = check.run(target, quick()).await;
    assert!(r.passed(), "{r:?}");
    assert_eq!(r.weight, Some(WeightHint::Percent(50)));
}

fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

fn script_check(path: PathBuf, dynamic_weight: bool) -> healthcheck::Check {
    CheckSpec::Script(ScriptSpec {
        path,
        args: vec![],
        dynamic_weight,
    })
    .build()
    .expect("valid")
}

fn target() -> std::net::SocketAddr {
    "127.0.0.1:8080".parse().expect("addr")
}

#[tokio::test]
async fn script_exit_codes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let up = script(dir.path(), "up", "exit 0");
    let down = script(dir.path(), "down", "exit 1");
    let seven = script(dir.path(), "seven", "exit 7");
    let sees_target = script(
        dir.path(),
        "env",
        r#"[ "$HAKIT_TARGET_ADDR:$HAKIT_TARGET_PORT" = "127.0.0.1:8080" ] && [ "$1" = "x" ]"#,
    );

    assert_eq!(
        script_check(up, false).run(target(), quick()).await.status,
        CheckStatus::L7Ok
    );
    assert_eq!(
        script_check(down, false)
            .run(target(), quick())
            .await
            .status,
        CheckStatus::L7Sts
    );
    let r = script_check(seven.clone(), true)
        .run(target(), quick())
        .await;
    assert!(r.passed());
    assert_eq!(
        r.weight,
        Some(WeightHint::Absolute(5)),
        "misc_dynamic: weight = code - 2"
    );
    assert!(
        !script_check(seven, false)
            .run(target(), quick())
            .await
            .passed()
    );
    let with_arg = CheckSpec::Script(ScriptSpec {
        path: sees_target,
        args: vec!["x".into()],
        dynamic_weight: false,
    })
    .build()
    .expect("valid");
    assert_eq!(
        with_arg.run(target(), quick()).await.status,
        CheckStatus::L7Ok
    );
}

/// Kills the recorded processes if the test fails before the checker did.
struct KillOnDrop(Vec<i32>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        for &pid in &self.0 {
            if let Some(pid) = rustix::process::Pid::from_raw(pid) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            }
        }
    }
}

fn alive(pid: i32) -> bool {
    // A zombie waiting for its reaper is dead for our purpose.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z'),
        Err(_) => false,
    }
}

#[tokio::test]
async fn hanging_script_is_killed_with_its_process_group() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pid_file = dir.path().join("pids");
    let hang = script(
        dir.path(),
        "hang",
        &format!("sleep 300 &\necho $$ $! > {}\nwait", pid_file.display()),
    );
    let started = Instant::now();
    let r = script_check(hang, false).run(target(), quick()).await;
    assert_eq!(r.status, CheckStatus::L7Tout, "{r:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
    let pids: Vec<i32> = std::fs::read_to_string(&pid_file)
        .expect("script wrote its pids")
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect();
    assert_eq!(pids.len(), 2, "script and its background child");
    let _guard = KillOnDrop(pids.clone());
    let deadline = Instant::now() + Duration::from_secs(5);
    while pids.iter().any(|&p| alive(p)) {
        assert!(
            Instant::now() < deadline,
            "processes {pids:?} survived the timeout"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[test]
fn missing_or_non_executable_script_fails_at_build() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = CheckSpec::Script(ScriptSpec {
        path: dir.path().join("nope"),
        args: vec![],
        dynamic_weight: false,
    })
    .build();
    assert!(matches!(missing, Err(Error::ScriptNotFound { .. })));
    let plain = dir.path().join("plain");
    std::fs::write(&plain, "exit 0").expect("write");
    let not_exec = CheckSpec::Script(ScriptSpec {
        path: plain,
        args: vec![],
        dynamic_weight: false,
    })
    .build();
    assert!(matches!(not_exec, Err(Error::ScriptNotExecutable { .. })));
    let directory = CheckSpec::Script(ScriptSpec {
        path: dir.path().to_path_buf(),
        args: vec![],
        dynamic_weight: false,
    })
    .build();
    assert!(matches!(directory, Err(Error::ScriptNotExecutable { .. })));
}
