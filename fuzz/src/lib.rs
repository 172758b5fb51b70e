//! The checks behind hakit's decoder fuzz targets, shared by the libFuzzer targets in
//! `fuzz_targets/` and by `tests/corpus_replay.rs`, which replays every committed corpus
//! file through them with plain `cargo test`.
//!
//! Each check takes arbitrary bytes, feeds them to one decoder and asserts what must hold:
//! no panic, and where an encoder exists, `decode(encode(x)) == x` and a decoded value
//! re-encodes to the same bytes every time. A failed assertion is a bug in the crate (or
//! in the check): the fuzzer saves the input, see `README.md`.

pub mod healthcheck;
pub mod raft_kv;
pub mod seeds;

/// A decoder check: panics when a property fails.
pub type Check = fn(&[u8]);

/// Every decoder target: its name (also its corpus folder) and its check.
pub const TARGETS: &[(&str, Check)] = &[
    ("raft_kv_message", raft_kv::message),
    ("raft_kv_codec", raft_kv::codec),
    ("raft_kv_wal_frame", raft_kv::wal_frame),
    ("raft_kv_wal_segment", raft_kv::wal_segment),
    ("raft_kv_wire", raft_kv::wire_stream),
    ("raft_kv_snapshot_file", raft_kv::snapshot_file),
    ("raft_kv_state_machines", raft_kv::state_machines),
    ("healthcheck_dns", healthcheck::dns),
    ("healthcheck_icmp", healthcheck::icmp),
    ("healthcheck_tcp", healthcheck::tcp),
    ("healthcheck_http", healthcheck::http_head),
    ("healthcheck_http_chunked", healthcheck::http_chunked),
    ("healthcheck_agent_reply", healthcheck::agent_reply),
];

/// Reads structure out of fuzz input; past the end it yields zeros and empty slices, so
/// every input means something.
pub struct ByteReader<'a> {
    data: &'a [u8],
}

impl<'a> ByteReader<'a> {
    /// A reader over `data`.
    pub fn new(data: &'a [u8]) -> Self {
        ByteReader { data }
    }

    /// Whether the input is used up.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The next byte, or 0.
    pub fn u8(&mut self) -> u8 {
        let (&first, rest) = self.data.split_first().unwrap_or((&0, &[]));
        self.data = rest;
        first
    }

    /// The next two bytes, big-endian.
    pub fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }

    /// Up to `n` next bytes.
    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let (taken, rest) = self.data.split_at(n.min(self.data.len()));
        self.data = rest;
        taken
    }

    /// Everything left.
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.data)
    }
}
