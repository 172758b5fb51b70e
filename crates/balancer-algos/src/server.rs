//! The server model: identity, weight, administrative state, backup flag, maxconn, slow start.

use std::time::Duration;

/// A server's identity, stable across reconfiguration (HAProxy's `id`, an LVS real server).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServerId(pub u32);

/// The state of a server as far as load balancing cares.
///
/// ```text
///            health check ok                 admin "drain"
///   Down ----------------------> Up  <-------------------------> Drain
///    ^  <----------------------  |  ^                              |
///    |       health check fail   |  |  admin "ready"               |
///    |                           v  |                              |
///    +------------------------ Maintenance <-----------------------+
///                               (admin "maint")
/// ```
/// Coming back to `Up` or `Drain` from `Down` or `Maintenance` starts the slow-start ramp.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum ServerState {
    /// Takes new and persistent sessions.
    Up,
    /// Takes no new sessions but keeps persistent ones (HAProxy "drain").
    Drain,
    /// Failed its health checks: takes nothing.
    Down,
    /// Administratively removed: takes nothing.
    Maintenance,
}

impl ServerState {
    /// Whether the server can still serve sessions that are stuck to it (cookie, stick table).
    pub fn accepts_persistent(self) -> bool {
        matches!(self, ServerState::Up | ServerState::Drain)
    }
}

/// The highest user weight (HAProxy caps at 256; we allow the full `u16`).
pub const MAX_WEIGHT: u16 = u16::MAX;

/// Effective weights are user weights times this factor, so that a slow-start ramp has
/// sixteen steps even for weight 1 (HAProxy's `BE_WEIGHT_SCALE`).
pub const WEIGHT_SCALE: u32 = 16;

/// The configuration of one server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerConfig {
    /// Identity.
    pub id: ServerId,
    /// User weight, 0 to 65535; 0 takes no new sessions but keeps persistent ones.
    pub weight: u16,
    /// A backup serves only when no active server can.
    pub backup: bool,
    /// Most concurrent connections; 0 means no limit.
    pub maxconn: u32,
    /// Length of the linear weight ramp after recovery; zero disables it.
    pub slow_start: Duration,
    /// Initial state.
    pub state: ServerState,
}

impl ServerConfig {
    /// An active, up server with the given weight, no maxconn and no slow start.
    pub fn new(id: u32, weight: u16) -> Self {
        ServerConfig {
            id: ServerId(id),
            weight,
            backup: false,
            maxconn: 0,
            slow_start: Duration::ZERO,
            state: ServerState::Up,
        }
    }

    /// Marks the server as a backup.
    pub fn backup(mut self) -> Self {
        self.backup = true;
        self
    }

    /// Sets maxconn (0 = unlimited).
    pub fn maxconn(mut self, maxconn: u32) -> Self {
        self.maxconn = maxconn;
        self
    }

    /// Sets the slow-start duration.
    pub fn slow_start(mut self, ramp: Duration) -> Self {
        self.slow_start = ramp;
        self
    }

    /// Sets the initial state.
    pub fn state(mut self, state: ServerState) -> Self {
        self.state = state;
        self
    }
}
