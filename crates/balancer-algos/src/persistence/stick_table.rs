//! A stick table: keys (IPv4, IPv6, integer, string, binary) mapped to a server and
//! HAProxy's per-key counters, with expiry and a size cap evicting the least recently
//! used entry.
//!
//! Every access (`stick`, `lookup`, `track`) refreshes an entry's expiry, so the
//! least recently used entry is also the next to expire: one intrusive list ordered by
//! last access serves both eviction and purging, in O(1) per operation.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use super::freq_counter::FreqCounter;
use crate::balancer::Balancer;
use crate::error::Error;
use crate::request::Request;
use crate::server::ServerId;

/// A stick-table key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum StickKey {
    /// `type ip`.
    Ipv4(Ipv4Addr),
    /// `type ipv6`.
    Ipv6(Ipv6Addr),
    /// `type integer`.
    Integer(i64),
    /// `type string len N` (truncated to N bytes).
    String(Box<[u8]>),
    /// `type binary len N` (truncated or zero-padded to N bytes).
    Binary(Box<[u8]>),
}

impl StickKey {
    fn type_name(&self) -> &'static str {
        match self {
            StickKey::Ipv4(_) => "ip",
            StickKey::Ipv6(_) => "ipv6",
            StickKey::Integer(_) => "integer",
            StickKey::String(_) => "string",
            StickKey::Binary(_) => "binary",
        }
    }
}

/// A table's key type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StickKeyType {
    /// IPv4 addresses.
    Ipv4,
    /// IPv6 addresses.
    Ipv6,
    /// Signed integers.
    Integer,
    /// Strings of at most `len` bytes.
    String {
        /// Maximum stored length.
        len: usize,
    },
    /// Binary blobs of exactly `len` bytes.
    Binary {
        /// Stored length.
        len: usize,
    },
}

impl StickKeyType {
    fn name(self) -> &'static str {
        match self {
            StickKeyType::Ipv4 => "ip",
            StickKeyType::Ipv6 => "ipv6",
            StickKeyType::Integer => "integer",
            StickKeyType::String { .. } => "string",
            StickKeyType::Binary { .. } => "binary",
        }
    }

    /// Checks and normalises a key for this type.
    fn normalise(self, key: StickKey) -> Result<StickKey, Error> {
        match (self, key) {
            (StickKeyType::Ipv4, k @ StickKey::Ipv4(_))
            | (StickKeyType::Ipv6, k @ StickKey::Ipv6(_))
            | (StickKeyType::Integer, k @ StickKey::Integer(_)) => Ok(k),
            (StickKeyType::String { len }, StickKey::String(s)) => {
                Ok(StickKey::String(if s.len() > len {
                    s[..len].into()
                } else {
                    s
                }))
            }
            (StickKeyType::Binary { len }, StickKey::Binary(b)) => {
                let mut v = b.into_vec();
                v.resize(len, 0);
                Ok(StickKey::Binary(v.into_boxed_slice()))
            }
            (t, k) => Err(Error::KeyTypeMismatch {
                expected: t.name(),
                got: k.type_name(),
            }),
        }
    }
}

/// Configuration of a stick table.
#[derive(Clone, Debug)]
pub struct StickTableConfig {
    /// Key type.
    pub key_type: StickKeyType,
    /// Most entries; the least recently used is evicted beyond it.
    pub size: usize,
    /// Entries not accessed for this long expire.
    pub expire: Duration,
    /// Period of `conn_rate`.
    pub conn_rate_period: Duration,
    /// Period of `http_req_rate`.
    pub http_req_rate_period: Duration,
    /// Period of `http_err_rate`.
    pub http_err_rate_period: Duration,
    /// Period of `bytes_in_rate` and `bytes_out_rate`.
    pub bytes_rate_period: Duration,
}

impl StickTableConfig {
    /// A table of `size` entries expiring after `expire`, with 10 s rate periods.
    pub fn new(key_type: StickKeyType, size: usize, expire: Duration) -> Self {
        let ten = Duration::from_secs(10);
        StickTableConfig {
            key_type,
            size,
            expire,
            conn_rate_period: ten,
            http_req_rate_period: ten,
            http_err_rate_period: ten,
            bytes_rate_period: ten,
        }
    }
}

/// Number of general-purpose counters (`gpc0`, `gpc1`).
pub const GPC_COUNT: usize = 2;

/// HAProxy's per-key counters.
#[derive(Clone, Debug)]
pub struct Counters {
    /// Concurrent connections (`conn_cur`).
    pub conn_cur: u32,
    /// Connections ever (`conn_cnt`).
    pub conn_cnt: u64,
    /// Connection rate (`conn_rate`).
    pub conn_rate: FreqCounter,
    /// HTTP requests ever (`http_req_cnt`).
    pub http_req_cnt: u64,
    /// HTTP request rate (`http_req_rate`).
    pub http_req_rate: FreqCounter,
    /// HTTP errors ever (`http_err_cnt`).
    pub http_err_cnt: u64,
    /// HTTP error rate (`http_err_rate`).
    pub http_err_rate: FreqCounter,
    /// Bytes from the client (`bytes_in_cnt`).
    pub bytes_in_cnt: u64,
    /// Bytes to the client (`bytes_out_cnt`).
    pub bytes_out_cnt: u64,
    /// Incoming byte rate (`bytes_in_rate`).
    pub bytes_in_rate: FreqCounter,
    /// Outgoing byte rate (`bytes_out_rate`).
    pub bytes_out_rate: FreqCounter,
    /// General-purpose counters (`gpc0`, `gpc1`).
    pub gpc: [u64; GPC_COUNT],
}

impl Counters {
    fn new(c: &StickTableConfig) -> Self {
        Counters {
            conn_cur: 0,
            conn_cnt: 0,
            conn_rate: FreqCounter::new(c.conn_rate_period),
            http_req_cnt: 0,
            http_req_rate: FreqCounter::new(c.http_req_rate_period),
            http_err_cnt: 0,
            http_err_rate: FreqCounter::new(c.http_err_rate_period),
            bytes_in_cnt: 0,
            bytes_out_cnt: 0,
            bytes_in_rate: FreqCounter::new(c.bytes_rate_period),
            bytes_out_rate: FreqCounter::new(c.bytes_rate_period),
            gpc: [0; GPC_COUNT],
        }
    }

    /// A tracked connection opened at `now`.
    pub fn connection_opened(&mut self, now: Duration) {
        self.conn_cur = self.conn_cur.saturating_add(1);
        self.conn_cnt += 1;
        self.conn_rate.add(now, 1);
    }

    /// A tracked connection closed.
    pub fn connection_closed(&mut self) {
        self.conn_cur = self.conn_cur.saturating_sub(1);
    }

    /// An HTTP request at `now`.
    pub fn http_request(&mut self, now: Duration) {
        self.http_req_cnt += 1;
        self.http_req_rate.add(now, 1);
    }

    /// An HTTP error (4xx counted by HAProxy) at `now`.
    pub fn http_error(&mut self, now: Duration) {
        self.http_err_cnt += 1;
        self.http_err_rate.add(now, 1);
    }

    /// Bytes transferred at `now`.
    pub fn bytes(&mut self, now: Duration, incoming: u64, outgoing: u64) {
        self.bytes_in_cnt += incoming;
        self.bytes_out_cnt += outgoing;
        self.bytes_in_rate.add(now, incoming);
        self.bytes_out_rate.add(now, outgoing);
    }
}

/// One entry.
#[derive(Clone, Debug)]
pub struct StickEntry {
    /// The server this key sticks to, if any (`stick store`).
    pub server: Option<ServerId>,
    /// Counters (`track-sc`).
    pub counters: Counters,
    expires_at: Duration,
}

impl StickEntry {
    /// When the entry expires unless accessed again.
    pub fn expires_at(&self) -> Duration {
        self.expires_at
    }
}

const NIL: u32 = u32::MAX;

#[derive(Clone, Debug)]
struct Node {
    key: StickKey,
    entry: StickEntry,
    prev: u32,
    next: u32,
}

/// A stick table.
#[derive(Clone, Debug)]
pub struct StickTable {
    config: StickTableConfig,
    index: HashMap<StickKey, u32>,
    nodes: Vec<Option<Node>>,
    free: Vec<u32>,
    /// Most recently used.
    head: u32,
    /// Least recently used: the next to expire or be evicted.
    tail: u32,
}

impl StickTable {
    /// A table; `size` must be at least 1 and below 2^32.
    pub fn new(config: StickTableConfig) -> Result<Self, Error> {
        if config.size == 0 || config.size >= NIL as usize {
            return Err(Error::InvalidParameter {
                name: "stick-table size",
                reason: "must be between 1 and 2^32 - 2",
            });
        }
        Ok(StickTable {
            config,
            index: HashMap::new(),
            nodes: Vec::new(),
            free: Vec::new(),
            head: NIL,
            tail: NIL,
        })
    }

    /// Entries currently stored (some may be expired until the next purge or access).
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    fn node(&self, i: u32) -> &Node {
        self.nodes[i as usize]
            .as_ref()
            .expect("linked nodes are live")
    }

    fn node_mut(&mut self, i: u32) -> &mut Node {
        self.nodes[i as usize]
            .as_mut()
            .expect("linked nodes are live")
    }

    fn unlink(&mut self, i: u32) {
        let (prev, next) = {
            let n = self.node(i);
            (n.prev, n.next)
        };
        if prev == NIL {
            self.head = next;
        } else {
            self.node_mut(prev).next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            self.node_mut(next).prev = prev;
        }
    }

    fn push_front(&mut self, i: u32) {
        let old = self.head;
        {
            let n = self.node_mut(i);
            n.prev = NIL;
            n.next = old;
        }
        if old == NIL {
            self.tail = i;
        } else {
            self.node_mut(old).prev = i;
        }
        self.head = i;
    }

    fn remove_node(&mut self, i: u32) -> Option<Node> {
        self.unlink(i);
        let node = self.nodes[i as usize].take()?;
        self.index.remove(&node.key);
        self.free.push(i);
        Some(node)
    }

    /// Drops entries expired at `now`; returns how many.
    pub fn purge_expired(&mut self, now: Duration) -> usize {
        let mut n = 0;
        while self.tail != NIL && self.node(self.tail).entry.expires_at <= now {
            let t = self.tail;
            self.remove_node(t);
            n += 1;
        }
        n
    }

    /// The live entry for `key`, refreshed (its expiry pushed back).
    fn touch(&mut self, key: &StickKey, now: Duration) -> Option<u32> {
        let &i = self.index.get(key)?;
        if self.node(i).entry.expires_at <= now {
            self.remove_node(i);
            return None;
        }
        self.unlink(i);
        self.push_front(i);
        let expire = self.config.expire;
        self.node_mut(i).entry.expires_at = now.saturating_add(expire);
        Some(i)
    }

    /// The entry for `key`, created if missing (evicting the least recently used when
    /// full), refreshed.
    fn touch_or_insert(&mut self, key: StickKey, now: Duration) -> Result<u32, Error> {
        let key = self.config.key_type.normalise(key)?;
        if let Some(i) = self.touch(&key, now) {
            return Ok(i);
        }
        self.purge_expired(now);
        if self.index.len() >= self.config.size && self.tail != NIL {
            let t = self.tail;
            self.remove_node(t);
        }
        let node = Node {
            key: key.clone(),
            entry: StickEntry {
                server: None,
                counters: Counters::new(&self.config),
                expires_at: now.saturating_add(self.config.expire),
            },
            prev: NIL,
            next: NIL,
        };
        let i = match self.free.pop() {
            Some(i) => {
                self.nodes[i as usize] = Some(node);
                i
            }
            None => {
                self.nodes.push(Some(node));
                (self.nodes.len() - 1) as u32
            }
        };
        self.index.insert(key, i);
        self.push_front(i);
        Ok(i)
    }

    /// The live entry for `key` (`stick match`), refreshed.
    pub fn lookup(&mut self, key: &StickKey, now: Duration) -> Result<Option<&StickEntry>, Error> {
        let key = self.config.key_type.normalise(key.clone())?;
        Ok(match self.touch(&key, now) {
            Some(i) => Some(&self.node(i).entry),
            None => None,
        })
    }

    /// Stores `server` for `key` (`stick store`).
    pub fn stick(&mut self, key: StickKey, server: ServerId, now: Duration) -> Result<(), Error> {
        let i = self.touch_or_insert(key, now)?;
        self.node_mut(i).entry.server = Some(server);
        Ok(())
    }

    /// The entry for `key`, created if missing, for updating counters (`track-sc`).
    pub fn track(&mut self, key: StickKey, now: Duration) -> Result<&mut StickEntry, Error> {
        let i = self.touch_or_insert(key, now)?;
        Ok(&mut self.node_mut(i).entry)
    }

    /// Removes `key`.
    pub fn remove(&mut self, key: &StickKey) -> Option<StickEntry> {
        let &i = self.index.get(key)?;
        self.remove_node(i).map(|n| n.entry)
    }

    /// `stick on`: the server stuck to `key` if it still accepts persistent sessions,
    /// else a fresh pick from `balancer`, stored for next time. `None` when neither works.
    pub fn route(
        &mut self,
        key: StickKey,
        balancer: &mut dyn Balancer,
        request: &Request<'_>,
        now: Duration,
    ) -> Result<Option<ServerId>, Error> {
        let i = self.touch_or_insert(key, now)?;
        if let Some(s) = self.node(i).entry.server {
            if balancer.accepts_persistent(s) {
                return Ok(Some(s));
            }
        }
        let picked = balancer.pick(request);
        self.node_mut(i).entry.server = picked;
        Ok(picked)
    }
}
