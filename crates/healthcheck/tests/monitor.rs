//! The monitor driving real probes: state-change stream, snapshots, the concurrency cap,
//! observed-error actions and many targets at once.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{read_head, serve_on, tcp_server};
use healthcheck::probe::{HttpSpec, TcpSpec};
use healthcheck::{
    CheckSpec, CheckStatus, CheckTiming, HealthState, Monitor, MonitorConfig, ObserveLayer,
    OnError, RequestOutcome, StateChange, TargetSpec, Timeouts, TransitionCause,
};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::{Instant, timeout_at};

fn fast_timing() -> CheckTiming {
    CheckTiming {
        inter: Duration::from_millis(40),
        fastinter: Some(Duration::from_millis(20)),
        downinter: Some(Duration::from_millis(30)),
        rise: 2,
        fall: 2,
    }
}

fn tcp_target(addr: SocketAddr) -> TargetSpec {
    let mut spec = TargetSpec::new(
        addr,
        CheckSpec::Tcp(TcpSpec::default()).build().expect("valid"),
    );
    spec.timing = fast_timing();
    spec.timeouts = Timeouts {
        connect: Duration::from_millis(300),
        check: Duration::from_millis(300),
    };
    spec
}

async fn next_change(rx: &mut UnboundedReceiver<StateChange>, within: Duration) -> StateChange {
    match timeout_at(Instant::now() + within, rx.recv()).await {
        Ok(Some(change)) => change,
        Ok(None) => panic!("change stream closed"),
        Err(_) => panic!("no state change within {within:?}"),
    }
}

#[tokio::test]
async fn target_goes_down_and_comes_back_with_snapshots() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = serve_on(listener, |_s| async {});
    let (monitor, mut changes) = Monitor::new(MonitorConfig::default());
    let id = monitor.add(tcp_target(addr)).expect("valid target");

    // Wait for a passing check before breaking the server.
    let deadline = Instant::now() + Duration::from_secs(5);
    while monitor.snapshot(id).expect("exists").checks == 0 {
        assert!(Instant::now() < deadline, "no check ran");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    drop(server);
    let down = next_change(&mut changes, Duration::from_secs(5)).await;
    assert_eq!(
        (down.target, down.from, down.to),
        (id, HealthState::Up, HealthState::Down)
    );
    assert_eq!(down.result.map(|r| r.status), Some(CheckStatus::L4Con));
    assert_eq!(down.cause, TransitionCause::Checks);

    let listener = TcpListener::bind(addr).await.expect("rebind same port");
    let _server = serve_on(listener, |_s| async {});
    let up = next_change(&mut changes, Duration::from_secs(5)).await;
    assert_eq!((up.from, up.to), (HealthState::Down, HealthState::Up));

    let snap = monitor.snapshot(id).expect("exists");
    assert_eq!(snap.state, HealthState::Up);
    assert_eq!(snap.last_status, Some(CheckStatus::L4Ok));
    assert!(snap.failures >= 2, "{snap:?}");
    assert!(snap.checks >= snap.failures + 2, "{snap:?}");
    assert!(snap.total_downtime > Duration::ZERO);
    assert!(snap.total_downtime <= up.at - down.at + Duration::from_millis(1));
    assert_eq!(snap.last_change, up.at);
    assert!(snap.last_duration.is_some());

    assert!(monitor.remove(id));
    assert!(monitor.snapshot(id).is_none());
    assert!(!monitor.remove(id));
}

/// An HTTP server that holds every request for `hold` before answering 200.
async fn slow_http(hold: Duration) -> common::Server {
    tcp_server(move |mut s| async move {
        read_head(&mut s).await;
        tokio::time::sleep(hold).await;
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            .await;
    })
    .await
}

async fn max_in_flight_with_cap(cap: usize) -> usize {
    let server = slow_http(Duration::from_millis(150)).await;
    let (monitor, _changes) = Monitor::new(MonitorConfig {
        max_concurrent_checks: cap,
        ..MonitorConfig::default()
    });
    let check = CheckSpec::Http(HttpSpec::default()).build().expect("valid");
    for _ in 0..24 {
        let mut spec = TargetSpec::new(server.addr, check.clone());
        spec.timing = fast_timing();
        spec.timeouts.check = Duration::from_secs(5);
        monitor.add(spec).expect("valid");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.accepted.load(Ordering::SeqCst) < 24 {
        assert!(Instant::now() < deadline, "checks did not run");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.max_in_flight.load(Ordering::SeqCst)
}

#[tokio::test]
async fn concurrent_checks_are_capped() {
    let capped = max_in_flight_with_cap(3).await;
    assert!(capped <= 3, "cap exceeded: {capped}");
    assert!(
        capped >= 2,
        "checks should still overlap up to the cap: {capped}"
    );
    let uncapped = max_in_flight_with_cap(100).await;
    assert!(
        uncapped > 3,
        "without a tight cap checks overlap: {uncapped}"
    );
}

#[tokio::test]
async fn observed_errors_mark_down_then_checks_bring_it_back() {
    let server = tcp_server(|_s| async {}).await;
    let (monitor, mut changes) = Monitor::new(MonitorConfig::default());
    let mut spec = tcp_target(server.addr);
    // Checks at full health are rare, so a quick recovery proves the fastinter wake-up.
    spec.timing.inter = Duration::from_secs(3600);
    spec.observe = Some((ObserveLayer::Layer7, 3, OnError::MarkDown));
    let id = monitor.add(spec).expect("valid");

    assert!(
        monitor
            .report_outcome(id, RequestOutcome::HttpStatus(502))
            .is_none()
    );
    assert!(
        monitor
            .report_outcome(id, RequestOutcome::HttpStatus(404))
            .is_none(),
        "4xx resets the run"
    );
    assert!(
        monitor
            .report_outcome(id, RequestOutcome::HttpStatus(502))
            .is_none()
    );
    assert!(
        monitor
            .report_outcome(id, RequestOutcome::ResponseTimeout)
            .is_none()
    );
    let t = monitor
        .report_outcome(id, RequestOutcome::ConnectError)
        .expect("third error in a row marks down");
    assert_eq!(t.to, HealthState::Down);

    let down = next_change(&mut changes, Duration::from_secs(1)).await;
    assert_eq!(
        down.cause,
        TransitionCause::ObservedErrors(OnError::MarkDown)
    );
    assert!(down.result.is_none(), "no check caused it");
    let up = next_change(&mut changes, Duration::from_secs(5)).await;
    assert_eq!(
        (up.to, up.cause),
        (HealthState::Up, TransitionCause::Checks)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_targets_on_one_monitor() {
    // The benchmark runs 10,000 for 30 s; the test keeps the default small for a 2-core box.
    let count: usize = std::env::var("HEALTHCHECK_TEST_TARGETS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let mut servers = Vec::new();
    for _ in 0..4 {
        servers.push(tcp_server(|_s| async {}).await);
    }
    let (monitor, mut changes) = Monitor::new(MonitorConfig {
        max_concurrent_checks: 256,
        spread_checks_percent: 10,
        seed: 7,
        ..MonitorConfig::default()
    });
    let check = CheckSpec::Tcp(TcpSpec::default()).build().expect("valid");
    let mut ids = Vec::with_capacity(count);
    for i in 0..count {
        let mut spec = TargetSpec::new(servers[i % servers.len()].addr, check.clone());
        spec.timing.inter = Duration::from_millis(500);
        ids.push(monitor.add(spec).expect("valid"));
    }
    assert_eq!(monitor.len(), count);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let snaps = monitor.snapshots();
        if snaps.iter().all(|s| s.checks >= 1) {
            assert!(
                snaps
                    .iter()
                    .all(|s| s.state == HealthState::Up && s.failures == 0)
            );
            assert!(
                snaps
                    .iter()
                    .all(|s| s.last_status == Some(CheckStatus::L4Ok))
            );
            // The totals agree with the snapshots (checks only grow in between).
            let counted: u64 = snaps.iter().map(|s| s.checks).sum();
            let totals = monitor.totals();
            assert_eq!(
                (totals.targets, totals.down, totals.failures),
                (count, 0, 0)
            );
            assert!(totals.checks >= counted, "{} < {counted}", totals.checks);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not every target was checked in time"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        changes.try_recv().is_err(),
        "healthy targets never change state"
    );
    for id in ids {
        assert!(monitor.remove(id));
    }
    assert!(monitor.is_empty());
    assert_eq!(monitor.totals(), healthcheck::MonitorTotals::default());
}

#[test]
fn adding_outside_a_runtime_is_an_error_not_a_panic() {
    let (monitor, _rx) = Monitor::new(MonitorConfig::default());
    let check = CheckSpec::Tcp(TcpSpec::default()).build().expect("valid");
    let spec = TargetSpec::new("127.0.0.1:1".parse().expect("addr"), check);
    assert!(matches!(
        monitor.add(spec),
        Err(healthcheck::Error::NoRuntime)
    ));
    assert!(monitor.is_empty());
}

#[test]
fn bad_target_configuration_is_an_error() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let (monitor, _rx) = Monitor::new(MonitorConfig::default());
        let check = CheckSpec::Tcp(TcpSpec::default()).build().expect("valid");
        let mut spec = TargetSpec::new("127.0.0.1:1".parse().expect("addr"), check);
        spec.timing.rise = 0;
        assert!(monitor.add(spec.clone()).is_err());
        spec.timing.rise = 1;
        spec.observe = Some((ObserveLayer::Layer4, 0, OnError::FailCheck));
        assert!(monitor.add(spec.clone()).is_err());
        spec.observe = None;
        spec.timeouts.check = Duration::ZERO;
        assert!(monitor.add(spec.clone()).is_err());
        spec.timeouts = Timeouts::default();
        spec.agent = Some(healthcheck::AgentTrack {
            check: spec.check.clone(),
            inter: Duration::ZERO,
            timeouts: Timeouts::default(),
        });
        assert!(monitor.add(spec).is_err());
        assert!(monitor.is_empty());
    });
}

#[tokio::test]
async fn agent_holds_the_target_down_and_sets_its_weight() {
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;
    let service = tcp_server(|_s| async {}).await;
    let say_down = Arc::new(AtomicBool::new(false));
    let flag = say_down.clone();
    let agent = tcp_server(move |mut s| {
        let down = flag.load(Ordering::SeqCst);
        async move {
            let line: &[u8] = if down {
                b"maint 0%\n"
            } else {
                b"up ready 60%\n"
            };
            let _ = s.write_all(line).await;
        }
    })
    .await;
    let (monitor, mut changes) = Monitor::new(MonitorConfig::default());
    let mut spec = tcp_target(service.addr);
    spec.agent = Some(healthcheck::AgentTrack {
        check: CheckSpec::Agent(healthcheck::probe::AgentSpec {
            port: Some(agent.addr.port()),
            send: None,
        })
        .build()
        .expect("valid"),
        inter: Duration::from_millis(30),
        timeouts: Timeouts::default(),
    });
    let id = monitor.add(spec).expect("valid");

    let deadline = Instant::now() + Duration::from_secs(5);
    while monitor.snapshot(id).expect("exists").weight != Some(healthcheck::WeightHint::Percent(60))
    {
        assert!(Instant::now() < deadline, "agent weight never arrived");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    say_down.store(true, Ordering::SeqCst);
    let down = next_change(&mut changes, Duration::from_secs(5)).await;
    assert_eq!(
        (down.to, down.cause),
        (HealthState::Down, TransitionCause::Agent)
    );
    let snap = monitor.snapshot(id).expect("exists");
    assert!(snap.agent_down);
    assert_eq!(
        snap.last_status,
        Some(CheckStatus::L4Ok),
        "health checks still pass"
    );
    say_down.store(false, Ordering::SeqCst);
    let up = next_change(&mut changes, Duration::from_secs(5)).await;
    assert_eq!((up.to, up.cause), (HealthState::Up, TransitionCause::Agent));

    // An agent that goes away changes nothing.
    drop(agent);
    let checks_before = monitor.snapshot(id).expect("exists").checks;
    let deadline = Instant::now() + Duration::from_secs(5);
    while monitor.snapshot(id).expect("exists").checks < checks_before + 5 {
        assert!(Instant::now() < deadline, "health checks stopped");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        changes.try_recv().is_err(),
        "no change from an unreachable agent"
    );
    assert_eq!(monitor.snapshot(id).expect("exists").state, HealthState::Up);
}

#[tokio::test]
async fn removing_a_target_kills_its_running_script_group() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let pid_file = dir.path().join("pids");
    let path = dir.path().join("hang");
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\nsleep 300 &\necho $$ $! > {}.tmp && mv {0}.tmp {0}\nwait\n",
            pid_file.display()
        ),
    )
    .expect("write");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let check = CheckSpec::Script(healthcheck::probe::ScriptSpec {
        path,
        args: vec![],
        dynamic_weight: false,
    })
    .build()
    .expect("valid");
    let (monitor, _changes) = Monitor::new(MonitorConfig::default());
    let mut spec = TargetSpec::new("127.0.0.1:1".parse().expect("addr"), check);
    spec.timing = fast_timing();
    spec.timeouts.check = Duration::from_secs(60);
    let id = monitor.add(spec).expect("valid");

    let deadline = Instant::now() + Duration::from_secs(5);
    let pids: Vec<i32> = loop {
        if let Ok(text) = std::fs::read_to_string(&pid_file) {
            break text
                .split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect();
        }
        assert!(Instant::now() < deadline, "script never started");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let _guard = KillOnDrop(pids.clone());
    assert_eq!(pids.len(), 2);
    assert!(
        pids.iter().all(|&p| alive(p)),
        "script still running before removal"
    );
    assert!(monitor.remove(id));
    let deadline = Instant::now() + Duration::from_secs(5);
    while pids.iter().any(|&p| alive(p)) {
        assert!(
            Instant::now() < deadline,
            "processes {pids:?} outlived their target"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Kills the recorded processes if the test fails before the monitor did.
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
