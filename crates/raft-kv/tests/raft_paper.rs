//! The Raft paper's tricky cases, replayed step by step on in-memory nodes, plus the
//! features that the simulation exercises only at random (transfer, membership, chunked
//! snapshots, reads).

use std::collections::{BTreeMap, HashSet, VecDeque};

use bytes::Bytes;
use raft_kv::raft::{
    ConfChange, ConfChangeKind, ConfState, Config, Entry, EntryKind, MemStorage, Message,
    MessageBody, NodeId, RawNode, ReadMode, ReadState, Role,
};

/// A cluster whose every message delivery the test controls.
struct Net {
    nodes: BTreeMap<NodeId, RawNode<MemStorage>>,
    configs: BTreeMap<NodeId, Config>,
    queue: VecDeque<Message>,
    blocked: HashSet<(NodeId, NodeId)>,
    applied: BTreeMap<NodeId, Vec<Entry>>,
    reads: BTreeMap<NodeId, Vec<ReadState>>,
    sent: Vec<Message>,
}

impl Net {
    fn new(ids: &[NodeId], voters: &[NodeId], tweak: impl Fn(&mut Config)) -> Self {
        let conf = ConfState::with_voters(voters.iter().copied());
        let mut nodes = BTreeMap::new();
        let mut configs = BTreeMap::new();
        for &id in ids {
            let mut cfg = Config::new(id);
            cfg.pre_vote = false;
            cfg.check_quorum = false;
            tweak(&mut cfg);
            configs.insert(id, cfg.clone());
            let node = RawNode::new(cfg, MemStorage::new(conf.clone())).expect("valid config");
            nodes.insert(id, node);
        }
        Net {
            nodes,
            configs,
            queue: VecDeque::new(),
            blocked: HashSet::new(),
            applied: BTreeMap::new(),
            reads: BTreeMap::new(),
            sent: Vec::new(),
        }
    }

    /// Crash and restart from what the node persisted (everything here is synced).
    fn restart(&mut self, id: NodeId) {
        let storage = self.nodes[&id].storage().clone();
        let mut cfg = self.configs[&id].clone();
        cfg.applied = self.nodes[&id].applied();
        let node = RawNode::new(cfg, storage).expect("restart");
        self.nodes.insert(id, node);
    }

    fn node(&mut self, id: NodeId) -> &mut RawNode<MemStorage> {
        self.nodes.get_mut(&id).expect("known node")
    }

    fn handle_readies(&mut self) {
        let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
        for id in ids {
            let node = self.nodes.get_mut(&id).expect("known");
            if !node.has_ready() {
                continue;
            }
            let rd = node.ready();
            if let Some(s) = &rd.snapshot {
                node.storage_mut()
                    .apply_snapshot(s.clone())
                    .expect("snapshot");
            }
            node.storage_mut().append(&rd.entries).expect("append");
            if let Some(hs) = rd.hard_state {
                node.storage_mut().set_hard_state(hs);
            }
            self.sent.extend(rd.messages.iter().cloned());
            self.queue.extend(rd.messages.iter().cloned());
            self.applied
                .entry(id)
                .or_default()
                .extend(rd.committed_entries.iter().cloned());
            self.reads
                .entry(id)
                .or_default()
                .extend(rd.read_states.iter().cloned());
            node.advance(rd);
        }
    }

    /// Handles readies, then delivers what was queued (one round).
    fn round(&mut self) {
        self.handle_readies();
        let batch: Vec<Message> = self.queue.drain(..).collect();
        for m in batch {
            if self.blocked.contains(&(m.from, m.to)) {
                continue;
            }
            if let Some(n) = self.nodes.get_mut(&m.to) {
                n.step(m).expect("step");
            }
        }
        self.handle_readies();
    }

    /// Rounds until nothing moves (bounded).
    fn stabilize(&mut self) {
        for _ in 0..200 {
            self.round();
            if self.queue.is_empty() && !self.nodes.values().any(|n| n.has_ready()) {
                return;
            }
        }
        panic!("cluster did not settle within 200 rounds");
    }

    fn isolate(&mut self, id: NodeId) {
        let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
        for other in ids {
            if other != id {
                self.blocked.insert((id, other));
                self.blocked.insert((other, id));
            }
        }
    }

    /// Only the listed links work.
    fn only_links(&mut self, links: &[(NodeId, NodeId)]) {
        let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
        self.blocked.clear();
        for &a in &ids {
            for &b in &ids {
                if a != b && !links.contains(&(a, b)) && !links.contains(&(b, a)) {
                    self.blocked.insert((a, b));
                }
            }
        }
    }

    fn heal(&mut self) {
        self.blocked.clear();
    }

    fn tick_all(&mut self) {
        for n in self.nodes.values_mut() {
            n.tick();
        }
    }

    fn leaders(&self) -> Vec<NodeId> {
        self.nodes
            .values()
            .filter(|n| n.role() == Role::Leader)
            .map(|n| n.id())
            .collect()
    }

    /// Ticks and delivers until some node other than those in `not` leads (bounded).
    fn elect_any(&mut self, not: &[NodeId]) -> NodeId {
        for _ in 0..500 {
            self.tick_all();
            self.round();
            if let Some(&l) = self.leaders().iter().find(|l| !not.contains(l)) {
                self.stabilize();
                return l;
            }
        }
        panic!("no leader elected within 500 ticks");
    }

    fn term_at(&self, id: NodeId, index: u64) -> Option<u64> {
        self.nodes[&id].term_at(index)
    }
}

fn ids(n: u64) -> Vec<NodeId> {
    (1..=n).collect()
}

/// Figure 8: a leader must not commit an entry of an earlier term by counting replicas,
/// because a later leader may still overwrite it.
#[test]
fn figure_8_old_term_entries_are_not_committed_by_counting() {
    let all = ids(5);
    // One entry per append, so an old entry can reach a follower without the new one.
    let mut net = Net::new(&all, &all, |c| c.max_size_per_msg = 1);

    // (a) S1 leads term 1; index 1 (its no-op) everywhere; index 2 reaches S2 only.
    net.node(1).campaign();
    net.stabilize();
    assert_eq!(net.leaders(), vec![1]);
    net.only_links(&[(1, 2)]);
    net.node(1).propose(&b"x"[..]).expect("leader accepts");
    net.stabilize();
    assert_eq!(net.term_at(2, 2), Some(1));
    assert_eq!(net.term_at(3, 2), None);

    // (b) S1 crashes; S5 wins term 2 with S3 and S4 and appends index 2 (term 2) alone.
    net.restart(1);
    net.only_links(&[(5, 3), (5, 4)]);
    net.node(5).campaign();
    for _ in 0..20 {
        net.round();
        if net.nodes[&5].role() == Role::Leader {
            break;
        }
    }
    assert_eq!(net.nodes[&5].role(), Role::Leader);
    net.isolate(5);
    net.stabilize();
    assert_eq!(net.term_at(5, 2), Some(2));

    // (c) S1 returns and wins term 3 with S2 and S3; it replicates its index 2 (term 1)
    //     to S3, so a majority holds it, but it is NOT committed: its term is old.
    net.only_links(&[(1, 2), (1, 3)]);
    for _ in 0..4 {
        net.node(1).campaign();
        for _ in 0..10 {
            net.round();
            if net.nodes[&1].role() == Role::Leader {
                break;
            }
        }
        if net.nodes[&1].role() == Role::Leader {
            break;
        }
    }
    assert_eq!(net.nodes[&1].role(), Role::Leader, "S1 regains leadership");
    // Deliver until S3 holds index 2 from S1 but not index 3 (S1's no-op of this term),
    // then drop what S1 sends to S3 (S3's acknowledgement still gets through).
    let mut seen = false;
    for _ in 0..50 {
        net.round();
        if net.term_at(3, 2) == Some(1) && net.term_at(3, 3).is_none() {
            seen = true;
            net.blocked.insert((1, 3));
            break;
        }
    }
    assert!(seen, "S3 received index 2 alone");
    net.stabilize();
    assert_eq!(
        net.nodes[&1].matched(3),
        Some(2),
        "S1 knows S3 holds index 2"
    );
    assert!(
        net.nodes[&1].committed() < 2,
        "index 2 (term 1) is on S1, S2, S3 yet must not be committed by counting"
    );

    // (d) S1 crashes again; S5 (last entry term 2) wins with S3 and S4 and overwrites
    //     index 2 everywhere it reaches: committing it in (c) would have lost it.
    net.restart(1);
    net.restart(5);
    net.only_links(&[(5, 3), (5, 4)]);
    for _ in 0..4 {
        net.node(5).campaign();
        net.stabilize();
        if net.nodes[&5].role() == Role::Leader {
            break;
        }
    }
    assert_eq!(net.nodes[&5].role(), Role::Leader);
    net.stabilize();
    assert_eq!(net.term_at(3, 2), Some(2), "S3's index 2 was overwritten");
    // And once S5 commits its own-term entry, index 2 (term 2) is committed for good.
    assert!(net.nodes[&5].committed() >= 2);
}

/// A leader cut off from the majority keeps accepting proposals; when it comes back it
/// steps down and its uncommitted entries are replaced.
#[test]
fn stale_leader_steps_down_and_loses_only_uncommitted_entries() {
    let all = ids(3);
    let mut net = Net::new(&all, &all, |_| {});
    net.node(1).campaign();
    net.stabilize();
    net.node(1).propose(&b"committed"[..]).expect("leader");
    net.stabilize();
    net.isolate(1);
    net.node(1)
        .propose(&b"stale"[..])
        .expect("still thinks it leads");
    net.stabilize();
    let new_leader = net.elect_any(&[1]);
    net.node(new_leader)
        .propose(&b"fresh"[..])
        .expect("new leader");
    net.stabilize();
    assert_eq!(
        net.nodes[&1].role(),
        Role::Leader,
        "isolated, S1 cannot know"
    );
    net.heal();
    // The next heartbeat exchange tells S1 about the newer term.
    for _ in 0..30 {
        net.tick_all();
        net.round();
    }
    net.stabilize();
    assert_eq!(net.leaders(), vec![new_leader]);
    let data = |id: NodeId, net: &Net| -> Vec<Bytes> {
        net.applied[&id]
            .iter()
            .filter(|e| !e.data.is_empty())
            .map(|e| e.data.clone())
            .collect()
    };
    for id in all {
        let d = data(id, &net);
        assert!(d.contains(&Bytes::from_static(b"committed")));
        assert!(d.contains(&Bytes::from_static(b"fresh")));
        assert!(!d.contains(&Bytes::from_static(b"stale")), "node {id}");
    }
}

/// Two candidates split the vote: nobody wins that term, and randomized timeouts settle a
/// later term with exactly one leader.
#[test]
fn split_vote_resolves_in_a_later_term() {
    let all = ids(4);
    let mut net = Net::new(&all, &all, |c| c.seed = c.id * 7919);
    // S2 hears only S1 and S4 only S3, so each candidate gets 2 of the 3 votes it needs.
    net.only_links(&[(1, 2), (3, 4)]);
    net.node(1).campaign();
    net.node(3).campaign();
    net.stabilize();
    assert!(net.leaders().is_empty(), "a split vote elects nobody");
    assert_eq!(net.nodes[&1].term(), 1);
    assert_eq!(net.nodes[&3].term(), 1);
    net.heal();
    let leader = net.elect_any(&[]);
    assert_eq!(net.leaders(), vec![leader]);
    assert!(net.nodes[&leader].term() >= 2);
}

/// With pre-vote and check-quorum, an old leader that was partitioned away neither keeps
/// leading nor, when it returns, disrupts the new leader by inflating the term.
#[test]
fn partitioned_old_leader_rejoins_without_disruption() {
    let all = ids(5);
    let mut net = Net::new(&all, &all, |c| {
        c.pre_vote = true;
        c.check_quorum = true;
    });
    net.node(1).campaign();
    net.stabilize();
    assert_eq!(net.leaders(), vec![1]);
    net.isolate(1);
    let new_leader = net.elect_any(&[1]);
    let term = net.nodes[&new_leader].term();
    // Check-quorum: the isolated leader notices within an election timeout or two.
    for _ in 0..30 {
        net.tick_all();
        net.round();
    }
    assert_ne!(net.nodes[&1].role(), Role::Leader);
    // Pre-vote: campaigning in isolation does not raise S1's term.
    assert!(net.nodes[&1].term() < term);
    net.heal();
    for _ in 0..50 {
        net.tick_all();
        net.round();
    }
    assert_eq!(net.leaders(), vec![new_leader]);
    assert_eq!(
        net.nodes[&new_leader].term(),
        term,
        "no disruptive election"
    );
    assert_eq!(net.nodes[&1].leader(), Some(new_leader));
    assert_eq!(
        net.nodes[&1].last_index(),
        net.nodes[&new_leader].last_index()
    );
}

#[test]
fn leadership_transfer_hands_over_after_catching_up() {
    let all = ids(3);
    let mut net = Net::new(&all, &all, |_| {});
    net.node(1).campaign();
    net.stabilize();
    net.isolate(3);
    for i in 0..5u8 {
        net.node(1).propose(vec![i]).expect("leader");
    }
    net.stabilize();
    net.heal();
    net.node(1).transfer_leader(3).expect("voter");
    assert!(
        net.node(1).propose(&b"during"[..]).is_err(),
        "proposals wait"
    );
    net.stabilize();
    assert_eq!(net.leaders(), vec![3]);
    assert!(net.sent.iter().any(|m| m.body == MessageBody::TimeoutNow));
}

fn conf_change(kind: ConfChangeKind, node_id: NodeId) -> ConfChange {
    ConfChange {
        kind,
        node_id,
        context: Bytes::new(),
    }
}

#[test]
fn learner_is_promoted_and_a_removed_leader_steps_down() {
    let mut net = Net::new(&ids(4), &ids(3), |_| {});
    net.node(1).campaign();
    net.stabilize();
    net.node(1)
        .propose_conf_change(&conf_change(ConfChangeKind::AddLearner, 4))
        .expect("add learner");
    assert!(
        net.node(1)
            .propose_conf_change(&conf_change(ConfChangeKind::AddVoter, 4))
            .is_err(),
        "one change at a time"
    );
    net.stabilize();
    assert_eq!(net.nodes[&4].conf_state().learners, vec![4]);
    assert_eq!(net.nodes[&4].last_index(), net.nodes[&1].last_index());
    // A learner never campaigns.
    for _ in 0..50 {
        net.node(4).tick();
    }
    net.stabilize();
    assert_eq!(net.nodes[&4].role(), Role::Follower);

    net.node(1)
        .propose_conf_change(&conf_change(ConfChangeKind::AddVoter, 4))
        .expect("promote");
    net.stabilize();
    assert_eq!(net.nodes[&1].conf_state().voters, vec![1, 2, 3, 4]);

    net.node(1)
        .propose_conf_change(&conf_change(ConfChangeKind::RemoveNode, 1))
        .expect("remove leader");
    net.stabilize();
    assert_ne!(
        net.nodes[&1].role(),
        Role::Leader,
        "removed leader stepped down"
    );
    assert_eq!(net.nodes[&2].conf_state().voters, vec![2, 3, 4]);
    net.isolate(1);
    let leader = net.elect_any(&[1]);
    assert!([2, 3, 4].contains(&leader));
    net.node(leader).propose(&b"after"[..]).expect("new leader");
    net.stabilize();
    assert!(
        net.applied[&4]
            .iter()
            .any(|e| e.data == Bytes::from_static(b"after"))
    );
}

#[test]
fn lagging_follower_receives_a_chunked_snapshot() {
    let all = ids(3);
    let mut net = Net::new(&all, &all, |c| c.snapshot_chunk_size = 4);
    net.node(1).campaign();
    net.stabilize();
    net.isolate(3);
    for i in 0..20u8 {
        net.node(1).propose(vec![i; 3]).expect("leader");
    }
    net.stabilize();
    let applied = net.nodes[&1].applied();
    let data = Bytes::from(vec![7u8; 30]);
    let conf = net.nodes[&1].conf_state().clone();
    net.node(1)
        .storage_mut()
        .create_snapshot(applied, conf, data.clone())
        .expect("snapshot");
    net.heal();
    for _ in 0..10 {
        net.tick_all();
        net.round();
    }
    net.stabilize();
    let chunks = net
        .sent
        .iter()
        .filter(|m| matches!(m.body, MessageBody::InstallSnapshot { .. }) && m.to == 3)
        .count();
    assert!(chunks >= 8, "30 bytes in 4-byte chunks, got {chunks}");
    let s3 = &net.nodes[&3];
    assert_eq!(s3.storage().current_snapshot().data, data);
    assert_eq!(s3.last_index(), net.nodes[&1].last_index());
    assert_eq!(s3.committed(), net.nodes[&1].committed());
}

#[test]
fn read_index_needs_a_quorum_and_follower_reads_go_through_the_leader() {
    let all = ids(3);
    let mut net = Net::new(&all, &all, |_| {});
    net.node(1).campaign();
    net.stabilize();
    net.node(1).read_index(&b"r1"[..]).expect("leader");
    net.stabilize();
    let r = net.reads[&1].clone();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].context, Bytes::from_static(b"r1"));
    assert_eq!(r[0].index, net.nodes[&1].committed());

    net.node(2)
        .read_index(&b"r2"[..])
        .expect("follower knows the leader");
    net.stabilize();
    assert!(
        net.reads[&2]
            .iter()
            .any(|r| r.context == Bytes::from_static(b"r2"))
    );

    // Cut off from both followers, the leader cannot confirm a read.
    net.isolate(1);
    net.node(1).read_index(&b"r3"[..]).expect("still leader");
    for _ in 0..5 {
        net.tick_all();
        net.round();
    }
    assert!(
        !net.reads[&1]
            .iter()
            .any(|r| r.context == Bytes::from_static(b"r3"))
    );
}

#[test]
fn lease_read_is_served_without_a_round_trip_while_the_lease_holds() {
    let all = ids(3);
    let mut net = Net::new(&all, &all, |c| {
        c.check_quorum = true;
        c.read_mode = ReadMode::Lease;
    });
    // Fresh nodes refuse votes for one election timeout (they may have promised a lease).
    for _ in 0..10 {
        net.tick_all();
    }
    net.node(1).campaign();
    net.stabilize();
    assert_eq!(net.leaders(), vec![1]);
    net.tick_all();
    net.stabilize();
    // Now a quorum acknowledged a heartbeat: the lease holds.
    net.isolate(1);
    net.node(1).read_index(&b"lease"[..]).expect("leader");
    net.handle_readies();
    assert!(
        net.reads[&1]
            .iter()
            .any(|r| r.context == Bytes::from_static(b"lease"))
    );
    // After an election timeout without acknowledgements it no longer answers at once.
    for _ in 0..10 {
        net.node(1).tick();
    }
    net.handle_readies();
    if net.nodes[&1].role() == Role::Leader {
        net.node(1).read_index(&b"late"[..]).expect("leader");
        net.handle_readies();
        assert!(
            !net.reads[&1]
                .iter()
                .any(|r| r.context == Bytes::from_static(b"late"))
        );
    }
}

#[test]
fn entries_carry_kinds_through_the_log() {
    let all = ids(1);
    let mut net = Net::new(&all, &all, |_| {});
    net.node(1).campaign();
    net.stabilize();
    net.node(1)
        .propose(&b"solo"[..])
        .expect("single voter leads");
    net.stabilize();
    let kinds: Vec<EntryKind> = net.applied[&1].iter().map(|e| e.kind).collect();
    assert!(kinds.iter().all(|k| *k == EntryKind::Normal));
    assert_eq!(
        net.applied[&1].last().map(|e| e.data.clone()),
        Some(Bytes::from_static(b"solo"))
    );
}

/// The lease's safety condition: while an isolated old leader would still answer a read
/// from its lease, the majority must not have elected a new leader (which could commit
/// writes the old one does not see). Checked tick by tick over many timeout seeds.
#[test]
fn no_new_leader_while_an_old_lease_is_still_honoured() {
    let mut overlaps_checked = 0;
    for seed in 1..=30u64 {
        let all = ids(3);
        let mut net = Net::new(&all, &all, |c| {
            c.check_quorum = true;
            c.pre_vote = true;
            c.read_mode = ReadMode::Lease;
            c.seed = c.id * 1_000_003 + seed;
        });
        let old = net.elect_any(&[]);
        // Run a while with heartbeats acknowledged, then cut the leader off at a
        // seed-dependent moment.
        for _ in 0..(seed % 7 + 2) {
            net.tick_all();
            net.stabilize();
        }
        net.isolate(old);
        for tick in 0..60 {
            net.tick_all();
            net.round();
            let new_leader = net.leaders().into_iter().any(|l| l != old);
            if !new_leader || net.nodes[&old].role() != Role::Leader {
                continue;
            }
            overlaps_checked += 1;
            let context = Bytes::from(format!("s{seed}t{tick}"));
            net.node(old)
                .read_index(context.clone())
                .expect("still leader");
            net.handle_readies();
            assert!(
                !net.reads
                    .get(&old)
                    .is_some_and(|r| r.iter().any(|r| r.context == context)),
                "seed {seed}: old leader served a lease read at tick {tick} after a new \
                 leader was elected"
            );
        }
    }
    // The scenario must actually produce moments with two leaders in different terms.
    assert!(overlaps_checked > 0);
}

/// Appends lost while a follower is in pipelined replicate state fill its in-flight window;
/// heartbeats must reopen it, or the follower would never catch up without new proposals.
#[test]
fn lost_pipelined_appends_are_recovered_by_heartbeats() {
    let all = ids(3);
    let mut net = Net::new(&all, &all, |c| {
        c.max_inflight_msgs = 2;
        c.max_size_per_msg = 1;
    });
    net.node(1).campaign();
    net.stabilize();
    net.node(1).propose(&b"warm-up"[..]).expect("leader");
    net.stabilize();
    // Everything the leader sends to S3 is lost, but S3's answers still arrive.
    net.blocked.insert((1, 3));
    for i in 0..6u8 {
        net.node(1).propose(vec![i]).expect("leader");
        net.stabilize();
    }
    net.blocked.clear();
    for _ in 0..40 {
        net.tick_all();
        net.round();
    }
    net.stabilize();
    assert_eq!(net.nodes[&3].last_index(), net.nodes[&1].last_index());
    assert_eq!(net.nodes[&3].committed(), net.nodes[&1].committed());
}

/// Garbage from the network is dropped, never a panic or a corrupted log.
#[test]
fn malformed_messages_are_dropped() {
    let all = ids(3);
    let mut net = Net::new(&all, &all, |_| {});
    net.node(1).campaign();
    net.stabilize();
    let last = net.nodes[&2].last_index();
    let bad = [
        MessageBody::Append {
            prev_index: last,
            prev_term: net.nodes[&2].term(),
            // Not consecutive.
            entries: vec![
                Entry::normal(1, last + 1, &b"a"[..]),
                Entry::normal(1, last + 7, &b"b"[..]),
            ],
            commit: u64::MAX,
        },
        MessageBody::AppendResponse {
            reject: false,
            index: u64::MAX,
            reject_hint: u64::MAX,
            reject_hint_term: u64::MAX,
        },
        MessageBody::AppendResponse {
            reject: false,
            index: u64::MAX - 1,
            reject_hint: 0,
            reject_hint_term: 0,
        },
        MessageBody::AppendResponse {
            reject: true,
            index: u64::MAX - 1,
            reject_hint: u64::MAX,
            reject_hint_term: u64::MAX,
        },
    ];
    for body in bad {
        let term = net.nodes[&1].term();
        for (from, to) in [(1, 2), (2, 1)] {
            net.node(to)
                .step(Message {
                    from,
                    to,
                    term,
                    body: body.clone(),
                })
                .expect("dropped, not an error");
        }
    }
    net.stabilize();
    assert_eq!(net.nodes[&2].last_index(), last);
    net.node(1).propose(&b"still works"[..]).expect("leader");
    net.stabilize();
    assert_eq!(net.nodes[&2].last_index(), net.nodes[&1].last_index());
}

/// In lease mode a restarted node may have promised a leader, before crashing, not to vote
/// for anyone else for an election timeout; it keeps that promise by refusing votes for
/// one election timeout after starting.
#[test]
fn lease_mode_node_refuses_votes_right_after_restart() {
    let all = ids(3);
    let mut net = Net::new(&all, &all, |c| {
        c.check_quorum = true;
        c.read_mode = ReadMode::Lease;
    });
    let leader = net.elect_any(&[]);
    let voter = all
        .iter()
        .copied()
        .find(|&id| id != leader)
        .expect("3 nodes");
    let candidate = all
        .iter()
        .copied()
        .find(|&id| id != leader && id != voter)
        .expect("3 nodes");
    net.restart(voter);
    net.sent.clear();
    let request = |term| Message {
        from: candidate,
        to: voter,
        term,
        body: MessageBody::Vote {
            last_index: 1000,
            last_term: 1000,
            transfer: false,
        },
    };
    let term = net.nodes[&voter].term() + 1;
    net.node(voter).step(request(term)).expect("step");
    net.handle_readies();
    let answered = |net: &Net| {
        net.sent.iter().any(|m| {
            m.from == voter && matches!(m.body, MessageBody::VoteResponse { reject: false })
        })
    };
    assert!(!answered(&net), "no vote within the guard");
    for _ in 0..10 {
        net.node(voter).tick();
    }
    net.node(voter).step(request(term + 1)).expect("step");
    net.handle_readies();
    assert!(answered(&net), "votes again once the guard expired");
}
