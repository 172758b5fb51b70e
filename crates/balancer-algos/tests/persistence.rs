//! Stick tables (keys, expiry, LRU eviction, counters, routing) and cookie persistence.

mod common;

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use balancer_algos::persistence::cookie::CookiePersistence;
use balancer_algos::persistence::stick_table::{
    StickKey, StickKeyType, StickTable, StickTableConfig,
};
use balancer_algos::{Algorithm, DispatchOptions, Error, Request, ServerId, ServerState};
use common::servers;

const S: Duration = Duration::from_secs(1);

fn table(key_type: StickKeyType, size: usize) -> StickTable {
    StickTable::new(StickTableConfig::new(key_type, size, 30 * S)).expect("valid")
}

fn ip(last: u8) -> StickKey {
    StickKey::Ipv4(Ipv4Addr::new(10, 0, 0, last))
}

#[test]
fn entries_expire_after_the_idle_time_and_access_refreshes_them() {
    let mut t = table(StickKeyType::Ipv4, 10);
    t.stick(ip(1), ServerId(1), S).expect("ip key");
    t.stick(ip(2), ServerId(2), S).expect("ip key");
    // Touch 1 at 20 s: it now lives until 50 s; 2 expires at 31 s.
    assert!(t.lookup(&ip(1), 20 * S).expect("ip key").is_some());
    assert!(t.lookup(&ip(2), 31 * S).expect("ip key").is_none());
    assert_eq!(
        t.lookup(&ip(1), 40 * S)
            .expect("ip key")
            .and_then(|e| e.server),
        Some(ServerId(1))
    );
    assert_eq!(t.purge_expired(71 * S), 1);
    assert!(t.is_empty());
}

#[test]
fn a_full_table_evicts_the_least_recently_used_entry() {
    let mut t = table(StickKeyType::Ipv4, 3);
    for i in 1..=3 {
        t.stick(ip(i), ServerId(u32::from(i)), S).expect("ip key");
    }
    t.lookup(&ip(1), 2 * S).expect("ip key"); // 2 is now the least recently used
    t.stick(ip(4), ServerId(4), 3 * S).expect("ip key");
    assert_eq!(t.len(), 3);
    assert!(
        t.lookup(&ip(2), 3 * S).expect("ip key").is_none(),
        "evicted"
    );
    for i in [1, 3, 4] {
        assert!(
            t.lookup(&ip(i), 3 * S).expect("ip key").is_some(),
            "{i} kept"
        );
    }
}

#[test]
fn every_key_type_works_and_mismatches_are_errors() {
    let mut v6 = table(StickKeyType::Ipv6, 4);
    v6.stick(StickKey::Ipv6(Ipv6Addr::LOCALHOST), ServerId(1), S)
        .expect("ipv6 key");
    assert!(
        v6.lookup(&StickKey::Ipv6(Ipv6Addr::LOCALHOST), S)
            .expect("ipv6")
            .is_some()
    );
    assert_eq!(
        v6.stick(ip(1), ServerId(1), S),
        Err(Error::KeyTypeMismatch {
            expected: "ipv6",
            got: "ip"
        })
    );
    let mut int = table(StickKeyType::Integer, 4);
    int.stick(StickKey::Integer(-5), ServerId(2), S)
        .expect("integer key");
    assert!(
        int.lookup(&StickKey::Integer(-5), S)
            .expect("int")
            .is_some()
    );
    // Strings are truncated to len: two keys equal in their first 4 bytes collide.
    let mut s = table(StickKeyType::String { len: 4 }, 4);
    s.stick(StickKey::String((*b"abcdef").into()), ServerId(3), S)
        .expect("string");
    let e = s
        .lookup(&StickKey::String((*b"abcdXY").into()), S)
        .expect("string");
    assert_eq!(e.and_then(|e| e.server), Some(ServerId(3)));
    // Binary keys are padded with zeros to len.
    let mut b = table(StickKeyType::Binary { len: 4 }, 4);
    b.stick(StickKey::Binary((*b"\x01\x02").into()), ServerId(4), S)
        .expect("binary");
    let e = b
        .lookup(&StickKey::Binary((*b"\x01\x02\x00\x00").into()), S)
        .expect("binary");
    assert_eq!(e.and_then(|e| e.server), Some(ServerId(4)));
}

#[test]
fn counters_track_connections_requests_errors_and_bytes() {
    let mut t = table(StickKeyType::Ipv4, 4);
    let e = t.track(ip(1), S).expect("ip key");
    for i in 0..20u32 {
        e.counters
            .connection_opened(S + i * Duration::from_millis(100));
        e.counters.http_request(S);
    }
    e.counters.http_error(S);
    e.counters.connection_closed();
    e.counters.bytes(S, 100, 2000);
    e.counters.gpc[0] += 1;
    let c = &t
        .lookup(&ip(1), 2 * S)
        .expect("ip")
        .expect("tracked")
        .counters;
    assert_eq!(
        (c.conn_cur, c.conn_cnt, c.http_req_cnt, c.http_err_cnt),
        (19, 20, 20, 1)
    );
    assert_eq!((c.bytes_in_cnt, c.bytes_out_cnt, c.gpc[0]), (100, 2000, 1));
    assert_eq!(c.conn_rate.rate(3 * S), 20);
    // 10 s periods: 15 s into the next period half of the old one still counts.
    assert_eq!(c.http_req_rate.rate(15 * S), 10);
    assert_eq!(c.http_req_rate.rate(25 * S), 0);
}

#[test]
fn stick_on_routes_back_to_the_same_server_and_re_picks_when_it_is_gone() {
    let mut lb = Algorithm::RoundRobin
        .build(servers(&[1, 1, 1]), DispatchOptions::default())
        .expect("valid");
    let mut t = table(StickKeyType::Ipv4, 100);
    let r = Request::default();
    let first = t
        .route(ip(1), lb.as_mut(), &r, S)
        .expect("ip")
        .expect("server");
    for _ in 0..5 {
        assert_eq!(t.route(ip(1), lb.as_mut(), &r, S).expect("ip"), Some(first));
    }
    // Drained: still served (persistent). Down: re-picked and re-stuck.
    lb.set_state(first, ServerState::Drain, S).expect("known");
    assert_eq!(t.route(ip(1), lb.as_mut(), &r, S).expect("ip"), Some(first));
    lb.set_state(first, ServerState::Down, S).expect("known");
    let second = t
        .route(ip(1), lb.as_mut(), &r, S)
        .expect("ip")
        .expect("server");
    assert_ne!(second, first);
    assert_eq!(
        t.route(ip(1), lb.as_mut(), &r, S).expect("ip"),
        Some(second)
    );
}

#[test]
fn cookies_stick_to_their_server_while_it_accepts_persistence() {
    let mut lb = Algorithm::RoundRobin
        .build(servers(&[1, 1]), DispatchOptions::default())
        .expect("valid");
    let cookies = CookiePersistence::new([(ServerId(1), "s1"), (ServerId(2), "s2")]);
    let r = Request::default();
    let d = cookies.route(None, lb.as_mut(), &r).expect("server");
    assert_eq!(
        d.set_cookie.as_deref(),
        cookies.cookie_for(d.server),
        "first visit sets it"
    );
    let d2 = cookies.route(Some(b"s2"), lb.as_mut(), &r).expect("server");
    assert_eq!((d2.server, d2.set_cookie), (ServerId(2), None));
    lb.set_weight(ServerId(2), 0, S).expect("known");
    assert_eq!(
        cookies
            .route(Some(b"s2"), lb.as_mut(), &r)
            .map(|d| d.server),
        Some(ServerId(2))
    );
    lb.set_state(ServerId(2), ServerState::Maintenance, S)
        .expect("known");
    let d3 = cookies.route(Some(b"s2"), lb.as_mut(), &r).expect("server");
    assert_eq!(d3.server, ServerId(1));
    assert_eq!(
        d3.set_cookie.as_deref(),
        Some(&b"s1"[..]),
        "cookie rewritten"
    );
    let unknown = cookies.route(Some(b"zz"), lb.as_mut(), &r).expect("server");
    assert_eq!(unknown.server, ServerId(1));
}

#[test]
fn an_unbounded_expiry_from_config_does_not_overflow() {
    let cfg = StickTableConfig::new(StickKeyType::Integer, 2, Duration::MAX);
    let mut t = StickTable::new(cfg).expect("valid");
    t.stick(StickKey::Integer(1), ServerId(1), Duration::from_secs(5))
        .expect("int key");
    assert!(
        t.lookup(&StickKey::Integer(1), Duration::from_secs(1 << 40))
            .expect("int")
            .is_some()
    );
    assert_eq!(
        StickTable::new(StickTableConfig::new(StickKeyType::Integer, 0, S)).err(),
        Some(Error::InvalidParameter {
            name: "stick-table size",
            reason: "must be between 1 and 2^32 - 2"
        })
    );
}
