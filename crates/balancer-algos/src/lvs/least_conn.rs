//! LVS `lc`, `wlc`, `sed` and `nq`: scans of the server list comparing load ratios by
//! cross-multiplication, as IPVS does (no floating point, first server wins ties).

use rand::RngCore;

use super::wlc_among;
use crate::balancer::Policy;
use crate::error::Error;
use crate::pool::ServerPool;
use crate::request::Request;

/// Which least-connection rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeastConnKind {
    /// `lc`: smallest overhead (active x 256 + inactive), weights ignored.
    Lc,
    /// `wlc`: smallest overhead / weight.
    Wlc,
    /// `sed`, shortest expected delay: smallest (active + 1) / weight.
    Sed,
    /// `nq`, never queue: an idle server (no active connection) at once, else as `sed`.
    Nq,
}

/// An LVS least-connection scheduler.
#[derive(Clone, Debug)]
pub struct LeastConnection {
    kind: LeastConnKind,
}

impl LeastConnection {
    /// A scheduler of the given kind.
    pub fn new(kind: LeastConnKind) -> Self {
        LeastConnection { kind }
    }
}

impl Policy for LeastConnection {
    fn rebuild(&mut self, _pool: &ServerPool) -> Result<(), Error> {
        Ok(())
    }

    fn choose<R: RngCore>(
        &mut self,
        pool: &ServerPool,
        _request: &Request<'_>,
        _rng: &mut R,
    ) -> Option<usize> {
        let tier = pool.tier().iter().copied();
        match self.kind {
            LeastConnKind::Lc => {
                let mut least: Option<(usize, u64)> = None;
                for i in tier {
                    let s = pool.slot(i);
                    if s.lvs_overloaded() {
                        continue;
                    }
                    let doh = s.lvs_overhead();
                    if least.is_none_or(|(_, loh)| doh < loh) {
                        least = Some((i, doh));
                    }
                }
                least.map(|(i, _)| i)
            }
            LeastConnKind::Wlc => wlc_among(pool, tier, |i| pool.slot(i).lvs_overhead()),
            LeastConnKind::Sed => wlc_among(pool, tier, |i| u64::from(pool.slot(i).active()) + 1),
            LeastConnKind::Nq => {
                let idle = pool.tier().iter().copied().find(|&i| {
                    let s = pool.slot(i);
                    !s.lvs_overloaded() && s.active() == 0
                });
                idle.or_else(|| wlc_among(pool, tier, |i| u64::from(pool.slot(i).active()) + 1))
            }
        }
    }
}
