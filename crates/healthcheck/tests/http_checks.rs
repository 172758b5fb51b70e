//! HTTP and HTTPS checks against real local servers: wrong status, wrong body, huge and
//! endless bodies, slow servers, TLS with the wrong name.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{http_server, read_head, silent, tcp_server};
use healthcheck::probe::{HttpExpect, HttpSpec, HttpVersion, StatusRange, TlsSpec};
use healthcheck::{CheckSpec, CheckStatus, Error, Timeouts};
use parking_lot::Mutex;
use tokio::io::AsyncWriteExt;

fn quick() -> Timeouts {
    Timeouts {
        connect: Duration::from_millis(500),
        check: Duration::from_millis(500),
    }
}

fn http(expect: HttpExpect) -> healthcheck::Check {
    CheckSpec::Http(HttpSpec {
        expect,
        ..HttpSpec::default()
    })
    .build()
    .expect("valid check")
}

const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\nX-Backend: node-7\r\n\r\nhello world";

#[tokio::test]
async fn status_expectations() {
    let ok = http_server(OK).await;
    let unavailable =
        http_server(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n").await;
    let moved = http_server(b"HTTP/1.0 302 Found\r\n\r\n").await;

    let default = http(HttpExpect::default());
    assert_eq!(
        default.run(ok.addr, quick()).await.status,
        CheckStatus::L7Ok
    );
    assert_eq!(
        default.run(moved.addr, quick()).await.status,
        CheckStatus::L7Ok,
        "3xx passes by default"
    );
    let r = default.run(unavailable.addr, quick()).await;
    assert_eq!(r.status, CheckStatus::L7Sts, "{r:?}");
    assert!(!r.passed());

    let only_200_and_5xx = http(HttpExpect {
        status: vec![
            StatusRange::exactly(200),
            StatusRange {
                low: 500,
                high: 599,
            },
        ],
        ..HttpExpect::default()
    });
    assert_eq!(
        only_200_and_5xx.run(unavailable.addr, quick()).await.status,
        CheckStatus::L7Ok
    );
    assert_eq!(
        only_200_and_5xx.run(moved.addr, quick()).await.status,
        CheckStatus::L7Sts
    );
}

#[tokio::test]
async fn body_string_regex_md5_and_header() {
    let server = http_server(OK).await;
    let md5_of_hello_world = "5eb63bbbe01eeed093cb22bb8f5acdc3";
    let good = http(HttpExpect {
        body_string: Some("world".into()),
        body_regex: Some("^hel+o".into()),
        body_md5: Some(md5_of_hello_world.into()),
        header: Some(("x-backend".into(), "^node-[0-9]+$".into())),
        ..HttpExpect::default()
    });
    let r = good.run(server.addr, quick()).await;
    assert_eq!(r.status, CheckStatus::L7Ok, "{r:?}");

    let cases = [
        HttpExpect {
            body_string: Some("goodbye".into()),
            ..HttpExpect::default()
        },
        HttpExpect {
            body_regex: Some("^world".into()),
            ..HttpExpect::default()
        },
        HttpExpect {
            body_md5: Some("00000000000000000000000000000000".into()),
            ..HttpExpect::default()
        },
        HttpExpect {
            header: Some(("x-backend".into(), "^web".into())),
            ..HttpExpect::default()
        },
    ];
    for expect in cases {
        let r = http(expect.clone()).run(server.addr, quick()).await;
        assert_eq!(r.status, CheckStatus::L7Rsp, "{expect:?}: {r:?}");
    }
}

#[tokio::test]
async fn chunked_body_is_decoded_before_matching() {
    let server = http_server(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nhel-\r\n6\r\nlo wor\r\n2\r\nld\r\n0\r\n\r\n",
    )
    .await;
    let r = http(HttpExpect {
        body_string: Some("lo world".into()),
        body_md5: Some("e037aa997e329894a2996916f16dfd2e".into()),
        ..HttpExpect::default()
    })
    .run(server.addr, quick())
    .await;
    // The MD5 above is of "hel-lo world"; any chunk framing leaking in would change it.
    assert_eq!(r.status, CheckStatus::L7Ok, "{r:?}");
}

#[tokio::test]
async fn request_line_host_and_headers_are_sent() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let server = tcp_server(move |mut s| {
        let record = record.clone();
        async move {
            let head = read_head(&mut s).await;
            record
                .lock()
                .push(String::from_utf8_lossy(&head).into_owned());
            let _ = s.write_all(b"HTTP/1.1 204 No Content\r\n\r\n").await;
        }
    })
    .await;
    let check = CheckSpec::Http(HttpSpec {
        method: "HEAD".into(),
        path: "/health?full=1".into(),
        version: HttpVersion::Http10,
        host: Some("api.example".into()),
        headers: vec![("X-Check".into(), "hakit".into())],
        ..HttpSpec::default()
    })
    .build()
    .expect("valid");
    assert_eq!(
        check.run(server.addr, quick()).await.status,
        CheckStatus::L7Ok
    );
    let heads = seen.lock().clone();
    assert_eq!(heads.len(), 1);
    assert!(
        heads[0].starts_with("HEAD /health?full=1 HTTP/1.0\r\n"),
        "{}",
        heads[0]
    );
    assert!(
        heads[0].contains("\r\nHost: api.example\r\n"),
        "{}",
        heads[0]
    );
    assert!(heads[0].contains("\r\nX-Check: hakit\r\n"), "{}", heads[0]);
}

#[tokio::test]
async fn huge_and_endless_bodies_are_bounded() {
    // Claims 1 GiB and streams until the checker hangs up.
    let huge = tcp_server(|mut s| async move {
        read_head(&mut s).await;
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1073741824\r\n\r\nmarker ")
            .await;
        let junk = vec![b'z'; 64 * 1024];
        for _ in 0..16_384 {
            if s.write_all(&junk).await.is_err() {
                break;
            }
        }
    })
    .await;
    let started = std::time::Instant::now();
    let found = http(HttpExpect {
        body_string: Some("marker".into()),
        ..HttpExpect::default()
    })
    .run(huge.addr, quick())
    .await;
    assert_eq!(
        found.status,
        CheckStatus::L7Ok,
        "matched within the read limit: {found:?}"
    );
    let digest = http(HttpExpect {
        body_md5: Some("5eb63bbbe01eeed093cb22bb8f5acdc3".into()),
        ..HttpExpect::default()
    })
    .run(huge.addr, quick())
    .await;
    assert_eq!(digest.status, CheckStatus::L7Rsp, "{digest:?}");
    let missing = http(HttpExpect {
        body_string: Some("absent".into()),
        ..HttpExpect::default()
    })
    .run(huge.addr, quick())
    .await;
    assert_eq!(missing.status, CheckStatus::L7Rsp, "{missing:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn endless_body_without_length_is_bounded() {
    // No Content-Length, no chunking: the body runs until close, and this server never
    // closes on its own.
    let endless = tcp_server(|mut s| async move {
        read_head(&mut s).await;
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n")
            .await;
        let junk = vec![b'y'; 16 * 1024];
        for _ in 0..1_000_000 {
            if s.write_all(&junk).await.is_err() {
                break;
            }
        }
    })
    .await;
    let started = std::time::Instant::now();
    for expect in [
        HttpExpect {
            body_string: Some("never sent".into()),
            ..HttpExpect::default()
        },
        HttpExpect {
            body_md5: Some("5eb63bbbe01eeed093cb22bb8f5acdc3".into()),
            ..HttpExpect::default()
        },
    ] {
        let r = http(expect.clone()).run(endless.addr, quick()).await;
        assert_eq!(r.status, CheckStatus::L7Rsp, "{expect:?}: {r:?}");
    }
    let found = http(HttpExpect {
        body_regex: Some("^y+$".into()),
        ..HttpExpect::default()
    })
    .run(endless.addr, quick())
    .await;
    assert_eq!(
        found.status,
        CheckStatus::L7Ok,
        "matched on the bounded prefix: {found:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn slow_and_silent_servers_time_out() {
    let slow = tcp_server(|mut s| async move {
        read_head(&mut s).await;
        tokio::time::sleep(Duration::from_secs(5)).await;
        let _ = s.write_all(OK).await;
    })
    .await;
    let r = http(HttpExpect::default()).run(slow.addr, quick()).await;
    assert_eq!(r.status, CheckStatus::L7Tout, "{r:?}");
    assert!(r.duration < Duration::from_secs(2));

    // Head arrives, body trickles and stalls.
    let stalls = tcp_server(|mut s| async move {
        read_head(&mut s).await;
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
            .await;
        silent(s).await;
    })
    .await;
    let r = http(HttpExpect {
        body_string: Some("complete".into()),
        ..HttpExpect::default()
    })
    .run(stalls.addr, quick())
    .await;
    assert_eq!(r.status, CheckStatus::L7Tout, "{r:?}");
}

#[tokio::test]
async fn garbage_and_404_drain() {
    let garbage = http_server(b"SSH-2.0-OpenSSH_9.2\r\n\r\n").await;
    assert_eq!(
        http(HttpExpect::default())
            .run(garbage.addr, quick())
            .await
            .status,
        CheckStatus::L7Rsp
    );
    let not_found = http_server(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n").await;
    let drain = CheckSpec::Http(HttpSpec {
        disable_on_404: true,
        ..HttpSpec::default()
    })
    .build()
    .expect("valid");
    let r = drain.run(not_found.addr, quick()).await;
    assert_eq!(r.status, CheckStatus::L7Okc);
    assert!(r.passed());
}

#[test]
fn bad_configuration_fails_at_build() {
    let build = |spec: HttpSpec| CheckSpec::Http(spec).build();
    let expect = |e: HttpExpect| HttpSpec {
        expect: e,
        ..HttpSpec::default()
    };
    assert!(matches!(
        build(expect(HttpExpect {
            body_regex: Some("(unclosed".into()),
            ..HttpExpect::default()
        })),
        Err(Error::InvalidRegex { .. })
    ));
    assert!(matches!(
        build(expect(HttpExpect {
            header: Some(("x".into(), "[".into())),
            ..HttpExpect::default()
        })),
        Err(Error::InvalidRegex { .. })
    ));
    assert!(matches!(
        build(expect(HttpExpect {
            body_md5: Some("abc".into()),
            ..HttpExpect::default()
        })),
        Err(Error::InvalidHex { .. })
    ));
    assert!(matches!(
        build(HttpSpec {
            headers: vec![("X-Evil".into(), "a\r\nInjected: yes".into())],
            ..HttpSpec::default()
        }),
        Err(Error::InvalidHeader { .. })
    ));
    assert!(
        build(HttpSpec {
            path: "no-slash".into(),
            ..HttpSpec::default()
        })
        .is_err()
    );
    assert!(
        build(HttpSpec {
            method: "GE T".into(),
            ..HttpSpec::default()
        })
        .is_err()
    );
    assert!(
        build(expect(HttpExpect {
            status: vec![StatusRange {
                low: 500,
                high: 200
            }],
            ..HttpExpect::default()
        }))
        .is_err()
    );
    assert!(matches!(
        build(HttpSpec {
            tls: Some(TlsSpec {
                sni: Some("bad name!".into()),
                ..TlsSpec::default()
            }),
            ..HttpSpec::default()
        }),
        Err(Error::InvalidServerName { .. })
    ));
}
