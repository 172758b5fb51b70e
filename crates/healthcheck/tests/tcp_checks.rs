//! TCP connect and tcp-check send/expect against real local servers.

mod common;

use std::time::Duration;

use common::{refused_addr, silent, tcp_server};
use healthcheck::probe::{ExpectSpec, TcpSpec, TcpStep};
use healthcheck::{CheckSpec, CheckStatus, Error, Timeouts};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn quick() -> Timeouts {
    Timeouts {
        connect: Duration::from_millis(500),
        check: Duration::from_millis(300),
    }
}

fn tcp(steps: Vec<TcpStep>) -> healthcheck::Check {
    CheckSpec::Tcp(TcpSpec {
        steps,
        ..TcpSpec::default()
    })
    .build()
    .expect("valid check")
}

/// A server that answers `PING` with `reply` and then closes.
async fn ping_server(reply: &'static [u8]) -> common::Server {
    tcp_server(move |mut s| async move {
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf).await.unwrap_or(0);
        if buf[..n].starts_with(b"PING") {
            let _ = s.write_all(reply).await;
        }
    })
    .await
}

#[tokio::test]
async fn connect_ok_and_refused() {
    let server = tcp_server(|_s| async {}).await;
    let check = tcp(vec![]);
    let ok = check.run(server.addr, quick()).await;
    assert_eq!(ok.status, CheckStatus::L4Ok, "{ok:?}");
    assert!(ok.passed());

    let refused = check.run(refused_addr().await, quick()).await;
    assert_eq!(refused.status, CheckStatus::L4Con, "{refused:?}");
    assert!(!refused.passed());
}

#[tokio::test]
async fn reused_sockets_report_each_check_on_its_own() {
    // Connect-only checks recycle their sockets; alternating up and refused targets
    // shows that no state (pending errors, connections) leaks from one check to the next.
    let server = tcp_server(|_s| async {}).await;
    let refused = refused_addr().await;
    let check = tcp(vec![]);
    for round in 0..200 {
        let (addr, want) = if round % 3 == 2 {
            (refused, CheckStatus::L4Con)
        } else {
            (server.addr, CheckStatus::L4Ok)
        };
        let r = check.run(addr, quick()).await;
        assert_eq!(r.status, want, "round {round}: {r:?}");
    }
}

#[tokio::test]
async fn connect_timeout_when_the_accept_queue_is_full() {
    // A listener that never accepts, with the smallest backlog: once its accept queue
    // holds a connection, the kernel drops further SYNs and connects time out.
    let (_listener, addr) = common::never_accepting_listener();
    let mut fillers = Vec::new();
    let check = tcp(vec![]);
    // Bounded: the queue fills after one or two connections.
    for _ in 0..8 {
        let r = check.run(addr, quick()).await;
        if r.status == CheckStatus::L4Tout {
            assert!(!r.passed());
            assert!(r.duration >= Duration::from_millis(450), "{r:?}");
            return;
        }
        assert_eq!(r.status, CheckStatus::L4Ok, "{r:?}");
        fillers.push(std::net::TcpStream::connect_timeout(
            &addr,
            Duration::from_millis(300),
        ));
    }
    panic!("accept queue never filled");
}

#[tokio::test]
async fn send_expect_string_regex_and_hex() {
    let server = ping_server(b"+PONG\r\n\x01\x02").await;
    let send = TcpStep::Send(b"PING\r\n".to_vec());
    for expect in [
        ExpectSpec::String("+PONG".into()),
        ExpectSpec::Regex(r"^\+P[O]NG\r\n".into()),
        ExpectSpec::Hex("0102".into()),
    ] {
        let r = tcp(vec![send.clone(), TcpStep::Expect(expect.clone())])
            .run(server.addr, quick())
            .await;
        assert_eq!(r.status, CheckStatus::L7Ok, "{expect:?}: {r:?}");
    }
    // Two expectations in order; the second must come after the first's match.
    let seq = tcp(vec![
        TcpStep::SendHex("50 49 4e 47".into()),
        TcpStep::Expect(ExpectSpec::String("PONG".into())),
        TcpStep::Expect(ExpectSpec::Hex("01 02".into())),
    ]);
    assert_eq!(
        seq.run(server.addr, quick()).await.status,
        CheckStatus::L7Ok
    );
    let out_of_order = tcp(vec![
        send.clone(),
        TcpStep::Expect(ExpectSpec::Hex("0102".into())),
        TcpStep::Expect(ExpectSpec::String("PONG".into())),
    ]);
    assert_eq!(
        out_of_order.run(server.addr, quick()).await.status,
        CheckStatus::L7Rsp
    );
}

#[tokio::test]
async fn wrong_reply_silent_server_and_closed_connection() {
    let wrong = ping_server(b"-ERR\r\n").await;
    let check = tcp(vec![
        TcpStep::Send(b"PING\r\n".to_vec()),
        TcpStep::Expect(ExpectSpec::String("+PONG".into())),
    ]);
    let r = check.run(wrong.addr, quick()).await;
    assert_eq!(
        r.status,
        CheckStatus::L7Rsp,
        "closed after a wrong reply: {r:?}"
    );

    let quiet = tcp_server(silent).await;
    let started = std::time::Instant::now();
    let r = check.run(quiet.addr, quick()).await;
    assert_eq!(r.status, CheckStatus::L7Tout, "{r:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "bounded by the check timeout"
    );
    assert!(
        r.duration >= Duration::from_millis(250),
        "waited about the check timeout"
    );
}

#[tokio::test]
async fn endless_stream_without_match_is_bounded() {
    let firehose = tcp_server(|mut s| async move {
        let junk = [b'x'; 8192];
        for _ in 0..100_000 {
            if s.write_all(&junk).await.is_err() {
                break;
            }
        }
    })
    .await;
    let check = CheckSpec::Tcp(TcpSpec {
        steps: vec![TcpStep::Expect(ExpectSpec::String("never".into()))],
        max_read: 4096,
        tls: None,
    })
    .build()
    .expect("valid");
    let r = check.run(firehose.addr, quick()).await;
    assert_eq!(r.status, CheckStatus::L7Rsp, "{r:?}");
}

#[test]
fn bad_configuration_fails_at_build() {
    let bad_regex = CheckSpec::Tcp(TcpSpec {
        steps: vec![TcpStep::Expect(ExpectSpec::Regex("([a-z".into()))],
        ..TcpSpec::default()
    })
    .build();
    assert!(matches!(bad_regex, Err(Error::InvalidRegex { .. })));
    let bad_hex = CheckSpec::Tcp(TcpSpec {
        steps: vec![TcpStep::SendHex("0g".into())],
        ..TcpSpec::default()
    })
    .build();
    assert!(matches!(bad_hex, Err(Error::InvalidHex { .. })));
}
