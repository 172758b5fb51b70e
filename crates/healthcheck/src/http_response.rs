//! A small, bounded HTTP/1.x response parser for health checks.
//!
//! Pure functions over byte slices. "Need more bytes" ([`HeadError::Incomplete`]) is kept
//! apart from "this is not HTTP" ([`HeadError::Invalid`]), so the caller knows whether
//! to read on or give up.

/// Most header lines accepted; more is treated as an invalid response.
pub const MAX_HEADERS: usize = 100;

/// The status line and headers of a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    /// The minor version: 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor_version: u8,
    /// The status code.
    pub status: u16,
    /// The reason phrase.
    pub reason: String,
    /// Header names (as sent) and values (trimmed), in order.
    pub headers: Vec<(String, String)>,
    /// Bytes taken by the head, including the blank line.
    pub head_len: usize,
}

/// Why a head could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeadError {
    /// The blank line ending the head has not arrived yet.
    Incomplete,
    /// The bytes are not a valid HTTP/1.x response head.
    Invalid(&'static str),
}

impl ResponseHead {
    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Parse a response head from the start of `buf`.
pub fn parse_head(buf: &[u8]) -> Result<ResponseHead, HeadError> {
    // Servers that end lines with a bare LF exist; accept them as HAProxy does.
    let Some((end, terminator_len)) = head_end(buf) else {
        return Err(HeadError::Incomplete);
    };
    let head =
        std::str::from_utf8(&buf[..end]).map_err(|_| HeadError::Invalid("head is not UTF-8"))?;
    // A CR anywhere but before a line's LF is a bare CR, which RFC 9112 lets a recipient
    // reject; accepting it would also make the last line of the head parse differently
    // from the others (found by the healthcheck_http fuzz target).
    let lines_cr_stripped = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    if lines_cr_stripped.clone().any(|l| l.contains('\r')) {
        return Err(HeadError::Invalid("bare CR in the response head"));
    }
    let mut lines = lines_cr_stripped;
    let status_line = lines.next().ok_or(HeadError::Invalid("empty head"))?;
    let rest = status_line
        .strip_prefix("HTTP/1.")
        .ok_or(HeadError::Invalid("not an HTTP/1.x status line"))?;
    let mut parts = rest.splitn(3, ' ');
    let minor_version = match parts.next() {
        Some("0") => 0,
        Some("1") => 1,
        _ => return Err(HeadError::Invalid("unknown HTTP version")),
    };
    let code = parts
        .next()
        .ok_or(HeadError::Invalid("missing status code"))?;
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(HeadError::Invalid("status code is not three digits"));
    }
    let status = code
        .parse()
        .map_err(|_| HeadError::Invalid("status code"))?;
    let reason = parts.next().unwrap_or("").to_owned();
    let mut headers = Vec::new();
    for line in lines {
        if headers.len() >= MAX_HEADERS {
            return Err(HeadError::Invalid("too many headers"));
        }
        let (name, value) = line
            .split_once(':')
            .ok_or(HeadError::Invalid("header without colon"))?;
        if name.is_empty() || name.bytes().any(|b| b.is_ascii_whitespace()) {
            return Err(HeadError::Invalid("bad header name"));
        }
        headers.push((name.to_owned(), value.trim().to_owned()));
    }
    Ok(ResponseHead {
        minor_version,
        status,
        reason,
        headers,
        head_len: end + terminator_len,
    })
}

/// Where the head ends: the offset of the line break before the blank line, and the
/// length of the breaks from there to the body (`\r\n\r\n`, `\n\n`, or a mix).
fn head_end(buf: &[u8]) -> Option<(usize, usize)> {
    let mut line_start = 0;
    for (i, &b) in buf.iter().enumerate() {
        if b != b'\n' {
            continue;
        }
        let line = &buf[line_start..i];
        if line.is_empty() || line == b"\r" {
            let prev_break = if line_start >= 2 && buf[line_start - 2] == b'\r' {
                2
            } else {
                1
            };
            let end = line_start.saturating_sub(prev_break);
            return Some((end, i + 1 - end));
        }
        line_start = i + 1;
    }
    None
}

/// How the body of a response is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body at all (HEAD request, 1xx, 204, 304).
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
    /// Everything until the server closes the connection.
    UntilClose,
}

/// Decide the body framing (RFC 9112 section 6.3, the parts a client needs).
pub fn body_framing(head: &ResponseHead, request_was_head: bool) -> Result<BodyFraming, HeadError> {
    if request_was_head || head.status < 200 || head.status == 204 || head.status == 304 {
        return Ok(BodyFraming::Empty);
    }
    if let Some(te) = head.header("transfer-encoding") {
        let last = te.rsplit(',').next().unwrap_or("").trim();
        return Ok(if last.eq_ignore_ascii_case("chunked") {
            BodyFraming::Chunked
        } else {
            BodyFraming::UntilClose
        });
    }
    match head.header("content-length") {
        Some(v) => v
            .parse()
            .map(BodyFraming::Length)
            .map_err(|_| HeadError::Invalid("bad content-length")),
        None => Ok(BodyFraming::UntilClose),
    }
}

/// The result of decoding a (possibly partial) chunked body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dechunked {
    /// The data decoded so far.
    pub body: Vec<u8>,
    /// Whether the last chunk has arrived.
    pub complete: bool,
}

/// Decode as much of a chunked body as `buf` holds. Trailers are skipped unread.
pub fn dechunk(buf: &[u8]) -> Result<Dechunked, HeadError> {
    let mut body = Vec::new();
    let mut pos = 0;
    loop {
        let Some(line_end) = find_crlf(&buf[pos..]) else {
            return Ok(Dechunked {
                body,
                complete: false,
            });
        };
        let line = &buf[pos..pos + line_end];
        let size_text = line.split(|&b| b == b';').next().unwrap_or(line);
        let size_text =
            std::str::from_utf8(size_text).map_err(|_| HeadError::Invalid("chunk size"))?;
        let size = usize::from_str_radix(size_text.trim(), 16)
            .map_err(|_| HeadError::Invalid("chunk size"))?;
        pos += line_end + 2;
        if size == 0 {
            return Ok(Dechunked {
                body,
                complete: true,
            });
        }
        let available = buf.len().saturating_sub(pos);
        if available < size {
            body.extend_from_slice(&buf[pos..]);
            return Ok(Dechunked {
                body,
                complete: false,
            });
        }
        body.extend_from_slice(&buf[pos..pos + size]);
        pos += size;
        if buf.len() < pos + 2 {
            return Ok(Dechunked {
                body,
                complete: false,
            });
        }
        if &buf[pos..pos + 2] != b"\r\n" {
            return Err(HeadError::Invalid("chunk not followed by CRLF"));
        }
        pos += 2;
    }
}

fn find_crlf(buf: &[u8]) -> Option<usize> {
    buf.windows(2).position(|w| w == b"\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_cr_is_invalid_on_any_line_of_the_head() {
        // The fuzzer's input: the status line ends in bare CRs and is the last line.
        assert!(matches!(
            parse_head(b"HTTP/1.1 200 OK\r\r\r\n\r\n"),
            Err(HeadError::Invalid(_))
        ));
        // The same status line followed by a header.
        assert!(matches!(
            parse_head(b"HTTP/1.1 200 OK\r\r\r\nA: b\r\n\r\n"),
            Err(HeadError::Invalid(_))
        ));
        assert!(matches!(
            parse_head(b"HTTP/1.1 200 OK\r\nA: b\rc\r\n\r\n"),
            Err(HeadError::Invalid(_))
        ));
        // A CRLF or a bare LF ends a line as before.
        assert_eq!(
            parse_head(b"HTTP/1.1 200 OK\n\n").map(|h| h.reason),
            Ok("OK".into())
        );
    }

    #[test]
    fn parses_a_head_and_keeps_incomplete_apart_from_invalid() {
        let raw = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 5\r\nX-A:  b \r\n\r\nhello";
        let head = parse_head(raw).expect("valid");
        assert_eq!(head.status, 503);
        assert_eq!(head.reason, "Service Unavailable");
        assert_eq!(head.header("x-a"), Some("b"));
        assert_eq!(head.head_len, raw.len() - 5);
        assert_eq!(body_framing(&head, false), Ok(BodyFraming::Length(5)));
        assert_eq!(body_framing(&head, true), Ok(BodyFraming::Empty));
        assert_eq!(parse_head(&raw[..20]), Err(HeadError::Incomplete));
        assert!(matches!(
            parse_head(b"SSH-2.0-OpenSSH\r\n\r\n"),
            Err(HeadError::Invalid(_))
        ));
        assert!(matches!(
            parse_head(b"HTTP/1.1 20x OK\r\n\r\n"),
            Err(HeadError::Invalid(_))
        ));
        let bare = parse_head(b"HTTP/1.0 200 OK\nServer: x\n\nbody").expect("bare LF accepted");
        assert_eq!((bare.status, bare.head_len), (200, 27));
        assert_eq!(bare.header("server"), Some("x"));
        let crlf = parse_head(b"HTTP/1.1 204 No Content\r\n\r\n").expect("valid");
        assert_eq!(crlf.head_len, 27);
        assert!(crlf.headers.is_empty());
    }

    #[test]
    fn framing_rules() {
        let head = |extra: &str| {
            parse_head(format!("HTTP/1.1 200 OK\r\n{extra}\r\n").as_bytes()).expect("valid")
        };
        assert_eq!(
            body_framing(&head("Transfer-Encoding: gzip, chunked\r\n"), false),
            Ok(BodyFraming::Chunked)
        );
        assert_eq!(body_framing(&head(""), false), Ok(BodyFraming::UntilClose));
        assert!(body_framing(&head("Content-Length: x\r\n"), false).is_err());
        let no_content = parse_head(b"HTTP/1.1 204 No Content\r\n\r\n").expect("valid");
        assert_eq!(body_framing(&no_content, false), Ok(BodyFraming::Empty));
    }

    #[test]
    fn dechunks_whole_and_partial_bodies() {
        let whole = dechunk(b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n").expect("valid");
        assert_eq!(
            whole,
            Dechunked {
                body: b"hello world".to_vec(),
                complete: true
            }
        );
        let partial = dechunk(b"5\r\nhello\r\n6\r\n wo").expect("valid");
        assert_eq!(
            partial,
            Dechunked {
                body: b"hello wo".to_vec(),
                complete: false
            }
        );
        assert!(dechunk(b"zz\r\n").is_err());
        assert!(dechunk(b"2\r\nabX\r\n").is_err());
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let _ = parse_head(&bytes);
            let _ = dechunk(&bytes);
        }
    }
}
