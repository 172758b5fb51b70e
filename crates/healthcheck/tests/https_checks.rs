//! HTTPS checks against a local tokio-rustls server with a certificate made by rcgen.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{silent, tcp_server};
use healthcheck::probe::{ExpectSpec, HttpSpec, TcpSpec, TcpStep, TlsSpec};
use healthcheck::{CheckSpec, CheckStatus, Timeouts};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::AsyncWriteExt;
use tokio_rustls::TlsAcceptor;

fn quick() -> Timeouts {
    Timeouts {
        connect: Duration::from_millis(500),
        check: Duration::from_millis(1000),
    }
}

/// An HTTPS server for "localhost"; returns it and the certificate (DER) to trust.
async fn https_server() -> (common::Server, Vec<u8>) {
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("rcgen");
    let cert_der = certified.cert.der().to_vec();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certified.key_pair.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![CertificateDer::from(cert_der.clone())], key)
        .expect("server config");
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let server = tcp_server(move |s| {
        let acceptor = acceptor.clone();
        async move {
            let Ok(mut tls) = acceptor.accept(s).await else {
                return;
            };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 1024];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 16384 {
                match tokio::io::AsyncReadExt::read(&mut tls, &mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            let _ = tls
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                .await;
            let _ = tls.shutdown().await;
        }
    })
    .await;
    (server, cert_der)
}

fn https(sni: &str, insecure: bool, root: &[u8]) -> healthcheck::Check {
    CheckSpec::Http(HttpSpec {
        tls: Some(TlsSpec {
            sni: Some(sni.into()),
            insecure,
            extra_roots_der: vec![root.to_vec()],
        }),
        ..HttpSpec::default()
    })
    .build()
    .expect("valid")
}

#[tokio::test]
async fn verified_https_passes_and_wrong_name_fails_at_l6() {
    let (server, root) = https_server().await;
    let r = https("localhost", false, &root)
        .run(server.addr, quick())
        .await;
    assert_eq!(r.status, CheckStatus::L7Ok, "{r:?}");

    let r = https("wrong.example", false, &root)
        .run(server.addr, quick())
        .await;
    assert_eq!(r.status, CheckStatus::L6Rsp, "{r:?}");
    assert!(!r.passed());

    // Verification off: the wrong name no longer matters.
    let r = https("wrong.example", true, &root)
        .run(server.addr, quick())
        .await;
    assert_eq!(r.status, CheckStatus::L7Ok, "{r:?}");
}

#[tokio::test]
async fn untrusted_certificate_fails_and_plain_http_server_fails_handshake() {
    let (server, _root) = https_server().await;
    let other = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("rcgen");
    let r = https("localhost", false, other.cert.der())
        .run(server.addr, quick())
        .await;
    assert_eq!(r.status, CheckStatus::L6Rsp, "{r:?}");

    // Answers the ClientHello with plain HTTP, as a misconfigured backend would.
    let plain = tcp_server(|mut s| async move {
        let mut hello = [0u8; 512];
        let _ = tokio::io::AsyncReadExt::read(&mut s, &mut hello).await;
        let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
    })
    .await;
    let r = https("localhost", true, other.cert.der())
        .run(plain.addr, quick())
        .await;
    assert_eq!(r.status, CheckStatus::L6Rsp, "{r:?}");
}

#[tokio::test]
async fn silent_server_times_out_in_handshake() {
    let quiet = tcp_server(silent).await;
    let (_, root) = https_server().await;
    let r = https("localhost", false, &root)
        .run(quiet.addr, quick())
        .await;
    assert_eq!(r.status, CheckStatus::L6Tout, "{r:?}");
}

#[tokio::test]
async fn tcp_check_over_tls() {
    let (server, root) = https_server().await;
    let tls = |sni: &str| TlsSpec {
        sni: Some(sni.into()),
        insecure: false,
        extra_roots_der: vec![root.clone()],
    };
    let handshake_only = CheckSpec::Tcp(TcpSpec {
        tls: Some(tls("localhost")),
        ..TcpSpec::default()
    })
    .build()
    .expect("valid");
    let r = handshake_only.run(server.addr, quick()).await;
    assert_eq!(r.status, CheckStatus::L6Ok, "{r:?}");

    let wrong_name = CheckSpec::Tcp(TcpSpec {
        tls: Some(tls("other.example")),
        ..TcpSpec::default()
    })
    .build()
    .expect("valid");
    assert_eq!(
        wrong_name.run(server.addr, quick()).await.status,
        CheckStatus::L6Rsp
    );

    let conversation = CheckSpec::Tcp(TcpSpec {
        steps: vec![
            TcpStep::Send(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n".to_vec()),
            TcpStep::Expect(ExpectSpec::Regex("^HTTP/1\\.1 200".into())),
            TcpStep::Expect(ExpectSpec::String("ok".into())),
        ],
        tls: Some(tls("localhost")),
        ..TcpSpec::default()
    })
    .build()
    .expect("valid");
    let r = conversation.run(server.addr, quick()).await;
    assert_eq!(r.status, CheckStatus::L7Ok, "{r:?}");
}
