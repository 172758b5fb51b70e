//! Replays the committed corpora of the ebtree model targets (`ebtree_model`,
//! `ebtree_timers`) through the same model comparisons the fuzz targets run, which
//! live with the crate's proptest suites and are included here by path.

#[path = "../../crates/ebtree/tests/model/mod.rs"]
mod model;
#[path = "../../crates/ebtree/tests/timer_model/mod.rs"]
mod timer_model;

use std::path::Path;

fn replay(target: &str, check: impl Fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    let mut files = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{dir:?}: {e}")) {
        let path = entry.expect("directory entry").path();
        eprintln!("{target}: {}", path.display());
        check(&std::fs::read(&path).expect("corpus file"));
        files += 1;
    }
    assert!(files > 0, "{target} has no committed corpus");
}

#[test]
fn ebtree_model_corpus_agrees() {
    replay("ebtree_model", |data| {
        let (ops, prefix_ops) = model::decode(data);
        model::run_int(&ops);
        model::run_prefix(&prefix_ops);
    });
}

#[test]
fn ebtree_timers_corpus_agrees() {
    replay("ebtree_timers", |data| {
        let scenario = timer_model::decode(data);
        timer_model::run::<ebtree::TimerQueue<u64>>(&scenario);
        timer_model::run::<ebtree::BucketQueue<u64, 2, 2, 6>>(&scenario);
    });
}
