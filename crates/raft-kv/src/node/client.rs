//! A line protocol to a [`KvMachine`] node, for the `raft-kv-node` binary and
//! the real-process tests.
//!
//! ```text
//! PUT <key> <value>   ->  OK <index> | ERR NOTLEADER <id or -> | ERR <reason>
//! GET <key>           ->  VALUE <value> | NOTFOUND | ERR NOTLEADER <id or -> | ERR <reason>
//! MEMBER ADD-LEARNER <id> <peer-addr> | MEMBER PROMOTE <id> | MEMBER REMOVE <id>
//!                     ->  OK <index> | ERR NOTLEADER <id or -> | ERR <reason>
//! DUMP                ->  DUMP <n>, then n lines `<key> <value>` (after one read barrier)
//! STATUS              ->  STATUS id=<id> role=<role> term=<t> leader=<id or -> commit=<i>
//!                         applied=<i> last=<i> snapshot=<i> readies=<n> commit_batches=<n>
//!                         syncs=<n>
//! ```
//!
//! `OK` is sent only after the put is committed and applied on this node; a
//! `GET` passes a ReadIndex barrier first, so it sees every acknowledged put.
//! Keys and values are single words (no spaces); lines are at most 64 KiB.

use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use super::driver::NodeHandle;
use super::kv_machine::{KvMachine, encode_put};
use crate::error::Error;
use crate::raft::{ConfChange, ConfChangeKind};

const MAX_LINE: u64 = 64 << 10;

/// Accepts client connections on `listener` until the task is dropped.
pub async fn serve_kv_clients(
    listener: TcpListener,
    node: NodeHandle<KvMachine>,
    request_timeout: Duration,
) -> std::io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        let node = node.clone();
        tokio::spawn(async move {
            if let Err(e) = serve_connection(stream, node, request_timeout).await {
                tracing::debug!(error = %e, "client connection closed");
            }
        });
    }
}

async fn read_line<R: AsyncRead + Unpin>(
    reader: &mut BufReader<R>,
    line: &mut String,
) -> std::io::Result<bool> {
    line.clear();
    let n = reader.take(MAX_LINE).read_line(line).await?;
    Ok(n > 0)
}

async fn serve_connection(
    stream: TcpStream,
    node: NodeHandle<KvMachine>,
    request_timeout: Duration,
) -> std::io::Result<()> {
    // Answers are small and the client waits for each: send them at once rather than
    // letting Nagle hold them for the client's delayed ACK.
    stream.set_nodelay(true)?;
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let mut line = String::new();
    while read_line(&mut reader, &mut line).await? {
        let mut answer = answer(&node, line.trim_end(), request_timeout).await;
        answer.push('\n');
        write.write_all(answer.as_bytes()).await?;
    }
    Ok(())
}

async fn member_change(
    node: &NodeHandle<KvMachine>,
    action: &str,
    id: &str,
    addr: Option<&str>,
    extra: Option<&str>,
    request_timeout: Duration,
) -> String {
    let Ok(node_id) = id.parse::<u64>() else {
        return "ERR BADREQUEST".into();
    };
    let (kind, context) = match (action, addr, extra) {
        ("ADD-LEARNER", Some(addr), None) if addr.parse::<std::net::SocketAddr>().is_ok() => (
            ConfChangeKind::AddLearner,
            Bytes::copy_from_slice(addr.as_bytes()),
        ),
        ("PROMOTE", None, None) => (ConfChangeKind::AddVoter, Bytes::new()),
        ("REMOVE", None, None) => (ConfChangeKind::RemoveNode, Bytes::new()),
        _ => return "ERR BADREQUEST".into(),
    };
    let change = ConfChange {
        kind,
        node_id,
        context,
    };
    match tokio::time::timeout(request_timeout, node.change_membership(change)).await {
        Err(_) => "ERR TIMEOUT".into(),
        Ok(Ok(index)) => format!("OK {index}"),
        Ok(Err(e)) => error_line(e),
    }
}

fn error_line(e: Error) -> String {
    match e {
        Error::NotLeader { leader } => format!(
            "ERR NOTLEADER {}",
            leader.map_or_else(|| "-".to_string(), |l| l.to_string())
        ),
        Error::Dropped => "ERR DROPPED".into(),
        Error::Stopped => "ERR STOPPED".into(),
        other => format!("ERR {}", other.to_string().replace('\n', " ")),
    }
}

async fn answer(node: &NodeHandle<KvMachine>, line: &str, request_timeout: Duration) -> String {
    let mut words = line.split_ascii_whitespace();
    match (words.next(), words.next(), words.next(), words.next()) {
        (Some("PUT"), Some(key), Some(value), None) => {
            let command = encode_put(key.as_bytes(), value.as_bytes());
            match tokio::time::timeout(request_timeout, node.propose(command)).await {
                Err(_) => "ERR TIMEOUT".into(),
                Ok(Ok((index, true))) => format!("OK {index}"),
                Ok(Ok((_, false))) => "ERR REJECTED".into(),
                Ok(Err(e)) => error_line(e),
            }
        }
        (Some("GET"), Some(key), None, None) => {
            let key = Bytes::copy_from_slice(key.as_bytes());
            let read = node.read(move |machine| machine.get(&key).cloned());
            match tokio::time::timeout(request_timeout, read).await {
                Err(_) => "ERR TIMEOUT".into(),
                Ok(Ok(Some(value))) => format!("VALUE {}", String::from_utf8_lossy(&value)),
                Ok(Ok(None)) => "NOTFOUND".into(),
                Ok(Err(e)) => error_line(e),
            }
        }
        (Some("DUMP"), None, None, None) => {
            let read = node.read(|machine| {
                let mut out = format!("DUMP {}", machine.len());
                for (key, value) in machine.iter() {
                    out.push('\n');
                    out.push_str(&String::from_utf8_lossy(key));
                    out.push(' ');
                    out.push_str(&String::from_utf8_lossy(value));
                }
                out
            });
            match tokio::time::timeout(request_timeout, read).await {
                Err(_) => "ERR TIMEOUT".into(),
                Ok(Ok(dump)) => dump,
                Ok(Err(e)) => error_line(e),
            }
        }
        (Some("MEMBER"), Some(action), Some(id), rest) => {
            member_change(node, action, id, rest, words.next(), request_timeout).await
        }
        (Some("STATUS"), None, None, None) => {
            let s = node.status();
            format!(
                "STATUS id={} role={:?} term={} leader={} commit={} applied={} last={} snapshot={} readies={} commit_batches={} syncs={}",
                s.id,
                s.role,
                s.term,
                s.leader.map_or_else(|| "-".to_string(), |l| l.to_string()),
                s.commit,
                s.applied,
                s.last_index,
                s.snapshot_index,
                s.readies,
                s.commit_batches,
                s.wal_syncs
            )
        }
        _ => "ERR BADREQUEST".into(),
    }
}
