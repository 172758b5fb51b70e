//! ICMP echo, UDP and DNS checks against 127.0.0.1.

mod common;

use std::time::Duration;

use common::udp_server;
use healthcheck::dns_wire::{TYPE_A, TYPE_AAAA};
use healthcheck::probe::{DnsSpec, ExpectSpec, IcmpSpec, UdpSpec};
use healthcheck::{CheckSpec, CheckStatus, Error, Timeouts};

fn quick() -> Timeouts {
    Timeouts {
        connect: Duration::from_millis(500),
        check: Duration::from_millis(300),
    }
}

#[tokio::test]
async fn icmp_echo_to_loopback() {
    // Needs ping_group_range to allow us, or root for the raw-socket fallback (CI is root).
    let check = CheckSpec::Icmp(IcmpSpec::default()).build().expect("valid");
    let r = check
        .run("127.0.0.1:0".parse().expect("addr"), quick())
        .await;
    assert_eq!(r.status, CheckStatus::L4Ok, "{r:?}");
    let r = check.run("[::1]:0".parse().expect("addr"), quick()).await;
    assert_eq!(r.status, CheckStatus::L4Ok, "ICMPv6 echo: {r:?}");
    assert!(
        CheckSpec::Icmp(IcmpSpec { payload_size: 9000 })
            .build()
            .is_err()
    );
}

#[tokio::test]
async fn many_concurrent_echoes_share_one_socket() {
    let check = CheckSpec::Icmp(IcmpSpec::default()).build().expect("valid");
    let mut runs = tokio::task::JoinSet::new();
    for i in 0..200 {
        let check = check.clone();
        let target = if i % 2 == 0 { "127.0.0.1:0" } else { "[::1]:0" };
        let addr: std::net::SocketAddr = target.parse().expect("addr");
        runs.spawn(async move { check.run(addr, quick()).await });
    }
    let mut ok = 0;
    while let Some(done) = runs.join_next().await {
        let r = done.expect("task");
        assert_eq!(r.status, CheckStatus::L4Ok, "{r:?}");
        ok += 1;
    }
    assert_eq!(ok, 200);
}

#[tokio::test]
async fn udp_reply_mismatch_refused_and_silence() {
    let (echo, _e) = udp_server(|req| Some([b"re:", req].concat())).await;
    let (mute, _m) = udp_server(|_| None).await;
    let check = |expect: Option<ExpectSpec>| {
        CheckSpec::Udp(UdpSpec {
            payload: b"ping".to_vec(),
            expect,
        })
        .build()
        .expect("valid")
    };
    assert_eq!(
        check(None).run(echo, quick()).await.status,
        CheckStatus::L7Ok
    );
    assert_eq!(
        check(Some(ExpectSpec::String("re:ping".into())))
            .run(echo, quick())
            .await
            .status,
        CheckStatus::L7Ok
    );
    assert_eq!(
        check(Some(ExpectSpec::Regex("^pong".into())))
            .run(echo, quick())
            .await
            .status,
        CheckStatus::L7Rsp
    );
    assert_eq!(
        check(None).run(mute, quick()).await.status,
        CheckStatus::L7Tout
    );

    // A closed port answers with ICMP port unreachable.
    let closed = {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        s.local_addr().expect("addr")
    };
    let r = check(None).run(closed, quick()).await;
    assert_eq!(r.status, CheckStatus::L4Con, "{r:?}");
    assert!(matches!(
        CheckSpec::Udp(UdpSpec {
            payload: vec![],
            expect: Some(ExpectSpec::Regex("(".into()))
        })
        .build(),
        Err(Error::InvalidRegex { .. })
    ));
}

/// A tiny DNS responder: `ok.test` has an A record, anything else is NXDOMAIN.
/// Written independently of the crate's parser: it copies the question and appends an
/// answer pointing back at it.
fn answer(query: &[u8]) -> Option<Vec<u8>> {
    if query.len() < 12 {
        return None;
    }
    let question = &query[12..];
    let name_end = question.iter().position(|&b| b == 0)?;
    let name = &question[..name_end];
    let qtype = u16::from_be_bytes([*question.get(name_end + 1)?, *question.get(name_end + 2)?]);
    let mut r = query[..12].to_vec();
    r[2] = 0x80 | (query[2] & 0x01); // QR, keep RD
    r[3] = 0x80; // RA, rcode 0
    r[6] = 0;
    r[7] = 0;
    r.extend_from_slice(&question[..name_end + 5]);
    if name != b"\x02ok\x04test" {
        r[3] |= 3; // NXDOMAIN
        return Some(r);
    }
    if qtype == TYPE_A {
        r[7] = 1;
        r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4, 127, 0, 0, 1]);
    }
    Some(r)
}

#[tokio::test]
async fn dns_answer_nxdomain_empty_and_silence() {
    let (server, _s) = udp_server(answer).await;
    let (mute, _m) = udp_server(|_| None).await;
    let check = |name: &str, qtype| {
        CheckSpec::Dns(DnsSpec {
            name: name.into(),
            qtype,
        })
        .build()
        .expect("valid")
    };
    let r = check("ok.test", TYPE_A).run(server, quick()).await;
    assert_eq!(r.status, CheckStatus::L7Ok, "{r:?}");
    assert_eq!(
        check("missing.test", TYPE_A)
            .run(server, quick())
            .await
            .status,
        CheckStatus::L7Sts
    );
    assert_eq!(
        check("ok.test", TYPE_AAAA)
            .run(server, quick())
            .await
            .status,
        CheckStatus::L7Rsp
    );
    assert_eq!(
        check("ok.test", TYPE_A).run(mute, quick()).await.status,
        CheckStatus::L7Tout
    );
    assert!(matches!(
        CheckSpec::Dns(DnsSpec {
            name: "bad..name".into(),
            qtype: TYPE_A
        })
        .build(),
        Err(Error::InvalidDnsName { .. })
    ));
}
