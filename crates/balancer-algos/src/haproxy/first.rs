//! `balance first`: the usable server with the lowest id that still has a free
//! connection slot; the next one only gets traffic once the first is full. Weights are
//! ignored (beyond weight 0 meaning "no new sessions").

use rand::RngCore;

use crate::balancer::Policy;
use crate::error::Error;
use crate::pool::ServerPool;
use crate::request::Request;

/// Fill servers in id order.
#[derive(Clone, Debug, Default)]
pub struct First {
    by_id: Vec<usize>,
}

impl First {
    /// A new, empty policy.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Policy for First {
    fn rebuild(&mut self, pool: &ServerPool) -> Result<(), Error> {
        self.by_id = pool.tier().to_vec();
        self.by_id.sort_by_key(|&i| pool.slot(i).id());
        Ok(())
    }

    fn choose<R: RngCore>(
        &mut self,
        pool: &ServerPool,
        _request: &Request<'_>,
        _rng: &mut R,
    ) -> Option<usize> {
        self.by_id
            .iter()
            .copied()
            .find(|&i| pool.slot(i).has_room())
    }
}
