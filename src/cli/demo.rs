//! `hakit demo`: the building blocks working together on loopback, with a failure.
//!
//! Three Raft key-value nodes (`raft-kv`: a real WAL with one fsync per batch, real TCP
//! between peers) each serve the node line protocol on a client port. A health monitor
//! (`healthcheck`) runs a tcp-check on every client port and feeds its verdicts to a
//! leastconn balancer (`balancer-algos`, on `ebtree`). Concurrent clients pick a node
//! through the balancer, follow `NOTLEADER` redirects and write keys.
//!
//! Half-way through, the leader is killed. The demo measures how long writes stalled
//! (the recovery time), checks that every acknowledged write is still there (the
//! recovery point must be zero), restarts the dead node from its data directory and waits
//! until it has caught up and its health check passes again. The exit status is non-zero
//! if any of those checks fails.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use balancer_algos::{
    Algorithm, Balancer, DispatchOptions, Request, ServerConfig, ServerId, ServerState,
};
use healthcheck::{
    CheckSpec, CheckTiming, HealthState, Monitor, MonitorConfig, RequestOutcome, TargetId,
    TargetSpec,
    probe::{ExpectSpec, TcpSpec, TcpStep},
};
use raft_kv::node::client::serve_kv_clients;
use raft_kv::node::{KvMachine, NodeConfig, NodeHandle, start_node};
use raft_kv::raft::Role;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Options of `hakit demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Writes to make in all: half before the leader is killed, half after.
    #[arg(long, default_value_t = 2000)]
    writes: u64,
    /// Clients writing at once.
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// Where the nodes keep their data (default: a temporary directory, removed at exit).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

/// How long one client request may take before the client gives up on that node.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
/// How long one write may keep retrying before it counts as failed (not acknowledged).
const WRITE_DEADLINE: Duration = Duration::from_secs(15);
/// Pause between retries while no leader is known.
const RETRY_PAUSE: Duration = Duration::from_millis(10);
/// Bound on every wait for the cluster to reach a state.
const CLUSTER_DEADLINE: Duration = Duration::from_secs(30);

/// Runs the demo; `Ok(false)` means it ran but a check failed.
pub fn run(args: DemoArgs) -> anyhow::Result<bool> {
    if args.writes < 2 || args.clients == 0 {
        bail!("--writes must be at least 2 and --clients at least 1");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    let temp;
    let data_dir = match &args.data_dir {
        Some(dir) => dir.clone(),
        None => {
            temp = tempfile::tempdir().context("creating a temporary data directory")?;
            temp.path().to_path_buf()
        }
    };
    runtime.block_on(demo(args, &data_dir))
}

/// One node of the demo cluster, running or not.
struct DemoNode {
    id: u64,
    peer_addr: SocketAddr,
    client_addr: SocketAddr,
    dir: PathBuf,
    running: Option<RunningDemoNode>,
}

struct RunningDemoNode {
    handle: NodeHandle<KvMachine>,
    task: JoinHandle<Result<(), raft_kv::Error>>,
    clients: JoinHandle<std::io::Result<()>>,
}

impl DemoNode {
    async fn start(
        &mut self,
        members: &[(u64, SocketAddr)],
        peer_listener: TcpListener,
    ) -> anyhow::Result<()> {
        let client_listener = TcpListener::bind(self.client_addr).await.with_context(|| {
            format!("binding node {} client port {}", self.id, self.client_addr)
        })?;
        let mut config = NodeConfig::new(self.id, members.to_vec(), self.dir.clone());
        // Fast failure detection, as keepalived's advert_int 0.1: a follower campaigns
        // 100 to 200 ms after the leader's last heartbeat.
        config.tick = Duration::from_millis(10);
        config.election_tick = 10;
        config.heartbeat_tick = 1;
        let node = start_node(config, peer_listener, KvMachine::default())
            .await
            .with_context(|| format!("starting node {}", self.id))?;
        let clients = tokio::spawn(serve_kv_clients(
            client_listener,
            node.handle.clone(),
            REQUEST_TIMEOUT,
        ));
        self.running = Some(RunningDemoNode {
            handle: node.handle,
            task: node.task,
            clients,
        });
        Ok(())
    }

    /// Stops the node the hard way: its tasks are aborted and its sockets closed, as if
    /// the process had died. What it had fsynced stays on disk.
    async fn kill(&mut self) {
        if let Some(node) = self.running.take() {
            node.clients.abort();
            node.task.abort();
            node.handle.transport().shutdown();
            let _ = node.task.await;
            let _ = node.clients.await;
        }
    }

    fn handle(&self) -> Option<&NodeHandle<KvMachine>> {
        self.running.as_ref().map(|r| &r.handle)
    }
}

/// What the clients share.
struct Shared {
    balancer: Mutex<Box<dyn Balancer + Send>>,
    monitor: Monitor,
    targets: HashMap<u64, TargetId>,
    client_addrs: HashMap<u64, SocketAddr>,
    next_write: AtomicU64,
    redirects: AtomicU64,
    retries: AtomicU64,
    picks: Mutex<BTreeMap<u64, u64>>,
    /// Acknowledged writes, in the order their acknowledgements arrived.
    acked: Mutex<Vec<Ack>>,
    failed: AtomicU64,
    epoch: Instant,
}

impl Shared {
    fn pick(&self) -> Option<u64> {
        let mut balancer = self.balancer.lock().ok()?;
        let id = balancer.pick(&Request::default())?;
        balancer.connection_started(id);
        Some(u64::from(id.0))
    }

    fn done(&self, node: u64) {
        if let (Ok(mut balancer), Ok(id)) = (self.balancer.lock(), u32::try_from(node)) {
            balancer.connection_ended(ServerId(id));
        }
    }

    fn report(&self, node: u64, outcome: RequestOutcome) {
        if let Some(target) = self.targets.get(&node) {
            self.monitor.report_outcome(*target, outcome);
        }
    }
}

async fn demo(args: DemoArgs, data_dir: &Path) -> anyhow::Result<bool> {
    let started = Instant::now();
    let mut nodes = Vec::new();
    let mut peer_listeners = Vec::new();
    for id in 1..=3u64 {
        let peer = TcpListener::bind("127.0.0.1:0").await?;
        let client = TcpListener::bind("127.0.0.1:0").await?;
        let dir = data_dir.join(format!("node-{id}"));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        nodes.push(DemoNode {
            id,
            peer_addr: peer.local_addr()?,
            client_addr: client.local_addr()?,
            dir,
            running: None,
        });
        peer_listeners.push(peer);
        // The client port is bound again by the node; dropping it here frees it.
        drop(client);
    }
    let members: Vec<(u64, SocketAddr)> = nodes.iter().map(|n| (n.id, n.peer_addr)).collect();
    for (node, listener) in nodes.iter_mut().zip(peer_listeners) {
        node.start(&members, listener).await?;
    }
    println!(
        "hakit demo: 3 Raft key-value nodes on 127.0.0.1, data in {}",
        data_dir.display()
    );
    for node in &nodes {
        println!(
            "  node {}: peers {}  clients {}",
            node.id, node.peer_addr, node.client_addr
        );
    }

    let first_leader = wait_for_leader(&nodes, None).await?;
    println!("  node {first_leader} is the leader");

    // Health checks: a tcp-check that asks each node for its status line.
    let (monitor, mut changes) = Monitor::new(MonitorConfig::default());
    let check = CheckSpec::Tcp(TcpSpec {
        steps: vec![
            TcpStep::Send(b"STATUS\n".to_vec()),
            TcpStep::Expect(ExpectSpec::String("STATUS id=".into())),
        ],
        ..TcpSpec::default()
    })
    .build()?;
    let timing = CheckTiming {
        inter: Duration::from_millis(100),
        rise: 2,
        fall: 2,
        ..CheckTiming::default()
    };
    let mut targets = HashMap::new();
    let mut target_nodes = HashMap::new();
    for node in &nodes {
        let mut spec = TargetSpec::new(node.client_addr, check.clone());
        spec.timing = timing;
        spec.timeouts.connect = Duration::from_millis(200);
        spec.timeouts.check = Duration::from_millis(500);
        let target = monitor.add(spec)?;
        targets.insert(node.id, target);
        target_nodes.insert(target, node.id);
    }

    let servers = nodes
        .iter()
        .map(|n| ServerConfig::new(n.id as u32, 1))
        .collect();
    let balancer = Algorithm::LeastConn.build(servers, DispatchOptions::default())?;
    let shared = Arc::new(Shared {
        balancer: Mutex::new(balancer),
        monitor,
        targets,
        client_addrs: nodes.iter().map(|n| (n.id, n.client_addr)).collect(),
        next_write: AtomicU64::new(0),
        redirects: AtomicU64::new(0),
        retries: AtomicU64::new(0),
        picks: Mutex::new(BTreeMap::new()),
        acked: Mutex::new(Vec::new()),
        failed: AtomicU64::new(0),
        epoch: Instant::now(),
    });

    // Health verdicts drive the balancer, and are kept for the report.
    let health_log = Arc::new(Mutex::new(Vec::<(u64, HealthState, Instant)>::new()));
    let health_task = {
        let shared = shared.clone();
        let health_log = health_log.clone();
        tokio::spawn(async move {
            while let Some(change) = changes.recv().await {
                let Some(&node) = target_nodes.get(&change.target) else {
                    continue;
                };
                let state = match change.to {
                    HealthState::Up => ServerState::Up,
                    HealthState::Down => ServerState::Down,
                };
                if let Ok(mut balancer) = shared.balancer.lock() {
                    let now = shared.epoch.elapsed();
                    let _ = balancer.set_state(ServerId(node as u32), state, now);
                }
                if let Ok(mut log) = health_log.lock() {
                    log.push((node, change.to, change.at));
                }
            }
        })
    };

    let total = args.writes;
    let writers: Vec<_> = (0..args.clients)
        .map(|_| tokio::spawn(writer(shared.clone(), total)))
        .collect();

    // Kill the leader once half the writes are acknowledged.
    let half = (total / 2) as usize;
    wait_until(CLUSTER_DEADLINE, || {
        shared.acked.lock().map(|a| a.len() >= half).unwrap_or(true)
            || shared.next_write.load(Ordering::Relaxed) >= total
    })
    .await
    .context("waiting for half the writes")?;
    let victim = current_leader(&nodes).unwrap_or(first_leader);
    let acked_before_kill = shared.acked.lock().map(|a| a.len()).unwrap_or(0);
    let killed_at = Instant::now();
    if let Some(node) = nodes.iter_mut().find(|n| n.id == victim) {
        node.kill().await;
    }
    println!("  killed the leader, node {victim}, after {acked_before_kill} acknowledged writes");
    let new_leader = wait_for_leader(&nodes, Some(victim)).await?;
    let elected_after = killed_at.elapsed();
    println!(
        "  node {new_leader} is the new leader, {} ms later",
        elected_after.as_millis()
    );

    for w in writers {
        w.await.context("a writer task failed")?;
    }

    // Restart the dead node from its data directory; it must catch up.
    let restart_at = Instant::now();
    let victim_index = nodes
        .iter()
        .position(|n| n.id == victim)
        .context("victim node")?;
    let peer_listener = TcpListener::bind(nodes[victim_index].peer_addr).await?;
    nodes[victim_index].start(&members, peer_listener).await?;
    let leader_commit = nodes
        .iter()
        .filter_map(|n| n.handle())
        .map(|h| h.status())
        .find(|s| s.role == Role::Leader)
        .map(|s| s.commit)
        .unwrap_or(0);
    let caught_up = match nodes[victim_index].handle() {
        Some(h) => h
            .wait_for(CLUSTER_DEADLINE, |s| s.applied >= leader_commit)
            .await
            .is_some(),
        None => false,
    };
    let caught_up_after = restart_at.elapsed();
    let healthy_again = wait_until(CLUSTER_DEADLINE, || {
        health_log.lock().is_ok_and(|log| {
            log.iter()
                .any(|(n, s, at)| *n == victim && *s == HealthState::Up && *at > restart_at)
        })
    })
    .await
    .is_ok();

    // The recovery point: every acknowledged write must be readable from the leader.
    let leader = wait_for_leader(&nodes, None).await?;
    let stored = dump(shared.client_addrs[&leader]).await?;
    let acked = shared.acked.lock().map(|a| a.clone()).unwrap_or_default();
    let lost: Vec<&str> = acked
        .iter()
        .filter(|a| stored.get(&a.key) != Some(&a.value))
        .map(|a| a.key.as_str())
        .collect();

    // The recovery time: from the kill to the first write a surviving node acknowledged;
    // and the longest stretch without any acknowledged write.
    let longest_gap = acked
        .windows(2)
        .map(|w| w[1].at.saturating_duration_since(w[0].at))
        .max()
        .unwrap_or_default();
    let first_after_kill = acked
        .iter()
        .find(|a| a.node != victim && a.at > killed_at)
        .map(|a| a.at - killed_at);
    let marked_down = health_log.lock().ok().and_then(|log| {
        log.iter()
            .find(|(n, s, at)| *n == victim && *s == HealthState::Down && *at > killed_at)
            .map(|(_, _, at)| *at - killed_at)
    });
    let leader_status = nodes
        .iter()
        .filter_map(|n| n.handle())
        .map(|h| h.status())
        .find(|s| s.id == leader);

    println!();
    println!("  writes acknowledged           {} of {total}", acked.len());
    println!(
        "  writes failed (not acked)     {}",
        shared.failed.load(Ordering::Relaxed)
    );
    println!(
        "  acknowledged writes lost      {}   (recovery point: must be 0)",
        lost.len()
    );
    println!(
        "  leader elected after kill     {} ms",
        elected_after.as_millis()
    );
    match first_after_kill {
        Some(d) => println!(
            "  first write acked by survivor {} ms after the kill   (recovery time)",
            d.as_millis()
        ),
        None => println!("  first write acked by survivor none"),
    }
    println!(
        "  longest gap between acks      {} ms",
        longest_gap.as_millis()
    );
    match marked_down {
        Some(d) => println!(
            "  health check marked it down   {} ms after the kill",
            d.as_millis()
        ),
        None => println!("  health check marked it down   not seen"),
    }
    println!(
        "  restarted node caught up      {} ({} ms, to index {leader_commit})",
        if caught_up { "yes" } else { "NO" },
        caught_up_after.as_millis()
    );
    println!(
        "  restarted node healthy again  {}",
        if healthy_again { "yes" } else { "NO" }
    );
    let picks = shared.picks.lock().map(|p| p.clone()).unwrap_or_default();
    let picks: Vec<String> = picks
        .iter()
        .map(|(n, c)| format!("node {n}: {c}"))
        .collect();
    println!(
        "  leastconn picks               {}  (redirects to the leader {}, retries {})",
        picks.join(", "),
        shared.redirects.load(Ordering::Relaxed),
        shared.retries.load(Ordering::Relaxed)
    );
    if let Some(s) = leader_status
        && s.commit_batches > 0
    {
        println!(
            "  leader fsyncs per commit batch {:.2}  ({} syncs, {} batches)",
            s.wal_syncs as f64 / s.commit_batches as f64,
            s.wal_syncs,
            s.commit_batches
        );
    }
    println!(
        "  total time                    {:.1} s",
        started.elapsed().as_secs_f64()
    );

    health_task.abort();
    for node in &mut nodes {
        node.kill().await;
    }

    let ok = lost.is_empty() && caught_up && healthy_again && !acked.is_empty();
    if !lost.is_empty() {
        eprintln!(
            "error: acknowledged writes lost: {:?}",
            &lost[..lost.len().min(10)]
        );
    }
    Ok(ok)
}

/// One client: takes write numbers until all are taken; each write retries across
/// nodes until acknowledged or its deadline passes.
async fn writer(shared: Arc<Shared>, total: u64) {
    let mut connections: HashMap<u64, BufReader<TcpStream>> = HashMap::new();
    loop {
        let seq = shared.next_write.fetch_add(1, Ordering::Relaxed);
        if seq >= total {
            return;
        }
        let key = format!("key-{seq:06}");
        let value = format!("value-{seq}");
        let deadline = Instant::now() + WRITE_DEADLINE;
        let mut redirect: Option<u64> = None;
        let acked_by = loop {
            if Instant::now() > deadline {
                break None;
            }
            // A redirect goes straight to the named leader; otherwise the balancer
            // picks, and the pick counts as a connection until the answer is in.
            let (node, picked) = match redirect.take() {
                Some(node) => (node, false),
                None => match shared.pick() {
                    Some(node) => {
                        if let Ok(mut picks) = shared.picks.lock() {
                            *picks.entry(node).or_default() += 1;
                        }
                        (node, true)
                    }
                    None => {
                        shared.retries.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(RETRY_PAUSE).await;
                        continue;
                    }
                },
            };
            let Some(&addr) = shared.client_addrs.get(&node) else {
                continue;
            };
            let reply = put(&mut connections, node, addr, &key, &value).await;
            if picked {
                shared.done(node);
            }
            match reply {
                Ok(PutReply::Ok) => {
                    shared.report(node, RequestOutcome::Success);
                    break Some(node);
                }
                Ok(PutReply::NotLeader(Some(leader))) if leader != node => {
                    shared.redirects.fetch_add(1, Ordering::Relaxed);
                    redirect = Some(leader);
                }
                Ok(_) => {
                    shared.retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(RETRY_PAUSE).await;
                }
                Err(_) => {
                    connections.remove(&node);
                    shared.report(node, RequestOutcome::ConnectError);
                    shared.retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(RETRY_PAUSE).await;
                }
            }
        };
        match acked_by {
            Some(node) => {
                if let Ok(mut log) = shared.acked.lock() {
                    log.push(Ack {
                        key,
                        value,
                        node,
                        at: Instant::now(),
                    });
                }
            }
            None => {
                shared.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// One acknowledged write.
#[derive(Clone)]
struct Ack {
    key: String,
    value: String,
    /// The node that acknowledged it.
    node: u64,
    at: Instant,
}

enum PutReply {
    Ok,
    NotLeader(Option<u64>),
    Other,
}

async fn put(
    connections: &mut HashMap<u64, BufReader<TcpStream>>,
    node: u64,
    addr: SocketAddr,
    key: &str,
    value: &str,
) -> anyhow::Result<PutReply> {
    let conn = match connections.entry(node) {
        Entry::Occupied(e) => e.into_mut(),
        Entry::Vacant(e) => {
            let stream = tokio::time::timeout(REQUEST_TIMEOUT, TcpStream::connect(addr)).await??;
            stream.set_nodelay(true)?;
            e.insert(BufReader::new(stream))
        }
    };
    let line = tokio::time::timeout(REQUEST_TIMEOUT, async {
        conn.get_mut()
            .write_all(format!("PUT {key} {value}\n").as_bytes())
            .await?;
        let mut line = String::new();
        let n = (&mut *conn).take(64 * 1024).read_line(&mut line).await?;
        if n == 0 {
            bail!("node {node} closed the connection");
        }
        Ok(line)
    })
    .await??;
    let mut words = line.split_whitespace();
    Ok(match (words.next(), words.next(), words.next()) {
        (Some("OK"), _, _) => PutReply::Ok,
        (Some("ERR"), Some("NOTLEADER"), leader) => {
            PutReply::NotLeader(leader.and_then(|l| l.parse().ok()))
        }
        _ => PutReply::Other,
    })
}

/// Reads every key and value from a node with the `DUMP` command.
async fn dump(addr: SocketAddr) -> anyhow::Result<HashMap<String, String>> {
    let stream = TcpStream::connect(addr).await?;
    let mut conn = BufReader::new(stream);
    conn.get_mut().write_all(b"DUMP\n").await?;
    let mut line = String::new();
    tokio::time::timeout(REQUEST_TIMEOUT, conn.read_line(&mut line)).await??;
    let count: usize = match line.split_whitespace().collect::<Vec<_>>()[..] {
        ["DUMP", n] => n
            .parse()
            .with_context(|| format!("bad DUMP count in {line:?}"))?,
        _ => bail!("unexpected answer to DUMP from {addr}: {line:?}"),
    };
    let mut stored = HashMap::with_capacity(count);
    for _ in 0..count {
        line.clear();
        tokio::time::timeout(REQUEST_TIMEOUT, conn.read_line(&mut line)).await??;
        let mut words = line.split_whitespace();
        if let (Some(k), Some(v)) = (words.next(), words.next()) {
            stored.insert(k.to_owned(), v.to_owned());
        }
    }
    Ok(stored)
}

fn current_leader(nodes: &[DemoNode]) -> Option<u64> {
    nodes
        .iter()
        .filter_map(|n| n.handle())
        .map(|h| h.status())
        .filter(|s| s.role == Role::Leader)
        .max_by_key(|s| s.term)
        .map(|s| s.id)
}

/// Waits for a leader other than `not`, seen by the leader itself.
async fn wait_for_leader(nodes: &[DemoNode], not: Option<u64>) -> anyhow::Result<u64> {
    let mut found = None;
    wait_until(CLUSTER_DEADLINE, || {
        found = current_leader(nodes).filter(|id| Some(*id) != not);
        found.is_some()
    })
    .await
    .context("waiting for a leader")?;
    found.context("a leader")
}

/// Polls `condition` every 5 ms until it holds or `deadline` passes.
async fn wait_until(deadline: Duration, mut condition: impl FnMut() -> bool) -> anyhow::Result<()> {
    let end = Instant::now() + deadline;
    while !condition() {
        if Instant::now() > end {
            bail!("gave up after {} s", deadline.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(())
}
