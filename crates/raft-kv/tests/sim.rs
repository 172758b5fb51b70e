//! Deterministic simulation sweep: `HAKIT_SIM_SEEDS=N` runs seeds `0..N` (default 500),
//! starting at `HAKIT_SIM_SEED_START` if set; `HAKIT_SIM_SEED=S` replays one seed (add
//! `HAKIT_SIM_TRACE=1` and `-- --nocapture` to see its events).

use std::time::Instant;

use raft_kv::sim::{SimReport, run_seed};

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

#[test]
fn simulated_clusters_are_safe_and_linearizable() {
    let seeds: Vec<u64> = match env_u64("HAKIT_SIM_SEED") {
        Some(seed) => vec![seed],
        None => {
            let start = env_u64("HAKIT_SIM_SEED_START").unwrap_or(0);
            (start..start + env_u64("HAKIT_SIM_SEEDS").unwrap_or(500)).collect()
        }
    };
    let start = Instant::now();
    let mut total = SimReport::default();
    let mut failures = Vec::new();
    for &seed in &seeds {
        match run_seed(seed) {
            Ok(r) => total.absorb(&r),
            Err(f) => {
                eprintln!("{f}");
                failures.push(seed);
            }
        }
    }
    eprintln!(
        "{} seeds in {:.1?}: {} ops completed, {} unknown, {} leaders, {} crashes ({} torn), \
         {} snapshots installed, {} membership changes, {} inconclusive checks",
        seeds.len(),
        start.elapsed(),
        total.completed_ops,
        total.unknown_ops,
        total.leaders,
        total.crashes,
        total.torn_writes,
        total.snapshots_installed,
        total.conf_changes,
        total.inconclusive_checks
    );
    assert!(failures.is_empty(), "failing seeds: {failures:?}");
    if seeds.len() >= 100 {
        // The sweep must actually exercise the faults it claims to.
        assert!(total.crashes > 0 && total.torn_writes > 0);
        assert!(total.snapshots_installed > 0 && total.conf_changes > 0);
    }
}

#[test]
fn a_seed_replays_bit_for_bit() {
    let a = run_seed(42).expect("seed 42");
    let b = run_seed(42).expect("seed 42");
    assert_eq!(format!("{a:?}"), format!("{b:?}"));
}
