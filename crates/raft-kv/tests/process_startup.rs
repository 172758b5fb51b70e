//! Real-process startup checks of `raft-kv-node`: bad flags are refused, a
//! node recovers its data after SIGKILL, and a WAL damaged in the middle
//! stops startup with an error naming the file and offset.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

const NODE_BIN: &str = env!("CARGO_BIN_EXE_raft-kv-node");
const DEADLINE: Duration = Duration::from_secs(30);

/// Kills the process when dropped, also when the test fails.
struct ProcessGuard(Option<Child>);

impl ProcessGuard {
    fn kill(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits for the process to exit by itself, with a deadline.
    fn wait_exit(&mut self) -> (ExitStatus, String) {
        let start = Instant::now();
        let child = self.0.as_mut().expect("running");
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                let child = self.0.take().expect("child");
                let Output { stderr, .. } = child.wait_with_output().expect("output");
                return (status, String::from_utf8_lossy(&stderr).into_owned());
            }
            assert!(start.elapsed() < DEADLINE, "process did not exit");
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ProcessGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
}

fn spawn_single(data_dir: &Path, peer: SocketAddr, client: SocketAddr) -> ProcessGuard {
    let child = Command::new(NODE_BIN)
        .args(["--id", "1", "--peers", &format!("1={peer}")])
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--client-addr", &client.to_string(), "--tick-ms", "10"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    ProcessGuard(Some(child))
}

fn request(addr: SocketAddr, line: &str) -> Option<String> {
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    (&stream).write_all(format!("{line}\n").as_bytes()).ok()?;
    let mut answer = String::new();
    BufReader::new(stream).read_line(&mut answer).ok()?;
    Some(answer.trim_end().to_string())
}

fn wait_for_answer(addr: SocketAddr, line: &str, want: impl Fn(&str) -> bool) -> String {
    let start = Instant::now();
    loop {
        if let Some(answer) = request(addr, line)
            && want(&answer)
        {
            return answer;
        }
        assert!(start.elapsed() < DEADLINE, "no suitable answer to {line}");
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn bad_flags_are_refused_with_usage() {
    for args in [
        vec!["--id", "1"],
        vec!["--id", "x", "--peers", "1=127.0.0.1:1"],
        vec![
            "--id",
            "1",
            "--peers",
            "1=nowhere",
            "--data-dir",
            "d",
            "--client-addr",
            "127.0.0.1:1",
        ],
        vec![
            "--id",
            "2",
            "--peers",
            "1=127.0.0.1:1",
            "--data-dir",
            "d",
            "--client-addr",
            "127.0.0.1:1",
        ],
        vec!["--bogus", "1"],
    ] {
        let out = Command::new(NODE_BIN).args(&args).output().expect("run");
        assert_eq!(out.status.code(), Some(2), "args {args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("usage:"),
            "args {args:?}"
        );
    }
}

#[test]
fn restart_after_sigkill_keeps_data_and_mid_log_damage_stops_startup() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("node");
    let (peer, client) = (free_addr(), free_addr());

    let mut node = spawn_single(&data, peer, client);
    wait_for_answer(client, "STATUS", |a| a.contains("role=Leader"));
    for i in 0..50 {
        let answer = wait_for_answer(client, &format!("PUT k{i} v{i}"), |_| true);
        assert!(answer.starts_with("OK "), "PUT k{i}: {answer}");
    }
    node.kill();

    let mut node = spawn_single(&data, peer, client);
    for i in [0, 25, 49] {
        let answer = wait_for_answer(client, &format!("GET k{i}"), |a| !a.starts_with("ERR"));
        assert_eq!(answer, format!("VALUE v{i}"));
    }
    node.kill();

    // Damage the first record of the first segment: synced, followed by more
    // records, so it is not a torn tail.
    let segment = data.join("wal").join("0000000000000000.wal");
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&segment)
        .expect("open segment");
    let offset = 20 + 10; // segment header, then inside the first record
    let mut byte = [0u8; 1];
    file.read_exact_at(&mut byte, offset).expect("read");
    file.write_all_at(&[byte[0] ^ 0xff], offset).expect("write");
    drop(file);

    let mut node = spawn_single(&data, peer, client);
    let (status, stderr) = node.wait_exit();
    assert!(!status.success(), "node started on a damaged log");
    assert!(
        stderr.contains(&segment.display().to_string()) && stderr.contains("offset 20"),
        "error does not name file and offset: {stderr}"
    );
}

#[test]
fn sigterm_stops_the_node_cleanly_and_it_restarts_with_its_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("node");
    let (peer, client) = (free_addr(), free_addr());
    let mut node = spawn_single(&data, peer, client);
    wait_for_answer(client, "STATUS", |a| a.contains("role=Leader"));
    let answer = wait_for_answer(client, "PUT kept yes", |_| true);
    assert!(answer.starts_with("OK "), "{answer}");

    let child = node.0.as_ref().expect("running");
    rustix::process::kill_process(
        rustix::process::Pid::from_child(child),
        rustix::process::Signal::TERM,
    )
    .expect("send SIGTERM");
    let (status, stderr) = node.wait_exit();
    assert!(status.success(), "unclean exit on SIGTERM: {stderr}");
    assert!(stderr.contains("SIGTERM"), "{stderr}");

    let _node = spawn_single(&data, peer, client);
    let answer = wait_for_answer(client, "GET kept", |a| !a.starts_with("ERR"));
    assert_eq!(answer, "VALUE yes");
}

#[test]
fn a_torn_final_record_is_cut_reported_and_startup_continues() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("node");
    let (peer, client) = (free_addr(), free_addr());
    let mut node = spawn_single(&data, peer, client);
    wait_for_answer(client, "STATUS", |a| a.contains("role=Leader"));
    for i in 0..20 {
        let answer = wait_for_answer(client, &format!("PUT k{i} v{i}"), |_| true);
        assert!(answer.starts_with("OK "), "{answer}");
    }
    node.kill();

    // Simulate a crash mid-write of the final record: its last bytes never
    // reached the disk (the segment is preallocated, so they read as zeros).
    let segment = data.join("wal").join("0000000000000000.wal");
    let mut bytes = std::fs::read(&segment).expect("read");
    let end = bytes.iter().rposition(|&b| b != 0).expect("data") + 1;
    bytes[end - 3..end].fill(0);
    std::fs::write(&segment, &bytes).expect("write");

    let mut node = spawn_single(&data, peer, client);
    for i in [0, 10] {
        let answer = wait_for_answer(client, &format!("GET k{i}"), |a| !a.starts_with("ERR"));
        assert_eq!(answer, format!("VALUE v{i}"));
    }
    let child = node.0.as_ref().expect("running");
    rustix::process::kill_process(
        rustix::process::Pid::from_child(child),
        rustix::process::Signal::TERM,
    )
    .expect("send SIGTERM");
    let (status, stderr) = node.wait_exit();
    assert!(status.success(), "{stderr}");
    assert!(
        stderr.contains("torn record") && stderr.contains(&segment.display().to_string()),
        "torn tail not reported: {stderr}"
    );
}
