//! The crate's one error type: what can go wrong when a check or monitor is *built*.
//!
//! A failing probe is not an error: it is a [`crate::CheckResult`] with a failure status.
//! Errors here are configuration mistakes caught before any check runs.

use std::path::PathBuf;

/// Everything that can make building a check, a machine or a monitor fail.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A regular expression in an expect rule does not compile.
    #[error("invalid regular expression {pattern:?}: {source}")]
    InvalidRegex {
        /// The pattern as written in the configuration.
        pattern: String,
        /// Why the regex crate rejected it.
        source: regex::Error,
    },
    /// A hex string in an expect or send rule is not valid hex.
    #[error("invalid hex string {input:?}")]
    InvalidHex {
        /// The text as written in the configuration.
        input: String,
    },
    /// The external check script does not exist.
    #[error("check script {path:?} not found")]
    ScriptNotFound {
        /// The configured path.
        path: PathBuf,
    },
    /// The external check script exists but is not an executable file.
    #[error("check script {path:?} is not an executable file")]
    ScriptNotExecutable {
        /// The configured path.
        path: PathBuf,
    },
    /// A numeric or structural setting is out of range.
    #[error("invalid setting {field}: {reason}")]
    InvalidSetting {
        /// The setting's name, as in the configuration (`rise`, `inter`, ...).
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A DNS query name is not a valid domain name.
    #[error("invalid DNS name {name:?}")]
    InvalidDnsName {
        /// The name as configured.
        name: String,
    },
    /// The TLS server name (SNI) is neither a DNS name nor an IP address.
    #[error("invalid TLS server name {name:?}")]
    InvalidServerName {
        /// The name as configured.
        name: String,
    },
    /// The TLS client configuration could not be built.
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    /// Neither an unprivileged ICMP socket (`net.ipv4.ping_group_range`) nor a raw one
    /// (root or CAP_NET_RAW) can be opened, so ICMP checks cannot run here.
    #[error("cannot open an ICMP socket: {source}")]
    IcmpUnavailable {
        /// Why the raw socket, the last resort, was refused.
        source: std::io::Error,
    },
    /// Half-open TCP checks send SYNs from a raw socket, which needs root or the
    /// CAP_NET_RAW capability; this process has neither.
    #[error(
        "half-open TCP checks need a raw socket, which needs CAP_NET_RAW (root or the capability): {source}"
    )]
    HalfOpenUnavailable {
        /// Why the raw socket was refused (usually `EPERM`).
        source: std::io::Error,
    },
    /// A monitor was asked to start a target outside a tokio runtime.
    #[error("no tokio runtime to run the checks on")]
    NoRuntime,
    /// An HTTP header name or value contains characters that would break the request.
    #[error("invalid HTTP header {name:?}")]
    InvalidHeader {
        /// The header name as configured.
        name: String,
    },
}
