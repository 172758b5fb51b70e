//! LVS `dh` (destination hashing) and `sh` (source hashing): a static 256-bucket table.
//!
//! As in IPVS, the table is dealt over every server of the service (here: every server
//! of the current tier's kind, active or backup), whatever its state, and availability
//! is checked at pick time. So a server going down or being quiesced (weight 0, as
//! keepalived's `inhibit_on_failure` does) leaves every other client where it was; only
//! the failed server's clients get `None`, or, with `sh-fallback`, the next buckets.
//! Changing the membership or (for sh) a weight re-deals the table.

use std::net::IpAddr;

use rand::RngCore;

use crate::balancer::Policy;
use crate::error::Error;
use crate::pool::ServerPool;
use crate::request::Request;

/// Buckets in the dh and sh tables (IPVS's default of 2^8).
pub const BUCKETS: usize = 256;

/// IPVS folds an IPv6 address by XORing its four 32-bit words.
pub fn fold_address(addr: IpAddr) -> u32 {
    match addr {
        IpAddr::V4(a) => u32::from(a),
        IpAddr::V6(a) => a
            .octets()
            .chunks_exact(4)
            .fold(0, |h, w| h ^ u32::from_be_bytes([w[0], w[1], w[2], w[3]])),
    }
}

/// The servers the table is dealt over, and which of them may take a connection now.
#[derive(Clone, Debug, Default)]
struct Service {
    members: Vec<usize>,
    available: Vec<bool>,
}

impl Service {
    fn of(pool: &ServerPool) -> Self {
        let backup = pool.tier_is_backup();
        let members: Vec<usize> = (0..pool.slots().len())
            .filter(|&i| pool.slot(i).config().backup == backup)
            .collect();
        let mut available = vec![false; pool.slots().len()];
        for &i in pool.tier() {
            available[i] = true;
        }
        Service { members, available }
    }

    fn takes(&self, pool: &ServerPool, index: usize) -> bool {
        self.available.get(index).copied().unwrap_or(false) && !pool.slot(index).lvs_overloaded()
    }
}

/// dh's bucket: `addr x 2654435761 mod 256`.
pub fn dh_bucket(addr: IpAddr) -> usize {
    (fold_address(addr).wrapping_mul(2_654_435_761) as usize) & (BUCKETS - 1)
}

/// sh's bucket: `(offset + hash_32(port + addr, 8)) mod 256`, with the kernel's
/// `hash_32` (multiply by 0x61C88647, keep the top bits).
pub fn sh_bucket(addr: IpAddr, port: u16, offset: usize) -> usize {
    let v = u32::from(port).wrapping_add(fold_address(addr));
    let h = (v.wrapping_mul(0x61C8_8647) >> (32 - 8)) as usize;
    (offset + h) & (BUCKETS - 1)
}

/// `dh`: buckets dealt one per server in turn; an unavailable or overloaded server
/// yields `None`.
#[derive(Clone, Debug, Default)]
pub struct DestinationHash {
    buckets: Vec<u32>,
    service: Service,
}

impl DestinationHash {
    /// A new policy.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Policy for DestinationHash {
    fn rebuild(&mut self, pool: &ServerPool) -> Result<(), Error> {
        self.service = Service::of(pool);
        let members = &self.service.members;
        self.buckets.clear();
        if !members.is_empty() {
            self.buckets
                .extend((0..BUCKETS).map(|b| members[b % members.len()] as u32));
        }
        Ok(())
    }

    fn choose<R: RngCore>(
        &mut self,
        pool: &ServerPool,
        request: &Request<'_>,
        _rng: &mut R,
    ) -> Option<usize> {
        let dst = request.destination?;
        let i = *self.buckets.get(dh_bucket(dst))? as usize;
        self.service.takes(pool, i).then_some(i)
    }
}

/// `sh`: buckets dealt to servers in turn, each server taking `weight` consecutive
/// buckets (IPVS uses the raw weight, so keep weights small). Flags: `fallback`
/// (`sh-fallback`: probe the following buckets when the server is unavailable) and
/// `port` (`sh-port`: include the source port).
#[derive(Clone, Debug, Default)]
pub struct SourceHash {
    buckets: Vec<u32>,
    service: Service,
    fallback: bool,
    port: bool,
}

impl SourceHash {
    /// `sh` with the given flags.
    pub fn new(fallback: bool, port: bool) -> Self {
        SourceHash {
            buckets: Vec::new(),
            service: Service::default(),
            fallback,
            port,
        }
    }
}

impl Policy for SourceHash {
    fn rebuild(&mut self, pool: &ServerPool) -> Result<(), Error> {
        self.service = Service::of(pool);
        let members = &self.service.members;
        self.buckets.clear();
        if members.is_empty() {
            return Ok(());
        }
        let mut p = 0;
        let mut count = 0u32;
        for _ in 0..BUCKETS {
            let i = members[p];
            self.buckets.push(i as u32);
            count += 1;
            // A weight-0 server still takes one bucket (IPVS compares after counting).
            if count >= u32::from(pool.slot(i).weight()) {
                p = (p + 1) % members.len();
                count = 0;
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
        let src = request.source?;
        if self.buckets.is_empty() {
            return None;
        }
        let port = if self.port {
            request.source_port.unwrap_or(0)
        } else {
            0
        };
        let tries = if self.fallback { BUCKETS } else { 1 };
        (0..tries)
            .map(|offset| self.buckets[sh_bucket(src, port, offset)] as usize)
            .find(|&i| self.service.takes(pool, i))
    }
}
