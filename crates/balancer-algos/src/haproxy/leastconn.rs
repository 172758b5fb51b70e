//! `balance leastconn`: the server with the fewest connections per unit of weight.
//!
//! Servers sit in an ordered tree keyed on `(in-flight + 1) x 2^32 / effective weight`
//! (HAProxy keys on the same ratio). A server whose load changes is taken out and put
//! back (`EbTree::rekey`), landing after every server with the same key: that is the round robin among
//! equally loaded servers.

use rand::RngCore;

use crate::balancer::Policy;
use crate::error::Error;
use crate::pool::{ServerPool, ServerSlot};
use crate::request::Request;
use ebtree::{EbTree, Handle};

/// Least connections, weighted.
#[derive(Debug, Default)]
pub struct LeastConn {
    tree: EbTree<u64, usize>,
    handles: Vec<Option<Handle>>,
    /// The tree's first entry, refreshed whenever the tree changes, so that a pick
    /// (far more frequent than changes on a busy proxy) starts without a descent.
    first: Option<Handle>,
}

fn key(slot: &ServerSlot) -> u64 {
    let load = (u128::from(slot.active()) + 1) << 32;
    let k = load / u128::from(slot.eweight().max(1));
    u64::try_from(k).unwrap_or(u64::MAX)
}

impl LeastConn {
    /// A new, empty policy.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Policy for LeastConn {
    fn rebuild(&mut self, pool: &ServerPool) -> Result<(), Error> {
        self.tree.clear();
        self.handles.clear();
        self.handles.resize(pool.slots().len(), None);
        for &i in pool.tier() {
            self.handles[i] = Some(self.tree.insert(key(pool.slot(i)), i));
        }
        self.first = self.tree.first();
        Ok(())
    }

    fn choose<R: RngCore>(
        &mut self,
        pool: &ServerPool,
        _request: &Request<'_>,
        _rng: &mut R,
    ) -> Option<usize> {
        let mut h = self.first;
        // Bounded: at most one visit per server in the tree.
        for _ in 0..self.tree.len() {
            let handle = h?;
            let &i = self.tree.get(handle)?;
            if pool.slot(i).has_room() {
                return Some(i);
            }
            h = self.tree.next(handle);
        }
        None
    }

    fn load_changed(&mut self, pool: &ServerPool, index: usize) {
        if let Some(Some(h)) = self.handles.get(index).copied() {
            // Re-keying puts the server after every server with the same key: the
            // round robin among equals.
            self.tree.rekey(h, key(pool.slot(index)));
            self.first = self.tree.first();
        }
    }
}
