//! Half-open (SYN) checks against real sockets on loopback.
//!
//! They need root or CAP_NET_RAW. Without it each test prints why it is skipped, unless
//! `HAKIT_REQUIRE_NETNS=1` is set (as on the root CI runner), where a skip is a failure.

mod common;

use std::collections::HashSet;
use std::net::{SocketAddr, TcpListener};
use std::process::Command;
use std::time::Duration;

use healthcheck::probe::HalfOpenSpec;
use healthcheck::{Check, CheckSpec, CheckStatus, Error, Timeouts};
use socket2::{Domain, Protocol, Socket, Type};

fn quick() -> Timeouts {
    Timeouts {
        connect: Duration::from_millis(500),
        check: Duration::from_millis(500),
    }
}

fn required() -> bool {
    std::env::var("HAKIT_REQUIRE_NETNS").as_deref() == Ok("1")
}

/// The half-open check, or `None` (after saying why) when this process may not open raw
/// sockets. Panics instead when `HAKIT_REQUIRE_NETNS=1`.
fn half_open() -> Option<Check> {
    match CheckSpec::HalfOpen(HalfOpenSpec::default()).build() {
        Ok(c) => Some(c),
        Err(e) => {
            assert!(!required(), "HAKIT_REQUIRE_NETNS=1 but: {e}");
            eprintln!("skipped: {e}");
            None
        }
    }
}

/// A port where nothing listens and that nobody else can take while the socket lives:
/// bound, never listening. A SYN to it gets a RST.
fn closed_port(ip: &str) -> (Socket, SocketAddr) {
    let addr: SocketAddr = format!("{ip}:0").parse().expect("addr");
    let s =
        Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP)).expect("socket");
    s.bind(&addr.into()).expect("bind");
    let bound = s.local_addr().expect("addr").as_socket().expect("inet");
    (s, bound)
}

/// Local ports of connections in SYN-RECV on this host (`ss`), or `None` without `ss`.
fn syn_recv_ports() -> Option<HashSet<u16>> {
    let out = Command::new("ss")
        .args(["-Htn", "state", "syn-recv"])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    // Columns: Recv-Q Send-Q Local:Port Peer:Port (no state column when filtered).
    Some(
        text.lines()
            .filter_map(|l| l.split_whitespace().nth(2))
            .filter_map(|local| local.rsplit(':').next()?.parse().ok())
            .collect(),
    )
}

/// Wait until no listener in `ports` holds a half-open connection, up to 5 s.
async fn assert_no_syn_recv(ports: &HashSet<u16>) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let Some(open) = syn_recv_ports() else {
            assert!(!required(), "HAKIT_REQUIRE_NETNS=1 but `ss` cannot run");
            eprintln!("`ss` not available: SYN-RECV not checked");
            return;
        };
        let left: Vec<_> = open.intersection(ports).collect();
        if left.is_empty() {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "listeners still hold half-open connections on ports {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn syn_ack_is_up_and_rst_is_refused_on_ipv4_and_ipv6() {
    let Some(check) = half_open() else { return };
    for ip in ["127.0.0.1", "[::1]"] {
        let listener = TcpListener::bind(format!("{ip}:0")).expect("bind");
        let up = listener.local_addr().expect("addr");
        let (_closed, down) = closed_port(ip);
        let r = check.run(up, quick()).await;
        assert_eq!(r.status, CheckStatus::L4Ok, "{up}: {r:?}");
        assert!(r.passed());
        let r = check.run(down, quick()).await;
        assert_eq!(r.status, CheckStatus::L4Con, "{down}: {r:?}");
        assert!(!r.passed());
        assert!(
            r.duration < Duration::from_millis(400),
            "a RST is not a timeout: {r:?}"
        );
        assert_no_syn_recv(&HashSet::from([up.port()])).await;
    }
    // An IPv4-mapped IPv6 address is probed over IPv4.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let mapped: SocketAddr = format!("[::ffff:127.0.0.1]:{port}").parse().expect("addr");
    assert_eq!(check.run(mapped, quick()).await.status, CheckStatus::L4Ok);
}

/// A listener whose application never calls `accept()`: half-open probes never finish a
/// handshake, so they take no accept-queue slot and keep passing, however many there
/// are. The check vouches for the kernel's listening socket, not the application. Once
/// real connections fill the queue, the kernel drops SYNs and the check times out,
/// which is also how a black-holed target looks.
#[tokio::test]
async fn listener_that_never_accepts_answers_until_its_queue_is_full() {
    let Some(check) = half_open() else { return };
    let (listener, addr) = common::never_accepting_listener();
    for round in 0..50 {
        let r = check.run(addr, quick()).await;
        assert_eq!(r.status, CheckStatus::L4Ok, "round {round}: {r:?}");
    }
    // Fill the accept queue (backlog 0 holds one connection) with real connections.
    let mut fillers = Vec::new();
    let mut timed_out = None;
    for _ in 0..8 {
        let r = check.run(addr, quick()).await;
        if r.status == CheckStatus::L4Tout {
            timed_out = Some(r);
            break;
        }
        assert_eq!(r.status, CheckStatus::L4Ok, "{r:?}");
        fillers.push(std::net::TcpStream::connect_timeout(
            &addr,
            Duration::from_millis(300),
        ));
    }
    let r = timed_out.expect("accept queue never filled");
    assert!(!r.passed());
    assert!(r.duration >= Duration::from_millis(450), "{r:?}");
    drop(fillers);
    drop(listener);
}

#[tokio::test]
async fn two_thousand_concurrent_probes_are_each_matched() {
    let Some(check) = half_open() else { return };
    let listeners: Vec<TcpListener> = (0..50)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind"))
        .collect();
    let closed: Vec<(Socket, SocketAddr)> = (0..50).map(|_| closed_port("127.0.0.1")).collect();
    let mut targets: Vec<(SocketAddr, CheckStatus)> = listeners
        .iter()
        .map(|l| (l.local_addr().expect("addr"), CheckStatus::L4Ok))
        .chain(closed.iter().map(|(_, a)| (*a, CheckStatus::L4Con)))
        .collect();
    targets.sort_by_key(|(addr, _)| *addr);
    let timeouts = Timeouts {
        connect: Duration::from_secs(3),
        check: Duration::from_secs(1),
    };
    let mut runs = tokio::task::JoinSet::new();
    for i in 0..2000 {
        let (addr, want) = targets[(i * 7) % targets.len()];
        let check = check.clone();
        runs.spawn(async move { (addr, want, check.run(addr, timeouts).await) });
    }
    let mut seen = 0;
    while let Some(done) = runs.join_next().await {
        let (addr, want, r) = done.expect("task");
        assert_eq!(r.status, want, "{addr}: {r:?}");
        seen += 1;
    }
    assert_eq!(seen, 2000);
    let ports = listeners
        .iter()
        .map(|l| l.local_addr().expect("addr").port())
        .collect();
    assert_no_syn_recv(&ports).await;
}

/// Building the check without CAP_NET_RAW is a build error naming what is missing. Run
/// by re-executing this test binary with the capability dropped (`setpriv`).
#[test]
fn building_without_cap_net_raw_is_an_error() {
    if std::env::var("HAKIT_HALF_OPEN_NO_CAP").is_ok() {
        let err = CheckSpec::HalfOpen(HalfOpenSpec::default())
            .build()
            .expect_err("no CAP_NET_RAW");
        assert!(matches!(err, Error::HalfOpenUnavailable { .. }), "{err:?}");
        return;
    }
    if half_open().is_none() {
        // Already unprivileged: the error is right here.
        let err = CheckSpec::HalfOpen(HalfOpenSpec::default())
            .build()
            .expect_err("unprivileged");
        assert!(matches!(err, Error::HalfOpenUnavailable { .. }), "{err:?}");
        return;
    }
    let exe = std::env::current_exe().expect("test binary");
    let run = Command::new("setpriv")
        .args(["--bounding-set", "-net_raw", "--inh-caps", "-net_raw", "--"])
        .arg(exe)
        .args([
            "--exact",
            "building_without_cap_net_raw_is_an_error",
            "--test-threads",
            "1",
        ])
        .env("HAKIT_HALF_OPEN_NO_CAP", "1")
        .env_remove("HAKIT_REQUIRE_NETNS")
        .output();
    match run {
        Ok(out) => assert!(
            out.status.success(),
            "without CAP_NET_RAW:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => {
            assert!(
                !required(),
                "HAKIT_REQUIRE_NETNS=1 but setpriv cannot run: {e}"
            );
            eprintln!("skipped: setpriv: {e}");
        }
    }
}

/// The prober lives on the runtime of the check that created it; when that runtime is
/// gone, the next check makes a new one on its own runtime.
#[test]
fn checks_work_on_runtime_after_runtime() {
    let Some(check) = half_open() else { return };
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    for round in 0..3 {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let r = runtime.block_on(check.run(addr, quick()));
        assert_eq!(r.status, CheckStatus::L4Ok, "round {round}: {r:?}");
        drop(runtime);
    }
}
