//! Compact binary encoding of [`Entry`], [`HardState`], [`SnapshotMeta`], [`ConfChange`]
//! and [`Message`], used by the write-ahead log and the peer transport.
//!
//! Integers are LEB128 varints in their shortest form (a longer one is refused), byte
//! strings are a varint length followed by the bytes,
//! enums are a one-byte tag. There is no framing here: the WAL and the transport add their
//! own length and checksum. `decode` consumes the whole buffer and rejects trailing bytes,
//! so a record is either understood exactly or refused; bad input is an error, never a panic.
//!
//! Tags are part of the on-disk and on-wire format: never renumber them, only add new ones.

use std::collections::BTreeMap;

use bytes::{BufMut, Bytes, BytesMut};

use super::message::{Message, MessageBody};
use super::types::{
    ConfChange, ConfChangeKind, ConfState, Entry, EntryKind, HardState, NodeId, SnapshotMeta,
};
use crate::error::{Error, Malformed};

/// A value with a binary form.
pub trait Codec: Sized {
    /// Appends the encoding of `self` to `buf`.
    fn encode(&self, buf: &mut BytesMut);
    /// Decodes a value that occupies all of `buf`.
    fn decode(buf: &[u8]) -> Result<Self, Error>;
    /// The encoding as a fresh buffer.
    fn to_bytes(&self) -> Bytes {
        let mut buf = BytesMut::new();
        self.encode(&mut buf);
        buf.freeze()
    }
}

pub(crate) fn put_varint(buf: &mut BytesMut, mut v: u64) {
    while v >= 0x80 {
        buf.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    buf.put_u8(v as u8);
}

pub(crate) fn put_bytes(buf: &mut BytesMut, b: &[u8]) {
    put_varint(buf, b.len() as u64);
    buf.put_slice(b);
}

fn put_bool(buf: &mut BytesMut, b: bool) {
    buf.put_u8(u8::from(b));
}

fn put_ids(buf: &mut BytesMut, ids: &[NodeId]) {
    put_varint(buf, ids.len() as u64);
    for &id in ids {
        put_varint(buf, id);
    }
}

/// A cursor over the input that never reads past its end.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Offset of the next byte to read.
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub(crate) fn finish(&self) -> Result<(), Error> {
        match self.remaining() {
            0 => Ok(()),
            count => Err(Error::malformed(
                self.pos,
                Malformed::TrailingBytes { count },
            )),
        }
    }

    pub(crate) fn u8(&mut self) -> Result<u8, Error> {
        let b = *self.buf.get(self.pos).ok_or(Error::Incomplete {
            offset: self.pos,
            needed: 1,
        })?;
        self.pos += 1;
        Ok(b)
    }

    pub(crate) fn varint(&mut self) -> Result<u64, Error> {
        let start = self.pos;
        let mut value: u64 = 0;
        for shift in (0..70).step_by(7) {
            let b = self.u8().map_err(|_| Error::Incomplete {
                offset: start,
                needed: 1,
            })?;
            let low = u64::from(b & 0x7f);
            if shift == 63 && low > 1 {
                return Err(Error::malformed(start, Malformed::Varint));
            }
            value |= low << shift;
            if b & 0x80 == 0 {
                // A final zero byte after a continuation adds nothing: the same value has
                // a shorter encoding (0x80 0x00 for 0).
                if b == 0 && shift > 0 {
                    return Err(Error::malformed(start, Malformed::Varint));
                }
                return Ok(value);
            }
        }
        Err(Error::malformed(start, Malformed::Varint))
    }

    fn bool(&mut self) -> Result<bool, Error> {
        let offset = self.pos;
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            tag => Err(Error::malformed(
                offset,
                Malformed::UnknownTag { what: "bool", tag },
            )),
        }
    }

    /// Reads a length and checks it against the bytes left, assuming each item needs at
    /// least `min_item` bytes, so a forged count cannot make us allocate without bound.
    fn length(&mut self, what: &'static str, min_item: usize) -> Result<usize, Error> {
        let offset = self.pos;
        let len = self.varint()?;
        let max = (self.remaining() / min_item.max(1)) as u64;
        if len > max {
            return Err(Error::malformed(offset, Malformed::Length { what, len }));
        }
        Ok(len as usize)
    }

    pub(crate) fn bytes(&mut self) -> Result<Bytes, Error> {
        let len = self.length("bytes", 1)?;
        let out = Bytes::copy_from_slice(&self.buf[self.pos..self.pos + len]);
        self.pos += len;
        Ok(out)
    }

    fn ids(&mut self) -> Result<Vec<NodeId>, Error> {
        let n = self.length("id list", 1)?;
        (0..n).map(|_| self.varint()).collect()
    }

    fn tag<T>(&mut self, what: &'static str, from: impl Fn(u8) -> Option<T>) -> Result<T, Error> {
        let offset = self.pos;
        let tag = self.u8()?;
        from(tag).ok_or(Error::malformed(
            offset,
            Malformed::UnknownTag { what, tag },
        ))
    }
}

fn encode_entry(e: &Entry, buf: &mut BytesMut) {
    put_varint(buf, e.term);
    put_varint(buf, e.index);
    buf.put_u8(e.kind.to_wire());
    put_bytes(buf, &e.data);
}

fn read_entry(r: &mut Reader<'_>) -> Result<Entry, Error> {
    let term = r.varint()?;
    let index = r.varint()?;
    let kind = r.tag("entry kind", EntryKind::from_wire)?;
    let data = r.bytes()?;
    Ok(Entry {
        term,
        index,
        kind,
        data,
    })
}

fn encode_meta(m: &SnapshotMeta, buf: &mut BytesMut) {
    put_varint(buf, m.index);
    put_varint(buf, m.term);
    put_ids(buf, &m.conf_state.voters);
    put_ids(buf, &m.conf_state.learners);
    put_contexts(buf, &m.conf_state.contexts);
}

fn put_contexts(buf: &mut BytesMut, contexts: &BTreeMap<NodeId, Bytes>) {
    put_varint(buf, contexts.len() as u64);
    for (&id, context) in contexts {
        put_varint(buf, id);
        put_bytes(buf, context);
    }
}

fn read_contexts(r: &mut Reader<'_>) -> Result<BTreeMap<NodeId, Bytes>, Error> {
    // An id and an empty context take at least two bytes.
    let n = r.length("member context map", 2)?;
    let mut contexts = BTreeMap::new();
    let mut previous = None;
    for _ in 0..n {
        let offset = r.pos;
        let id = r.varint()?;
        if previous.is_some_and(|p| id <= p) {
            return Err(Error::malformed(
                offset,
                Malformed::Unordered {
                    what: "member context map",
                },
            ));
        }
        previous = Some(id);
        contexts.insert(id, r.bytes()?);
    }
    Ok(contexts)
}

fn read_meta(r: &mut Reader<'_>) -> Result<SnapshotMeta, Error> {
    let mut meta = read_meta_without_contexts(r)?;
    meta.conf_state.contexts = read_contexts(r)?;
    Ok(meta)
}

/// The snapshot metadata as written before member contexts existed (snapshot file format
/// version 0, peer wire version 1).
fn read_meta_without_contexts(r: &mut Reader<'_>) -> Result<SnapshotMeta, Error> {
    let index = r.varint()?;
    let term = r.varint()?;
    let voters = r.ids()?;
    let learners = r.ids()?;
    Ok(SnapshotMeta {
        index,
        term,
        conf_state: ConfState {
            voters,
            learners,
            contexts: BTreeMap::new(),
        },
    })
}

/// Decodes [`SnapshotMeta`] in its old form, without member contexts (which come out
/// empty), as snapshot files of format version 0 hold it.
pub(crate) fn decode_meta_without_contexts(buf: &[u8]) -> Result<SnapshotMeta, Error> {
    let mut r = Reader::new(buf);
    let m = read_meta_without_contexts(&mut r)?;
    r.finish()?;
    Ok(m)
}

impl Codec for Entry {
    fn encode(&self, buf: &mut BytesMut) {
        encode_entry(self, buf);
    }

    fn decode(buf: &[u8]) -> Result<Self, Error> {
        let mut r = Reader::new(buf);
        let e = read_entry(&mut r)?;
        r.finish()?;
        Ok(e)
    }
}

impl Codec for HardState {
    fn encode(&self, buf: &mut BytesMut) {
        put_varint(buf, self.term);
        // 0 is never a node id, so it stands for "no vote".
        put_varint(buf, self.vote.unwrap_or(0));
        put_varint(buf, self.commit);
    }

    fn decode(buf: &[u8]) -> Result<Self, Error> {
        let mut r = Reader::new(buf);
        let term = r.varint()?;
        let vote = r.varint()?;
        let commit = r.varint()?;
        r.finish()?;
        Ok(HardState {
            term,
            vote: (vote != 0).then_some(vote),
            commit,
        })
    }
}

impl Codec for SnapshotMeta {
    fn encode(&self, buf: &mut BytesMut) {
        encode_meta(self, buf);
    }

    fn decode(buf: &[u8]) -> Result<Self, Error> {
        let mut r = Reader::new(buf);
        let m = read_meta(&mut r)?;
        r.finish()?;
        Ok(m)
    }
}

impl Codec for ConfChange {
    fn encode(&self, buf: &mut BytesMut) {
        buf.put_u8(self.kind.to_wire());
        put_varint(buf, self.node_id);
        put_bytes(buf, &self.context);
    }

    fn decode(buf: &[u8]) -> Result<Self, Error> {
        let mut r = Reader::new(buf);
        let kind = r.tag("conf change kind", ConfChangeKind::from_wire)?;
        let node_id = r.varint()?;
        let context = r.bytes()?;
        r.finish()?;
        Ok(ConfChange {
            kind,
            node_id,
            context,
        })
    }
}

// Message body tags (wire format, never renumber).
const PRE_VOTE: u8 = 1;
const PRE_VOTE_RESPONSE: u8 = 2;
const VOTE: u8 = 3;
const VOTE_RESPONSE: u8 = 4;
const APPEND: u8 = 5;
const APPEND_RESPONSE: u8 = 6;
const HEARTBEAT: u8 = 7;
const HEARTBEAT_RESPONSE: u8 = 8;
const INSTALL_SNAPSHOT: u8 = 9;
const INSTALL_SNAPSHOT_RESPONSE: u8 = 10;
const TIMEOUT_NOW: u8 = 11;
const READ_INDEX: u8 = 12;
const READ_INDEX_RESPONSE: u8 = 13;

impl Codec for Message {
    fn encode(&self, buf: &mut BytesMut) {
        put_varint(buf, self.from);
        put_varint(buf, self.to);
        put_varint(buf, self.term);
        match &self.body {
            MessageBody::PreVote {
                last_index,
                last_term,
            } => {
                buf.put_u8(PRE_VOTE);
                put_varint(buf, *last_index);
                put_varint(buf, *last_term);
            }
            MessageBody::PreVoteResponse { reject } => {
                buf.put_u8(PRE_VOTE_RESPONSE);
                put_bool(buf, *reject);
            }
            MessageBody::Vote {
                last_index,
                last_term,
                transfer,
            } => {
                buf.put_u8(VOTE);
                put_varint(buf, *last_index);
                put_varint(buf, *last_term);
                put_bool(buf, *transfer);
            }
            MessageBody::VoteResponse { reject } => {
                buf.put_u8(VOTE_RESPONSE);
                put_bool(buf, *reject);
            }
            MessageBody::Append {
                prev_index,
                prev_term,
                entries,
                commit,
            } => {
                buf.put_u8(APPEND);
                put_varint(buf, *prev_index);
                put_varint(buf, *prev_term);
                put_varint(buf, *commit);
                put_varint(buf, entries.len() as u64);
                for e in entries {
                    encode_entry(e, buf);
                }
            }
            MessageBody::AppendResponse {
                reject,
                index,
                reject_hint,
                reject_hint_term,
            } => {
                buf.put_u8(APPEND_RESPONSE);
                put_bool(buf, *reject);
                put_varint(buf, *index);
                put_varint(buf, *reject_hint);
                put_varint(buf, *reject_hint_term);
            }
            MessageBody::Heartbeat { commit, read_seq } => {
                buf.put_u8(HEARTBEAT);
                put_varint(buf, *commit);
                put_varint(buf, *read_seq);
            }
            MessageBody::HeartbeatResponse { read_seq } => {
                buf.put_u8(HEARTBEAT_RESPONSE);
                put_varint(buf, *read_seq);
            }
            MessageBody::InstallSnapshot {
                meta,
                offset,
                data,
                done,
            } => {
                buf.put_u8(INSTALL_SNAPSHOT);
                encode_meta(meta, buf);
                put_varint(buf, *offset);
                put_bytes(buf, data);
                put_bool(buf, *done);
            }
            MessageBody::InstallSnapshotResponse {
                index,
                next_offset,
                reject,
                done,
            } => {
                buf.put_u8(INSTALL_SNAPSHOT_RESPONSE);
                put_varint(buf, *index);
                put_varint(buf, *next_offset);
                put_bool(buf, *reject);
                put_bool(buf, *done);
            }
            MessageBody::TimeoutNow => buf.put_u8(TIMEOUT_NOW),
            MessageBody::ReadIndex { context } => {
                buf.put_u8(READ_INDEX);
                put_bytes(buf, context);
            }
            MessageBody::ReadIndexResponse { context, index } => {
                buf.put_u8(READ_INDEX_RESPONSE);
                put_bytes(buf, context);
                put_varint(buf, *index);
            }
        }
    }

    fn decode(buf: &[u8]) -> Result<Self, Error> {
        let mut r = Reader::new(buf);
        let from = r.varint()?;
        let to = r.varint()?;
        let term = r.varint()?;
        let offset = r.pos;
        let body = match r.u8()? {
            PRE_VOTE => MessageBody::PreVote {
                last_index: r.varint()?,
                last_term: r.varint()?,
            },
            PRE_VOTE_RESPONSE => MessageBody::PreVoteResponse { reject: r.bool()? },
            VOTE => MessageBody::Vote {
                last_index: r.varint()?,
                last_term: r.varint()?,
                transfer: r.bool()?,
            },
            VOTE_RESPONSE => MessageBody::VoteResponse { reject: r.bool()? },
            APPEND => {
                let prev_index = r.varint()?;
                let prev_term = r.varint()?;
                let commit = r.varint()?;
                // An encoded entry takes at least four bytes.
                let n = r.length("entry list", 4)?;
                let mut entries = Vec::with_capacity(n);
                for _ in 0..n {
                    entries.push(read_entry(&mut r)?);
                }
                MessageBody::Append {
                    prev_index,
                    prev_term,
                    entries,
                    commit,
                }
            }
            APPEND_RESPONSE => MessageBody::AppendResponse {
                reject: r.bool()?,
                index: r.varint()?,
                reject_hint: r.varint()?,
                reject_hint_term: r.varint()?,
            },
            HEARTBEAT => MessageBody::Heartbeat {
                commit: r.varint()?,
                read_seq: r.varint()?,
            },
            HEARTBEAT_RESPONSE => MessageBody::HeartbeatResponse {
                read_seq: r.varint()?,
            },
            INSTALL_SNAPSHOT => MessageBody::InstallSnapshot {
                meta: read_meta(&mut r)?,
                offset: r.varint()?,
                data: r.bytes()?,
                done: r.bool()?,
            },
            INSTALL_SNAPSHOT_RESPONSE => MessageBody::InstallSnapshotResponse {
                index: r.varint()?,
                next_offset: r.varint()?,
                reject: r.bool()?,
                done: r.bool()?,
            },
            TIMEOUT_NOW => MessageBody::TimeoutNow,
            READ_INDEX => MessageBody::ReadIndex {
                context: r.bytes()?,
            },
            READ_INDEX_RESPONSE => MessageBody::ReadIndexResponse {
                context: r.bytes()?,
                index: r.varint()?,
            },
            tag => {
                return Err(Error::malformed(
                    offset,
                    Malformed::UnknownTag {
                        what: "message",
                        tag,
                    },
                ));
            }
        };
        r.finish()?;
        Ok(Message {
            from,
            to,
            term,
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arb_bytes() -> impl Strategy<Value = Bytes> {
        proptest::collection::vec(any::<u8>(), 0..64).prop_map(Bytes::from)
    }

    fn arb_entry() -> impl Strategy<Value = Entry> {
        (any::<u64>(), any::<u64>(), any::<bool>(), arb_bytes()).prop_map(
            |(term, index, conf, data)| Entry {
                term,
                index,
                kind: if conf {
                    EntryKind::ConfChange
                } else {
                    EntryKind::Normal
                },
                data,
            },
        )
    }

    fn arb_ids() -> impl Strategy<Value = Vec<u64>> {
        proptest::collection::vec(any::<u64>(), 0..6)
    }

    fn arb_contexts() -> impl Strategy<Value = BTreeMap<u64, Bytes>> {
        proptest::collection::btree_map(any::<u64>(), arb_bytes(), 0..4)
    }

    fn arb_meta() -> impl Strategy<Value = SnapshotMeta> {
        (
            any::<u64>(),
            any::<u64>(),
            arb_ids(),
            arb_ids(),
            arb_contexts(),
        )
            .prop_map(|(index, term, voters, learners, contexts)| SnapshotMeta {
                index,
                term,
                conf_state: ConfState {
                    voters,
                    learners,
                    contexts,
                },
            })
    }

    fn arb_body() -> impl Strategy<Value = MessageBody> {
        prop_oneof![
            (any::<u64>(), any::<u64>()).prop_map(|(last_index, last_term)| {
                MessageBody::PreVote {
                    last_index,
                    last_term,
                }
            }),
            any::<bool>().prop_map(|reject| MessageBody::PreVoteResponse { reject }),
            (any::<u64>(), any::<u64>(), any::<bool>()).prop_map(
                |(last_index, last_term, transfer)| MessageBody::Vote {
                    last_index,
                    last_term,
                    transfer,
                }
            ),
            any::<bool>().prop_map(|reject| MessageBody::VoteResponse { reject }),
            (
                any::<u64>(),
                any::<u64>(),
                proptest::collection::vec(arb_entry(), 0..5),
                any::<u64>()
            )
                .prop_map(|(prev_index, prev_term, entries, commit)| {
                    MessageBody::Append {
                        prev_index,
                        prev_term,
                        entries,
                        commit,
                    }
                }),
            (any::<bool>(), any::<u64>(), any::<u64>(), any::<u64>()).prop_map(
                |(reject, index, reject_hint, reject_hint_term)| MessageBody::AppendResponse {
                    reject,
                    index,
                    reject_hint,
                    reject_hint_term,
                }
            ),
            (any::<u64>(), any::<u64>())
                .prop_map(|(commit, read_seq)| MessageBody::Heartbeat { commit, read_seq }),
            any::<u64>().prop_map(|read_seq| MessageBody::HeartbeatResponse { read_seq }),
            (arb_meta(), any::<u64>(), arb_bytes(), any::<bool>()).prop_map(
                |(meta, offset, data, done)| MessageBody::InstallSnapshot {
                    meta,
                    offset,
                    data,
                    done,
                }
            ),
            (any::<u64>(), any::<u64>(), any::<bool>(), any::<bool>()).prop_map(
                |(index, next_offset, reject, done)| MessageBody::InstallSnapshotResponse {
                    index,
                    next_offset,
                    reject,
                    done,
                }
            ),
            Just(MessageBody::TimeoutNow),
            arb_bytes().prop_map(|context| MessageBody::ReadIndex { context }),
            (arb_bytes(), any::<u64>())
                .prop_map(|(context, index)| MessageBody::ReadIndexResponse { context, index }),
        ]
    }

    fn arb_message() -> impl Strategy<Value = Message> {
        (any::<u64>(), any::<u64>(), any::<u64>(), arb_body()).prop_map(|(from, to, term, body)| {
            Message {
                from,
                to,
                term,
                body,
            }
        })
    }

    proptest! {
        #[test]
        fn entry_round_trips(e in arb_entry()) {
            prop_assert_eq!(Entry::decode(&e.to_bytes()).ok(), Some(e));
        }

        #[test]
        fn hard_state_round_trips(term in any::<u64>(), vote in any::<u64>(), commit in any::<u64>()) {
            let hs = HardState { term, vote: (vote != 0).then_some(vote), commit };
            prop_assert_eq!(HardState::decode(&hs.to_bytes()).ok(), Some(hs));
        }

        #[test]
        fn snapshot_meta_round_trips(m in arb_meta()) {
            prop_assert_eq!(SnapshotMeta::decode(&m.to_bytes()).ok(), Some(m));
        }

        #[test]
        fn conf_change_round_trips(kind in 0u8..3, node_id in any::<u64>(), context in arb_bytes()) {
            let cc = ConfChange { kind: ConfChangeKind::from_wire(kind).unwrap(), node_id, context };
            prop_assert_eq!(ConfChange::decode(&cc.to_bytes()).ok(), Some(cc));
        }

        #[test]
        fn message_round_trips(m in arb_message()) {
            prop_assert_eq!(Message::decode(&m.to_bytes()).ok(), Some(m));
        }

        #[test]
        fn every_strict_prefix_of_a_message_is_an_error(m in arb_message()) {
            let bytes = m.to_bytes();
            for cut in 0..bytes.len() {
                prop_assert!(Message::decode(&bytes[..cut]).is_err());
            }
        }

        #[test]
        fn varints_decode_exactly_their_canonical_encoding(
            data in proptest::collection::vec(any::<u8>(), 0..12)
        ) {
            let mut r = Reader::new(&data);
            if let Ok(value) = r.varint() {
                let mut canonical = BytesMut::new();
                put_varint(&mut canonical, value);
                prop_assert_eq!(&canonical[..], &data[..r.pos]);
            }
        }

        #[test]
        fn accepted_input_re_encodes_to_the_same_bytes(
            selector in 0u8..6,
            data in proptest::collection::vec(any::<u8>(), 0..48),
        ) {
            let again = match selector {
                0 => Message::decode(&data).map(|v| v.to_bytes()),
                1 => Entry::decode(&data).map(|v| v.to_bytes()),
                2 => HardState::decode(&data).map(|v| v.to_bytes()),
                3 => SnapshotMeta::decode(&data).map(|v| v.to_bytes()),
                4 => ConfChange::decode(&data).map(|v| v.to_bytes()),
                _ => crate::raft::KvCommand::decode(&data).map(|v| v.encode()),
            };
            if let Ok(bytes) = again {
                prop_assert_eq!(&bytes[..], &data[..]);
            }
        }

        #[test]
        fn padded_encodings_are_refused(m in arb_message(), at in any::<prop::sample::Index>()) {
            // Pad one varint of a valid message with a redundant 0x80 .. 0x00 byte: it
            // decodes to the same value if accepted, so it must be refused.
            let bytes = m.to_bytes();
            let ends: Vec<usize> = (0..bytes.len()).filter(|&i| bytes[i] & 0x80 == 0).collect();
            let end = ends[at.index(ends.len())];
            let mut padded = bytes.to_vec();
            padded[end] |= 0x80;
            padded.insert(end + 1, 0x00);
            prop_assert!(Message::decode(&padded).ok() != Some(m));
        }

        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = Message::decode(&data);
            let _ = Entry::decode(&data);
            let _ = HardState::decode(&data);
            let _ = SnapshotMeta::decode(&data);
            let _ = ConfChange::decode(&data);
        }
    }

    #[test]
    fn trailing_bytes_are_rejected() {
        let mut buf = BytesMut::new();
        HardState::default().encode(&mut buf);
        buf.put_u8(0);
        assert!(matches!(
            HardState::decode(&buf),
            Err(Error::Malformed {
                offset: 3,
                kind: Malformed::TrailingBytes { count: 1 },
            })
        ));
    }

    #[test]
    fn member_contexts_must_be_in_increasing_id_order() {
        let mut meta = SnapshotMeta::default();
        meta.conf_state.contexts.insert(2, Bytes::from_static(b"b"));
        meta.conf_state.contexts.insert(5, Bytes::from_static(b"e"));
        let good = meta.to_bytes();
        assert_eq!(SnapshotMeta::decode(&good).ok(), Some(meta));
        // index, term, no voters, no learners, then two contexts: 5 before 2.
        let swapped = [0, 0, 0, 0, 2, 5, 1, b'e', 2, 1, b'b'];
        assert!(matches!(
            SnapshotMeta::decode(&swapped),
            Err(Error::Malformed {
                offset: 8,
                kind: Malformed::Unordered {
                    what: "member context map"
                }
            })
        ));
        let repeated = [0, 0, 0, 0, 2, 5, 1, b'e', 5, 1, b'b'];
        assert!(matches!(
            SnapshotMeta::decode(&repeated),
            Err(Error::Malformed {
                kind: Malformed::Unordered { .. },
                ..
            })
        ));
    }

    #[test]
    fn metadata_without_contexts_decodes_in_the_old_form_only() {
        let old = [7, 2, 3, 1, 2, 3, 1, 9];
        let meta = decode_meta_without_contexts(&old).unwrap();
        assert_eq!((meta.index, meta.term), (7, 2));
        assert_eq!(meta.conf_state.voters, vec![1, 2, 3]);
        assert_eq!(meta.conf_state.learners, vec![9]);
        assert!(meta.conf_state.contexts.is_empty());
        assert!(matches!(
            SnapshotMeta::decode(&old),
            Err(Error::Incomplete { .. })
        ));
    }

    #[test]
    fn non_minimal_varints_are_rejected() {
        // 0 as 0x80 0x00, 1 as 0x81 0x00, 127 padded to three bytes, and u64::MAX with
        // an eleventh byte.
        for bad in [
            &[0x80, 0x00][..],
            &[0x81, 0x00],
            &[0xff, 0x80, 0x00],
            &[
                0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x81, 0x00,
            ],
        ] {
            assert!(
                matches!(
                    Reader::new(bad).varint(),
                    Err(Error::Malformed {
                        offset: 0,
                        kind: Malformed::Varint
                    })
                ),
                "{bad:02x?}"
            );
        }
        // A zero byte is fine where it is the whole varint.
        assert_eq!(Reader::new(&[0x00]).varint().ok(), Some(0));
        let mut max = BytesMut::new();
        put_varint(&mut max, u64::MAX);
        assert_eq!(Reader::new(&max).varint().ok(), Some(u64::MAX));
        // Inside a value: a HardState with its commit index padded.
        assert!(matches!(
            HardState::decode(&[1, 0, 0x85, 0x00]),
            Err(Error::Malformed {
                offset: 2,
                kind: Malformed::Varint
            })
        ));
    }

    #[test]
    fn overlong_varint_is_rejected() {
        let bad = [0xffu8; 11];
        assert!(matches!(
            HardState::decode(&bad),
            Err(Error::Malformed {
                kind: Malformed::Varint,
                ..
            })
        ));
    }

    #[test]
    fn forged_entry_count_does_not_allocate() {
        let mut buf = BytesMut::new();
        put_varint(&mut buf, 1);
        put_varint(&mut buf, 2);
        put_varint(&mut buf, 3);
        buf.put_u8(APPEND);
        put_varint(&mut buf, 0);
        put_varint(&mut buf, 0);
        put_varint(&mut buf, 0);
        put_varint(&mut buf, u64::MAX);
        assert!(matches!(
            Message::decode(&buf),
            Err(Error::Malformed {
                kind: Malformed::Length { .. },
                ..
            })
        ));
    }
}
