//! raft-kv has one error type, `raft_kv::Error`: the codec, storage, the core,
//! the transport and the node all fail with it, and decoders tell "the input
//! ended early" (`Incomplete`) apart from "the input is invalid" (`Malformed`).

use std::time::Duration;

use bytes::Bytes;
use raft_kv::node::{KvMachine, NodeConfig, start_node};
use raft_kv::raft::{
    Codec, ConfState, Config, Entry, HardState, MemStorage, RawNode, Snapshot, SnapshotMeta,
    StateMachine,
};
use raft_kv::storage::{DiskStorage, SnapshotFile, WalOptions};
use raft_kv::transport::wire::read_frame;
use raft_kv::{Error, Malformed};

#[tokio::test]
async fn every_layer_fails_with_the_crate_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut errors: Vec<(&str, Error)> = Vec::new();

    // Codec.
    errors.push(("codec", Entry::decode(&[]).expect_err("empty entry")));
    // Storage: a data directory that is a file.
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").expect("write");
    let storage = DiskStorage::open(&file, WalOptions::default(), ConfState::with_voters([1]));
    errors.push(("storage", storage.expect_err("a file is no directory")));
    // Consensus core: a follower refuses proposals.
    let mut raw = RawNode::new(
        Config::new(1),
        MemStorage::new(ConfState::with_voters([1, 2])),
    )
    .expect("raw node");
    errors.push((
        "core",
        raw.propose(Bytes::from_static(b"x"))
            .expect_err("no leader"),
    ));
    // State machine: a snapshot that does not decode.
    let snapshot = Snapshot {
        meta: SnapshotMeta {
            index: 9,
            ..SnapshotMeta::default()
        },
        data: Bytes::from_static(b"\x01"),
    };
    errors.push((
        "state machine",
        KvMachine::default()
            .restore(&snapshot)
            .expect_err("bad snapshot"),
    ));
    // Transport: a stream cut inside a frame's length prefix.
    let mut cut: &[u8] = &[1, 0];
    errors.push((
        "transport",
        read_frame(&mut cut, 1 << 10, &mut Vec::new())
            .await
            .expect_err("truncated"),
    ));
    // Node: a request to a stopped node.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let members = vec![(1, listener.local_addr().expect("addr"))];
    let mut config = NodeConfig::new(1, members, dir.path().join("node"));
    config.tick = Duration::from_millis(10);
    let node = start_node(config, listener, KvMachine::default())
        .await
        .expect("start");
    node.handle.stop().await;
    node.task.await.expect("join").expect("clean stop");
    errors.push((
        "node",
        node.handle
            .propose(Bytes::from_static(b"x"))
            .await
            .expect_err("stopped"),
    ));

    for (layer, error) in &errors {
        let expected = match *layer {
            "codec" => matches!(error, Error::Incomplete { .. }),
            "storage" => matches!(error, Error::Io { .. }),
            "core" => matches!(error, Error::NotLeader { leader: None }),
            "state machine" => matches!(error, Error::BadSnapshot { index: 9 }),
            "transport" => matches!(
                error,
                Error::TruncatedFrame {
                    received: 2,
                    expected: 4,
                    ..
                }
            ),
            _ => matches!(error, Error::Stopped),
        };
        assert!(expected, "{layer}: {error:?}");
    }
}

#[test]
fn decoders_keep_incomplete_apart_from_malformed() {
    let whole = HardState {
        term: 300,
        vote: Some(2),
        commit: 5,
    }
    .to_bytes();
    for cut in 0..whole.len() {
        assert!(
            matches!(
                HardState::decode(&whole[..cut]),
                Err(Error::Incomplete { .. })
            ),
            "cut at {cut}"
        );
    }
    let mut padded = whole.to_vec();
    padded.push(0);
    assert!(matches!(
        HardState::decode(&padded),
        Err(Error::Malformed {
            kind: Malformed::TrailingBytes { count: 1 },
            ..
        })
    ));
    assert!(matches!(
        HardState::decode(&[0x80, 0x00, 0, 0]),
        Err(Error::Malformed {
            offset: 0,
            kind: Malformed::Varint
        })
    ));
}

#[test]
fn a_damaged_file_names_itself_and_keeps_the_decoder_error_as_its_source() {
    let dir = tempfile::tempdir().expect("tempdir");
    let snapshots = SnapshotFile::open(dir.path()).expect("open");
    // A checked-file container around a version-1 header cut before its metadata length.
    let payload = [0xff, 0xff, 0xff, 0xff, 1, 0, 0, 0, 7];
    raft_kv::storage::atomic_file::write_atomically(dir.path(), "snapshot", &payload)
        .expect("write");
    let error = snapshots.load().expect_err("cut file");
    let Error::FileDecode {
        what, path, offset, ..
    } = &error
    else {
        panic!("expected FileDecode, got {error:?}");
    };
    assert_eq!((*what, path, *offset), ("snapshot", &snapshots.path(), 9));
    let source = std::error::Error::source(&error)
        .and_then(|s| s.downcast_ref::<Box<Error>>())
        .expect("the decoder's error is the source");
    assert!(matches!(
        **source,
        Error::Incomplete {
            offset: 9,
            needed: 3
        }
    ));
}
