//! The LVS/IPVS schedulers. IPVS has no backups, slow start or drain; here they behave
//! as for every algorithm (the pool's tier), and IPVS's overload flag is our maxconn
//! applied to active + inactive connections.

pub mod addr_hash;
pub mod failover;
pub mod least_conn;
pub mod locality;
pub mod round_robin;
pub mod twos;

use crate::pool::ServerPool;

/// IPVS's weighted-least-connection choice over `candidates`: minimise overhead/weight by
/// cross-multiplication (`loh x dw > doh x lw` replaces the least), first one on ties.
pub(crate) fn wlc_among(
    pool: &ServerPool,
    candidates: impl Iterator<Item = usize>,
    overhead: impl Fn(usize) -> u64,
) -> Option<usize> {
    let mut least: Option<(usize, u64)> = None;
    for i in candidates {
        let s = pool.slot(i);
        if s.lvs_overloaded() || s.eweight() == 0 {
            continue;
        }
        let doh = overhead(i);
        least = match least {
            None => Some((i, doh)),
            Some((l, loh)) => {
                let lw = u128::from(pool.slot(l).eweight());
                let dw = u128::from(s.eweight());
                if u128::from(loh) * dw > u128::from(doh) * lw {
                    Some((i, doh))
                } else {
                    Some((l, loh))
                }
            }
        };
    }
    least.map(|(i, _)| i)
}

/// IPVS's `is_overloaded` of lblc/lblcr: more active connections than the weight, while
/// some other server is under half its weight.
pub(crate) fn locality_overloaded(pool: &ServerPool, index: usize) -> bool {
    let s = pool.slot(index);
    if u64::from(s.active()) <= u64::from(s.weight()) {
        return false;
    }
    pool.tier().iter().any(|&d| {
        let d = pool.slot(d);
        u64::from(d.active()) * 2 < u64::from(d.weight())
    })
}
