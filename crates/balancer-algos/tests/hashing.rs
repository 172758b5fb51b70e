//! HAProxy hash balancing: what is hashed, affinity, fallback to round robin, and the
//! peak-EWMA latency-aware balancer.

mod common;

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use balancer_algos::haproxy::hashing::HashType;
use balancer_algos::request::UriOptions;
use balancer_algos::{
    Algorithm, Balancer, DispatchOptions, HashFunction, HashKey, HashSpec, Request, ServerId,
};
use common::servers;

fn hashing(key: HashKey, kind: HashType, function: HashFunction) -> Box<dyn Balancer + Send> {
    // Like HAProxy's defaults: consistent hashing gets the avalanche modifier, because
    // neighbouring keys would otherwise be neighbouring points on the ring.
    let avalanche = matches!(kind, HashType::Consistent { .. });
    Algorithm::Hash {
        key,
        spec: HashSpec {
            function,
            avalanche,
        },
        kind,
    }
    .build(servers(&[1; 8]), DispatchOptions::default())
    .expect("valid")
}

const KINDS: [HashType; 2] = [
    HashType::MapBased,
    HashType::Consistent {
        balance_factor: None,
    },
];

#[test]
fn source_hash_is_sticky_and_spreads_clients() {
    for kind in KINDS {
        let mut lb = hashing(HashKey::Source, kind, HashFunction::Sdbm);
        let mut seen = HashSet::new();
        for i in 0..200u32 {
            let r = Request::from_source(IpAddr::V4(Ipv4Addr::from(0xc000_0200 + i * 7919)));
            let s = lb.pick(&r).expect("available");
            assert_eq!(lb.pick(&r), Some(s), "{kind:?}: same client, same server");
            seen.insert(s);
        }
        assert!(seen.len() >= 6, "{kind:?}: {seen:?}");
    }
}

#[test]
fn consistent_source_hash_without_avalanche_clusters_neighbouring_clients() {
    // Why avalanche exists: source hashing folds the address without mixing, so a
    // /16 worth of clients is one narrow arc of the ring.
    let mut lb = Algorithm::Hash {
        key: HashKey::Source,
        spec: HashSpec::default(),
        kind: HashType::Consistent {
            balance_factor: None,
        },
    }
    .build(servers(&[1; 8]), DispatchOptions::default())
    .expect("valid");
    let seen: HashSet<ServerId> = (0..200u32)
        .map(|i| {
            let r = Request::from_source(IpAddr::V4(Ipv4Addr::from(0xc000_0200 + i * 7919)));
            lb.pick(&r).expect("available")
        })
        .collect();
    assert!(seen.len() <= 2, "{seen:?}");
}

#[test]
fn uri_hash_ignores_the_query_string_unless_whole() {
    for f in [
        HashFunction::Sdbm,
        HashFunction::Djb2,
        HashFunction::Wt6,
        HashFunction::Crc32,
    ] {
        let mut lb = hashing(HashKey::Uri(UriOptions::default()), HashType::MapBased, f);
        let spread: HashSet<ServerId> = (0..100)
            .map(|i| {
                let uri = format!("/img/{i}.png");
                let a = lb
                    .pick(&Request::from_uri(uri.as_bytes()))
                    .expect("available");
                let with_q = format!("{uri}?v={i}");
                assert_eq!(
                    lb.pick(&Request::from_uri(with_q.as_bytes())),
                    Some(a),
                    "{f:?}"
                );
                a
            })
            .collect();
        assert!(spread.len() >= 4, "{f:?} spreads URIs: {spread:?}");
    }
}

#[test]
fn missing_keys_fall_back_to_round_robin() {
    for kind in KINDS {
        let mut lb = hashing(
            HashKey::Header {
                name: b"x-user".to_vec(),
                use_domain_only: false,
            },
            kind,
            HashFunction::Sdbm,
        );
        let picks: Vec<u32> = (0..8)
            .map(|_| lb.pick(&Request::default()).expect("available").0)
            .collect();
        assert_eq!(picks, [1, 2, 3, 4, 5, 6, 7, 8], "{kind:?}");
    }
}

#[test]
fn use_domain_only_maps_subdomains_together() {
    let mut lb = hashing(
        HashKey::Header {
            name: b"host".to_vec(),
            use_domain_only: true,
        },
        HashType::MapBased,
        HashFunction::Djb2,
    );
    let pick = |lb: &mut Box<dyn Balancer + Send>, host: &[u8]| {
        let headers: &[(&[u8], &[u8])] = &[(b"Host", host)];
        lb.pick(&Request {
            headers,
            ..Request::default()
        })
    };
    let a = pick(&mut lb, b"www.example.com");
    assert_eq!(pick(&mut lb, b"img.example.org"), a);
    assert_eq!(pick(&mut lb, b"example.net"), a);
}

#[test]
fn url_param_and_rdp_cookie_keys_stick() {
    let mut lb = hashing(
        HashKey::UrlParam(b"user".to_vec()),
        HashType::MapBased,
        HashFunction::Sdbm,
    );
    let a = lb
        .pick(&Request::from_uri(b"/a?x=1&user=bob"))
        .expect("available");
    assert_eq!(lb.pick(&Request::from_uri(b"/b?user=bob&y")), Some(a));
    let mut rdp = hashing(
        HashKey::RdpCookie(b"mstshash".to_vec()),
        HashType::MapBased,
        HashFunction::Sdbm,
    );
    let payload = b"\x03\x00\x00\x20Cookie: mstshash=alice\r\n";
    let r = Request {
        payload: Some(payload),
        ..Request::default()
    };
    let s = rdp.pick(&r).expect("available");
    assert!((0..5).all(|_| rdp.pick(&r) == Some(s)));
}

#[test]
fn hash_none_uses_the_decimal_key_itself() {
    // With hash function "none" on the map, key k goes to map[k % 8]: consecutive keys
    // walk the servers in map order.
    let mut lb = hashing(HashKey::Key, HashType::MapBased, HashFunction::None);
    let picks: Vec<u32> = (0..16)
        .map(|k: u32| {
            let key = k.to_string();
            lb.pick(&Request::from_key(key.as_bytes()))
                .expect("available")
                .0
        })
        .collect();
    assert_eq!(&picks[..8], &[1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(&picks[8..], &picks[..8]);
}

#[test]
fn peak_ewma_avoids_a_slow_server() {
    let mut lb = Algorithm::PeakEwma {
        decay: Duration::from_secs(10),
        default_rtt: Duration::from_millis(10),
    }
    .build(servers(&[1, 1, 1]), DispatchOptions::default())
    .expect("valid");
    let mut now = Duration::ZERO;
    let mut slow_picks = 0;
    for _ in 0..3000 {
        now += Duration::from_millis(1);
        let r = Request {
            now,
            ..Request::default()
        };
        let s = lb.pick(&r).expect("available");
        let rtt = if s == ServerId(2) {
            slow_picks += 1;
            Duration::from_millis(200)
        } else {
            Duration::from_millis(5)
        };
        lb.observe_response_time(s, rtt, now);
    }
    // Uniform would give 1000; the slow server loses nearly every comparison.
    assert!(slow_picks < 100, "slow server got {slow_picks}");
}
