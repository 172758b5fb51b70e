//! Backups, drain, maintenance, weight 0, maxconn, slow start and "nothing available".

mod common;

use std::collections::HashSet;
use std::time::Duration;

use balancer_algos::haproxy::smooth_rr::SmoothRoundRobin;
use balancer_algos::{
    Algorithm, Balancer, DispatchOptions, Dispatcher, Error, Request, ServerConfig, ServerId,
    ServerState,
};
use common::{count_picks, sequence, servers};

const T0: Duration = Duration::from_secs(100);

/// Every algorithm that picks without a key, for properties all of them must have.
fn keyless_algorithms() -> Vec<Algorithm> {
    use balancer_algos::lvs::least_conn::LeastConnKind::*;
    vec![
        Algorithm::RoundRobin,
        Algorithm::StaticRoundRobin,
        Algorithm::LeastConn,
        Algorithm::First,
        Algorithm::Random { draws: 2 },
        Algorithm::LvsRr,
        Algorithm::LvsWrr,
        Algorithm::LvsLeastConn(Lc),
        Algorithm::LvsLeastConn(Wlc),
        Algorithm::LvsLeastConn(Sed),
        Algorithm::LvsLeastConn(Nq),
        Algorithm::LvsFo,
        Algorithm::LvsTwos,
        Algorithm::Maglev { table_size: 4093 },
        Algorithm::Jump,
        Algorithm::Rendezvous,
        Algorithm::PeakEwma {
            decay: Duration::from_secs(10),
            default_rtt: Duration::from_millis(5),
        },
    ]
}

fn picked_set(lb: &mut dyn Balancer, n: usize) -> HashSet<u32> {
    (0..n)
        .filter_map(|_| lb.pick(&Request::default()).map(|s| s.0))
        .collect()
}

#[test]
fn backups_serve_only_when_every_active_server_is_down() {
    for a in keyless_algorithms() {
        let cfg = vec![
            ServerConfig::new(1, 1),
            ServerConfig::new(2, 1),
            ServerConfig::new(3, 1).backup(),
            ServerConfig::new(4, 1).backup(),
        ];
        let mut lb = a
            .clone()
            .build(cfg, DispatchOptions::default())
            .expect("valid");
        let active = picked_set(lb.as_mut(), 50);
        assert!(
            active.is_subset(&HashSet::from([1, 2])),
            "{a:?}: {active:?}"
        );
        lb.set_state(ServerId(1), ServerState::Down, T0)
            .expect("known");
        assert_eq!(picked_set(lb.as_mut(), 20), HashSet::from([2]), "{a:?}");
        lb.set_state(ServerId(2), ServerState::Maintenance, T0)
            .expect("known");
        // One backup at a time: the first declared.
        assert_eq!(picked_set(lb.as_mut(), 20), HashSet::from([3]), "{a:?}");
        lb.set_state(ServerId(3), ServerState::Down, T0)
            .expect("known");
        assert_eq!(picked_set(lb.as_mut(), 20), HashSet::from([4]), "{a:?}");
        lb.set_state(ServerId(4), ServerState::Down, T0)
            .expect("known");
        assert_eq!(lb.pick(&Request::default()), None, "{a:?}: nothing left");
        lb.set_state(ServerId(2), ServerState::Up, T0)
            .expect("known");
        assert_eq!(picked_set(lb.as_mut(), 20), HashSet::from([2]), "{a:?}");
    }
}

#[test]
fn all_backups_option_uses_every_backup() {
    let cfg = vec![
        ServerConfig::new(1, 1).state(ServerState::Down),
        ServerConfig::new(2, 1).backup(),
        ServerConfig::new(3, 1).backup(),
    ];
    let opts = DispatchOptions {
        all_backups: true,
        ..DispatchOptions::default()
    };
    let mut lb = Algorithm::RoundRobin.build(cfg, opts).expect("valid");
    assert_eq!(picked_set(lb.as_mut(), 10), HashSet::from([2, 3]));
}

#[test]
fn drain_and_weight_zero_take_no_new_sessions_but_keep_persistent_ones() {
    for a in keyless_algorithms() {
        let mut lb = a
            .clone()
            .build(servers(&[1, 1, 1]), DispatchOptions::default())
            .expect("valid");
        lb.set_state(ServerId(1), ServerState::Drain, T0)
            .expect("known");
        lb.set_weight(ServerId(2), 0, T0).ok(); // static algorithms accept 0 too
        let got = picked_set(lb.as_mut(), 50);
        assert_eq!(got, HashSet::from([3]), "{a:?}");
        assert!(
            lb.accepts_persistent(ServerId(1)),
            "{a:?}: drain keeps persistence"
        );
        assert!(
            lb.accepts_persistent(ServerId(2)),
            "{a:?}: weight 0 keeps persistence"
        );
        lb.set_state(ServerId(3), ServerState::Maintenance, T0)
            .expect("known");
        assert!(
            !lb.accepts_persistent(ServerId(3)),
            "{a:?}: maintenance drops it"
        );
        assert_eq!(lb.pick(&Request::default()), None, "{a:?}");
    }
}

#[test]
fn maxconn_full_servers_are_skipped_and_all_full_gives_none() {
    let cfg = vec![
        ServerConfig::new(1, 1).maxconn(2),
        ServerConfig::new(2, 1).maxconn(1),
    ];
    for a in [
        Algorithm::RoundRobin,
        Algorithm::StaticRoundRobin,
        Algorithm::LeastConn,
        Algorithm::First,
        Algorithm::LvsRr,
        Algorithm::LvsWrr,
        Algorithm::LvsFo,
    ] {
        let mut lb = a
            .clone()
            .build(cfg.clone(), DispatchOptions::default())
            .expect("valid");
        let mut held = Vec::new();
        for _ in 0..3 {
            let s = lb.pick(&Request::default()).expect("room left");
            lb.connection_started(s);
            held.push(s.0);
        }
        held.sort_unstable();
        assert_eq!(held, [1, 1, 2], "{a:?}");
        assert_eq!(lb.pick(&Request::default()), None, "{a:?}: all full");
        lb.connection_ended(ServerId(2));
        assert_eq!(lb.pick(&Request::default()), Some(ServerId(2)), "{a:?}");
    }
}

#[test]
fn first_fills_servers_in_id_order() {
    let cfg = vec![
        ServerConfig::new(30, 1).maxconn(2),
        ServerConfig::new(10, 1).maxconn(2),
        ServerConfig::new(20, 1).maxconn(2),
    ];
    let mut lb = Algorithm::First
        .build(cfg, DispatchOptions::default())
        .expect("valid");
    let mut order = Vec::new();
    for _ in 0..6 {
        let s = lb.pick(&Request::default()).expect("room");
        lb.connection_started(s);
        order.push(s.0);
    }
    assert_eq!(order, [10, 10, 20, 20, 30, 30]);
}

#[test]
fn slow_start_ramps_weight_linearly() {
    let ramp = Duration::from_secs(100);
    let cfg = vec![
        ServerConfig::new(1, 10),
        ServerConfig::new(2, 10)
            .slow_start(ramp)
            .state(ServerState::Down),
    ];
    let mut lb = Dispatcher::new(cfg, SmoothRoundRobin::new()).expect("valid");
    lb.set_state(ServerId(2), ServerState::Up, T0)
        .expect("known");
    let ew = |lb: &Dispatcher<SmoothRoundRobin>| lb.pool().slot(1).eweight();
    assert_eq!(ew(&lb), 1, "a recovering server starts with a trickle");
    for (secs, pct) in [(25u64, 25u32), (50, 50), (75, 75), (100, 100), (200, 100)] {
        lb.advance(T0 + Duration::from_secs(secs));
        assert_eq!(ew(&lb), 160 * pct / 100, "at {secs}s");
    }
    // The picks follow the ramp: halfway, server 2 gets a third of the traffic.
    let mut lb = Dispatcher::new(
        vec![
            ServerConfig::new(1, 10),
            ServerConfig::new(2, 10)
                .slow_start(ramp)
                .state(ServerState::Down),
        ],
        SmoothRoundRobin::new(),
    )
    .expect("valid");
    lb.set_state(ServerId(2), ServerState::Up, T0)
        .expect("known");
    lb.advance(T0 + ramp / 2);
    let c = count_picks(&mut lb, &Request::default(), 3000);
    assert_eq!(c[&ServerId(2)], 1000);
}

#[test]
fn slow_start_does_not_apply_to_drain_to_up() {
    let cfg = vec![ServerConfig::new(1, 4).slow_start(Duration::from_secs(60))];
    let mut lb = Dispatcher::new(cfg, SmoothRoundRobin::new()).expect("valid");
    lb.set_state(ServerId(1), ServerState::Drain, T0)
        .expect("known");
    lb.set_state(ServerId(1), ServerState::Up, T0)
        .expect("known");
    assert_eq!(lb.pool().slot(0).eweight(), 64);
}

#[test]
fn no_servers_at_all_is_none_not_a_panic() {
    for a in keyless_algorithms() {
        let mut lb = a
            .clone()
            .build(Vec::new(), DispatchOptions::default())
            .expect("valid");
        assert_eq!(lb.pick(&Request::default()), None, "{a:?}");
        lb.connection_started(ServerId(1));
        lb.connection_ended(ServerId(1));
        lb.advance(T0);
    }
}

#[test]
fn configuration_errors_are_reported() {
    let dup = vec![ServerConfig::new(1, 1), ServerConfig::new(1, 2)];
    assert_eq!(
        Algorithm::RoundRobin
            .build(dup, DispatchOptions::default())
            .err(),
        Some(Error::DuplicateServer { id: ServerId(1) })
    );
    let mut lb = Algorithm::RoundRobin
        .build(servers(&[1]), DispatchOptions::default())
        .expect("valid");
    assert_eq!(
        lb.set_weight(ServerId(9), 1, T0),
        Err(Error::UnknownServer { id: ServerId(9) })
    );
    assert!(matches!(
        Algorithm::Maglev { table_size: 65536 }.build(servers(&[1]), DispatchOptions::default()),
        Err(Error::InvalidTableSize { .. })
    ));
    assert!(matches!(
        Algorithm::Random { draws: 0 }.build(servers(&[1]), DispatchOptions::default()),
        Err(Error::InvalidParameter { .. })
    ));
}

#[test]
fn leastconn_round_robins_among_equally_loaded_servers() {
    let mut lb = Algorithm::LeastConn
        .build(servers(&[1, 1, 1]), DispatchOptions::default())
        .expect("valid");
    // Short requests: each starts and ends before the next; the tie rotates.
    let mut order = Vec::new();
    for _ in 0..6 {
        let s = lb.pick(&Request::default()).expect("available");
        lb.connection_started(s);
        lb.connection_ended(s);
        order.push(s.0);
    }
    assert_eq!(order, [1, 2, 3, 1, 2, 3]);
    // A held connection makes its server the last choice.
    lb.connection_started(ServerId(2));
    let seq = sequence(lb.as_mut(), 4);
    assert!(seq.iter().all(|&s| s != 2), "{seq:?}");
}

#[test]
fn a_saturated_backend_answers_none_quickly_even_with_long_cycles() {
    // Weights 65535 and 65534 are coprime: the cycles hold 131069 entries.
    let cfg = vec![
        ServerConfig::new(1, 65535).maxconn(1),
        ServerConfig::new(2, 65534).maxconn(1),
    ];
    for a in [Algorithm::RoundRobin, Algorithm::StaticRoundRobin] {
        let mut lb = a
            .clone()
            .build(cfg.clone(), DispatchOptions::default())
            .expect("valid");
        lb.connection_started(ServerId(1));
        lb.connection_started(ServerId(2));
        let start = std::time::Instant::now();
        for _ in 0..1000 {
            assert_eq!(lb.pick(&Request::default()), None, "{a:?}");
        }
        // 1000 full walks of the cycle would take seconds in a debug build.
        assert!(
            start.elapsed() < Duration::from_millis(500),
            "{a:?}: {:?}",
            start.elapsed()
        );
    }
}
