//! The write-ahead log alone: what group commit buys. Appends 64 records of
//! 128 bytes and makes them durable either with one sync per record (what a
//! log without batching does) or with one sync for the whole batch, on the
//! real disk (`CARGO_TARGET_TMPDIR`) with preallocated segments.
//!
//! ```text
//! cargo bench -p raft-kv --bench raft_disk_wal
//! ```

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use raft_kv::storage::{Wal, WalOptions};

const RECORDS: usize = 64;
const RECORD_BYTES: usize = 128;

fn wal_group_commit(c: &mut Criterion) {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir");
    let options = WalOptions {
        segment_size: 64 << 20,
        preallocate: true,
    };
    let record = vec![0x5au8; RECORD_BYTES];
    let mut group = c.benchmark_group("wal_64_records");
    group.throughput(Throughput::Elements(RECORDS as u64));
    group.sample_size(20);

    let (mut wal, _) = Wal::open(&dir.path().join("batched"), options).expect("open");
    group.bench_function("one_sync_per_batch", |b| {
        b.iter(|| {
            for _ in 0..RECORDS {
                wal.append(1, black_box(&record)).expect("append");
            }
            wal.sync().expect("sync");
        })
    });

    let (mut wal, _) = Wal::open(&dir.path().join("unbatched"), options).expect("open");
    group.bench_function("one_sync_per_record", |b| {
        b.iter(|| {
            for _ in 0..RECORDS {
                wal.append(1, black_box(&record)).expect("append");
                wal.sync().expect("sync");
            }
        })
    });
    group.finish();
}

criterion_group!(benches, wal_group_commit);
criterion_main!(benches);
