//! The crate's error type.

use std::fmt;

/// What went wrong with a tree operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A prefix length longer than the key is wide.
    PrefixTooLong {
        /// The length asked for, in bits.
        len: u32,
        /// The key's width, in bits.
        max: u32,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::PrefixTooLong { len, max } => {
                write!(f, "prefix length {len} exceeds the key width of {max} bits")
            }
        }
    }
}

impl std::error::Error for Error {}
