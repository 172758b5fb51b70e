//! The Raft algorithm proper: roles, elections, replication, commit, reads, transfer,
//! membership and snapshots. [`super::RawNode`] wraps it into the `Ready`/`advance` API.
//!
//! Roles and transitions:
//!
//! ```text
//!              election timeout              pre-votes from a quorum
//!   Follower -----------------> PreCandidate -----------------------> Candidate
//!      ^  ^                          |                                 |     |
//!      |  +------ higher term, ------+                                 |     | votes from
//!      |          leader heard,      (without pre-vote, or on          |     | a quorum
//!      |          pre-vote lost       TimeoutNow: straight to          |     v
//!      +------------------------------ Candidate) -----higher term-----+   Leader
//!      ^                                                                     |
//!      +---- higher term, lost quorum contact (check-quorum), removed -------+
//! ```

use std::collections::{BTreeMap, VecDeque};

use bytes::{Bytes, BytesMut};

use super::codec::Codec;
use super::config::{Config, ReadMode};
use super::message::{Message, MessageBody};
use super::progress::{Progress, ProgressState};
use super::raft_log::RaftLog;
use super::storage::Storage;
use super::types::{
    ConfChange, ConfChangeKind, ConfState, Entry, EntryKind, Index, NodeId, Snapshot, SnapshotMeta,
    Term,
};
use crate::error::{Error, Result};

/// The role a node plays in its current term.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Replicates the leader's log; campaigns when the leader goes quiet.
    Follower,
    /// Asking whether it could win before disturbing anyone with a new term.
    PreCandidate,
    /// Campaigning in a new term.
    Candidate,
    /// Accepts proposals and replicates them.
    Leader,
}

/// A read confirmed linearizable: serve it once the state machine applied `index`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadState {
    /// The commit index at the time the read was confirmed.
    pub index: Index,
    /// The caller's request identifier.
    pub context: Bytes,
}

#[derive(Debug)]
struct PendingRead {
    seq: u64,
    index: Index,
    context: Bytes,
    from: NodeId,
}

#[derive(Debug)]
struct SnapshotReceive {
    meta: SnapshotMeta,
    data: BytesMut,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CampaignKind {
    PreVote,
    Election,
    Transfer,
}

enum Tally {
    Won,
    Lost,
    Pending,
}

/// SplitMix64: tiny, seedable, good enough to spread election timeouts.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// One Raft participant.
#[derive(Debug)]
pub(crate) struct Raft<S> {
    pub(crate) id: NodeId,
    pub(crate) term: Term,
    pub(crate) vote: Option<NodeId>,
    pub(crate) log: RaftLog<S>,
    /// Membership as of the commit index.
    pub(crate) conf: ConfState,
    /// Conf-change entries up to here have been applied to `conf`.
    conf_scanned: Index,
    /// Highest index at which a conf-change entry was ever appended (or could be, for
    /// entries read back from storage): no need to scan committed entries beyond it.
    conf_hint: Index,
    pub(crate) role: Role,
    pub(crate) leader: Option<NodeId>,
    progress: BTreeMap<NodeId, Progress>,
    votes: BTreeMap<NodeId, bool>,
    pub(crate) msgs: Vec<Message>,
    pub(crate) read_states: Vec<ReadState>,
    cfg: Config,
    rng: Rng,
    election_elapsed: u32,
    heartbeat_elapsed: u32,
    randomized_timeout: u32,
    /// Ticks since start: the leader's clock for leases.
    ticks: u64,
    /// In lease mode a (re)started node refuses votes for one election timeout, because it
    /// may have promised a leader not to before it crashed.
    vote_guard_until: u64,
    /// Index of the latest conf change the leader appended (a new one waits for it).
    pending_conf_index: Index,
    pub(crate) transferee: Option<NodeId>,
    /// Heartbeat round counter; reads wait for a quorum to acknowledge a round.
    heartbeat_seq: u64,
    /// Tick at which each unconfirmed heartbeat round was sent (for the lease).
    heartbeat_sent: VecDeque<(u64, u64)>,
    lease_until: u64,
    lease_disabled: bool,
    pending_reads: VecDeque<PendingRead>,
    /// Reads received before the leader committed an entry of its term.
    deferred_reads: Vec<(Bytes, NodeId)>,
    /// Appends and heartbeats are batched until the driver asks for a `Ready`.
    pub(crate) need_broadcast: bool,
    pub(crate) need_heartbeat: bool,
    receiving: Option<SnapshotReceive>,
}

impl<S: Storage> Raft<S> {
    pub(crate) fn new(cfg: Config, storage: S) -> Result<Self> {
        cfg.validate()?;
        let initial = storage.initial_state()?;
        let hs = initial.hard_state;
        let log = RaftLog::new(storage, hs.commit, cfg.applied)?;
        let first = log.first_index();
        let vote_guard_until = if cfg.read_mode == ReadMode::Lease {
            u64::from(cfg.election_tick)
        } else {
            0
        };
        let mut raft = Raft {
            id: cfg.id,
            term: hs.term,
            vote: hs.vote,
            log,
            conf: initial.conf_state,
            conf_scanned: first - 1,
            conf_hint: Index::MAX,
            role: Role::Follower,
            leader: None,
            progress: BTreeMap::new(),
            votes: BTreeMap::new(),
            msgs: Vec::new(),
            read_states: Vec::new(),
            rng: Rng(cfg.seed ^ cfg.id.rotate_left(32)),
            election_elapsed: 0,
            heartbeat_elapsed: 0,
            randomized_timeout: cfg.election_tick,
            ticks: 0,
            vote_guard_until,
            pending_conf_index: 0,
            transferee: None,
            heartbeat_seq: 0,
            heartbeat_sent: VecDeque::new(),
            lease_until: 0,
            lease_disabled: false,
            pending_reads: VecDeque::new(),
            deferred_reads: Vec::new(),
            need_broadcast: false,
            need_heartbeat: false,
            receiving: None,
            cfg,
        };
        let committed = raft.log.committed;
        raft.log.committed = committed.min(raft.log.last_index());
        raft.apply_conf_changes();
        // Entries already in storage may hold conf changes that are not committed yet.
        raft.conf_hint = raft.log.last_index();
        let term = raft.term;
        raft.become_follower(term, None);
        Ok(raft)
    }

    // ----- roles ---------------------------------------------------------------------

    fn reset(&mut self, term: Term) {
        if term != self.term {
            self.term = term;
            self.vote = None;
        }
        self.leader = None;
        self.election_elapsed = 0;
        self.heartbeat_elapsed = 0;
        let spread = u64::from(self.cfg.election_tick);
        self.randomized_timeout = self.cfg.election_tick + (self.rng.next() % spread) as u32;
        self.votes.clear();
        self.progress.clear();
        self.transferee = None;
        self.pending_reads.clear();
        self.deferred_reads.clear();
        self.heartbeat_sent.clear();
        self.lease_until = 0;
        self.lease_disabled = false;
        self.need_broadcast = false;
        self.need_heartbeat = false;
    }

    pub(crate) fn become_follower(&mut self, term: Term, leader: Option<NodeId>) {
        self.reset(term);
        self.role = Role::Follower;
        self.leader = leader;
    }

    fn become_pre_candidate(&mut self) {
        // Term and vote stay: a pre-candidate changes nothing durable.
        self.votes.clear();
        self.progress.clear();
        self.leader = None;
        self.role = Role::PreCandidate;
    }

    fn become_candidate(&mut self) {
        let term = self.term + 1;
        self.reset(term);
        self.vote = Some(self.id);
        self.role = Role::Candidate;
    }

    fn become_leader(&mut self) {
        let term = self.term;
        self.reset(term);
        self.role = Role::Leader;
        self.leader = Some(self.id);
        let last = self.log.last_index();
        let members: Vec<NodeId> = self.conf.members().collect();
        for id in members {
            self.add_progress(id, last + 1);
        }
        // The no-op lets the leader commit entries of earlier terms (which it may not commit
        // by counting, Raft §5.4.2) and tells it the commit index for reads.
        let noop = Entry {
            term,
            index: last + 1,
            kind: EntryKind::Normal,
            data: Bytes::new(),
        };
        self.append_entries(vec![noop]);
        // A conf change must wait until the no-op commits: proposing one before an entry of
        // this term commits breaks single-server changes (Ongaro, raft-dev 2015).
        self.pending_conf_index = self.log.last_index();
        self.need_broadcast = true;
    }

    fn add_progress(&mut self, id: NodeId, next: Index) {
        let mut pr = Progress::new(
            next,
            self.cfg.max_inflight_msgs,
            self.cfg.max_inflight_bytes,
        );
        if id == self.id {
            pr.matched = next - 1;
        }
        self.progress.insert(id, pr);
    }

    fn quorum(&self) -> usize {
        self.conf.voters.len() / 2 + 1
    }

    fn promotable(&self) -> bool {
        self.conf.is_voter(self.id)
    }

    // ----- ticks ---------------------------------------------------------------------

    pub(crate) fn tick(&mut self) {
        self.ticks += 1;
        if self.role == Role::Leader {
            self.tick_leader();
        } else {
            self.election_elapsed += 1;
            if self.promotable() && self.election_elapsed >= self.randomized_timeout {
                self.election_elapsed = 0;
                let kind = if self.cfg.pre_vote {
                    CampaignKind::PreVote
                } else {
                    CampaignKind::Election
                };
                self.campaign(kind);
            }
        }
    }

    fn tick_leader(&mut self) {
        self.heartbeat_elapsed += 1;
        self.election_elapsed += 1;
        if self.election_elapsed >= self.cfg.election_tick {
            self.election_elapsed = 0;
            if self.cfg.check_quorum {
                let active = self
                    .conf
                    .voters
                    .iter()
                    .filter(|&&v| {
                        v == self.id || self.progress.get(&v).is_some_and(|p| p.recent_active)
                    })
                    .count();
                if active < self.quorum() {
                    let term = self.term;
                    self.become_follower(term, None);
                    return;
                }
                for (&id, pr) in self.progress.iter_mut() {
                    pr.recent_active = id == self.id;
                }
            }
            // A transfer that did not finish within an election timeout is abandoned.
            self.transferee = None;
        }
        if self.heartbeat_elapsed >= self.cfg.heartbeat_tick {
            self.heartbeat_elapsed = 0;
            self.bcast_heartbeat();
        }
    }

    // ----- elections -----------------------------------------------------------------

    fn campaign(&mut self, kind: CampaignKind) {
        if self.role == Role::Leader || !self.promotable() {
            return;
        }
        let vote_term = if kind == CampaignKind::PreVote {
            self.become_pre_candidate();
            self.term + 1
        } else {
            self.become_candidate();
            self.term
        };
        let id = self.id;
        if let Tally::Won = self.poll(id, true) {
            if kind == CampaignKind::PreVote {
                self.campaign(CampaignKind::Election);
            } else {
                self.become_leader();
            }
            return;
        }
        let last_index = self.log.last_index();
        let last_term = self.log.last_term();
        let voters: Vec<NodeId> = self.conf.voters.clone();
        for v in voters.into_iter().filter(|&v| v != id) {
            let body = if kind == CampaignKind::PreVote {
                MessageBody::PreVote {
                    last_index,
                    last_term,
                }
            } else {
                MessageBody::Vote {
                    last_index,
                    last_term,
                    transfer: kind == CampaignKind::Transfer,
                }
            };
            self.send_with_term(v, vote_term, body);
        }
    }

    fn poll(&mut self, from: NodeId, granted: bool) -> Tally {
        if self.conf.is_voter(from) {
            self.votes.entry(from).or_insert(granted);
        }
        let yes = self.votes.values().filter(|&&g| g).count();
        let no = self.votes.len() - yes;
        let q = self.quorum();
        if yes >= q {
            Tally::Won
        } else if no > self.conf.voters.len() - q {
            Tally::Lost
        } else {
            Tally::Pending
        }
    }

    // ----- messages ------------------------------------------------------------------

    fn send(&mut self, to: NodeId, body: MessageBody) {
        let term = self.term;
        self.send_with_term(to, term, body);
    }

    fn send_with_term(&mut self, to: NodeId, term: Term, body: MessageBody) {
        self.msgs.push(Message {
            from: self.id,
            to,
            term,
            body,
        });
    }

    pub(crate) fn step(&mut self, m: Message) -> Result<()> {
        if m.to != self.id || !well_formed(&m) {
            // Misaddressed or malformed (e.g. non-consecutive entries): a peer bug or a
            // corrupted message; dropping it is always safe in Raft.
            return Ok(());
        }
        let is_vote_request = matches!(
            m.body,
            MessageBody::Vote { .. } | MessageBody::PreVote { .. }
        );
        if m.term > self.term {
            if is_vote_request {
                let forced = matches!(m.body, MessageBody::Vote { transfer: true, .. });
                let in_lease = self.cfg.check_quorum
                    && self.leader.is_some()
                    && self.election_elapsed < self.cfg.election_tick;
                let guarded = self.ticks < self.vote_guard_until;
                if !forced && (in_lease || guarded) {
                    // Leader stickiness: a node that heard from a live leader within the
                    // election timeout ignores campaigns (so a flapping node cannot depose it).
                    return Ok(());
                }
            }
            match m.body {
                MessageBody::PreVote { .. } => {}
                MessageBody::PreVoteResponse { reject: false } => {}
                MessageBody::Append { .. }
                | MessageBody::Heartbeat { .. }
                | MessageBody::InstallSnapshot { .. } => {
                    self.become_follower(m.term, Some(m.from));
                }
                _ => self.become_follower(m.term, None),
            }
        } else if m.term < self.term {
            match m.body {
                MessageBody::Append { .. } | MessageBody::Heartbeat { .. }
                    if self.cfg.check_quorum || self.cfg.pre_vote =>
                {
                    // A stale leader (e.g. back from a partition) learns the new term from
                    // this and steps down; without it, pre-vote could leave it stuck.
                    self.send(
                        m.from,
                        MessageBody::AppendResponse {
                            reject: false,
                            index: 0,
                            reject_hint: 0,
                            reject_hint_term: 0,
                        },
                    );
                }
                MessageBody::PreVote { .. } => {
                    self.send(m.from, MessageBody::PreVoteResponse { reject: true });
                }
                _ => {}
            }
            return Ok(());
        }

        if is_vote_request {
            self.handle_vote_request(m);
            return Ok(());
        }
        match self.role {
            Role::Leader => self.step_leader(m),
            Role::Candidate | Role::PreCandidate => self.step_candidate(m),
            Role::Follower => self.step_follower(m),
        }
        Ok(())
    }

    fn handle_vote_request(&mut self, m: Message) {
        let (pre, last_index, last_term) = match m.body {
            MessageBody::PreVote {
                last_index,
                last_term,
            } => (true, last_index, last_term),
            MessageBody::Vote {
                last_index,
                last_term,
                ..
            } => (false, last_index, last_term),
            _ => return,
        };
        let can_vote = self.vote == Some(m.from)
            || (self.vote.is_none() && self.leader.is_none())
            || (pre && m.term > self.term);
        let granted = can_vote && self.log.is_up_to_date(last_index, last_term);
        if pre {
            // A granted pre-vote answers in the candidate's future term so it counts it;
            // a refusal carries our term so a lagging candidate catches up.
            let term = if granted { m.term } else { self.term };
            self.send_with_term(
                m.from,
                term,
                MessageBody::PreVoteResponse { reject: !granted },
            );
        } else {
            if granted {
                self.election_elapsed = 0;
                self.vote = Some(m.from);
            }
            self.send(m.from, MessageBody::VoteResponse { reject: !granted });
        }
    }

    fn step_candidate(&mut self, m: Message) {
        match m.body {
            MessageBody::Append { .. }
            | MessageBody::Heartbeat { .. }
            | MessageBody::InstallSnapshot { .. } => {
                let term = self.term;
                self.become_follower(term, Some(m.from));
                self.step_follower(m);
            }
            MessageBody::PreVoteResponse { reject } if self.role == Role::PreCandidate => {
                match self.poll(m.from, !reject) {
                    Tally::Won => self.campaign(CampaignKind::Election),
                    Tally::Lost => {
                        let term = self.term;
                        self.become_follower(term, None);
                    }
                    Tally::Pending => {}
                }
            }
            MessageBody::VoteResponse { reject } if self.role == Role::Candidate => {
                match self.poll(m.from, !reject) {
                    Tally::Won => self.become_leader(),
                    Tally::Lost => {
                        let term = self.term;
                        self.become_follower(term, None);
                    }
                    Tally::Pending => {}
                }
            }
            _ => {}
        }
    }

    fn step_follower(&mut self, m: Message) {
        match m.body {
            MessageBody::Append {
                prev_index,
                prev_term,
                entries,
                commit,
            } => {
                self.election_elapsed = 0;
                self.leader = Some(m.from);
                self.handle_append(m.from, prev_index, prev_term, &entries, commit);
            }
            MessageBody::Heartbeat { commit, read_seq } => {
                self.election_elapsed = 0;
                self.leader = Some(m.from);
                if self.log.commit_to(commit) {
                    self.apply_conf_changes();
                }
                self.send(m.from, MessageBody::HeartbeatResponse { read_seq });
            }
            MessageBody::InstallSnapshot {
                meta,
                offset,
                data,
                done,
            } => {
                self.election_elapsed = 0;
                self.leader = Some(m.from);
                self.handle_snapshot_chunk(m.from, meta, offset, data, done);
            }
            MessageBody::TimeoutNow if self.promotable() => {
                self.campaign(CampaignKind::Transfer);
            }
            MessageBody::ReadIndexResponse { context, index } => {
                self.read_states.push(ReadState { index, context });
            }
            _ => {}
        }
    }

    fn handle_append(
        &mut self,
        from: NodeId,
        prev_index: Index,
        prev_term: Term,
        entries: &[Entry],
        commit: Index,
    ) {
        if prev_index < self.log.committed {
            let index = self.log.committed;
            self.send(
                from,
                MessageBody::AppendResponse {
                    reject: false,
                    index,
                    reject_hint: 0,
                    reject_hint_term: 0,
                },
            );
            return;
        }
        if let Some(e) = entries
            .iter()
            .rev()
            .find(|e| e.kind == EntryKind::ConfChange)
        {
            self.conf_hint = self.conf_hint.max(e.index);
        }
        match self.log.maybe_append(prev_index, prev_term, entries) {
            Some(last_new) => {
                if self.log.commit_to(commit.min(last_new)) {
                    self.apply_conf_changes();
                }
                self.send(
                    from,
                    MessageBody::AppendResponse {
                        reject: false,
                        index: last_new,
                        reject_hint: 0,
                        reject_hint_term: 0,
                    },
                );
            }
            None => {
                let probe = prev_index.min(self.log.last_index());
                let (hint, hint_term) = self.log.find_conflict_by_term(probe, prev_term);
                self.send(
                    from,
                    MessageBody::AppendResponse {
                        reject: true,
                        index: prev_index,
                        reject_hint: hint,
                        reject_hint_term: hint_term,
                    },
                );
            }
        }
    }

    fn handle_snapshot_chunk(
        &mut self,
        from: NodeId,
        meta: SnapshotMeta,
        offset: u64,
        data: Bytes,
        done: bool,
    ) {
        let index = meta.index;
        if index <= self.log.committed {
            // Already have everything the snapshot covers.
            self.receiving = None;
            self.send(
                from,
                MessageBody::InstallSnapshotResponse {
                    index,
                    next_offset: offset.saturating_add(data.len() as u64),
                    reject: false,
                    done: true,
                },
            );
            return;
        }
        let same = |r: &SnapshotReceive| r.meta.index == meta.index && r.meta.term == meta.term;
        if offset == 0 {
            self.receiving = Some(SnapshotReceive {
                meta: meta.clone(),
                data: BytesMut::new(),
            });
        }
        let accepted = match self.receiving.as_mut() {
            Some(r) if same(r) && r.data.len() as u64 == offset => {
                r.data.extend_from_slice(&data);
                true
            }
            _ => false,
        };
        let received = match self.receiving.as_ref() {
            Some(r) if same(r) => r.data.len() as u64,
            _ => 0,
        };
        if !accepted {
            self.send(
                from,
                MessageBody::InstallSnapshotResponse {
                    index,
                    next_offset: received,
                    reject: true,
                    done: false,
                },
            );
            return;
        }
        if !done {
            self.send(
                from,
                MessageBody::InstallSnapshotResponse {
                    index,
                    next_offset: received,
                    reject: false,
                    done: false,
                },
            );
            return;
        }
        let Some(r) = self.receiving.take() else {
            return;
        };
        let snapshot = Snapshot {
            meta: r.meta,
            data: r.data.freeze(),
        };
        self.restore(snapshot);
        self.send(
            from,
            MessageBody::InstallSnapshotResponse {
                index,
                next_offset: received,
                reject: false,
                done: true,
            },
        );
    }

    fn restore(&mut self, snapshot: Snapshot) {
        let meta = &snapshot.meta;
        if self.log.match_term(meta.index, meta.term) {
            // Our log already contains the snapshot's last entry: just commit up to it.
            if self.log.commit_to(meta.index) {
                self.apply_conf_changes();
            }
            return;
        }
        self.conf = meta.conf_state.clone();
        self.conf_scanned = meta.index;
        self.log.restore(snapshot);
    }

    // ----- leader --------------------------------------------------------------------

    fn step_leader(&mut self, m: Message) {
        let from = m.from;
        match m.body {
            MessageBody::AppendResponse {
                reject,
                index,
                reject_hint,
                reject_hint_term,
            } => self.handle_append_response(from, reject, index, reject_hint, reject_hint_term),
            MessageBody::HeartbeatResponse { read_seq } => {
                let last = self.log.last_index();
                let Some(pr) = self.progress.get_mut(&from) else {
                    return;
                };
                pr.recent_active = true;
                pr.probe_sent = false;
                pr.read_ack = pr.read_ack.max(read_seq);
                if matches!(pr.state, ProgressState::Replicate) && pr.inflights.full() {
                    // Let one append through: if earlier ones were lost, the follower's
                    // rejection of it sends us back to probing.
                    pr.inflights.free_first();
                }
                let resend_chunk = matches!(pr.state, ProgressState::Snapshot(_));
                let behind = pr.matched < last;
                if resend_chunk {
                    self.send_snapshot_chunk(from);
                } else if behind {
                    // Even with nothing new to send, an (empty) append makes a follower that
                    // lost appends in flight reject, which restarts probing.
                    self.send_append(from, true);
                }
                self.process_reads();
            }
            MessageBody::InstallSnapshotResponse {
                index,
                next_offset,
                reject: _,
                done,
            } => {
                let last = self.log.last_index();
                let Some(pr) = self.progress.get_mut(&from) else {
                    return;
                };
                pr.recent_active = true;
                let ProgressState::Snapshot(t) = &mut pr.state else {
                    if done && index <= last {
                        pr.maybe_update(index);
                    }
                    return;
                };
                if t.meta.index != index {
                    return;
                }
                if done {
                    pr.matched = pr.matched.max(index);
                    pr.become_probe();
                    self.send_append(from, false);
                } else {
                    t.offset = next_offset.min(t.data.len() as u64);
                    self.send_snapshot_chunk(from);
                }
            }
            MessageBody::ReadIndex { context } if self.conf.contains(from) => {
                self.handle_read_request(context, from);
            }
            _ => {}
        }
    }

    fn handle_append_response(
        &mut self,
        from: NodeId,
        reject: bool,
        index: Index,
        hint: Index,
        hint_term: Term,
    ) {
        let last = self.log.last_index();
        let Some(pr) = self.progress.get_mut(&from) else {
            return;
        };
        pr.recent_active = true;
        if reject {
            let next_probe = if hint_term > 0 {
                self.log.find_conflict_by_term(hint, hint_term).0
            } else {
                hint
            };
            let Some(pr) = self.progress.get_mut(&from) else {
                return;
            };
            if pr.maybe_decr_to(index, next_probe) {
                if matches!(pr.state, ProgressState::Replicate) {
                    pr.become_probe();
                }
                self.send_append(from, false);
            }
            return;
        }
        if index > last {
            // Acknowledges entries we never sent: a bogus message; believing it would
            // stall replication to this follower.
            return;
        }
        let was_paused = pr.is_paused();
        if !pr.maybe_update(index) {
            return;
        }
        match &pr.state {
            ProgressState::Probe => pr.become_replicate(),
            ProgressState::Snapshot(t) if pr.matched >= t.meta.index => pr.become_probe(),
            ProgressState::Replicate => pr.inflights.free_to(index),
            ProgressState::Snapshot(_) => {}
        }
        let matched = pr.matched;
        if self.maybe_commit() {
            self.need_broadcast = true;
        } else if was_paused {
            self.send_append(from, false);
        }
        // Fill the pipeline as far as flow control allows.
        for _ in 0..self.cfg.max_inflight_msgs {
            if !self.send_append(from, false) {
                break;
            }
        }
        if self.transferee == Some(from) && matched == last {
            self.send_timeout_now(from);
        }
    }

    /// Advances the commit index to the highest index a quorum of voters holds, if that
    /// entry is from the current term (Raft §5.4.2: never commit older terms by counting).
    fn maybe_commit(&mut self) -> bool {
        let mut matched: Vec<Index> = self
            .conf
            .voters
            .iter()
            .map(|v| self.progress.get(v).map_or(0, |p| p.matched))
            .collect();
        if matched.is_empty() {
            return false;
        }
        matched.sort_unstable_by(|a, b| b.cmp(a));
        let candidate = matched[self.quorum() - 1];
        if candidate <= self.log.committed || self.log.term(candidate).ok() != Some(self.term) {
            return false;
        }
        let first_in_term = self.log.term(self.log.committed).ok() != Some(self.term);
        self.log.commit_to(candidate);
        self.apply_conf_changes();
        if first_in_term && self.role == Role::Leader {
            for (context, from) in std::mem::take(&mut self.deferred_reads) {
                self.handle_read_request(context, from);
            }
        }
        true
    }

    fn append_entries(&mut self, mut entries: Vec<Entry>) {
        let mut index = self.log.last_index();
        for e in &mut entries {
            index += 1;
            e.term = self.term;
            e.index = index;
        }
        if let Some(e) = entries
            .iter()
            .rev()
            .find(|e| e.kind == EntryKind::ConfChange)
        {
            self.conf_hint = self.conf_hint.max(e.index);
        }
        let last = self.log.append(&entries);
        let id = self.id;
        if let Some(pr) = self.progress.get_mut(&id) {
            pr.maybe_update(last);
        }
        // A single voter commits on its own.
        self.maybe_commit();
    }

    /// Sends the follower what it is missing; returns whether a message was sent.
    fn send_append(&mut self, to: NodeId, send_if_empty: bool) -> bool {
        if to == self.id {
            return false;
        }
        let Some(pr) = self.progress.get(&to) else {
            return false;
        };
        if pr.is_paused() {
            return false;
        }
        let next = pr.next;
        let prev_index = next - 1;
        let prev_term = self.log.term(prev_index);
        let entries = self.log.entries(next, self.cfg.max_size_per_msg);
        let (prev_term, entries) = match (prev_term, entries) {
            (Ok(t), Ok(e)) => (t, e),
            (Err(Error::Compacted { .. }), _) | (_, Err(Error::Compacted { .. })) => {
                self.send_snapshot(to);
                return false;
            }
            _ => return false,
        };
        if entries.is_empty() && !send_if_empty {
            return false;
        }
        let Some(pr) = self.progress.get_mut(&to) else {
            return false;
        };
        match pr.state {
            ProgressState::Replicate => {
                if let Some(last) = entries.last() {
                    let bytes = entries.iter().map(Entry::size).sum();
                    pr.next = last.index + 1;
                    pr.inflights.add(last.index, bytes);
                }
            }
            ProgressState::Probe => pr.probe_sent = true,
            ProgressState::Snapshot(_) => return false,
        }
        let commit = self.log.committed;
        self.send(
            to,
            MessageBody::Append {
                prev_index,
                prev_term,
                entries,
                commit,
            },
        );
        true
    }

    fn send_snapshot(&mut self, to: NodeId) {
        let Ok(snapshot) = self.log.snapshot() else {
            // Temporarily unavailable: the next heartbeat response retries.
            return;
        };
        if snapshot.is_empty() {
            return;
        }
        let Some(pr) = self.progress.get_mut(&to) else {
            return;
        };
        pr.become_snapshot(snapshot.meta, snapshot.data);
        self.send_snapshot_chunk(to);
    }

    fn send_snapshot_chunk(&mut self, to: NodeId) {
        let Some(pr) = self.progress.get(&to) else {
            return;
        };
        let ProgressState::Snapshot(t) = &pr.state else {
            return;
        };
        let len = t.data.len() as u64;
        let start = t.offset.min(len);
        let end = (start + self.cfg.snapshot_chunk_size).min(len);
        let body = MessageBody::InstallSnapshot {
            meta: t.meta.clone(),
            offset: start,
            data: t.data.slice(start as usize..end as usize),
            done: end == len,
        };
        self.send(to, body);
    }

    pub(crate) fn bcast_append(&mut self) {
        let peers: Vec<NodeId> = self.progress.keys().copied().collect();
        for id in peers {
            self.send_append(id, true);
        }
    }

    fn bcast_heartbeat(&mut self) {
        self.heartbeat_seq += 1;
        let seq = self.heartbeat_seq;
        self.heartbeat_sent.push_back((seq, self.ticks));
        let id = self.id;
        if let Some(pr) = self.progress.get_mut(&id) {
            pr.read_ack = seq;
        }
        let committed = self.log.committed;
        let peers: Vec<(NodeId, Index)> = self
            .progress
            .iter()
            .filter(|(p, _)| **p != id)
            .map(|(&p, pr)| (p, pr.matched))
            .collect();
        for (to, matched) in peers {
            // Never tell a follower to commit beyond what it is known to hold.
            self.send(
                to,
                MessageBody::Heartbeat {
                    commit: committed.min(matched),
                    read_seq: seq,
                },
            );
        }
        self.need_heartbeat = false;
    }

    fn send_timeout_now(&mut self, to: NodeId) {
        // Voters grant a transfer vote despite their lease, so our lease is void for the
        // rest of this term.
        self.lease_disabled = true;
        self.send(to, MessageBody::TimeoutNow);
    }

    // ----- reads ---------------------------------------------------------------------

    fn handle_read_request(&mut self, context: Bytes, from: NodeId) {
        if self.log.term(self.log.committed).ok() != Some(self.term) {
            // The commit index of a fresh leader may lag what the previous leader
            // committed; wait for the no-op.
            self.deferred_reads.push((context, from));
            return;
        }
        let index = self.log.committed;
        let lease_valid = self.cfg.read_mode == ReadMode::Lease
            && !self.lease_disabled
            && self.transferee.is_none()
            && self.ticks < self.lease_until;
        if lease_valid || self.conf.voters == [self.id] {
            self.respond_read(from, index, context);
            return;
        }
        self.pending_reads.push_back(PendingRead {
            seq: self.heartbeat_seq + 1,
            index,
            context,
            from,
        });
        self.need_heartbeat = true;
    }

    fn respond_read(&mut self, from: NodeId, index: Index, context: Bytes) {
        if from == self.id {
            self.read_states.push(ReadState { index, context });
        } else {
            self.send(from, MessageBody::ReadIndexResponse { context, index });
        }
    }

    /// Confirms reads whose heartbeat round a quorum acknowledged, and extends the lease.
    fn process_reads(&mut self) {
        let mut acks: Vec<u64> = self
            .conf
            .voters
            .iter()
            .map(|v| self.progress.get(v).map_or(0, |p| p.read_ack))
            .collect();
        if acks.is_empty() {
            return;
        }
        acks.sort_unstable_by(|a, b| b.cmp(a));
        let confirmed = acks[self.quorum() - 1];
        while let Some(&(seq, sent)) = self.heartbeat_sent.front() {
            if seq > confirmed {
                break;
            }
            // Voters that acknowledged round `seq` refuse votes until a full election
            // timeout after receiving it; keep a tick of margin for ordering within a tick.
            let until = sent + u64::from(self.cfg.election_tick).saturating_sub(1);
            self.lease_until = self.lease_until.max(until);
            self.heartbeat_sent.pop_front();
        }
        while self
            .pending_reads
            .front()
            .is_some_and(|r| r.seq <= confirmed)
        {
            if let Some(r) = self.pending_reads.pop_front() {
                self.respond_read(r.from, r.index, r.context);
            }
        }
    }

    // ----- client API ----------------------------------------------------------------

    pub(crate) fn propose(&mut self, kind: EntryKind, data: Bytes) -> Result<Index> {
        if self.role != Role::Leader {
            return Err(Error::NotLeader {
                leader: self.leader,
            });
        }
        if self.transferee.is_some() {
            return Err(Error::TransferInProgress);
        }
        self.append_entries(vec![Entry {
            term: self.term,
            index: 0,
            kind,
            data,
        }]);
        self.need_broadcast = true;
        Ok(self.log.last_index())
    }

    pub(crate) fn propose_conf_change(&mut self, cc: &ConfChange) -> Result<Index> {
        if self.role != Role::Leader {
            return Err(Error::NotLeader {
                leader: self.leader,
            });
        }
        if self.pending_conf_index > self.log.committed {
            return Err(Error::ConfChangePending);
        }
        if cc.node_id == 0 {
            return Err(Error::InvalidConfChange {
                reason: "node id 0 is reserved",
            });
        }
        let next = self.conf.applied(cc);
        if next == self.conf {
            return Err(Error::InvalidConfChange {
                reason: "the change leaves membership as it is",
            });
        }
        if next.voters.is_empty() {
            return Err(Error::InvalidConfChange {
                reason: "cannot remove the last voter",
            });
        }
        let index = self.propose(EntryKind::ConfChange, cc.to_bytes())?;
        self.pending_conf_index = index;
        Ok(index)
    }

    pub(crate) fn read_index(&mut self, context: Bytes) -> Result<()> {
        match (self.role, self.leader) {
            (Role::Leader, _) => {
                let id = self.id;
                self.handle_read_request(context, id);
                Ok(())
            }
            (_, Some(leader)) => {
                self.send(leader, MessageBody::ReadIndex { context });
                Ok(())
            }
            (_, None) => Err(Error::NotLeader { leader: None }),
        }
    }

    pub(crate) fn transfer_leader(&mut self, to: NodeId) -> Result<()> {
        if self.role != Role::Leader {
            return Err(Error::NotLeader {
                leader: self.leader,
            });
        }
        if to == self.id || !self.conf.is_voter(to) {
            return Err(Error::InvalidConfChange {
                reason: "transfer target must be another voter",
            });
        }
        if self.transferee == Some(to) {
            return Ok(());
        }
        self.transferee = Some(to);
        self.election_elapsed = 0;
        let last = self.log.last_index();
        if self.progress.get(&to).is_some_and(|p| p.matched == last) {
            self.send_timeout_now(to);
        } else {
            self.send_append(to, true);
        }
        Ok(())
    }

    // ----- membership ----------------------------------------------------------------

    /// Applies conf-change entries that became committed. Changes take effect at commit
    /// (as in etcd), one server at a time.
    fn apply_conf_changes(&mut self) {
        let mut changed = false;
        if self.conf_scanned >= self.conf_hint {
            // No conf-change entry can lie in the newly committed range.
            self.conf_scanned = self.conf_scanned.max(self.log.committed);
            return;
        }
        while self.log.committed > self.conf_scanned {
            let committed = self.log.committed;
            let from = (self.conf_scanned + 1).max(self.log.first_index());
            let entries = self
                .log
                .slice(from, committed + 1, u64::MAX)
                .unwrap_or_default();
            self.conf_scanned = committed;
            for e in entries {
                if e.kind != EntryKind::ConfChange {
                    continue;
                }
                let Ok(cc) = ConfChange::decode(&e.data) else {
                    continue;
                };
                self.apply_conf_change(&cc);
                changed = true;
            }
        }
        if changed && self.role == Role::Leader {
            // The quorum changed: the commit index and pending reads may move.
            if self.maybe_commit() {
                self.need_broadcast = true;
            }
            self.process_reads();
        }
    }

    fn apply_conf_change(&mut self, cc: &ConfChange) {
        self.conf = self.conf.applied(cc);
        if self.role != Role::Leader {
            return;
        }
        let last = self.log.last_index();
        match cc.kind {
            ConfChangeKind::AddVoter | ConfChangeKind::AddLearner => {
                if !self.progress.contains_key(&cc.node_id) {
                    self.add_progress(cc.node_id, last + 1);
                }
            }
            ConfChangeKind::RemoveNode => {
                self.progress.remove(&cc.node_id);
                if self.transferee == Some(cc.node_id) {
                    self.transferee = None;
                }
            }
        }
        if !self.conf.is_voter(self.id) {
            // A leader removed (or demoted) steps down; the others elect a new one. It
            // first tells them the commit index, so they apply the change promptly.
            self.bcast_append();
            let term = self.term;
            self.become_follower(term, None);
        }
    }

    // ----- accessors -----------------------------------------------------------------

    /// Sends what was batched since the last `Ready`.
    pub(crate) fn flush(&mut self) {
        if self.role != Role::Leader {
            self.need_broadcast = false;
            self.need_heartbeat = false;
            return;
        }
        if self.need_broadcast {
            self.need_broadcast = false;
            self.bcast_append();
        }
        if self.need_heartbeat {
            self.bcast_heartbeat();
        }
    }

    pub(crate) fn max_committed_size(&self) -> u64 {
        self.cfg.max_committed_size_per_ready
    }

    pub(crate) fn force_campaign(&mut self) {
        let kind = if self.cfg.pre_vote {
            CampaignKind::PreVote
        } else {
            CampaignKind::Election
        };
        self.campaign(kind);
    }

    pub(crate) fn progress_matched(&self, id: NodeId) -> Option<Index> {
        self.progress.get(&id).map(|p| p.matched)
    }
}

/// Structural checks the algorithm relies on, so that a bad message cannot corrupt the log
/// or overflow an index.
fn well_formed(m: &Message) -> bool {
    match &m.body {
        MessageBody::Append {
            prev_index,
            entries,
            ..
        } => entries.iter().enumerate().all(|(i, e)| {
            prev_index
                .checked_add(i as u64 + 1)
                .is_some_and(|want| e.index == want)
        }),
        MessageBody::AppendResponse { index, .. } => *index < Index::MAX,
        MessageBody::InstallSnapshotResponse { index, .. } => *index < Index::MAX,
        MessageBody::InstallSnapshot { meta, .. } => meta.index < Index::MAX,
        _ => true,
    }
}
