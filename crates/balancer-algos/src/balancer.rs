//! The narrow [`Balancer`] trait every algorithm is used through, the [`Policy`] trait an
//! algorithm implements, and the [`Dispatcher`] that joins a policy to a [`ServerPool`].

use std::time::Duration;

use rand::RngCore;
use rand::SeedableRng;
use rand::rngs::SmallRng;

use crate::error::Error;
use crate::pool::ServerPool;
use crate::request::Request;
use crate::server::{ServerConfig, ServerId, ServerState};

/// A load balancer: pick a server, account connections, take run-time changes.
///
/// `pick` returns `None` when no server can take the request (the caller answers 503,
/// queues, or drops); it never panics.
pub trait Balancer {
    /// Chooses a server for a new session.
    fn pick(&mut self, request: &Request<'_>) -> Option<ServerId>;
    /// A connection to `server` began (counts for least-connection style algorithms).
    fn connection_started(&mut self, server: ServerId);
    /// A connection to `server` ended.
    fn connection_ended(&mut self, server: ServerId);
    /// A response from `server` took `elapsed` (latency-aware algorithms); `now` is the
    /// caller's monotonic clock.
    fn observe_response_time(&mut self, server: ServerId, elapsed: Duration, now: Duration) {
        let _ = (server, elapsed, now);
    }
    /// Changes a server's user weight; takes effect at once.
    fn set_weight(&mut self, server: ServerId, weight: u16, now: Duration) -> Result<(), Error>;
    /// Changes a server's state; takes effect at once. Leaving Down or Maintenance starts
    /// the slow-start ramp, if the server has one.
    fn set_state(
        &mut self,
        server: ServerId,
        state: ServerState,
        now: Duration,
    ) -> Result<(), Error>;
    /// Lets time pass: slow-start ramps advance and expiring tables age. Call it from a
    /// timer (e.g. every 100 ms to 1 s); nothing else reads a clock.
    fn advance(&mut self, now: Duration);
    /// Whether `server` may still serve a session stuck to it (Up or Drain, any weight).
    fn accepts_persistent(&self, server: ServerId) -> bool;
}

/// An algorithm. It sees the pool read-only and returns pool indices; the
/// [`Dispatcher`] owns the pool and tells the policy what changed.
pub trait Policy {
    /// The tier or an effective weight changed: rebuild whatever tables depend on them.
    /// This runs off the hot path.
    fn rebuild(&mut self, pool: &ServerPool) -> Result<(), Error>;
    /// Picks the pool index of a server for `request`.
    fn choose<R: RngCore>(
        &mut self,
        pool: &ServerPool,
        request: &Request<'_>,
        rng: &mut R,
    ) -> Option<usize>;
    /// The connection counts of server `index` changed.
    fn load_changed(&mut self, pool: &ServerPool, index: usize) {
        let _ = (pool, index);
    }
    /// A response time was observed for server `index`.
    fn observe_response_time(&mut self, index: usize, elapsed: Duration, now: Duration) {
        let _ = (index, elapsed, now);
    }
    /// Time passed (table expiry).
    fn advance(&mut self, pool: &ServerPool, now: Duration) {
        let _ = (pool, now);
    }
    /// Static algorithms refuse weight changes other than to 0 or back to `configured`.
    fn is_static(&self) -> bool {
        false
    }
}

/// Options of a [`Dispatcher`].
#[derive(Clone, Debug, Default)]
pub struct DispatchOptions {
    /// Use every usable backup when all active servers are down, not just the first.
    pub all_backups: bool,
    /// Seed of the owned random generator (algorithms that draw at random).
    pub seed: u64,
}

/// A [`Policy`] joined to its [`ServerPool`] and a random generator: the [`Balancer`].
#[derive(Debug)]
pub struct Dispatcher<P, R = SmallRng> {
    pool: ServerPool,
    policy: P,
    rng: R,
    configured_weights: Vec<u16>,
}

impl<P: Policy> Dispatcher<P, SmallRng> {
    /// A dispatcher with default options (first backup only, seed 0).
    pub fn new(servers: Vec<ServerConfig>, policy: P) -> Result<Self, Error> {
        Self::with_options(servers, policy, DispatchOptions::default())
    }

    /// A dispatcher with options.
    pub fn with_options(
        servers: Vec<ServerConfig>,
        policy: P,
        options: DispatchOptions,
    ) -> Result<Self, Error> {
        Dispatcher::with_rng(
            servers,
            policy,
            options.all_backups,
            SmallRng::seed_from_u64(options.seed),
        )
    }
}

impl<P: Policy, R: RngCore> Dispatcher<P, R> {
    /// A dispatcher drawing from a caller-supplied generator.
    pub fn with_rng(
        servers: Vec<ServerConfig>,
        mut policy: P,
        all_backups: bool,
        rng: R,
    ) -> Result<Self, Error> {
        let configured_weights = servers.iter().map(|s| s.weight).collect();
        let pool = ServerPool::new(servers, all_backups)?;
        policy.rebuild(&pool)?;
        Ok(Dispatcher {
            pool,
            policy,
            rng,
            configured_weights,
        })
    }

    /// The server pool, read-only.
    pub fn pool(&self) -> &ServerPool {
        &self.pool
    }

    /// The policy, read-only.
    pub fn policy(&self) -> &P {
        &self.policy
    }

    fn index(&self, server: ServerId) -> Result<usize, Error> {
        self.pool
            .index_of(server)
            .ok_or(Error::UnknownServer { id: server })
    }

    /// LVS: one of `server`'s active connections became inactive (e.g. FIN_WAIT).
    pub fn connection_deactivated(&mut self, server: ServerId) {
        if let Some(i) = self.pool.index_of(server) {
            self.pool.connection_deactivated(i);
            self.policy.load_changed(&self.pool, i);
        }
    }

    /// LVS: an inactive connection of `server` went away.
    pub fn inactive_connection_ended(&mut self, server: ServerId) {
        if let Some(i) = self.pool.index_of(server) {
            self.pool.inactive_ended(i);
            self.policy.load_changed(&self.pool, i);
        }
    }

    /// Rebuilds after a pool change; on failure undoes the change with `undo`.
    fn rebuild_or_undo(&mut self, undo: impl FnOnce(&mut ServerPool)) -> Result<(), Error> {
        match self.policy.rebuild(&self.pool) {
            Ok(()) => Ok(()),
            Err(e) => {
                undo(&mut self.pool);
                // The previous configuration built before, so this cannot fail for size.
                let _ = self.policy.rebuild(&self.pool);
                Err(e)
            }
        }
    }
}

impl<P: Policy, R: RngCore> Balancer for Dispatcher<P, R> {
    fn pick(&mut self, request: &Request<'_>) -> Option<ServerId> {
        let index = self.policy.choose(&self.pool, request, &mut self.rng)?;
        Some(self.pool.slot(index).id())
    }

    fn connection_started(&mut self, server: ServerId) {
        if let Some(i) = self.pool.index_of(server) {
            self.pool.connection_started(i);
            self.policy.load_changed(&self.pool, i);
        }
    }

    fn connection_ended(&mut self, server: ServerId) {
        if let Some(i) = self.pool.index_of(server) {
            self.pool.connection_ended(i);
            self.policy.load_changed(&self.pool, i);
        }
    }

    fn observe_response_time(&mut self, server: ServerId, elapsed: Duration, now: Duration) {
        if let Some(i) = self.pool.index_of(server) {
            self.policy.observe_response_time(i, elapsed, now);
        }
    }

    fn set_weight(&mut self, server: ServerId, weight: u16, now: Duration) -> Result<(), Error> {
        let i = self.index(server)?;
        let configured = self.configured_weights[i];
        if self.policy.is_static() && weight != 0 && weight != configured {
            return Err(Error::StaticWeight {
                id: server,
                configured,
            });
        }
        let old = self.pool.slot(i).weight();
        if self.pool.set_weight(i, weight, now) {
            self.rebuild_or_undo(|pool| {
                pool.set_weight(i, old, now);
            })?;
        }
        Ok(())
    }

    fn set_state(
        &mut self,
        server: ServerId,
        state: ServerState,
        now: Duration,
    ) -> Result<(), Error> {
        let i = self.index(server)?;
        let old = self.pool.slot(i).state();
        if self.pool.set_state(i, state, now) {
            self.rebuild_or_undo(|pool| {
                pool.set_state(i, old, now);
            })?;
        }
        Ok(())
    }

    fn advance(&mut self, now: Duration) {
        if self.pool.refresh_slow_start(now) {
            // A ramp step only lowers or raises weights the tables were already built for
            // at full weight, so it cannot exceed a size limit.
            let _ = self.policy.rebuild(&self.pool);
        }
        self.policy.advance(&self.pool, now);
    }

    fn accepts_persistent(&self, server: ServerId) -> bool {
        self.pool
            .index_of(server)
            .is_some_and(|i| self.pool.slot(i).state().accepts_persistent())
    }
}

/// A uniformly distributed integer below `n` (Lemire's multiply-shift), `n > 0`.
pub(crate) fn below<R: RngCore>(rng: &mut R, n: u64) -> u64 {
    ((u128::from(rng.next_u64()) * u128::from(n)) >> 64) as u64
}
