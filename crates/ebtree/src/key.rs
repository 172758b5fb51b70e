//! Key kinds: how a Rust key becomes the unsigned bit string the tree branches on.
//!
//! Signed integers flip their sign bit, so that the unsigned order of the bit strings is
//! the signed order of the keys; byte arrays and IP addresses are big-endian bit strings,
//! ordered like `[u8]`.

use std::fmt::Debug;
use std::net::{Ipv4Addr, Ipv6Addr};

pub(crate) mod private {
    use std::fmt::Debug;

    /// A fixed-width bit string, read most significant bit first.
    pub trait Bits: Copy + Default + Eq + Debug {
        /// Width in bits.
        const BITS: u32;
        /// Position of the first bit that differs, or `None` when equal.
        fn first_diff(&self, other: &Self) -> Option<u32>;
        /// The bit at `pos` (`pos < BITS`), as 0 or 1.
        fn bit(&self, pos: u32) -> usize;
        /// The same bits with every position `>= len` cleared.
        fn keep_prefix(self, len: u32) -> Self;
        /// Whether `self` and `other` differ at a position `< pos` (`pos < BITS`).
        #[inline(always)]
        fn differs_before(&self, other: &Self, pos: u32) -> bool {
            matches!(self.first_diff(other), Some(d) if d < pos)
        }
    }

    /// Seals [`super::Key`].
    pub trait Sealed {}
}

use private::Bits;

macro_rules! int_bits {
    ($($t:ty),*) => {$(
        impl Bits for $t {
            const BITS: u32 = <$t>::BITS;
            #[inline(always)]
            fn first_diff(&self, other: &Self) -> Option<u32> {
                let x = self ^ other;
                (x != 0).then(|| x.leading_zeros())
            }
            #[inline(always)]
            fn bit(&self, pos: u32) -> usize {
                ((self >> (Self::BITS - 1 - pos)) & 1) as usize
            }
            #[inline(always)]
            fn differs_before(&self, other: &Self, pos: u32) -> bool {
                // The bits above `pos`, as one shift (split in two so that `pos == 0`
                // shifts by less than the width).
                ((self ^ other) >> 1) >> (Self::BITS - 1 - pos) != 0
            }
            #[inline(always)]
            fn keep_prefix(self, len: u32) -> Self {
                if len == 0 { 0 } else { self & (<$t>::MAX << (Self::BITS - len.min(Self::BITS))) }
            }
        }
    )*};
}
int_bits!(u32, u64, u128);

/// A `[u8; N]` as a bit string (arrays only have `Default` up to 32 elements).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ByteBits<const N: usize>([u8; N]);

impl<const N: usize> Default for ByteBits<N> {
    fn default() -> Self {
        ByteBits([0; N])
    }
}

impl<const N: usize> Bits for ByteBits<N> {
    const BITS: u32 = (N * 8) as u32;
    #[inline]
    fn first_diff(&self, other: &Self) -> Option<u32> {
        let i = self.0.iter().zip(&other.0).position(|(a, b)| a != b)?;
        Some(i as u32 * 8 + (self.0[i] ^ other.0[i]).leading_zeros())
    }
    #[inline]
    fn bit(&self, pos: u32) -> usize {
        ((self.0[(pos / 8) as usize] >> (7 - pos % 8)) & 1) as usize
    }
    fn keep_prefix(mut self, len: u32) -> Self {
        for (i, byte) in self.0.iter_mut().enumerate() {
            let start = i as u32 * 8;
            if start >= len {
                *byte = 0;
            } else if len - start < 8 {
                *byte &= 0xFFu8 << (8 - (len - start));
            }
        }
        self
    }
}

/// A key an [`EbTree`](crate::EbTree) or a [`PrefixTree`](crate::PrefixTree) can hold:
/// `u32`, `u64`, `u128`, `i32`, `i64`, `i128`, `[u8; N]`, [`Ipv4Addr`] and [`Ipv6Addr`].
///
/// The trait is sealed; its methods are the tree's business.
pub trait Key: Copy + Ord + Debug + private::Sealed {
    /// The bit string stored in the tree.
    #[doc(hidden)]
    type Raw: Bits;
    #[doc(hidden)]
    fn to_raw(self) -> Self::Raw;
    #[doc(hidden)]
    fn from_raw(raw: Self::Raw) -> Self;
}

macro_rules! unsigned_key {
    ($($t:ty),*) => {$(
        impl private::Sealed for $t {}
        impl Key for $t {
            type Raw = $t;
            #[inline(always)]
            fn to_raw(self) -> $t { self }
            #[inline(always)]
            fn from_raw(raw: $t) -> $t { raw }
        }
    )*};
}
unsigned_key!(u32, u64, u128);

macro_rules! signed_key {
    ($($t:ty => $u:ty),*) => {$(
        impl private::Sealed for $t {}
        impl Key for $t {
            type Raw = $u;
            #[inline(always)]
            fn to_raw(self) -> $u { (self as $u) ^ (1 << (<$u>::BITS - 1)) }
            #[inline(always)]
            fn from_raw(raw: $u) -> $t { (raw ^ (1 << (<$u>::BITS - 1))) as $t }
        }
    )*};
}
signed_key!(i32 => u32, i64 => u64, i128 => u128);

impl<const N: usize> private::Sealed for [u8; N] {}
impl<const N: usize> Key for [u8; N] {
    type Raw = ByteBits<N>;
    #[inline(always)]
    fn to_raw(self) -> ByteBits<N> {
        ByteBits(self)
    }
    #[inline(always)]
    fn from_raw(raw: ByteBits<N>) -> Self {
        raw.0
    }
}

impl private::Sealed for Ipv4Addr {}
impl Key for Ipv4Addr {
    type Raw = u32;
    #[inline(always)]
    fn to_raw(self) -> u32 {
        self.to_bits()
    }
    #[inline(always)]
    fn from_raw(raw: u32) -> Self {
        Ipv4Addr::from_bits(raw)
    }
}

impl private::Sealed for Ipv6Addr {}
impl Key for Ipv6Addr {
    type Raw = u128;
    #[inline(always)]
    fn to_raw(self) -> u128 {
        self.to_bits()
    }
    #[inline(always)]
    fn from_raw(raw: u128) -> Self {
        Ipv6Addr::from_bits(raw)
    }
}

/// Probes a tree of fixed-width keys with one key.
pub(crate) struct BitsProbe<B>(pub(crate) B);

impl<B: Bits> crate::core::Probe<B> for BitsProbe<B> {
    #[inline(always)]
    fn diff(&self, _idx: u32, key: &B, _from: u32) -> Option<u32> {
        self.0.first_diff(key)
    }
    #[inline(always)]
    fn side(&self, pos: u32) -> usize {
        self.0.bit(pos)
    }
    #[inline(always)]
    fn differs_before(&self, _idx: u32, key: &B, _from: u32, pos: u32) -> bool {
        self.0.differs_before(key, pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_order_is_kept() {
        let keys = [i64::MIN, -5, -1, 0, 1, 7, i64::MAX];
        for w in keys.windows(2) {
            assert!(w[0].to_raw() < w[1].to_raw());
            assert_eq!(i64::from_raw(w[0].to_raw()), w[0]);
        }
    }

    #[test]
    fn byte_bits_agree_with_integers() {
        let a = 0x1234_5678u32;
        let b = 0x1235_0000u32;
        let (ba, bb) = (ByteBits(a.to_be_bytes()), ByteBits(b.to_be_bytes()));
        assert_eq!(ba.first_diff(&bb), a.first_diff(&b));
        for pos in 0..32 {
            assert_eq!(ba.bit(pos), a.bit(pos));
        }
        for len in 0..=32 {
            assert_eq!(ba.keep_prefix(len).0, a.keep_prefix(len).to_be_bytes());
        }
    }
}
