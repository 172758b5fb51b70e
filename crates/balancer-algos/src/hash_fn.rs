//! HAProxy's hash functions (`hash-type ... sdbm|djb2|wt6|crc32|none [avalanche]`) and the
//! 64-bit mixers the other algorithms use.

/// The hash function of `hash-type`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum HashFunction {
    /// sdbm: `h = c + (h << 6) + (h << 16) - h`. HAProxy's default.
    #[default]
    Sdbm,
    /// djb2: `h = h * 33 + c`, starting at 5381.
    Djb2,
    /// wt6: Willy Tarreau's 6-rotation hash, good on short numeric keys.
    Wt6,
    /// CRC-32 (IEEE, reflected 0xEDB88320, init and final inversion).
    Crc32,
    /// No hashing: the key is read as a decimal integer (HAProxy's `read_int64`).
    None,
}

/// A hash function with its optional avalanche modifier.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub struct HashSpec {
    /// The function.
    pub function: HashFunction,
    /// Pass the result through [`avalanche`] (HAProxy's `full_hash`). Without it, close
    /// keys (neighbouring client addresses, numeric ids) are close points on a
    /// consistent-hash ring and land on the same server; HAProxy's historical default for
    /// `hash-type consistent` is to apply it.
    pub avalanche: bool,
}

impl HashSpec {
    /// Hashes `key` as HAProxy's `gen_hash` does.
    pub fn hash(&self, key: &[u8]) -> u32 {
        let h = match self.function {
            HashFunction::Sdbm => sdbm(key),
            HashFunction::Djb2 => djb2(key),
            HashFunction::Wt6 => wt6(key),
            HashFunction::Crc32 => crc32(key),
            HashFunction::None => read_decimal(key),
        };
        if self.avalanche { avalanche(h) } else { h }
    }
}

/// sdbm.
pub fn sdbm(key: &[u8]) -> u32 {
    key.iter().fold(0u32, |h, &c| {
        u32::from(c)
            .wrapping_add(h << 6)
            .wrapping_add(h << 16)
            .wrapping_sub(h)
    })
}

/// djb2.
pub fn djb2(key: &[u8]) -> u32 {
    key.iter().fold(5381u32, |h, &c| {
        (h << 5).wrapping_add(h).wrapping_add(u32::from(c))
    })
}

/// wt6.
pub fn wt6(key: &[u8]) -> u32 {
    let mut h0: u32 = 0xa53c_965a;
    let mut h1: u32 = 0x5ca6_953a;
    let mut step0: u32 = 6;
    let mut step1: u32 = 18;
    for &c in key {
        let t = u32::from(c);
        h0 = !(h0 ^ t);
        h1 = !(h1.wrapping_add(t));
        // The C code shifts by (32 - step); a step of 0 there is a full-width shift,
        // which rotate_left expresses without undefined behaviour.
        let t = h1.rotate_left(step0);
        h1 = h0.rotate_left(step1);
        h0 = t;
        let t = ((h0 >> 16) ^ h1) & 0xffff;
        step0 = t & 0x1f;
        step1 = t >> 11;
    }
    h0 ^ h1
}

/// CRC-32 as HAProxy computes it (bitwise, reflected polynomial 0xEDB88320).
pub fn crc32(key: &[u8]) -> u32 {
    let mut h = !0u32;
    for &c in key {
        h ^= u32::from(c);
        for _ in 0..8 {
            h = (h >> 1) ^ if h & 1 != 0 { 0xedb8_8320 } else { 0 };
        }
    }
    !h
}

/// HAProxy's `read_int64` truncated to 32 bits: optional sign, then decimal digits up
/// to the first non-digit.
pub fn read_decimal(key: &[u8]) -> u32 {
    let (neg, digits) = match key.first() {
        Some(b'-') => (true, &key[1..]),
        Some(b'+') => (false, &key[1..]),
        _ => (false, key),
    };
    let mut v: u64 = 0;
    for &c in digits.iter().take_while(|c| c.is_ascii_digit()) {
        v = v.wrapping_mul(10).wrapping_add(u64::from(c - b'0'));
    }
    let v = if neg { v.wrapping_neg() } else { v };
    v as u32
}

/// HAProxy's `full_hash` (Bob Jenkins' 32-bit integer mix): every input bit flips about
/// half the output bits.
pub fn avalanche(mut a: u32) -> u32 {
    a = a.wrapping_add(0x7ed5_5d16).wrapping_add(a << 12);
    a = (a ^ 0xc761_c23c) ^ (a >> 19);
    a = a.wrapping_add(0x1656_67b1).wrapping_add(a << 5);
    a = a.wrapping_add(0xd3a2_646c) ^ (a << 9);
    a = a.wrapping_add(0xfd70_46c5).wrapping_add(a << 3);
    a = (a ^ 0xb55a_4f09) ^ (a >> 16);
    a
}

/// SplitMix64 finaliser: a fast, well-mixed 64-bit hash of a 64-bit value.
pub fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A 64-bit hash of bytes (FNV-1a folded through [`mix64`]); used for Maglev, jump,
/// rendezvous and stick keys, where HAProxy compatibility does not apply.
pub fn hash_bytes64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    mix64(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_standard_check_value() {
        // The CRC-32/ISO-HDLC check value of "123456789".
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn djb2_and_sdbm_follow_their_recurrences() {
        assert_eq!(djb2(b""), 5381);
        assert_eq!(djb2(b"a"), 5381 * 33 + 97);
        assert_eq!(sdbm(b"a"), 97);
        // second step: c + (h<<6) + (h<<16) - h with h = 97
        assert_eq!(sdbm(b"ab"), 98 + (97 << 6) + (97 << 16) - 97);
    }

    #[test]
    fn none_reads_decimal_keys() {
        assert_eq!(read_decimal(b"12345"), 12345);
        assert_eq!(read_decimal(b"42abc"), 42);
        assert_eq!(read_decimal(b"-1"), u32::MAX);
        assert_eq!(read_decimal(b"x"), 0);
    }

    #[test]
    fn wt6_and_avalanche_spread_neighbouring_keys() {
        // Neighbouring inputs must land far apart: at least 8 of 32 bits differ.
        for i in 0u32..1000 {
            assert!(
                (avalanche(i) ^ avalanche(i + 1)).count_ones() >= 8,
                "avalanche {i}"
            );
        }
        let a = wt6(b"10.0.0.1");
        let b = wt6(b"10.0.0.2");
        assert_ne!(a, b);
        assert_eq!(wt6(b"abc"), wt6(b"abc"));
    }
}
