//! Raft's safety properties, checked incrementally as the simulation runs (Raft paper
//! figure 3): election safety, log matching, leader completeness, state-machine safety.

use std::collections::HashMap;

use crate::raft::{Entry, Index, NodeId, Term};

/// A property that did not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// Two leaders in one term.
    TwoLeaders {
        /// The term.
        term: Term,
        /// The first leader seen.
        first: NodeId,
        /// The second.
        second: NodeId,
    },
    /// Two logs hold different entries with the same index and term, or the same entry
    /// after different predecessors.
    LogMismatch {
        /// Node whose log disagrees.
        node: NodeId,
        /// Where.
        index: Index,
    },
    /// A new leader lacks an entry that was committed before.
    LeaderIncomplete {
        /// The leader.
        node: NodeId,
        /// Its term.
        term: Term,
        /// The committed index it lacks.
        index: Index,
    },
    /// Two nodes applied different entries at one index.
    DivergentApply {
        /// Node that disagreed with what another applied.
        node: NodeId,
        /// Where.
        index: Index,
    },
}

/// Fingerprint of an entry's content.
fn digest(e: &Entry) -> u64 {
    // FNV-1a over the fields: collisions are irrelevant at this scale.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |b: u8| {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100_0000_01b3);
    };
    for b in e.term.to_le_bytes() {
        eat(b);
    }
    eat(e.kind as u8);
    for &b in e.data.iter() {
        eat(b);
    }
    h
}

/// Global knowledge the properties are checked against.
#[derive(Debug, Default)]
pub struct SafetyChecker {
    leaders: HashMap<Term, NodeId>,
    /// (index, term) -> (content digest, term of the previous entry).
    appended: HashMap<(Index, Term), (u64, Term)>,
    /// index -> (term, digest) of the entry applied there by anyone.
    applied: Vec<Option<(Term, u64)>>,
    /// index -> an upper bound of the term in which that entry was committed: the lowest
    /// current term of any node when it applied the entry (a node learns of a commit in the
    /// committing leader's term or later).
    commit_term: Vec<Term>,
}

impl SafetyChecker {
    /// Election safety: at most one leader per term.
    pub fn observe_leader(&mut self, node: NodeId, term: Term) -> Result<(), Violation> {
        match self.leaders.get(&term) {
            Some(&first) if first != node => Err(Violation::TwoLeaders {
                term,
                first,
                second: node,
            }),
            Some(_) => Ok(()),
            None => {
                self.leaders.insert(term, node);
                Ok(())
            }
        }
    }

    /// Log matching, checked inductively: the same (index, term) always has the same
    /// content and the same predecessor term, so equal entries imply equal prefixes.
    pub fn observe_append(
        &mut self,
        node: NodeId,
        entry: &Entry,
        prev_term: Term,
    ) -> Result<(), Violation> {
        let value = (digest(entry), prev_term);
        match self.appended.get(&(entry.index, entry.term)) {
            Some(&known) if known != value => Err(Violation::LogMismatch {
                node,
                index: entry.index,
            }),
            Some(_) => Ok(()),
            None => {
                self.appended.insert((entry.index, entry.term), value);
                Ok(())
            }
        }
    }

    /// State-machine safety: every node applies the same entry at each index.
    /// `current_term` is the applying node's term.
    pub fn observe_apply(
        &mut self,
        node: NodeId,
        entry: &Entry,
        current_term: Term,
    ) -> Result<(), Violation> {
        let i = entry.index as usize;
        if self.applied.len() <= i {
            self.applied.resize(i + 1, None);
            self.commit_term.resize(i + 1, Term::MAX);
        }
        self.commit_term[i] = self.commit_term[i].min(current_term);
        let value = (entry.term, digest(entry));
        match self.applied[i] {
            Some(known) if known != value => Err(Violation::DivergentApply {
                node,
                index: entry.index,
            }),
            Some(_) => Ok(()),
            None => {
                self.applied[i] = Some(value);
                Ok(())
            }
        }
    }

    /// A node installed a snapshot ending at (`index`, `term`): that entry must be the
    /// committed one.
    pub fn observe_snapshot(
        &mut self,
        node: NodeId,
        index: Index,
        term: Term,
    ) -> Result<(), Violation> {
        match self.applied.get(index as usize).copied().flatten() {
            Some((t, _)) if t != term => Err(Violation::DivergentApply { node, index }),
            _ => Ok(()),
        }
    }

    /// Whether an entry was seen applied at every index in `1..=index` (so the applied
    /// history up to `index` is complete).
    pub fn applied_through(&self, index: Index) -> bool {
        let Ok(end) = usize::try_from(index) else {
            return false;
        };
        end == 0
            || self
                .applied
                .get(1..=end)
                .is_some_and(|slots| slots.iter().all(Option::is_some))
    }

    /// Leader completeness: a new leader's log holds every entry committed in an earlier
    /// term (anything applied anywhere is committed). `term_at` answers the leader's term at
    /// an index; indices below `first_index` are covered by its snapshot. A leader of a
    /// term at or below the commit term (a stale campaign that finished late) is exempt,
    /// as the property only speaks of higher terms.
    pub fn check_leader_complete(
        &self,
        node: NodeId,
        term: Term,
        first_index: Index,
        term_at: impl Fn(Index) -> Option<Term>,
    ) -> Result<(), Violation> {
        for (i, slot) in self.applied.iter().enumerate() {
            let index = i as Index;
            let Some((t, _)) = slot else { continue };
            if index < first_index || term <= self.commit_term[i] {
                continue;
            }
            if term_at(index) != Some(*t) {
                return Err(Violation::LeaderIncomplete { node, term, index });
            }
        }
        Ok(())
    }
}
