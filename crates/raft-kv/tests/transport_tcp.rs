//! The TCP peer transport on 127.0.0.1: delivery and order, reconnect with
//! backoff, bounded queues, snapshot streaming behind heartbeats, rejection of
//! garbage, and answering a peer at the address its handshake advertises (but
//! never instead of an address the transport was given).

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use raft_kv::raft::{Message, MessageBody, SnapshotMeta};
use raft_kv::transport::wire::{
    Handshake, encode_frame, encode_handshake, read_frame, read_handshake,
};
use raft_kv::transport::{SendOutcome, Transport, TransportConfig};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout};

const DEADLINE: Duration = Duration::from_secs(10);

fn heartbeat(from: u64, to: u64, seq: u64) -> Message {
    Message {
        from,
        to,
        term: 1,
        body: MessageBody::Heartbeat {
            commit: 0,
            read_seq: seq,
        },
    }
}

fn seq_of(m: &Message) -> u64 {
    match m.body {
        MessageBody::Heartbeat { read_seq, .. } => read_seq,
        _ => panic!("unexpected message {m:?}"),
    }
}

async fn listener() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").await.expect("bind")
}

async fn recv(inbox: &mut mpsc::Receiver<Message>) -> Message {
    timeout(DEADLINE, inbox.recv())
        .await
        .expect("message within deadline")
        .expect("inbox open")
}

fn fast_config() -> TransportConfig {
    TransportConfig {
        backoff_initial: Duration::from_millis(5),
        backoff_max: Duration::from_millis(50),
        ..TransportConfig::default()
    }
}

#[tokio::test]
async fn messages_arrive_in_order_both_ways() {
    let (la, lb) = (listener().await, listener().await);
    let (addr_a, addr_b) = (la.local_addr().unwrap(), lb.local_addr().unwrap());
    let (a, mut inbox_a) = Transport::start(1, la, [(2, addr_b)], fast_config()).unwrap();
    let (b, mut inbox_b) = Transport::start(2, lb, [(1, addr_a)], fast_config()).unwrap();
    for seq in 0..500 {
        assert_eq!(a.send(heartbeat(1, 2, seq)), SendOutcome::Queued);
        assert_eq!(b.send(heartbeat(2, 1, seq)), SendOutcome::Queued);
    }
    for seq in 0..500 {
        let m = recv(&mut inbox_b).await;
        assert_eq!((m.from, seq_of(&m)), (1, seq));
        let m = recv(&mut inbox_a).await;
        assert_eq!((m.from, seq_of(&m)), (2, seq));
    }
    assert_eq!(a.send(heartbeat(1, 9, 0)), SendOutcome::UnknownPeer);
    assert_eq!(b.stats().received, 500);
    // The sender counts a batch once its write returns, which may be just
    // after the receiver has it.
    let start = Instant::now();
    while a.stats().sent < 500 {
        assert!(start.elapsed() < DEADLINE, "sent {}", a.stats().sent);
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert_eq!(a.stats().sent, 500);
}

/// Reserves a loopback port nobody listens on (yet).
async fn unused_addr() -> SocketAddr {
    let l = listener().await;
    l.local_addr().unwrap()
}

#[tokio::test]
async fn reconnects_with_backoff_once_the_peer_comes_up() {
    let addr_b = unused_addr().await;
    let (a, _inbox_a) =
        Transport::start(1, listener().await, [(2, addr_b)], fast_config()).unwrap();
    // Wait until a has failed to dial a few times (condition, not a sleep).
    let start = Instant::now();
    while a.stats().connect_failures < 3 {
        assert!(start.elapsed() < DEADLINE, "no dial attempts seen");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let lb = TcpListener::bind(addr_b)
        .await
        .expect("rebind reserved port");
    let (_b, mut inbox_b) = Transport::start(2, lb, [], fast_config()).unwrap();
    // Messages sent while b was down may have been queued; keep sending until
    // one arrives, then check order from there on.
    let mut seq = 0;
    let first = loop {
        a.send(heartbeat(1, 2, seq));
        seq += 1;
        if let Ok(Some(m)) = timeout(Duration::from_millis(20), inbox_b.recv()).await {
            break m;
        }
        assert!(start.elapsed() < DEADLINE, "never connected");
    };
    assert_eq!(first.from, 1);
    assert!(a.stats().connects >= 1);
}

#[tokio::test]
async fn connection_loss_is_repaired() {
    let (la, lb) = (listener().await, listener().await);
    let addr_b = lb.local_addr().unwrap();
    let (a, _inbox_a) = Transport::start(1, la, [(2, addr_b)], fast_config()).unwrap();
    let (b, mut inbox_b) = Transport::start(2, lb, [], fast_config()).unwrap();
    a.send(heartbeat(1, 2, 0));
    assert_eq!(seq_of(&recv(&mut inbox_b).await), 0);
    // Restart b on the same port: a's connection breaks and must be redialed.
    b.shutdown();
    drop(b);
    drop(inbox_b);
    let start = Instant::now();
    let lb = loop {
        match TcpListener::bind(addr_b).await {
            Ok(l) => break l,
            Err(_) => {
                assert!(start.elapsed() < DEADLINE, "port never freed");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };
    let (_b, mut inbox_b) = Transport::start(2, lb, [], fast_config()).unwrap();
    let mut seq = 1;
    loop {
        a.send(heartbeat(1, 2, seq));
        seq += 1;
        if let Ok(Some(m)) = timeout(Duration::from_millis(20), inbox_b.recv()).await {
            assert_eq!(m.from, 1);
            break;
        }
        assert!(start.elapsed() < DEADLINE, "never reconnected");
    }
}

#[tokio::test]
async fn full_queue_refuses_instead_of_blocking() {
    let addr_b = unused_addr().await;
    let config = TransportConfig {
        queue_capacity: 8,
        ..fast_config()
    };
    let (a, _inbox) = Transport::start(1, listener().await, [(2, addr_b)], config).unwrap();
    let outcomes: Vec<SendOutcome> = (0..20).map(|s| a.send(heartbeat(1, 2, s))).collect();
    let queued = outcomes
        .iter()
        .filter(|o| **o == SendOutcome::Queued)
        .count();
    // The peer task may hold one message it took off the queue while dialing.
    assert!((8..=9).contains(&queued), "queued {queued} of 20");
    assert!(outcomes[19] == SendOutcome::QueueFull);
    assert_eq!(a.stats().dropped as usize, 20 - queued);
}

fn chunk(from: u64, to: u64, offset: u64, len: usize, done: bool) -> Message {
    Message {
        from,
        to,
        term: 1,
        body: MessageBody::InstallSnapshot {
            meta: SnapshotMeta {
                index: 100,
                term: 1,
                conf_state: Default::default(),
            },
            offset,
            data: Bytes::from(vec![(offset / len as u64) as u8; len]),
            done,
        },
    }
}

#[tokio::test]
async fn snapshot_chunks_stream_in_order_alongside_heartbeats() {
    let (la, lb) = (listener().await, listener().await);
    let addr_b = lb.local_addr().unwrap();
    let config = TransportConfig {
        snapshot_queue_capacity: 64,
        ..fast_config()
    };
    let (a, _inbox_a) = Transport::start(1, la, [(2, addr_b)], config.clone()).unwrap();
    let (_b, mut inbox_b) = Transport::start(2, lb, [], config).unwrap();
    let chunk_len = 64 << 10;
    let chunks = 48u64;
    for i in 0..chunks {
        assert_eq!(
            a.send(chunk(
                1,
                2,
                i * chunk_len as u64,
                chunk_len,
                i + 1 == chunks
            )),
            SendOutcome::Queued
        );
        assert_eq!(a.send(heartbeat(1, 2, i)), SendOutcome::Queued);
    }
    let (mut next_offset, mut next_seq) = (0u64, 0u64);
    let mut assembled = 0usize;
    while next_seq < chunks || next_offset < chunks * chunk_len as u64 {
        let m = recv(&mut inbox_b).await;
        match m.body {
            MessageBody::InstallSnapshot { offset, data, .. } => {
                assert_eq!(offset, next_offset, "chunks out of order");
                assert!(data.iter().all(|&b| b == (offset / chunk_len as u64) as u8));
                next_offset += data.len() as u64;
                assembled += data.len();
            }
            MessageBody::Heartbeat { read_seq, .. } => {
                assert_eq!(read_seq, next_seq, "heartbeats out of order");
                next_seq += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(assembled, chunks as usize * chunk_len);
}

#[tokio::test]
async fn garbage_and_impostors_are_rejected_without_harm() {
    let lb = listener().await;
    let addr_b = lb.local_addr().unwrap();
    let config = TransportConfig {
        max_frame_len: 1 << 20,
        ..fast_config()
    };
    let (b, mut inbox_b) = Transport::start(2, lb, [], config).unwrap();

    // 1: not a handshake at all.
    let mut s = TcpStream::connect(addr_b).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
    // 2: a valid handshake, then a frame longer than allowed.
    let mut s2 = TcpStream::connect(addr_b).await.unwrap();
    s2.write_all(&encode_handshake(7, None)).await.unwrap();
    s2.write_all(&(u32::MAX).to_le_bytes()).await.unwrap();
    // 3: a valid handshake, then a frame that does not decode.
    let mut s3 = TcpStream::connect(addr_b).await.unwrap();
    s3.write_all(&encode_handshake(7, None)).await.unwrap();
    s3.write_all(&[3, 0, 0, 0, 0xff, 0xff, 0xff]).await.unwrap();
    // 4: node 7 claiming to send as node 1.
    let mut s4 = TcpStream::connect(addr_b).await.unwrap();
    s4.write_all(&encode_handshake(7, None)).await.unwrap();
    let mut frame = bytes::BytesMut::new();
    encode_frame(&heartbeat(1, 2, 0), &mut frame);
    s4.write_all(&frame).await.unwrap();
    // 5: a node of wire version 2 (its handshake had no address).
    let mut s5 = TcpStream::connect(addr_b).await.unwrap();
    s5.write_all(b"HKRAFT\x02\x00\x07\x00\x00\x00\x00\x00\x00\x00")
        .await
        .unwrap();
    s5.write_all(&frame).await.unwrap();

    let start = Instant::now();
    while b.stats().rejected_connections < 5 {
        assert!(
            start.elapsed() < DEADLINE,
            "only {} rejections",
            b.stats().rejected_connections
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(inbox_b.try_recv().is_err(), "garbage reached the node");

    // A real peer still gets through.
    let (a, _inbox_a) =
        Transport::start(1, listener().await, [(2, addr_b)], fast_config()).unwrap();
    a.send(heartbeat(1, 2, 42));
    assert_eq!(seq_of(&recv(&mut inbox_b).await), 42);
}

mod arbitrary_bytes {
    use proptest::prelude::*;
    use raft_kv::transport::wire::{read_frame, read_handshake};

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// The wire decoder answers every input (a message, the end, or an
        /// error) without panicking.
        #[test]
        fn wire_decoding_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
            runtime.block_on(async {
                let mut reader = &bytes[..];
                let _ = read_handshake(&mut reader).await;
                let mut reader = &bytes[..];
                let mut buf = Vec::new();
                for _ in 0..8 {
                    match read_frame(&mut reader, 1 << 20, &mut buf).await {
                        Ok(Some(_)) => {}
                        Ok(None) | Err(_) => break,
                    }
                }
            });
        }
    }
}

#[tokio::test]
async fn removed_peer_is_no_longer_dialed() {
    let addr_b = unused_addr().await;
    let (a, _inbox) = Transport::start(1, listener().await, [(2, addr_b)], fast_config()).unwrap();
    let start = Instant::now();
    while a.stats().connect_failures < 2 {
        assert!(start.elapsed() < DEADLINE, "no dial attempts seen");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    a.remove_peer(2);
    assert_eq!(a.send(heartbeat(1, 2, 0)), SendOutcome::UnknownPeer);
    // Dialing stops: the failure count settles and stays put for several
    // maximum backoff periods (50 ms each here).
    let mut last = a.stats().connect_failures;
    let mut stable_since = Instant::now();
    while stable_since.elapsed() < Duration::from_millis(300) {
        assert!(start.elapsed() < DEADLINE, "peer task kept dialing");
        tokio::time::sleep(Duration::from_millis(10)).await;
        let now = a.stats().connect_failures;
        if now != last {
            last = now;
            stable_since = Instant::now();
        }
    }
}

#[tokio::test]
async fn a_peer_that_stops_reading_is_dropped_and_redialed() {
    // A "peer" that accepts connections and never reads from them.
    let stuck = listener().await;
    let stuck_addr = stuck.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let mut streams = Vec::new();
        for _ in 0..4 {
            match stuck.accept().await {
                Ok((s, _)) => streams.push(s),
                Err(_) => break,
            }
        }
        // Keep them open (unread) until the test ends.
        std::future::pending::<()>().await;
        drop(streams);
    });
    let config = TransportConfig {
        snapshot_queue_capacity: 64,
        write_timeout: Duration::from_millis(200),
        ..fast_config()
    };
    let (a, _inbox) = Transport::start(1, listener().await, [(2, stuck_addr)], config).unwrap();
    let start = Instant::now();
    let mut offset = 0u64;
    // Keep offering 1 MiB chunks until the socket buffers fill, the write
    // stalls past its timeout, and the connection is given up.
    while a.stats().connections_lost == 0 {
        assert!(start.elapsed() < DEADLINE, "stalled write never timed out");
        if a.send(chunk(1, 2, offset, 1 << 20, false)) == SendOutcome::Queued {
            offset += 1 << 20;
        } else {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    // And the peer is dialed again.
    while a.stats().connects < 2 {
        assert!(start.elapsed() < DEADLINE, "never redialed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    held.abort();
}

/// Accepts one connection on `decoy` and returns its handshake and first message.
async fn first_message_at(decoy: &TcpListener) -> (Handshake, Message) {
    let (mut stream, _) = timeout(DEADLINE, decoy.accept())
        .await
        .expect("dialed within deadline")
        .expect("accept");
    let handshake = timeout(DEADLINE, read_handshake(&mut stream))
        .await
        .expect("handshake within deadline")
        .expect("handshake");
    let message = timeout(DEADLINE, read_frame(&mut stream, 1 << 20, &mut Vec::new()))
        .await
        .expect("frame within deadline")
        .expect("frame")
        .expect("a frame, not the end");
    (handshake, message)
}

#[tokio::test]
async fn a_peer_with_no_known_address_is_answered_at_the_address_it_advertises() {
    let (la, lb) = (listener().await, listener().await);
    let (addr_a, addr_b) = (la.local_addr().unwrap(), lb.local_addr().unwrap());
    let (a, mut inbox_a) = Transport::start(1, la, [(2, addr_b)], fast_config()).unwrap();
    // b knows nothing of a (as a node that has not applied a's addition yet).
    let (b, mut inbox_b) = Transport::start(2, lb, [], fast_config()).unwrap();
    assert_eq!(a.advertised_addr(), Some(addr_a));
    assert_eq!(b.send(heartbeat(2, 1, 0)), SendOutcome::UnknownPeer);

    a.send(heartbeat(1, 2, 1));
    assert_eq!(seq_of(&recv(&mut inbox_b).await), 1);
    // The claim is recorded before the connection's first message is handed on,
    // so the node can answer that message at once.
    assert_eq!(b.peer_addr(1), Some(addr_a));
    assert_eq!(b.stats().claimed_addrs, 1);
    assert_eq!(b.send(heartbeat(2, 1, 2)), SendOutcome::Queued);
    let answer = recv(&mut inbox_a).await;
    assert_eq!((answer.from, seq_of(&answer)), (2, 2));

    // The claim lasts as long as a's connection: once a is gone, b forgets it.
    a.shutdown();
    drop((a, inbox_a));
    let start = Instant::now();
    while b.peer_addr(1).is_some() {
        assert!(start.elapsed() < DEADLINE, "claim outlived its connection");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(b.send(heartbeat(2, 1, 3)), SendOutcome::UnknownPeer);
}

#[tokio::test]
async fn a_claim_never_replaces_a_known_address() {
    let (la, lb, decoy) = (listener().await, listener().await, listener().await);
    let (addr_b, addr_decoy) = (lb.local_addr().unwrap(), decoy.local_addr().unwrap());
    // b was given an address for 1 (configured or replicated): the decoy.
    let (b, mut inbox_b) = Transport::start(2, lb, [(1, addr_decoy)], fast_config()).unwrap();
    let (a, _inbox_a) = Transport::start(1, la, [(2, addr_b)], fast_config()).unwrap();
    a.send(heartbeat(1, 2, 1));
    assert_eq!(seq_of(&recv(&mut inbox_b).await), 1);
    assert_eq!(b.peer_addr(1), Some(addr_decoy));
    assert_eq!(b.stats().claimed_addrs, 0);
    // b's answer goes to the address it was given, not to the one a claimed.
    assert_eq!(b.send(heartbeat(2, 1, 2)), SendOutcome::Queued);
    let (handshake, answer) = first_message_at(&decoy).await;
    assert_eq!(
        handshake,
        Handshake {
            from: 2,
            advertised: Some(addr_b)
        }
    );
    assert_eq!((answer.from, seq_of(&answer)), (2, 2));
}

#[tokio::test]
async fn an_added_address_replaces_a_claim() {
    let (lb, claimed, added) = (listener().await, listener().await, listener().await);
    let addr_b = lb.local_addr().unwrap();
    let told: SocketAddr = "127.0.0.2:7002".parse().unwrap();
    let config = TransportConfig {
        advertised_addr: Some(told),
        ..fast_config()
    };
    let (b, mut inbox_b) = Transport::start(2, lb, [], config).unwrap();
    // Node 1 claims the first listener...
    let mut from_1 = TcpStream::connect(addr_b).await.unwrap();
    from_1
        .write_all(&encode_handshake(1, Some(claimed.local_addr().unwrap())))
        .await
        .unwrap();
    let mut frame = bytes::BytesMut::new();
    encode_frame(&heartbeat(1, 2, 1), &mut frame);
    from_1.write_all(&frame).await.unwrap();
    assert_eq!(seq_of(&recv(&mut inbox_b).await), 1);
    assert_eq!(b.peer_addr(1), Some(claimed.local_addr().unwrap()));
    // ...then the membership names the second (add_peer, as the node driver
    // does for a committed address): it wins.
    b.add_peer(1, added.local_addr().unwrap());
    assert_eq!(b.peer_addr(1), Some(added.local_addr().unwrap()));
    assert_eq!(b.send(heartbeat(2, 1, 2)), SendOutcome::Queued);
    let (handshake, answer) = first_message_at(&added).await;
    assert_eq!(
        handshake,
        Handshake {
            from: 2,
            advertised: Some(told)
        }
    );
    assert_eq!((answer.from, seq_of(&answer)), (2, 2));
}

#[tokio::test]
async fn a_removed_peer_is_not_dialed_back_on_its_claim() {
    let (la, lb) = (listener().await, listener().await);
    let (addr_a, addr_b) = (la.local_addr().unwrap(), lb.local_addr().unwrap());
    let (b, mut inbox_b) = Transport::start(2, lb, [(1, addr_a)], fast_config()).unwrap();
    b.remove_peer(1);
    let (a, _inbox_a) = Transport::start(1, la, [(2, addr_b)], fast_config()).unwrap();
    a.send(heartbeat(1, 2, 1));
    // Its messages still reach the node (Raft decides what to make of them)...
    assert_eq!(seq_of(&recv(&mut inbox_b).await), 1);
    // ...but the transport does not talk to it again.
    assert_eq!(b.peer_addr(1), None);
    assert_eq!(b.send(heartbeat(2, 1, 2)), SendOutcome::UnknownPeer);
    assert_eq!(b.stats().claimed_addrs, 0);
}
