//! The append-only file's record format, its whole-file reader with torn-tail and
//! corruption classification, and a streaming decoder. Pure code: the node does the I/O.
//!
//! # Record layout
//!
//! ```text
//! record  = length u32 LE | crc u32 LE | payload          (length = payload bytes)
//! payload = db u8 | argc varint | argc * (arg_len varint | arg bytes)
//! varint  = unsigned LEB128, canonical (no trailing zero groups), at most 5 bytes, < 2^32
//! ```
//!
//! `crc` is CRC32C (Castagnoli) over the payload alone. The payload is one write command
//! as the node applied it. A payload must be at least `AOF_PAYLOAD_MIN_BYTES` long, which
//! also means a zero-filled region (length 0 and CRC 0, whose CRC would verify) is never
//! a record. `length` is at most `AOF_RECORD_MAX_BYTES`, `argc` is between 1 and
//! `AOF_ARGC_MAX`, each argument is at most `AOF_ARGUMENT_MAX_BYTES`, and the arguments
//! fill the payload exactly. All of these are checked before anything is allocated.
//!
//! # How a file ends
//!
//! `read_records` reads whole records from offset 0. It stops at the first position `p`
//! that does not hold a valid record: a header cut short, a length outside the limits, a
//! record running past the end of the file, a checksum mismatch, or a payload that does
//! not parse. Then:
//!
//! - `p` is the end of the file: `Clean`.
//! - The payload at `p` passed its checksum but does not parse: `Corrupt`. A crash cannot
//!   produce such a record, so it is a writer bug or a foreign file, and must not be cut.
//! - Otherwise the bytes after `p` are searched, offset by offset, for a valid record (a
//!   length within the limits, the whole record present, its CRC verifying and its
//!   payload parsing). If one is found at `q`: `Corrupt { offset: p }` with
//!   `next_valid_offset: Some(q)`, since damage with valid data after it is not a crash
//!   mid-write and start-up must stop. If the search hashes more than
//!   `AOF_RESYNC_HASH_MAX_BYTES` without an answer, valid data cannot be ruled out, so the
//!   result is also `Corrupt`, with `next_valid_offset: None`. If no valid record follows:
//!   `TornTail { offset: p }`, and recovery cuts the file back to `p`.
//!
//! A record embedded in an argument (a value that is itself an AOF) may be found by the
//! search inside a torn last record; that errs towards `Corrupt`, which stops start-up
//! rather than losing data.
//!
//! # Sealed records
//!
//! What the CRC covers is the record's stored payload. A `PayloadOpener` turns it into the
//! payload above: `Plain` takes it as it is (zero-copy), and `seal::AofOpener` (feature
//! `encryption`) authenticates and decrypts it. The opener also sets the stored length
//! limits. A record whose CRC verifies but which does not open is `Unopened` damage and is
//! treated exactly like a payload that does not parse: a crash cannot produce it, so it is
//! `Corrupt`, never a torn tail. The resync search counts a candidate as valid only if it
//! opens and parses, so the rule above holds for sealed files unchanged.
//!
//! ```text
//! sealed record = length u32 LE | crc u32 LE | salt [8] | counter u32 LE | ciphertext | tag [16]
//! ```
//!
//! The ciphertext is the payload above, as long as it. A sealed file opens with a plain
//! header record naming its salt and key check (the node's format): `first_record` reads
//! it, and `read_records_with(data, end_of_header, opener)` reads the rest.

use bytes::{BufMut, Bytes, BytesMut};

/// The bytes before each payload: its length and its CRC32C.
pub const AOF_RECORD_HEADER_BYTES: usize = 8;

/// The longest argument: Redis's `proto-max-bulk-len`.
pub const AOF_ARGUMENT_MAX_BYTES: usize = 512 * 1024 * 1024;

/// The longest payload: one largest argument plus 64 KiB for the command name, the key
/// and the framing. A command larger than this must be refused before it is applied.
pub const AOF_RECORD_MAX_BYTES: usize = AOF_ARGUMENT_MAX_BYTES + 64 * 1024;

/// The most arguments in one record, equal to the RESP decoder's multibulk limit, so
/// every request the server accepts can be logged.
pub const AOF_ARGC_MAX: usize = 16 * 1024 * 1024;

/// The shortest payload: a db byte, `argc` = 1, and one empty argument.
pub const AOF_PAYLOAD_MIN_BYTES: usize = 3;

/// How many payload bytes the search after a damaged record may hash before it gives up
/// and reports corruption: two largest records, so any real tail is searched in full
/// while a crafted file cannot make the scan quadratic without bound.
pub const AOF_RESYNC_HASH_MAX_BYTES: usize = 2 * AOF_RECORD_MAX_BYTES;

/// The longest varint: five 7-bit groups hold a `u32`.
pub const VARINT_MAX_BYTES: usize = 5;

const _: () = assert!(AOF_RECORD_MAX_BYTES <= u32::MAX as usize);
const _: () = assert!(AOF_ARGC_MAX <= AOF_RECORD_MAX_BYTES);
const _: () = assert!(AOF_ARGUMENT_MAX_BYTES < AOF_RECORD_MAX_BYTES);
const _: () = assert!(AOF_RESYNC_HASH_MAX_BYTES >= AOF_RECORD_MAX_BYTES);

/// One write command as the node applied it, in the database it applied it to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AofRecord {
    pub db: u8,
    pub argv: Vec<Bytes>,
}

/// Why the bytes at some offset are not a valid record.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AofDamage {
    #[error("record header cut short: {available} of {AOF_RECORD_HEADER_BYTES} bytes")]
    HeaderTruncated { available: usize },
    #[error("declared length {length} is over the limit of {limit} bytes")]
    LengthOverLimit { length: u32, limit: usize },
    #[error("declared length {length} is under the minimum of {minimum} bytes")]
    LengthUnderMinimum { length: u32, minimum: usize },
    #[error("record needs {needed} bytes but only {available} remain")]
    Incomplete { needed: usize, available: usize },
    #[error("checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    ChecksumMismatch { stored: u32, computed: u32 },
    #[error("payload does not parse: {0}")]
    Payload(PayloadError),
    #[error("payload does not open: {0}")]
    Unopened(OpenError),
}

impl AofDamage {
    /// Whether the record's checksum verified, so that the damage is not a crash's.
    pub fn is_checksummed(&self) -> bool {
        matches!(self, AofDamage::Payload(_) | AofDamage::Unopened(_))
    }
}

/// Why a stored payload whose checksum verified does not open.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error("{length} bytes are too few for a sealed payload")]
    TooShort { length: usize },
    #[error(
        "authentication failed: a wrong key, or bytes changed before their checksum was computed"
    )]
    Authentication,
}

/// Turns a record's stored payload (what its CRC covers) into the payload that parses.
pub trait PayloadOpener {
    /// The shortest stored payload a record may declare.
    fn stored_len_min(&self) -> usize;
    /// The longest stored payload a record may declare.
    fn stored_len_max(&self) -> usize;
    /// The plain payload of a record whose CRC verified, or why it does not open.
    fn open(&self, stored: Bytes) -> Result<Bytes, OpenError>;
}

/// Records stored as they are. Opening is a zero-copy no-op.
#[derive(Clone, Copy, Debug, Default)]
pub struct Plain;

impl PayloadOpener for Plain {
    fn stored_len_min(&self) -> usize {
        AOF_PAYLOAD_MIN_BYTES
    }

    fn stored_len_max(&self) -> usize {
        AOF_RECORD_MAX_BYTES
    }

    fn open(&self, stored: Bytes) -> Result<Bytes, OpenError> {
        Ok(stored)
    }
}

/// Why a payload whose checksum may well verify is still not one command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("payload ends inside a field")]
    Truncated,
    #[error("invalid or non-canonical varint")]
    BadVarint,
    #[error("argc is zero")]
    ArgcZero,
    #[error("argc {argc} is over the limit")]
    ArgcOverLimit { argc: u32 },
    #[error("argument of {length} bytes is over the limit")]
    ArgumentOverLimit { length: u32 },
    #[error("{count} bytes after the last argument")]
    TrailingBytes { count: usize },
}

/// How the scanned bytes end. The module doc gives the exact rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AofEnd {
    /// The last record ends exactly at the end of the file.
    Clean,
    /// A crash mid-write: nothing valid follows `offset`, so the file is cut back to it.
    TornTail { offset: usize, damage: AofDamage },
    /// Damage in the middle: start-up stops and names `offset`.
    Corrupt {
        offset: usize,
        reason: AofDamage,
        next_valid_offset: Option<usize>,
    },
}

/// The result of reading a whole file: its records, where valid data ends, and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AofScan {
    pub records: Vec<AofRecord>,
    /// The offset just after the last whole record; equal to the file's length when
    /// `end` is `Clean`, and to the damaged offset otherwise.
    pub valid_len: usize,
    pub end: AofEnd,
}

/// The result of searching the bytes after a damaged record.
enum Resync {
    Found(usize),
    NotFound,
    BudgetExhausted,
}

/// Reads every whole record of a plain file and classifies its end. The records'
/// arguments are zero-copy slices of `data`.
pub fn read_records(data: &Bytes) -> AofScan {
    read_records_with(data, 0, &Plain)
}

/// Reads every whole record from `start` on, each opened by `opener`, and classifies the
/// end of the file. Offsets in the result are offsets in `data`.
pub fn read_records_with(data: &Bytes, start: usize, opener: &impl PayloadOpener) -> AofScan {
    assert!(start <= data.len());
    let mut records = Vec::new();
    let mut position = start;
    // Bounded by the input: every record consumes more than AOF_RECORD_HEADER_BYTES.
    loop {
        assert!(position <= data.len());
        match decode_record_at(data, position, opener) {
            Ok(None) => {
                return AofScan {
                    records,
                    valid_len: position,
                    end: AofEnd::Clean,
                };
            }
            Ok(Some((record, next))) => {
                assert!(next > position);
                records.push(record);
                position = next;
            }
            Err(damage) => {
                let end = classify_tail_with(&data.slice(position..), position, damage, opener);
                return AofScan {
                    records,
                    valid_len: position,
                    end,
                };
            }
        }
    }
}

/// Classifies the end of a plain file whose first damaged record starts `tail`, which runs
/// to the end of the file; `offset` is where `tail` starts in the file. `read_records` and
/// a caller of `AofDecoder` share it, so both apply one rule.
pub fn classify_tail(tail: &Bytes, offset: usize, damage: AofDamage) -> AofEnd {
    classify_tail_with(tail, offset, damage, &Plain)
}

/// `classify_tail` for records opened by `opener`.
pub fn classify_tail_with(
    tail: &Bytes,
    offset: usize,
    damage: AofDamage,
    opener: &impl PayloadOpener,
) -> AofEnd {
    assert!(!tail.is_empty(), "an empty tail is a clean end, not damage");
    if damage.is_checksummed() {
        let next_valid_offset = match resync(tail, opener) {
            Resync::Found(at) => Some(offset + at),
            Resync::NotFound | Resync::BudgetExhausted => None,
        };
        return AofEnd::Corrupt {
            offset,
            reason: damage,
            next_valid_offset,
        };
    }
    match resync(tail, opener) {
        Resync::NotFound => AofEnd::TornTail { offset, damage },
        Resync::Found(at) => AofEnd::Corrupt {
            offset,
            reason: damage,
            next_valid_offset: Some(offset + at),
        },
        Resync::BudgetExhausted => AofEnd::Corrupt {
            offset,
            reason: damage,
            next_valid_offset: None,
        },
    }
}

/// The payload length `record` encodes to, or `None` if it breaks a limit. The node
/// checks this before applying a command, because `encode_record` asserts it.
pub fn record_payload_len(record: &AofRecord) -> Option<usize> {
    command_payload_len(&record.argv)
}

/// The payload length of the record of `argv`, or `None` if it breaks a limit.
pub fn command_payload_len<A: AsRef<[u8]>>(argv: &[A]) -> Option<usize> {
    if argv.is_empty() || argv.len() > AOF_ARGC_MAX {
        return None;
    }
    let mut length = 1 + varint_len(u32::try_from(argv.len()).ok()?);
    for argument in argv {
        let argument = argument.as_ref();
        if argument.len() > AOF_ARGUMENT_MAX_BYTES {
            return None;
        }
        let argument_len = u32::try_from(argument.len()).ok()?;
        length = length
            .checked_add(varint_len(argument_len))?
            .checked_add(argument.len())?;
    }
    (length <= AOF_RECORD_MAX_BYTES).then_some(length)
}

/// Appends one record. Panics if the record breaks a limit: see `record_payload_len`.
pub fn encode_record(record: &AofRecord, out: &mut BytesMut) {
    encode_command(record.db, &record.argv, out);
}

/// Appends the record of `argv` run in `db`, without building an `AofRecord`. Panics if
/// the record breaks a limit: see `command_payload_len`.
pub fn encode_command<A: AsRef<[u8]>>(db: u8, argv: &[A], out: &mut BytesMut) {
    let payload_len = command_payload_len(argv).expect("an AOF record within the limits");
    assert!(payload_len >= AOF_PAYLOAD_MIN_BYTES);
    let start = out.len();
    out.reserve(AOF_RECORD_HEADER_BYTES + payload_len);
    out.put_u32_le(payload_len as u32);
    // The CRC is patched in once the payload is written, so it is hashed in place.
    out.put_u32_le(0);
    out.put_u8(db);
    put_varint(argv.len() as u32, out);
    for argument in argv {
        let argument = argument.as_ref();
        put_varint(argument.len() as u32, out);
        out.put_slice(argument);
    }
    let payload_start = start + AOF_RECORD_HEADER_BYTES;
    assert_eq!(out.len() - payload_start, payload_len);
    let crc = crc32c::crc32c(&out[payload_start..]);
    out[start + 4..payload_start].copy_from_slice(&crc.to_le_bytes());
}

/// The plain record at the start of `data` (an AOF's header record, which is never
/// sealed) and the offset after it; `Ok(None)` if `data` is empty.
pub fn first_record(data: &Bytes) -> Result<Option<(AofRecord, usize)>, AofDamage> {
    decode_record_at(data, 0, &Plain)
}

/// Decodes the record at `position`: `Ok(None)` at the end of `data`, else the record
/// and the offset after it, or why the bytes there are not a record.
fn decode_record_at(
    data: &Bytes,
    position: usize,
    opener: &impl PayloadOpener,
) -> Result<Option<(AofRecord, usize)>, AofDamage> {
    if position == data.len() {
        return Ok(None);
    }
    let stored_len = check_frame(&data[position..], opener)?;
    let stored_start = position + AOF_RECORD_HEADER_BYTES;
    let stored_end = stored_start + stored_len;
    let record = open_and_decode(data.slice(stored_start..stored_end), opener)?;
    Ok(Some((record, stored_end)))
}

/// Opens a stored payload whose CRC verified and parses the plain payload.
fn open_and_decode(stored: Bytes, opener: &impl PayloadOpener) -> Result<AofRecord, AofDamage> {
    let payload = opener.open(stored).map_err(AofDamage::Unopened)?;
    decode_payload(&payload, 0, payload.len()).map_err(AofDamage::Payload)
}

/// Checks the header, the limits, completeness and the CRC of the record that starts
/// `bytes`, and returns its stored payload length. Nothing is allocated.
fn check_frame(bytes: &[u8], opener: &impl PayloadOpener) -> Result<usize, AofDamage> {
    let Some(header) = bytes.get(..AOF_RECORD_HEADER_BYTES) else {
        return Err(AofDamage::HeaderTruncated {
            available: bytes.len(),
        });
    };
    let length = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    let stored = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    let payload_len = length as usize;
    let (minimum, limit) = (opener.stored_len_min(), opener.stored_len_max());
    assert!(minimum >= AOF_PAYLOAD_MIN_BYTES);
    assert!(limit <= u32::MAX as usize - AOF_RECORD_HEADER_BYTES);
    if payload_len > limit {
        return Err(AofDamage::LengthOverLimit { length, limit });
    }
    if payload_len < minimum {
        return Err(AofDamage::LengthUnderMinimum { length, minimum });
    }
    // Cannot overflow: the limit leaves room for the header below u32::MAX.
    let needed = AOF_RECORD_HEADER_BYTES + payload_len;
    let Some(payload) = bytes.get(AOF_RECORD_HEADER_BYTES..needed) else {
        return Err(AofDamage::Incomplete {
            needed,
            available: bytes.len(),
        });
    };
    let computed = crc32c::crc32c(payload);
    if computed != stored {
        return Err(AofDamage::ChecksumMismatch { stored, computed });
    }
    Ok(payload_len)
}

/// Parses the payload `data[start..end]` into a record of zero-copy argument slices.
fn decode_payload(data: &Bytes, start: usize, end: usize) -> Result<AofRecord, PayloadError> {
    let mut cursor = Cursor::new(data, start, end);
    let db = cursor.u8().ok_or(PayloadError::Truncated)?;
    let argc = cursor.varint().map_err(payload_error)?;
    if argc == 0 {
        return Err(PayloadError::ArgcZero);
    }
    // Each argument takes at least its one-byte length, so argc above the bytes left
    // is refused before it sizes the vector.
    if argc as usize > AOF_ARGC_MAX || argc as usize > cursor.remaining() {
        return Err(PayloadError::ArgcOverLimit { argc });
    }
    let mut argv = Vec::with_capacity(argc as usize);
    for _ in 0..argc {
        let length = cursor.varint().map_err(payload_error)?;
        if length as usize > AOF_ARGUMENT_MAX_BYTES {
            return Err(PayloadError::ArgumentOverLimit { length });
        }
        argv.push(
            cursor
                .bytes(length as usize)
                .ok_or(PayloadError::Truncated)?,
        );
    }
    if cursor.remaining() > 0 {
        return Err(PayloadError::TrailingBytes {
            count: cursor.remaining(),
        });
    }
    assert_eq!(argv.len(), argc as usize);
    Ok(AofRecord { db, argv })
}

fn payload_error(error: CursorError) -> PayloadError {
    match error {
        CursorError::Truncated => PayloadError::Truncated,
        CursorError::BadVarint => PayloadError::BadVarint,
    }
}

/// Searches `tail` (which starts at a damaged record) for the first later offset that
/// holds a valid record, hashing at most `AOF_RESYNC_HASH_MAX_BYTES`.
fn resync(tail: &Bytes, opener: &impl PayloadOpener) -> Resync {
    let mut hashed_bytes: usize = 0;
    let (minimum, limit) = (opener.stored_len_min(), opener.stored_len_max());
    let smallest_record = AOF_RECORD_HEADER_BYTES + minimum;
    // Bounded by the tail: one candidate per byte, and by the hashing budget.
    for candidate in 1..tail.len() {
        let rest = &tail[candidate..];
        if rest.len() < smallest_record {
            break;
        }
        let length = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let plausible = (minimum..=limit).contains(&length);
        if !plausible || length > rest.len() - AOF_RECORD_HEADER_BYTES {
            continue;
        }
        hashed_bytes = hashed_bytes.saturating_add(length);
        if hashed_bytes > AOF_RESYNC_HASH_MAX_BYTES {
            return Resync::BudgetExhausted;
        }
        if decode_record_at(tail, candidate, opener).is_ok() {
            return Resync::Found(candidate);
        }
    }
    Resync::NotFound
}

/// A damaged record met by `AofDecoder`, at an absolute file offset.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("AOF damaged at byte {offset}: {damage}")]
pub struct AofStreamError {
    pub offset: usize,
    pub damage: AofDamage,
}

/// An incremental reader fed a file in chunks. On damage it reports the offset; the
/// caller then reads the rest of the file from there and passes it to `classify_tail`
/// (`classify_tail_with` and the same opener for a sealed file). At the end of the file,
/// `finish` classifies whatever is left over.
#[derive(Debug)]
pub struct AofDecoder<O = Plain> {
    buffer: BytesMut,
    /// The file offset of `buffer[0]`.
    offset: usize,
    opener: O,
}

impl Default for AofDecoder<Plain> {
    fn default() -> AofDecoder<Plain> {
        AofDecoder::with_opener(Plain, 0)
    }
}

impl AofDecoder<Plain> {
    pub fn new() -> AofDecoder<Plain> {
        AofDecoder::default()
    }
}

impl<O: PayloadOpener> AofDecoder<O> {
    /// A decoder whose first byte fed is at file offset `offset`, opening records with
    /// `opener`.
    pub fn with_opener(opener: O, offset: usize) -> AofDecoder<O> {
        AofDecoder {
            buffer: BytesMut::new(),
            offset,
            opener,
        }
    }

    /// Appends the next chunk of the file.
    pub fn feed(&mut self, chunk: &[u8]) {
        self.buffer.extend_from_slice(chunk);
    }

    /// The file offset just after the last record returned.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// The next record, `Ok(None)` if more bytes are needed, or the damage at `offset()`.
    /// After an error the decoder keeps returning it.
    pub fn next_record(&mut self) -> Result<Option<AofRecord>, AofStreamError> {
        let stored_len = match check_frame(&self.buffer, &self.opener) {
            Ok(stored_len) => stored_len,
            Err(AofDamage::HeaderTruncated { .. } | AofDamage::Incomplete { .. }) => {
                return Ok(None);
            }
            Err(damage) => return Err(self.error(damage)),
        };
        let record_len = AOF_RECORD_HEADER_BYTES + stored_len;
        let record = self.buffer.split_to(record_len).freeze();
        match open_and_decode(record.slice(AOF_RECORD_HEADER_BYTES..), &self.opener) {
            Ok(decoded) => {
                self.offset += record_len;
                Ok(Some(decoded))
            }
            Err(damage) => {
                // Put the bytes back, so a retry and `finish` see the same damage.
                let mut restored = BytesMut::from(&record[..]);
                restored.unsplit(self.buffer.split());
                self.buffer = restored;
                Err(self.error(damage))
            }
        }
    }

    /// Classifies the end of the file once every chunk has been fed and `next_record`
    /// has returned `Ok(None)` or an error.
    pub fn finish(self) -> AofEnd {
        if self.buffer.is_empty() {
            return AofEnd::Clean;
        }
        let tail = self.buffer.freeze();
        let damage = match decode_record_at(&tail, 0, &self.opener) {
            Err(damage) => damage,
            Ok(_) => panic!("finish called while a whole record was still buffered"),
        };
        classify_tail_with(&tail, self.offset, damage, &self.opener)
    }

    fn error(&self, damage: AofDamage) -> AofStreamError {
        AofStreamError {
            offset: self.offset,
            damage,
        }
    }
}

/// The check that the `aof_replay` fuzz target and the corpus test run on arbitrary
/// bytes, kept here so they cannot drift apart. It reads `data` as a file, and again as
/// one payload framed with a correct header, so the payload parser is reached past the
/// CRC.
pub fn check_replay(data: &[u8]) {
    check_file(&Bytes::copy_from_slice(data), &Plain);
    check_file(&frame_as_record(data), &Plain);
}

/// `data` (up to the longest payload) framed as one record with a correct header.
fn frame_as_record(data: &[u8]) -> Bytes {
    let payload_len = data.len().min(AOF_RECORD_MAX_BYTES);
    let mut framed = BytesMut::with_capacity(AOF_RECORD_HEADER_BYTES + payload_len);
    framed.put_u32_le(payload_len as u32);
    framed.put_u32_le(crc32c::crc32c(&data[..payload_len]));
    framed.put_slice(&data[..payload_len]);
    framed.freeze()
}

/// The check of the `aof_replay_sealed` fuzz target, on files sealed with
/// `seal::TEST_KEY_BYTES` and `seal::TEST_FILE_SALT`. It reads `data` as a sealed file; seals `data` as one payload,
/// so the parser is reached past the tag; and seals the records of `data` read as a plain
/// file, then checks that a flipped bit under a correct CRC is `Corrupt` at that record and
/// that a cut inside the last record is a torn tail.
#[cfg(feature = "encryption")]
pub fn check_replay_sealed(data: &[u8]) {
    use crate::seal::{AofOpener, AofSealer, SealKey, TEST_FILE_SALT, TEST_KEY_BYTES};
    let file_salt = TEST_FILE_SALT;
    let key = SealKey::new(&TEST_KEY_BYTES);
    let opener = AofOpener::new(key.clone(), file_salt);
    let mut sealer = AofSealer::new(key, file_salt, *b"run salt");
    let mut no_new_salt = || unreachable!("a few records never exhaust a run");
    check_file(&Bytes::copy_from_slice(data), &opener);
    if data.len() >= AOF_PAYLOAD_MIN_BYTES {
        let mut sealed = BytesMut::new();
        sealer.seal_records(&frame_as_record(data), &mut sealed, &mut no_new_salt);
        check_file(&sealed.freeze(), &opener);
    }
    let plain = read_records(&Bytes::copy_from_slice(data));
    let mut sealed = BytesMut::new();
    let mut starts = Vec::with_capacity(plain.records.len());
    for record in &plain.records {
        let mut encoded = BytesMut::new();
        encode_record(record, &mut encoded);
        starts.push(sealed.len());
        sealer.seal_records(&encoded, &mut sealed, &mut no_new_salt);
    }
    let sealed = sealed.freeze();
    let scan = read_records_with(&sealed, 0, &opener);
    assert_eq!(
        scan.records, plain.records,
        "sealed records open as written"
    );
    assert_eq!(scan.end, AofEnd::Clean);
    if let Some(&last) = starts.last() {
        let selector = crc32c::crc32c(data) as usize;
        check_sealed_damage(&sealed, &starts, selector, &opener, &plain.records);
        let cut = last + 1 + selector % (sealed.len() - last - 1);
        let scan = read_records_with(&sealed.slice(..cut), 0, &opener);
        assert_eq!(scan.records, plain.records[..starts.len() - 1]);
        assert!(matches!(scan.end, AofEnd::TornTail { offset, .. } if offset == last));
    }
}

/// Flips one bit in the stored payload of a record chosen by `selector`, recomputes that
/// record's CRC, and checks the scan stops there with `Unopened` corruption.
#[cfg(feature = "encryption")]
fn check_sealed_damage(
    sealed: &Bytes,
    starts: &[usize],
    selector: usize,
    opener: &impl PayloadOpener,
    records: &[AofRecord],
) {
    let index = selector % starts.len();
    let start = starts[index];
    let end = starts.get(index + 1).copied().unwrap_or(sealed.len());
    let stored_start = start + AOF_RECORD_HEADER_BYTES;
    let mut damaged = BytesMut::from(&sealed[..]);
    damaged[stored_start + selector / 8 % (end - stored_start)] ^= 1 << (selector % 8);
    let crc = crc32c::crc32c(&damaged[stored_start..end]);
    damaged[start + 4..stored_start].copy_from_slice(&crc.to_le_bytes());
    let scan = read_records_with(&damaged.freeze(), 0, opener);
    assert_eq!(scan.records, records[..index]);
    let unopened = AofDamage::Unopened(OpenError::Authentication);
    assert!(
        matches!(&scan.end, AofEnd::Corrupt { offset, reason, .. } if *offset == start && *reason == unopened),
        "a changed sealed record under a valid CRC is corruption: {:?}",
        scan.end
    );
}

fn check_file(data: &Bytes, opener: &(impl PayloadOpener + Clone)) {
    let scan = read_records_with(data, 0, opener);
    check_reencoding(data, &scan, opener);
    match &scan.end {
        AofEnd::Clean => assert_eq!(scan.valid_len, data.len()),
        AofEnd::TornTail { offset, .. } => assert_eq!(*offset, scan.valid_len),
        AofEnd::Corrupt {
            offset,
            next_valid_offset,
            ..
        } => {
            assert_eq!(*offset, scan.valid_len);
            if let Some(next) = next_valid_offset {
                assert!(*next > *offset);
                let found = decode_record_at(data, *next, opener);
                assert!(found.is_ok_and(|record| record.is_some()));
            }
        }
    }
    check_stream(data, &scan, opener.clone());
}

/// Checks that every record read opens to exactly the payload `encode_record` writes for
/// it, so a plain file's valid prefix re-encodes to the same bytes.
fn check_reencoding(data: &Bytes, scan: &AofScan, opener: &impl PayloadOpener) {
    let mut position = 0;
    for record in &scan.records {
        let stored_len = check_frame(&data[position..], opener).expect("a record the scan read");
        let stored_start = position + AOF_RECORD_HEADER_BYTES;
        let stored = data.slice(stored_start..stored_start + stored_len);
        let payload = opener.open(stored).expect("a record the scan opened");
        let mut encoded = BytesMut::new();
        encode_record(record, &mut encoded);
        assert_eq!(
            &encoded[AOF_RECORD_HEADER_BYTES..],
            &payload[..],
            "records re-encode exactly"
        );
        position = stored_start + stored_len;
    }
    assert_eq!(position, scan.valid_len);
}

/// Feeds `data` to `AofDecoder` in uneven chunks and checks it agrees with the scan.
fn check_stream<O: PayloadOpener>(data: &Bytes, scan: &AofScan, opener: O) {
    let mut decoder = AofDecoder::with_opener(opener, 0);
    let mut records = Vec::new();
    let mut fed = 0;
    let mut chunk_len = 1;
    // Bounded by the input: every pass feeds at least one byte or ends the loop.
    loop {
        match decoder.next_record() {
            Ok(Some(record)) => records.push(record),
            Ok(None) if fed < data.len() => {
                let end = data.len().min(fed + chunk_len);
                decoder.feed(&data[fed..end]);
                fed = end;
                chunk_len = chunk_len % 13 + 5;
            }
            Ok(None) | Err(_) => break,
        }
    }
    assert_eq!(records, scan.records);
    assert_eq!(decoder.offset(), scan.valid_len);
    if fed == data.len() {
        assert_eq!(decoder.finish(), scan.end);
    }
}

/// A bounds-checked reader over `data[start..end]`, shared with the snapshot format.
pub(crate) struct Cursor<'a> {
    data: &'a Bytes,
    position: usize,
    end: usize,
}

/// Why a `Cursor` read failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CursorError {
    Truncated,
    BadVarint,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(data: &'a Bytes, start: usize, end: usize) -> Cursor<'a> {
        assert!(start <= end);
        assert!(end <= data.len());
        Cursor {
            data,
            position: start,
            end,
        }
    }

    pub(crate) fn position(&self) -> usize {
        self.position
    }

    pub(crate) fn remaining(&self) -> usize {
        self.end - self.position
    }

    fn take(&mut self, count: usize) -> Option<&'a [u8]> {
        if count > self.remaining() {
            return None;
        }
        let slice = &self.data[self.position..self.position + count];
        self.position += count;
        Some(slice)
    }

    pub(crate) fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|bytes| bytes[0])
    }

    pub(crate) fn u16_le(&mut self) -> Option<u16> {
        let bytes = self.take(2)?;
        Some(u16::from_le_bytes([bytes[0], bytes[1]]))
    }

    pub(crate) fn u32_le(&mut self) -> Option<u32> {
        let bytes = self.take(4)?;
        Some(u32::from_le_bytes(bytes.try_into().expect("four bytes")))
    }

    pub(crate) fn u64_le(&mut self) -> Option<u64> {
        let bytes = self.take(8)?;
        Some(u64::from_le_bytes(bytes.try_into().expect("eight bytes")))
    }

    /// A zero-copy slice of the next `count` bytes.
    pub(crate) fn bytes(&mut self, count: usize) -> Option<Bytes> {
        if count > self.remaining() {
            return None;
        }
        let slice = self.data.slice(self.position..self.position + count);
        self.position += count;
        Some(slice)
    }

    /// A canonical LEB128 `u32`: overlong forms are refused, so that every value has one
    /// encoding and decoded records re-encode to the same bytes.
    pub(crate) fn varint(&mut self) -> Result<u32, CursorError> {
        let mut value: u32 = 0;
        for index in 0..VARINT_MAX_BYTES {
            let byte = self.u8().ok_or(CursorError::Truncated)?;
            let group = u32::from(byte & 0x7f);
            if index == VARINT_MAX_BYTES - 1 && byte > 0x0f {
                return Err(CursorError::BadVarint);
            }
            value |= group << (7 * index);
            if byte & 0x80 == 0 {
                if index > 0 && byte == 0 {
                    return Err(CursorError::BadVarint);
                }
                return Ok(value);
            }
        }
        unreachable!("the fifth byte has no continuation bit, checked above")
    }
}

/// Appends `value` as canonical LEB128.
pub(crate) fn put_varint(value: u32, out: &mut BytesMut) {
    let mut rest = value;
    // Bounded: a u32 has at most five 7-bit groups.
    for _ in 0..VARINT_MAX_BYTES {
        if rest < 0x80 {
            out.put_u8(rest as u8);
            return;
        }
        out.put_u8((rest & 0x7f) as u8 | 0x80);
        rest >>= 7;
    }
    unreachable!("a u32 fits in five groups");
}

/// The bytes `put_varint` writes for `value`.
pub(crate) fn varint_len(value: u32) -> usize {
    match value {
        0..=0x7f => 1,
        0x80..=0x3fff => 2,
        0x4000..=0x1f_ffff => 3,
        0x20_0000..=0x0fff_ffff => 4,
        _ => 5,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(db: u8, argv: &[&str]) -> AofRecord {
        let argv = argv
            .iter()
            .map(|arg| Bytes::from(arg.to_string()))
            .collect();
        AofRecord { db, argv }
    }

    fn file(records: &[AofRecord]) -> Bytes {
        let mut out = BytesMut::new();
        for record in records {
            encode_record(record, &mut out);
        }
        out.freeze()
    }

    #[test]
    fn golden_record_bytes() {
        let mut out = BytesMut::new();
        encode_record(&record(2, &["SET", "k", "v"]), &mut out);
        let payload = b"\x02\x03\x03SET\x01k\x01v";
        assert_eq!(&out[..4], &(payload.len() as u32).to_le_bytes());
        assert_eq!(&out[4..8], &crc32c::crc32c(payload).to_le_bytes());
        assert_eq!(&out[8..], payload);
    }

    #[test]
    fn varints_round_trip_and_refuse_overlong_forms() {
        for value in [0, 1, 0x7f, 0x80, 0x3fff, 0x4000, 0x0fff_ffff, u32::MAX] {
            let mut out = BytesMut::new();
            put_varint(value, &mut out);
            assert_eq!(out.len(), varint_len(value));
            let data = out.freeze();
            let mut cursor = Cursor::new(&data, 0, data.len());
            assert_eq!(cursor.varint(), Ok(value));
            assert_eq!(cursor.remaining(), 0);
        }
        for bad in [&b"\x80\x00"[..], b"\xff\xff\xff\xff\x10", b"\x81\x80\x00"] {
            let data = Bytes::copy_from_slice(bad);
            let mut cursor = Cursor::new(&data, 0, data.len());
            assert_eq!(cursor.varint(), Err(CursorError::BadVarint));
        }
        let data = Bytes::from_static(b"\x80");
        assert_eq!(
            Cursor::new(&data, 0, 1).varint(),
            Err(CursorError::Truncated)
        );
    }

    #[test]
    fn zero_filled_tail_is_torn_not_a_record() {
        let mut data = BytesMut::from(&file(&[record(0, &["DEL", "a"])])[..]);
        let valid_len = data.len();
        data.put_bytes(0, 4096);
        let scan = read_records(&data.freeze());
        assert_eq!(scan.records.len(), 1);
        assert!(matches!(scan.end, AofEnd::TornTail { offset, .. } if offset == valid_len));
    }

    #[test]
    fn checksummed_bad_payload_is_corrupt_even_at_the_tail() {
        let payload = b"\x00\x00\x00";
        let mut data = BytesMut::new();
        data.put_u32_le(3);
        data.put_u32_le(crc32c::crc32c(payload));
        data.put_slice(payload);
        let scan = read_records(&data.freeze());
        let expected = AofDamage::Payload(PayloadError::ArgcZero);
        assert!(
            matches!(scan.end, AofEnd::Corrupt { offset: 0, reason, .. } if reason == expected)
        );
    }

    #[test]
    fn argc_over_the_payload_is_refused_before_allocating() {
        let payload = b"\x00\xff\xff\xff\x07\x00";
        let data = Bytes::copy_from_slice(payload);
        let error = decode_payload(&data, 0, data.len());
        assert!(matches!(error, Err(PayloadError::ArgcOverLimit { .. })));
    }

    #[test]
    fn record_payload_len_refuses_empty_and_oversized_commands() {
        assert_eq!(record_payload_len(&record(0, &[])), None);
        assert_eq!(record_payload_len(&record(0, &["PING"])), Some(7));
    }

    #[test]
    fn check_replay_accepts_assorted_input() {
        let data = file(&[record(0, &["SET", "a", "1"]), record(9, &["INCR", "b"])]);
        check_replay(&data);
        check_replay(&data[..data.len() - 1]);
        check_replay(b"");
        check_replay(b"\x03\x00\x00\x00\x00\x00");
    }

    #[cfg(feature = "encryption")]
    #[test]
    fn check_replay_sealed_accepts_assorted_input() {
        let data = file(&[record(0, &["SET", "a", "1"]), record(9, &["INCR", "b"])]);
        for cut in 0..=data.len() {
            check_replay_sealed(&data[..cut]);
        }
        check_replay_sealed(b"\x03\x00\x00\x00\x00\x00");
    }
}
