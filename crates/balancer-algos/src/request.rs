//! What a balancer may look at in a request, and how HAProxy turns it into a hash key.

use std::net::IpAddr;
use std::time::Duration;

use crate::hash_fn::{HashSpec, avalanche};

/// The parts of a request (or connection) that algorithms may key on. Fill what you have;
/// an algorithm whose key is missing falls back to round robin, as HAProxy does.
#[derive(Clone, Copy, Debug, Default)]
pub struct Request<'a> {
    /// Client address (`balance source`, LVS sh).
    pub source: Option<IpAddr>,
    /// Client port (LVS sh with the `sh-port` flag).
    pub source_port: Option<u16>,
    /// Destination address (LVS dh, lblc, lblcr).
    pub destination: Option<IpAddr>,
    /// Request URI as sent (`balance uri`, `url_param`).
    pub uri: Option<&'a [u8]>,
    /// Request headers, names matched case-insensitively (`balance hdr(name)`).
    pub headers: &'a [(&'a [u8], &'a [u8])],
    /// First bytes of a TCP payload (`balance rdp-cookie`).
    pub payload: Option<&'a [u8]>,
    /// An arbitrary key (`balance hash <expr>`, and the key of Maglev, jump, rendezvous).
    pub key: Option<&'a [u8]>,
    /// Monotonic time since the caller's epoch (used by latency-aware algorithms).
    pub now: Duration,
}

impl<'a> Request<'a> {
    /// A request keyed only by client address.
    pub fn from_source(source: IpAddr) -> Self {
        Request {
            source: Some(source),
            ..Request::default()
        }
    }

    /// A request keyed only by bytes.
    pub fn from_key(key: &'a [u8]) -> Self {
        Request {
            key: Some(key),
            ..Request::default()
        }
    }

    /// A request with only a URI.
    pub fn from_uri(uri: &'a [u8]) -> Self {
        Request {
            uri: Some(uri),
            ..Request::default()
        }
    }

    /// The first header with this name (ASCII case-insensitive).
    pub fn header(&self, name: &[u8]) -> Option<&'a [u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|&(_, v)| v)
    }
}

/// Options of `balance uri`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UriOptions {
    /// Hash at most this many characters (0 = no limit).
    pub len: usize,
    /// Hash at most this many directories (0 = no limit).
    pub depth: usize,
    /// Include the query string.
    pub whole: bool,
    /// Start at the path: skip `scheme://authority` of an absolute URI.
    pub path_only: bool,
}

/// Which part of the request a hashing balancer hashes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HashKey {
    /// The client address (`balance source`): the address's 32-bit words XORed.
    Source,
    /// The URI (`balance uri`).
    Uri(UriOptions),
    /// The value of a query-string parameter (`balance url_param <name>`).
    UrlParam(Vec<u8>),
    /// A header value (`balance hdr(<name>)`), optionally only the main domain part.
    Header {
        /// Header name.
        name: Vec<u8>,
        /// Hash only the label before the top-level domain (`use_domain_only`).
        use_domain_only: bool,
    },
    /// The `Cookie: <name>=<value>` line of an RDP connection request (`rdp-cookie(name)`).
    RdpCookie(Vec<u8>),
    /// [`Request::key`] (`balance hash <expr>`).
    Key,
}

impl HashKey {
    /// The 32-bit hash HAProxy would compute, or `None` when the key is absent (the
    /// caller then falls back to round robin).
    pub fn hash(&self, request: &Request<'_>, spec: &HashSpec) -> Option<u32> {
        match self {
            HashKey::Source => {
                let h = match request.source? {
                    IpAddr::V4(a) => u32::from(a),
                    IpAddr::V6(a) => {
                        let o = a.octets();
                        o.chunks_exact(4).fold(0u32, |h, w| {
                            h ^ u32::from_be_bytes([w[0], w[1], w[2], w[3]])
                        })
                    }
                };
                // HAProxy folds the address rather than calling the hash function; only
                // the avalanche modifier applies.
                Some(if spec.avalanche { avalanche(h) } else { h })
            }
            HashKey::Uri(opts) => Some(spec.hash(uri_part(request.uri?, opts))),
            HashKey::UrlParam(name) => url_param(request.uri?, name).map(|v| spec.hash(v)),
            HashKey::Header {
                name,
                use_domain_only,
            } => {
                let value = request.header(name).filter(|v| !v.is_empty())?;
                let part = if *use_domain_only {
                    main_domain(value)
                } else {
                    value
                };
                Some(spec.hash(part))
            }
            HashKey::RdpCookie(name) => rdp_cookie(request.payload?, name)
                .filter(|v| !v.is_empty())
                .map(|v| spec.hash(v)),
            HashKey::Key => request.key.map(|k| spec.hash(k)),
        }
    }
}

/// The part of a URI that `balance uri` hashes.
pub fn uri_part<'u>(uri: &'u [u8], opts: &UriOptions) -> &'u [u8] {
    let mut uri = uri;
    if opts.path_only {
        if let Some(pos) = find(uri, b"://") {
            let rest = &uri[pos + 3..];
            uri = match rest.iter().position(|&c| c == b'/') {
                Some(slash) => &rest[slash..],
                None => &rest[rest.len()..],
            };
        }
    }
    if opts.len > 0 && uri.len() > opts.len {
        uri = &uri[..opts.len];
    }
    let mut slashes = 0;
    let mut end = uri.len();
    for (i, &c) in uri.iter().enumerate() {
        if c == b'/' {
            slashes += 1;
            // depth N keeps N directories: stop at the (N+1)th slash.
            if opts.depth > 0 && slashes == opts.depth + 1 {
                end = i;
                break;
            }
        } else if c == b'?' && !opts.whole {
            end = i;
            break;
        }
    }
    &uri[..end]
}

/// The value of query parameter `name` (up to the next `&`), if present.
pub fn url_param<'u>(uri: &'u [u8], name: &[u8]) -> Option<&'u [u8]> {
    let q = uri.iter().position(|&c| c == b'?')?;
    uri[q + 1..].split(|&c| c == b'&').find_map(|pair| {
        let rest = pair.strip_prefix(name)?;
        rest.strip_prefix(b"=")
    })
}

/// HAProxy's `use_domain_only`: the label just before the last dot ("www.example.com"
/// gives "example"); a value without dots is used whole.
pub fn main_domain(value: &[u8]) -> &[u8] {
    match value.iter().rposition(|&c| c == b'.') {
        None => value,
        Some(last_dot) => {
            let start = value[..last_dot]
                .iter()
                .rposition(|&c| c == b'.')
                .map_or(0, |d| d + 1);
            &value[start..last_dot]
        }
    }
}

/// The value of `Cookie: <name>=<value>\r\n` in an RDP connection request.
pub fn rdp_cookie<'p>(payload: &'p [u8], name: &[u8]) -> Option<&'p [u8]> {
    let start = find(payload, b"Cookie:")?;
    let line = &payload[start + b"Cookie:".len()..];
    let line = match find(line, b"\r\n") {
        Some(end) => &line[..end],
        None => return None, // incomplete: HAProxy waits for more data
    };
    let line = trim_start(line);
    let rest = line.strip_prefix(name)?;
    rest.strip_prefix(b"=")
}

fn trim_start(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    s
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_options_cut_where_haproxy_cuts() {
        let o = UriOptions::default();
        assert_eq!(uri_part(b"/a/b/c?x=1", &o), b"/a/b/c");
        let whole = UriOptions {
            whole: true,
            ..o.clone()
        };
        assert_eq!(uri_part(b"/a/b/c?x=1", &whole), b"/a/b/c?x=1");
        let depth = UriOptions {
            depth: 2,
            ..o.clone()
        };
        assert_eq!(uri_part(b"/a/b/c?x=1", &depth), b"/a/b");
        let len = UriOptions {
            len: 3,
            ..o.clone()
        };
        assert_eq!(uri_part(b"/a/b/c", &len), b"/a/");
        let path = UriOptions {
            path_only: true,
            ..o
        };
        assert_eq!(uri_part(b"http://h.example:80/p/q?z", &path), b"/p/q");
    }

    #[test]
    fn url_param_finds_exact_names_only() {
        assert_eq!(url_param(b"/x?ab=1&a=2&c=3", b"a"), Some(&b"2"[..]));
        assert_eq!(url_param(b"/x?a=", b"a"), Some(&b""[..]));
        assert_eq!(url_param(b"/x?b=1", b"a"), None);
        assert_eq!(url_param(b"/x", b"a"), None);
    }

    #[test]
    fn domain_only_takes_the_label_before_the_tld() {
        assert_eq!(main_domain(b"www.example.com"), b"example");
        assert_eq!(main_domain(b"example.com"), b"example");
        assert_eq!(main_domain(b"localhost"), b"localhost");
    }

    #[test]
    fn rdp_cookie_parses_mstshash() {
        let p = b"\x03\x00\x00\x2a\x25\xe0\x00\x00\x00\x00\x00Cookie: mstshash=alice\r\n\x01";
        assert_eq!(rdp_cookie(p, b"mstshash"), Some(&b"alice"[..]));
        assert_eq!(rdp_cookie(p, b"other"), None);
        assert_eq!(rdp_cookie(b"Cookie: mstshash=al", b"mstshash"), None);
    }

    #[test]
    fn missing_keys_give_none() {
        let spec = HashSpec::default();
        let r = Request::default();
        assert!(HashKey::Source.hash(&r, &spec).is_none());
        assert!(HashKey::Key.hash(&r, &spec).is_none());
        let hdr = HashKey::Header {
            name: b"host".to_vec(),
            use_domain_only: false,
        };
        let headers: &[(&[u8], &[u8])] = &[(b"Host", b"")];
        let r = Request {
            headers,
            ..Request::default()
        };
        assert!(hdr.hash(&r, &spec).is_none(), "empty header falls back");
    }
}
