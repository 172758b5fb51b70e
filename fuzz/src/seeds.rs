//! Seed inputs for every target: a few valid encodings made with the crates' own encoders,
//! written to `corpus/<target>/` by `cargo run --example write_seed_corpus`.

use bytes::{Bytes, BytesMut};
use raft_kv::node::{KvMachine, encode_put};
use raft_kv::raft::{
    Codec, ConfChange, ConfChangeKind, ConfState, Entry, EntryKind, HardState, KvCommand, KvOp,
    Message, MessageBody, SnapshotMeta,
};
use raft_kv::raft::{KvStateMachine, Snapshot, StateMachine};
use raft_kv::storage::StoredSnapshot;
use raft_kv::storage::frame::encode_frame;
use raft_kv::transport::wire;

use crate::healthcheck::encode_chunked;
use crate::raft_kv::{encode_snapshot_payload, segment_header, wrap_checked_file};

/// One seed: target, file name, bytes.
pub type Seed = (&'static str, String, Vec<u8>);

fn messages() -> Vec<Message> {
    let entry = Entry::normal(3, 11, &b"put k v"[..]);
    let meta = SnapshotMeta {
        index: 100,
        term: 4,
        conf_state: ConfState {
            voters: vec![1, 2, 3],
            learners: vec![9],
            contexts: [(9, Bytes::from_static(b"127.0.0.1:7009"))].into(),
        },
    };
    let bodies = vec![
        MessageBody::PreVote {
            last_index: 10,
            last_term: 2,
        },
        MessageBody::VoteResponse { reject: true },
        MessageBody::Append {
            prev_index: 10,
            prev_term: 2,
            entries: vec![entry.clone(), Entry::normal(3, 12, Bytes::new())],
            commit: 9,
        },
        MessageBody::AppendResponse {
            reject: true,
            index: 10,
            reject_hint: 7,
            reject_hint_term: 1,
        },
        MessageBody::Heartbeat {
            commit: u64::MAX,
            read_seq: 300,
        },
        MessageBody::InstallSnapshot {
            meta,
            offset: 0,
            data: Bytes::from_static(b"snapshot chunk"),
            done: false,
        },
        MessageBody::TimeoutNow,
        MessageBody::ReadIndexResponse {
            context: Bytes::from_static(b"ctx"),
            index: 42,
        },
    ];
    bodies
        .into_iter()
        .map(|body| Message {
            from: 1,
            to: 2,
            term: 3,
            body,
        })
        .collect()
}

fn body_name(m: &Message) -> String {
    let debug = format!("{:?}", m.body);
    let name: String = debug.chars().take_while(|c| c.is_alphanumeric()).collect();
    name.to_lowercase()
}

fn tagged(tag: u8, value: &impl Codec) -> Vec<u8> {
    let mut out = vec![tag];
    out.extend_from_slice(&value.to_bytes());
    out
}

/// Records for the structured WAL inputs: kind, payload length, payload.
fn record_list(records: &[(u8, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (kind, payload) in records {
        out.push(*kind);
        out.push(payload.len() as u8);
        out.extend_from_slice(payload);
    }
    out
}

/// Every seed of every target.
pub fn all() -> Vec<Seed> {
    let mut seeds: Vec<Seed> = Vec::new();
    let mut add = |target: &'static str, name: &str, bytes: Vec<u8>| {
        seeds.push((target, name.to_owned(), bytes));
    };

    for m in messages() {
        add("raft_kv_message", &body_name(&m), m.to_bytes().to_vec());
    }

    let entry = Entry {
        term: 5,
        index: 1 << 40,
        kind: EntryKind::ConfChange,
        data: Bytes::from_static(b"\x00\x02\x00"),
    };
    add("raft_kv_codec", "entry", tagged(0, &entry));
    let hard_state = HardState {
        term: 7,
        vote: Some(2),
        commit: 300,
    };
    add("raft_kv_codec", "hard_state", tagged(1, &hard_state));
    let meta = SnapshotMeta {
        index: 9,
        term: 2,
        conf_state: ConfState::with_voters([1, 2, 3]),
    };
    add("raft_kv_codec", "snapshot_meta", tagged(2, &meta));
    let change = ConfChange {
        kind: ConfChangeKind::AddLearner,
        node_id: 4,
        context: Bytes::from_static(b"127.0.0.1:2380"),
    };
    add("raft_kv_codec", "conf_change", tagged(3, &change));
    let put = KvCommand {
        request_id: 77,
        op: KvOp::Put {
            key: Bytes::from_static(b"key"),
            value: Bytes::from_static(b"value"),
        },
    };
    let mut kv = vec![4];
    kv.extend_from_slice(&put.encode());
    add("raft_kv_codec", "kv_put", kv);

    // WAL frames: raw (mode 0) and structured (mode 1: damage, zeros, records).
    let records: &[(u8, &[u8])] = &[
        (1, &b"entry bytes"[..]),
        (2, &b"\x07\x02\x90\x01"[..]),
        (1, b""),
    ];
    let mut raw = vec![0];
    for (kind, payload) in records {
        encode_frame(*kind, payload, &mut raw);
    }
    raw.extend_from_slice(&[0; 16]);
    add("raft_kv_wal_frame", "raw_three_records", raw);
    for (name, damage) in [
        ("intact", [0, 0, 0]),
        ("bit_flip", [1, 0, 77]),
        ("cut", [2, 0, 30]),
    ] {
        let mut structured = vec![1];
        structured.extend_from_slice(&damage);
        structured.push(8);
        structured.extend_from_slice(&record_list(records));
        add("raft_kv_wal_frame", name, structured);
    }

    // WAL segments: flags (1 header, 2 last, 4 structured), then the body.
    let mut raw_segment = vec![1 | 2];
    for (kind, payload) in records {
        encode_frame(*kind, payload, &mut raw_segment);
    }
    raw_segment.extend_from_slice(&[0; 32]);
    add("raft_kv_wal_segment", "raw_last", raw_segment);
    for (name, flags, damage) in [
        ("records", 1 | 4, [0, 0, 0]),
        ("torn_last", 1 | 2 | 4, [2, 0, 40]),
        ("flip_not_last", 1 | 4, [1, 0, 90]),
    ] {
        let mut structured = vec![flags];
        structured.extend_from_slice(&damage);
        structured.push(64);
        structured.extend_from_slice(&record_list(records));
        add("raft_kv_wal_segment", name, structured);
    }
    let mut bare_header = vec![1 | 2];
    bare_header.extend_from_slice(&[0; 64]);
    add("raft_kv_wal_segment", "empty_preallocated", bare_header);
    debug_assert_eq!(segment_header(7).len(), 20);

    // Wire: handshake (advertising no address, an IPv4 one, an IPv6 one) then frames.
    let mut stream = BytesMut::new();
    stream.extend_from_slice(&wire::encode_handshake(3, None));
    for m in messages().into_iter().take(4) {
        wire::encode_frame(&m, &mut stream);
    }
    add("raft_kv_wire", "handshake_and_frames", stream.to_vec());
    let mut one = BytesMut::new();
    let v4 = Some("127.0.0.1:7001".parse().expect("address literal"));
    one.extend_from_slice(&wire::encode_handshake(u64::MAX, v4));
    wire::encode_frame(&messages()[6], &mut one);
    add("raft_kv_wire", "timeout_now", one.to_vec());
    let mut v6_stream = BytesMut::new();
    let v6 = Some("[2001:db8::7]:7002".parse().expect("address literal"));
    v6_stream.extend_from_slice(&wire::encode_handshake(2, v6));
    wire::encode_frame(&messages()[0], &mut v6_stream);
    add("raft_kv_wire", "ipv6_advertised", v6_stream.to_vec());

    // Snapshot files: odd first byte wraps the payload in a valid header, even is raw.
    let stored = StoredSnapshot {
        snapshot: Snapshot {
            meta: SnapshotMeta {
                index: 50,
                term: 3,
                conf_state: ConfState::with_voters([1, 2, 3]),
            },
            data: Bytes::from_static(b"state machine bytes"),
        },
        discard_before: (2, 4096),
    };
    let payload = encode_snapshot_payload(&stored);
    let mut wrapped = vec![1];
    wrapped.extend_from_slice(&payload);
    add("raft_kv_snapshot_file", "payload", wrapped);
    let mut raw_file = vec![0];
    raw_file.extend_from_slice(&wrap_checked_file(&payload));
    add("raft_kv_snapshot_file", "whole_file", raw_file);

    // State machines: 0 KvMachine snapshot, 1 KvStateMachine snapshot, 2 and 3 commands.
    let mut kv_machine = KvMachine::default();
    kv_machine.apply(1, &encode_put(b"a", b"1"));
    kv_machine.apply(2, &encode_put(b"bb", b""));
    kv_machine.apply(3, b"x");
    let mut seed = vec![0];
    seed.extend_from_slice(&kv_machine.snapshot());
    add("raft_kv_state_machines", "kv_machine_snapshot", seed);
    let mut kv_state = KvStateMachine::default();
    kv_state.apply(1, &put.encode());
    let mut seed = vec![1];
    seed.extend_from_slice(&kv_state.snapshot());
    add("raft_kv_state_machines", "kv_state_machine_snapshot", seed);
    let mut seed = vec![2];
    seed.extend_from_slice(&encode_put(b"key", b"value"));
    add("raft_kv_state_machines", "kv_machine_put", seed);
    let delete = KvCommand {
        request_id: 8,
        op: KvOp::Delete {
            key: Bytes::from_static(b"key"),
        },
    };
    let mut seed = vec![3];
    seed.extend_from_slice(&delete.encode());
    add("raft_kv_state_machines", "kv_state_machine_delete", seed);

    // DNS: a response with a compressed answer, the same framed for TCP, and names for the
    // query builder.
    let mut response = healthcheck::dns_wire::build_query(7, "example.org", 1).expect("valid");
    response[2] |= 0x80;
    response[7] = 2;
    response.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 1]);
    response.extend_from_slice(&[0xc0, 12, 0, 28, 0, 1, 0, 0, 0, 60, 0, 16]);
    response.extend_from_slice(&[0; 15]);
    response.push(1);
    let framed = healthcheck::dns_wire::encode_tcp_message(&response).expect("fits");
    add("healthcheck_dns", "a_and_aaaa", response);
    add("healthcheck_dns", "tcp_framed", framed);
    add("healthcheck_dns", "name", b"\x05www.example.com".to_vec());

    // ICMP: a v4 reply with IP header, a bare reply, a v6 reply.
    let mut reply = healthcheck::icmp_wire::echo_request(0x1234, 7, b"hakit ping");
    reply[0] = healthcheck::icmp_wire::ECHO_REPLY;
    let mut with_ip = vec![0x45];
    with_ip.resize(20, 0);
    with_ip.extend_from_slice(&reply);
    add("healthcheck_icmp", "v4_with_ip", with_ip);
    add("healthcheck_icmp", "v4_bare", reply);
    let mut v6 = healthcheck::icmp_wire::echo_request_v6(9, 300, b"x");
    v6[0] = healthcheck::icmp_wire::ECHO_REPLY_V6;
    add("healthcheck_icmp", "v6", v6);

    // TCP: answers to a half-open SYN (SYN-ACK with MSS over IPv4, RST-ACK over IPv4,
    // a bare SYN-ACK segment with window scale and MSS as an IPv6 raw socket gives it).
    {
        use healthcheck::tcp_wire::{self, ACK, RST, SYN, TcpHeader};
        use std::net::Ipv4Addr;
        let syn_ack = TcpHeader {
            src_port: 80,
            dst_port: 40000,
            seq: 0x1234_5678,
            ack: 1001,
            flags: SYN | ACK,
            window: 65483,
            mss: Some(65495),
        };
        let (server, us) = (Ipv4Addr::new(127, 0, 0, 1), Ipv4Addr::new(127, 0, 0, 1));
        add(
            "healthcheck_tcp",
            "v4_syn_ack",
            tcp_wire::ipv4_packet(&syn_ack, server, us),
        );
        let rst_ack = TcpHeader {
            seq: 0,
            flags: RST | ACK,
            window: 0,
            mss: None,
            ..syn_ack
        };
        add(
            "healthcheck_tcp",
            "v4_rst_ack",
            tcp_wire::ipv4_packet(&rst_ack, server, us),
        );
        let mut segment = tcp_wire::encode_header(&syn_ack);
        segment[12] = 8 << 4;
        segment.extend_from_slice(&[1, 3, 3, 7, 4, 2, 1, 1]);
        add("healthcheck_tcp", "v6_segment_options", segment);
    }

    // HTTP heads.
    for (name, head) in [
        ("ok_length", &b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nServer: x\r\n\r\nhello"[..]),
        ("chunked", b"HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
        ("bare_lf_1_0", b"HTTP/1.0 302 Found\nLocation: /x\n\n"),
        ("no_content", b"HTTP/1.1 204 \r\nContent-Length: 3\r\n\r\n"),
    ] {
        add("healthcheck_http", name, head.to_vec());
    }

    // Chunked bodies: first byte counts the chunk sizes that follow, then the body. The
    // check dechunks the raw input too, so also seed real chunked bytes.
    add(
        "healthcheck_http_chunked",
        "sizes",
        b"\x03\x01\x05\x02hello chunked world".to_vec(),
    );
    add(
        "healthcheck_http_chunked",
        "encoded",
        encode_chunked(b"0123456789abcdef", &[3, 10]),
    );
    add(
        "healthcheck_http_chunked",
        "extension_and_trailer",
        b"4;name=v\r\nabcd\r\n0\r\nX-Trailer: 1\r\n\r\n".to_vec(),
    );

    // Agent replies.
    for (name, line) in [
        ("all_words", "75%, drain maxconn:30\tup # busy node\n"),
        ("down", "DOWN\r\n"),
        ("capped", "900% maint"),
        ("unknown_and_known", "hello 10% stopped#"),
    ] {
        add("healthcheck_agent_reply", name, line.as_bytes().to_vec());
    }
    seeds
}
