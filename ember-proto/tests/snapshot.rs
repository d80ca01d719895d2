//! Snapshot properties: random entries of every kind round-trip through the writer's
//! chunks and the reader, bit for bit; and a truncated file, or one with any single bit
//! flipped, is always refused with an error, never loaded and never a panic.

use bytes::{Bytes, BytesMut};
use ember_proto::snapshot::check_load;
use ember_proto::{
    SnapshotEntry, SnapshotError, SnapshotErrorKind, SnapshotHeader, SnapshotReader, SnapshotValue,
    SnapshotWriter,
};
use proptest::collection::vec;
use proptest::prelude::*;

fn blob() -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..24).prop_map(Bytes::from)
}

/// Any score but NaN, which the keyspace never holds; zeros and infinities included.
fn score() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>().prop_filter("not NaN", |score| !score.is_nan()),
        Just(-0.0),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
    ]
}

fn value() -> impl Strategy<Value = SnapshotValue> {
    prop_oneof![
        blob().prop_map(SnapshotValue::Str),
        vec(blob(), 1..6).prop_map(SnapshotValue::List),
        vec((blob(), blob()), 1..6).prop_map(SnapshotValue::Hash),
        vec(blob(), 1..6).prop_map(SnapshotValue::Set),
        vec((blob(), score()), 1..6).prop_map(SnapshotValue::ZSet),
    ]
}

fn entry() -> impl Strategy<Value = SnapshotEntry> {
    (any::<u8>(), blob(), any::<Option<u64>>(), value()).prop_map(
        |(db, key, expire_at_ms, value)| SnapshotEntry {
            db,
            key,
            expire_at_ms,
            value,
        },
    )
}

fn header() -> impl Strategy<Value = SnapshotHeader> {
    (any::<u16>(), any::<u64>(), any::<u64>()).prop_map(|(shard, created_unix_ms, aof_epoch)| {
        SnapshotHeader {
            shard,
            created_unix_ms,
            aof_epoch,
        }
    })
}

fn write(header: SnapshotHeader, entries: &[SnapshotEntry]) -> Bytes {
    let mut writer = SnapshotWriter::new(header);
    let mut out = BytesMut::new();
    for entry in entries {
        if let Some(chunk) = writer.push(entry).expect("within the limits") {
            out.extend_from_slice(&chunk);
        }
    }
    out.extend_from_slice(&writer.finish());
    out.freeze()
}

fn load(data: Bytes) -> Result<(SnapshotHeader, Vec<SnapshotEntry>), SnapshotError> {
    let (header, mut reader) = SnapshotReader::new(data)?;
    let mut entries = Vec::new();
    while let Some(entry) = reader.next()? {
        entries.push(entry);
    }
    Ok((header, entries))
}

/// Equality that compares scores by their bits, so -0.0 differs from 0.0.
fn same_entries(left: &[SnapshotEntry], right: &[SnapshotEntry]) -> bool {
    format!("{left:?}") == format!("{right:?}")
        && left.iter().zip(right).all(|pair| match pair {
            (
                SnapshotEntry {
                    value: SnapshotValue::ZSet(a),
                    ..
                },
                SnapshotEntry {
                    value: SnapshotValue::ZSet(b),
                    ..
                },
            ) => a.iter().zip(b).all(|(x, y)| x.1.to_bits() == y.1.to_bits()),
            _ => true,
        })
}

/// A snapshot of several blocks, and the offset of each block after the header.
fn multi_block() -> (Bytes, Vec<usize>) {
    let entries: Vec<SnapshotEntry> = (0..40u32)
        .map(|index| SnapshotEntry {
            db: (index % 3) as u8,
            key: Bytes::from(format!("key:{index}")),
            expire_at_ms: (index % 2 == 0).then_some(u64::from(index)),
            value: SnapshotValue::Str(Bytes::from(vec![index as u8; 5000])),
        })
        .collect();
    let header = SnapshotHeader {
        shard: 1,
        created_unix_ms: 2,
        aof_epoch: 0,
    };
    let data = write(header, &entries);
    let mut offsets = Vec::new();
    let mut offset = ember_proto::snapshot::SNAPSHOT_HEADER_BYTES;
    while offset < data.len() {
        offsets.push(offset);
        let length = u32::from_le_bytes(data[offset..offset + 4].try_into().unwrap());
        offset += 8 + length as usize;
    }
    assert_eq!(offset, data.len());
    (data, offsets)
}

proptest! {
    #[test]
    fn entries_round_trip_bit_for_bit(header in header(), entries in vec(entry(), 0..12)) {
        let data = write(header, &entries);
        let (header_again, entries_again) = load(data).expect("a written snapshot loads");
        prop_assert_eq!(header, header_again);
        prop_assert!(same_entries(&entries, &entries_again));
    }

    #[test]
    fn arbitrary_bytes_pass_the_fuzz_check(data in vec(any::<u8>(), 0..256)) {
        check_load(&data);
    }
}

#[test]
fn every_truncation_and_every_bit_flip_is_refused() {
    let entries = [
        SnapshotEntry {
            db: 0,
            key: Bytes::from_static(b"s"),
            expire_at_ms: Some(99),
            value: SnapshotValue::Str(Bytes::from_static(b"value")),
        },
        SnapshotEntry {
            db: 1,
            key: Bytes::from_static(b"\x00\xff"),
            expire_at_ms: None,
            value: SnapshotValue::ZSet(vec![(Bytes::from_static(b"m"), -0.0)]),
        },
        SnapshotEntry {
            db: 2,
            key: Bytes::from_static(b"h"),
            expire_at_ms: None,
            value: SnapshotValue::Hash(vec![(Bytes::new(), Bytes::from_static(b"v"))]),
        },
    ];
    let header = SnapshotHeader {
        shard: 9,
        created_unix_ms: 7,
        aof_epoch: 9,
    };
    let data = write(header, &entries);
    for cut in 0..data.len() {
        assert!(load(data.slice(..cut)).is_err(), "cut at {cut} loaded");
    }
    for bit in 0..data.len() * 8 {
        let mut flipped = data.to_vec();
        flipped[bit / 8] ^= 1 << (bit % 8);
        assert!(load(Bytes::from(flipped)).is_err(), "bit {bit} loaded");
    }
    let mut longer = data.to_vec();
    longer.push(0);
    let error = load(Bytes::from(longer)).expect_err("trailing byte refused");
    assert_eq!(error.kind, SnapshotErrorKind::TrailingBytes { count: 1 });
}

#[test]
fn damage_in_a_later_block_names_that_block() {
    let (data, offsets) = multi_block();
    assert!(offsets.len() >= 3, "several entries blocks and a footer");
    let block = offsets[1];
    let mut flipped = data.to_vec();
    flipped[block + 100] ^= 0x10;
    let error = load(Bytes::from(flipped)).expect_err("refused");
    assert_eq!(error.offset, block);
    assert!(matches!(
        error.kind,
        SnapshotErrorKind::BlockChecksumMismatch { .. }
    ));
    assert!(error.to_string().contains(&format!("at byte {block}")));
}

#[test]
fn sampled_bit_flips_and_cuts_of_a_multi_block_file_are_refused() {
    let (data, offsets) = multi_block();
    for cut in (0..data.len()).step_by(97).chain(offsets.iter().copied()) {
        assert!(load(data.slice(..cut)).is_err(), "cut at {cut} loaded");
    }
    for bit in (0..data.len() * 8).step_by(331) {
        let mut flipped = data.to_vec();
        flipped[bit / 8] ^= 1 << (bit % 8);
        assert!(load(Bytes::from(flipped)).is_err(), "bit {bit} loaded");
    }
}

#[test]
fn dropped_or_swapped_blocks_fail_the_footer() {
    let (data, offsets) = multi_block();
    let footer = *offsets.last().unwrap();
    let (first, second) = (offsets[0], offsets[1]);
    let mut dropped = data[..first].to_vec();
    dropped.extend_from_slice(&data[second..]);
    let error = load(Bytes::from(dropped)).expect_err("refused");
    assert!(matches!(
        error.kind,
        SnapshotErrorKind::BlockCountMismatch { .. }
    ));
    let mut swapped = data[..first].to_vec();
    swapped.extend_from_slice(&data[second..offsets[2]]);
    swapped.extend_from_slice(&data[first..second]);
    swapped.extend_from_slice(&data[offsets[2]..]);
    let error = load(Bytes::from(swapped)).expect_err("refused");
    assert!(matches!(
        error.kind,
        SnapshotErrorKind::BlocksChecksumMismatch { .. }
    ));
    assert!(footer > second);
}
