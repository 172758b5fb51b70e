//! A half-open check whose future is dropped leaves nothing in the prober's pending map.
//!
//! A test binary of its own: the pending count is per process, and other half-open tests
//! running in parallel would move it. Needs root or CAP_NET_RAW; see
//! `half_open_checks.rs` for the skip rule (`HAKIT_REQUIRE_NETNS=1` makes a skip fail).

mod common;

use std::time::Duration;

use healthcheck::probe::{HalfOpenSpec, half_open_pending};
use healthcheck::{CheckSpec, CheckStatus, Timeouts};

async fn wait_for_pending(want: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while half_open_pending() != want {
        assert!(
            tokio::time::Instant::now() < deadline,
            "pending probes: {}, want {want}",
            half_open_pending()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn dropped_and_timed_out_checks_leave_no_pending_entry() {
    let check = match CheckSpec::HalfOpen(HalfOpenSpec::default()).build() {
        Ok(c) => c,
        Err(e) => {
            assert!(
                std::env::var("HAKIT_REQUIRE_NETNS").as_deref() != Ok("1"),
                "HAKIT_REQUIRE_NETNS=1 but: {e}"
            );
            eprintln!("skipped: {e}");
            return;
        }
    };
    // A black hole on loopback: a listener that never accepts, its one-slot accept
    // queue filled by a real connection, drops every SYN.
    let (_listener, hole) = common::never_accepting_listener();
    let mut fillers = Vec::new();
    for _ in 0..4 {
        fillers.push(std::net::TcpStream::connect_timeout(
            &hole,
            Duration::from_millis(200),
        ));
    }
    let long = Timeouts {
        connect: Duration::from_secs(30),
        check: Duration::from_secs(1),
    };

    // 100 checks in flight (more than the prober's source ports, so some wait for a
    // port), then their tasks are aborted: the futures are dropped mid-wait.
    let mut runs = tokio::task::JoinSet::new();
    for _ in 0..100 {
        let check = check.clone();
        runs.spawn(async move { check.run(hole, long).await });
    }
    wait_for_pending(64).await;
    runs.abort_all();
    while runs.join_next().await.is_some() {}
    assert_eq!(half_open_pending(), 0, "aborted checks left entries");

    // A check dropped by an outer timeout.
    let outer = tokio::time::timeout(Duration::from_millis(100), check.run(hole, long)).await;
    assert!(outer.is_err());
    assert_eq!(half_open_pending(), 0);

    // A check that times out on its own.
    let quick = Timeouts {
        connect: Duration::from_millis(200),
        check: Duration::from_millis(200),
    };
    let r = check.run(hole, quick).await;
    assert_eq!(r.status, CheckStatus::L4Tout, "{r:?}");
    assert_eq!(half_open_pending(), 0);
    drop(fillers);
}
