//! Random server sets, states and events: every algorithm only ever picks a server that
//! may take new sessions (usable, in the right tier), and never panics.
//! `PROPTEST_CASES` raises the number of cases (default here: 64).

use std::time::Duration;

use balancer_algos::haproxy::hashing::HashType;
use balancer_algos::lvs::least_conn::LeastConnKind;
use balancer_algos::{
    Algorithm, DispatchOptions, HashKey, HashSpec, Request, ServerConfig, ServerId, ServerState,
};
use proptest::prelude::*;

fn algorithms() -> Vec<Algorithm> {
    vec![
        Algorithm::RoundRobin,
        Algorithm::StaticRoundRobin,
        Algorithm::LeastConn,
        Algorithm::First,
        Algorithm::Random { draws: 3 },
        Algorithm::Hash {
            key: HashKey::Key,
            spec: HashSpec::default(),
            kind: HashType::Consistent {
                balance_factor: Some(150),
            },
        },
        Algorithm::Hash {
            key: HashKey::Key,
            spec: HashSpec::default(),
            kind: HashType::MapBased,
        },
        Algorithm::LvsRr,
        Algorithm::LvsWrr,
        Algorithm::LvsLeastConn(LeastConnKind::Wlc),
        Algorithm::LvsLeastConn(LeastConnKind::Nq),
        Algorithm::LvsOvf,
        Algorithm::LvsLblcr,
        Algorithm::LvsTwos,
        Algorithm::LvsMh {
            fallback: true,
            port: false,
        },
        Algorithm::Jump,
        Algorithm::Rendezvous,
    ]
}

#[derive(Clone, Debug)]
enum Event {
    State(u32, u8),
    Weight(u32, u16),
    Start(u32),
    End(u32),
    Pick(u16),
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        (0..8u32, 0..4u8).prop_map(|(s, st)| Event::State(s, st)),
        (0..8u32, 0..5u16).prop_map(|(s, w)| Event::Weight(s, w)),
        (0..8u32).prop_map(Event::Start),
        (0..8u32).prop_map(Event::End),
        any::<u16>().prop_map(Event::Pick),
    ]
}

fn state(n: u8) -> ServerState {
    [
        ServerState::Up,
        ServerState::Drain,
        ServerState::Down,
        ServerState::Maintenance,
    ][usize::from(n % 4)]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64),
        ..ProptestConfig::default()
    })]
    #[test]
    fn picks_are_always_eligible(
        specs in prop::collection::vec((0..5u16, any::<bool>(), 0..3u32), 1..8),
        events in prop::collection::vec(event(), 0..60),
    ) {
        for a in algorithms() {
            let cfg: Vec<ServerConfig> = specs.iter().enumerate().map(|(i, &(w, b, m))| {
                let c = ServerConfig::new(i as u32, w).maxconn(m);
                if b { c.backup() } else { c }
            }).collect();
            let mut lb = a.clone().build(cfg.clone(), DispatchOptions::default()).expect("valid");
            let n = cfg.len() as u32;
            let mut states = vec![ServerState::Up; cfg.len()];
            let mut weights: Vec<u16> = cfg.iter().map(|c| c.weight).collect();
            let now = Duration::from_secs(1);
            for e in &events {
                match *e {
                    Event::State(s, st) => {
                        let s = s % n;
                        lb.set_state(ServerId(s), state(st), now).expect("known");
                        states[s as usize] = state(st);
                    }
                    Event::Weight(s, w) => {
                        let s = s % n;
                        if lb.set_weight(ServerId(s), w, now).is_ok() {
                            weights[s as usize] = w;
                        }
                    }
                    Event::Start(s) => lb.connection_started(ServerId(s % n)),
                    Event::End(s) => lb.connection_ended(ServerId(s % n)),
                    Event::Pick(k) => {
                        let key = k.to_le_bytes();
                        if let Some(p) = lb.pick(&Request::from_key(&key)) {
                            let i = p.0 as usize;
                            prop_assert!(states[i] == ServerState::Up && weights[i] > 0,
                                "{a:?} picked unusable {p:?}");
                            let active_up = (0..cfg.len()).any(|j| !cfg[j].backup
                                && states[j] == ServerState::Up && weights[j] > 0);
                            prop_assert_eq!(cfg[i].backup, !active_up,
                                "{:?} picked from the wrong tier", a);
                        }
                    }
                }
            }
        }
    }
}
