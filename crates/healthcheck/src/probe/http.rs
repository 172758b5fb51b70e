//! HTTP and HTTPS checks (HAProxy `option httpchk` / `http-check expect`, keepalived
//! `HTTP_GET`/`SSL_GET` with `digest`).
//!
//! Reads are bounded by `max_response` bytes and by the check deadline, so a huge or
//! endless body cannot hurt the checker: a body string or regex is matched against the
//! part that fits (as HAProxy does), while an MD5 digest needs the whole body and fails
//! when it does not fit.

use std::fmt::Write as _;
use std::net::SocketAddr;

use md5::{Digest, Md5};
use regex::bytes::Regex;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::time::{Instant, timeout_at};
use tokio_rustls::TlsConnector;

use super::Timeouts;
use super::connect::{FirstWord, ReadStop, connect, read_until, verdict};
use super::tls::{TlsClient, TlsSpec};
use crate::error::Error;
use crate::http_response::{
    BodyFraming, HeadError, ResponseHead, body_framing, dechunk, parse_head,
};
use crate::status::{CheckResult, CheckStatus};

/// The HTTP version written in the request line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HttpVersion {
    /// HTTP/1.0.
    Http10,
    /// HTTP/1.1 (a Host header is always sent).
    #[default]
    Http11,
}

/// An inclusive range of status codes; a single code is `low == high`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusRange {
    /// Lowest accepted code.
    pub low: u16,
    /// Highest accepted code.
    pub high: u16,
}

impl StatusRange {
    /// Exactly one status code.
    pub fn exactly(code: u16) -> Self {
        Self {
            low: code,
            high: code,
        }
    }
}

/// What a response must look like. Empty means "status 200 to 399".
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HttpExpect {
    /// Accepted statuses; empty means 200-399.
    pub status: Vec<StatusRange>,
    /// The body must contain this string.
    pub body_string: Option<String>,
    /// The body must match this regular expression.
    pub body_regex: Option<String>,
    /// The body's MD5 digest, in hex (keepalived `digest`).
    pub body_md5: Option<String>,
    /// A header (name, case-insensitive) whose value must match the regular expression.
    pub header: Option<(String, String)>,
}

/// An HTTP(S) check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSpec {
    /// Request method (default `GET`).
    pub method: String,
    /// Request path (default `/`).
    pub path: String,
    /// Request version (default HTTP/1.1).
    pub version: HttpVersion,
    /// Host header; `None` uses the SNI name, else the target address.
    pub host: Option<String>,
    /// Extra request headers.
    pub headers: Vec<(String, String)>,
    /// Expectations on the response.
    pub expect: HttpExpect,
    /// TLS settings; `Some` makes this an HTTPS check.
    pub tls: Option<TlsSpec>,
    /// Most bytes of response (head and body) read (default 64 KiB).
    pub max_response: usize,
    /// HAProxy `http-check disable-on-404`: a 404 passes as L7OKC (drain the target).
    pub disable_on_404: bool,
}

impl Default for HttpSpec {
    fn default() -> Self {
        Self {
            method: "GET".into(),
            path: "/".into(),
            version: HttpVersion::Http11,
            host: None,
            headers: Vec::new(),
            expect: HttpExpect::default(),
            tls: None,
            max_response: 64 * 1024,
            disable_on_404: false,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct HttpCheck {
    /// The request with a `{host}` placeholder resolved at run time when no Host is set.
    request_head: String,
    host: Option<String>,
    is_head: bool,
    status: Vec<StatusRange>,
    body_string: Option<Vec<u8>>,
    body_regex: Option<Regex>,
    body_md5: Option<[u8; 16]>,
    header: Option<(String, Regex)>,
    tls: Option<TlsClient>,
    max_response: usize,
    disable_on_404: bool,
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b))
}

fn is_field_value(s: &str) -> bool {
    !s.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0)
}

fn compile(pattern: &str) -> Result<Regex, Error> {
    Regex::new(pattern).map_err(|source| Error::InvalidRegex {
        pattern: pattern.to_owned(),
        source,
    })
}

impl HttpSpec {
    pub(crate) fn build(self) -> Result<HttpCheck, Error> {
        if !is_token(&self.method) {
            return Err(Error::InvalidSetting {
                field: "method",
                reason: "must be an HTTP token",
            });
        }
        if !self.path.starts_with('/')
            || self
                .path
                .bytes()
                .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        {
            return Err(Error::InvalidSetting {
                field: "path",
                reason: "must start with / and contain no spaces or control characters",
            });
        }
        if self.max_response < 64 {
            return Err(Error::InvalidSetting {
                field: "max_response",
                reason: "must be at least 64 bytes",
            });
        }
        for (name, value) in &self.headers {
            if !is_token(name) || !is_field_value(value) {
                return Err(Error::InvalidHeader { name: name.clone() });
            }
        }
        if self.host.as_deref().is_some_and(|h| !is_field_value(h)) {
            return Err(Error::InvalidHeader {
                name: "Host".into(),
            });
        }
        for r in &self.expect.status {
            if r.low > r.high || r.low < 100 || r.high > 999 {
                return Err(Error::InvalidSetting {
                    field: "expect status",
                    reason: "ranges must be low <= high within 100..=999",
                });
            }
        }
        let body_md5 = match &self.expect.body_md5 {
            None => None,
            Some(h) => {
                let mut digest = [0u8; 16];
                hex::decode_to_slice(h.trim(), &mut digest)
                    .map_err(|_| Error::InvalidHex { input: h.clone() })?;
                Some(digest)
            }
        };
        let header = match &self.expect.header {
            None => None,
            Some((name, pattern)) => Some((name.clone(), compile(pattern)?)),
        };
        let tls = self.tls.as_ref().map(TlsSpec::build).transpose()?;
        let version = match self.version {
            HttpVersion::Http10 => "1.0",
            HttpVersion::Http11 => "1.1",
        };
        let mut request_head = format!("{} {} HTTP/{version}\r\n", self.method, self.path);
        for (name, value) in &self.headers {
            let _ = write!(request_head, "{name}: {value}\r\n");
        }
        request_head.push_str("User-Agent: hakit-healthcheck\r\nConnection: close\r\n");
        let host = self
            .host
            .clone()
            .or_else(|| self.tls.as_ref().and_then(|t| t.sni.clone()));
        Ok(HttpCheck {
            request_head,
            host,
            is_head: self.method.eq_ignore_ascii_case("HEAD"),
            status: self.expect.status.clone(),
            body_string: self.expect.body_string.map(String::into_bytes),
            body_regex: self.expect.body_regex.as_deref().map(compile).transpose()?,
            body_md5,
            header,
            tls,
            max_response: self.max_response,
            disable_on_404: self.disable_on_404,
        })
    }
}

fn read_failure(stop: ReadStop, what: &str) -> CheckResult {
    match stop {
        ReadStop::Timeout => verdict(CheckStatus::L7Tout, format!("timeout reading {what}")),
        ReadStop::Eof => verdict(
            CheckStatus::L7Rsp,
            format!("connection closed while reading {what}"),
        ),
        ReadStop::Limit => verdict(
            CheckStatus::L7Rsp,
            format!("{what} larger than the read limit"),
        ),
        ReadStop::Error(e) => verdict(CheckStatus::L7Rsp, format!("reading {what}: {e}")),
    }
}

impl HttpCheck {
    pub(crate) async fn run(&self, target: SocketAddr, timeouts: Timeouts) -> CheckResult {
        let stream = match connect(target, timeouts.connect, FirstWord::Checker)
            .await
            .and_then(|c| c.into_stream())
        {
            Ok(s) => s,
            Err(r) => return r,
        };
        let deadline = Instant::now() + timeouts.check;
        let Some(tls) = &self.tls else {
            return self.exchange(stream, target, deadline).await;
        };
        let name = tls
            .sni
            .clone()
            .unwrap_or_else(|| ServerName::IpAddress(target.ip().into()));
        let connector = TlsConnector::from(tls.config.clone());
        match timeout_at(deadline, connector.connect(name, stream)).await {
            Err(_) => verdict(CheckStatus::L6Tout, "TLS handshake timeout"),
            Ok(Err(e)) => verdict(CheckStatus::L6Rsp, format!("TLS handshake: {e}")),
            Ok(Ok(tls_stream)) => self.exchange(tls_stream, target, deadline).await,
        }
    }

    async fn exchange<S>(&self, mut stream: S, target: SocketAddr, deadline: Instant) -> CheckResult
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let host = self.host.clone().unwrap_or_else(|| target.to_string());
        let request = format!("{}Host: {host}\r\n\r\n", self.request_head);
        let send = async {
            stream.write_all(request.as_bytes()).await?;
            stream.flush().await
        };
        match timeout_at(deadline, send).await {
            Err(_) => return verdict(CheckStatus::L7Tout, "timeout sending request"),
            Ok(Err(e)) => return verdict(CheckStatus::L7Rsp, format!("sending request: {e}")),
            Ok(Ok(())) => {}
        }
        let mut buf = Vec::new();
        let read = read_until(&mut stream, &mut buf, self.max_response, deadline, |b| {
            parse_head(b) != Err(HeadError::Incomplete)
        })
        .await;
        if let Err(stop) = read {
            return read_failure(stop, "response head");
        }
        let head = match parse_head(&buf) {
            Ok(h) => h,
            Err(_) => return verdict(CheckStatus::L7Rsp, "invalid HTTP response"),
        };
        if head.status == 404 && self.disable_on_404 {
            return verdict(CheckStatus::L7Okc, "status 404: drain");
        }
        let status_ok = if self.status.is_empty() {
            (200..400).contains(&head.status)
        } else {
            self.status
                .iter()
                .any(|r| (r.low..=r.high).contains(&head.status))
        };
        if !status_ok {
            return verdict(CheckStatus::L7Sts, format!("status {}", head.status));
        }
        if let Some((name, re)) = &self.header {
            let matched = head
                .headers
                .iter()
                .any(|(n, v)| n.eq_ignore_ascii_case(name) && re.is_match(v.as_bytes()));
            if !matched {
                return verdict(
                    CheckStatus::L7Rsp,
                    format!("header {name} missing or not matching"),
                );
            }
        }
        if self.body_string.is_none() && self.body_regex.is_none() && self.body_md5.is_none() {
            return verdict(CheckStatus::L7Ok, format!("status {}", head.status));
        }
        self.check_body(&mut stream, &head, buf, deadline).await
    }

    async fn check_body<S>(
        &self,
        stream: &mut S,
        head: &ResponseHead,
        mut buf: Vec<u8>,
        deadline: Instant,
    ) -> CheckResult
    where
        S: AsyncRead + Unpin,
    {
        let framing = match body_framing(head, self.is_head) {
            Ok(f) => f,
            Err(_) => return verdict(CheckStatus::L7Rsp, "invalid body framing"),
        };
        let start = head.head_len;
        let read = match framing {
            BodyFraming::Empty => Ok(()),
            BodyFraming::Length(n) => {
                let want = usize::try_from(n)
                    .unwrap_or(usize::MAX)
                    .saturating_add(start);
                read_until(stream, &mut buf, self.max_response, deadline, |b| {
                    b.len() >= want
                })
                .await
            }
            BodyFraming::Chunked => {
                read_until(stream, &mut buf, self.max_response, deadline, |b| {
                    dechunk(&b[start..]).map_or(true, |d| d.complete)
                })
                .await
            }
            BodyFraming::UntilClose => {
                match read_until(stream, &mut buf, self.max_response, deadline, |_| false).await {
                    Err(ReadStop::Eof) => Ok(()),
                    other => other,
                }
            }
        };
        let truncated = match read {
            Ok(()) => false,
            Err(ReadStop::Limit) => true,
            Err(stop) => return read_failure(stop, "body"),
        };
        let body = match framing {
            BodyFraming::Chunked => match dechunk(&buf[start..]) {
                Ok(d) => d.body,
                Err(_) => return verdict(CheckStatus::L7Rsp, "invalid chunked body"),
            },
            BodyFraming::Length(n) => {
                let end = usize::try_from(n)
                    .map_or(buf.len(), |n| buf.len().min(start.saturating_add(n)));
                buf[start..end].to_vec()
            }
            _ => buf[start..].to_vec(),
        };
        if let Some(needle) = &self.body_string {
            let found =
                needle.is_empty() || body.windows(needle.len()).any(|w| w == needle.as_slice());
            if !found {
                return verdict(
                    CheckStatus::L7Rsp,
                    "body does not contain the expected string",
                );
            }
        }
        if self
            .body_regex
            .as_ref()
            .is_some_and(|re| !re.is_match(&body))
        {
            return verdict(CheckStatus::L7Rsp, "body does not match the expected regex");
        }
        if let Some(expected) = &self.body_md5 {
            if truncated {
                return verdict(
                    CheckStatus::L7Rsp,
                    "body larger than the read limit; cannot digest",
                );
            }
            let digest: [u8; 16] = Md5::digest(&body).into();
            if &digest != expected {
                return verdict(
                    CheckStatus::L7Rsp,
                    format!("body MD5 {} differs", hex::encode(digest)),
                );
            }
        }
        verdict(
            CheckStatus::L7Ok,
            format!("status {}, body matched", head.status),
        )
    }
}
