//! Proposals per second of a 3-node cluster in one process, each node with
//! its real WAL on disk and the TCP transport on 127.0.0.1, and how many
//! fsyncs each committed batch costs (group commit).
//!
//! The same cluster also runs with its data directories on tmpfs
//! (`/dev/shm`, where fsync is free), so the ratio shows what durability
//! costs on this machine.
//!
//! ```text
//! cargo bench -p raft-kv --bench raft_disk
//! HAKIT_RAFT_DISK_PROPOSALS=50000 HAKIT_RAFT_DISK_IN_FLIGHT=512 cargo bench -p raft-kv --bench raft_disk
//! ```
//!
//! This is a throughput run with a printed table, not a criterion
//! micro-benchmark: one measurement is a whole cluster's steady state.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use raft_kv::Error;
use raft_kv::node::{
    KvMachine, NodeConfig, NodeHandle, NodeStatus, RunningNode, encode_put, start_node,
};
use raft_kv::raft::Role;
use tokio::net::TcpListener;

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Measurement {
    proposals_per_sec: f64,
    leader_syncs: u64,
    cluster_syncs: u64,
    commit_batches: u64,
    proposals: usize,
}

async fn start_cluster(dir: &Path) -> Vec<RunningNode<KvMachine>> {
    let mut listeners = Vec::new();
    let mut members: Vec<(u64, SocketAddr)> = Vec::new();
    for id in 1..=3 {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        members.push((id, l.local_addr().expect("addr")));
        listeners.push(l);
    }
    let mut nodes = Vec::new();
    for (listener, &(id, _)) in listeners.into_iter().zip(&members) {
        let mut config = NodeConfig::new(id, members.clone(), dir.join(format!("node-{id}")));
        config.tick = Duration::from_millis(20);
        config.snapshot_every = 0;
        nodes.push(
            start_node(config, listener, KvMachine::default())
                .await
                .expect("start node"),
        );
    }
    nodes
}

async fn leader(nodes: &[RunningNode<KvMachine>]) -> NodeHandle<KvMachine> {
    let start = Instant::now();
    loop {
        if let Some(n) = nodes
            .iter()
            .find(|n| n.handle.status().role == Role::Leader)
        {
            return n.handle.clone();
        }
        assert!(start.elapsed() < Duration::from_secs(30), "no leader");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn measure(dir: &Path, proposals: usize, in_flight: usize) -> Measurement {
    let nodes = start_cluster(dir).await;
    let leader = leader(&nodes).await;
    // Warm up: connections established, leader's no-op committed.
    for i in 0..100 {
        let _ = leader
            .propose(encode_put(format!("warm{i}").as_bytes(), b"x"))
            .await;
    }
    let before: NodeStatus = leader.status();
    let cluster_syncs = |nodes: &[RunningNode<KvMachine>]| -> u64 {
        nodes.iter().map(|n| n.handle.status().wal_syncs).sum()
    };
    let cluster_before = cluster_syncs(&nodes);
    let next = Arc::new(AtomicUsize::new(0));
    let value = vec![b'v'; 100];
    let start = Instant::now();
    let workers: Vec<_> = (0..in_flight)
        .map(|_| {
            let (leader, next, value) = (leader.clone(), next.clone(), value.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= proposals {
                        return;
                    }
                    let key = format!("key{i}");
                    match leader.propose(encode_put(key.as_bytes(), &value)).await {
                        Ok(_) => {}
                        Err(Error::NotLeader { .. } | Error::Dropped) => {
                            panic!("leadership changed during the run")
                        }
                        Err(e) => panic!("proposal failed: {e}"),
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.await.expect("worker");
    }
    let elapsed = start.elapsed();
    let after = leader.status();
    let cluster_after = cluster_syncs(&nodes);
    for n in &nodes {
        n.handle.stop().await;
    }
    for n in nodes {
        let _ = n.task.await;
    }
    Measurement {
        proposals_per_sec: proposals as f64 / elapsed.as_secs_f64(),
        leader_syncs: after.wal_syncs - before.wal_syncs,
        cluster_syncs: cluster_after - cluster_before,
        commit_batches: after.commit_batches - before.commit_batches,
        proposals,
    }
}

fn main() {
    let proposals = env_number("HAKIT_RAFT_DISK_PROPOSALS", 20_000);
    let in_flight = env_number("HAKIT_RAFT_DISK_IN_FLIGHT", 256);
    // One proposer waiting for each commit: no batching possible, so every
    // proposal pays its own fsyncs. Fewer proposals keep the run short.
    let serial_proposals = (proposals / 20).max(100);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut rows = Vec::new();
    let disk = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir on disk");
    rows.push((
        "disk",
        in_flight,
        runtime.block_on(measure(&disk.path().join("a"), proposals, in_flight)),
    ));
    rows.push((
        "disk",
        1,
        runtime.block_on(measure(&disk.path().join("b"), serial_proposals, 1)),
    ));
    let shm = Path::new("/dev/shm")
        .is_dir()
        .then(|| tempfile::tempdir_in("/dev/shm").expect("tempdir on tmpfs"));
    if let Some(shm) = &shm {
        rows.push((
            "tmpfs",
            in_flight,
            runtime.block_on(measure(shm.path(), proposals, in_flight)),
        ));
    }
    println!("raft_disk: 3 nodes, proposals of 100 B, TCP on 127.0.0.1");
    println!(
        "{:<6} {:>9} {:>12} {:>15} {:>14} {:>27} {:>28} {:>23}",
        "wal",
        "in flight",
        "proposals/s",
        "commit batches",
        "leader fsyncs",
        "leader fsyncs/commit batch",
        "cluster fsyncs/commit batch",
        "proposals/leader fsync"
    );
    for (label, in_flight, m) in &rows {
        let batches = m.commit_batches.max(1) as f64;
        println!(
            "{:<6} {:>9} {:>12.0} {:>15} {:>14} {:>27.2} {:>28.2} {:>23.1}",
            label,
            in_flight,
            m.proposals_per_sec,
            m.commit_batches,
            m.leader_syncs,
            m.leader_syncs as f64 / batches,
            m.cluster_syncs as f64 / batches,
            m.proposals as f64 / m.leader_syncs.max(1) as f64
        );
    }
    let rate = |label: &str, flight: usize| {
        rows.iter()
            .find(|(l, f, _)| *l == label && *f == flight)
            .map(|(_, _, m)| m.proposals_per_sec)
    };
    if let (Some(batched), Some(serial)) = (rate("disk", in_flight), rate("disk", 1)) {
        println!(
            "group commit speed-up on disk ({in_flight} in flight vs 1): {:.1}x",
            batched / serial
        );
    }
    if let (Some(disk), Some(tmpfs)) = (rate("disk", in_flight), rate("tmpfs", in_flight)) {
        println!("disk/tmpfs throughput ratio: {:.2}", disk / tmpfs);
    }
}
