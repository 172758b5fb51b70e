//! Proposals per second through a 3-node cluster in one process: in-memory storage and
//! network, no fsync, so this measures the consensus core itself.
//!
//! Two shapes: one proposal per round trip (every proposal waits for its commit before the
//! next), and batches of proposals that share round trips (the pipelined, batched path).

use std::collections::VecDeque;
use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use raft_kv::raft::{ConfState, Config, MemStorage, Message, RawNode, Role};

struct Cluster {
    nodes: Vec<RawNode<MemStorage>>,
    queue: VecDeque<Message>,
}

impl Cluster {
    fn new() -> Self {
        let conf = ConfState::with_voters([1, 2, 3]);
        let nodes = (1..=3)
            .map(|id| {
                let mut cfg = Config::new(id);
                cfg.max_inflight_msgs = 64;
                RawNode::new(cfg, MemStorage::new(conf.clone())).expect("config")
            })
            .collect();
        let mut c = Cluster {
            nodes,
            queue: VecDeque::new(),
        };
        c.nodes[0].campaign();
        c.settle();
        assert_eq!(c.nodes[0].role(), Role::Leader);
        c
    }

    fn settle(&mut self) {
        for _ in 0..1000 {
            let mut busy = false;
            for node in &mut self.nodes {
                if !node.has_ready() {
                    continue;
                }
                busy = true;
                let rd = node.ready();
                let s = node.storage_mut();
                s.append(&rd.entries).expect("append");
                if let Some(hs) = rd.hard_state {
                    s.set_hard_state(hs);
                }
                self.queue.extend(rd.messages.iter().cloned());
                black_box(&rd.committed_entries);
                node.advance(rd);
            }
            while let Some(m) = self.queue.pop_front() {
                busy = true;
                let to = (m.to - 1) as usize;
                self.nodes[to].step(m).expect("step");
            }
            if !busy {
                return;
            }
        }
    }

    /// Proposes `batch` entries, then runs until they are committed on the leader.
    fn propose_batch(&mut self, batch: usize, payload: &[u8]) {
        let mut last = 0;
        for _ in 0..batch {
            last = self.nodes[0].propose(payload.to_vec()).expect("leader");
        }
        self.settle();
        assert!(self.nodes[0].committed() >= last);
        // Keep memory flat: compact what every node has applied.
        let applied = self.nodes.iter().map(|n| n.applied()).min().unwrap_or(0);
        if applied > 10_000 {
            for n in &mut self.nodes {
                let conf = n.conf_state().clone();
                let _ = n
                    .storage_mut()
                    .create_snapshot(applied, conf, bytes::Bytes::new());
            }
        }
    }
}

fn proposals(c: &mut Criterion) {
    let payload = vec![0xabu8; 128];
    let mut group = c.benchmark_group("raft_core_3_nodes_128B");
    for batch in [1usize, 16, 256] {
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_with_input(BenchmarkId::new("proposals", batch), &batch, |b, &batch| {
            let mut cluster = Cluster::new();
            b.iter(|| cluster.propose_batch(batch, &payload));
        });
    }
    group.finish();
}

criterion_group!(benches, proposals);
criterion_main!(benches);
