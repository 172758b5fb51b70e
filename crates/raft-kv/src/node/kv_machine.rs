//! A small replicated key-value map: the state machine of the `raft-kv-node`
//! binary and of the node tests.
//!
//! Command (one log entry): `key_len: u32 LE | key | value` (a put).
//! Snapshot: a sequence of `key_len: u32 LE | key | value_len: u32 LE | value`.

use std::collections::BTreeMap;

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{Error, Result};
use crate::raft::{Index, Snapshot, StateMachine};

/// A key-value map replicated by Raft.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct KvMachine {
    map: BTreeMap<Bytes, Bytes>,
    /// Commands that did not decode (they are still "applied": every replica
    /// skips the same ones).
    rejected: u64,
}

/// Encodes a put of `value` under `key` as a command.
pub fn encode_put(key: &[u8], value: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(4 + key.len() + value.len());
    out.put_u32_le(key.len() as u32);
    out.put_slice(key);
    out.put_slice(value);
    out.freeze()
}

fn decode_put(command: &[u8]) -> Option<(&[u8], &[u8])> {
    let len = u32::from_le_bytes(command.get(..4)?.try_into().ok()?) as usize;
    let key = command.get(4..4 + len)?;
    Some((key, &command[4 + len..]))
}

impl KvMachine {
    /// The value stored under `key`.
    pub fn get(&self, key: &[u8]) -> Option<&Bytes> {
        self.map.get(key)
    }

    /// Every key and value, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&Bytes, &Bytes)> {
        self.map.iter()
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

impl StateMachine for KvMachine {
    /// Whether the command was a well-formed put.
    type Response = bool;

    fn apply(&mut self, _index: Index, command: &[u8]) -> bool {
        match decode_put(command) {
            Some((key, value)) => {
                self.map
                    .insert(Bytes::copy_from_slice(key), Bytes::copy_from_slice(value));
                true
            }
            None => {
                self.rejected += 1;
                false
            }
        }
    }

    fn snapshot(&self) -> Bytes {
        let mut out = BytesMut::new();
        out.put_u64_le(self.rejected);
        for (key, value) in &self.map {
            out.put_u32_le(key.len() as u32);
            out.put_slice(key);
            out.put_u32_le(value.len() as u32);
            out.put_slice(value);
        }
        out.freeze()
    }

    fn restore(&mut self, snapshot: &Snapshot) -> Result<()> {
        fn take<'a>(buf: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
            let (head, rest) = (buf.get(..n)?, buf.get(n..)?);
            *buf = rest;
            Some(head)
        }
        fn take_len(buf: &mut &[u8]) -> Option<usize> {
            Some(u32::from_le_bytes(take(buf, 4)?.try_into().ok()?) as usize)
        }
        let bad = || Error::BadSnapshot {
            index: snapshot.meta.index,
        };
        let mut buf: &[u8] = &snapshot.data;
        let mut map = BTreeMap::new();
        let rejected = if buf.is_empty() {
            0
        } else {
            u64::from_le_bytes(
                take(&mut buf, 8)
                    .ok_or_else(bad)?
                    .try_into()
                    .map_err(|_| bad())?,
            )
        };
        while !buf.is_empty() {
            let key_len = take_len(&mut buf).ok_or_else(bad)?;
            let key = take(&mut buf, key_len).ok_or_else(bad)?;
            let value_len = take_len(&mut buf).ok_or_else(bad)?;
            let value = take(&mut buf, value_len).ok_or_else(bad)?;
            map.insert(Bytes::copy_from_slice(key), Bytes::copy_from_slice(value));
        }
        self.map = map;
        self.rejected = rejected;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_round_trip_and_malformed_input() {
        let mut m = KvMachine::default();
        assert!(m.apply(1, &encode_put(b"a", b"1")));
        assert!(m.apply(2, &encode_put(b"bb", b"")));
        assert!(!m.apply(3, b"\xff\xff"));
        let mut snapshot = Snapshot {
            data: m.snapshot(),
            ..Snapshot::default()
        };
        let mut restored = KvMachine::default();
        restored.restore(&snapshot).expect("restore");
        assert_eq!(restored, m);
        let full = snapshot.data.clone();
        for cut in 1..full.len() {
            snapshot.data = full.slice(..cut);
            let mut target = KvMachine::default();
            // Every truncation either fails or (at a pair boundary) restores a prefix.
            if target.restore(&snapshot).is_ok() {
                assert!(target.len() < m.len() || cut == full.len());
            }
        }
    }
}
