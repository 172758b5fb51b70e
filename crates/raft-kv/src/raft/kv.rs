//! A replicated key-value map: the [`StateMachine`] the simulation checks for
//! linearizability, and a starting point for the etcd-compatible store.

use std::collections::BTreeMap;

use bytes::{Bytes, BytesMut};

use super::codec::{Reader, put_bytes, put_varint};
use super::state_machine::StateMachine;
use super::types::{Index, Snapshot};
use crate::error::{Error, Malformed, Result};

/// A command for [`KvStateMachine`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvCommand {
    /// Client-chosen identifier, echoed in the response so the proposer can match it.
    pub request_id: u64,
    /// What to do.
    pub op: KvOp,
}

/// The operations of [`KvCommand`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KvOp {
    /// Set `key` to `value`.
    Put {
        /// The key.
        key: Bytes,
        /// The new value.
        value: Bytes,
    },
    /// Remove `key`.
    Delete {
        /// The key.
        key: Bytes,
    },
}

const PUT: u8 = 0;
const DELETE: u8 = 1;

impl KvCommand {
    /// Binary form, stored as the entry payload.
    pub fn encode(&self) -> Bytes {
        let mut buf = BytesMut::new();
        put_varint(&mut buf, self.request_id);
        match &self.op {
            KvOp::Put { key, value } => {
                buf.extend_from_slice(&[PUT]);
                put_bytes(&mut buf, key);
                put_bytes(&mut buf, value);
            }
            KvOp::Delete { key } => {
                buf.extend_from_slice(&[DELETE]);
                put_bytes(&mut buf, key);
            }
        }
        buf.freeze()
    }

    /// Parses a payload written by [`KvCommand::encode`].
    pub fn decode(buf: &[u8]) -> Result<Self> {
        let mut r = Reader::new(buf);
        let request_id = r.varint()?;
        let offset = r.position();
        let op = match r.u8()? {
            PUT => KvOp::Put {
                key: r.bytes()?,
                value: r.bytes()?,
            },
            DELETE => KvOp::Delete { key: r.bytes()? },
            tag => {
                return Err(Error::malformed(
                    offset,
                    Malformed::UnknownTag { what: "kv op", tag },
                ));
            }
        };
        r.finish()?;
        Ok(KvCommand { request_id, op })
    }
}

/// What applying a [`KvCommand`] answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvResponse {
    /// The command's `request_id` (0 if the payload did not decode).
    pub request_id: u64,
    /// The value the key had before the command.
    pub previous: Option<Bytes>,
}

/// An ordered in-memory key-value map.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KvStateMachine {
    map: BTreeMap<Bytes, Bytes>,
    applied: Index,
}

impl KvStateMachine {
    /// The value of `key`.
    pub fn get(&self, key: &[u8]) -> Option<&Bytes> {
        self.map.get(key)
    }

    /// Index of the last applied command.
    pub fn applied(&self) -> Index {
        self.applied
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

impl StateMachine for KvStateMachine {
    type Response = KvResponse;

    fn apply(&mut self, index: Index, command: &[u8]) -> KvResponse {
        self.applied = index;
        // A payload that does not decode is applied as a no-op on every replica alike.
        let Ok(cmd) = KvCommand::decode(command) else {
            return KvResponse {
                request_id: 0,
                previous: None,
            };
        };
        let previous = match cmd.op {
            KvOp::Put { key, value } => self.map.insert(key, value),
            KvOp::Delete { key } => self.map.remove(&key),
        };
        KvResponse {
            request_id: cmd.request_id,
            previous,
        }
    }

    fn snapshot(&self) -> Bytes {
        let mut buf = BytesMut::new();
        put_varint(&mut buf, self.map.len() as u64);
        for (k, v) in &self.map {
            put_bytes(&mut buf, k);
            put_bytes(&mut buf, v);
        }
        buf.freeze()
    }

    fn restore(&mut self, snapshot: &Snapshot) -> Result<()> {
        let mut r = Reader::new(&snapshot.data);
        let mut map = BTreeMap::new();
        if !snapshot.data.is_empty() {
            let n = r.varint()?;
            for _ in 0..n {
                let k = r.bytes()?;
                let v = r.bytes()?;
                map.insert(k, v);
            }
            r.finish()?;
        }
        self.map = map;
        self.applied = snapshot.meta.index;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft::types::SnapshotMeta;

    fn put(id: u64, k: &str, v: &str) -> Bytes {
        KvCommand {
            request_id: id,
            op: KvOp::Put {
                key: Bytes::copy_from_slice(k.as_bytes()),
                value: Bytes::copy_from_slice(v.as_bytes()),
            },
        }
        .encode()
    }

    #[test]
    fn apply_snapshot_restore_round_trip() {
        let mut sm = KvStateMachine::default();
        assert_eq!(sm.apply(1, &put(7, "a", "1")).request_id, 7);
        let r = sm.apply(2, &put(8, "a", "2"));
        assert_eq!(r.previous.as_deref(), Some(&b"1"[..]));
        sm.apply(3, &put(9, "b", "3"));
        let snap = Snapshot {
            meta: SnapshotMeta {
                index: 3,
                ..Default::default()
            },
            data: sm.snapshot(),
        };
        let mut other = KvStateMachine::default();
        other.restore(&snap).unwrap();
        assert_eq!(other, sm);
    }

    #[test]
    fn bad_snapshot_is_an_error_and_bad_command_a_no_op() {
        let snap = Snapshot {
            meta: SnapshotMeta::default(),
            data: Bytes::from_static(&[5, 1]),
        };
        assert!(KvStateMachine::default().restore(&snap).is_err());
        let mut sm = KvStateMachine::default();
        sm.apply(1, &[0xff]);
        assert!(sm.is_empty());
    }
}
