//! The application side of linearizable reads: confirmed reads wait here until the state
//! machine has applied their index.
//!
//! Protocol: call [`super::RawNode::read_index`] with a request id as context; when the id
//! comes back in [`super::Ready::read_states`], [`ReadQueue::push`] it; after applying
//! committed entries, [`ReadQueue::take_ready`] returns the reads that may now be served
//! from the local state machine, linearizably.

use std::collections::VecDeque;

use super::consensus::ReadState;
use super::types::Index;

/// Confirmed reads waiting for the apply index.
#[derive(Debug, Default, Clone)]
pub struct ReadQueue {
    waiting: VecDeque<ReadState>,
}

impl ReadQueue {
    /// An empty queue.
    pub fn new() -> Self {
        ReadQueue::default()
    }

    /// Adds reads confirmed by the core.
    pub fn push(&mut self, reads: impl IntoIterator<Item = ReadState>) {
        self.waiting.extend(reads);
    }

    /// Removes and returns, in arrival order, the reads whose index is `<= applied`.
    pub fn take_ready(&mut self, applied: Index) -> Vec<ReadState> {
        let mut out = Vec::new();
        let mut rest = VecDeque::with_capacity(self.waiting.len());
        for r in self.waiting.drain(..) {
            if r.index <= applied {
                out.push(r);
            } else {
                rest.push_back(r);
            }
        }
        self.waiting = rest;
        out
    }

    /// Reads still waiting.
    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    /// Whether no read is waiting.
    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// Forgets every waiting read (after a restart their clients must retry).
    pub fn clear(&mut self) {
        self.waiting.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn read(index: Index, ctx: &'static str) -> ReadState {
        ReadState {
            index,
            context: Bytes::from_static(ctx.as_bytes()),
        }
    }

    #[test]
    fn reads_are_released_once_applied_in_arrival_order() {
        let mut q = ReadQueue::new();
        q.push([read(5, "a"), read(9, "b"), read(3, "c")]);
        let first: Vec<_> = q.take_ready(5).into_iter().map(|r| r.context).collect();
        assert_eq!(
            first,
            vec![Bytes::from_static(b"a"), Bytes::from_static(b"c")]
        );
        assert_eq!(q.len(), 1);
        assert!(q.take_ready(8).is_empty());
        assert_eq!(q.take_ready(9).len(), 1);
        assert!(q.is_empty());
    }
}
