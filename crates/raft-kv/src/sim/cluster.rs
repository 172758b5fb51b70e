//! The simulated cluster: nodes with a disk that can lose unsynced writes, a network that
//! loses, duplicates, delays, reorders and partitions, clients that record a history, and a
//! fault schedule — all driven by one seeded generator and a virtual clock.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;

use super::linearizability::{CheckResult, KvInput, Operation, check_history};
use super::rng::SimRng;
use super::safety::{SafetyChecker, Violation};
use crate::error::Error;
use crate::raft::{
    Codec, ConfChange, ConfChangeKind, ConfState, Config, Entry, EntryKind, HardState, Index,
    KvCommand, KvOp, KvStateMachine, MemStorage, Message, NodeId, RawNode, ReadMode, ReadQueue,
    Ready, Role, Snapshot, StateMachine, Storage, Term, bootstrap_log,
};

/// Virtual milliseconds per Raft tick.
const TICK_MS: u64 = 10;

/// What a seed runs: derived from the seed so that one number replays a whole run.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// The seed.
    pub seed: u64,
    /// Node ids `1..=nodes` exist.
    pub nodes: u64,
    /// Ids `1..=initial_voters` form the bootstrap cluster; the rest are spares that may
    /// be added later.
    pub initial_voters: u64,
    /// Virtual milliseconds of the faulty phase (a quiet phase follows).
    pub duration_ms: u64,
    /// Concurrent clients.
    pub clients: usize,
    /// Keys the clients use.
    pub keys: u64,
    /// Serve reads from the leader lease.
    pub lease_reads: bool,
    /// Pre-vote on.
    pub pre_vote: bool,
    /// Check-quorum on (always with lease reads).
    pub check_quorum: bool,
    /// Add learners, promote and remove voters during the run.
    pub membership_changes: bool,
    /// Message loss probability.
    pub loss: f64,
    /// Message duplication probability.
    pub duplication: f64,
    /// Probability per ms of crashing a node.
    pub crash_rate: f64,
    /// Probability per ms of a new partition.
    pub partition_rate: f64,
    /// Bytes of entries per append message (1: one entry per message).
    pub max_size_per_msg: u64,
    /// Take a snapshot every this many applied entries.
    pub snapshot_every: u64,
    /// [`Config::max_committed_size_per_ready`]: when small, a node's applied index lags
    /// its commit index across several `Ready`s, so a snapshot taken at the applied index
    /// must not carry the membership of the commit index.
    pub max_committed_size_per_ready: u64,
}

impl SimOptions {
    /// The options seed `seed` runs with.
    pub fn from_seed(seed: u64) -> Self {
        let mut rng = SimRng::new(seed.wrapping_mul(31).wrapping_add(7));
        let membership_changes = rng.chance(0.3);
        let (nodes, initial_voters) = if membership_changes {
            (5, 3)
        } else if rng.chance(0.5) {
            (3, 3)
        } else {
            (5, 5)
        };
        let lease_reads = rng.chance(0.3);
        SimOptions {
            seed,
            pre_vote: rng.chance(0.7),
            check_quorum: lease_reads || rng.chance(0.7),
            nodes,
            initial_voters,
            duration_ms: 2500,
            clients: 5,
            keys: 2,
            lease_reads,
            membership_changes,
            loss: [0.0, 0.02, 0.1][rng.below(3) as usize],
            duplication: [0.0, 0.02, 0.05][rng.below(3) as usize],
            crash_rate: [0.0005, 0.001, 0.002][rng.below(3) as usize],
            partition_rate: [0.0005, 0.001, 0.002][rng.below(3) as usize],
            snapshot_every: rng.range(5, 40),
            max_size_per_msg: [1, 256, 4096][rng.below(3) as usize],
            // Drawn last, so the options above stay what they were for each seed.
            max_committed_size_per_ready: [u64::MAX, u64::MAX, 1, 64][rng.below(4) as usize],
        }
    }
}

/// What went wrong in a run.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum SimFailureKind {
    /// A Raft safety property was violated.
    Safety(Violation),
    /// The client history is not linearizable.
    NotLinearizable {
        /// The key whose history has no linearization.
        key: u64,
    },
    /// After all faults healed, no client operation completed.
    NoProgress,
    /// The core returned an error it should not have (shared, so failures stay `Clone`).
    Core(Arc<Error>),
    /// A message did not survive an encode/decode round trip.
    Codec,
    /// A node's membership lost (or garbled) the context a member was added with, as
    /// a driver's address book would after a snapshot that did not carry it.
    MemberContext {
        /// The node whose membership is wrong.
        node: NodeId,
        /// The member whose context is missing, wrong, or kept after its removal.
        member: NodeId,
    },
    /// A snapshot's membership is not the one in effect at its index (as the committed
    /// log's conf changes up to that index give it).
    SnapshotConf {
        /// The node that took or installed the snapshot.
        node: NodeId,
        /// The snapshot's index.
        index: u64,
    },
    /// The core's membership as of the applied index differs from the one the driver
    /// got by applying the snapshot and conf changes it was handed.
    AppliedConf {
        /// The node.
        node: NodeId,
    },
}

/// A failed seed, with the command that replays it.
#[derive(Debug, Clone)]
pub struct SimFailure {
    /// The seed.
    pub seed: u64,
    /// Virtual time of the failure, in ms.
    pub at_ms: u64,
    /// What failed.
    pub kind: SimFailureKind,
}

impl fmt::Display for SimFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "seed {} failed at {} ms: {:?}\nreplay with: HAKIT_SIM_SEED={} cargo test -p raft-kv --test sim",
            self.seed, self.at_ms, self.kind, self.seed
        )
    }
}

impl std::error::Error for SimFailure {}

/// Statistics of a successful run.
#[derive(Debug, Clone, Default)]
pub struct SimReport {
    /// Client operations that completed with a known result.
    pub completed_ops: usize,
    /// Client operations whose result stayed unknown.
    pub unknown_ops: usize,
    /// Distinct terms that had a leader.
    pub leaders: usize,
    /// Crashes injected.
    pub crashes: usize,
    /// Crashes that tore the last write.
    pub torn_writes: usize,
    /// Snapshots installed from a leader.
    pub snapshots_installed: usize,
    /// Membership changes committed.
    pub conf_changes: usize,
    /// Keys whose history the checker could not decide within its budget.
    pub inconclusive_checks: usize,
    /// Highest commit index reached.
    pub max_commit: u64,
}

impl SimReport {
    /// Adds another run's figures to these (the highest commit index is kept).
    pub fn absorb(&mut self, other: &SimReport) {
        self.completed_ops += other.completed_ops;
        self.unknown_ops += other.unknown_ops;
        self.leaders += other.leaders;
        self.crashes += other.crashes;
        self.torn_writes += other.torn_writes;
        self.snapshots_installed += other.snapshots_installed;
        self.conf_changes += other.conf_changes;
        self.inconclusive_checks += other.inconclusive_checks;
        self.max_commit = self.max_commit.max(other.max_commit);
    }
}

#[derive(Debug, Clone)]
enum Record {
    Entry(Entry),
    HardState(HardState),
    Snapshot(Snapshot),
}

struct SimNode {
    id: NodeId,
    raft: Option<RawNode<MemStorage>>,
    /// What survives a crash.
    durable: MemStorage,
    /// Written but not fsynced, oldest first.
    unsynced: Vec<Record>,
    sm: KvStateMachine,
    conf: ConfState,
    applied: u64,
    last_snapshot: u64,
    reads: ReadQueue,
    leader_term: Option<Term>,
    restart_at: u64,
}

struct InFlight {
    deliver_at: u64,
    msg: Message,
}

#[derive(Debug, Clone, Copy)]
enum ClientState {
    Idle {
        until: u64,
    },
    Waiting {
        op: usize,
        node: NodeId,
        deadline: u64,
    },
}

struct Client {
    state: ClientState,
    leader_guess: NodeId,
}

struct PendingOp {
    request_id: u64,
    is_read: bool,
    key: u64,
}

/// One simulation run.
pub struct Simulation {
    opts: SimOptions,
    rng: SimRng,
    now: u64,
    clock: u64,
    nodes: Vec<SimNode>,
    net: Vec<InFlight>,
    blocked: HashSet<(NodeId, NodeId)>,
    heal_at: u64,
    clients: Vec<Client>,
    history: Vec<Operation>,
    ops: Vec<PendingOp>,
    next_request: u64,
    safety: SafetyChecker,
    report: SimReport,
    retired: HashSet<NodeId>,
    /// Every conf change applied anywhere, by index (the bootstrap log's included): it
    /// gives the membership in effect at any applied index.
    conf_history: BTreeMap<Index, ConfChange>,
    faults_on: bool,
    /// Print events to stderr (`HAKIT_SIM_TRACE=1`), for replaying a failing seed.
    trace: bool,
    loss: f64,
    duplication: f64,
}

impl Simulation {
    /// Sets up the cluster for `opts`.
    pub fn new(opts: SimOptions) -> Result<Self, SimFailure> {
        let mut sim = Simulation {
            rng: SimRng::new(opts.seed),
            now: 0,
            clock: 0,
            nodes: Vec::new(),
            net: Vec::new(),
            blocked: HashSet::new(),
            heal_at: 0,
            clients: Vec::new(),
            history: Vec::new(),
            ops: Vec::new(),
            next_request: 1,
            safety: SafetyChecker::default(),
            report: SimReport::default(),
            retired: HashSet::new(),
            conf_history: BTreeMap::new(),
            faults_on: true,
            trace: std::env::var_os("HAKIT_SIM_TRACE").is_some(),
            loss: opts.loss,
            duplication: opts.duplication,
            opts,
        };
        // The bootstrap voters start with the bootstrap log (their membership, with
        // contexts, as committed entries); spare nodes start empty, as a joining node
        // does, and learn the membership from the log or a snapshot: they follow but
        // cannot campaign until added.
        let (bootstrap_entries, bootstrap_hard_state) =
            bootstrap_log((1..=sim.opts.initial_voters).map(|id| (id, member_context(id))));
        for id in 1..=sim.opts.nodes {
            let conf = ConfState::default();
            let mut durable = MemStorage::new(conf.clone());
            if id <= sim.opts.initial_voters {
                durable
                    .append(&bootstrap_entries)
                    .map_err(|e| sim.fail(SimFailureKind::Core(Arc::new(e))))?;
                durable.set_hard_state(bootstrap_hard_state);
            }
            sim.nodes.push(SimNode {
                id,
                raft: None,
                durable,
                unsynced: Vec::new(),
                sm: KvStateMachine::default(),
                conf,
                applied: 0,
                last_snapshot: 0,
                reads: ReadQueue::new(),
                leader_term: None,
                restart_at: 0,
            });
            sim.start_node((id - 1) as usize)?;
        }
        for _ in 0..sim.opts.clients {
            let guess = sim.rng.range(1, sim.opts.initial_voters);
            sim.clients.push(Client {
                state: ClientState::Idle { until: 0 },
                leader_guess: guess,
            });
        }
        Ok(sim)
    }

    fn fail(&self, kind: SimFailureKind) -> SimFailure {
        SimFailure {
            seed: self.opts.seed,
            at_ms: self.now,
            kind,
        }
    }

    fn config(&self, id: NodeId, applied: u64) -> Config {
        let mut cfg = Config::new(id);
        cfg.election_tick = 10;
        cfg.heartbeat_tick = 2;
        cfg.max_size_per_msg = self.opts.max_size_per_msg;
        cfg.max_inflight_msgs = 4;
        cfg.max_inflight_bytes = 4096;
        cfg.snapshot_chunk_size = 16;
        cfg.max_committed_size_per_ready = self.opts.max_committed_size_per_ready;
        cfg.applied = applied;
        cfg.pre_vote = self.opts.pre_vote;
        cfg.check_quorum = self.opts.check_quorum;
        cfg.seed = self.opts.seed.wrapping_mul(0x9e37_79b9).wrapping_add(id) ^ self.now;
        if self.opts.lease_reads {
            cfg.read_mode = ReadMode::Lease;
        }
        cfg
    }

    /// (Re)starts a node from its durable state.
    fn start_node(&mut self, i: usize) -> Result<(), SimFailure> {
        let snapshot = self.nodes[i].durable.current_snapshot().clone();
        let mut sm = KvStateMachine::default();
        let (conf, applied) = if snapshot.is_empty() {
            let conf = self.nodes[i]
                .durable
                .initial_state()
                .map(|s| s.conf_state)
                .unwrap_or_default();
            (conf, 0)
        } else {
            sm.restore(&snapshot)
                .map_err(|e| self.fail(SimFailureKind::Core(Arc::new(e))))?;
            (snapshot.meta.conf_state.clone(), snapshot.meta.index)
        };
        let cfg = self.config(self.nodes[i].id, applied);
        let storage = self.nodes[i].durable.clone();
        let raft =
            RawNode::new(cfg, storage).map_err(|e| self.fail(SimFailureKind::Core(Arc::new(e))))?;
        if self.trace {
            eprintln!(
                "{:>6} start node {} term {} log ..={} commit {}",
                self.now,
                self.nodes[i].id,
                raft.term(),
                raft.last_index(),
                raft.committed()
            );
        }
        let node = &mut self.nodes[i];
        node.raft = Some(raft);
        node.sm = sm;
        node.conf = conf;
        node.applied = applied;
        node.last_snapshot = applied;
        node.reads.clear();
        node.leader_term = None;
        Ok(())
    }

    /// Crashes a node: whatever was not fsynced is lost, except that a prefix of the
    /// unsynced writes may have reached the disk (a torn tail).
    fn crash(&mut self, i: usize) {
        let keep = self.rng.below(self.nodes[i].unsynced.len() as u64 + 1) as usize;
        if keep > 0 && keep < self.nodes[i].unsynced.len() {
            self.report.torn_writes += 1;
        }
        let node = &mut self.nodes[i];
        let records: Vec<Record> = node.unsynced.drain(..).take(keep).collect();
        for r in records {
            apply_record(&mut node.durable, r);
        }
        if self.trace {
            eprintln!(
                "{:>6} crash node {} (kept {keep} unsynced records)",
                self.now, node.id
            );
        }
        node.raft = None;
        node.reads.clear();
        node.leader_term = None;
        node.restart_at = self.now + self.rng.range(50, 600);
        self.report.crashes += 1;
    }

    fn send(&mut self, msg: Message) {
        if self.blocked.contains(&(msg.from, msg.to)) || self.rng.chance(self.loss) {
            return;
        }
        let copies = if self.rng.chance(self.duplication) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            // Mostly short delays, sometimes a long one: messages overtake each other and
            // arrive after a term has passed.
            let delay = if self.rng.chance(0.03) {
                self.rng.range(20, 300)
            } else {
                self.rng.range(1, 8)
            };
            self.net.push(InFlight {
                deliver_at: self.now + delay,
                msg: msg.clone(),
            });
        }
    }

    fn node_index(&self, id: NodeId) -> Option<usize> {
        let i = id.checked_sub(1)? as usize;
        (i < self.nodes.len()).then_some(i)
    }

    /// Runs the faulty phase, then a quiet phase, then checks the history.
    pub fn run(mut self) -> Result<SimReport, SimFailure> {
        let fault_end = self.opts.duration_ms;
        let quiet_end = fault_end + 3000;
        let mut completed_at_fault_end = 0;
        while self.now < quiet_end {
            self.now += 1;
            if self.now == fault_end {
                self.faults_on = false;
                self.blocked.clear();
                self.loss = 0.0;
                self.duplication = 0.0;
                completed_at_fault_end = self.completed_ops();
            }
            self.inject_faults()?;
            if self.now % TICK_MS == 0 {
                for i in 0..self.nodes.len() {
                    if let Some(r) = self.nodes[i].raft.as_mut() {
                        r.tick();
                    }
                }
            }
            self.run_clients();
            self.deliver()?;
            self.process_readies()?;
            self.check_leaders()?;
            self.expire_client_ops();
            if self.now > fault_end + 200 && self.completed_ops() > completed_at_fault_end + 5 {
                break;
            }
        }
        if self.completed_ops() <= completed_at_fault_end {
            if self.trace {
                for n in &self.nodes {
                    if let Some(r) = n.raft.as_ref() {
                        let matched: Vec<_> = (1..=self.opts.nodes).map(|p| r.matched(p)).collect();
                        eprintln!(
                            "node {} {:?} term {} last {} commit {} applied {} matched {:?}",
                            n.id,
                            r.role(),
                            r.term(),
                            r.last_index(),
                            r.committed(),
                            r.applied(),
                            matched
                        );
                    }
                }
            }
            return Err(self.fail(SimFailureKind::NoProgress));
        }
        // Ops still outstanding have unknown outcomes.
        match check_history(&self.history) {
            CheckResult::Linearizable => {}
            CheckResult::NotLinearizable { key } => {
                return Err(self.fail(SimFailureKind::NotLinearizable { key }));
            }
            CheckResult::Inconclusive { .. } => self.report.inconclusive_checks += 1,
        }
        self.report.unknown_ops = self.history.iter().filter(|o| o.ret.is_none()).count();
        self.report.completed_ops = self.history.len() - self.report.unknown_ops;
        Ok(self.report)
    }

    fn completed_ops(&self) -> usize {
        self.history.iter().filter(|o| o.ret.is_some()).count()
    }

    fn inject_faults(&mut self) -> Result<(), SimFailure> {
        // Restarts happen in the quiet phase too.
        for i in 0..self.nodes.len() {
            if self.nodes[i].raft.is_none()
                && (self.now >= self.nodes[i].restart_at || !self.faults_on)
            {
                self.start_node(i)?;
            }
        }
        if !self.faults_on {
            return Ok(());
        }
        if self.now >= self.heal_at && !self.blocked.is_empty() {
            self.blocked.clear();
        }
        let n = self.nodes.len();
        if self.rng.chance(self.opts.crash_rate) {
            let i = self.rng.below(n as u64) as usize;
            let down = self.nodes.iter().filter(|x| x.raft.is_none()).count();
            if self.nodes[i].raft.is_some() && down < n / 2 {
                self.crash(i);
            }
        }
        if self.blocked.is_empty() && self.rng.chance(self.opts.partition_rate) {
            let ids: Vec<NodeId> = (1..=n as u64).collect();
            let leader = self.leader_index().map(|i| self.nodes[i].id);
            if let Some(leader) = leader.filter(|_| self.rng.chance(0.4)) {
                // Put the leader in a minority: it may keep believing it leads (and confirm
                // reads with its few followers) while the majority elects another.
                let mut minority = vec![leader];
                let extra = self.rng.below((n as u64 - 1) / 2 + 1) as usize;
                while minority.len() < 1 + extra.min((n - 1) / 2) {
                    let id = self.rng.range(1, n as u64);
                    if !minority.contains(&id) {
                        minority.push(id);
                    }
                }
                for &a in &minority {
                    for &b in &ids {
                        if !minority.contains(&b) {
                            self.blocked.insert((a, b));
                            self.blocked.insert((b, a));
                        }
                    }
                }
            } else if self.rng.chance(0.5) {
                // Symmetric: split into two sides.
                let side: Vec<bool> = ids.iter().map(|_| self.rng.chance(0.5)).collect();
                for (a, &sa) in ids.iter().zip(&side) {
                    for (b, &sb) in ids.iter().zip(&side) {
                        if sa != sb {
                            self.blocked.insert((*a, *b));
                        }
                    }
                }
            } else {
                // Asymmetric: some directed links fail.
                for _ in 0..self.rng.range(1, n as u64 * 2) {
                    let a = self.rng.range(1, n as u64);
                    let b = self.rng.range(1, n as u64);
                    if a != b {
                        self.blocked.insert((a, b));
                    }
                }
            }
            self.heal_at = self.now + self.rng.range(100, 800);
        }
        if self.rng.chance(0.0008) {
            self.try_transfer();
        }
        if self.opts.membership_changes && self.rng.chance(0.002) {
            self.try_conf_change();
        }
        Ok(())
    }

    fn leader_index(&self) -> Option<usize> {
        self.nodes
            .iter()
            .position(|n| n.raft.as_ref().is_some_and(|r| r.role() == Role::Leader))
    }

    fn try_transfer(&mut self) {
        let Some(i) = self.leader_index() else { return };
        let voters = self.nodes[i]
            .raft
            .as_ref()
            .map(|r| r.conf_state().voters.clone())
            .unwrap_or_default();
        let Some(&to) = self.rng.pick(&voters) else {
            return;
        };
        if let Some(r) = self.nodes[i].raft.as_mut() {
            // Refusals (e.g. transferring to itself) are expected and harmless.
            let _ = r.transfer_leader(to);
        }
    }

    fn try_conf_change(&mut self) {
        let Some(i) = self.leader_index() else { return };
        let Some(conf) = self.nodes[i].raft.as_ref().map(|r| r.conf_state().clone()) else {
            return;
        };
        let spare: Vec<NodeId> = (1..=self.opts.nodes)
            .filter(|id| !conf.contains(*id) && !self.retired.contains(id))
            .collect();
        let change = if let Some(&id) = self.rng.pick(&spare) {
            Some((ConfChangeKind::AddLearner, id))
        } else if let Some(&id) = self.rng.pick(&conf.learners) {
            Some((ConfChangeKind::AddVoter, id))
        } else if conf.voters.len() > 3 {
            self.rng
                .pick(&conf.voters)
                .map(|&id| (ConfChangeKind::RemoveNode, id))
        } else {
            None
        };
        let Some((kind, node_id)) = change else {
            return;
        };
        // An added member's "address", as the node driver puts its peer address there;
        // a promotion carries none, as in the driver.
        let context = match kind {
            ConfChangeKind::AddLearner => member_context(node_id),
            _ => Bytes::new(),
        };
        let cc = ConfChange {
            kind,
            node_id,
            context,
        };
        let Some(r) = self.nodes[i].raft.as_mut() else {
            return;
        };
        if r.propose_conf_change(&cc).is_ok() && kind == ConfChangeKind::RemoveNode {
            // Ids are never reused, as in etcd.
            self.retired.insert(node_id);
        }
    }

    fn run_clients(&mut self) {
        for c in 0..self.clients.len() {
            let ClientState::Idle { until } = self.clients[c].state else {
                continue;
            };
            if self.now < until {
                continue;
            }
            let node = self.clients[c].leader_guess;
            let Some(i) = self.node_index(node) else {
                continue;
            };
            let request_id = self.next_request;
            let key = self.rng.below(self.opts.keys);
            let is_read = self.rng.chance(0.4);
            let Some(raft) = self.nodes[i].raft.as_mut() else {
                self.clients[c].leader_guess = self.rng.range(1, self.opts.nodes);
                self.clients[c].state = ClientState::Idle {
                    until: self.now + 5,
                };
                continue;
            };
            let result = if is_read {
                raft.read_index(Bytes::copy_from_slice(&request_id.to_le_bytes()))
                    .map(|_| ())
            } else {
                let cmd = KvCommand {
                    request_id,
                    op: KvOp::Put {
                        key: Bytes::copy_from_slice(&key.to_le_bytes()),
                        value: Bytes::copy_from_slice(&request_id.to_le_bytes()),
                    },
                };
                raft.propose(cmd.encode()).map(|_| ())
            };
            match result {
                Ok(()) => {
                    self.next_request += 1;
                    self.clock += 1;
                    self.history.push(Operation {
                        key,
                        input: if is_read {
                            KvInput::Get
                        } else {
                            KvInput::Put(request_id)
                        },
                        output: None,
                        call: self.clock,
                        ret: None,
                    });
                    self.ops.push(PendingOp {
                        request_id,
                        is_read,
                        key,
                    });
                    self.clients[c].state = ClientState::Waiting {
                        op: self.history.len() - 1,
                        node,
                        deadline: self.now + 150,
                    };
                }
                Err(Error::NotLeader { leader: Some(l) }) => {
                    self.clients[c].leader_guess = l;
                    self.clients[c].state = ClientState::Idle {
                        until: self.now + 1,
                    };
                }
                Err(_) => {
                    self.clients[c].leader_guess = self.rng.range(1, self.opts.nodes);
                    self.clients[c].state = ClientState::Idle {
                        until: self.now + 10,
                    };
                }
            }
        }
    }

    fn expire_client_ops(&mut self) {
        for c in 0..self.clients.len() {
            if let ClientState::Waiting { deadline, .. } = self.clients[c].state
                && self.now >= deadline
            {
                // The outcome stays unknown (ret None) in the history.
                self.clients[c].state = ClientState::Idle {
                    until: self.now + 1,
                };
                self.clients[c].leader_guess = self.rng.range(1, self.opts.nodes);
            }
        }
    }

    /// Completes the op with `request_id` if a client waits for it on `node`.
    fn complete(&mut self, node: NodeId, request_id: u64, output: Option<u64>) {
        for c in 0..self.clients.len() {
            let ClientState::Waiting { op, node: n, .. } = self.clients[c].state else {
                continue;
            };
            if n != node || self.ops[op].request_id != request_id {
                continue;
            }
            self.clock += 1;
            let h = &mut self.history[op];
            h.ret = Some(self.clock);
            h.output = output;
            self.clients[c].state = ClientState::Idle {
                until: self.now + self.rng.range(0, 5),
            };
        }
    }

    fn deliver(&mut self) -> Result<(), SimFailure> {
        let now = self.now;
        let mut due: Vec<Message> = Vec::new();
        let mut k = 0;
        while k < self.net.len() {
            if self.net[k].deliver_at <= now {
                due.push(self.net.swap_remove(k).msg);
            } else {
                k += 1;
            }
        }
        // Random delivery order among the messages due now.
        for j in (1..due.len()).rev() {
            let s = self.rng.below(j as u64 + 1) as usize;
            due.swap(j, s);
        }
        for msg in due {
            if self.blocked.contains(&(msg.from, msg.to)) {
                continue;
            }
            let Some(i) = self.node_index(msg.to) else {
                continue;
            };
            // Every message crosses the wire format, as it would over TCP.
            let decoded = match Message::decode(&msg.to_bytes()) {
                Ok(d) if d == msg => d,
                _ => return Err(self.fail(SimFailureKind::Codec)),
            };
            if let Some(r) = self.nodes[i].raft.as_mut() {
                r.step(decoded).map_err(|e| SimFailure {
                    seed: self.opts.seed,
                    at_ms: now,
                    kind: SimFailureKind::Core(Arc::new(e)),
                })?;
            }
        }
        Ok(())
    }

    fn check_leaders(&mut self) -> Result<(), SimFailure> {
        for i in 0..self.nodes.len() {
            let Some(r) = self.nodes[i].raft.as_ref() else {
                continue;
            };
            if r.role() != Role::Leader {
                continue;
            }
            let (id, term) = (r.id(), r.term());
            self.safety
                .observe_leader(id, term)
                .map_err(|v| self.fail(SimFailureKind::Safety(v)))?;
            if self.nodes[i].leader_term != Some(term) {
                if self.trace {
                    eprintln!(
                        "{:>6} node {id} leads term {term}, log {}..={} voters {:?}",
                        self.now,
                        r.first_index(),
                        r.last_index(),
                        r.conf_state().voters
                    );
                }
                self.nodes[i].leader_term = Some(term);
                self.report.leaders += 1;
                let r = self.nodes[i].raft.as_ref().expect("checked above");
                self.safety
                    .check_leader_complete(id, term, r.first_index(), |ix| r.term_at(ix))
                    .map_err(|v| self.fail(SimFailureKind::Safety(v)))?;
            }
        }
        Ok(())
    }

    /// Every member must be known with the context it was added with (the bootstrap
    /// members' from the bootstrap log), in the applied membership and in the core's,
    /// however the node got there (log, snapshot from the leader, restart from its own
    /// snapshot); removed members keep none.
    fn check_member_contexts(&self, i: usize) -> Result<(), SimFailure> {
        let node = &self.nodes[i];
        let confs = std::iter::once(&node.conf).chain(node.raft.as_ref().map(|r| r.conf_state()));
        for conf in confs {
            for member in conf.members() {
                if conf.context(member) != Some(&member_context(member)) {
                    return Err(self.fail(SimFailureKind::MemberContext {
                        node: node.id,
                        member,
                    }));
                }
            }
            if let Some(&member) = conf.contexts.keys().find(|&&m| !conf.contains(m)) {
                return Err(self.fail(SimFailureKind::MemberContext {
                    node: node.id,
                    member,
                }));
            }
        }
        Ok(())
    }

    /// The membership in effect at `index`: every conf change up to `index` applied to the
    /// empty membership the log starts from. `None` if some entry up to `index` was never seen applied (then the
    /// history cannot tell).
    fn conf_at(&self, index: Index) -> Option<ConfState> {
        if !self.safety.applied_through(index) {
            return None;
        }
        let mut conf = ConfState::default();
        for cc in self.conf_history.range(..=index).map(|(_, cc)| cc) {
            conf = conf.applied(cc);
        }
        Some(conf)
    }

    /// A snapshot at `index` must carry the membership in effect at `index`: a later one
    /// (say, as of the commit index while the state machine lags) would have a node that
    /// restarts from it, or receives it, count votes in a configuration the log has not
    /// reached yet.
    fn check_snapshot_conf(
        &self,
        node: NodeId,
        index: Index,
        conf: &ConfState,
    ) -> Result<(), SimFailure> {
        if self.conf_at(index).as_ref() != Some(conf) {
            if self.trace {
                eprintln!(
                    "{:>6} node {node} snapshot at {index} has {conf:?}, the log says {:?}",
                    self.now,
                    self.conf_at(index)
                );
            }
            return Err(self.fail(SimFailureKind::SnapshotConf { node, index }));
        }
        Ok(())
    }

    fn process_readies(&mut self) -> Result<(), SimFailure> {
        for i in 0..self.nodes.len() {
            // Bounded: a node produces a handful of readies per event at most.
            for _ in 0..4 {
                let has = self.nodes[i].raft.as_ref().is_some_and(|r| r.has_ready());
                if !has {
                    break;
                }
                self.handle_ready(i)?;
            }
        }
        Ok(())
    }

    fn handle_ready(&mut self, i: usize) -> Result<(), SimFailure> {
        let id = self.nodes[i].id;
        let Some(raft) = self.nodes[i].raft.as_mut() else {
            return Ok(());
        };
        let rd = raft.ready();
        // 1. Write (to the page cache): snapshot, entries, hard state.
        if let Some(s) = &rd.snapshot {
            raft.storage_mut()
                .apply_snapshot(s.clone())
                .map_err(|e| SimFailure {
                    seed: self.opts.seed,
                    at_ms: self.now,
                    kind: SimFailureKind::Core(Arc::new(e)),
                })?;
            self.nodes[i].unsynced.push(Record::Snapshot(s.clone()));
            self.report.snapshots_installed += 1;
            self.safety
                .observe_snapshot(id, s.meta.index, s.meta.term)
                .map_err(|v| self.fail(SimFailureKind::Safety(v)))?;
            self.check_snapshot_conf(id, s.meta.index, &s.meta.conf_state)?;
        }
        let Some(raft) = self.nodes[i].raft.as_mut() else {
            return Ok(());
        };
        if !rd.entries.is_empty() {
            raft.storage_mut()
                .append(&rd.entries)
                .map_err(|e| SimFailure {
                    seed: self.opts.seed,
                    at_ms: self.now,
                    kind: SimFailureKind::Core(Arc::new(e)),
                })?;
            for e in &rd.entries {
                if self.trace {
                    eprintln!("{:>6} node {id} persists {}@{}", self.now, e.index, e.term);
                }
                let prev_term = raft.storage().term(e.index - 1).unwrap_or(0);
                if let Err(v) = self.safety.observe_append(id, e, prev_term) {
                    return Err(SimFailure {
                        seed: self.opts.seed,
                        at_ms: self.now,
                        kind: SimFailureKind::Safety(v),
                    });
                }
            }
            self.nodes[i]
                .unsynced
                .extend(rd.entries.iter().cloned().map(Record::Entry));
        }
        if let Some(hs) = rd.hard_state {
            if let Some(raft) = self.nodes[i].raft.as_mut() {
                raft.storage_mut().set_hard_state(hs);
            }
            self.nodes[i].unsynced.push(Record::HardState(hs));
        }
        // 2. fsync if required; a crash before it loses (part of) the batch.
        if rd.must_sync {
            if self.faults_on && self.rng.chance(0.01) {
                self.crash(i);
                return Ok(());
            }
            let node = &mut self.nodes[i];
            for r in node.unsynced.drain(..) {
                apply_record(&mut node.durable, r);
            }
        }
        // 3. Send, only now that what the messages promise is durable.
        let Ready {
            messages,
            snapshot,
            committed_entries,
            read_states,
            ..
        } = rd;
        for m in messages {
            self.send(m);
        }
        if self.faults_on && self.rng.chance(0.003) {
            // A crash right after sending, before anything else is synced: exposes state
            // that was acted on without being made durable.
            self.crash(i);
            return Ok(());
        }
        // 4. Apply.
        if let Some(s) = snapshot {
            let node = &mut self.nodes[i];
            node.sm.restore(&s).map_err(|e| SimFailure {
                seed: self.opts.seed,
                at_ms: self.now,
                kind: SimFailureKind::Core(Arc::new(e)),
            })?;
            node.conf = s.meta.conf_state.clone();
            node.applied = s.meta.index;
            node.last_snapshot = s.meta.index;
        }
        let current_term = self.nodes[i].raft.as_ref().map_or(0, |r| r.term());
        for e in &committed_entries {
            if self.trace {
                eprintln!("{:>6} node {id} applies {}@{}", self.now, e.index, e.term);
            }
            self.safety
                .observe_apply(id, e, current_term)
                .map_err(|v| self.fail(SimFailureKind::Safety(v)))?;
            self.report.max_commit = self.report.max_commit.max(e.index);
            let node = &mut self.nodes[i];
            node.applied = e.index;
            match e.kind {
                EntryKind::Normal if !e.data.is_empty() => {
                    let resp = node.sm.apply(e.index, &e.data);
                    self.complete(id, resp.request_id, None);
                }
                EntryKind::ConfChange => {
                    if let Ok(cc) = ConfChange::decode(&e.data) {
                        node.conf = node.conf.applied(&cc);
                        // Every node applies the same entry here (checked above).
                        self.conf_history
                            .entry(e.index)
                            .or_insert_with(|| cc.clone());
                        if self.trace {
                            eprintln!("{:>6} node {id} conf {:?} -> {:?}", self.now, cc, node.conf);
                        }
                        self.report.conf_changes += 1;
                    }
                }
                _ => {}
            }
        }
        self.nodes[i].reads.push(read_states);
        if let Some(raft) = self.nodes[i].raft.as_mut() {
            raft.advance(Ready::default());
        }
        // 5. Serve reads whose index is applied.
        let applied = self.nodes[i].applied;
        let ready_reads = self.nodes[i].reads.take_ready(applied);
        for r in ready_reads {
            let Ok(bytes) = <[u8; 8]>::try_from(&r.context[..]) else {
                continue;
            };
            let request_id = u64::from_le_bytes(bytes);
            let Some(op) = self.ops.iter().find(|o| o.request_id == request_id) else {
                continue;
            };
            if !op.is_read {
                continue;
            }
            let key = op.key;
            let value = self.nodes[i]
                .sm
                .get(&key.to_le_bytes())
                .and_then(|v| <[u8; 8]>::try_from(&v[..]).ok())
                .map(u64::from_le_bytes);
            self.complete(id, request_id, value);
        }
        self.check_member_contexts(i)?;
        if let Some(raft) = self.nodes[i].raft.as_ref()
            && raft.applied_conf_state() != &self.nodes[i].conf
        {
            return Err(self.fail(SimFailureKind::AppliedConf { node: id }));
        }
        // 6. Compact now and then, with the membership the node driver puts in its
        // snapshots.
        let node = &self.nodes[i];
        if node.applied >= node.last_snapshot + self.opts.snapshot_every
            && let Some(raft) = node.raft.as_ref()
        {
            let (index, conf) = (node.applied, raft.applied_conf_state().clone());
            self.check_snapshot_conf(id, index, &conf)?;
            let node = &mut self.nodes[i];
            let data = node.sm.snapshot();
            if let Some(raft) = node.raft.as_mut()
                && raft
                    .storage_mut()
                    .create_snapshot(index, conf.clone(), data.clone())
                    .is_ok()
            {
                // The snapshot file is written atomically; the log entries it covers
                // were synced before they were applied.
                let _ = node.durable.create_snapshot(index, conf, data);
                node.last_snapshot = index;
            }
        }
        Ok(())
    }
}

fn apply_record(storage: &mut MemStorage, r: Record) {
    match r {
        Record::Entry(e) => {
            // In-order replay of what the working copy accepted cannot leave a gap.
            let _ = storage.append(&[e]);
        }
        Record::HardState(hs) => storage.set_hard_state(hs),
        Record::Snapshot(s) => {
            let _ = storage.apply_snapshot(s);
        }
    }
}

/// Runs one seed with its derived options.
pub fn run_seed(seed: u64) -> Result<SimReport, SimFailure> {
    Simulation::new(SimOptions::from_seed(seed))?.run()
}

/// The context the simulation adds member `id` with (standing in for its peer address).
fn member_context(id: NodeId) -> Bytes {
    Bytes::from(format!("sim-node-{id}"))
}
