//! ICMP echo, UDP and DNS checks against 127.0.0.1.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{AbortOnDrop, Server, serve_on, udp_server};
use healthcheck::dns_wire::{TYPE_A, TYPE_AAAA};
use healthcheck::probe::{DnsSpec, ExpectSpec, IcmpSpec, UdpSpec};
use healthcheck::{CheckSpec, CheckStatus, Error, Timeouts};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

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

/// `answer`, cut to fit a datagram: TC set, answers dropped.
fn truncated(query: &[u8]) -> Option<Vec<u8>> {
    let mut r = answer(query)?;
    r[2] |= 0x02;
    // Keep the header and the question only (the question is what the query carried).
    r.truncate(query.len());
    r[6] = 0;
    r[7] = 0;
    Some(r)
}

/// `answer` with TC set but the record kept: judged alone it would pass, so a failing
/// verdict proves the TCP answer was the one judged.
fn truncated_with_record(query: &[u8]) -> Option<Vec<u8>> {
    let mut r = answer(query)?;
    r[2] |= 0x02;
    Some(r)
}

/// A DNS server on one port for both UDP and TCP: UDP answers with `udp_reply` and keeps
/// every query in `udp_queries`; TCP connections go to `tcp`.
struct DnsServer {
    addr: SocketAddr,
    udp_queries: Arc<Mutex<Vec<Vec<u8>>>>,
    tcp: Server,
    _udp: AbortOnDrop,
}

impl DnsServer {
    /// TCP connections the server has accepted so far.
    fn tcp_connections(&self) -> usize {
        self.tcp.accepted.load(std::sync::atomic::Ordering::SeqCst)
    }
}

async fn dns_server<R, F, Fut>(udp_reply: R, tcp: F) -> DnsServer
where
    R: Fn(&[u8]) -> Option<Vec<u8>> + Send + 'static,
    F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    // The TCP port is free, but UDP's may not be: try a few.
    for _ in 0..20 {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind tcp");
        let addr = listener.local_addr().expect("addr");
        let Ok(socket) = UdpSocket::bind(addr).await else {
            continue;
        };
        let udp_queries = Arc::new(Mutex::new(Vec::new()));
        let seen = udp_queries.clone();
        let udp = tokio::spawn(async move {
            let mut buf = vec![0u8; 2048];
            while let Ok((n, from)) = socket.recv_from(&mut buf).await {
                seen.lock().expect("lock").push(buf[..n].to_vec());
                if let Some(reply) = udp_reply(&buf[..n]) {
                    let _ = socket.send_to(&reply, from).await;
                }
            }
        });
        return DnsServer {
            addr,
            udp_queries,
            tcp: serve_on(listener, tcp),
            _udp: AbortOnDrop(udp),
        };
    }
    panic!("no port free for both UDP and TCP");
}

/// Read one length-prefixed query from a DNS-over-TCP client.
async fn read_tcp_query(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut len = [0u8; 2];
    s.read_exact(&mut len).await.ok()?;
    let mut query = vec![0u8; usize::from(u16::from_be_bytes(len))];
    s.read_exact(&mut query).await.ok()?;
    Some(query)
}

async fn write_tcp_answer(s: &mut TcpStream, answer: &[u8]) {
    let len = u16::try_from(answer.len()).expect("fits");
    let _ = s.write_all(&len.to_be_bytes()).await;
    let _ = s.write_all(answer).await;
}

/// A TCP side answering each query with `reply(query)`, keeping the queries.
fn tcp_answering(
    reply: fn(&[u8]) -> Option<Vec<u8>>,
    seen: Arc<Mutex<Vec<Vec<u8>>>>,
) -> impl Fn(TcpStream) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
+ Send
+ Sync
+ 'static {
    move |mut s| {
        let seen = seen.clone();
        Box::pin(async move {
            while let Some(query) = read_tcp_query(&mut s).await {
                seen.lock().expect("lock").push(query.clone());
                if let Some(a) = reply(&query) {
                    write_tcp_answer(&mut s, &a).await;
                }
            }
        })
    }
}

fn dns_check(name: &str, qtype: u16) -> healthcheck::Check {
    CheckSpec::Dns(DnsSpec {
        name: name.into(),
        qtype,
    })
    .build()
    .expect("valid")
}

#[tokio::test]
async fn truncated_udp_answer_is_asked_again_over_tcp() {
    let tcp_queries = Arc::new(Mutex::new(Vec::new()));
    let server = dns_server(truncated, tcp_answering(answer, tcp_queries.clone())).await;

    let r = dns_check("ok.test", TYPE_A).run(server.addr, quick()).await;
    assert_eq!(r.status, CheckStatus::L7Ok, "{r:?}");
    assert_eq!(server.tcp_connections(), 1);
    let udp = server.udp_queries.lock().expect("lock").clone();
    let tcp = tcp_queries.lock().expect("lock").clone();
    assert_eq!(udp.len(), 1);
    assert_eq!(tcp, udp, "the same query, id included, goes over TCP");

    // The TCP answer is the one judged.
    let r = dns_check("missing.test", TYPE_A)
        .run(server.addr, quick())
        .await;
    assert_eq!(r.status, CheckStatus::L7Sts, "{r:?}");
    let r = dns_check("ok.test", TYPE_AAAA)
        .run(server.addr, quick())
        .await;
    assert_eq!(r.status, CheckStatus::L7Rsp, "{r:?}");

    // A truncated answer that already holds the record still goes to TCP, and TCP's
    // verdict stands.
    let nxdomain = |q: &[u8]| {
        let mut r = answer(q)?;
        r[3] |= 3;
        r[7] = 0;
        r.truncate(q.len());
        Some(r)
    };
    let seen = Arc::new(Mutex::new(Vec::new()));
    let server = dns_server(truncated_with_record, tcp_answering(nxdomain, seen)).await;
    let r = dns_check("ok.test", TYPE_A).run(server.addr, quick()).await;
    assert_eq!(r.status, CheckStatus::L7Sts, "{r:?}");
}

#[tokio::test]
async fn untruncated_udp_answer_never_touches_tcp() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let server = dns_server(answer, tcp_answering(answer, seen)).await;
    let r = dns_check("ok.test", TYPE_A).run(server.addr, quick()).await;
    assert_eq!(r.status, CheckStatus::L7Ok, "{r:?}");
    assert_eq!(server.tcp_connections(), 0);
}

#[tokio::test]
async fn truncated_answer_with_tcp_refused_is_a_connection_failure() {
    // UDP on a port where no TCP listener is left.
    let server = dns_server(truncated_with_record, |_s| async {}).await;
    let addr = server.addr;
    let DnsServer { tcp, _udp, .. } = server;
    drop(tcp);
    // Aborting the accept loop drops the listener once the task is polled again.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let r = dns_check("ok.test", TYPE_A).run(addr, quick()).await;
    assert_eq!(r.status, CheckStatus::L4Con, "{r:?}");
}

/// A TCP side that reads the query, then runs `respond`; UDP answers truncated (with
/// the record, so only a TCP failure can fail the check).
async fn garbage_server<F, Fut>(respond: F) -> DnsServer
where
    F: Fn(TcpStream, Vec<u8>) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let respond = Arc::new(respond);
    dns_server(truncated_with_record, move |mut s| {
        let respond = respond.clone();
        async move {
            if let Some(query) = read_tcp_query(&mut s).await {
                respond(s, query).await;
            }
        }
    })
    .await
}

#[tokio::test]
async fn garbage_over_tcp_is_a_bad_response() {
    let check = dns_check("ok.test", TYPE_A);
    let timeouts = Timeouts {
        connect: Duration::from_millis(500),
        check: Duration::from_millis(800),
    };

    // A whole frame that is not a DNS response.
    let server = garbage_server(|mut s, _| async move {
        let _ = s.write_all(b"\x00\x05hello").await;
    })
    .await;
    let r = check.run(server.addr, timeouts).await;
    assert_eq!(r.status, CheckStatus::L7Rsp, "{r:?}");

    // Another protocol entirely: its first bytes read as a length the stream never fills.
    let server = garbage_server(|mut s, _| async move {
        let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
    })
    .await;
    let r = check.run(server.addr, timeouts).await;
    assert_eq!(r.status, CheckStatus::L7Rsp, "{r:?}");

    // A well-formed answer to another query.
    let server = garbage_server(|mut s, query| async move {
        let mut a = answer(&query).expect("answerable");
        a[0] ^= 0xff;
        write_tcp_answer(&mut s, &a).await;
    })
    .await;
    let r = check.run(server.addr, timeouts).await;
    assert_eq!(r.status, CheckStatus::L7Rsp, "{r:?}");

    // The largest length, then an endless stream: the check reads one frame's worth and
    // judges it, well before its timeout.
    let server = garbage_server(|mut s, _| async move {
        let junk = vec![0u8; 16 * 1024];
        let _ = s.write_all(&[0xff, 0xff]).await;
        while s.write_all(&junk).await.is_ok() {}
    })
    .await;
    let r = check.run(server.addr, timeouts).await;
    assert_eq!(r.status, CheckStatus::L7Rsp, "{r:?}");
    assert!(r.duration < timeouts.check, "{r:?}");
}

#[tokio::test]
async fn silent_tcp_side_times_out_within_the_check_timeout() {
    let timeouts = Timeouts {
        connect: Duration::from_millis(500),
        check: Duration::from_millis(400),
    };
    let check = dns_check("ok.test", TYPE_A);
    // Accepts and never answers.
    let server = garbage_server(|s, _| common::silent(s)).await;
    let r = check.run(server.addr, timeouts).await;
    assert_eq!(r.status, CheckStatus::L7Tout, "{r:?}");
    assert!(
        r.duration >= Duration::from_millis(350) && r.duration < Duration::from_millis(700),
        "{r:?}"
    );

    // Announces a long answer and sends only part of it.
    let server = garbage_server(|mut s, _| async move {
        let _ = s.write_all(&[0x10, 0x00, 1, 2, 3]).await;
        common::silent(s).await;
    })
    .await;
    let r = check.run(server.addr, timeouts).await;
    assert_eq!(r.status, CheckStatus::L7Tout, "{r:?}");
    assert!(r.duration < Duration::from_millis(700), "{r:?}");
}
