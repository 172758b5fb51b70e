//! A linearizability checker for key-value histories (Wing & Gong's search with Lowe's
//! memoisation, as in Porcupine), partitioned by key.
//!
//! A history is linearizable if every operation can be given a point between its call and
//! its return such that the operations, in that order, are a legal sequential history of a
//! register per key. Operations whose outcome is unknown (the client timed out) have no
//! return: they may take effect at any point after their call, or — equivalently for a
//! write nobody observed — at the very end.

use std::collections::{BTreeMap, HashSet};

/// What a client did to one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvInput {
    /// Write a value.
    Put(u64),
    /// Read the value.
    Get,
}

/// One completed or pending operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    /// The key.
    pub key: u64,
    /// What was asked.
    pub input: KvInput,
    /// For a read, the value seen (`None`: key absent). Ignored for writes.
    pub output: Option<u64>,
    /// Logical time of the call.
    pub call: u64,
    /// Logical time of the return; `None` if the outcome is unknown.
    pub ret: Option<u64>,
}

/// The result of a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckResult {
    /// A linearization exists for every key.
    Linearizable,
    /// No linearization exists for this key's history.
    NotLinearizable {
        /// The offending key.
        key: u64,
    },
    /// The search exceeded its budget on this key (neither proven nor refuted).
    Inconclusive {
        /// The key.
        key: u64,
    },
}

/// Search steps allowed per key before giving up with [`CheckResult::Inconclusive`].
const STEP_BUDGET: u64 = 5_000_000;

/// Checks a whole history; keys are independent registers, so they are checked separately.
pub fn check_history(history: &[Operation]) -> CheckResult {
    let observed: HashSet<(u64, u64)> = history
        .iter()
        .filter(|op| op.input == KvInput::Get && op.ret.is_some())
        .filter_map(|op| op.output.map(|v| (op.key, v)))
        .collect();
    let mut by_key: BTreeMap<u64, Vec<&Operation>> = BTreeMap::new();
    for op in history {
        match (&op.input, op.ret) {
            // A read whose outcome is unknown constrains nothing.
            (KvInput::Get, None) => continue,
            // A write with unknown outcome that nobody read can be placed after
            // everything else, so it cannot affect the verdict; dropping it keeps the
            // search small (each such write would otherwise stay concurrent with the
            // rest of the history).
            (KvInput::Put(v), None) if !observed.contains(&(op.key, *v)) => continue,
            _ => {}
        }
        by_key.entry(op.key).or_default().push(op);
    }
    let mut inconclusive = None;
    for (key, ops) in by_key {
        match check_register(&ops) {
            Some(true) => {}
            Some(false) => return CheckResult::NotLinearizable { key },
            None => inconclusive = inconclusive.or(Some(key)),
        }
    }
    match inconclusive {
        Some(key) => CheckResult::Inconclusive { key },
        None => CheckResult::Linearizable,
    }
}

#[derive(Debug, Clone, Copy)]
struct Event {
    op: usize,
    is_call: bool,
    prev: usize,
    next: usize,
    /// For a call: the index of its return event.
    partner: usize,
}

/// Sequential specification of a register: returns the next state if `op` is legal.
fn step(state: Option<u64>, op: &Operation) -> Option<Option<u64>> {
    match op.input {
        KvInput::Put(v) => Some(Some(v)),
        KvInput::Get => (op.output == state).then_some(state),
    }
}

/// `Some(verdict)`, or `None` if the step budget ran out.
fn check_register(ops: &[&Operation]) -> Option<bool> {
    // Events sorted by time; calls sort before returns at equal times (an operation that
    // returns at the instant another is called may still be concurrent with it).
    let mut order: Vec<(u64, bool, usize)> = Vec::with_capacity(ops.len() * 2);
    for (i, op) in ops.iter().enumerate() {
        order.push((op.call, false, i));
        order.push((op.ret.unwrap_or(u64::MAX), true, i));
    }
    order.sort();
    // Doubly linked list with a sentinel head at index 0.
    let n = order.len();
    let mut events: Vec<Event> = Vec::with_capacity(n + 1);
    events.push(Event {
        op: usize::MAX,
        is_call: false,
        prev: 0,
        next: 1,
        partner: 0,
    });
    let mut return_of = vec![0usize; ops.len()];
    for (pos, &(_, is_return, op)) in order.iter().enumerate() {
        let idx = pos + 1;
        events.push(Event {
            op,
            is_call: !is_return,
            prev: idx - 1,
            next: if idx == n { usize::MAX } else { idx + 1 },
            partner: 0,
        });
        if is_return {
            return_of[op] = idx;
        }
    }
    if n == 0 {
        return Some(true);
    }
    for ev in events.iter_mut().skip(1) {
        if ev.is_call {
            ev.partner = return_of[ev.op];
        }
    }

    let words = ops.len().div_ceil(64);
    let mut linearized = vec![0u64; words];
    let mut cache: HashSet<(Vec<u64>, Option<u64>)> = HashSet::new();
    let mut stack: Vec<(usize, Option<u64>)> = Vec::new();
    let mut state: Option<u64> = None;
    let mut cursor = events[0].next;

    fn lift(events: &mut [Event], call: usize) {
        let ret = events[call].partner;
        for e in [call, ret] {
            let (p, n) = (events[e].prev, events[e].next);
            events[p].next = n;
            if n != usize::MAX {
                events[n].prev = p;
            }
        }
    }
    fn unlift(events: &mut [Event], call: usize) {
        let ret = events[call].partner;
        for e in [ret, call] {
            let (p, n) = (events[e].prev, events[e].next);
            events[p].next = e;
            if n != usize::MAX {
                events[n].prev = e;
            }
        }
    }

    // Bounded: every iteration either linearizes an op (at most one new cache entry per
    // distinct (set, state) pair), moves the cursor forward, or backtracks.
    let mut steps: u64 = 0;
    while events[0].next != usize::MAX {
        steps += 1;
        if steps > STEP_BUDGET {
            return None;
        }
        if cursor == usize::MAX {
            // Only reachable if the list is malformed; treat as failure.
            return Some(false);
        }
        let ev = events[cursor];
        if ev.is_call {
            let op = ops[ev.op];
            if let Some(next_state) = step(state, op) {
                let mut candidate = linearized.clone();
                candidate[ev.op / 64] |= 1 << (ev.op % 64);
                if cache.insert((candidate.clone(), next_state)) {
                    stack.push((cursor, state));
                    state = next_state;
                    linearized = candidate;
                    lift(&mut events, cursor);
                    cursor = events[0].next;
                    continue;
                }
            }
            cursor = ev.next;
        } else {
            // A return whose call is not yet linearized: backtrack.
            let Some((call, prev_state)) = stack.pop() else {
                return Some(false);
            };
            state = prev_state;
            let op = events[call].op;
            linearized[op / 64] &= !(1 << (op % 64));
            unlift(&mut events, call);
            cursor = events[call].next;
        }
    }
    Some(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(key: u64, v: u64, call: u64, ret: Option<u64>) -> Operation {
        Operation {
            key,
            input: KvInput::Put(v),
            output: None,
            call,
            ret,
        }
    }

    fn get(key: u64, out: Option<u64>, call: u64, ret: u64) -> Operation {
        Operation {
            key,
            input: KvInput::Get,
            output: out,
            call,
            ret: Some(ret),
        }
    }

    #[test]
    fn sequential_history_is_linearizable() {
        let h = vec![
            put(1, 1, 0, Some(1)),
            get(1, Some(1), 2, 3),
            put(1, 2, 4, Some(5)),
            get(1, Some(2), 6, 7),
        ];
        assert_eq!(check_history(&h), CheckResult::Linearizable);
    }

    #[test]
    fn stale_read_after_completed_write_is_not_linearizable() {
        let h = vec![
            put(1, 1, 0, Some(1)),
            put(1, 2, 2, Some(3)),
            get(1, Some(1), 4, 5),
        ];
        assert_eq!(check_history(&h), CheckResult::NotLinearizable { key: 1 });
    }

    #[test]
    fn concurrent_write_may_be_seen_either_way() {
        // The read overlaps the write of 2, so both 1 and 2 are legal.
        for seen in [1, 2] {
            let h = vec![
                put(1, 1, 0, Some(1)),
                put(1, 2, 2, Some(6)),
                get(1, Some(seen), 3, 5),
            ];
            assert_eq!(check_history(&h), CheckResult::Linearizable, "seen {seen}");
        }
    }

    #[test]
    fn reads_may_not_go_back_in_time() {
        // Two sequential reads during a long write: new value then old value is illegal.
        let h = vec![
            put(1, 1, 0, Some(1)),
            put(1, 2, 2, Some(20)),
            get(1, Some(2), 3, 4),
            get(1, Some(1), 5, 6),
        ];
        assert_eq!(check_history(&h), CheckResult::NotLinearizable { key: 1 });
    }

    #[test]
    fn unknown_write_may_have_happened_or_not() {
        let happened = vec![put(1, 7, 0, None), get(1, Some(7), 5, 6)];
        let not_yet = vec![put(1, 7, 0, None), get(1, None, 5, 6)];
        assert_eq!(check_history(&happened), CheckResult::Linearizable);
        assert_eq!(check_history(&not_yet), CheckResult::Linearizable);
        // But once observed it cannot disappear.
        let flicker = vec![
            put(1, 7, 0, None),
            get(1, Some(7), 5, 6),
            get(1, None, 7, 8),
        ];
        assert_eq!(
            check_history(&flicker),
            CheckResult::NotLinearizable { key: 1 }
        );
    }

    #[test]
    fn read_of_a_value_never_written_is_not_linearizable() {
        let h = vec![put(2, 1, 0, Some(1)), get(2, Some(9), 2, 3)];
        assert_eq!(check_history(&h), CheckResult::NotLinearizable { key: 2 });
    }

    #[test]
    fn keys_are_independent() {
        let h = vec![
            put(1, 1, 0, Some(10)),
            put(2, 5, 0, Some(10)),
            get(1, Some(1), 11, 12),
            get(2, None, 11, 12),
        ];
        assert_eq!(check_history(&h), CheckResult::NotLinearizable { key: 2 });
    }

    #[test]
    fn many_concurrent_writers_check_quickly() {
        // 12 overlapping writes and reads that saw the last one: needs search, and the
        // memoisation keeps it fast.
        let mut h: Vec<Operation> = (0..12).map(|i| put(1, i, i, Some(100 + i))).collect();
        h.push(get(1, Some(11), 200, 201));
        h.push(get(1, Some(11), 202, 203));
        assert_eq!(check_history(&h), CheckResult::Linearizable);
        h.push(get(1, Some(3), 204, 205));
        assert_eq!(check_history(&h), CheckResult::NotLinearizable { key: 1 });
    }
}
