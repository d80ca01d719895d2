//! The DUMP payload: one key's value as DUMP hands it out and RESTORE takes it back, on
//! this node or another. Pure code: the node turns values into `SnapshotValue`s and back.
//!
//! # Layout
//!
//! ```text
//! payload  = kind u8 | value | version u16 LE | checksum u64 LE
//! kind     = the snapshot's value kind (0 string, 1 list, 2 hash, 3 set, 4 zset)
//! value    = the snapshot's value encoding (see `snapshot`)
//! checksum = CRC32C of every byte before it (kind, value and version), zero-extended
//! ```
//!
//! Like Redis's, the payload is the value, then its format version, then a checksum over
//! both, so a reader checks the footer before it reads the value; the encoding is ember's
//! own. The checksum is CRC32C, as in the AOF and the snapshot: the crate already computes
//! it with the CPU's instruction, and its eight bytes leave room for a wider checksum under
//! a later version. A reader of this version refuses a checksum whose high four bytes are
//! not zero.
//!
//! # Validity
//!
//! `decode_dump` checks the length, then the version, then the checksum, and only then
//! reads the value, whose every count and length is checked against the bytes that remain
//! before anything is allocated. The value must end exactly where the footer starts. A
//! payload that decodes re-encodes to the same bytes: the value encoding is canonical.

use bytes::{BufMut, Bytes, BytesMut};

use crate::aof::Cursor;
use crate::snapshot::{
    decode_value, encode_value, value_encoded_len, value_kind, SnapshotError, SnapshotValue,
    SNAPSHOT_ENTRY_MAX_BYTES,
};

/// The layout version this build writes and reads.
pub const DUMP_VERSION: u16 = 1;

/// The footer after the value: the version and the checksum.
pub const DUMP_FOOTER_BYTES: usize = 2 + 8;

/// The longest payload: a kind byte, the largest value the snapshot format holds, and the
/// footer.
pub const DUMP_PAYLOAD_MAX_BYTES: usize = 1 + SNAPSHOT_ENTRY_MAX_BYTES + DUMP_FOOTER_BYTES;

/// Why a payload is refused. `Footer` errors are Redis's "version or checksum are wrong";
/// the others are a damaged value under a checksum that verifies.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DumpError {
    #[error("payload of {length} bytes is shorter than its {DUMP_FOOTER_BYTES}-byte footer")]
    TooShort { length: usize },
    #[error("payload of {length} bytes is over the limit of {DUMP_PAYLOAD_MAX_BYTES}")]
    TooLong { length: usize },
    #[error("unknown payload version {version} (this build reads {DUMP_VERSION})")]
    UnknownVersion { version: u16 },
    #[error("checksum mismatch: stored {stored:#018x}, computed {computed:#018x}")]
    ChecksumMismatch { stored: u64, computed: u64 },
    #[error("bad value: {0}")]
    BadValue(SnapshotError),
    #[error("{count} bytes between the value and the footer")]
    TrailingBytes { count: usize },
}

impl DumpError {
    /// Whether the footer is at fault (length, version or checksum) rather than the value.
    pub fn is_footer(&self) -> bool {
        matches!(
            self,
            DumpError::TooShort { .. }
                | DumpError::TooLong { .. }
                | DumpError::UnknownVersion { .. }
                | DumpError::ChecksumMismatch { .. }
        )
    }
}

/// The payload of `value`, or `None` if the value is over the snapshot format's limits.
/// Panics on an empty collection or a NaN score, which the keyspace never holds.
pub fn encode_dump(value: &SnapshotValue) -> Option<Bytes> {
    let value_len = value_encoded_len(value)?;
    let payload_len = 1 + value_len + DUMP_FOOTER_BYTES;
    assert!(payload_len <= DUMP_PAYLOAD_MAX_BYTES);
    let mut out = BytesMut::with_capacity(payload_len);
    out.put_u8(value_kind(value));
    encode_value(value, &mut out);
    assert_eq!(out.len(), 1 + value_len);
    out.put_u16_le(DUMP_VERSION);
    let checksum = u64::from(crc32c::crc32c(&out));
    out.put_u64_le(checksum);
    assert_eq!(out.len(), payload_len);
    Some(out.freeze())
}

/// Reads back what `encode_dump` wrote: the footer first, then the value, which must fill
/// the bytes before the footer exactly. Values are zero-copy slices of `payload`.
pub fn decode_dump(payload: &Bytes) -> Result<SnapshotValue, DumpError> {
    let length = payload.len();
    let Some(body_len) = length.checked_sub(DUMP_FOOTER_BYTES) else {
        return Err(DumpError::TooShort { length });
    };
    if length > DUMP_PAYLOAD_MAX_BYTES {
        return Err(DumpError::TooLong { length });
    }
    let mut footer = Cursor::new(payload, body_len, length);
    let version = footer.u16_le().expect("footer length checked");
    let stored = footer.u64_le().expect("footer length checked");
    assert_eq!(footer.remaining(), 0);
    if version != DUMP_VERSION {
        return Err(DumpError::UnknownVersion { version });
    }
    let computed = u64::from(crc32c::crc32c(&payload[..body_len + 2]));
    if stored != computed {
        return Err(DumpError::ChecksumMismatch { stored, computed });
    }
    let mut cursor = Cursor::new(payload, 0, body_len);
    let value = read_value(&mut cursor).map_err(DumpError::BadValue)?;
    if cursor.remaining() != 0 {
        let count = cursor.remaining();
        return Err(DumpError::TrailingBytes { count });
    }
    Ok(value)
}

/// The kind byte and the value it announces.
fn read_value(cursor: &mut Cursor<'_>) -> Result<SnapshotValue, SnapshotError> {
    let kind_offset = cursor.position();
    let Some(kind) = cursor.u8() else {
        return Err(SnapshotError {
            offset: kind_offset,
            kind: crate::snapshot::SnapshotErrorKind::EntryTruncated,
        });
    };
    let value = decode_value(kind, kind_offset, cursor)?;
    assert!(cursor.position() > kind_offset + 1);
    Ok(value)
}

/// The check that the `dump_payload` fuzz target and the corpus test run on arbitrary
/// bytes, kept here so they cannot drift apart. It decodes `data` as a payload, and again
/// as the kind and value of a payload whose footer is made to verify, so the value parser
/// is reached past the checksum. Whatever decodes must re-encode to the same bytes, decode
/// to the same value, and be refused with any one bit changed.
pub fn check_dump(data: &[u8]) {
    check_payload(&Bytes::copy_from_slice(data));
    let mut framed = BytesMut::with_capacity(data.len() + DUMP_FOOTER_BYTES);
    framed.put_slice(data);
    framed.put_u16_le(DUMP_VERSION);
    let checksum = u64::from(crc32c::crc32c(&framed));
    framed.put_u64_le(checksum);
    check_payload(&framed.freeze());
}

fn check_payload(payload: &Bytes) {
    // Refusals are the expected outcome for most inputs; only panics are findings.
    let Ok(value) = decode_dump(payload) else {
        return;
    };
    let encoded = encode_dump(&value).expect("a decoded value is within the limits");
    assert_eq!(&encoded, payload, "the encoding is canonical");
    let again = decode_dump(&encoded).expect("a re-encoded payload decodes");
    // Debug output tells -0.0 from 0.0, so scores compare by sign as well as value.
    assert_eq!(format!("{value:?}"), format!("{again:?}"));
    // CRC32C catches every one-bit error, so a changed bit anywhere is refused.
    let bit = crc32c::crc32c(payload) as usize % (payload.len() * 8);
    let mut flipped = BytesMut::from(&payload[..]);
    flipped[bit / 8] ^= 1 << (bit % 8);
    assert!(decode_dump(&flipped.freeze()).is_err(), "bit {bit} changed");
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn b(text: &str) -> Bytes {
        Bytes::copy_from_slice(text.as_bytes())
    }

    fn every_type() -> Vec<SnapshotValue> {
        vec![
            SnapshotValue::Str(b("")),
            SnapshotValue::Str(Bytes::from_static(b"\x00\xff\r\nbinary")),
            SnapshotValue::List(vec![b("a"), b(""), b("12345")]),
            SnapshotValue::Hash(vec![(b("f"), b("v")), (b("g"), b(""))]),
            SnapshotValue::Set(vec![b("1"), b("2"), b("x")]),
            SnapshotValue::ZSet(vec![(b("m"), 1.5), (b("n"), f64::NEG_INFINITY)]),
        ]
    }

    #[test]
    fn golden_string_payload() {
        let payload = encode_dump(&SnapshotValue::Str(b("v"))).expect("small");
        let mut expected = BytesMut::new();
        expected.put_slice(b"\x00\x01v\x01\x00");
        let checksum = crc32c::crc32c(&expected);
        expected.put_u32_le(checksum);
        expected.put_u32_le(0);
        assert_eq!(payload, expected.freeze());
    }

    #[test]
    fn every_type_round_trips() {
        for value in every_type() {
            let payload = encode_dump(&value).expect("small");
            assert_eq!(decode_dump(&payload), Ok(value.clone()));
            check_dump(&payload);
        }
    }

    #[test]
    fn damage_is_refused_by_the_footer() {
        let payload = encode_dump(&every_type()[3]).expect("small");
        for cut in 0..payload.len() {
            let error = decode_dump(&payload.slice(..cut)).expect_err("truncated");
            assert!(error.is_footer(), "cut at {cut}: {error}");
        }
        for bit in 0..payload.len() * 8 {
            let mut flipped = payload.to_vec();
            flipped[bit / 8] ^= 1 << (bit % 8);
            let error = decode_dump(&Bytes::from(flipped)).expect_err("flipped");
            assert!(error.is_footer(), "bit {bit}: {error}");
        }
    }

    #[test]
    fn unknown_versions_and_wide_checksums_are_refused() {
        let payload = encode_dump(&SnapshotValue::Str(b("v"))).expect("small");
        let version_at = payload.len() - DUMP_FOOTER_BYTES;
        let mut version = payload.to_vec();
        version[version_at] = 2;
        let checksum = crc32c::crc32c(&version[..version_at + 2]);
        version[version_at + 2..version_at + 6].copy_from_slice(&checksum.to_le_bytes());
        assert_eq!(
            decode_dump(&Bytes::from(version)),
            Err(DumpError::UnknownVersion { version: 2 })
        );
        let mut wide = payload.to_vec();
        wide[payload.len() - 1] = 1;
        assert!(matches!(
            decode_dump(&Bytes::from(wide)),
            Err(DumpError::ChecksumMismatch { .. })
        ));
    }

    #[test]
    fn bad_values_under_a_good_checksum_are_value_errors() {
        let frame = |body: &[u8]| {
            let mut out = BytesMut::from(body);
            out.put_u16_le(DUMP_VERSION);
            let checksum = u64::from(crc32c::crc32c(&out));
            out.put_u64_le(checksum);
            out.freeze()
        };
        for body in [
            &b""[..],
            b"\x09",
            b"\x01\x00",
            b"\x01\x80\x80\x80\x80\x01",
            b"\x00\x05ab",
        ] {
            let error = decode_dump(&frame(body)).expect_err("refused");
            assert!(matches!(error, DumpError::BadValue(_)), "{body:?}: {error}");
        }
        assert_eq!(
            decode_dump(&frame(b"\x00\x01vx")),
            Err(DumpError::TrailingBytes { count: 1 })
        );
    }

    #[test]
    fn check_dump_accepts_assorted_input() {
        check_dump(b"");
        check_dump(b"\x00");
        check_dump(b"\x00\x01v");
        check_dump(&[0xff; 40]);
    }

    fn value_strategy() -> impl Strategy<Value = SnapshotValue> {
        let blob = prop::collection::vec(any::<u8>(), 0..40).prop_map(Bytes::from);
        let blobs = prop::collection::vec(blob.clone(), 1..20);
        let score = any::<f64>().prop_filter("no NaN", |score| !score.is_nan());
        prop_oneof![
            blob.clone().prop_map(SnapshotValue::Str),
            blobs.clone().prop_map(SnapshotValue::List),
            blobs.prop_map(SnapshotValue::Set),
            prop::collection::vec((blob.clone(), blob.clone()), 1..20)
                .prop_map(SnapshotValue::Hash),
            prop::collection::vec((blob, score), 1..20).prop_map(SnapshotValue::ZSet),
        ]
    }

    proptest! {
        #[test]
        fn payloads_round_trip(value in value_strategy()) {
            let payload = encode_dump(&value).expect("small");
            let decoded = decode_dump(&payload).expect("decodes");
            prop_assert_eq!(format!("{decoded:?}"), format!("{value:?}"));
            check_dump(&payload);
        }
    }
}
