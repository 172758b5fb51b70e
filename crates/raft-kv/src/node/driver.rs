//! The node driver: one tokio task that owns the consensus core, its durable
//! storage and the state machine, and runs the `Ready` cycle with real I/O.
//!
//! ```text
//! loop {
//!     wait for: timer tick | peer message | client request
//!     feed it to the core (tick / step / propose / read_index)
//!     drain whatever else is already waiting (batching)
//!     if core has a Ready:
//!         persist snapshot, entries, hard state       -- one fsync (group commit)
//!         send messages                               -- only after the fsync
//!         restore snapshot, apply committed entries   -- answer proposers
//!         queue confirmed reads until applied
//!         advance
//!         maybe snapshot the state machine and compact the log
//! }
//! ```
//!
//! Everything that arrives while one Ready is being persisted joins the next
//! one, so under load many proposals share a single fsync.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::error::Error;
use crate::raft::{
    Codec, ConfChange, ConfChangeKind, ConfState, Config, EntryKind, Index, Message, NodeId,
    RawNode, ReadMode, Ready, Role, StateMachine, Storage, Term, bootstrap_log,
};
use crate::storage::{DiskStorage, TornTail, WalOptions};
use crate::transport::{Transport, TransportConfig};

/// How to run a node.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// This node's id.
    pub id: NodeId,
    /// Peer addresses this node starts with (this node included).
    ///
    /// For a node of a new cluster (not `joining`), on its first start: every member
    /// of the initial cluster, the same list on every member. It becomes the start
    /// of the replicated log ([`crate::raft::bootstrap_log`]: one committed entry
    /// per member with its address), so the addresses are part of the replicated
    /// membership from then on, like those of members added later; on later starts
    /// the list only says where to dial before the log is read, and may name fewer
    /// members. For a `joining` node: this node, and any members it should dial
    /// before it learns them; it need not name the leader, which dials it at the
    /// address the change adding it carries and advertises its own address in the
    /// handshake (if it has a dialable one), so the joiner can answer it (see [`crate::transport`]). It learns
    /// the members and their addresses from the log or a snapshot. Where a list and
    /// the committed membership both name a member, the committed address wins.
    ///
    /// This node's own entry is the address its peer handshakes advertise (unless
    /// [`TransportConfig::advertised_addr`] is set), so that a peer that has not yet
    /// learned it can answer this node.
    pub members: Vec<(NodeId, SocketAddr)>,
    /// Where the WAL and snapshots live.
    pub data_dir: PathBuf,
    /// Wall-clock length of one Raft tick.
    pub tick: Duration,
    /// Ticks before a follower campaigns (randomised up to twice this).
    pub election_tick: u32,
    /// Ticks between leader heartbeats.
    pub heartbeat_tick: u32,
    /// Snapshot the state machine after this many applied entries (0: never).
    pub snapshot_every: u64,
    /// WAL layout.
    pub wal: WalOptions,
    /// Peer transport tunables.
    pub transport: TransportConfig,
    /// This node joins an existing cluster: it starts with an empty log and no
    /// membership, learns both from the leader, and the leader adds it with a
    /// membership change.
    pub joining: bool,
    /// How linearizable reads are confirmed: a ReadIndex heartbeat round
    /// (safe whatever the clocks do), or the leader's lease (no round trip,
    /// but assumes ticks run at the same rate everywhere).
    pub read_mode: ReadMode,
}

impl NodeConfig {
    /// Defaults for `id` in a cluster of `members`, storing under `data_dir`.
    pub fn new(id: NodeId, members: Vec<(NodeId, SocketAddr)>, data_dir: PathBuf) -> Self {
        NodeConfig {
            id,
            members,
            data_dir,
            tick: Duration::from_millis(50),
            election_tick: 10,
            heartbeat_tick: 1,
            snapshot_every: 10_000,
            wal: WalOptions::default(),
            transport: TransportConfig::default(),
            joining: false,
            read_mode: ReadMode::Safe,
        }
    }
}

/// What a node reports about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeStatus {
    /// The node's id.
    pub id: NodeId,
    /// Its role.
    pub role: Role,
    /// Its term.
    pub term: Term,
    /// The leader it knows of.
    pub leader: Option<NodeId>,
    /// Its commit index.
    pub commit: Index,
    /// The highest index applied to its state machine.
    pub applied: Index,
    /// Its last log index.
    pub last_index: Index,
    /// Index of its latest snapshot (0 if none).
    pub snapshot_index: Index,
    /// Voting members, as this node knows them.
    pub voters: Vec<NodeId>,
    /// Learners, as this node knows them.
    pub learners: Vec<NodeId>,
    /// Ready batches handled.
    pub readies: u64,
    /// Ready batches that carried newly committed entries.
    pub commit_batches: u64,
    /// Data syncs of the WAL (fsyncs), including those of rollovers.
    pub wal_syncs: u64,
    /// Entries applied since start.
    pub applied_entries: u64,
}

type ReadFn<M> = Box<dyn FnOnce(Result<&M, Error>) + Send>;
type ProposeReply<M> = oneshot::Sender<Result<(Index, <M as StateMachine>::Response), Error>>;

enum Request<M: StateMachine> {
    Propose {
        data: Bytes,
        reply: ProposeReply<M>,
    },
    Read {
        run: ReadFn<M>,
    },
    ChangeMembership {
        change: ConfChange,
        reply: oneshot::Sender<Result<Index, Error>>,
    },
    Stop,
}

/// A handle to a running node; cheap to clone.
pub struct NodeHandle<M: StateMachine> {
    requests: mpsc::Sender<Request<M>>,
    status: watch::Receiver<NodeStatus>,
    transport: Transport,
}

impl<M: StateMachine> Clone for NodeHandle<M> {
    fn clone(&self) -> Self {
        NodeHandle {
            requests: self.requests.clone(),
            status: self.status.clone(),
            transport: self.transport.clone(),
        }
    }
}

impl<M: StateMachine> NodeHandle<M>
where
    M: Send + 'static,
    M::Response: Send + 'static,
{
    /// Proposes `command`; answers once it is committed and applied here, with
    /// its log index and the state machine's response.
    pub async fn propose(&self, command: Bytes) -> Result<(Index, M::Response), Error> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(Request::Propose {
                data: command,
                reply,
            })
            .await
            .map_err(|_| Error::Stopped)?;
        answer.await.map_err(|_| Error::Stopped)?
    }

    /// Runs `f` on the state machine after a linearizable read barrier
    /// (ReadIndex): `f` sees every write acknowledged before the call.
    pub async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&M) -> T + Send + 'static,
    ) -> Result<T, Error> {
        let (tx, rx) = oneshot::channel();
        let run: ReadFn<M> = Box::new(move |machine| {
            let _ = tx.send(machine.map(f));
        });
        self.requests
            .send(Request::Read { run })
            .await
            .map_err(|_| Error::Stopped)?;
        rx.await.map_err(|_| Error::Stopped)?
    }

    /// Proposes a single-server membership change; answers once it is
    /// committed and applied here. For `AddVoter` and `AddLearner`, put the new
    /// member's peer address (`IP:port`, UTF-8) in `change.context` so every
    /// node can reach it: the address becomes part of the replicated membership
    /// ([`ConfState::contexts`]), which snapshots carry, so nodes that restart
    /// from a snapshot or receive one still know it.
    pub async fn change_membership(&self, change: ConfChange) -> Result<Index, Error> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(Request::ChangeMembership { change, reply })
            .await
            .map_err(|_| Error::Stopped)?;
        answer.await.map_err(|_| Error::Stopped)?
    }

    /// The node's latest status.
    pub fn status(&self) -> NodeStatus {
        self.status.borrow().clone()
    }

    /// Waits until `pred` holds for the status, or `deadline` passes.
    pub async fn wait_for(
        &self,
        deadline: Duration,
        mut pred: impl FnMut(&NodeStatus) -> bool,
    ) -> Option<NodeStatus> {
        let mut status = self.status.clone();
        let wait = status.wait_for(|s| pred(s));
        match tokio::time::timeout(deadline, wait).await {
            Ok(Ok(s)) => Some(s.clone()),
            _ => None,
        }
    }

    /// The node's peer transport (for its counters).
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    /// Asks the node to stop.
    pub async fn stop(&self) {
        let _ = self.requests.send(Request::Stop).await;
    }
}

/// A started node: its handle and the task running it.
pub struct RunningNode<M: StateMachine> {
    /// Handle for requests.
    pub handle: NodeHandle<M>,
    /// Completes when the node stops; an error says why it failed.
    pub task: JoinHandle<Result<(), Error>>,
    /// The torn final WAL record cut off at startup, if the last run crashed
    /// mid-write (callers should report it: it may have been acknowledged if
    /// the damage was not a crash but the disk).
    pub torn_tail: Option<TornTail>,
}

/// Opens the node's storage, restores its state machine, starts its transport
/// on `peer_listener` and spawns its driver task.
pub async fn start_node<M>(
    config: NodeConfig,
    peer_listener: TcpListener,
    mut machine: M,
) -> Result<RunningNode<M>, Error>
where
    M: StateMachine + Send + 'static,
    M::Response: Send + 'static,
{
    // A new data directory starts with no membership; a member of a new cluster
    // then writes the bootstrap log, which holds the membership.
    let mut storage = DiskStorage::open(&config.data_dir, config.wal, ConfState::default())?;
    if !config.joining {
        write_bootstrap_log(&mut storage, &config.members)?;
    }
    let torn_tail = storage.torn_tail().cloned();
    if let Some(torn) = &torn_tail {
        tracing::warn!(path = %torn.path.display(), offset = torn.offset, "recovered from a torn WAL tail");
    }
    let snapshot = storage.current_snapshot().clone();
    if !snapshot.is_empty() {
        machine.restore(&snapshot)?;
    }
    let mut raft_config = Config::new(config.id);
    raft_config.election_tick = config.election_tick;
    raft_config.heartbeat_tick = config.heartbeat_tick;
    raft_config.read_mode = config.read_mode;
    raft_config.applied = snapshot.meta.index;
    raft_config.seed = seed_for(config.id);
    let raw = RawNode::new(raft_config, storage)?;

    let peer_addrs = peer_addresses(config.id, &config.members, raw.conf_state());
    let mut transport_config = config.transport.clone();
    if transport_config.advertised_addr.is_none() {
        // Peers should dial this node where its own entry says (raft-kv-node
        // binds its listener there; an embedder's may be a wildcard). Not the
        // committed address: that is where the cluster last knew this node,
        // stale if it moved; a peer that knows any address for it ignores the
        // handshake's anyway.
        transport_config.advertised_addr = config
            .members
            .iter()
            .find(|(member, _)| *member == config.id)
            .map(|(_, addr)| *addr);
    }
    let (transport, inbox) = Transport::start(
        config.id,
        peer_listener,
        peer_addrs.iter().map(|(&id, &addr)| (id, addr)),
        transport_config,
    )?;
    let (requests_tx, requests) = mpsc::channel(4096);
    let mut driver = Driver {
        raw,
        machine,
        transport: transport.clone(),
        inbox,
        requests,
        status: watch::channel(placeholder_status(config.id)).0,
        proposals: BTreeMap::new(),
        conf_changes: BTreeMap::new(),
        reads: HashMap::new(),
        ticks: 0,
        confirmed_reads: Vec::new(),
        next_read: 0,
        snapshot_every: config.snapshot_every,
        peer_addrs,
        counters: Counters::default(),
        tick: config.tick,
    };
    driver.publish_status();
    let status = driver.status.subscribe();
    let task = tokio::spawn(driver.run());
    Ok(RunningNode {
        handle: NodeHandle {
            requests: requests_tx,
            status,
            transport,
        },
        task,
        torn_tail,
    })
}

/// Writes [`crate::raft::bootstrap_log`] for `members` if `storage` is a new node's: no
/// snapshot, an empty membership, nothing committed. A crash before the batch was synced
/// leaves it so (the hard state is written last), and the next start writes it again, the
/// same entries over whatever part survived. A data directory created before the log held
/// the bootstrap members has them in its index-0 snapshot instead and is left alone.
fn write_bootstrap_log(
    storage: &mut DiskStorage,
    members: &[(NodeId, SocketAddr)],
) -> Result<(), Error> {
    let snapshot = &storage.current_snapshot().meta;
    if snapshot.index != 0
        || snapshot.conf_state != ConfState::default()
        || storage.hard_state().commit != 0
    {
        return Ok(());
    }
    let (entries, hard_state) = bootstrap_log(
        members
            .iter()
            .map(|(id, addr)| (*id, Bytes::from(addr.to_string()))),
    );
    if entries.is_empty() {
        return Ok(());
    }
    storage.append(&entries)?;
    storage.set_hard_state(hard_state)?;
    blocking(|| storage.sync())
}

/// Where to reach each peer: the addresses the cluster committed (kept in the
/// membership's contexts, so they survive log compaction: the bootstrap members' from
/// the bootstrap log, the others' from the change that added them), and the configured
/// `members` for the rest (before the log is read, a joining node's peers, and the
/// bootstrap members of a data directory created before the log recorded them).
/// A committed address wins over a configured one: it is what the cluster agreed on, and
/// `--peers` may be stale.
fn peer_addresses(
    id: NodeId,
    members: &[(NodeId, SocketAddr)],
    conf: &ConfState,
) -> BTreeMap<NodeId, SocketAddr> {
    let mut addrs: BTreeMap<NodeId, SocketAddr> = members.iter().copied().collect();
    for (&member, context) in &conf.contexts {
        let Some(addr) = parse_peer_address(context) else {
            continue;
        };
        if let Some(configured) = addrs.insert(member, addr)
            && configured != addr
        {
            tracing::warn!(
                member,
                %configured,
                committed = %addr,
                "the configured peer address differs from the committed one; using the committed one"
            );
        }
    }
    addrs.remove(&id);
    addrs
}

/// A member's peer address as a membership change carries it (`IP:port`, UTF-8).
fn parse_peer_address(context: &[u8]) -> Option<SocketAddr> {
    std::str::from_utf8(context).ok()?.parse().ok()
}

fn seed_for(id: NodeId) -> u64 {
    // Election timeouts must differ between nodes and between restarts; the
    // clock is a good enough source for that here (the core stays pure).
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    nanos ^ id.wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

fn placeholder_status(id: NodeId) -> NodeStatus {
    NodeStatus {
        id,
        role: Role::Follower,
        term: 0,
        leader: None,
        commit: 0,
        applied: 0,
        last_index: 0,
        snapshot_index: 0,
        voters: Vec::new(),
        learners: Vec::new(),
        readies: 0,
        commit_batches: 0,
        wal_syncs: 0,
        applied_entries: 0,
    }
}

#[derive(Debug, Default)]
struct Counters {
    readies: u64,
    commit_batches: u64,
    applied_entries: u64,
}

struct Driver<M: StateMachine> {
    raw: RawNode<DiskStorage>,
    machine: M,
    transport: Transport,
    inbox: mpsc::Receiver<Message>,
    requests: mpsc::Receiver<Request<M>>,
    status: watch::Sender<NodeStatus>,
    /// Proposals waiting for their entry, by index, with the term they were made in.
    proposals: BTreeMap<Index, (Term, ProposeReply<M>)>,
    /// Membership changes waiting for their entry, likewise.
    conf_changes: BTreeMap<Index, (Term, oneshot::Sender<Result<Index, Error>>)>,
    /// Reads waiting for the leader's confirmation, by request id, with the
    /// tick count when they were asked (a lost confirmation must not keep
    /// them forever).
    reads: HashMap<u64, (u64, ReadFn<M>)>,
    ticks: u64,
    /// Reads confirmed at an index, waiting for the state machine to get there.
    confirmed_reads: Vec<(Index, ReadFn<M>)>,
    next_read: u64,
    snapshot_every: u64,
    /// The addresses the driver gave the transport (configured, or committed).
    /// The transport may also dial peers missing here at the addresses their
    /// handshakes claim; giving it an address always overrides such a claim.
    peer_addrs: BTreeMap<NodeId, SocketAddr>,
    counters: Counters,
    tick: Duration,
}

/// Ticks after which an unconfirmed read is failed (its confirmation was lost).
const READ_TIMEOUT_TICKS: u64 = 200;

/// How many queued messages or requests are folded into one Ready at most.
const MAX_BATCH: usize = 4096;

impl<M> Driver<M>
where
    M: StateMachine + Send + 'static,
    M::Response: Send + 'static,
{
    async fn run(mut self) -> Result<(), Error> {
        let mut ticker = tokio::time::interval(self.tick);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let result = self.event_loop(&mut ticker).await;
        self.transport.shutdown();
        self.fail_waiting();
        if let Err(e) = &result {
            tracing::error!(id = self.raw.id(), error = %e, "node stopped on error");
        }
        result
    }

    async fn event_loop(&mut self, ticker: &mut tokio::time::Interval) -> Result<(), Error> {
        loop {
            tokio::select! {
                _ = ticker.tick() => {
                    self.ticks += 1;
                    self.raw.tick();
                    self.forget_abandoned();
                }
                message = self.inbox.recv() => {
                    let Some(message) = message else { return Ok(()) };
                    self.step(message);
                }
                request = self.requests.recv() => {
                    match request {
                        None | Some(Request::Stop) => return Ok(()),
                        Some(request) => self.handle_request(request),
                    }
                }
            }
            // Fold in everything else already waiting, so it shares the fsync.
            for _ in 0..MAX_BATCH {
                match self.inbox.try_recv() {
                    Ok(message) => self.step(message),
                    Err(_) => break,
                }
            }
            for _ in 0..MAX_BATCH {
                match self.requests.try_recv() {
                    Ok(Request::Stop) => return Ok(()),
                    Ok(request) => self.handle_request(request),
                    Err(_) => break,
                }
            }
            while self.raw.has_ready() {
                let ready = self.raw.ready();
                self.handle_ready(ready)?;
            }
            self.publish_status();
        }
    }

    fn step(&mut self, message: Message) {
        if let Err(e) = self.raw.step(message) {
            tracing::debug!(error = %e, "message refused by the core");
        }
    }

    fn handle_request(&mut self, request: Request<M>) {
        match request {
            Request::Propose { data, reply } => match self.raw.propose(data) {
                Ok(index) => {
                    let term = self.raw.term();
                    if let Some((_, earlier)) = self.proposals.insert(index, (term, reply)) {
                        // A slot reused after a leader change: the old one lost it.
                        let _ = earlier.send(Err(Error::Dropped));
                    }
                }
                Err(e) => {
                    let _ = reply.send(Err(e));
                }
            },
            Request::Read { run } => {
                let id = self.next_read;
                self.next_read += 1;
                match self
                    .raw
                    .read_index(Bytes::copy_from_slice(&id.to_le_bytes()))
                {
                    Ok(()) => {
                        self.reads.insert(id, (self.ticks, run));
                    }
                    Err(e) => run(Err(e)),
                }
            }
            Request::ChangeMembership { change, reply } => {
                match self.raw.propose_conf_change(&change) {
                    Ok(index) => {
                        let term = self.raw.term();
                        if let Some((_, earlier)) = self.conf_changes.insert(index, (term, reply)) {
                            let _ = earlier.send(Err(Error::Dropped));
                        }
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e));
                    }
                }
            }
            Request::Stop => {}
        }
    }

    fn handle_ready(&mut self, mut ready: Ready) -> Result<(), Error> {
        self.counters.readies += 1;
        // 1. Persist, with one sync for the whole batch.
        let storage = self.raw.storage_mut();
        let mut installed = false;
        if let Some(snapshot) = &ready.snapshot {
            installed = blocking(|| storage.apply_snapshot(snapshot.clone()))?;
        }
        storage.append(&ready.entries)?;
        if let Some(hard_state) = ready.hard_state {
            storage.set_hard_state(hard_state)?;
        }
        if ready.must_sync {
            blocking(|| storage.sync())?;
        }
        // New members must be reachable before this Ready's messages go out:
        // the core starts replicating to them in the Ready that commits them.
        // A snapshot from the leader may name members this node has never
        // seen a change for (the entries adding them were compacted away).
        if let Some(snapshot) = ready.snapshot.as_ref().filter(|_| installed) {
            for (&member, context) in &snapshot.meta.conf_state.contexts {
                if let Some(addr) = parse_peer_address(context) {
                    self.connect_peer(member, addr);
                }
            }
        }
        for entry in &ready.committed_entries {
            if entry.kind == EntryKind::ConfChange {
                self.connect_member(&entry.data);
            }
        }
        // 2. Send, now that what the messages promise is durable.
        for message in ready.messages.drain(..) {
            self.transport.send(message);
        }
        // 3. Apply.
        // (A snapshot no newer than the one on disk would move the state
        // machine backwards; storage refused it, and so does the machine.)
        if let Some(snapshot) = ready.snapshot.as_ref().filter(|_| installed) {
            self.machine.restore(snapshot)?;
            // Proposals covered by the snapshot were decided elsewhere; their
            // outcome is unknown here.
            let later = self.proposals.split_off(&(snapshot.meta.index + 1));
            for (_, (_, reply)) in std::mem::replace(&mut self.proposals, later) {
                let _ = reply.send(Err(Error::Dropped));
            }
        }
        if !ready.committed_entries.is_empty() {
            self.counters.commit_batches += 1;
        }
        for entry in &ready.committed_entries {
            self.counters.applied_entries += 1;
            let response = match entry.kind {
                EntryKind::Normal if !entry.data.is_empty() => {
                    Some(self.machine.apply(entry.index, &entry.data))
                }
                _ => None,
            };
            if entry.kind == EntryKind::ConfChange {
                self.disconnect_removed_member(&entry.data);
            }
            if let Some((term, reply)) = self.conf_changes.remove(&entry.index) {
                let ok = entry.kind == EntryKind::ConfChange && term == entry.term;
                let _ = reply.send(if ok {
                    Ok(entry.index)
                } else {
                    Err(Error::Dropped)
                });
            }
            if let Some((term, reply)) = self.proposals.remove(&entry.index) {
                let answer = match response {
                    Some(response) if term == entry.term => Ok((entry.index, response)),
                    _ => Err(Error::Dropped),
                };
                let _ = reply.send(answer);
            }
        }
        // 4. Reads confirmed by the leader wait until applied.
        for read_state in ready.read_states.drain(..) {
            let Ok(id) = <[u8; 8]>::try_from(&read_state.context[..]) else {
                continue;
            };
            if let Some((_, run)) = self.reads.remove(&u64::from_le_bytes(id)) {
                self.confirmed_reads.push((read_state.index, run));
            }
        }
        self.raw.advance(ready);
        if self.raw.conf_state().voters.is_empty() && self.raw.committed() > 0 {
            // Only a joining node starts without members; the log it was sent does
            // not start with the bootstrap members, so it cannot know them.
            return Err(Error::NoBootstrapMembers {
                index: self.raw.committed(),
            });
        }
        self.serve_reads();
        self.maybe_snapshot()
    }

    /// Points the transport at a member added by a committed change.
    fn connect_member(&mut self, data: &[u8]) {
        let Ok(change) = ConfChange::decode(data) else {
            return;
        };
        if matches!(
            change.kind,
            ConfChangeKind::AddVoter | ConfChangeKind::AddLearner
        ) {
            // A promotion carries no address: the peer is known already.
            if let Some(addr) = parse_peer_address(&change.context) {
                self.connect_peer(change.node_id, addr);
            }
        }
    }

    /// Points the transport at `addr` for `member`, unless it already is
    /// (re-adding a peer would drop its queued messages and reconnect).
    fn connect_peer(&mut self, member: NodeId, addr: SocketAddr) {
        if member == self.raw.id() || self.peer_addrs.get(&member) == Some(&addr) {
            return;
        }
        self.peer_addrs.insert(member, addr);
        self.transport.add_peer(member, addr);
    }

    /// Stops talking to a member removed by a committed change (after this
    /// Ready's messages, which may tell it about its removal, went out).
    fn disconnect_removed_member(&mut self, data: &[u8]) {
        if let Ok(change) = ConfChange::decode(data)
            && change.kind == ConfChangeKind::RemoveNode
            && change.node_id != self.raw.id()
        {
            self.peer_addrs.remove(&change.node_id);
            self.transport.remove_peer(change.node_id);
        }
    }

    fn serve_reads(&mut self) {
        let applied = self.raw.applied();
        let (ready, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.confirmed_reads)
            .into_iter()
            .partition(|(index, _)| *index <= applied);
        self.confirmed_reads = waiting;
        for (_, run) in ready {
            run(Ok(&self.machine));
        }
    }

    fn maybe_snapshot(&mut self) -> Result<(), Error> {
        if self.snapshot_every == 0 {
            return Ok(());
        }
        let applied = self.raw.applied();
        let storage = self.raw.storage();
        let snapshot_index = storage.first_index().unwrap_or(1).saturating_sub(1);
        if applied < snapshot_index + self.snapshot_every {
            return Ok(());
        }
        let data = self.machine.snapshot();
        // The membership at `applied`, not the core's (that is the commit index's).
        let conf_state = self.raw.applied_conf_state().clone();
        let storage = self.raw.storage_mut();
        blocking(|| storage.create_snapshot(applied, conf_state, data))?;
        tracing::debug!(index = applied, "took a snapshot and compacted the log");
        Ok(())
    }

    /// Drops waiters whose caller gave up (timed out), and fails reads whose
    /// confirmation was lost, so neither piles up.
    fn forget_abandoned(&mut self) {
        self.proposals.retain(|_, (_, reply)| !reply.is_closed());
        self.conf_changes.retain(|_, (_, reply)| !reply.is_closed());
        let horizon = self.ticks.saturating_sub(READ_TIMEOUT_TICKS);
        let expired: Vec<u64> = self
            .reads
            .iter()
            .filter(|(_, (asked, _))| *asked < horizon)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            if let Some((_, run)) = self.reads.remove(&id) {
                run(Err(Error::Dropped));
            }
        }
    }

    fn fail_waiting(&mut self) {
        for (_, (_, reply)) in std::mem::take(&mut self.proposals) {
            let _ = reply.send(Err(Error::Stopped));
        }
        for (_, (_, reply)) in std::mem::take(&mut self.conf_changes) {
            let _ = reply.send(Err(Error::Stopped));
        }
        for (_, (_, run)) in self.reads.drain() {
            run(Err(Error::Stopped));
        }
        for (_, run) in self.confirmed_reads.drain(..) {
            run(Err(Error::Stopped));
        }
    }

    fn publish_status(&mut self) {
        let storage = self.raw.storage();
        let status = NodeStatus {
            id: self.raw.id(),
            role: self.raw.role(),
            term: self.raw.term(),
            leader: self.raw.leader(),
            commit: self.raw.committed(),
            applied: self.raw.applied(),
            last_index: self.raw.last_index(),
            snapshot_index: storage.current_snapshot().meta.index,
            voters: self.raw.conf_state().voters.clone(),
            learners: self.raw.conf_state().learners.clone(),
            readies: self.counters.readies,
            commit_batches: self.counters.commit_batches,
            wal_syncs: storage.wal_stats().syncs,
            applied_entries: self.counters.applied_entries,
        };
        self.status.send_if_modified(|old| {
            let changed = *old != status;
            *old = status;
            changed
        });
    }
}

/// Runs blocking disk work without stalling the other tasks of a
/// multi-threaded runtime (on a current-thread runtime it just runs).
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}
