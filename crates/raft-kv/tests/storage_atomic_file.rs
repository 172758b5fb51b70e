//! Atomically replaced, checksummed files (hard state, snapshots).

use raft_kv::Error;
use raft_kv::storage::atomic_file::{read_checked, remove_temp_files, write_atomically};

#[test]
fn write_replace_and_read_back() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("state");
    assert_eq!(read_checked(&path).expect("read missing"), None);
    write_atomically(tmp.path(), "state", b"first").expect("write");
    assert_eq!(
        read_checked(&path).expect("read").as_deref(),
        Some(&b"first"[..])
    );
    write_atomically(tmp.path(), "state", b"second, longer").expect("replace");
    assert_eq!(
        read_checked(&path).expect("read").as_deref(),
        Some(&b"second, longer"[..])
    );
    assert!(
        !tmp.path().join("state.tmp").exists(),
        "temp file left behind"
    );
}

#[test]
fn every_damaged_byte_is_reported_with_file_and_offset() {
    let tmp = tempfile::tempdir().expect("tempdir");
    write_atomically(tmp.path(), "state", b"some durable state").expect("write");
    let path = tmp.path().join("state");
    let clean = std::fs::read(&path).expect("read");
    for at in 0..clean.len() {
        let mut damaged = clean.clone();
        damaged[at] ^= 0x10;
        std::fs::write(&path, &damaged).expect("write");
        match read_checked(&path) {
            Err(Error::Corrupt { path: p, .. }) => assert_eq!(p, path),
            other => panic!("damage at byte {at} not reported: {other:?}"),
        }
    }
}

#[test]
fn truncated_file_is_reported() {
    let tmp = tempfile::tempdir().expect("tempdir");
    write_atomically(tmp.path(), "state", b"some durable state").expect("write");
    let path = tmp.path().join("state");
    let clean = std::fs::read(&path).expect("read");
    for len in 0..clean.len() {
        std::fs::write(&path, &clean[..len]).expect("write");
        assert!(
            matches!(read_checked(&path), Err(Error::Corrupt { .. })),
            "truncation to {len} bytes not reported"
        );
    }
}

#[test]
fn interrupted_write_leaves_the_old_contents() {
    let tmp = tempfile::tempdir().expect("tempdir");
    write_atomically(tmp.path(), "state", b"old").expect("write");
    // A crash before the rename leaves only a partial temp file.
    std::fs::write(tmp.path().join("state.tmp"), b"HKFILEv1 partial").expect("write");
    assert_eq!(
        read_checked(&tmp.path().join("state"))
            .expect("read")
            .as_deref(),
        Some(&b"old"[..])
    );
    remove_temp_files(tmp.path()).expect("clean");
    assert!(!tmp.path().join("state.tmp").exists());
}
