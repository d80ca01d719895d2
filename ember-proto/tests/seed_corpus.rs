//! Writes the hand-made seed inputs of the `aof_replay` and `snapshot_load` fuzz corpora
//! and of their sealed twins `aof_replay_sealed` and `snapshot_load_sealed` (sealed with
//! the test key): small valid files, the same cut short, and the same with one bit
//! flipped; for the sealed ones also one byte changed under a recomputed CRC. The
//! `cluster_bus_decode` seeds are a stream of every bus message, plain and authenticated
//! with the test secret, cut and flipped the same way, each message alone, a version 2
//! header and an oversized length. Run with
//! `cargo test -p ember-proto --test seed_corpus -- --ignored` to refresh the seeds; the
//! fuzzer and `cargo fuzz cmin` then grow and trim the corpora around them.

use std::fs;
use std::path::Path;

use bytes::{Bytes, BytesMut};
use ember_proto::seal::{AofOpener, AofSealer, SealKey, TEST_FILE_SALT, TEST_KEY_BYTES};
use ember_proto::snapshot::SNAPSHOT_SEALED_HEADER_BYTES;
use ember_proto::{
    encode_record, AofRecord, SnapshotEntry, SnapshotHeader, SnapshotValue, SnapshotWriter,
};

fn bytes(text: &str) -> Bytes {
    Bytes::from(text.to_string())
}

fn aof_file() -> Bytes {
    let commands = ["SET key value", "INCR n", "RPUSH l a b c", "DEL key"];
    let mut out = BytesMut::new();
    for (db, command) in commands.iter().enumerate() {
        let argv = command.split(' ').map(bytes).collect();
        encode_record(&AofRecord { db: db as u8, argv }, &mut out);
    }
    out.freeze()
}

fn sealed_aof_file() -> Bytes {
    let key = SealKey::new(&TEST_KEY_BYTES);
    let mut sealer = AofSealer::new(key, TEST_FILE_SALT, *b"seedsalt");
    let mut out = BytesMut::new();
    sealer.seal_records(&aof_file(), &mut out, &mut || unreachable!("four records"));
    out.freeze()
}

fn snapshot_file() -> Bytes {
    snapshot_with(SnapshotWriter::new)
}

fn sealed_snapshot_file() -> Bytes {
    let key = SealKey::new(&TEST_KEY_BYTES);
    snapshot_with(|header| SnapshotWriter::sealed(header, &key, *b"seedsalt"))
}

fn snapshot_with(writer: impl FnOnce(SnapshotHeader) -> SnapshotWriter) -> Bytes {
    let values = [
        SnapshotValue::Str(bytes("v")),
        SnapshotValue::List(vec![bytes("a"), bytes("b")]),
        SnapshotValue::Hash(vec![(bytes("f"), bytes("v"))]),
        SnapshotValue::Set(vec![bytes("m")]),
        SnapshotValue::ZSet(vec![(bytes("z"), 1.5), (bytes("y"), -0.0)]),
    ];
    let header = SnapshotHeader {
        shard: 1,
        created_unix_ms: 1_700_000_000_000,
        aof_epoch: 1,
    };
    let mut writer = writer(header);
    let mut out = BytesMut::new();
    for (index, value) in values.into_iter().enumerate() {
        let entry = SnapshotEntry {
            db: index as u8,
            key: Bytes::from(vec![b'k', index as u8]),
            expire_at_ms: (index % 2 == 1).then_some(1_700_000_100_000),
            value,
        };
        let chunk = writer.push(&entry).expect("within the limits");
        out.extend_from_slice(&chunk.unwrap_or_default());
    }
    out.extend_from_slice(&writer.finish());
    out.freeze()
}

/// The file, a few cuts of it, and a few single-bit flips of it.
fn variants(data: &Bytes) -> Vec<(String, Vec<u8>)> {
    let mut variants = vec![("whole".to_string(), data.to_vec())];
    for cut in [data.len() / 3, data.len() / 2, data.len() - 1] {
        variants.push((format!("cut-{cut}"), data[..cut].to_vec()));
    }
    for byte in [2, 9, data.len() / 2, data.len() - 3] {
        let mut flipped = data.to_vec();
        flipped[byte] ^= 0x04;
        variants.push((format!("flip-{byte}"), flipped));
    }
    variants
}

/// `data` with one byte of the record or block at `start` changed and its CRC recomputed:
/// a checksummed record that does not open.
fn unopened(data: &Bytes, start: usize) -> Vec<u8> {
    let length = u32::from_le_bytes(data[start..start + 4].try_into().unwrap()) as usize;
    let stored = start + 8..start + 8 + length;
    let mut changed = data.to_vec();
    changed[stored.start + length / 2] ^= 0x10;
    let crc = crc32c::crc32c(&changed[stored.clone()]);
    changed[start + 4..stored.start].copy_from_slice(&crc.to_le_bytes());
    changed
}

/// `inner` is the bytes inside the framing (a payload, or a block's entries), which the
/// checks also wrap in valid framing, so the fuzzer starts from parseable contents too.
fn write_seeds(target: &str, data: &Bytes, inner: &[u8]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    fs::create_dir_all(&dir).expect("a writable corpus directory");
    fs::write(dir.join("seed-inner"), inner).expect("a writable seed");
    for (name, bytes) in variants(data) {
        fs::write(dir.join(format!("seed-{name}")), bytes).expect("a writable seed");
    }
}

#[test]
#[ignore = "writes files under fuzz/corpus; run by hand to refresh the seeds"]
fn write_seed_corpora() {
    let aof = aof_file();
    let payload_len = u32::from_le_bytes(aof[..4].try_into().unwrap()) as usize;
    write_seeds("aof_replay", &aof, &aof[8..8 + payload_len]);
    let snapshot = snapshot_file();
    // The one entries block's payload after its tag; the footer block is 8 + 21 bytes.
    let entries =
        &snapshot[ember_proto::snapshot::SNAPSHOT_HEADER_BYTES + 8 + 1..snapshot.len() - 29];
    write_seeds("snapshot_load", &snapshot, entries);
    let sealed_aof = sealed_aof_file();
    write_seeds("aof_replay_sealed", &sealed_aof, &aof[8..8 + payload_len]);
    write_seed("aof_replay_sealed", "unopened", &unopened(&sealed_aof, 0));
    let sealed_snapshot = sealed_snapshot_file();
    write_seeds("snapshot_load_sealed", &sealed_snapshot, entries);
    let first_block = SNAPSHOT_SEALED_HEADER_BYTES;
    let changed = unopened(&sealed_snapshot, first_block);
    write_seed("snapshot_load_sealed", "unopened", &changed);
}

fn write_seed(target: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    fs::write(dir.join(format!("seed-{name}")), bytes).expect("a writable seed");
}

#[test]
fn seed_files_are_valid_where_whole() {
    let aof = aof_file();
    assert_eq!(ember_proto::read_records(&aof).records.len(), 4);
    let (_, mut reader) = ember_proto::SnapshotReader::new(snapshot_file()).expect("valid");
    let mut count = 0;
    while reader.next().expect("valid").is_some() {
        count += 1;
    }
    assert_eq!(count, 5);
    let opener = AofOpener::new(SealKey::new(&TEST_KEY_BYTES), TEST_FILE_SALT);
    let scan = ember_proto::read_records_with(&sealed_aof_file(), 0, &opener);
    assert_eq!(scan.records, ember_proto::read_records(&aof).records);
    let key = SealKey::new(&TEST_KEY_BYTES);
    let (_, mut reader) =
        ember_proto::SnapshotReader::with_key(sealed_snapshot_file(), &key).expect("valid");
    let mut count = 0;
    while reader.next().expect("valid").is_some() {
        count += 1;
    }
    assert_eq!(count, 5);
}

/// One message of each kind, as the seeds of the `cluster_bus_decode` corpus carry them.
fn bus_messages() -> Vec<ember_proto::cluster_bus::BusMessage> {
    use ember_proto::cluster_bus::{
        Ack, BusMessage, Hello, MemberState, MemberUpdate, NodeAddress, NodeId, Ping, PingReq,
        StateSync, BUS_PROTOCOL_VERSION,
    };
    let address = |last: u8| NodeAddress {
        ip: std::net::IpAddr::from([127, 0, 0, last]),
        data_port: 6379 + u16::from(last),
        bus_port: 16379 + u16::from(last),
    };
    let record = |byte: u8, incarnation: u64, state: MemberState| MemberUpdate {
        node: NodeId::from_bytes([byte; 20]),
        address: address(byte),
        incarnation,
        state,
        origin: NodeId::from_bytes([1; 20]),
    };
    let updates = vec![
        record(2, 1, MemberState::Suspect),
        record(3, 4, MemberState::Dead),
        record(4, 0, MemberState::Left),
    ];
    vec![
        BusMessage::Hello(Hello {
            sender: NodeId::from_bytes([1; 20]),
            address: address(1),
            protocol_version: BUS_PROTOCOL_VERSION,
        }),
        BusMessage::Ping(Ping {
            sequence: 1,
            sender: record(1, 0, MemberState::Alive),
            updates: updates.clone(),
        }),
        BusMessage::PingReq(PingReq {
            sequence: 2,
            sender: record(1, 0, MemberState::Alive),
            target: NodeId::from_bytes([2; 20]),
            target_address: address(2),
            updates: updates.clone(),
        }),
        BusMessage::Ack(Ack {
            sequence: 2,
            sender: record(2, 2, MemberState::Alive),
            updates: updates.clone(),
        }),
        BusMessage::StateSync(StateSync {
            sender: record(1, 0, MemberState::Alive),
            reply_wanted: true,
            members: updates,
        }),
        BusMessage::Raft {
            kind: 1,
            body: b"append entries".to_vec(),
        },
    ]
}

/// Every message framed by `codec`, one after another.
fn bus_stream(codec: &ember_proto::cluster_bus::BusCodec) -> Bytes {
    let mut out = BytesMut::new();
    for message in bus_messages() {
        codec.encode(&message, &mut out).expect("within the limits");
    }
    out.freeze()
}

fn bus_codecs() -> [ember_proto::cluster_bus::BusCodec; 2] {
    use ember_proto::cluster_bus::{BusCodec, BusKey, BUS_TEST_SECRET};
    [
        BusCodec::new(None),
        BusCodec::new(Some(BusKey::new(BUS_TEST_SECRET))),
    ]
}

#[test]
#[ignore = "writes files under fuzz/corpus; run by hand to refresh the seeds"]
fn write_cluster_bus_seeds() {
    let [plain, keyed] = bus_codecs();
    let stream = bus_stream(&plain);
    let first = postcard_payload(&stream);
    write_seeds("cluster_bus_decode", &stream, first);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/cluster_bus_decode");
    for (name, bytes) in variants(&bus_stream(&keyed)) {
        fs::write(dir.join(format!("seed-keyed-{name}")), bytes).expect("a writable seed");
    }
    for (index, message) in bus_messages().iter().enumerate() {
        let mut out = BytesMut::new();
        plain.encode(message, &mut out).expect("within the limits");
        write_seed("cluster_bus_decode", &format!("message-{index}"), &out);
    }
    write_seed(
        "cluster_bus_decode",
        "version-2",
        b"EMCB\x02\x00\x04\x00\x00\x00\x00\x00\x00\x00",
    );
    write_seed(
        "cluster_bus_decode",
        "too-large",
        b"EMCB\x01\x00\xff\xff\xff\x7f",
    );
}

/// The payload of the first frame of an unauthenticated stream.
fn postcard_payload(stream: &[u8]) -> &[u8] {
    let header = ember_proto::cluster_bus::BUS_HEADER_BYTES;
    let length = u32::from_le_bytes(stream[6..header].try_into().unwrap()) as usize;
    &stream[header..header + length]
}

#[test]
fn cluster_bus_seeds_decode_where_whole() {
    for codec in bus_codecs() {
        let mut stream = BytesMut::from(&bus_stream(&codec)[..]);
        for message in bus_messages() {
            assert_eq!(codec.decode(&mut stream), Ok(Some(message)));
        }
        assert!(stream.is_empty());
    }
}
