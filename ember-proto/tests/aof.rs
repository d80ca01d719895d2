//! AOF properties: records round-trip through `encode_record` and both readers, and a
//! damaged file is classified by the module's rule: a cut or a flipped bit in the last
//! record is a torn tail, and a flipped bit in any earlier record is corruption at
//! that record's offset.

use bytes::{Bytes, BytesMut};
use ember_proto::aof::check_replay;
use ember_proto::{encode_record, read_records, AofDecoder, AofEnd, AofRecord};
use proptest::collection::vec;
use proptest::prelude::*;

fn record() -> impl Strategy<Value = AofRecord> {
    let argument = vec(any::<u8>(), 0..40).prop_map(Bytes::from);
    (any::<u8>(), vec(argument, 1..6)).prop_map(|(db, argv)| AofRecord { db, argv })
}

/// Encodes `records` and returns the file and each record's start offset.
fn file(records: &[AofRecord]) -> (Bytes, Vec<usize>) {
    let mut out = BytesMut::new();
    let mut starts = Vec::new();
    for record in records {
        starts.push(out.len());
        encode_record(record, &mut out);
    }
    (out.freeze(), starts)
}

proptest! {
    #[test]
    fn records_round_trip_zero_copy(records in vec(record(), 0..8)) {
        let (data, _) = file(&records);
        let scan = read_records(&data);
        prop_assert_eq!(&scan.records, &records);
        prop_assert_eq!(scan.valid_len, data.len());
        prop_assert_eq!(scan.end, AofEnd::Clean);
        let range = data.as_ptr_range();
        for argument in scan.records.iter().flat_map(|record| &record.argv) {
            if !argument.is_empty() {
                prop_assert!(range.contains(&argument.as_ptr()), "arguments slice the input");
            }
        }
    }

    #[test]
    fn streaming_decoder_agrees_at_any_chunk_size(
        records in vec(record(), 0..8),
        chunk_len in 1usize..64,
    ) {
        let (data, _) = file(&records);
        let mut decoder = AofDecoder::new();
        let mut decoded = Vec::new();
        for chunk in data.chunks(chunk_len) {
            decoder.feed(chunk);
            while let Some(record) = decoder.next_record().expect("an undamaged file") {
                decoded.push(record);
            }
        }
        prop_assert_eq!(decoded, records);
        prop_assert_eq!(decoder.offset(), data.len());
        prop_assert_eq!(decoder.finish(), AofEnd::Clean);
    }

    #[test]
    fn a_cut_anywhere_in_the_last_record_is_a_torn_tail(records in vec(record(), 1..6)) {
        let (data, starts) = file(&records);
        let last = *starts.last().expect("one record or more");
        for cut in last + 1..data.len() {
            let scan = read_records(&data.slice(..cut));
            prop_assert_eq!(&scan.records[..], &records[..records.len() - 1]);
            prop_assert_eq!(scan.valid_len, last);
            let torn = matches!(scan.end, AofEnd::TornTail { offset, .. } if offset == last);
            prop_assert!(torn, "cut at {}: {:?}", cut, scan.end);
        }
        let scan = read_records(&data.slice(..last));
        prop_assert_eq!(scan.end, AofEnd::Clean);
    }

    #[test]
    fn a_flipped_bit_in_the_last_record_is_a_torn_tail(
        records in vec(record(), 1..6),
        bit in any::<prop::sample::Index>(),
    ) {
        let (data, starts) = file(&records);
        let last = *starts.last().expect("one record or more");
        let bit = last * 8 + bit.index((data.len() - last) * 8);
        let scan = read_records(&flip(&data, bit));
        prop_assert_eq!(&scan.records[..], &records[..records.len() - 1]);
        let torn = matches!(scan.end, AofEnd::TornTail { offset, .. } if offset == last);
        prop_assert!(torn, "bit {}: {:?}", bit, scan.end);
    }

    #[test]
    fn a_flipped_bit_in_an_earlier_record_is_corruption_there(
        records in vec(record(), 2..6),
        which in any::<prop::sample::Index>(),
        bit in any::<prop::sample::Index>(),
    ) {
        let (data, starts) = file(&records);
        let damaged = which.index(records.len() - 1);
        let (start, next) = (starts[damaged], starts[damaged + 1]);
        let bit = start * 8 + bit.index((next - start) * 8);
        let scan = read_records(&flip(&data, bit));
        prop_assert_eq!(&scan.records[..], &records[..damaged]);
        prop_assert_eq!(scan.valid_len, start);
        let corrupt = matches!(
            scan.end,
            AofEnd::Corrupt { offset, next_valid_offset: Some(resume), .. }
                if offset == start && resume == next
        );
        prop_assert!(corrupt, "bit {}: {:?}", bit, scan.end);
    }

    #[test]
    fn arbitrary_bytes_pass_the_fuzz_check(data in vec(any::<u8>(), 0..256)) {
        check_replay(&data);
    }
}

fn flip(data: &Bytes, bit: usize) -> Bytes {
    let mut flipped = data.to_vec();
    flipped[bit / 8] ^= 1 << (bit % 8);
    Bytes::from(flipped)
}

#[test]
fn every_bit_of_every_record_classifies_by_position() {
    let records: Vec<AofRecord> = ["SET a 1", "INCR counter", "DEL a b c"]
        .iter()
        .enumerate()
        .map(|(db, text)| AofRecord {
            db: db as u8,
            argv: text
                .split(' ')
                .map(|word| Bytes::from(word.to_string()))
                .collect(),
        })
        .collect();
    let (data, starts) = file(&records);
    let last = starts[2];
    for bit in 0..data.len() * 8 {
        let scan = read_records(&flip(&data, bit));
        let start = *starts
            .iter()
            .rev()
            .find(|start| **start * 8 <= bit)
            .unwrap();
        assert_eq!(scan.valid_len, start, "bit {bit}");
        match scan.end {
            AofEnd::TornTail { offset, .. } => assert!(offset == last, "bit {bit}"),
            AofEnd::Corrupt { offset, .. } => assert!(offset == start && start < last),
            AofEnd::Clean => panic!("bit {bit} went unnoticed"),
        }
    }
}

#[test]
fn the_stream_reports_damage_and_the_tail_rule_classifies_it() {
    let records = vec![
        AofRecord {
            db: 0,
            argv: vec![Bytes::from_static(b"SET"), Bytes::from_static(b"k")],
        };
        3
    ];
    let (data, starts) = file(&records);
    let damaged = flip(&data, starts[1] * 8 + 70);
    let mut decoder = AofDecoder::new();
    decoder.feed(&damaged);
    assert!(decoder.next_record().expect("first record").is_some());
    let error = decoder
        .next_record()
        .expect_err("damage at the second record");
    assert_eq!(error.offset, starts[1]);
    let end =
        ember_proto::classify_tail(&damaged.slice(error.offset..), error.offset, error.damage);
    assert!(matches!(end, AofEnd::Corrupt { offset, .. } if offset == starts[1]));
}
