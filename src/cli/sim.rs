//! `hakit sim`: runs the deterministic Raft simulation from the binary.
//!
//! Each seed builds a 3- or 5-node cluster on a virtual clock and drives it through
//! partitions, message loss, duplication and reordering, crashes that lose unsynced
//! writes and torn WAL tails, checking Raft's safety properties after every event and the
//! clients' history for linearizability at the end. The same seed replays the same run
//! bit for bit, so a failure prints the command that reproduces it.

use std::time::Instant;

use anyhow::bail;
use raft_kv::sim::{SimReport, run_seed};

/// Options of `hakit sim`.
#[derive(Debug, clap::Args)]
pub struct SimArgs {
    /// How many seeds to run.
    #[arg(long, default_value_t = 500)]
    seeds: u64,
    /// The first seed of the sweep.
    #[arg(long, default_value_t = 0)]
    start: u64,
    /// Replay this one seed (overrides --seeds and --start).
    #[arg(long)]
    seed: Option<u64>,
}

/// Runs the sweep; `Ok(false)` means some seed failed.
pub fn run(args: SimArgs) -> anyhow::Result<bool> {
    let (start, count) = match args.seed {
        Some(seed) => (seed, 1),
        None => (args.start, args.seeds),
    };
    let Some(end) = start.checked_add(count) else {
        bail!("--start {start} plus --seeds {count} overflows");
    };
    let began = Instant::now();
    let mut total = SimReport::default();
    let mut failed = Vec::new();
    for seed in start..end {
        match run_seed(seed) {
            Ok(report) => total.absorb(&report),
            Err(failure) => {
                eprintln!("{failure}");
                eprintln!("or with: hakit sim --seed {seed}");
                failed.push(seed);
            }
        }
    }
    println!(
        "{count} seeds ({start}..{end}) in {:.1} s: {} failed; {} client operations checked \
         ({} with unknown outcome), {} leaders, {} crashes ({} tearing the WAL tail), \
         {} snapshots installed, {} membership changes, {} histories too large to decide",
        began.elapsed().as_secs_f64(),
        failed.len(),
        total.completed_ops,
        total.unknown_ops,
        total.leaders,
        total.crashes,
        total.torn_writes,
        total.snapshots_installed,
        total.conf_changes,
        total.inconclusive_checks
    );
    Ok(failed.is_empty())
}
