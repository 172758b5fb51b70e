//! `raft-kv-node`: one member of a Raft-replicated key-value cluster, with its
//! log on disk, peers over TCP, and a line protocol for clients (see
//! `raft_kv::node::client`).
//!
//! ```text
//! raft-kv-node --id 1 --peers 1=127.0.0.1:7001,2=127.0.0.1:7002,3=127.0.0.1:7003 \
//!              --data-dir /var/lib/raft-kv/1 --client-addr 127.0.0.1:8001 \
//!              [--tick-ms 50] [--snapshot-every 10000] [--segment-bytes 67108864] [--join] [--lease-reads]
//! ```
//!
//! The first start of a new cluster's members takes the same `--peers` on
//! every member: it becomes the start of the replicated log (one committed
//! membership entry per member, with its address, as etcd records its initial
//! cluster), so every member's address is replicated state from then on.
//!
//! `--join` starts a node that is not yet a member, with an empty log and no
//! membership: `--peers` lists this node and, optionally, members to dial (the
//! leader need not be listed: it dials the node and its handshake says where it
//! listens, so the node can answer it); a client then asks the leader for
//! `MEMBER ADD-LEARNER <id> <peer-addr>` and later `MEMBER PROMOTE <id>`, and
//! the node learns the other members and their addresses from the log or a
//! snapshot. On restart, `--peers` may list fewer members than at the start:
//! the addresses are part of the replicated membership (the log, then
//! snapshots), and where both name a member the committed address wins. (A data
//! directory created before the bootstrap members were recorded in the log
//! still needs them listed.)

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use raft_kv::Error;
use raft_kv::node::client::serve_kv_clients;
use raft_kv::node::{KvMachine, NodeConfig, start_node};
use raft_kv::raft::{NodeId, ReadMode};
use tokio::net::TcpListener;

const USAGE: &str = "usage: raft-kv-node --id N --peers ID=ADDR,... --data-dir DIR --client-addr ADDR \
[--tick-ms MS] [--snapshot-every N] [--segment-bytes N] [--join] [--lease-reads]";

struct Args {
    id: NodeId,
    peers: Vec<(NodeId, SocketAddr)>,
    data_dir: PathBuf,
    client_addr: SocketAddr,
    tick_ms: u64,
    snapshot_every: u64,
    segment_bytes: u64,
    join: bool,
    lease_reads: bool,
}

fn parse_number(flag: &str, value: &str) -> Result<u64, String> {
    value
        .parse()
        .map_err(|_| format!("{flag}: `{value}` is not a number"))
}

fn parse_addr(flag: &str, value: &str) -> Result<SocketAddr, String> {
    value
        .parse()
        .map_err(|_| format!("{flag}: `{value}` is not an IP:port address"))
}

fn parse_peers(value: &str) -> Result<Vec<(NodeId, SocketAddr)>, String> {
    let mut peers = Vec::new();
    for item in value.split(',').filter(|s| !s.is_empty()) {
        let (id, addr) = item
            .split_once('=')
            .ok_or_else(|| format!("--peers: `{item}` is not ID=ADDR"))?;
        let id = parse_number("--peers", id)?;
        if id == 0 {
            return Err("--peers: node id 0 is reserved".into());
        }
        if peers.iter().any(|(known, _)| *known == id) {
            return Err(format!("--peers: node {id} is listed twice"));
        }
        peers.push((id, parse_addr("--peers", addr)?));
    }
    Ok(peers)
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let (mut id, mut peers, mut data_dir, mut client_addr) = (None, None, None, None);
    let (mut tick_ms, mut snapshot_every, mut segment_bytes) = (50, 10_000, 64 << 20);
    let (mut join, mut lease_reads) = (false, false);
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--join" => {
                join = true;
                continue;
            }
            "--lease-reads" => {
                lease_reads = true;
                continue;
            }
            _ => {}
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--id" => id = Some(parse_number(&flag, &value)?),
            "--peers" => peers = Some(parse_peers(&value)?),
            "--data-dir" => data_dir = Some(PathBuf::from(value)),
            "--client-addr" => client_addr = Some(parse_addr(&flag, &value)?),
            "--tick-ms" => tick_ms = parse_number(&flag, &value)?.max(1),
            "--snapshot-every" => snapshot_every = parse_number(&flag, &value)?,
            "--segment-bytes" => segment_bytes = parse_number(&flag, &value)?,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    let id = id.ok_or("--id is required")?;
    let peers = peers.ok_or("--peers is required")?;
    if !peers.iter().any(|(p, _)| *p == id) {
        return Err(format!("--peers must include this node ({id})"));
    }
    Ok(Args {
        id,
        peers,
        data_dir: data_dir.ok_or("--data-dir is required")?,
        client_addr: client_addr.ok_or("--client-addr is required")?,
        tick_ms,
        snapshot_every,
        segment_bytes,
        join,
        lease_reads,
    })
}

async fn run(args: Args) -> Result<(), String> {
    let peer_addr = args
        .peers
        .iter()
        .find(|(id, _)| *id == args.id)
        .map(|(_, addr)| *addr)
        .ok_or("own address missing from --peers")?;
    let peer_listener = TcpListener::bind(peer_addr)
        .await
        .map_err(|e| format!("cannot listen for peers on {peer_addr}: {e}"))?;
    let client_listener = TcpListener::bind(args.client_addr)
        .await
        .map_err(|e| format!("cannot listen for clients on {}: {e}", args.client_addr))?;
    let mut config = NodeConfig::new(args.id, args.peers.clone(), args.data_dir.clone());
    config.tick = Duration::from_millis(args.tick_ms);
    config.snapshot_every = args.snapshot_every;
    config.wal.segment_size = args.segment_bytes;
    config.joining = args.join;
    if args.lease_reads {
        config.read_mode = ReadMode::Lease;
    }
    let node = start_node(config, peer_listener, KvMachine::default())
        .await
        .map_err(|e| format!("cannot start node {}: {e}", args.id))?;
    if let Some(torn) = &node.torn_tail {
        eprintln!(
            "raft-kv-node {}: cut a torn record ({}) off the log tail: {} at offset {}",
            args.id,
            torn.reason,
            torn.path.display(),
            torn.offset
        );
    }
    eprintln!(
        "raft-kv-node {}: peers on {peer_addr}, clients on {}, data in {}",
        args.id,
        args.client_addr,
        args.data_dir.display()
    );
    let clients = serve_kv_clients(client_listener, node.handle.clone(), Duration::from_secs(3));
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| format!("cannot watch SIGTERM: {e}"))?;
    let id = args.id;
    let finished = |result: Result<Result<(), Error>, tokio::task::JoinError>| match result {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("node {id} failed: {e}")),
        Err(e) => Err(format!("node {id} task panicked: {e}")),
    };
    let mut task = node.task;
    let stop_requested = tokio::select! {
        result = clients => return result.map_err(|e| format!("client listener failed: {e}")),
        result = &mut task => return finished(result),
        _ = tokio::signal::ctrl_c() => "SIGINT",
        _ = terminate.recv() => "SIGTERM",
    };
    eprintln!("raft-kv-node {id}: {stop_requested}, stopping");
    node.handle.stop().await;
    finished(task.await)
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(message) => {
            eprintln!("raft-kv-node: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("raft-kv-node: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("raft-kv-node: {message}");
            ExitCode::FAILURE
        }
    }
}
