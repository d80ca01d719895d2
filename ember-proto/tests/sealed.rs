//! Sealed AOF and snapshot properties (feature `encryption`, which this crate's tests
//! always enable): sealed records and snapshots round-trip and hide what they hold; a cut
//! anywhere is a torn tail at the record it cuts; a flipped bit is a torn tail in the last
//! record and corruption before it; a changed record whose CRC was recomputed is
//! corruption even at the end; a wrong key or another file's salt opens nothing; and
//! arbitrary bytes pass the fuzz checks without a panic.

use bytes::{Bytes, BytesMut};
use ember_proto::aof::{check_replay_sealed, AofDamage, OpenError, AOF_RECORD_HEADER_BYTES};
use ember_proto::seal::{AofOpener, AofSealer, SealKey, TEST_KEY_BYTES};
use ember_proto::snapshot::check_load_sealed;
use ember_proto::{
    encode_record, read_records_with, AofDecoder, AofEnd, AofRecord, SnapshotEntry, SnapshotHeader,
    SnapshotReader, SnapshotValue, SnapshotWriter,
};
use proptest::collection::vec;
use proptest::prelude::*;

const FILE_SALT: [u8; 8] = *b"filesalt";

fn key() -> SealKey {
    SealKey::new(&TEST_KEY_BYTES)
}

fn opener() -> AofOpener {
    AofOpener::new(key(), FILE_SALT)
}

fn record() -> impl Strategy<Value = AofRecord> {
    let argument = vec(any::<u8>(), 0..40).prop_map(Bytes::from);
    (any::<u8>(), vec(argument, 1..6)).prop_map(|(db, argv)| AofRecord { db, argv })
}

/// Seals `records` in one run of `run_salt` and returns the file and each record's start.
fn sealed_file(records: &[AofRecord], run_salt: [u8; 8]) -> (Bytes, Vec<usize>) {
    let mut sealer = AofSealer::new(key(), FILE_SALT, run_salt);
    let mut out = BytesMut::new();
    let mut starts = Vec::new();
    for record in records {
        let mut plain = BytesMut::new();
        encode_record(record, &mut plain);
        starts.push(out.len());
        sealer.seal_records(&plain, &mut out, &mut || unreachable!("one short run"));
    }
    (out.freeze(), starts)
}

fn flip(data: &Bytes, bit: usize) -> Bytes {
    let mut flipped = data.to_vec();
    flipped[bit / 8] ^= 1 << (bit % 8);
    Bytes::from(flipped)
}

/// The record holding `byte`: the last start at or before it.
fn record_of(starts: &[usize], byte: usize) -> usize {
    starts
        .iter()
        .rposition(|start| *start <= byte)
        .expect("a record")
}

proptest! {
    #[test]
    fn sealed_records_round_trip_and_hide_their_arguments(
        records in vec(record(), 0..8),
        run_salt in any::<[u8; 8]>(),
    ) {
        let (data, _) = sealed_file(&records, run_salt);
        let scan = read_records_with(&data, 0, &opener());
        prop_assert_eq!(&scan.records, &records);
        prop_assert_eq!(scan.valid_len, data.len());
        prop_assert_eq!(scan.end, AofEnd::Clean);
        for argument in records.iter().flat_map(|record| &record.argv) {
            if argument.len() >= 12 {
                let found = data.windows(argument.len()).any(|w| w == &argument[..]);
                prop_assert!(!found, "an argument is visible in the sealed file");
            }
        }
    }

    #[test]
    fn the_streaming_decoder_agrees_on_sealed_files(
        records in vec(record(), 0..8),
        chunk_len in 1usize..64,
    ) {
        let (data, _) = sealed_file(&records, [1; 8]);
        let mut decoder = AofDecoder::with_opener(opener(), 0);
        let mut decoded = Vec::new();
        for chunk in data.chunks(chunk_len) {
            decoder.feed(chunk);
            while let Some(record) = decoder.next_record().expect("an undamaged file") {
                decoded.push(record);
            }
        }
        prop_assert_eq!(decoded, records);
        prop_assert_eq!(decoder.finish(), AofEnd::Clean);
    }

    #[test]
    fn a_cut_anywhere_is_a_torn_tail_at_the_record_it_cuts(records in vec(record(), 1..5)) {
        let (data, starts) = sealed_file(&records, [2; 8]);
        for cut in 0..data.len() {
            let scan = read_records_with(&data.slice(..cut), 0, &opener());
            if let Ok(boundary) = starts.binary_search(&cut) {
                prop_assert_eq!(&scan.records[..], &records[..boundary]);
                prop_assert_eq!(scan.end, AofEnd::Clean);
                continue;
            }
            let cut_record = record_of(&starts, cut);
            prop_assert_eq!(&scan.records[..], &records[..cut_record]);
            let torn = matches!(
                scan.end,
                AofEnd::TornTail { offset, .. } if offset == starts[cut_record]
            );
            prop_assert!(torn, "cut at {}: {:?}", cut, scan.end);
        }
    }

    #[test]
    fn a_flipped_bit_is_torn_in_the_last_record_and_corrupt_before(
        records in vec(record(), 1..5),
        bit in any::<prop::sample::Index>(),
    ) {
        let (data, starts) = sealed_file(&records, [3; 8]);
        let bit = bit.index(data.len() * 8);
        let damaged = record_of(&starts, bit / 8);
        let scan = read_records_with(&flip(&data, bit), 0, &opener());
        prop_assert_eq!(&scan.records[..], &records[..damaged]);
        prop_assert_eq!(scan.valid_len, starts[damaged]);
        let last = damaged == records.len() - 1;
        let classified = match scan.end {
            AofEnd::TornTail { offset, .. } => last && offset == starts[damaged],
            AofEnd::Corrupt { offset, next_valid_offset, .. } => {
                !last && offset == starts[damaged] && next_valid_offset == Some(starts[damaged + 1])
            }
            AofEnd::Clean => false,
        };
        prop_assert!(classified, "bit {}: {:?}", bit, scan.end);
    }

    #[test]
    fn a_changed_record_under_a_fixed_crc_is_corrupt_even_at_the_end(
        records in vec(record(), 1..5),
        which in any::<prop::sample::Index>(),
        bit in any::<prop::sample::Index>(),
    ) {
        let (data, starts) = sealed_file(&records, [4; 8]);
        let damaged = which.index(records.len());
        let start = starts[damaged];
        let end = starts.get(damaged + 1).copied().unwrap_or(data.len());
        let stored_start = start + AOF_RECORD_HEADER_BYTES;
        let bit = stored_start * 8 + bit.index((end - stored_start) * 8);
        let mut changed = flip(&data, bit).to_vec();
        let crc = crc32c::crc32c(&changed[stored_start..end]);
        changed[start + 4..stored_start].copy_from_slice(&crc.to_le_bytes());
        let scan = read_records_with(&Bytes::from(changed), 0, &opener());
        prop_assert_eq!(&scan.records[..], &records[..damaged]);
        let unopened = AofDamage::Unopened(OpenError::Authentication);
        let corrupt = matches!(
            &scan.end,
            AofEnd::Corrupt { offset, reason, .. } if *offset == start && *reason == unopened
        );
        prop_assert!(corrupt, "bit {}: {:?}", bit, scan.end);
    }

    #[test]
    fn another_key_or_file_salt_opens_nothing(
        records in vec(record(), 1..4),
        other_key in any::<[u8; 32]>(),
        other_salt in any::<[u8; 8]>(),
    ) {
        prop_assume!(other_key != TEST_KEY_BYTES && other_salt != FILE_SALT);
        let (data, _) = sealed_file(&records, [5; 8]);
        for opener in [
            AofOpener::new(SealKey::new(&other_key), FILE_SALT),
            AofOpener::new(key(), other_salt),
        ] {
            let scan = read_records_with(&data, 0, &opener);
            prop_assert!(scan.records.is_empty());
            let refused = matches!(
                scan.end,
                AofEnd::Corrupt { offset: 0, reason: AofDamage::Unopened(_), .. }
            );
            prop_assert!(refused, "{:?}", scan.end);
        }
        prop_assert!(!SealKey::new(&other_key).checks(FILE_SALT, &key().key_check(FILE_SALT)));
    }

    #[test]
    fn arbitrary_bytes_pass_the_sealed_fuzz_checks(data in vec(any::<u8>(), 0..256)) {
        check_replay_sealed(&data);
        check_load_sealed(&data);
    }

    #[test]
    fn sealed_snapshots_round_trip_and_refuse_any_flipped_bit(
        values in vec((vec(any::<u8>(), 0..24), vec(any::<u8>(), 0..24)), 0..6),
        bit in any::<prop::sample::Index>(),
    ) {
        let entries: Vec<SnapshotEntry> = values
            .into_iter()
            .map(|(key, value)| SnapshotEntry {
                db: 0,
                key: Bytes::from(key),
                expire_at_ms: None,
                value: SnapshotValue::Str(Bytes::from(value)),
            })
            .collect();
        let header = SnapshotHeader { shard: 1, created_unix_ms: 2, aof_epoch: 3 };
        let mut writer = SnapshotWriter::sealed(header, &key(), [6; 8]);
        let mut data = BytesMut::new();
        for entry in &entries {
            data.extend_from_slice(&writer.push(entry).expect("small").unwrap_or_default());
        }
        data.extend_from_slice(&writer.finish());
        let data = data.freeze();
        let (read_header, mut reader) = SnapshotReader::with_key(data.clone(), &key()).expect("opens");
        prop_assert_eq!(read_header, header);
        let mut loaded = Vec::new();
        while let Some(entry) = reader.next().expect("valid") {
            loaded.push(entry);
        }
        prop_assert_eq!(loaded, entries);
        let bit = bit.index(data.len() * 8);
        let refused = SnapshotReader::with_key(flip(&data, bit), &key()).map(|_| ());
        prop_assert!(refused.is_err(), "bit {} went unnoticed", bit);
    }
}
