//! Every algorithm by name, for configuration-driven callers (`balance ...` in
//! haproxy.cfg, `-s` of ipvsadm): [`Algorithm::from_haproxy`] and
//! [`Algorithm::from_ipvs`] parse the configuration words (unknown words are errors),
//! [`Algorithm::build`] gives a boxed [`Balancer`].

use std::time::Duration;

use crate::balancer::{Balancer, DispatchOptions, Dispatcher};
use crate::error::Error;
use crate::haproxy::first::First;
use crate::haproxy::hashing::{HashBalancer, HashType};
use crate::haproxy::leastconn::LeastConn;
use crate::haproxy::random::RandomDraws;
use crate::haproxy::smooth_rr::SmoothRoundRobin;
use crate::haproxy::weight_map::StaticRoundRobin;
use crate::hash_fn::HashSpec;
use crate::lvs::addr_hash::{DestinationHash, SourceHash};
use crate::lvs::failover::{Overflow, WeightedFailover};
use crate::lvs::least_conn::{LeastConnKind, LeastConnection};
use crate::lvs::locality::{Lblc, Lblcr};
use crate::lvs::round_robin::{RoundRobin, WeightedRoundRobin};
use crate::lvs::twos::TwoChoices;
use crate::modern::jump::JumpHash;
use crate::modern::maglev::Maglev;
use crate::modern::peak_ewma::PeakEwma;
use crate::modern::rendezvous::Rendezvous;
use crate::request::HashKey;
use crate::server::ServerConfig;

/// A balancing algorithm and its parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Algorithm {
    /// HAProxy `roundrobin` (smooth weighted).
    RoundRobin,
    /// HAProxy `static-rr`.
    StaticRoundRobin,
    /// HAProxy `leastconn`.
    LeastConn,
    /// HAProxy `first`.
    First,
    /// HAProxy `source`, `uri`, `url_param`, `hdr`, `rdp-cookie`, `hash`.
    Hash {
        /// What to hash.
        key: HashKey,
        /// Hash function and avalanche.
        spec: HashSpec,
        /// Map-based or consistent (with optional balance factor).
        kind: HashType,
    },
    /// HAProxy `random(draws)`.
    Random {
        /// Number of draws (2 = power of two choices).
        draws: u32,
    },
    /// LVS `rr`.
    LvsRr,
    /// LVS `wrr`.
    LvsWrr,
    /// LVS `lc`, `wlc`, `sed`, `nq`.
    LvsLeastConn(LeastConnKind),
    /// LVS `fo`.
    LvsFo,
    /// LVS `ovf`.
    LvsOvf,
    /// LVS `lblc`.
    LvsLblc,
    /// LVS `lblcr`.
    LvsLblcr,
    /// LVS `dh`.
    LvsDh,
    /// LVS `sh` with its `sh-fallback` and `sh-port` flags.
    LvsSh {
        /// Probe further buckets when the hashed server is unavailable.
        fallback: bool,
        /// Include the source port.
        port: bool,
    },
    /// LVS `mh` (Maglev, 4093 slots) with its `mh-fallback` and `mh-port` flags.
    LvsMh {
        /// Rehash past an overloaded server.
        fallback: bool,
        /// Include the source port.
        port: bool,
    },
    /// LVS `twos`.
    LvsTwos,
    /// Weighted Maglev with a prime table size.
    Maglev {
        /// Table size (e.g. 65537).
        table_size: u32,
    },
    /// Jump consistent hash.
    Jump,
    /// Rendezvous (HRW) hashing.
    Rendezvous,
    /// Peak-EWMA power of two choices.
    PeakEwma {
        /// EWMA time constant.
        decay: Duration,
        /// Cost assumed for servers not yet measured.
        default_rtt: Duration,
    },
}

fn boxed<P: crate::balancer::Policy + Send + 'static>(
    servers: Vec<ServerConfig>,
    policy: P,
    options: DispatchOptions,
) -> Result<Box<dyn Balancer + Send>, Error> {
    Ok(Box::new(Dispatcher::with_options(
        servers, policy, options,
    )?))
}

impl Algorithm {
    /// Builds the balancer over `servers`.
    pub fn build(
        self,
        servers: Vec<ServerConfig>,
        options: DispatchOptions,
    ) -> Result<Box<dyn Balancer + Send>, Error> {
        match self {
            Algorithm::RoundRobin => boxed(servers, SmoothRoundRobin::new(), options),
            Algorithm::StaticRoundRobin => boxed(servers, StaticRoundRobin::new(), options),
            Algorithm::LeastConn => boxed(servers, LeastConn::new(), options),
            Algorithm::First => boxed(servers, First::new(), options),
            Algorithm::Hash { key, spec, kind } => {
                boxed(servers, HashBalancer::new(key, spec, kind)?, options)
            }
            Algorithm::Random { draws } => boxed(servers, RandomDraws::new(draws)?, options),
            Algorithm::LvsRr => boxed(servers, RoundRobin::new(), options),
            Algorithm::LvsWrr => boxed(servers, WeightedRoundRobin::new(), options),
            Algorithm::LvsLeastConn(kind) => boxed(servers, LeastConnection::new(kind), options),
            Algorithm::LvsFo => boxed(servers, WeightedFailover, options),
            Algorithm::LvsOvf => boxed(servers, Overflow, options),
            Algorithm::LvsLblc => boxed(servers, Lblc::new(), options),
            Algorithm::LvsLblcr => boxed(servers, Lblcr::new(), options),
            Algorithm::LvsDh => boxed(servers, DestinationHash::new(), options),
            Algorithm::LvsSh { fallback, port } => {
                boxed(servers, SourceHash::new(fallback, port), options)
            }
            Algorithm::LvsMh { fallback, port } => boxed(
                servers,
                Maglev::lvs(crate::modern::maglev::LvsFlags { fallback, port }),
                options,
            ),
            Algorithm::LvsTwos => boxed(servers, TwoChoices::new(), options),
            Algorithm::Maglev { table_size } => boxed(servers, Maglev::new(table_size)?, options),
            Algorithm::Jump => boxed(servers, JumpHash::new(), options),
            Algorithm::Rendezvous => boxed(servers, Rendezvous::new(), options),
            Algorithm::PeakEwma { decay, default_rtt } => {
                boxed(servers, PeakEwma::new(decay, default_rtt)?, options)
            }
        }
    }
}

fn unknown(word: &str) -> Error {
    Error::UnknownKeyword {
        keyword: word.to_string(),
    }
}

fn number(words: &mut std::slice::Iter<'_, &str>, what: &str) -> Result<usize, Error> {
    words
        .next()
        .and_then(|w| w.parse().ok())
        .ok_or_else(|| unknown(what))
}

/// `name(arg)` -> `Some(arg)`, `name` -> `None`; anything else is not this keyword.
fn with_arg<'w>(word: &'w str, name: &str) -> Option<Option<&'w str>> {
    if word == name {
        return Some(None);
    }
    word.strip_prefix(name)?
        .strip_prefix('(')?
        .strip_suffix(')')
        .map(Some)
}

impl Algorithm {
    /// From HAProxy's `balance` arguments (`["uri", "depth", "2"]`), its `hash-type`
    /// arguments (`["consistent", "djb2", "avalanche"]`, empty for the default
    /// map-based sdbm) and `hash-balance-factor`. `balance hash <expr>` hashes
    /// [`Request::key`](crate::Request::key): evaluating the expression is the caller's.
    /// Unsupported keywords (e.g. `url_param ... check_post`) are errors.
    pub fn from_haproxy(
        balance: &[&str],
        hash_type: &[&str],
        balance_factor: Option<u32>,
    ) -> Result<Algorithm, Error> {
        let (first, rest) = balance.split_first().ok_or_else(|| unknown(""))?;
        let mut words = rest.iter();
        let key = match *first {
            "roundrobin" => return done(words, Algorithm::RoundRobin),
            "static-rr" => return done(words, Algorithm::StaticRoundRobin),
            "leastconn" => return done(words, Algorithm::LeastConn),
            "first" => return done(words, Algorithm::First),
            "source" => HashKey::Source,
            "uri" => {
                let mut o = crate::request::UriOptions::default();
                while let Some(w) = words.next() {
                    match *w {
                        "len" => o.len = number(&mut words, "uri len")?,
                        "depth" => o.depth = number(&mut words, "uri depth")?,
                        "whole" => o.whole = true,
                        "path-only" => o.path_only = true,
                        other => return Err(unknown(other)),
                    }
                }
                HashKey::Uri(o)
            }
            "url_param" => {
                let name = words.next().ok_or_else(|| unknown("url_param"))?;
                HashKey::UrlParam(name.as_bytes().to_vec())
            }
            "hash" => {
                // The expression itself (one or more words) is evaluated by the caller.
                words.by_ref().for_each(drop);
                HashKey::Key
            }
            w => {
                if let Some(arg) = with_arg(w, "random") {
                    let draws = match arg {
                        None => 2,
                        Some(a) => a.parse().map_err(|_| unknown(w))?,
                    };
                    return done(words, Algorithm::Random { draws });
                }
                if let Some(arg) = with_arg(w, "rdp-cookie") {
                    HashKey::RdpCookie(arg.unwrap_or("mstshash").as_bytes().to_vec())
                } else if let Some(Some(name)) = with_arg(w, "hdr") {
                    let use_domain_only = match words.next() {
                        None => false,
                        Some(&"use_domain_only") => true,
                        Some(other) => return Err(unknown(other)),
                    };
                    HashKey::Header {
                        name: name.as_bytes().to_vec(),
                        use_domain_only,
                    }
                } else {
                    return Err(unknown(w));
                }
            }
        };
        if let Some(extra) = words.next() {
            return Err(unknown(extra));
        }
        let (kind, spec) = parse_hash_type(hash_type, balance_factor)?;
        Ok(Algorithm::Hash { key, spec, kind })
    }

    /// From an ipvsadm scheduler name (`-s wlc`) and its flags (`sh-fallback`,
    /// `sh-port`, `mh-fallback`, `mh-port`).
    pub fn from_ipvs(name: &str, flags: &[&str]) -> Result<Algorithm, Error> {
        let mut fallback = false;
        let mut port = false;
        for f in flags {
            match (name, *f) {
                ("sh", "sh-fallback") | ("mh", "mh-fallback") => fallback = true,
                ("sh", "sh-port") | ("mh", "mh-port") => port = true,
                (_, other) => return Err(unknown(other)),
            }
        }
        Ok(match name {
            "rr" => Algorithm::LvsRr,
            "wrr" => Algorithm::LvsWrr,
            "lc" => Algorithm::LvsLeastConn(LeastConnKind::Lc),
            "wlc" => Algorithm::LvsLeastConn(LeastConnKind::Wlc),
            "sed" => Algorithm::LvsLeastConn(LeastConnKind::Sed),
            "nq" => Algorithm::LvsLeastConn(LeastConnKind::Nq),
            "fo" => Algorithm::LvsFo,
            "ovf" => Algorithm::LvsOvf,
            "lblc" => Algorithm::LvsLblc,
            "lblcr" => Algorithm::LvsLblcr,
            "dh" => Algorithm::LvsDh,
            "sh" => Algorithm::LvsSh { fallback, port },
            "mh" => Algorithm::LvsMh { fallback, port },
            "twos" => Algorithm::LvsTwos,
            other => return Err(unknown(other)),
        })
    }
}

fn done(mut words: std::slice::Iter<'_, &str>, a: Algorithm) -> Result<Algorithm, Error> {
    match words.next() {
        Some(extra) => Err(unknown(extra)),
        None => Ok(a),
    }
}

fn parse_hash_type(words: &[&str], factor: Option<u32>) -> Result<(HashType, HashSpec), Error> {
    let mut spec = HashSpec::default();
    let mut words = words.iter();
    let consistent = match words.next() {
        None | Some(&"map-based") => false,
        Some(&"consistent") => true,
        Some(other) => return Err(unknown(other)),
    };
    for w in words {
        match *w {
            "sdbm" => spec.function = crate::hash_fn::HashFunction::Sdbm,
            "djb2" => spec.function = crate::hash_fn::HashFunction::Djb2,
            "wt6" => spec.function = crate::hash_fn::HashFunction::Wt6,
            "crc32" => spec.function = crate::hash_fn::HashFunction::Crc32,
            "none" => spec.function = crate::hash_fn::HashFunction::None,
            "avalanche" => spec.avalanche = true,
            other => return Err(unknown(other)),
        }
    }
    let kind = if consistent {
        HashType::Consistent {
            balance_factor: factor,
        }
    } else if factor.is_some() {
        // hash-balance-factor only means something on the consistent ring.
        return Err(unknown("hash-balance-factor"));
    } else {
        HashType::MapBased
    };
    Ok((kind, spec))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash_fn::HashFunction;
    use crate::request::UriOptions;

    #[test]
    fn haproxy_balance_lines_parse() {
        let p = |b: &[&str]| Algorithm::from_haproxy(b, &[], None);
        assert_eq!(p(&["roundrobin"]), Ok(Algorithm::RoundRobin));
        assert_eq!(p(&["random"]), Ok(Algorithm::Random { draws: 2 }));
        assert_eq!(p(&["random(3)"]), Ok(Algorithm::Random { draws: 3 }));
        let uri = Algorithm::from_haproxy(
            &["uri", "len", "10", "depth", "2", "whole"],
            &["consistent", "djb2", "avalanche"],
            Some(125),
        );
        assert_eq!(
            uri,
            Ok(Algorithm::Hash {
                key: HashKey::Uri(UriOptions {
                    len: 10,
                    depth: 2,
                    whole: true,
                    path_only: false
                }),
                spec: HashSpec {
                    function: HashFunction::Djb2,
                    avalanche: true
                },
                kind: HashType::Consistent {
                    balance_factor: Some(125)
                },
            })
        );
        assert!(matches!(
            p(&["hdr(Host)", "use_domain_only"]),
            Ok(Algorithm::Hash {
                key: HashKey::Header {
                    use_domain_only: true,
                    ..
                },
                ..
            })
        ));
        assert!(matches!(
            p(&["rdp-cookie"]),
            Ok(Algorithm::Hash { key: HashKey::RdpCookie(ref n), .. }) if n == b"mstshash"
        ));
        assert!(matches!(
            p(&["hash", "req.cookie(sid)"]),
            Ok(Algorithm::Hash {
                key: HashKey::Key,
                ..
            })
        ));
    }

    #[test]
    fn unsupported_keywords_are_errors_not_ignored() {
        let bad = |b: &[&str], h: &[&str]| Algorithm::from_haproxy(b, h, None);
        let kw = |k: &str| {
            Err(Error::UnknownKeyword {
                keyword: k.to_string(),
            })
        };
        assert_eq!(
            bad(&["url_param", "sid", "check_post"], &[]),
            kw("check_post")
        );
        assert_eq!(bad(&["roundrobin", "extra"], &[]), kw("extra"));
        assert_eq!(bad(&["weighted"], &[]), kw("weighted"));
        assert_eq!(bad(&["uri", "depth"], &[]), kw("uri depth"));
        assert_eq!(bad(&["source"], &["consistent", "md5"]), kw("md5"));
        assert_eq!(
            Algorithm::from_haproxy(&["source"], &[], Some(150)),
            kw("hash-balance-factor")
        );
        assert_eq!(Algorithm::from_ipvs("mh", &["sh-port"]), kw("sh-port"));
        assert_eq!(Algorithm::from_ipvs("xyz", &[]), kw("xyz"));
    }

    #[test]
    fn ipvs_scheduler_names_parse() {
        assert_eq!(Algorithm::from_ipvs("wrr", &[]), Ok(Algorithm::LvsWrr));
        assert_eq!(
            Algorithm::from_ipvs("sed", &[]),
            Ok(Algorithm::LvsLeastConn(LeastConnKind::Sed))
        );
        assert_eq!(
            Algorithm::from_ipvs("sh", &["sh-fallback", "sh-port"]),
            Ok(Algorithm::LvsSh {
                fallback: true,
                port: true
            })
        );
    }
}
