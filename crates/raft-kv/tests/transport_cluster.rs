//! Three nodes in one process, each with its own WAL on disk, talking over the
//! TCP transport on 127.0.0.1: election, replication, linearizable reads,
//! restart from disk and catch-up through a streamed snapshot.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use raft_kv::Error;
use raft_kv::node::{KvMachine, NodeConfig, NodeHandle, RunningNode, encode_put, start_node};
use raft_kv::raft::{NodeId, Role};
use raft_kv::storage::WalOptions;
use tokio::net::TcpListener;
use tokio::time::Instant;

const DEADLINE: Duration = Duration::from_secs(20);

/// Binds a peer listener on 127.0.0.1 for nodes `1..=n` and lists the members.
async fn bind_peers(n: NodeId) -> (Vec<TcpListener>, Vec<(NodeId, SocketAddr)>) {
    let mut listeners = Vec::new();
    let mut members = Vec::new();
    for id in 1..=n {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        members.push((id, l.local_addr().expect("addr")));
        listeners.push(l);
    }
    (listeners, members)
}

/// Starts a node that joins a running cluster (it is not among the bootstrap members).
async fn start_joiner(mut config: NodeConfig, listener: TcpListener) -> RunningNode<KvMachine> {
    config.joining = true;
    start_node(config, listener, KvMachine::default())
        .await
        .expect("start joiner")
}

fn config(id: NodeId, members: &[(NodeId, SocketAddr)], dir: &Path) -> NodeConfig {
    let mut c = NodeConfig::new(id, members.to_vec(), dir.join(format!("node-{id}")));
    c.tick = Duration::from_millis(20);
    c.snapshot_every = 40;
    c.wal = WalOptions {
        segment_size: 64 << 10,
        preallocate: true,
    };
    c
}

async fn start(
    id: NodeId,
    addr: SocketAddr,
    members: &[(NodeId, SocketAddr)],
    dir: &Path,
) -> RunningNode<KvMachine> {
    // The port was free a moment ago; retry briefly in case the OS is slow to release it.
    let start = Instant::now();
    let listener = loop {
        match TcpListener::bind(addr).await {
            Ok(l) => break l,
            Err(e) => {
                assert!(start.elapsed() < DEADLINE, "cannot bind {addr}: {e}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    start_node(config(id, members, dir), listener, KvMachine::default())
        .await
        .expect("start node")
}

async fn leader_of(nodes: &[&NodeHandle<KvMachine>]) -> NodeHandle<KvMachine> {
    let start = Instant::now();
    loop {
        for node in nodes {
            let s = node.status();
            if s.role == Role::Leader {
                return (*node).clone();
            }
        }
        assert!(start.elapsed() < DEADLINE, "no leader elected");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn put(nodes: &[&NodeHandle<KvMachine>], key: &str, value: &str) -> u64 {
    let start = Instant::now();
    loop {
        let leader = leader_of(nodes).await;
        match leader
            .propose(encode_put(key.as_bytes(), value.as_bytes()))
            .await
        {
            Ok((index, true)) => return index,
            Ok((_, false)) => panic!("put rejected by the state machine"),
            Err(Error::NotLeader { .. } | Error::Dropped) => {}
            Err(e) => panic!("put failed: {e}"),
        }
        assert!(start.elapsed() < DEADLINE, "put of {key} never succeeded");
    }
}

async fn get(node: &NodeHandle<KvMachine>, key: &str) -> Option<Bytes> {
    let key = Bytes::copy_from_slice(key.as_bytes());
    let start = Instant::now();
    loop {
        let k = key.clone();
        match tokio::time::timeout(
            Duration::from_secs(2),
            node.read(move |m| m.get(&k).cloned()),
        )
        .await
        {
            Ok(Ok(value)) => return value,
            Ok(Err(_)) | Err(_) => {
                // No leader known yet, or the read was lost: retry.
                assert!(start.elapsed() < DEADLINE, "read never succeeded");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_replicate_survive_restart_and_catch_up_by_snapshot() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (listeners, members) = bind_peers(3).await;
    let mut nodes = Vec::new();
    for (l, &(id, _)) in listeners.into_iter().zip(&members) {
        nodes.push(
            start_node(config(id, &members, tmp.path()), l, KvMachine::default())
                .await
                .expect("start"),
        );
    }
    let handles: Vec<NodeHandle<KvMachine>> = nodes.iter().map(|n| n.handle.clone()).collect();
    let refs: Vec<&NodeHandle<KvMachine>> = handles.iter().collect();

    let mut last_index = 0;
    for i in 0..60 {
        let index = put(&refs, &format!("k{i}"), &format!("v{i}")).await;
        assert!(index > last_index, "indexes must grow");
        last_index = index;
    }
    for node in &refs {
        for i in [0, 31, 59] {
            assert_eq!(
                get(node, &format!("k{i}")).await.as_deref(),
                Some(format!("v{i}").as_bytes())
            );
        }
    }
    let leader = leader_of(&refs).await.status();
    assert!(
        leader.wal_syncs <= leader.readies,
        "more syncs than Ready batches"
    );

    // Stop a follower, write enough for the others to snapshot and compact
    // past what it has, then restart it from its own disk.
    let follower_pos = handles
        .iter()
        .position(|h| h.status().role != Role::Leader)
        .expect("a follower");
    let follower = nodes.remove(follower_pos);
    let (follower_id, follower_addr) = members[follower_pos];
    let last_before_stop = follower.handle.status().last_index;
    follower.handle.stop().await;
    follower.task.await.expect("join").expect("clean stop");

    let live: Vec<&NodeHandle<KvMachine>> = nodes.iter().map(|n| &n.handle).collect();
    for i in 60..160 {
        put(&live, &format!("k{i}"), &format!("v{i}")).await;
    }

    // The live nodes compacted past the stopped node's log, so it can only
    // catch up through a snapshot.
    for node in &live {
        let s = node.status();
        assert!(
            s.snapshot_index > last_before_stop,
            "node {} did not compact past {last_before_stop}: {s:?}",
            s.id
        );
    }
    let restarted = start(follower_id, follower_addr, &members, tmp.path()).await;
    let target = leader_of(&live).await.status().commit;
    let caught_up = restarted
        .handle
        .wait_for(DEADLINE, |s| s.applied >= target)
        .await;
    let caught_up =
        caught_up.unwrap_or_else(|| panic!("restarted node never caught up to {target}"));
    assert!(caught_up.snapshot_index > last_before_stop, "{caught_up:?}");
    for i in [0, 59, 100, 159] {
        assert_eq!(
            get(&restarted.handle, &format!("k{i}")).await.as_deref(),
            Some(format!("v{i}").as_bytes()),
            "restarted node misses k{i}"
        );
    }
    restarted.handle.stop().await;
    for n in &nodes {
        n.handle.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_node_joins_as_learner_is_promoted_and_an_old_one_is_removed() {
    use raft_kv::raft::{ConfChange, ConfChangeKind};

    let tmp = tempfile::tempdir().expect("tempdir");
    let mut listeners = Vec::new();
    let mut members = Vec::new();
    for id in 1..=4 {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        members.push((id, l.local_addr().expect("addr")));
        listeners.push(l);
    }
    let first_three = members[..3].to_vec();
    let mut nodes = Vec::new();
    let mut listeners = listeners.into_iter();
    for &(id, _) in &first_three {
        let l = listeners.next().expect("listener");
        nodes.push(
            start_node(
                config(id, &first_three, tmp.path()),
                l,
                KvMachine::default(),
            )
            .await
            .expect("start"),
        );
    }
    let refs: Vec<&NodeHandle<KvMachine>> = nodes.iter().map(|n| &n.handle).collect();
    for i in 0..20 {
        put(&refs, &format!("k{i}"), &format!("v{i}")).await;
    }

    // Node 4 starts knowing everyone's address, but not as a member.
    let joiner = start_joiner(
        config(4, &members, tmp.path()),
        listeners.next().expect("listener"),
    )
    .await;
    // It starts with no membership: the log's bootstrap entries (or a snapshot) give it.
    assert_eq!(joiner.handle.status().voters, Vec::<NodeId>::new());

    let change = |kind, node_id, context: &str| ConfChange {
        kind,
        node_id,
        context: Bytes::copy_from_slice(context.as_bytes()),
    };
    let addr4 = members[3].1.to_string();
    change_membership(&refs, change(ConfChangeKind::AddLearner, 4, &addr4)).await;
    let learned = joiner
        .handle
        .wait_for(DEADLINE, |s| {
            s.voters == vec![1, 2, 3] && s.learners == vec![4] && s.applied > 20
        })
        .await;
    assert!(
        learned.is_some(),
        "learner never caught up: {:?}",
        joiner.handle.status()
    );
    assert_eq!(
        get(&joiner.handle, "k19").await.as_deref(),
        Some(&b"v19"[..])
    );

    change_membership(&refs, change(ConfChangeKind::AddVoter, 4, "")).await;
    let promoted = joiner
        .handle
        .wait_for(DEADLINE, |s| s.voters == vec![1, 2, 3, 4])
        .await;
    assert!(
        promoted.is_some(),
        "never promoted: {:?}",
        joiner.handle.status()
    );

    // Remove node 1 (possibly the leader); the other three carry on.
    change_membership(&refs, change(ConfChangeKind::RemoveNode, 1, "")).await;
    let remaining: Vec<&NodeHandle<KvMachine>> =
        vec![&nodes[1].handle, &nodes[2].handle, &joiner.handle];
    for node in &remaining {
        let s = node.wait_for(DEADLINE, |s| s.voters == vec![2, 3, 4]).await;
        assert!(s.is_some(), "removal not applied on {:?}", node.status());
    }
    put(&remaining, "after-removal", "yes").await;
    for node in &remaining {
        assert_eq!(
            get(node, "after-removal").await.as_deref(),
            Some(&b"yes"[..])
        );
    }
    for n in nodes.iter().chain(std::iter::once(&joiner)) {
        n.handle.stop().await;
    }
}

async fn change_membership(nodes: &[&NodeHandle<KvMachine>], change: raft_kv::raft::ConfChange) {
    let start = Instant::now();
    loop {
        let leader = leader_of(nodes).await;
        match leader.change_membership(change.clone()).await {
            Ok(_) => return,
            Err(e) => {
                assert!(start.elapsed() < DEADLINE, "membership change failed: {e}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_reads_see_every_acknowledged_write() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (listeners, members) = bind_peers(3).await;
    let mut nodes = Vec::new();
    for (l, &(id, _)) in listeners.into_iter().zip(&members) {
        let mut c = config(id, &members, tmp.path());
        c.read_mode = raft_kv::raft::ReadMode::Lease;
        nodes.push(start_node(c, l, KvMachine::default()).await.expect("start"));
    }
    let refs: Vec<&NodeHandle<KvMachine>> = nodes.iter().map(|n| &n.handle).collect();
    for i in 0..30 {
        put(&refs, &format!("k{i}"), &format!("v{i}")).await;
        // Each acknowledged write is visible at once from every node.
        for node in &refs {
            assert_eq!(
                get(node, &format!("k{i}")).await.as_deref(),
                Some(format!("v{i}").as_bytes())
            );
        }
    }
    for n in &nodes {
        n.handle.stop().await;
    }
}

/// A joining node told no member's address (its members list names only itself)
/// still catches up: the leader, which has its address from the change that adds it,
/// dials it, and the joiner answers at the address the leader's handshake advertises
/// until the log gives it the committed one. Without the handshake's address the
/// joiner's answers have nowhere to go and it never catches up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_joiner_that_knows_no_member_answers_the_leader_that_dials_it() {
    use raft_kv::raft::{ConfChange, ConfChangeKind};

    let tmp = tempfile::tempdir().expect("tempdir");
    let (listeners, members) = bind_peers(2).await;
    let mut listeners = listeners.into_iter();
    let first = start_node(
        config(1, &members[..1], tmp.path()),
        listeners.next().expect("listener"),
        KvMachine::default(),
    )
    .await
    .expect("start");
    for i in 0..10 {
        put(&[&first.handle], &format!("k{i}"), &format!("v{i}")).await;
    }
    let joiner = start_joiner(
        config(2, &members[1..], tmp.path()),
        listeners.next().expect("listener"),
    )
    .await;
    assert_eq!(
        joiner.handle.transport().advertised_addr(),
        Some(members[1].1)
    );
    assert_eq!(joiner.handle.transport().peer_addr(1), None);

    let change = |kind, context: String| ConfChange {
        kind,
        node_id: 2,
        context: Bytes::from(context),
    };
    let addr2 = members[1].1.to_string();
    change_membership(&[&first.handle], change(ConfChangeKind::AddLearner, addr2)).await;
    let learned = joiner
        .handle
        .wait_for(DEADLINE, |s| s.learners == vec![2] && s.applied > 10)
        .await;
    assert!(
        learned.is_some(),
        "learner never caught up: {:?}",
        joiner.handle.status()
    );
    assert!(joiner.handle.transport().stats().claimed_addrs >= 1);
    // By now the bootstrap entry with node 1's committed address is applied, and
    // that address is the one used (it is the one node 1 advertised, too).
    assert_eq!(joiner.handle.transport().peer_addr(1), Some(members[0].1));

    // As a voter its acknowledgements are needed to commit.
    change_membership(
        &[&first.handle],
        change(ConfChangeKind::AddVoter, String::new()),
    )
    .await;
    put(&[&first.handle, &joiner.handle], "both", "yes").await;
    assert_eq!(
        get(&joiner.handle, "both").await.as_deref(),
        Some(&b"yes"[..])
    );
    first.handle.stop().await;
    joiner.handle.stop().await;
}
