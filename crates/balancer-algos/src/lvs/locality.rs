//! LVS `lblc` and `lblcr`: locality-based least connection (with replication), for
//! cache clusters. A destination address keeps going to "its" server (or server set)
//! until that server is overloaded while another is under half load.
//!
//! Entries unused for `expiration` (24 h by default) are dropped by [`Policy::advance`];
//! past `max_entries` (16384, IPVS's 1024 buckets x 16), entries idle for six minutes go
//! first.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use rand::RngCore;

use super::{locality_overloaded, wlc_among};
use crate::balancer::Policy;
use crate::error::Error;
use crate::pool::ServerPool;
use crate::request::Request;

/// IPVS's default `lblc_expiration` / `lblcr_expiration`.
pub const DEFAULT_EXPIRATION: Duration = Duration::from_secs(24 * 60 * 60);
/// IPVS's `ENTRY_TIMEOUT` used when the table is over its size.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(6 * 60);
/// IPVS's table size cap.
pub const DEFAULT_MAX_ENTRIES: usize = 1024 * 16;

fn wlc(pool: &ServerPool) -> Option<usize> {
    wlc_among(pool, pool.tier().iter().copied(), |i| {
        pool.slot(i).lvs_overhead()
    })
}

fn in_tier(pool: &ServerPool, index: usize) -> bool {
    pool.tier().contains(&index)
}

/// Drops expired entries, then idle ones while over `max`.
fn age_out<V>(
    table: &mut HashMap<IpAddr, V>,
    now: Duration,
    expiration: Duration,
    max: usize,
    last_used: impl Fn(&V) -> Duration,
) {
    table.retain(|_, v| now.saturating_sub(last_used(v)) < expiration);
    if table.len() > max {
        table.retain(|_, v| now.saturating_sub(last_used(v)) < IDLE_TIMEOUT);
    }
}

#[derive(Clone, Debug)]
struct LblcEntry {
    server: usize,
    last_used: Duration,
}

/// `lblc`.
#[derive(Clone, Debug)]
pub struct Lblc {
    table: HashMap<IpAddr, LblcEntry>,
    expiration: Duration,
    max_entries: usize,
}

impl Default for Lblc {
    fn default() -> Self {
        Lblc {
            table: HashMap::new(),
            expiration: DEFAULT_EXPIRATION,
            max_entries: DEFAULT_MAX_ENTRIES,
        }
    }
}

impl Lblc {
    /// IPVS defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Custom expiration and size cap.
    pub fn with_limits(expiration: Duration, max_entries: usize) -> Self {
        Lblc {
            expiration,
            max_entries,
            ..Self::default()
        }
    }

    /// Number of destinations remembered.
    pub fn entries(&self) -> usize {
        self.table.len()
    }
}

impl Policy for Lblc {
    fn rebuild(&mut self, _pool: &ServerPool) -> Result<(), Error> {
        Ok(())
    }

    fn choose<R: RngCore>(
        &mut self,
        pool: &ServerPool,
        request: &Request<'_>,
        _rng: &mut R,
    ) -> Option<usize> {
        let Some(dst) = request.destination else {
            return wlc(pool);
        };
        if let Some(e) = self.table.get_mut(&dst) {
            e.last_used = request.now;
            let s = pool.slot(e.server);
            if in_tier(pool, e.server)
                && !s.lvs_overloaded()
                && !locality_overloaded(pool, e.server)
            {
                return Some(e.server);
            }
        }
        let server = wlc(pool)?;
        self.table.insert(
            dst,
            LblcEntry {
                server,
                last_used: request.now,
            },
        );
        Some(server)
    }

    fn advance(&mut self, _pool: &ServerPool, now: Duration) {
        age_out(
            &mut self.table,
            now,
            self.expiration,
            self.max_entries,
            |e| e.last_used,
        );
    }
}

#[derive(Clone, Debug)]
struct LblcrEntry {
    set: Vec<usize>,
    last_modified: Duration,
    last_used: Duration,
}

/// `lblcr`: like `lblc` but a destination maps to a set of servers, grown when its least
/// loaded member is overloaded and shrunk (dropping the most loaded) when unchanged for
/// `expiration`.
#[derive(Clone, Debug)]
pub struct Lblcr {
    table: HashMap<IpAddr, LblcrEntry>,
    expiration: Duration,
    max_entries: usize,
}

impl Default for Lblcr {
    fn default() -> Self {
        Lblcr {
            table: HashMap::new(),
            expiration: DEFAULT_EXPIRATION,
            max_entries: DEFAULT_MAX_ENTRIES,
        }
    }
}

impl Lblcr {
    /// IPVS defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Custom expiration and size cap.
    pub fn with_limits(expiration: Duration, max_entries: usize) -> Self {
        Lblcr {
            expiration,
            max_entries,
            ..Self::default()
        }
    }

    /// The server set remembered for a destination (pool indices).
    pub fn set_for(&self, destination: IpAddr) -> Option<&[usize]> {
        self.table.get(&destination).map(|e| e.set.as_slice())
    }
}

impl Policy for Lblcr {
    fn rebuild(&mut self, _pool: &ServerPool) -> Result<(), Error> {
        Ok(())
    }

    fn choose<R: RngCore>(
        &mut self,
        pool: &ServerPool,
        request: &Request<'_>,
        _rng: &mut R,
    ) -> Option<usize> {
        let Some(dst) = request.destination else {
            return wlc(pool);
        };
        let now = request.now;
        let Some(e) = self.table.get_mut(&dst) else {
            let server = wlc(pool)?;
            self.table.insert(
                dst,
                LblcrEntry {
                    set: vec![server],
                    last_modified: now,
                    last_used: now,
                },
            );
            return Some(server);
        };
        e.last_used = now;
        let min = wlc_among(
            pool,
            e.set.iter().copied().filter(|&i| in_tier(pool, i)),
            |i| pool.slot(i).lvs_overhead(),
        );
        let server = match min {
            Some(m) if !locality_overloaded(pool, m) => m,
            _ => {
                let m = wlc(pool)?;
                if !e.set.contains(&m) {
                    e.set.push(m);
                    e.last_modified = now;
                }
                m
            }
        };
        if e.set.len() > 1 && now.saturating_sub(e.last_modified) > self.expiration {
            // Drop the most loaded member: the set has not needed growing for a while.
            let most = e.set.iter().copied().max_by(|&a, &b| {
                let (sa, sb) = (pool.slot(a), pool.slot(b));
                let la = u128::from(sa.lvs_overhead()) * u128::from(sb.eweight().max(1));
                let lb = u128::from(sb.lvs_overhead()) * u128::from(sa.eweight().max(1));
                la.cmp(&lb)
            });
            if let Some(most) = most {
                e.set.retain(|&i| i != most);
                e.last_modified = now;
            }
        }
        Some(server)
    }

    fn advance(&mut self, _pool: &ServerPool, now: Duration) {
        age_out(
            &mut self.table,
            now,
            self.expiration,
            self.max_entries,
            |e| e.last_used,
        );
    }
}
