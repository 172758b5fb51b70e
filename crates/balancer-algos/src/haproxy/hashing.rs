//! `balance source | uri | url_param | hdr | rdp-cookie | hash`: hash a request key
//! onto the server map (`hash-type map-based`) or the ring (`hash-type consistent`).
//! A missing key falls back to round robin, as in HAProxy.

use rand::RngCore;

use super::TierCursor;
use super::ring::{ConsistentRing, RingMember};
use super::weight_map::{WeightMap, static_members};
use crate::balancer::Policy;
use crate::error::Error;
use crate::hash_fn::HashSpec;
use crate::pool::ServerPool;
use crate::request::{HashKey, Request};

/// `hash-type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashType {
    /// `hash % total weight` into the server map. Static: weights only go to 0 and back;
    /// any change of the server set remaps most keys.
    MapBased,
    /// The consistent ring; dynamic. `balance_factor` is `hash-balance-factor` (>= 100),
    /// enabling bounded loads.
    Consistent {
        /// Percent of the average load a server may take; `None` disables the bound.
        balance_factor: Option<u32>,
    },
}

/// A hashing balancer.
#[derive(Debug)]
pub struct HashBalancer {
    key: HashKey,
    spec: HashSpec,
    kind: HashType,
    map: WeightMap,
    ring: ConsistentRing,
    fallback: TierCursor,
}

impl HashBalancer {
    /// A hashing balancer; the balance factor, if any, must be at least 100.
    pub fn new(key: HashKey, spec: HashSpec, kind: HashType) -> Result<Self, Error> {
        if let HashType::Consistent {
            balance_factor: Some(f),
        } = kind
        {
            if f < 100 {
                return Err(Error::InvalidParameter {
                    name: "hash-balance-factor",
                    reason: "must be at least 100",
                });
            }
        }
        Ok(HashBalancer {
            key,
            spec,
            kind,
            map: WeightMap::default(),
            ring: ConsistentRing::default(),
            fallback: TierCursor::default(),
        })
    }

    /// The ring (consistent hashing), for inspection.
    pub fn ring(&self) -> &ConsistentRing {
        &self.ring
    }
}

impl Policy for HashBalancer {
    fn rebuild(&mut self, pool: &ServerPool) -> Result<(), Error> {
        match self.kind {
            HashType::MapBased => self.map = WeightMap::build(&static_members(pool))?,
            HashType::Consistent { .. } => {
                let same_servers = self.ring.members().len() == pool.tier().len()
                    && self
                        .ring
                        .members()
                        .iter()
                        .zip(pool.tier())
                        .all(|(m, &i)| m.index == i);
                if same_servers {
                    // Only weights moved (run-time change, slow-start step): update the
                    // changed servers' points in place, as HAProxy does.
                    let changes: Vec<(usize, u32)> = pool
                        .tier()
                        .iter()
                        .enumerate()
                        .map(|(pos, &i)| (pos, pool.slot(i).eweight()))
                        .filter(|&(pos, w)| self.ring.members()[pos].weight != w)
                        .collect();
                    if !changes.is_empty() {
                        self.ring.set_weights(&changes)?;
                    }
                    return Ok(());
                }
                let members: Vec<RingMember> = pool
                    .tier()
                    .iter()
                    .map(|&i| RingMember {
                        index: i,
                        id: pool.slot(i).id(),
                        weight: pool.slot(i).eweight(),
                    })
                    .collect();
                self.ring = ConsistentRing::build(&members)?;
            }
        }
        Ok(())
    }

    fn choose<R: RngCore>(
        &mut self,
        pool: &ServerPool,
        request: &Request<'_>,
        _rng: &mut R,
    ) -> Option<usize> {
        let tier = pool.tier();
        if tier.len() == 1 {
            return Some(tier[0]);
        }
        let Some(hash) = self.key.hash(request, &self.spec) else {
            return self.fallback.next(pool);
        };
        match self.kind {
            HashType::MapBased => self.map.lookup(hash),
            HashType::Consistent {
                balance_factor: None,
            } => self.ring.lookup(hash).map(|p| self.ring.members()[p].index),
            HashType::Consistent {
                balance_factor: Some(f),
            } => {
                let members = self.ring.members();
                let pos = self.ring.lookup_bounded(
                    hash,
                    |p| u64::from(pool.slot(members[p].index).active()),
                    pool.inflight(),
                    f,
                )?;
                Some(members[pos].index)
            }
        }
    }

    fn is_static(&self) -> bool {
        self.kind == HashType::MapBased
    }
}
