//! LVS `dh` (destination hashing) and `sh` (source hashing): a static 256-bucket table.

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

/// `dh`: buckets dealt one per server in turn; an overloaded server yields `None`.
#[derive(Clone, Debug, Default)]
pub struct DestinationHash {
    buckets: Vec<u32>,
}

impl DestinationHash {
    /// A new policy.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Policy for DestinationHash {
    fn rebuild(&mut self, pool: &ServerPool) -> Result<(), Error> {
        let tier = pool.tier();
        self.buckets.clear();
        if !tier.is_empty() {
            self.buckets
                .extend((0..BUCKETS).map(|b| tier[b % tier.len()] as u32));
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
        (!pool.slot(i).lvs_overloaded()).then_some(i)
    }
}

/// `sh`: buckets dealt to servers in turn, each server taking `weight` consecutive
/// buckets (IPVS uses the raw weight, so keep weights small). Flags: `fallback`
/// (`sh-fallback`: probe the following buckets when the server is unavailable) and
/// `port` (`sh-port`: include the source port).
#[derive(Clone, Debug, Default)]
pub struct SourceHash {
    buckets: Vec<u32>,
    fallback: bool,
    port: bool,
}

impl SourceHash {
    /// `sh` with the given flags.
    pub fn new(fallback: bool, port: bool) -> Self {
        SourceHash {
            buckets: Vec::new(),
            fallback,
            port,
        }
    }
}

impl Policy for SourceHash {
    fn rebuild(&mut self, pool: &ServerPool) -> Result<(), Error> {
        let tier = pool.tier();
        self.buckets.clear();
        if tier.is_empty() {
            return Ok(());
        }
        let mut p = 0;
        let mut count = 0u32;
        for _ in 0..BUCKETS {
            let i = tier[p];
            self.buckets.push(i as u32);
            count += 1;
            if count >= u32::from(pool.slot(i).weight()) {
                p = (p + 1) % tier.len();
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
            .find(|&i| !pool.slot(i).lvs_overloaded())
    }
}
