//! Run-time state of a server set: connection counts, effective weights, slow start, and
//! which servers may take new sessions right now (the "tier").

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::time::Duration;

use crate::error::Error;
use crate::server::{ServerConfig, ServerId, ServerState, WEIGHT_SCALE};

/// One server and what the balancer knows about it at run time.
#[derive(Clone, Debug)]
pub struct ServerSlot {
    config: ServerConfig,
    active: u32,
    inactive: u32,
    /// When the server last came back from Down or Maintenance, while its ramp lasts.
    recovering_since: Option<Duration>,
    eweight: u32,
}

impl ServerSlot {
    fn new(config: ServerConfig) -> Self {
        let eweight = u32::from(config.weight) * WEIGHT_SCALE;
        ServerSlot {
            config,
            active: 0,
            inactive: 0,
            recovering_since: None,
            eweight,
        }
    }

    /// The server's id.
    pub fn id(&self) -> ServerId {
        self.config.id
    }

    /// The configuration as currently in force (weight and state included).
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// The configured user weight (0..=65535).
    pub fn weight(&self) -> u16 {
        self.config.weight
    }

    /// The effective weight: user weight x 16, reduced during the slow-start ramp.
    pub fn eweight(&self) -> u32 {
        self.eweight
    }

    /// Current state.
    pub fn state(&self) -> ServerState {
        self.config.state
    }

    /// Connections in flight (LVS: active connections).
    pub fn active(&self) -> u32 {
        self.active
    }

    /// LVS inactive connections (e.g. in FIN_WAIT); zero for L7 users.
    pub fn inactive(&self) -> u32 {
        self.inactive
    }

    /// Whether one more connection fits under maxconn.
    pub fn has_room(&self) -> bool {
        self.config.maxconn == 0 || self.active < self.config.maxconn
    }

    /// IPVS's overload flag: active + inactive reached the upper threshold (our maxconn).
    pub fn lvs_overloaded(&self) -> bool {
        self.config.maxconn != 0
            && u64::from(self.active) + u64::from(self.inactive) >= u64::from(self.config.maxconn)
    }

    /// IPVS's connection overhead: active x 256 + inactive.
    pub fn lvs_overhead(&self) -> u64 {
        u64::from(self.active) * 256 + u64::from(self.inactive)
    }

    /// Takes new sessions: up, with a non-zero effective weight.
    pub fn usable(&self) -> bool {
        self.config.state == ServerState::Up && self.eweight > 0
    }

    /// Recomputes the effective weight at `now`; true when it changed.
    fn refresh_eweight(&mut self, now: Duration) -> bool {
        let full = u32::from(self.config.weight) * WEIGHT_SCALE;
        let next = match self.recovering_since {
            Some(since) if !self.config.slow_start.is_zero() => {
                let elapsed = now.saturating_sub(since);
                if elapsed >= self.config.slow_start {
                    self.recovering_since = None;
                    full
                } else {
                    // Linear ramp, rounded up and never 0 for a non-zero weight, so a
                    // recovering server gets a trickle at once (HAProxy does the same).
                    let num = u128::from(full) * elapsed.as_nanos();
                    let den = self.config.slow_start.as_nanos().max(1);
                    let ramp = num.div_ceil(den) as u32;
                    if full == 0 { 0 } else { ramp.clamp(1, full) }
                }
            }
            _ => {
                self.recovering_since = None;
                full
            }
        };
        let changed = next != self.eweight;
        self.eweight = next;
        changed
    }
}

/// A cheap hasher for small integer ids (the std SipHash costs more than a whole pick).
#[derive(Default, Clone, Copy)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.0 = (self.0 ^ u64::from(n)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// Map from server id to slot index.
pub type IdMap<V> = HashMap<ServerId, V, BuildHasherDefault<IdHasher>>;

/// A server set with its run-time state.
#[derive(Clone, Debug)]
pub struct ServerPool {
    slots: Vec<ServerSlot>,
    by_id: IdMap<usize>,
    all_backups: bool,
    tier: Vec<usize>,
    tier_is_backup: bool,
    tier_weight: u64,
    inflight: u64,
}

impl ServerPool {
    /// Builds a pool; ids must be unique. `all_backups` is HAProxy's `option allbackups`.
    pub fn new(configs: Vec<ServerConfig>, all_backups: bool) -> Result<Self, Error> {
        let mut by_id = IdMap::default();
        for (i, c) in configs.iter().enumerate() {
            if by_id.insert(c.id, i).is_some() {
                return Err(Error::DuplicateServer { id: c.id });
            }
        }
        let mut pool = ServerPool {
            slots: configs.into_iter().map(ServerSlot::new).collect(),
            by_id,
            all_backups,
            tier: Vec::new(),
            tier_is_backup: false,
            tier_weight: 0,
            inflight: 0,
        };
        pool.recompute_tier();
        Ok(pool)
    }

    /// Every server, in declaration order.
    pub fn slots(&self) -> &[ServerSlot] {
        &self.slots
    }

    /// The server at `index`.
    pub fn slot(&self, index: usize) -> &ServerSlot {
        &self.slots[index]
    }

    /// Index of a server id.
    pub fn index_of(&self, id: ServerId) -> Option<usize> {
        self.by_id.get(&id).copied()
    }

    /// Indices of the servers that may take new sessions now, in declaration order:
    /// the usable active servers; if there are none, the first usable backup (or every
    /// usable backup with `all_backups`).
    pub fn tier(&self) -> &[usize] {
        &self.tier
    }

    /// Whether the tier is made of backups.
    pub fn tier_is_backup(&self) -> bool {
        self.tier_is_backup
    }

    /// Sum of the tier's effective weights.
    pub fn tier_weight(&self) -> u64 {
        self.tier_weight
    }

    /// Connections in flight over all servers (HAProxy's backend `served`).
    pub fn inflight(&self) -> u64 {
        self.inflight
    }

    fn recompute_tier(&mut self) {
        self.tier.clear();
        self.tier.extend(
            self.slots
                .iter()
                .enumerate()
                .filter(|(_, s)| !s.config.backup && s.usable())
                .map(|(i, _)| i),
        );
        self.tier_is_backup = false;
        if self.tier.is_empty() {
            let backups = self
                .slots
                .iter()
                .enumerate()
                .filter(|(_, s)| s.config.backup && s.usable())
                .map(|(i, _)| i);
            if self.all_backups {
                self.tier.extend(backups);
            } else {
                self.tier.extend(backups.take(1));
            }
            self.tier_is_backup = !self.tier.is_empty();
        }
        self.tier_weight = self
            .tier
            .iter()
            .map(|&i| u64::from(self.slots[i].eweight))
            .sum();
    }

    /// Sets a user weight; returns whether anything a policy depends on changed.
    pub(crate) fn set_weight(&mut self, index: usize, weight: u16, now: Duration) -> bool {
        let slot = &mut self.slots[index];
        if slot.config.weight == weight {
            return false;
        }
        slot.config.weight = weight;
        slot.refresh_eweight(now);
        self.recompute_tier();
        true
    }

    /// Sets a state; returns whether anything a policy depends on changed.
    pub(crate) fn set_state(&mut self, index: usize, state: ServerState, now: Duration) -> bool {
        let slot = &mut self.slots[index];
        let old = slot.config.state;
        if old == state {
            return false;
        }
        let was_out = matches!(old, ServerState::Down | ServerState::Maintenance);
        if was_out && state.accepts_persistent() && !slot.config.slow_start.is_zero() {
            slot.recovering_since = Some(now);
        }
        slot.config.state = state;
        slot.refresh_eweight(now);
        self.recompute_tier();
        true
    }

    /// Advances slow-start ramps to `now`; true when an effective weight changed.
    pub(crate) fn refresh_slow_start(&mut self, now: Duration) -> bool {
        let mut changed = false;
        for slot in &mut self.slots {
            if slot.recovering_since.is_some() {
                changed |= slot.refresh_eweight(now);
            }
        }
        if changed {
            self.recompute_tier();
        }
        changed
    }

    /// Whether any server is still ramping up.
    pub fn ramping(&self) -> bool {
        self.slots.iter().any(|s| s.recovering_since.is_some())
    }

    pub(crate) fn connection_started(&mut self, index: usize) {
        let slot = &mut self.slots[index];
        slot.active = slot.active.saturating_add(1);
        self.inflight += 1;
    }

    pub(crate) fn connection_ended(&mut self, index: usize) {
        let slot = &mut self.slots[index];
        if slot.active > 0 {
            slot.active -= 1;
            self.inflight = self.inflight.saturating_sub(1);
        }
    }

    pub(crate) fn connection_deactivated(&mut self, index: usize) {
        let slot = &mut self.slots[index];
        if slot.active > 0 {
            slot.active -= 1;
            slot.inactive = slot.inactive.saturating_add(1);
            self.inflight = self.inflight.saturating_sub(1);
        }
    }

    pub(crate) fn inactive_ended(&mut self, index: usize) {
        let slot = &mut self.slots[index];
        slot.inactive = slot.inactive.saturating_sub(1);
    }
}
