//! Real processes: three `raft-kv-node` processes on 127.0.0.1 take writes
//! from several clients while members are killed with SIGKILL (followers and
//! the leader) and restarted from their data directories; at the end all
//! three are killed at once and restarted. Afterwards every acknowledged
//! write must be present, with its value, on every node.
//!
//! A second scenario adds a fourth member at run time, lets every node compact
//! its log past that change, and restarts the original members with the
//! original `--peers`: they must still reach the fourth member, whose address
//! only the replicated membership (now in their snapshots) knows.
//!
//! Every process is killed by a guard, also when the test fails; every wait is
//! on a condition with a deadline. `HAKIT_PROCESS_KILLS` sets the number of
//! kill/restart rounds (default 3).

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

const NODE_BIN: &str = env!("CARGO_BIN_EXE_raft-kv-node");
const IO_TIMEOUT: Duration = Duration::from_secs(5);
const STARTUP_DEADLINE: Duration = Duration::from_secs(30);
const PROGRESS_DEADLINE: Duration = Duration::from_secs(30);
/// Upper bound on writes per client thread, so the load loop is bounded.
const MAX_WRITES_PER_CLIENT: usize = 20_000;
const CLIENTS: usize = 3;

struct NodeProcess {
    id: u64,
    peer_addr: SocketAddr,
    client_addr: SocketAddr,
    data_dir: PathBuf,
    log_path: PathBuf,
    child: Option<Child>,
}

/// Owns the processes; kills whatever still runs when dropped.
struct Cluster {
    nodes: Vec<NodeProcess>,
    peers_arg: String,
    _dir: tempfile::TempDir,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            node.kill();
        }
        if thread::panicking() {
            for node in &self.nodes {
                let log = std::fs::read_to_string(&node.log_path).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(20).collect();
                eprintln!("--- node {} log tail ---", node.id);
                for line in tail.into_iter().rev() {
                    eprintln!("{line}");
                }
            }
        }
    }
}

impl NodeProcess {
    fn spawn(&mut self, peers_arg: &str) {
        self.spawn_with(peers_arg, &[]);
    }

    fn spawn_with(&mut self, peers_arg: &str, extra: &[&str]) {
        assert!(self.child.is_none(), "node {} already running", self.id);
        let log = File::options()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .expect("open node log");
        let child = Command::new(NODE_BIN)
            .args(["--id", &self.id.to_string()])
            .args(["--peers", peers_arg])
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(["--client-addr", &self.client_addr.to_string()])
            .args(["--tick-ms", "30"])
            .args(["--snapshot-every", "300"])
            .args(["--segment-bytes", &(256 << 10).to_string()])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn raft-kv-node");
        self.child = Some(child);
    }

    /// SIGKILL (what `Child::kill` sends on Unix), then reap.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn free_loopback_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr")
}

fn start_cluster() -> Cluster {
    start_cluster_of(3, 3)
}

/// Prepares `total` nodes and starts the first `running` of them; `--peers`
/// lists all `total`.
fn start_cluster_of(total: u64, running: usize) -> Cluster {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut nodes = Vec::new();
    for id in 1..=total {
        nodes.push(NodeProcess {
            id,
            peer_addr: free_loopback_addr(),
            client_addr: free_loopback_addr(),
            data_dir: dir.path().join(format!("node-{id}")),
            log_path: dir.path().join(format!("node-{id}.log")),
            child: None,
        });
    }
    let peers_arg = nodes
        .iter()
        .map(|n| format!("{}={}", n.id, n.peer_addr))
        .collect::<Vec<_>>()
        .join(",");
    let mut cluster = Cluster {
        nodes,
        peers_arg,
        _dir: dir,
    };
    let peers = cluster.peers_arg.clone();
    for node in cluster.nodes.iter_mut().take(running) {
        node.spawn(&peers);
    }
    cluster
}

/// Sends one request line and reads the first answer line.
fn request(addr: SocketAddr, line: &str) -> std::io::Result<(String, BufReader<TcpStream>)> {
    let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    (&stream).write_all(format!("{line}\n").as_bytes())?;
    let mut reader = BufReader::new(stream);
    let mut answer = String::new();
    reader.read_line(&mut answer)?;
    if answer.is_empty() {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    Ok((answer.trim_end().to_string(), reader))
}

fn status(addr: SocketAddr) -> Option<HashMap<String, String>> {
    let (line, _) = request(addr, "STATUS").ok()?;
    let rest = line.strip_prefix("STATUS ")?;
    Some(
        rest.split(' ')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

fn number(status: &HashMap<String, String>, field: &str) -> u64 {
    status
        .get(field)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("STATUS lacks {field}: {status:?}"))
}

fn leader_client_addr(clients: &[(u64, SocketAddr)]) -> Option<SocketAddr> {
    clients.iter().find_map(|&(_, addr)| {
        let s = status(addr)?;
        (s.get("role").map(String::as_str) == Some("Leader")).then_some(addr)
    })
}

fn wait_until(what: &str, deadline: Duration, mut condition: impl FnMut() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(start.elapsed() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(20));
    }
}

/// A client that writes distinct keys to whoever is leader, retrying a key
/// until it is acknowledged, and records what was acknowledged.
/// Every tenth acknowledged write, the client also reads the key back from
/// another node (round robin): a linearizable read issued after the
/// acknowledgement must see the value. Reads that fail (node down, no leader)
/// are skipped; a read that answers anything else is recorded as a violation.
fn client_loop(
    client: usize,
    nodes: Vec<(u64, SocketAddr)>,
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<(String, String)>>>,
    stale_reads: Arc<Mutex<Vec<String>>>,
    checked_reads: Arc<AtomicUsize>,
) {
    let mut leader: Option<SocketAddr> = None;
    let mut i = 0;
    while i < MAX_WRITES_PER_CLIENT && !stop.load(Ordering::Relaxed) {
        let key = format!("c{client}-k{i}");
        let value = format!("v{i}-of-c{client}");
        let Some(addr) = leader.or_else(|| leader_client_addr(&nodes)) else {
            thread::sleep(Duration::from_millis(20));
            continue;
        };
        match request(addr, &format!("PUT {key} {value}")) {
            Ok((answer, _)) if answer.starts_with("OK ") => {
                if i % 10 == 0 {
                    let (_, reader) = nodes[(i / 10) % nodes.len()];
                    if let Ok((read, _)) = request(reader, &format!("GET {key}"))
                        && !read.starts_with("ERR ")
                    {
                        checked_reads.fetch_add(1, Ordering::Relaxed);
                        if read != format!("VALUE {value}") {
                            stale_reads
                                .lock()
                                .expect("stale reads")
                                .push(format!("{key} read from {reader}: {read}"));
                        }
                    }
                }
                acked.lock().expect("acked").push((key, value));
                leader = Some(addr);
                i += 1;
            }
            _ => {
                // Not the leader any more, dead, or timed out: find it again
                // and retry the same key (a repeated put is harmless).
                leader = None;
                thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

fn dump(addr: SocketAddr) -> Option<HashMap<String, String>> {
    let (first, mut reader) = request(addr, "DUMP").ok()?;
    let count: usize = first.strip_prefix("DUMP ")?.parse().ok()?;
    let mut map = HashMap::with_capacity(count);
    let mut line = String::new();
    for _ in 0..count {
        line.clear();
        reader.read_line(&mut line).ok()?;
        let (k, v) = line.trim_end().split_once(' ')?;
        map.insert(k.to_string(), v.to_string());
    }
    Some(map)
}

#[test]
fn acknowledged_writes_survive_sigkill_and_restart_of_any_member() {
    let rounds: usize = std::env::var("HAKIT_PROCESS_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let mut cluster = start_cluster();
    let clients: Vec<(u64, SocketAddr)> = cluster
        .nodes
        .iter()
        .map(|n| (n.id, n.client_addr))
        .collect();
    wait_until("all nodes to answer", STARTUP_DEADLINE, || {
        clients.iter().all(|&(_, a)| status(a).is_some())
    });
    wait_until("a leader", STARTUP_DEADLINE, || {
        leader_client_addr(&clients).is_some()
    });

    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Vec::new()));
    let stale_reads = Arc::new(Mutex::new(Vec::new()));
    let checked_reads = Arc::new(AtomicUsize::new(0));
    let writers: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (nodes, stop, acked) = (clients.clone(), stop.clone(), acked.clone());
            let (stale_reads, checked) = (stale_reads.clone(), checked_reads.clone());
            thread::spawn(move || client_loop(c, nodes, stop, acked, stale_reads, checked))
        })
        .collect();
    let acked_count = || acked.lock().expect("acked").len();
    // Stop the writers whatever happens below.
    struct StopOnDrop(Arc<AtomicBool>);
    impl Drop for StopOnDrop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Relaxed);
        }
    }
    let _stop_guard = StopOnDrop(stop.clone());

    wait_until("first writes", PROGRESS_DEADLINE, || acked_count() >= 100);
    for round in 0..rounds {
        // Alternate between a follower and the leader.
        let leader = leader_client_addr(&clients);
        let victim = cluster
            .nodes
            .iter()
            .position(|n| (Some(n.client_addr) == leader) == (round % 2 == 1))
            .unwrap_or(round % cluster.nodes.len());
        let before = acked_count();
        eprintln!(
            "round {round}: SIGKILL node {} ({}) with {before} writes acknowledged",
            cluster.nodes[victim].id,
            if Some(cluster.nodes[victim].client_addr) == leader {
                "leader"
            } else {
                "follower"
            }
        );
        cluster.nodes[victim].kill();
        // The two survivors keep committing.
        wait_until(
            "progress without the killed node",
            PROGRESS_DEADLINE,
            || acked_count() >= before + 100,
        );
        let peers = cluster.peers_arg.clone();
        cluster.nodes[victim].spawn(&peers);
        let victim_addr = cluster.nodes[victim].client_addr;
        wait_until("restarted node to answer", STARTUP_DEADLINE, || {
            status(victim_addr).is_some()
        });
        let target = leader_client_addr(&clients)
            .and_then(status)
            .map(|s| number(&s, "commit"))
            .unwrap_or(0);
        wait_until("restarted node to catch up", PROGRESS_DEADLINE, || {
            status(victim_addr).is_some_and(|s| number(&s, "applied") >= target)
        });
        let after = acked_count();
        wait_until("progress after restart", PROGRESS_DEADLINE, || {
            acked_count() >= after + 50
        });
    }
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        writer.join().expect("writer thread");
    }

    // Finally kill every member at once: acknowledged writes were fsynced on
    // a majority, so a full-cluster restart must still have them all.
    for node in &mut cluster.nodes {
        node.kill();
    }
    let peers = cluster.peers_arg.clone();
    for node in &mut cluster.nodes {
        node.spawn(&peers);
    }
    wait_until(
        "all nodes to answer after a full restart",
        STARTUP_DEADLINE,
        || clients.iter().all(|&(_, a)| status(a).is_some()),
    );
    wait_until("a leader after a full restart", STARTUP_DEADLINE, || {
        leader_client_addr(&clients).is_some()
    });

    let stale_reads = stale_reads.lock().expect("stale reads").clone();
    assert!(
        stale_reads.is_empty(),
        "reads missed acknowledged writes: {stale_reads:?}"
    );
    let checked_reads = checked_reads.load(Ordering::Relaxed);
    assert!(checked_reads > 0, "no read-after-write was checked");
    let acked = acked.lock().expect("acked").clone();
    assert!(
        acked.len() >= 100 * (rounds + 1),
        "too few writes: {}",
        acked.len()
    );
    for &(id, addr) in &clients {
        let mut contents = None;
        wait_until("a linearizable dump", PROGRESS_DEADLINE, || {
            contents = dump(addr);
            contents.is_some()
        });
        let contents = contents.unwrap_or_default();
        let missing: Vec<&(String, String)> = acked
            .iter()
            .filter(|(k, v)| contents.get(k) != Some(v))
            .collect();
        assert!(
            missing.is_empty(),
            "node {id} lacks {} of {} acknowledged writes, e.g. {:?}",
            missing.len(),
            acked.len(),
            &missing[..missing.len().min(5)]
        );
    }
    eprintln!(
        "{} acknowledged writes present on all 3 nodes after {rounds} SIGKILL/restart rounds and a full-cluster SIGKILL; {checked_reads} reads after writes, on other nodes, all current",
        acked.len()
    );
}

fn put_via_leader(clients: &[(u64, SocketAddr)], key: &str, value: &str) {
    let start = Instant::now();
    loop {
        if let Some(addr) = leader_client_addr(clients)
            && let Ok((answer, _)) = request(addr, &format!("PUT {key} {value}"))
            && answer.starts_with("OK ")
        {
            return;
        }
        assert!(
            start.elapsed() < PROGRESS_DEADLINE,
            "PUT {key} never acknowledged"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

/// Asks the leader for a membership change until it is committed; returns
/// the change's log index.
fn member_change(clients: &[(u64, SocketAddr)], line: &str) -> u64 {
    let start = Instant::now();
    loop {
        if let Some(addr) = leader_client_addr(clients)
            && let Ok((answer, _)) = request(addr, line)
            && let Some(index) = answer.strip_prefix("OK ")
        {
            return index.parse().expect("OK <index>");
        }
        assert!(
            start.elapsed() < PROGRESS_DEADLINE,
            "{line} never acknowledged"
        );
        thread::sleep(Duration::from_millis(50));
    }
}

fn get(addr: SocketAddr, key: &str) -> Option<String> {
    let (answer, _) = request(addr, &format!("GET {key}")).ok()?;
    answer.strip_prefix("VALUE ").map(str::to_string)
}

/// A fourth process joins as a learner, catches up, is promoted, and one of
/// the original members is removed; the cluster keeps every write.
#[test]
fn a_process_joins_is_promoted_and_another_leaves() {
    let mut cluster = start_cluster_of(4, 3);
    let all: Vec<(u64, SocketAddr)> = cluster
        .nodes
        .iter()
        .map(|n| (n.id, n.client_addr))
        .collect();
    let first_three = all[..3].to_vec();
    wait_until("a leader", STARTUP_DEADLINE, || {
        leader_client_addr(&first_three).is_some()
    });
    for i in 0..50 {
        put_via_leader(&first_three, &format!("before{i}"), "x");
    }

    let peers = cluster.peers_arg.clone();
    cluster.nodes[3].spawn_with(&peers, &["--join"]);
    let joiner = cluster.nodes[3].client_addr;
    wait_until("the joiner to answer", STARTUP_DEADLINE, || {
        status(joiner).is_some()
    });
    let joiner_peer = cluster.nodes[3].peer_addr;
    member_change(&first_three, &format!("MEMBER ADD-LEARNER 4 {joiner_peer}"));
    wait_until("the learner to catch up", PROGRESS_DEADLINE, || {
        get(joiner, "before49").as_deref() == Some("x")
    });
    member_change(&first_three, "MEMBER PROMOTE 4");

    member_change(&all, "MEMBER REMOVE 1");
    cluster.nodes[0].kill();
    let remaining = all[1..].to_vec();
    for i in 0..50 {
        put_via_leader(&remaining, &format!("after{i}"), "y");
    }
    for &(id, addr) in &remaining {
        let mut contents = None;
        wait_until("a linearizable dump", PROGRESS_DEADLINE, || {
            contents = dump(addr);
            contents.is_some()
        });
        let contents = contents.unwrap_or_default();
        for i in 0..50 {
            assert_eq!(
                contents.get(&format!("before{i}")).map(String::as_str),
                Some("x"),
                "node {id}"
            );
            assert_eq!(
                contents.get(&format!("after{i}")).map(String::as_str),
                Some("y"),
                "node {id}"
            );
        }
    }
}

/// Members added at run time are reachable after a restart from a snapshot
/// that covers their addition, with `--peers` listing only the original three.
#[test]
fn a_member_added_at_run_time_is_reached_after_compaction_and_restart() {
    // Snapshot every 20 entries so the membership changes are soon compacted away.
    const SNAPSHOT_EVERY: &[&str] = &["--snapshot-every", "20"];
    let mut cluster = start_cluster_of(4, 0);
    let original_peers = cluster
        .nodes
        .iter()
        .take(3)
        .map(|n| format!("{}={}", n.id, n.peer_addr))
        .collect::<Vec<_>>()
        .join(",");
    for node in cluster.nodes.iter_mut().take(3) {
        node.spawn_with(&original_peers, SNAPSHOT_EVERY);
    }
    let all: Vec<(u64, SocketAddr)> = cluster
        .nodes
        .iter()
        .map(|n| (n.id, n.client_addr))
        .collect();
    let first_three = all[..3].to_vec();
    wait_until("a leader", STARTUP_DEADLINE, || {
        leader_client_addr(&first_three).is_some()
    });
    for i in 0..10 {
        put_via_leader(&first_three, &format!("before{i}"), "x");
    }

    // The fourth member joins; only the membership change tells the others
    // its address.
    let peers = cluster.peers_arg.clone();
    cluster.nodes[3].spawn_with(&peers, &[&["--join"], SNAPSHOT_EVERY].concat());
    let fourth = cluster.nodes[3].client_addr;
    wait_until("the fourth node to answer", STARTUP_DEADLINE, || {
        status(fourth).is_some()
    });
    let fourth_peer = cluster.nodes[3].peer_addr;
    member_change(&first_three, &format!("MEMBER ADD-LEARNER 4 {fourth_peer}"));
    wait_until("the learner to catch up", PROGRESS_DEADLINE, || {
        get(fourth, "before9").as_deref() == Some("x")
    });
    let promoted_at = member_change(&first_three, "MEMBER PROMOTE 4");

    // Compaction: every original member snapshots past both changes.
    for i in 0..60 {
        put_via_leader(&all, &format!("middle{i}"), "y");
    }
    wait_until("snapshots covering the changes", PROGRESS_DEADLINE, || {
        first_three
            .iter()
            .all(|&(_, addr)| status(addr).is_some_and(|s| number(&s, "snapshot") > promoted_at))
    });

    // Restart two originals from their snapshots with the original --peers,
    // and leave the third down: of the voters {1, 2, 3, 4}, the three running
    // ones can elect a leader and commit only if nodes 2 and 3 talk to node 4.
    for node in cluster.nodes.iter_mut().take(3) {
        node.kill();
    }
    for node in cluster.nodes.iter_mut().skip(1).take(2) {
        node.spawn_with(&original_peers, SNAPSHOT_EVERY);
    }
    let running = all[1..].to_vec();
    for &(id, addr) in &running[..2] {
        wait_until("a restarted node to answer", STARTUP_DEADLINE, || {
            status(addr).is_some()
        });
        let restarted = status(addr).expect("status");
        assert!(
            number(&restarted, "snapshot") > promoted_at,
            "node {id} restarted from a snapshot covering the changes: {restarted:?}"
        );
    }
    for i in 0..10 {
        put_via_leader(&running, &format!("after{i}"), "z");
    }
    for &(id, addr) in &running {
        let mut contents = None;
        wait_until("a linearizable dump", PROGRESS_DEADLINE, || {
            contents = dump(addr);
            contents.is_some()
        });
        let contents = contents.unwrap_or_default();
        for (prefix, count, value) in [("before", 10, "x"), ("middle", 60, "y"), ("after", 10, "z")]
        {
            for i in 0..count {
                assert_eq!(
                    contents.get(&format!("{prefix}{i}")).map(String::as_str),
                    Some(value),
                    "node {id}, {prefix}{i}"
                );
            }
        }
    }
}

/// The bootstrap members' addresses are replicated state too (the bootstrap log):
/// two nodes join with `--peers` naming only the leader and themselves, one while
/// the leader's log still starts at index 1 and one after every original member
/// compacted it (so it gets a snapshot), and both must reach the other original
/// members; then two originals restart with `--peers` naming only themselves and
/// must reach each other and the third.
#[test]
fn joiners_and_restarts_with_partial_peers_reach_the_bootstrap_members() {
    const SNAPSHOT_EVERY: &[&str] = &["--snapshot-every", "20"];
    let mut cluster = start_cluster_of(5, 0);
    let original_peers = cluster
        .nodes
        .iter()
        .take(3)
        .map(|n| format!("{}={}", n.id, n.peer_addr))
        .collect::<Vec<_>>()
        .join(",");
    for node in cluster.nodes.iter_mut().take(3) {
        node.spawn_with(&original_peers, SNAPSHOT_EVERY);
    }
    let all: Vec<(u64, SocketAddr)> = cluster
        .nodes
        .iter()
        .map(|n| (n.id, n.client_addr))
        .collect();
    let first_three = all[..3].to_vec();
    let mut leader = None;
    wait_until("a leader", STARTUP_DEADLINE, || {
        leader = first_three.iter().find_map(|&(id, addr)| {
            let s = status(addr)?;
            (s.get("role").map(String::as_str) == Some("Leader")).then_some(id)
        });
        leader.is_some()
    });
    let leader = leader.expect("a leader") as usize;
    let leader_peer = format!("{leader}={}", cluster.nodes[leader - 1].peer_addr);
    let others: Vec<usize> = (1..=3).filter(|&id| id != leader).collect();

    // Joins before any compaction: node 4 reads the members from the log.
    let join = |cluster: &mut Cluster, id: usize, key: &str| {
        let own = format!("{id}={}", cluster.nodes[id - 1].peer_addr);
        let peers = format!("{own},{leader_peer}");
        cluster.nodes[id - 1].spawn_with(&peers, &[&["--join"], SNAPSHOT_EVERY].concat());
        let client = cluster.nodes[id - 1].client_addr;
        wait_until("the joiner to answer", STARTUP_DEADLINE, || {
            status(client).is_some()
        });
        let peer = cluster.nodes[id - 1].peer_addr;
        member_change(&all, &format!("MEMBER ADD-LEARNER {id} {peer}"));
        wait_until("the learner to catch up", PROGRESS_DEADLINE, || {
            get(client, key).as_deref() == Some("x")
        });
        member_change(&all, &format!("MEMBER PROMOTE {id}"));
        status(client).expect("joiner status")
    };
    put_via_leader(&first_three, "early", "x");
    let fourth = join(&mut cluster, 4, "early");
    assert_eq!(
        number(&fourth, "snapshot"),
        0,
        "node 4 got the log, not a snapshot"
    );

    // Joins after every original member compacted past the bootstrap log.
    for i in 0..40 {
        put_via_leader(&all, &format!("before{i}"), "x");
    }
    wait_until(
        "snapshots past the bootstrap log",
        PROGRESS_DEADLINE,
        || {
            first_three
                .iter()
                .all(|&(_, addr)| status(addr).is_some_and(|s| number(&s, "snapshot") > 0))
        },
    );
    let fifth = join(&mut cluster, 5, "before39");
    assert!(
        number(&fifth, "snapshot") > 0,
        "node 5 got a snapshot: {fifth:?}"
    );

    // Of the voters {1..5}, with the leader and one other original down, the
    // three running nodes commit only if nodes 4 and 5 talk to the third
    // original, which their --peers do not name.
    let (down, third) = (others[0], others[1]);
    cluster.nodes[leader - 1].kill();
    cluster.nodes[down - 1].kill();
    let running: Vec<(u64, SocketAddr)> = [third, 4, 5].iter().map(|&id| all[id - 1]).collect();
    for i in 0..10 {
        put_via_leader(&running, &format!("middle{i}"), "y");
    }

    // The two originals restart naming only themselves, and the joiners go
    // down: the originals must reach each other and the third by the
    // replicated addresses alone.
    for id in [leader, down] {
        let own = format!("{id}={}", cluster.nodes[id - 1].peer_addr);
        cluster.nodes[id - 1].spawn_with(&own, SNAPSHOT_EVERY);
    }
    let originals: Vec<(u64, SocketAddr)> = all[..3].to_vec();
    for &(_, addr) in &originals {
        wait_until("a restarted node to answer", STARTUP_DEADLINE, || {
            status(addr).is_some()
        });
    }
    // Both restarted nodes must have the middle writes before the joiners go.
    for &(id, addr) in &originals {
        wait_until(&format!("node {id} to catch up"), PROGRESS_DEADLINE, || {
            get(addr, "middle9").as_deref() == Some("y")
        });
    }
    cluster.nodes[3].kill();
    cluster.nodes[4].kill();
    for i in 0..10 {
        put_via_leader(&originals, &format!("after{i}"), "z");
    }
    for &(id, addr) in &originals {
        let mut contents = None;
        wait_until("a linearizable dump", PROGRESS_DEADLINE, || {
            contents = dump(addr);
            contents.is_some()
        });
        let contents = contents.unwrap_or_default();
        for (prefix, count, value) in [("before", 40, "x"), ("middle", 10, "y"), ("after", 10, "z")]
        {
            for i in 0..count {
                assert_eq!(
                    contents.get(&format!("{prefix}{i}")).map(String::as_str),
                    Some(value),
                    "node {id}, {prefix}{i}"
                );
            }
        }
    }
}
