//! Cookie persistence (`cookie SERVERID insert` with `server ... cookie <value>`): a
//! request carrying a server's cookie value goes back to that server while it accepts
//! persistent sessions (Up or Drain, even at weight 0); otherwise the balancer picks and
//! the response should set the picked server's cookie.

use std::collections::HashMap;

use crate::balancer::Balancer;
use crate::request::Request;
use crate::server::ServerId;

/// Where a request goes and whether to (re)set the cookie.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CookieDecision {
    /// The server.
    pub server: ServerId,
    /// Cookie value to set in the response, when the request did not already carry it.
    pub set_cookie: Option<Box<[u8]>>,
}

/// Cookie values per server.
#[derive(Clone, Debug, Default)]
pub struct CookiePersistence {
    by_value: HashMap<Box<[u8]>, ServerId>,
    by_server: HashMap<ServerId, Box<[u8]>>,
}

impl CookiePersistence {
    /// From `(server, cookie value)` pairs; a later pair for the same value wins.
    pub fn new<V: AsRef<[u8]>>(pairs: impl IntoIterator<Item = (ServerId, V)>) -> Self {
        let mut p = CookiePersistence::default();
        for (s, v) in pairs {
            let v: Box<[u8]> = v.as_ref().into();
            p.by_value.insert(v.clone(), s);
            p.by_server.insert(s, v);
        }
        p
    }

    /// The server a cookie value names.
    pub fn server_for(&self, value: &[u8]) -> Option<ServerId> {
        self.by_value.get(value).copied()
    }

    /// The cookie value of a server.
    pub fn cookie_for(&self, server: ServerId) -> Option<&[u8]> {
        self.by_server.get(&server).map(|v| &**v)
    }

    /// Routes a request carrying `cookie` (the value of the persistence cookie, if any).
    pub fn route(
        &self,
        cookie: Option<&[u8]>,
        balancer: &mut dyn Balancer,
        request: &Request<'_>,
    ) -> Option<CookieDecision> {
        if let Some(s) = cookie.and_then(|v| self.server_for(v)) {
            if balancer.accepts_persistent(s) {
                return Some(CookieDecision {
                    server: s,
                    set_cookie: None,
                });
            }
        }
        let server = balancer.pick(request)?;
        let set_cookie = self
            .cookie_for(server)
            .filter(|v| cookie != Some(*v))
            .map(Box::from);
        Some(CookieDecision { server, set_cookie })
    }
}
