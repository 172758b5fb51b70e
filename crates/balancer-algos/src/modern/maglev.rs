//! Maglev hashing (Eisenbud et al., NSDI 2016) with weights; also LVS `mh`.
//!
//! Every server walks its own permutation of a prime-sized table (offset and skip
//! derived from its id) and claims the next free slot in turn until the table is full.
//! Weights: in each round a server earns `weight / max weight` of a turn, so shares
//! follow weights to within about one slot per server. Removing a server moves its slots
//! plus a little extra; lookups are one table read.

use rand::RngCore;

use super::affinity_hash;
use crate::balancer::Policy;
use crate::error::Error;
use crate::haproxy::{TierCursor, gcd};
use crate::hash_fn::mix64;
use crate::pool::ServerPool;
use crate::request::Request;
use crate::server::ServerId;

/// The paper's table size.
pub const DEFAULT_TABLE_SIZE: u32 = 65_537;
/// IPVS `mh`'s default table size.
pub const LVS_TABLE_SIZE: u32 = 4093;
/// Largest table we build.
pub const MAX_TABLE_SIZE: u32 = 1 << 26;

/// A server in a Maglev table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaglevMember {
    /// Caller's index (a pool index in the dispatcher).
    pub index: usize,
    /// Id; seeds the permutation, so a server keeps its preferences across rebuilds.
    pub id: ServerId,
    /// Weight (0 = no slots).
    pub weight: u32,
}

/// Slot contents: member positions, 16-bit while they fit so that a 65537-slot table is
/// 128 KiB rather than 256 KiB (lookups are one random read into it, so its cache
/// footprint is the lookup cost).
#[derive(Clone, Debug)]
enum Slots {
    Narrow(Vec<u16>),
    Wide(Vec<u32>),
}

impl Default for Slots {
    fn default() -> Self {
        Slots::Narrow(Vec::new())
    }
}

impl Slots {
    fn len(&self) -> usize {
        match self {
            Slots::Narrow(v) => v.len(),
            Slots::Wide(v) => v.len(),
        }
    }

    #[inline]
    fn get(&self, i: usize) -> usize {
        match self {
            Slots::Narrow(v) => usize::from(v[i]),
            Slots::Wide(v) => v[i] as usize,
        }
    }
}

/// Fills every slot of a `size`-slot table, calling `place(slot, member position)`
/// once per slot. `members` is non-empty with non-zero weights; `size` is a prime.
fn populate(members: &[MaglevMember], size: u32, mut place: impl FnMut(usize, usize)) {
    let g = members
        .iter()
        .fold(0, |g, x| gcd(g, u64::from(x.weight)))
        .max(1);
    let weights: Vec<u64> = members.iter().map(|x| u64::from(x.weight) / g).collect();
    let max_w = weights.iter().copied().max().unwrap_or(1);
    let m = u64::from(size);
    // Positions stay below 2^26 + skip < 2^27: u32 arithmetic is enough.
    let mut position: Vec<u32> = Vec::with_capacity(members.len());
    let mut skip: Vec<u32> = Vec::with_capacity(members.len());
    for x in members {
        let id = u64::from(x.id.0);
        position.push((mix64(id ^ 0x6d61_676c_6576_3031) % m) as u32);
        skip.push((mix64(id ^ 0x736b_6970_7065_7232) % (m - 1) + 1) as u32);
    }
    let mut credit = vec![0u64; members.len()];
    // Which slots are taken, one bit each: 8 KiB for 65537 slots stays in L1, so the
    // many probes that hit taken slots near the end cost little.
    let mut taken = vec![0u64; (size as usize).div_ceil(64)];
    let mut filled = 0u32;
    loop {
        for i in 0..members.len() {
            credit[i] += weights[i];
            while credit[i] >= max_w {
                credit[i] -= max_w;
                // Next free slot on this server's permutation; the permutation visits
                // every slot (skip and size are coprime), so this ends.
                loop {
                    let c = position[i] as usize;
                    position[i] += skip[i];
                    if position[i] >= size {
                        position[i] -= size;
                    }
                    let (word, bit) = (c / 64, 1u64 << (c % 64));
                    if taken[word] & bit == 0 {
                        taken[word] |= bit;
                        place(c, i);
                        break;
                    }
                }
                filled += 1;
                if filled == size {
                    return;
                }
            }
        }
    }
}

/// An immutable lookup table; build off the hot path and share.
#[derive(Clone, Debug, Default)]
pub struct MaglevTable {
    slots: Slots,
    members: Vec<MaglevMember>,
}

fn is_prime(n: u32) -> bool {
    if n < 2 {
        return false;
    }
    let n = u64::from(n);
    let mut d = 2u64;
    while d * d <= n {
        if n % d == 0 {
            return false;
        }
        d += 1;
    }
    true
}

impl MaglevTable {
    /// Builds a table of `size` slots (a prime, larger than the number of members).
    pub fn build(members: &[MaglevMember], size: u32) -> Result<Self, Error> {
        if !is_prime(size) || size > MAX_TABLE_SIZE {
            return Err(Error::InvalidTableSize {
                size: u64::from(size),
                reason: "must be a prime no larger than 2^26",
            });
        }
        let members: Vec<MaglevMember> = members.iter().copied().filter(|m| m.weight > 0).collect();
        if members.len() >= size as usize {
            return Err(Error::InvalidTableSize {
                size: u64::from(size),
                reason: "must exceed the number of servers",
            });
        }
        if members.is_empty() {
            return Ok(MaglevTable {
                slots: Slots::default(),
                members,
            });
        }
        let slots = if members.len() <= usize::from(u16::MAX) {
            let mut v = vec![0u16; size as usize];
            populate(&members, size, |slot, member| v[slot] = member as u16);
            Slots::Narrow(v)
        } else {
            let mut v = vec![0u32; size as usize];
            populate(&members, size, |slot, member| v[slot] = member as u32);
            Slots::Wide(v)
        };
        Ok(MaglevTable { slots, members })
    }

    /// The members.
    pub fn members(&self) -> &[MaglevMember] {
        &self.members
    }

    /// Number of slots (0 when there are no members).
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether the table is empty (no members).
    pub fn is_empty(&self) -> bool {
        self.slots.len() == 0
    }

    /// The member position held by each slot, in slot order.
    pub fn slot_members(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.slots.len()).map(|i| self.slots.get(i))
    }

    /// The member for a 64-bit hash (multiply-shift onto the table, no division).
    #[inline]
    pub fn lookup(&self, hash: u64) -> Option<&MaglevMember> {
        if self.slots.len() == 0 {
            return None;
        }
        let slot = ((u128::from(hash) * self.slots.len() as u128) >> 64) as usize;
        self.members.get(self.slots.get(slot))
    }
}

/// IPVS `mh` behaviour: an overloaded server yields `None`, or with `fallback`
/// (`mh-fallback`) a rehash onto another server; `port` (`mh-port`) mixes the source
/// port into the key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LvsFlags {
    /// Rehash past an overloaded server.
    pub fallback: bool,
    /// Include the source port.
    pub port: bool,
}

/// Maglev as a [`Policy`]: keyed on [`affinity_hash`], round robin when there is no key.
#[derive(Clone, Debug)]
pub struct Maglev {
    size: u32,
    table: MaglevTable,
    fallback: TierCursor,
    lvs: Option<LvsFlags>,
}

impl Maglev {
    /// Weighted Maglev with a table of `size` slots (a prime, e.g. [`DEFAULT_TABLE_SIZE`]).
    pub fn new(size: u32) -> Result<Self, Error> {
        if !is_prime(size) || size > MAX_TABLE_SIZE {
            return Err(Error::InvalidTableSize {
                size: u64::from(size),
                reason: "must be a prime no larger than 2^26",
            });
        }
        Ok(Maglev {
            size,
            table: MaglevTable::default(),
            fallback: TierCursor::default(),
            lvs: None,
        })
    }

    /// LVS `mh` with its default table size and the given flags.
    pub fn lvs(flags: LvsFlags) -> Self {
        Maglev {
            size: LVS_TABLE_SIZE,
            table: MaglevTable::default(),
            fallback: TierCursor::default(),
            lvs: Some(flags),
        }
    }

    /// The current table.
    pub fn table(&self) -> &MaglevTable {
        &self.table
    }
}

impl Policy for Maglev {
    fn rebuild(&mut self, pool: &ServerPool) -> Result<(), Error> {
        let members: Vec<MaglevMember> = pool
            .tier()
            .iter()
            .map(|&i| MaglevMember {
                index: i,
                id: pool.slot(i).id(),
                weight: pool.slot(i).eweight(),
            })
            .collect();
        self.table = MaglevTable::build(&members, self.size)?;
        Ok(())
    }

    fn choose<R: RngCore>(
        &mut self,
        pool: &ServerPool,
        request: &Request<'_>,
        _rng: &mut R,
    ) -> Option<usize> {
        let Some(mut h) = affinity_hash(request) else {
            return self.fallback.next(pool);
        };
        let Some(flags) = self.lvs else {
            return self.table.lookup(h).map(|m| m.index);
        };
        if flags.port {
            h = mix64(h ^ u64::from(request.source_port.unwrap_or(0)));
        }
        let takes = |i: usize| !pool.slot(i).lvs_overloaded();
        let first = self.table.lookup(h)?.index;
        if takes(first) {
            return Some(first);
        }
        if !flags.fallback {
            return None;
        }
        // Rehash with growing offsets, as IPVS's mh-fallback does, a bounded number of
        // times.
        (1..=self.table.len() as u64)
            .filter_map(|offset| self.table.lookup(mix64(h.wrapping_add(offset))))
            .map(|m| m.index)
            .find(|&i| takes(i))
    }
}
