//! Matchers shared by tcp-check and UDP expectations: a literal string, a regex or hex bytes.

use regex::bytes::Regex;

use crate::error::Error;

/// What the received bytes must contain, as written in the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExpectSpec {
    /// The bytes must contain this string (`expect string`).
    String(String),
    /// The bytes must match this regular expression (`expect rstring`).
    Regex(String),
    /// The bytes must contain these bytes, written in hex (`expect binary`).
    Hex(String),
}

/// A compiled matcher.
#[derive(Debug, Clone)]
pub(crate) enum Matcher {
    Bytes(Vec<u8>),
    Regex(Regex),
}

impl ExpectSpec {
    pub(crate) fn build(&self) -> Result<Matcher, Error> {
        match self {
            Self::String(s) => Ok(Matcher::Bytes(s.as_bytes().to_vec())),
            Self::Regex(pattern) => {
                Regex::new(pattern)
                    .map(Matcher::Regex)
                    .map_err(|source| Error::InvalidRegex {
                        pattern: pattern.clone(),
                        source,
                    })
            }
            Self::Hex(h) => parse_hex(h).map(Matcher::Bytes),
        }
    }
}

/// Parse hex, allowing spaces between bytes for readability.
pub(crate) fn parse_hex(input: &str) -> Result<Vec<u8>, Error> {
    let compact: String = input.chars().filter(|c| !c.is_whitespace()).collect();
    hex::decode(compact).map_err(|_| Error::InvalidHex {
        input: input.to_owned(),
    })
}

impl Matcher {
    /// Whether `data` satisfies the matcher; returns the end of the match so the caller
    /// can drop what was consumed.
    pub(crate) fn find(&self, data: &[u8]) -> Option<usize> {
        match self {
            Self::Bytes(needle) if needle.is_empty() => Some(0),
            Self::Bytes(needle) => data
                .windows(needle.len())
                .position(|w| w == needle.as_slice())
                .map(|at| at + needle.len()),
            Self::Regex(re) => re.find(data).map(|m| m.end()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matchers_find_and_report_end() {
        let s = ExpectSpec::String("OK".into()).build().expect("valid");
        assert_eq!(s.find(b"+OK\r\n"), Some(3));
        assert_eq!(s.find(b"-ERR"), None);
        let r = ExpectSpec::Regex("^\\+OK".into()).build().expect("valid");
        assert_eq!(r.find(b"+OK"), Some(3));
        assert_eq!(r.find(b" +OK"), None);
        let h = ExpectSpec::Hex("de ad".into()).build().expect("valid");
        assert_eq!(h.find(&[1, 0xde, 0xad, 2]), Some(3));
    }

    #[test]
    fn bad_patterns_fail_at_build() {
        assert!(matches!(
            ExpectSpec::Regex("(".into()).build(),
            Err(Error::InvalidRegex { .. })
        ));
        assert!(matches!(
            ExpectSpec::Hex("abc".into()).build(),
            Err(Error::InvalidHex { .. })
        ));
        assert!(matches!(
            ExpectSpec::Hex("zz".into()).build(),
            Err(Error::InvalidHex { .. })
        ));
    }
}
