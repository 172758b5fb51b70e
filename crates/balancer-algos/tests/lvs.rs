//! IPVS scheduler semantics: lc/wlc/sed/nq load rules, fo, ovf, lblc, lblcr, dh, sh.

mod common;

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use balancer_algos::lvs::addr_hash::{SourceHash, dh_bucket};
use balancer_algos::lvs::least_conn::LeastConnKind;
use balancer_algos::lvs::locality::{Lblc, Lblcr};
use balancer_algos::{
    Algorithm, Balancer, DispatchOptions, Dispatcher, Request, ServerConfig, ServerId, ServerState,
};
use common::servers;

fn lvs(a: Algorithm, weights: &[u16]) -> Box<dyn Balancer + Send> {
    a.build(servers(weights), DispatchOptions::default())
        .expect("valid")
}

fn hold(lb: &mut dyn Balancer, id: u32, n: u32) {
    for _ in 0..n {
        lb.connection_started(ServerId(id));
    }
}

fn pick(lb: &mut dyn Balancer) -> Option<u32> {
    lb.pick(&Request::default()).map(|s| s.0)
}

#[test]
fn lc_ignores_weights_wlc_divides_by_them() {
    let mut lc = lvs(Algorithm::LvsLeastConn(LeastConnKind::Lc), &[1, 10]);
    let mut wlc = lvs(Algorithm::LvsLeastConn(LeastConnKind::Wlc), &[1, 10]);
    for lb in [&mut lc, &mut wlc] {
        hold(lb.as_mut(), 1, 1);
        hold(lb.as_mut(), 2, 5);
    }
    // lc: 256 < 1280, server 1. wlc: 256/1 > 1280/10, server 2.
    assert_eq!(pick(lc.as_mut()), Some(1));
    assert_eq!(pick(wlc.as_mut()), Some(2));
}

#[test]
fn wlc_counts_inactive_connections_at_one_256th() {
    let mut lb = Dispatcher::new(
        servers(&[1, 1]),
        balancer_algos::lvs::least_conn::LeastConnection::new(LeastConnKind::Wlc),
    )
    .expect("valid");
    // Server 1: 1 active (256); server 2: 255 inactive (255): server 2 is lighter.
    lb.connection_started(ServerId(1));
    for _ in 0..255 {
        lb.connection_started(ServerId(2));
        lb.connection_deactivated(ServerId(2));
    }
    assert_eq!(lb.pick(&Request::default()), Some(ServerId(2)));
    lb.connection_started(ServerId(2));
    lb.connection_deactivated(ServerId(2));
    // 256 vs 256: tie, the first server wins.
    assert_eq!(lb.pick(&Request::default()), Some(ServerId(1)));
    lb.inactive_connection_ended(ServerId(2));
    assert_eq!(lb.pick(&Request::default()), Some(ServerId(2)));
}

#[test]
fn sed_and_nq_differ_on_an_idle_slow_server() {
    let mut sed = lvs(Algorithm::LvsLeastConn(LeastConnKind::Sed), &[1, 10]);
    let mut nq = lvs(Algorithm::LvsLeastConn(LeastConnKind::Nq), &[1, 10]);
    for lb in [&mut sed, &mut nq] {
        hold(lb.as_mut(), 2, 1);
    }
    // sed: (0+1)/1 = 1 > (1+1)/10, server 2. nq: server 1 is idle, take it.
    assert_eq!(pick(sed.as_mut()), Some(2));
    assert_eq!(pick(nq.as_mut()), Some(1));
    // Once nobody is idle, nq behaves like sed.
    hold(nq.as_mut(), 1, 1);
    assert_eq!(pick(nq.as_mut()), Some(2));
}

#[test]
fn fo_sends_everything_to_the_heaviest_available_server() {
    let cfg = vec![
        ServerConfig::new(1, 5),
        ServerConfig::new(2, 9).maxconn(2),
        ServerConfig::new(3, 9),
    ];
    let mut lb = Algorithm::LvsFo
        .build(cfg, DispatchOptions::default())
        .expect("valid");
    assert_eq!(pick(lb.as_mut()), Some(2), "heaviest, first on ties");
    hold(lb.as_mut(), 2, 2);
    assert_eq!(pick(lb.as_mut()), Some(3), "overloaded server skipped");
}

#[test]
fn ovf_overflows_when_active_connections_exceed_the_weight() {
    let mut lb = lvs(Algorithm::LvsOvf, &[1, 3]);
    let mut got = Vec::new();
    while let Some(s) = pick(lb.as_mut()) {
        lb.connection_started(ServerId(s));
        got.push(s);
        assert!(got.len() <= 10, "bounded");
    }
    // IPVS skips a server once active > weight: 4 on the weight-3 server, then 2.
    assert_eq!(got, [2, 2, 2, 2, 1, 1]);
}

fn dst(last: u8) -> Request<'static> {
    Request {
        destination: Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, last))),
        ..Request::default()
    }
}

#[test]
fn lblc_keeps_a_destination_on_its_server_until_overloaded() {
    let mut lb = Dispatcher::new(servers(&[2, 2, 2]), Lblc::new()).expect("valid");
    let first = lb.pick(&dst(7)).expect("available");
    lb.connection_started(first);
    // Same destination, same server, while it is not overloaded.
    for _ in 0..2 {
        assert_eq!(lb.pick(&dst(7)), Some(first));
        lb.connection_started(first);
    }
    // Now 3 active > weight 2, and the others are idle (0 x 2 < 2): move.
    let moved = lb.pick(&dst(7)).expect("available");
    assert_ne!(moved, first);
    assert_eq!(
        lb.pick(&dst(7)),
        Some(moved),
        "the table now points at the new one"
    );
    // Entries expire after 24 h without use.
    assert_eq!(lb.policy().entries(), 1);
    lb.advance(Duration::from_secs(24 * 3600 + 1));
    assert_eq!(lb.policy().entries(), 0);
}

#[test]
fn lblcr_grows_the_set_under_load_and_shrinks_it_later() {
    let mut lb = Dispatcher::new(servers(&[1, 1, 1]), Lblcr::new()).expect("valid");
    let a = lb.pick(&dst(9)).expect("available");
    lb.connection_started(a);
    lb.connection_started(a); // 2 active > weight 1, others idle: overloaded
    let b = lb.pick(&dst(9)).expect("available");
    assert_ne!(a, b);
    let ia = lb.pool().index_of(a).expect("known");
    let ib = lb.pool().index_of(b).expect("known");
    let set: HashSet<usize> = lb
        .policy()
        .set_for(dst(9).destination.expect("set"))
        .expect("entry")
        .iter()
        .copied()
        .collect();
    assert_eq!(set, HashSet::from([ia, ib]));
    // A day later with no growth, the most loaded member (a) is dropped.
    let later = Request {
        now: Duration::from_secs(24 * 3600 + 5),
        ..dst(9)
    };
    lb.pick(&later).expect("available");
    let set = lb
        .policy()
        .set_for(dst(9).destination.expect("set"))
        .expect("entry");
    assert_eq!(set, [ib]);
}

#[test]
fn dh_is_stable_per_destination_and_refuses_overloaded_servers() {
    let cfg = vec![ServerConfig::new(1, 1).maxconn(1), ServerConfig::new(2, 1)];
    let mut lb = Algorithm::LvsDh
        .build(cfg, DispatchOptions::default())
        .expect("valid");
    // Buckets are dealt 1,2,1,2...: the bucket parity names the server.
    let mut seen = HashSet::new();
    for last in 0..=255u8 {
        let r = dst(last);
        let want = (dh_bucket(r.destination.expect("set")) % 2) as u32 + 1;
        assert_eq!(lb.pick(&r), Some(ServerId(want)));
        assert_eq!(lb.pick(&r), Some(ServerId(want)), "stable");
        seen.insert(want);
    }
    assert_eq!(seen.len(), 2);
    lb.connection_started(ServerId(1));
    let to_one = (0..=255u8)
        .find(|&l| dh_bucket(dst(l).destination.expect("set")) % 2 == 0)
        .expect("some bucket maps to server 1");
    assert_eq!(lb.pick(&dst(to_one)), None, "dh does not fall back");
}

#[test]
fn sh_fallback_probes_past_an_overloaded_server() {
    let cfg = vec![ServerConfig::new(1, 1).maxconn(1), ServerConfig::new(2, 1)];
    let mut plain = Dispatcher::new(cfg.clone(), SourceHash::new(false, false)).expect("valid");
    let mut fb = Dispatcher::new(cfg, SourceHash::new(true, false)).expect("valid");
    let src = |i: u32| Request::from_source(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)));
    let on_one = (0..1000)
        .find(|&i| plain.pick(&src(i)) == Some(ServerId(1)))
        .expect("some source maps to server 1");
    assert_eq!(fb.pick(&src(on_one)), Some(ServerId(1)), "same table");
    plain.connection_started(ServerId(1));
    fb.connection_started(ServerId(1));
    assert_eq!(plain.pick(&src(on_one)), None);
    assert_eq!(fb.pick(&src(on_one)), Some(ServerId(2)));
}

#[test]
fn sh_port_flag_spreads_one_client_over_servers() {
    let mut lb =
        Dispatcher::new(servers(&[1, 1, 1, 1]), SourceHash::new(false, true)).expect("valid");
    let mut seen = HashSet::new();
    for port in 1000..1100u16 {
        let r = Request {
            source: Some(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1))),
            source_port: Some(port),
            ..Request::default()
        };
        seen.insert(lb.pick(&r).expect("available"));
    }
    assert_eq!(seen.len(), 4);
}

#[test]
fn twos_prefers_the_less_loaded_of_two_draws() {
    let mut lb = lvs(Algorithm::LvsTwos, &[1, 1]);
    hold(lb.as_mut(), 1, 50);
    // Server 1 only wins when both draws land on it: about a quarter of the time.
    let ones = (0..4000).filter(|_| pick(lb.as_mut()) == Some(1)).count();
    assert!((800..1200).contains(&ones), "{ones}");
}

#[test]
fn lvs_quiesce_with_weight_zero() {
    let mut lb = lvs(Algorithm::LvsWrr, &[2, 1]);
    lb.set_weight(ServerId(1), 0, Duration::ZERO)
        .expect("known");
    assert!((0..10).all(|_| pick(lb.as_mut()) == Some(2)));
    lb.set_state(ServerId(2), ServerState::Down, Duration::ZERO)
        .expect("known");
    assert_eq!(pick(lb.as_mut()), None);
}

#[test]
fn wrr_skips_overloaded_heavy_servers_without_spinning() {
    // Effective weights 65535 x 16 and 16: a pass-by-pass descent of `cw` would take a
    // million passes to reach the light server once the heavy one is overloaded.
    let cfg = vec![
        ServerConfig::new(1, 65535).maxconn(1),
        ServerConfig::new(2, 1),
    ];
    let mut lb = Algorithm::LvsWrr
        .build(cfg, DispatchOptions::default())
        .expect("valid");
    assert_eq!(pick(lb.as_mut()), Some(1));
    lb.connection_started(ServerId(1));
    let start = std::time::Instant::now();
    for _ in 0..100 {
        assert_eq!(pick(lb.as_mut()), Some(2));
    }
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    lb.connection_started(ServerId(2));
    lb.set_state(ServerId(2), ServerState::Down, Duration::ZERO)
        .expect("known");
    assert_eq!(
        pick(lb.as_mut()),
        None,
        "the only eligible server went away"
    );
    lb.connection_ended(ServerId(1));
    assert_eq!(pick(lb.as_mut()), Some(1));
}

#[test]
fn sh_and_dh_keep_healthy_servers_clients_when_one_server_fails() {
    let src = |i: u32| Request {
        source: Some(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i * 7))),
        destination: Some(IpAddr::V4(Ipv4Addr::from(0xc633_6400 + i * 13))),
        ..Request::default()
    };
    for a in [
        Algorithm::LvsSh {
            fallback: false,
            port: false,
        },
        Algorithm::LvsSh {
            fallback: true,
            port: false,
        },
        Algorithm::LvsDh,
    ] {
        let mut lb = a
            .clone()
            .build(servers(&[1, 1, 1, 1]), DispatchOptions::default())
            .expect("valid");
        let before: Vec<Option<ServerId>> = (0..500).map(|i| lb.pick(&src(i))).collect();
        assert!(before.iter().all(|s| s.is_some()), "{a:?}");
        // Quiesce server 3 (weight 0), then also take server 2 down.
        lb.set_weight(ServerId(3), 0, Duration::ZERO)
            .expect("known");
        lb.set_state(ServerId(2), ServerState::Down, Duration::ZERO)
            .expect("known");
        let fallback = matches!(a, Algorithm::LvsSh { fallback: true, .. });
        for (i, b) in before.iter().enumerate() {
            let now = lb.pick(&src(i as u32));
            match b.map(|s| s.0) {
                Some(2) | Some(3) if fallback => {
                    assert!(matches!(now, Some(ServerId(1 | 4))), "{a:?}: {now:?}")
                }
                Some(2) | Some(3) => assert_eq!(now, None, "{a:?}"),
                _ => assert_eq!(now, *b, "{a:?}: a healthy server's client moved"),
            }
        }
    }
}

#[test]
fn mh_refuses_an_overloaded_server_unless_fallback() {
    let cfg = vec![
        ServerConfig::new(1, 1).maxconn(1),
        ServerConfig::new(2, 1),
        ServerConfig::new(3, 1),
    ];
    let build = |fallback| {
        Algorithm::from_ipvs("mh", if fallback { &["mh-fallback"] } else { &[] })
            .expect("known scheduler")
            .build(cfg.clone(), DispatchOptions::default())
            .expect("valid")
    };
    let (mut plain, mut fb) = (build(false), build(true));
    let src = |i: u32| Request::from_source(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)));
    let on_one: Vec<u32> = (0..300)
        .filter(|&i| plain.pick(&src(i)) == Some(ServerId(1)))
        .collect();
    assert!(!on_one.is_empty());
    let others: Vec<(u32, Option<ServerId>)> = (0..300)
        .filter(|i| !on_one.contains(i))
        .map(|i| (i, plain.pick(&src(i))))
        .collect();
    plain.connection_started(ServerId(1));
    fb.connection_started(ServerId(1));
    for &i in &on_one {
        assert_eq!(plain.pick(&src(i)), None);
        assert!(matches!(fb.pick(&src(i)), Some(ServerId(2 | 3))));
    }
    for (i, s) in others {
        assert_eq!(plain.pick(&src(i)), s, "other clients stay");
        assert_eq!(fb.pick(&src(i)), s, "other clients stay");
    }
}
