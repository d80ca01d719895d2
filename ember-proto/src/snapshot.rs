//! The per-shard snapshot format: a point-in-time copy of one shard's keys, written
//! incrementally by `SnapshotWriter` and read back by `SnapshotReader`. Pure code: the
//! node writes the chunks to a temporary file, fsyncs and renames it.
//!
//! # Layout
//!
//! ```text
//! file    = header | block* | footer_block                  (nothing after the footer)
//! header  = "EMBERSNP" | version u16 LE | shard u16 LE | created_unix_ms u64 LE
//!           | aof_epoch u64 LE | [seal] | header_crc u32 LE  (CRC32C of the bytes before)
//! seal    = salt [8] | key_check [16]                        (version 2 only)
//! block   = length u32 LE | crc u32 LE | stored              (CRC32C of `stored`)
//! stored  = payload                                          (version 1: plain)
//!         | sealed payload | tag [16]                        (version 2: AES-256-GCM)
//! payload = 0x01 | entry+                                    (an entries block)
//!         | 0x02 | entry_count u64 LE | block_count u64 LE | blocks_crc u32 LE  (footer)
//! entry   = db u8 | kind u8 | key:blob | expiry u8 (0 or 1) | [expire_at_ms u64 LE]
//!           | value
//! value   = kind 0 string: blob
//!         | kind 1 list:   count varint | count * blob
//!         | kind 2 hash:   count varint | count * (field:blob | value:blob)
//!         | kind 3 set:    count varint | count * blob
//!         | kind 4 zset:   count varint | count * (member:blob | score f64 bits u64 LE)
//! blob    = length varint | bytes                            (varint as in `aof`)
//! ```
//!
//! `blocks_crc` is the CRC32C of every entries block's `crc` field (4 bytes LE each) in
//! file order, so a block that is dropped, repeated or moved fails the footer even though
//! its own CRC verifies. Collections have at least one element and scores are never NaN,
//! as in the keyspace. An entry must fit in one block, so one key's value is at most
//! `SNAPSHOT_ENTRY_MAX_BYTES`; larger values are refused by `push`.
//!
//! Version 1 is a plain snapshot. Version 2 is sealed (feature `encryption`): block `i`,
//! the footer included, is sealed with AES-256-GCM under the nonce `salt || i` and the
//! header before its CRC as AAD; `key_check` tells a wrong key from damage (see `seal`).
//!
//! # Validity
//!
//! `SnapshotReader::new` verifies the header, every block's framing and CRC, and the
//! footer's block count and `blocks_crc` before any entry is returned, so damage anywhere
//! in the file fails up front. `SnapshotReader::with_key` first checks the key, then
//! checks each block's CRC and opens it (a CRC that verifies over a block that does not
//! open is `BlockUnopened`), then verifies as `new` does. The entry count is checked when
//! `next` reaches the footer: the caller loads entries into a staging area and adopts it
//! only on `Ok(None)`.

use bytes::{BufMut, Bytes, BytesMut};

use crate::aof::{put_varint, varint_len, Cursor, CursorError};
#[cfg(feature = "encryption")]
use crate::seal::{nonce, SealKey, KEY_CHECK_COUNTER, SEAL_SALT_BYTES, SEAL_TAG_BYTES};

/// The first eight bytes of every snapshot.
pub const SNAPSHOT_MAGIC: [u8; 8] = *b"EMBERSNP";

/// The layout version of a plain snapshot.
pub const SNAPSHOT_VERSION: u16 = 1;

/// The layout version of a sealed snapshot.
pub const SNAPSHOT_VERSION_SEALED: u16 = 2;

/// The header: magic, version, shard, creation time, AOF epoch and its CRC.
pub const SNAPSHOT_HEADER_BYTES: usize = 8 + 2 + 2 + 8 + 8 + 4;

/// A sealed snapshot's header: the plain header's fields, then the salt and key check,
/// then the CRC.
pub const SNAPSHOT_SEALED_HEADER_BYTES: usize = SNAPSHOT_HEADER_BYTES + 8 + BLOCK_TAG_BYTES;

/// Where a sealed header's key check starts.
const KEY_CHECK_OFFSET: usize = SNAPSHOT_HEADER_BYTES - 4 + 8;

/// The GCM tag after a sealed block's payload.
const BLOCK_TAG_BYTES: usize = 16;

#[cfg(feature = "encryption")]
const _: () = assert!(BLOCK_TAG_BYTES == SEAL_TAG_BYTES);
#[cfg(feature = "encryption")]
const _: () = assert!(SEAL_SALT_BYTES == 8);

/// The bytes before each block's payload: its length and its CRC32C.
pub const SNAPSHOT_BLOCK_HEADER_BYTES: usize = 8;

/// The footer block's payload: tag, entry count, block count and blocks CRC.
pub const SNAPSHOT_FOOTER_PAYLOAD_BYTES: usize = 1 + 8 + 8 + 4;

/// The longest key, string, element, field or member: Redis's `proto-max-bulk-len`.
pub const SNAPSHOT_VALUE_MAX_BYTES: usize = 512 * 1024 * 1024;

/// The largest encoded entry. It fits a hash field and value of the largest size each,
/// with room for the key; a value above it cannot be snapshotted.
pub const SNAPSHOT_ENTRY_MAX_BYTES: usize = 2 * 1024 * 1024 * 1024 - 1;

/// The writer closes a block once its payload reaches this size, so a shard's snapshot
/// is handed out in chunks of about this size.
pub const SNAPSHOT_BLOCK_TARGET_BYTES: usize = 64 * 1024;

/// The longest block payload: a block just under the target, then one largest entry.
pub const SNAPSHOT_BLOCK_MAX_BYTES: usize =
    1 + SNAPSHOT_BLOCK_TARGET_BYTES + SNAPSHOT_ENTRY_MAX_BYTES;

const _: () = assert!(SNAPSHOT_BLOCK_MAX_BYTES <= u32::MAX as usize);
const _: () = assert!(SNAPSHOT_VALUE_MAX_BYTES <= u32::MAX as usize);
const _: () = assert!(2 * SNAPSHOT_VALUE_MAX_BYTES < SNAPSHOT_ENTRY_MAX_BYTES);
const _: () = assert!(SNAPSHOT_FOOTER_PAYLOAD_BYTES <= SNAPSHOT_BLOCK_TARGET_BYTES);

const TAG_ENTRIES: u8 = 0x01;
const TAG_FOOTER: u8 = 0x02;

const KIND_STRING: u8 = 0;
const KIND_LIST: u8 = 1;
const KIND_HASH: u8 = 2;
const KIND_SET: u8 = 3;
const KIND_ZSET: u8 = 4;

/// Who wrote a snapshot and when. The version is always `SNAPSHOT_VERSION`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapshotHeader {
    pub shard: u16,
    pub created_unix_ms: u64,
    /// The epoch of the append-only file that continues this snapshot (0 without one):
    /// recovery replays that file's records on top of the snapshot.
    pub aof_epoch: u64,
}

/// A value as clients see it, whatever the keyspace's internal encoding.
#[derive(Clone, Debug, PartialEq)]
pub enum SnapshotValue {
    Str(Bytes),
    List(Vec<Bytes>),
    Hash(Vec<(Bytes, Bytes)>),
    Set(Vec<Bytes>),
    ZSet(Vec<(Bytes, f64)>),
}

/// One key of one database, with its absolute expiry time if it has one.
#[derive(Clone, Debug, PartialEq)]
pub struct SnapshotEntry {
    pub db: u8,
    pub key: Bytes,
    pub expire_at_ms: Option<u64>,
    pub value: SnapshotValue,
}

/// Why a snapshot cannot be loaded, and the byte offset where that was found.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("snapshot invalid at byte {offset}: {kind}")]
pub struct SnapshotError {
    pub offset: usize,
    pub kind: SnapshotErrorKind,
}

/// The reasons a snapshot is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotErrorKind {
    #[error("bad magic: not an ember snapshot")]
    BadMagic,
    #[error("unsupported version {version} (this build reads {SNAPSHOT_VERSION} and {SNAPSHOT_VERSION_SEALED})")]
    UnsupportedVersion { version: u16 },
    #[error("encrypted snapshot: it is read only with its key")]
    Sealed,
    #[error("not an encrypted snapshot, but a key was given")]
    NotSealed,
    #[error("wrong encryption key")]
    WrongKey,
    #[error("the block at this offset does not open: its checksum verifies but its tag does not")]
    BlockUnopened,
    #[error("header checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    HeaderChecksumMismatch { stored: u32, computed: u32 },
    #[error("checksum mismatch in the block at this offset: stored {stored:#010x}, computed {computed:#010x}")]
    BlockChecksumMismatch { stored: u32, computed: u32 },
    #[error("truncated: {needed} bytes needed, {available} remain")]
    Truncated { needed: usize, available: usize },
    #[error("declared {what} {length} is over the limit of {limit}")]
    LengthOverLimit {
        what: &'static str,
        length: u64,
        limit: u64,
    },
    #[error("unknown block tag {tag:#04x}")]
    UnknownBlockTag { tag: u8 },
    #[error("block holds no entry")]
    EmptyBlock,
    #[error("footer payload is {length} bytes, not {SNAPSHOT_FOOTER_PAYLOAD_BYTES}")]
    BadFooterLength { length: usize },
    #[error("{count} bytes after the footer")]
    TrailingBytes { count: usize },
    #[error("footer counts {footer} blocks, the file has {found}")]
    BlockCountMismatch { footer: u64, found: u64 },
    #[error("footer blocks checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    BlocksChecksumMismatch { stored: u32, computed: u32 },
    #[error("footer counts {footer} entries, the blocks hold {found}")]
    EntryCountMismatch { footer: u64, found: u64 },
    #[error("entry runs past the end of its block")]
    EntryTruncated,
    #[error("invalid or non-canonical varint")]
    BadVarint,
    #[error("unknown value kind {kind}")]
    UnknownKind { kind: u8 },
    #[error("expiry flag {flag} is neither 0 nor 1")]
    BadExpiryFlag { flag: u8 },
    #[error("empty collection")]
    EmptyCollection,
    #[error("NaN score")]
    NanScore,
}

/// Why `SnapshotWriter::push` refused an entry.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotWriteError {
    #[error("entry over the snapshot limits (a piece over {SNAPSHOT_VALUE_MAX_BYTES} bytes or the whole over {SNAPSHOT_ENTRY_MAX_BYTES})")]
    EntryOverLimit,
}

/// Serializes one shard's entries into blocks and hands out finished bytes as it goes.
#[derive(Debug)]
pub struct SnapshotWriter {
    /// Finished bytes not yet handed out: the header, then closed blocks.
    output: BytesMut,
    /// The open block's payload, starting with its tag.
    block: BytesMut,
    entry_count: u64,
    block_count: u64,
    /// The running CRC32C over the closed blocks' CRC fields.
    blocks_crc: u32,
    /// How blocks are sealed, for a sealed snapshot.
    #[cfg(feature = "encryption")]
    seal: Option<BlockSeal>,
}

impl SnapshotWriter {
    pub fn new(header: SnapshotHeader) -> SnapshotWriter {
        let mut output = BytesMut::with_capacity(SNAPSHOT_BLOCK_TARGET_BYTES);
        put_header_fields(&header, SNAPSHOT_VERSION, &mut output);
        output.put_u32_le(crc32c::crc32c(&output));
        assert_eq!(output.len(), SNAPSHOT_HEADER_BYTES);
        SnapshotWriter::with_header(output)
    }

    /// A writer of a sealed snapshot (layout version 2): every block, the footer too, is
    /// sealed with `key` under a nonce of `salt`, which must be fresh random bytes.
    #[cfg(feature = "encryption")]
    pub fn sealed(header: SnapshotHeader, key: &SealKey, salt: [u8; 8]) -> SnapshotWriter {
        let mut output = BytesMut::with_capacity(SNAPSHOT_BLOCK_TARGET_BYTES);
        put_header_fields(&header, SNAPSHOT_VERSION_SEALED, &mut output);
        output.put_slice(&salt);
        output.put_slice(&key.key_check(salt));
        let aad = output.to_vec();
        output.put_u32_le(crc32c::crc32c(&output));
        assert_eq!(output.len(), SNAPSHOT_SEALED_HEADER_BYTES);
        let mut writer = SnapshotWriter::with_header(output);
        writer.seal = Some(BlockSeal {
            key: key.clone(),
            salt,
            aad,
        });
        writer
    }

    fn with_header(output: BytesMut) -> SnapshotWriter {
        let mut block = BytesMut::with_capacity(SNAPSHOT_BLOCK_TARGET_BYTES);
        block.put_u8(TAG_ENTRIES);
        SnapshotWriter {
            output,
            block,
            entry_count: 0,
            block_count: 0,
            blocks_crc: 0,
            #[cfg(feature = "encryption")]
            seal: None,
        }
    }

    /// Appends one entry, and returns the bytes finished so far once a block is closed.
    /// Panics on an empty collection or a NaN score, which the keyspace never holds.
    pub fn push(&mut self, entry: &SnapshotEntry) -> Result<Option<Bytes>, SnapshotWriteError> {
        let entry_len = entry_encoded_len(entry).ok_or(SnapshotWriteError::EntryOverLimit)?;
        assert!(self.block.len() < SNAPSHOT_BLOCK_TARGET_BYTES + 1);
        let start = self.block.len();
        encode_entry(entry, &mut self.block);
        assert_eq!(self.block.len() - start, entry_len);
        assert!(self.block.len() <= SNAPSHOT_BLOCK_MAX_BYTES);
        self.entry_count += 1;
        if self.block.len() >= SNAPSHOT_BLOCK_TARGET_BYTES {
            self.close_block();
        }
        if self.output.is_empty() {
            return Ok(None);
        }
        Ok(Some(self.output.split().freeze()))
    }

    /// Closes the last block, appends the footer, and returns the bytes not yet handed out.
    pub fn finish(mut self) -> Bytes {
        if self.block.len() > 1 {
            self.close_block();
        }
        assert_eq!(self.block.len(), 1, "no entry is left unwritten");
        let mut footer = BytesMut::with_capacity(SNAPSHOT_FOOTER_PAYLOAD_BYTES);
        footer.put_u8(TAG_FOOTER);
        footer.put_u64_le(self.entry_count);
        footer.put_u64_le(self.block_count);
        footer.put_u32_le(self.blocks_crc);
        assert_eq!(footer.len(), SNAPSHOT_FOOTER_PAYLOAD_BYTES);
        self.store_block(&footer);
        self.output.freeze()
    }

    fn close_block(&mut self) {
        assert!(self.block.len() > 1, "a closed block holds an entry");
        let payload = self.block.split();
        let crc = self.store_block(&payload);
        self.blocks_crc = crc32c::crc32c_append(self.blocks_crc, &crc.to_le_bytes());
        self.block_count += 1;
        self.block.put_u8(TAG_ENTRIES);
    }

    /// Appends the block of `payload` (sealed, for a sealed snapshot) and returns its CRC.
    fn store_block(&mut self, payload: &[u8]) -> u32 {
        #[cfg(feature = "encryption")]
        if let Some(seal) = &self.seal {
            // The footer is block number `block_count`, after every entries block.
            let index = u32::try_from(self.block_count)
                .ok()
                .filter(|index| *index < KEY_CHECK_COUNTER)
                .expect("fewer than 2^32 blocks: 256 TiB of snapshot");
            return seal.put_block(index, payload, &mut self.output);
        }
        put_block(payload, &mut self.output)
    }
}

/// The header's fields before the seal fields and the CRC.
fn put_header_fields(header: &SnapshotHeader, version: u16, out: &mut BytesMut) {
    out.put_slice(&SNAPSHOT_MAGIC);
    out.put_u16_le(version);
    out.put_u16_le(header.shard);
    out.put_u64_le(header.created_unix_ms);
    out.put_u64_le(header.aof_epoch);
}

/// The key, salt and AAD (the header before its CRC) of a sealed snapshot's blocks.
#[cfg(feature = "encryption")]
#[derive(Clone, Debug)]
struct BlockSeal {
    key: SealKey,
    salt: [u8; 8],
    aad: Vec<u8>,
}

#[cfg(feature = "encryption")]
impl BlockSeal {
    /// Appends block number `index` around the sealed `payload` and returns its CRC.
    fn put_block(&self, index: u32, payload: &[u8], out: &mut BytesMut) -> u32 {
        assert!(!payload.is_empty());
        assert!(payload.len() <= SNAPSHOT_BLOCK_MAX_BYTES);
        let stored_len = payload.len() + SEAL_TAG_BYTES;
        out.reserve(SNAPSHOT_BLOCK_HEADER_BYTES + stored_len);
        let start = out.len();
        out.put_u32_le(stored_len as u32);
        // The CRC covers the stored bytes; it is patched in once they are written.
        out.put_u32_le(0);
        let stored_start = out.len();
        out.put_slice(payload);
        let nonce = nonce(self.salt, index);
        let tag = self
            .key
            .seal_in_place(&nonce, &self.aad, &mut out[stored_start..]);
        out.put_slice(&tag);
        assert_eq!(out.len() - stored_start, stored_len);
        let crc = crc32c::crc32c(&out[stored_start..]);
        out[start + 4..stored_start].copy_from_slice(&crc.to_le_bytes());
        crc
    }

    /// Decrypts, in `image` (a copy of the file), every block from `first` to the footer,
    /// checking each block's framing and CRC before it is opened.
    fn open_blocks(&self, data: &Bytes, first: usize) -> Result<Bytes, SnapshotError> {
        let mut image = BytesMut::from(&data[..]);
        let mut offset = first;
        let mut index: u32 = 0;
        // Bounded by the input: every block is at least SNAPSHOT_BLOCK_HEADER_BYTES + 17
        // bytes long, and by the nonce counter.
        while offset < data.len() {
            if index == KEY_CHECK_COUNTER {
                let kind = SnapshotErrorKind::LengthOverLimit {
                    what: "block count",
                    length: u64::from(index),
                    limit: u64::from(KEY_CHECK_COUNTER - 1),
                };
                return Err(error(offset, kind));
            }
            let range = block_payload(data, offset, Framing::Sealed)?;
            let tag_start = range.payload_end - SEAL_TAG_BYTES;
            let ciphertext = &mut image[range.payload_start..tag_start];
            let tag = &data[tag_start..range.payload_end];
            self.key
                .open_in_place(&nonce(self.salt, index), &self.aad, ciphertext, tag)
                .map_err(|_| error(offset, SnapshotErrorKind::BlockUnopened))?;
            index += 1;
            offset = range.next;
            if image[range.payload_start] == TAG_FOOTER {
                break;
            }
        }
        Ok(image.freeze())
    }
}

/// How a block's stored payload (what its CRC covers) relates to its payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Framing {
    /// The stored payload is the payload.
    Plain,
    /// The stored payload is the sealed payload and its tag.
    Sealed,
    /// A sealed file whose blocks were checked and decrypted in place: the payload is
    /// the stored payload less its tag, and CRCs were checked before decryption.
    Opened,
}

/// Where one block's payload lies and where the next block starts.
#[derive(Clone, Copy, Debug)]
struct BlockRange {
    payload_start: usize,
    payload_end: usize,
    next: usize,
}

/// Reads a snapshot whose framing and checksums `new` has verified, one entry at a time.
#[derive(Debug)]
pub struct SnapshotReader {
    /// The file, or for a sealed file its copy with every block decrypted in place.
    data: Bytes,
    framing: Framing,
    /// The next entry's offset in the open block, where that block's payload ends, and
    /// where the next block starts.
    entry_position: usize,
    entries_end: usize,
    next_block: usize,
    footer_offset: usize,
    entry_count_footer: u64,
    entry_count_read: u64,
    /// Set once `next` has returned `Ok(None)` or an error, which it then repeats.
    outcome: Option<Result<(), SnapshotError>>,
}

/// What the verification pass learned from the footer.
struct Footer {
    offset: usize,
    entry_count: u64,
}

/// What the header says beyond `SnapshotHeader`: its length and, for a sealed snapshot,
/// the salt and key check.
struct HeaderInfo {
    header: SnapshotHeader,
    len: usize,
    seal: Option<([u8; 8], [u8; 16])>,
}

impl SnapshotReader {
    /// Verifies the whole file's framing, then returns its header and a reader. A sealed
    /// snapshot is refused with `Sealed`: it needs `with_key`.
    pub fn new(data: Bytes) -> Result<(SnapshotHeader, SnapshotReader), SnapshotError> {
        let info = read_header(&data)?;
        if info.seal.is_some() {
            return Err(error(8, SnapshotErrorKind::Sealed));
        }
        SnapshotReader::verified(data, &info, Framing::Plain)
    }

    /// Reads a sealed snapshot: checks the key against the header's key check, opens and
    /// verifies every block, then returns its header and a reader. A plain snapshot is
    /// refused with `NotSealed`, a file sealed under another key with `WrongKey`.
    #[cfg(feature = "encryption")]
    pub fn with_key(
        data: Bytes,
        key: &SealKey,
    ) -> Result<(SnapshotHeader, SnapshotReader), SnapshotError> {
        let info = read_header(&data)?;
        let Some((salt, check)) = info.seal else {
            return Err(error(8, SnapshotErrorKind::NotSealed));
        };
        if !key.checks(salt, &check) {
            return Err(error(KEY_CHECK_OFFSET, SnapshotErrorKind::WrongKey));
        }
        let seal = BlockSeal {
            key: key.clone(),
            salt,
            aad: data[..info.len - 4].to_vec(),
        };
        let image = seal.open_blocks(&data, info.len)?;
        drop(data);
        SnapshotReader::verified(image, &info, Framing::Opened)
    }

    fn verified(
        data: Bytes,
        info: &HeaderInfo,
        framing: Framing,
    ) -> Result<(SnapshotHeader, SnapshotReader), SnapshotError> {
        let footer = verify_blocks(&data, info.len, framing)?;
        assert!(footer.offset >= info.len);
        assert!(footer.offset < data.len());
        let reader = SnapshotReader {
            data,
            framing,
            entry_position: info.len,
            entries_end: info.len,
            next_block: info.len,
            footer_offset: footer.offset,
            entry_count_footer: footer.entry_count,
            entry_count_read: 0,
            outcome: None,
        };
        Ok((info.header, reader))
    }

    /// The next entry, `Ok(None)` once every entry has been read and the footer's count
    /// matches, or the error that makes the whole snapshot invalid.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<SnapshotEntry>, SnapshotError> {
        if let Some(outcome) = &self.outcome {
            return outcome.clone().map(|()| None);
        }
        let result = self.next_inner();
        match &result {
            Ok(Some(_)) => self.entry_count_read += 1,
            Ok(None) => self.outcome = Some(Ok(())),
            Err(error) => self.outcome = Some(Err(error.clone())),
        }
        result
    }

    fn next_inner(&mut self) -> Result<Option<SnapshotEntry>, SnapshotError> {
        if self.entry_position == self.entries_end {
            // The verification pass guarantees the block framing; the next offset is
            // either the footer or another entries block holding at least one entry.
            let block_offset = self.next_block;
            if block_offset == self.footer_offset {
                return self.check_entry_count().map(|()| None);
            }
            let range = block_payload(&self.data, block_offset, self.framing)?;
            self.entry_position = range.payload_start + 1;
            self.entries_end = range.payload_end;
            self.next_block = range.next;
            assert!(self.entry_position < self.entries_end);
        }
        let mut cursor = Cursor::new(&self.data, self.entry_position, self.entries_end);
        let entry = decode_entry(&mut cursor)?;
        assert!(cursor.position() > self.entry_position);
        self.entry_position = cursor.position();
        Ok(Some(entry))
    }

    fn check_entry_count(&self) -> Result<(), SnapshotError> {
        if self.entry_count_read != self.entry_count_footer {
            return Err(SnapshotError {
                offset: self.footer_offset,
                kind: SnapshotErrorKind::EntryCountMismatch {
                    footer: self.entry_count_footer,
                    found: self.entry_count_read,
                },
            });
        }
        Ok(())
    }
}

/// Appends a block around `payload` and returns its CRC.
fn put_block(payload: &[u8], out: &mut BytesMut) -> u32 {
    assert!(!payload.is_empty());
    assert!(payload.len() <= SNAPSHOT_BLOCK_MAX_BYTES);
    let crc = crc32c::crc32c(payload);
    out.reserve(SNAPSHOT_BLOCK_HEADER_BYTES + payload.len());
    out.put_u32_le(payload.len() as u32);
    out.put_u32_le(crc);
    out.put_slice(payload);
    crc
}

fn error(offset: usize, kind: SnapshotErrorKind) -> SnapshotError {
    SnapshotError { offset, kind }
}

fn read_header(data: &Bytes) -> Result<HeaderInfo, SnapshotError> {
    if data.len() < SNAPSHOT_MAGIC.len() || data[..SNAPSHOT_MAGIC.len()] != SNAPSHOT_MAGIC {
        let magic_matches =
            data.len() < SNAPSHOT_MAGIC.len() && SNAPSHOT_MAGIC.starts_with(&data[..]);
        let kind = if magic_matches {
            SnapshotErrorKind::Truncated {
                needed: SNAPSHOT_HEADER_BYTES,
                available: data.len(),
            }
        } else {
            SnapshotErrorKind::BadMagic
        };
        return Err(error(0, kind));
    }
    let mut cursor = Cursor::new(data, SNAPSHOT_MAGIC.len(), data.len());
    let version = cursor.u16_le();
    let sealed = version == Some(SNAPSHOT_VERSION_SEALED);
    if let Some(version) = version.filter(|version| *version != SNAPSHOT_VERSION && !sealed) {
        return Err(error(8, SnapshotErrorKind::UnsupportedVersion { version }));
    }
    let header_len = if sealed {
        SNAPSHOT_SEALED_HEADER_BYTES
    } else {
        SNAPSHOT_HEADER_BYTES
    };
    let truncated = || {
        let kind = SnapshotErrorKind::Truncated {
            needed: header_len,
            available: data.len(),
        };
        error(0, kind)
    };
    let shard = cursor.u16_le().ok_or_else(truncated)?;
    let created_unix_ms = cursor.u64_le().ok_or_else(truncated)?;
    let aof_epoch = cursor.u64_le().ok_or_else(truncated)?;
    let seal = if sealed {
        assert_eq!(cursor.position() + 8, KEY_CHECK_OFFSET);
        Some(read_seal_fields(&mut cursor).ok_or_else(truncated)?)
    } else {
        None
    };
    let stored = cursor.u32_le().ok_or_else(truncated)?;
    assert_eq!(cursor.position(), header_len);
    let computed = crc32c::crc32c(&data[..header_len - 4]);
    if computed != stored {
        let kind = SnapshotErrorKind::HeaderChecksumMismatch { stored, computed };
        return Err(error(header_len - 4, kind));
    }
    let header = SnapshotHeader {
        shard,
        created_unix_ms,
        aof_epoch,
    };
    Ok(HeaderInfo {
        header,
        len: header_len,
        seal,
    })
}

/// A sealed header's salt and key check.
fn read_seal_fields(cursor: &mut Cursor<'_>) -> Option<([u8; 8], [u8; 16])> {
    let salt = cursor.u64_le()?.to_le_bytes();
    let check_low = cursor.u64_le()?.to_le_bytes();
    let check_high = cursor.u64_le()?.to_le_bytes();
    let mut check = [0; 16];
    check[..8].copy_from_slice(&check_low);
    check[8..].copy_from_slice(&check_high);
    Some((salt, check))
}

/// Checks the length (and, unless `Opened`, the CRC) of the block at `offset` and returns
/// where its payload lies.
fn block_payload(
    data: &Bytes,
    offset: usize,
    framing: Framing,
) -> Result<BlockRange, SnapshotError> {
    let mut cursor = Cursor::new(data, offset, data.len());
    let truncated = |needed: usize| {
        let available = data.len() - offset;
        error(offset, SnapshotErrorKind::Truncated { needed, available })
    };
    let length = cursor
        .u32_le()
        .ok_or_else(|| truncated(SNAPSHOT_BLOCK_HEADER_BYTES))?;
    let stored = cursor
        .u32_le()
        .ok_or_else(|| truncated(SNAPSHOT_BLOCK_HEADER_BYTES))?;
    let tag_len = if framing == Framing::Plain {
        0
    } else {
        BLOCK_TAG_BYTES
    };
    let stored_len = length as usize;
    if stored_len > SNAPSHOT_BLOCK_MAX_BYTES + tag_len {
        let kind = SnapshotErrorKind::LengthOverLimit {
            what: "block length",
            length: u64::from(length),
            limit: (SNAPSHOT_BLOCK_MAX_BYTES + tag_len) as u64,
        };
        return Err(error(offset, kind));
    }
    let stored_start = cursor.position();
    let needed = SNAPSHOT_BLOCK_HEADER_BYTES + stored_len;
    if stored_len <= tag_len {
        return Err(error(offset, SnapshotErrorKind::EmptyBlock));
    }
    if stored_len > cursor.remaining() {
        return Err(truncated(needed));
    }
    let stored_end = stored_start + stored_len;
    if framing != Framing::Opened {
        let computed = crc32c::crc32c(&data[stored_start..stored_end]);
        if computed != stored {
            let kind = SnapshotErrorKind::BlockChecksumMismatch { stored, computed };
            return Err(error(offset, kind));
        }
    }
    let payload_end = match framing {
        Framing::Plain | Framing::Sealed => stored_end,
        Framing::Opened => stored_end - tag_len,
    };
    Ok(BlockRange {
        payload_start: stored_start,
        payload_end,
        next: stored_end,
    })
}

/// Walks every block after the header, verifying each CRC, then checks the footer's
/// block count and blocks CRC and that nothing follows it.
fn verify_blocks(data: &Bytes, first: usize, framing: Framing) -> Result<Footer, SnapshotError> {
    assert!(framing != Framing::Sealed, "sealed blocks are opened first");
    let mut offset = first;
    let mut block_count: u64 = 0;
    let mut blocks_crc: u32 = 0;
    // Bounded by the input: every block is at least SNAPSHOT_BLOCK_HEADER_BYTES + 1 long.
    loop {
        let range = block_payload(data, offset, framing)?;
        assert!(range.next > offset);
        match data[range.payload_start] {
            TAG_ENTRIES if range.payload_end - range.payload_start == 1 => {
                return Err(error(offset, SnapshotErrorKind::EmptyBlock));
            }
            TAG_ENTRIES => {
                let crc = &data[offset + 4..offset + SNAPSHOT_BLOCK_HEADER_BYTES];
                blocks_crc = crc32c::crc32c_append(blocks_crc, crc);
                block_count += 1;
                offset = range.next;
            }
            TAG_FOOTER => {
                let footer = (offset, block_count, blocks_crc);
                return verify_footer(data, range, footer);
            }
            tag => return Err(error(offset, SnapshotErrorKind::UnknownBlockTag { tag })),
        }
    }
}

/// Checks the footer block's payload against what the walk over the blocks found.
fn verify_footer(
    data: &Bytes,
    range: BlockRange,
    (offset, block_count, blocks_crc): (usize, u64, u32),
) -> Result<Footer, SnapshotError> {
    let length = range.payload_end - range.payload_start;
    if length != SNAPSHOT_FOOTER_PAYLOAD_BYTES {
        return Err(error(offset, SnapshotErrorKind::BadFooterLength { length }));
    }
    let mut cursor = Cursor::new(data, range.payload_start + 1, range.payload_end);
    let entry_count = cursor.u64_le().expect("footer length checked");
    let block_count_footer = cursor.u64_le().expect("footer length checked");
    let blocks_crc_footer = cursor.u32_le().expect("footer length checked");
    if block_count_footer != block_count {
        let kind = SnapshotErrorKind::BlockCountMismatch {
            footer: block_count_footer,
            found: block_count,
        };
        return Err(error(offset, kind));
    }
    if blocks_crc_footer != blocks_crc {
        let kind = SnapshotErrorKind::BlocksChecksumMismatch {
            stored: blocks_crc_footer,
            computed: blocks_crc,
        };
        return Err(error(offset, kind));
    }
    if range.next != data.len() {
        let count = data.len() - range.next;
        return Err(error(
            range.next,
            SnapshotErrorKind::TrailingBytes { count },
        ));
    }
    Ok(Footer {
        offset,
        entry_count,
    })
}

/// The encoded length of an entry, or `None` if it breaks a limit.
fn entry_encoded_len(entry: &SnapshotEntry) -> Option<usize> {
    let expiry = if entry.expire_at_ms.is_some() { 9 } else { 1 };
    let head = 2 + blob_len(&entry.key)? + expiry;
    let total = head.checked_add(value_encoded_len(&entry.value)?)?;
    (total <= SNAPSHOT_ENTRY_MAX_BYTES).then_some(total)
}

/// The encoded length of a value without its kind byte, or `None` if it breaks a limit.
/// Shared with the DUMP payload (`dump`), which carries a value alone.
pub(crate) fn value_encoded_len(value: &SnapshotValue) -> Option<usize> {
    let value = match value {
        SnapshotValue::Str(bytes) => blob_len(bytes)?,
        SnapshotValue::List(items) | SnapshotValue::Set(items) => {
            sum_len(items.len(), items.iter().map(blob_len))?
        }
        SnapshotValue::Hash(pairs) => sum_len(
            pairs.len(),
            pairs
                .iter()
                .map(|(field, value)| blob_len(field)?.checked_add(blob_len(value)?)),
        )?,
        SnapshotValue::ZSet(pairs) => sum_len(
            pairs.len(),
            pairs
                .iter()
                .map(|(member, _)| blob_len(member)?.checked_add(8)),
        )?,
    };
    (value <= SNAPSHOT_ENTRY_MAX_BYTES).then_some(value)
}

/// One entry on its own, followed by the CRC32C of its bytes: how a whole key travels in
/// an AOF record (a cross-shard write logged as its effect). `None` if the entry is over
/// the limits.
pub fn encode_entry_blob(entry: &SnapshotEntry) -> Option<Bytes> {
    let entry_len = entry_encoded_len(entry)?;
    let mut out = BytesMut::with_capacity(entry_len + 4);
    encode_entry(entry, &mut out);
    let crc = crc32c::crc32c(&out);
    out.put_u32_le(crc);
    Some(out.freeze())
}

/// Reads back what `encode_entry_blob` wrote: the checksum must verify and the entry must
/// fill the blob exactly. Offsets in errors are relative to the blob.
pub fn decode_entry_blob(blob: &Bytes) -> Result<SnapshotEntry, SnapshotError> {
    let Some(body_len) = blob.len().checked_sub(4) else {
        return Err(error(0, SnapshotErrorKind::EntryTruncated));
    };
    let stored = u32::from_le_bytes(blob[body_len..].try_into().expect("four bytes"));
    let computed = crc32c::crc32c(&blob[..body_len]);
    if stored != computed {
        let kind = SnapshotErrorKind::HeaderChecksumMismatch { stored, computed };
        return Err(error(body_len, kind));
    }
    let mut cursor = Cursor::new(blob, 0, body_len);
    let entry = decode_entry(&mut cursor)?;
    if cursor.position() != body_len {
        return Err(error(cursor.position(), SnapshotErrorKind::EntryTruncated));
    }
    Ok(entry)
}

fn blob_len(bytes: &Bytes) -> Option<usize> {
    if bytes.len() > SNAPSHOT_VALUE_MAX_BYTES {
        return None;
    }
    Some(varint_len(bytes.len() as u32) + bytes.len())
}

/// The count's varint plus every element's length, checked for overflow.
fn sum_len(count: usize, lengths: impl Iterator<Item = Option<usize>>) -> Option<usize> {
    let mut total = varint_len(u32::try_from(count).ok()?);
    for length in lengths {
        total = total.checked_add(length?)?;
    }
    Some(total)
}

fn encode_entry(entry: &SnapshotEntry, out: &mut BytesMut) {
    out.put_u8(entry.db);
    out.put_u8(value_kind(&entry.value));
    put_blob(&entry.key, out);
    match entry.expire_at_ms {
        None => out.put_u8(0),
        Some(expire_at_ms) => {
            out.put_u8(1);
            out.put_u64_le(expire_at_ms);
        }
    }
    encode_value(&entry.value, out);
}

/// The kind byte that tells a decoder which value follows.
pub(crate) fn value_kind(value: &SnapshotValue) -> u8 {
    match value {
        SnapshotValue::Str(_) => KIND_STRING,
        SnapshotValue::List(_) => KIND_LIST,
        SnapshotValue::Hash(_) => KIND_HASH,
        SnapshotValue::Set(_) => KIND_SET,
        SnapshotValue::ZSet(_) => KIND_ZSET,
    }
}

/// Appends a value without its kind byte. Panics on an empty collection or a NaN score,
/// which the keyspace never holds.
pub(crate) fn encode_value(value: &SnapshotValue, out: &mut BytesMut) {
    match value {
        SnapshotValue::Str(bytes) => put_blob(bytes, out),
        SnapshotValue::List(items) | SnapshotValue::Set(items) => {
            put_count(items.len(), out);
            items.iter().for_each(|item| put_blob(item, out));
        }
        SnapshotValue::Hash(pairs) => {
            put_count(pairs.len(), out);
            for (field, value) in pairs {
                put_blob(field, out);
                put_blob(value, out);
            }
        }
        SnapshotValue::ZSet(pairs) => {
            put_count(pairs.len(), out);
            for (member, score) in pairs {
                assert!(!score.is_nan(), "the keyspace holds no NaN score");
                put_blob(member, out);
                out.put_u64_le(score.to_bits());
            }
        }
    }
}

fn put_blob(bytes: &Bytes, out: &mut BytesMut) {
    assert!(bytes.len() <= SNAPSHOT_VALUE_MAX_BYTES);
    put_varint(bytes.len() as u32, out);
    out.put_slice(bytes);
}

fn put_count(count: usize, out: &mut BytesMut) {
    assert!(count > 0, "the keyspace holds no empty collection");
    put_varint(
        u32::try_from(count).expect("count checked by entry_encoded_len"),
        out,
    );
}

/// Decodes one entry from the open block; every read is bounded by the block's end.
fn decode_entry(cursor: &mut Cursor<'_>) -> Result<SnapshotEntry, SnapshotError> {
    let db = read_u8(cursor)?;
    let kind_offset = cursor.position();
    let kind = read_u8(cursor)?;
    let key = read_blob(cursor)?;
    let flag_offset = cursor.position();
    let expire_at_ms = match read_u8(cursor)? {
        0 => None,
        1 => Some(read_u64(cursor)?),
        flag => {
            return Err(error(
                flag_offset,
                SnapshotErrorKind::BadExpiryFlag { flag },
            ))
        }
    };
    let value = decode_value(kind, kind_offset, cursor)?;
    Ok(SnapshotEntry {
        db,
        key,
        expire_at_ms,
        value,
    })
}

/// Decodes a value of `kind` (read at `kind_offset`); every read is bounded by the
/// cursor's end.
pub(crate) fn decode_value(
    kind: u8,
    kind_offset: usize,
    cursor: &mut Cursor<'_>,
) -> Result<SnapshotValue, SnapshotError> {
    Ok(match kind {
        KIND_STRING => SnapshotValue::Str(read_blob(cursor)?),
        KIND_LIST => SnapshotValue::List(read_blobs(cursor)?),
        KIND_HASH => SnapshotValue::Hash(read_pairs(cursor)?),
        KIND_SET => SnapshotValue::Set(read_blobs(cursor)?),
        KIND_ZSET => SnapshotValue::ZSet(read_scored(cursor)?),
        kind => return Err(error(kind_offset, SnapshotErrorKind::UnknownKind { kind })),
    })
}

fn read_blobs(cursor: &mut Cursor<'_>) -> Result<Vec<Bytes>, SnapshotError> {
    let count = read_count(cursor, 1)?;
    let mut items = Vec::with_capacity(count);
    for _ in 0..count {
        items.push(read_blob(cursor)?);
    }
    Ok(items)
}

fn read_pairs(cursor: &mut Cursor<'_>) -> Result<Vec<(Bytes, Bytes)>, SnapshotError> {
    let count = read_count(cursor, 2)?;
    let mut pairs = Vec::with_capacity(count);
    for _ in 0..count {
        let field = read_blob(cursor)?;
        pairs.push((field, read_blob(cursor)?));
    }
    Ok(pairs)
}

fn read_scored(cursor: &mut Cursor<'_>) -> Result<Vec<(Bytes, f64)>, SnapshotError> {
    let count = read_count(cursor, 9)?;
    let mut pairs = Vec::with_capacity(count);
    for _ in 0..count {
        let member = read_blob(cursor)?;
        let score_offset = cursor.position();
        let score = f64::from_bits(read_u64(cursor)?);
        if score.is_nan() {
            return Err(error(score_offset, SnapshotErrorKind::NanScore));
        }
        pairs.push((member, score));
    }
    Ok(pairs)
}

/// Reads an element count and refuses it unless the block still holds at least
/// `element_min_bytes` per element, so the count never sizes an allocation by itself.
fn read_count(cursor: &mut Cursor<'_>, element_min_bytes: usize) -> Result<usize, SnapshotError> {
    assert!(element_min_bytes > 0);
    let offset = cursor.position();
    let count = read_varint(cursor)? as usize;
    if count == 0 {
        return Err(error(offset, SnapshotErrorKind::EmptyCollection));
    }
    let needed = count.checked_mul(element_min_bytes);
    if needed.is_none_or(|needed| needed > cursor.remaining()) {
        let kind = SnapshotErrorKind::LengthOverLimit {
            what: "element count",
            length: count as u64,
            limit: (cursor.remaining() / element_min_bytes) as u64,
        };
        return Err(error(offset, kind));
    }
    Ok(count)
}

fn read_blob(cursor: &mut Cursor<'_>) -> Result<Bytes, SnapshotError> {
    let offset = cursor.position();
    let length = read_varint(cursor)? as usize;
    if length > SNAPSHOT_VALUE_MAX_BYTES {
        let kind = SnapshotErrorKind::LengthOverLimit {
            what: "length",
            length: length as u64,
            limit: SNAPSHOT_VALUE_MAX_BYTES as u64,
        };
        return Err(error(offset, kind));
    }
    cursor
        .bytes(length)
        .ok_or_else(|| error(offset, SnapshotErrorKind::EntryTruncated))
}

fn read_varint(cursor: &mut Cursor<'_>) -> Result<u32, SnapshotError> {
    let offset = cursor.position();
    cursor.varint().map_err(|cursor_error| match cursor_error {
        CursorError::Truncated => error(offset, SnapshotErrorKind::EntryTruncated),
        CursorError::BadVarint => error(offset, SnapshotErrorKind::BadVarint),
    })
}

fn read_u8(cursor: &mut Cursor<'_>) -> Result<u8, SnapshotError> {
    let offset = cursor.position();
    cursor
        .u8()
        .ok_or_else(|| error(offset, SnapshotErrorKind::EntryTruncated))
}

fn read_u64(cursor: &mut Cursor<'_>) -> Result<u64, SnapshotError> {
    let offset = cursor.position();
    cursor
        .u64_le()
        .ok_or_else(|| error(offset, SnapshotErrorKind::EntryTruncated))
}

/// The check that the `snapshot_load` fuzz target and the corpus test run on arbitrary
/// bytes, kept here so they cannot drift apart. It loads `data` as a file, and again as
/// the payload of one entries block inside a correctly framed file, so the entry parser
/// is reached past the checksums. Whatever loads must write and load back the same.
pub fn check_load(data: &[u8]) {
    check_load_with(data, &Sealing::Plain);
}

/// The check of the `snapshot_load_sealed` fuzz target: `check_load` for snapshots sealed
/// with `seal::TEST_KEY_BYTES` (the framed block is sealed, so the entry parser is reached
/// past the tags). Then whichever framed file loaded must be refused with one bit of a
/// block changed under a correct CRC, with another key, and without a key.
#[cfg(feature = "encryption")]
pub fn check_load_sealed(data: &[u8]) {
    let sealing = Sealing::Key(Box::new(SealKey::new(&crate::seal::TEST_KEY_BYTES)));
    if let Some(loaded) = check_load_with(data, &sealing) {
        check_sealed_refusals(&loaded, crc32c::crc32c(data) as usize);
    }
}

/// Runs the loads of `check_load`, and returns the framed file that loaded, if one did.
fn check_load_with(data: &[u8], sealing: &Sealing) -> Option<Bytes> {
    // Refusals are the expected outcome for most inputs; only panics are findings.
    let _ = load_and_rewrite(Bytes::copy_from_slice(data), sealing);
    let framed = frame_as_block(data, 0, sealing);
    match load_and_rewrite(framed.clone(), sealing) {
        Ok(()) => Some(framed),
        Err(SnapshotError {
            kind: SnapshotErrorKind::EntryCountMismatch { found, .. },
            ..
        }) => {
            let framed = frame_as_block(data, found, sealing);
            load_and_rewrite(framed.clone(), sealing)
                .ok()
                .map(|()| framed)
        }
        Err(_) => None,
    }
}

/// Checks that a valid sealed snapshot is refused when one bit of its first block changes
/// under a recomputed CRC, when read with another key, and when read without one.
#[cfg(feature = "encryption")]
fn check_sealed_refusals(file: &Bytes, selector: usize) {
    let key = SealKey::new(&crate::seal::TEST_KEY_BYTES);
    let kind = |result: Result<(SnapshotHeader, SnapshotReader), SnapshotError>| {
        result.map(|_| ()).expect_err("refused").kind
    };
    let start = SNAPSHOT_SEALED_HEADER_BYTES;
    let stored_len = u32::from_le_bytes(file[start..start + 4].try_into().expect("4")) as usize;
    let stored_start = start + SNAPSHOT_BLOCK_HEADER_BYTES;
    let mut damaged = BytesMut::from(&file[..]);
    damaged[stored_start + selector / 8 % stored_len] ^= 1 << (selector % 8);
    let crc = crc32c::crc32c(&damaged[stored_start..stored_start + stored_len]);
    damaged[start + 4..stored_start].copy_from_slice(&crc.to_le_bytes());
    let refused = kind(SnapshotReader::with_key(damaged.freeze(), &key));
    assert_eq!(refused, SnapshotErrorKind::BlockUnopened);
    let other = SealKey::new(&[selector as u8; 32]);
    if other.key_check([0; 8]) != key.key_check([0; 8]) {
        let refused = kind(SnapshotReader::with_key(file.clone(), &other));
        assert_eq!(refused, SnapshotErrorKind::WrongKey);
    }
    assert_eq!(
        kind(SnapshotReader::new(file.clone())),
        SnapshotErrorKind::Sealed
    );
}

/// How the checks read and write snapshots: plain, or sealed with a key.
enum Sealing {
    Plain,
    #[cfg(feature = "encryption")]
    Key(Box<SealKey>),
}

impl Sealing {
    fn reader(&self, data: Bytes) -> Result<(SnapshotHeader, SnapshotReader), SnapshotError> {
        match self {
            Sealing::Plain => SnapshotReader::new(data),
            #[cfg(feature = "encryption")]
            Sealing::Key(key) => SnapshotReader::with_key(data, key),
        }
    }

    fn writer(&self, header: SnapshotHeader) -> SnapshotWriter {
        match self {
            Sealing::Plain => SnapshotWriter::new(header),
            #[cfg(feature = "encryption")]
            Sealing::Key(key) => SnapshotWriter::sealed(header, key, *b"testsalt"),
        }
    }
}

/// Loads `data` to the end; if it is valid, writes its entries again and checks that the
/// new file loads to the same header and entries.
fn load_and_rewrite(data: Bytes, sealing: &Sealing) -> Result<(), SnapshotError> {
    let (header, entries) = load_all(data, sealing)?;
    let mut writer = sealing.writer(header);
    let mut rewritten = BytesMut::new();
    for entry in &entries {
        let chunk = writer
            .push(entry)
            .expect("a loaded entry is within the limits");
        rewritten.extend_from_slice(&chunk.unwrap_or_default());
    }
    rewritten.extend_from_slice(&writer.finish());
    let (header_again, entries_again) =
        load_all(rewritten.freeze(), sealing).expect("a rewrite loads");
    assert_eq!(header, header_again);
    // Debug output tells -0.0 from 0.0, so scores compare by sign as well as value.
    assert_eq!(format!("{entries:?}"), format!("{entries_again:?}"));
    Ok(())
}

fn load_all(
    data: Bytes,
    sealing: &Sealing,
) -> Result<(SnapshotHeader, Vec<SnapshotEntry>), SnapshotError> {
    let data_len = data.len();
    let (header, mut reader) = sealing.reader(data)?;
    let mut entries = Vec::new();
    // Bounded by the input: every entry consumes at least four bytes.
    while let Some(entry) = reader.next()? {
        entries.push(entry);
        assert!(entries.len() <= data_len);
    }
    Ok((header, entries))
}

/// A file of one entries block holding `payload`, with a footer that verifies.
fn frame_as_block(payload: &[u8], entry_count: u64, sealing: &Sealing) -> Bytes {
    let header = SnapshotHeader {
        shard: 7,
        created_unix_ms: 1,
        aof_epoch: 3,
    };
    let mut writer = sealing.writer(header);
    let mut block = BytesMut::with_capacity(1 + payload.len());
    block.put_u8(TAG_ENTRIES);
    block.put_slice(&payload[..payload.len().min(SNAPSHOT_BLOCK_MAX_BYTES - 1)]);
    let crc = writer.store_block(&block);
    writer.block_count = 1;
    let mut footer = BytesMut::with_capacity(SNAPSHOT_FOOTER_PAYLOAD_BYTES);
    footer.put_u8(TAG_FOOTER);
    footer.put_u64_le(entry_count);
    footer.put_u64_le(1);
    footer.put_u32_le(crc32c::crc32c(&crc.to_le_bytes()));
    writer.store_block(&footer);
    writer.output.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> SnapshotHeader {
        SnapshotHeader {
            shard: 3,
            created_unix_ms: 1_700_000_000_000,
            aof_epoch: 0,
        }
    }

    fn entry(key: &str, value: SnapshotValue) -> SnapshotEntry {
        SnapshotEntry {
            db: 0,
            key: Bytes::from(key.to_string()),
            expire_at_ms: None,
            value,
        }
    }

    fn write(entries: &[SnapshotEntry]) -> Bytes {
        let mut writer = SnapshotWriter::new(header());
        let mut out = BytesMut::new();
        for entry in entries {
            if let Some(chunk) = writer.push(entry).expect("within limits") {
                out.extend_from_slice(&chunk);
            }
        }
        out.extend_from_slice(&writer.finish());
        out.freeze()
    }

    #[test]
    fn golden_empty_snapshot() {
        let data = write(&[]);
        let mut expected = BytesMut::new();
        expected.put_slice(b"EMBERSNP\x01\x00\x03\x00");
        expected.put_u64_le(1_700_000_000_000);
        expected.put_u64_le(0);
        expected.put_u32_le(crc32c::crc32c(&expected));
        let footer = b"\x02\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";
        expected.put_u32_le(footer.len() as u32);
        expected.put_u32_le(crc32c::crc32c(footer));
        expected.put_slice(footer);
        assert_eq!(data, expected.freeze());
        assert_eq!(
            load_all(data, &Sealing::Plain).map(|(_, entries)| entries.len()),
            Ok(0)
        );
    }

    #[test]
    fn entry_blobs_round_trip_and_refuse_damage() {
        let mut value = entry("k", SnapshotValue::List(vec![Bytes::from_static(b"a")]));
        value.expire_at_ms = Some(9);
        let blob = encode_entry_blob(&value).expect("small");
        assert_eq!(decode_entry_blob(&blob), Ok(value));
        for cut in 0..blob.len() {
            assert!(decode_entry_blob(&blob.slice(..cut)).is_err());
        }
        let mut flipped = BytesMut::from(&blob[..]);
        flipped[3] ^= 1;
        assert!(decode_entry_blob(&flipped.freeze()).is_err());
    }

    #[test]
    fn golden_string_entry() {
        let mut out = BytesMut::new();
        let mut value = entry("k", SnapshotValue::Str(Bytes::from_static(b"v")));
        value.expire_at_ms = Some(5);
        encode_entry(&value, &mut out);
        assert_eq!(&out[..], b"\x00\x00\x01k\x01\x05\0\0\0\0\0\0\0\x01v");
    }

    #[test]
    fn large_snapshots_come_out_in_chunks() {
        let big = Bytes::from(vec![b'x'; 1000]);
        let mut writer = SnapshotWriter::new(header());
        let mut chunks = 0;
        for index in 0..200 {
            let value = entry(&format!("k{index}"), SnapshotValue::Str(big.clone()));
            chunks += usize::from(writer.push(&value).expect("within limits").is_some());
        }
        assert!(chunks >= 2);
        assert!(!writer.finish().is_empty());
    }

    #[test]
    fn counts_over_the_block_are_refused_before_allocating() {
        // A list that claims 2^28 elements in a block of a few bytes.
        let payload = b"\x00\x01\x01k\x00\x80\x80\x80\x80\x01";
        let result = load_all(frame_as_block(payload, 1, &Sealing::Plain), &Sealing::Plain);
        let kind = result.expect_err("refused").kind;
        assert!(matches!(
            kind,
            SnapshotErrorKind::LengthOverLimit {
                what: "element count",
                ..
            }
        ));
    }

    #[test]
    fn nan_scores_and_empty_collections_are_refused() {
        let mut nan = b"\x00\x04\x01k\x00\x01\x01m".to_vec();
        nan.extend_from_slice(&f64::NAN.to_bits().to_le_bytes());
        let kind = load_all(frame_as_block(&nan, 1, &Sealing::Plain), &Sealing::Plain)
            .expect_err("refused")
            .kind;
        assert_eq!(kind, SnapshotErrorKind::NanScore);
        let empty = b"\x00\x03\x01k\x00\x00";
        let kind = load_all(frame_as_block(empty, 1, &Sealing::Plain), &Sealing::Plain)
            .expect_err("refused")
            .kind;
        assert_eq!(kind, SnapshotErrorKind::EmptyCollection);
    }

    #[test]
    fn header_errors_name_their_reason() {
        let data = write(&[]);
        let kind = |data: &[u8]| {
            SnapshotReader::new(Bytes::copy_from_slice(data))
                .expect_err("refused")
                .kind
        };
        assert_eq!(
            kind(b"NOTEMBER........................"),
            SnapshotErrorKind::BadMagic
        );
        assert!(matches!(
            kind(b"EMBER"),
            SnapshotErrorKind::Truncated { .. }
        ));
        let mut version = data.to_vec();
        version[8] = 9;
        assert_eq!(
            kind(&version),
            SnapshotErrorKind::UnsupportedVersion { version: 9 }
        );
        let mut shard = data.to_vec();
        shard[10] ^= 1;
        assert!(matches!(
            kind(&shard),
            SnapshotErrorKind::HeaderChecksumMismatch { .. }
        ));
    }

    #[cfg(feature = "encryption")]
    fn sealed(entries: &[SnapshotEntry], key: &SealKey) -> Bytes {
        let mut writer = SnapshotWriter::sealed(header(), key, *b"saltsalt");
        let mut out = BytesMut::new();
        for entry in entries {
            if let Some(chunk) = writer.push(entry).expect("within limits") {
                out.extend_from_slice(&chunk);
            }
        }
        out.extend_from_slice(&writer.finish());
        out.freeze()
    }

    #[cfg(feature = "encryption")]
    #[test]
    fn sealed_snapshots_round_trip_and_hide_their_values() {
        let key = SealKey::new(&crate::seal::TEST_KEY_BYTES);
        let big = Bytes::from(vec![b'x'; 1000]);
        let entries: Vec<SnapshotEntry> = (0..200)
            .map(|index| entry(&format!("key{index}"), SnapshotValue::Str(big.clone())))
            .collect();
        let data = sealed(&entries, &key);
        assert_eq!(&data[8..10], &SNAPSHOT_VERSION_SEALED.to_le_bytes());
        assert_eq!(&data[28..36], b"saltsalt");
        assert_eq!(&data[36..52], &key.key_check(*b"saltsalt"));
        let needle = b"key199";
        assert!(!data.windows(needle.len()).any(|w| w == needle));
        let (read_header, mut reader) = SnapshotReader::with_key(data, &key).expect("opens");
        assert_eq!(read_header, header());
        let mut loaded = Vec::new();
        while let Some(entry) = reader.next().expect("valid") {
            loaded.push(entry);
        }
        assert_eq!(loaded, entries);
    }

    #[cfg(feature = "encryption")]
    #[test]
    fn sealed_snapshots_refuse_wrong_keys_plain_files_and_any_damage() {
        let key = SealKey::new(&crate::seal::TEST_KEY_BYTES);
        let data = sealed(&[entry("k", SnapshotValue::Str(Bytes::from("v")))], &key);
        let kind = |result: Result<(SnapshotHeader, SnapshotReader), SnapshotError>| {
            result.map(|_| ()).expect_err("refused").kind
        };
        let other = SealKey::new(&[9; 32]);
        assert_eq!(
            kind(SnapshotReader::with_key(data.clone(), &other)),
            SnapshotErrorKind::WrongKey
        );
        assert_eq!(
            kind(SnapshotReader::new(data.clone())),
            SnapshotErrorKind::Sealed
        );
        assert_eq!(
            kind(SnapshotReader::with_key(write(&[]), &key)),
            SnapshotErrorKind::NotSealed
        );
        for cut in 0..data.len() {
            let _ = kind(SnapshotReader::with_key(data.slice(..cut), &key));
        }
        for bit in 0..data.len() * 8 {
            let mut flipped = data.to_vec();
            flipped[bit / 8] ^= 1 << (bit % 8);
            let _ = kind(SnapshotReader::with_key(Bytes::from(flipped), &key));
        }
        // A header changed with its CRC fixed fails the first block, whose AAD it is.
        let mut shard = data.to_vec();
        shard[10] ^= 1;
        let crc = crc32c::crc32c(&shard[..SNAPSHOT_SEALED_HEADER_BYTES - 4]);
        shard[SNAPSHOT_SEALED_HEADER_BYTES - 4..SNAPSHOT_SEALED_HEADER_BYTES]
            .copy_from_slice(&crc.to_le_bytes());
        let refused = SnapshotReader::with_key(Bytes::from(shard), &key)
            .map(|_| ())
            .expect_err("refused");
        assert_eq!(refused.kind, SnapshotErrorKind::BlockUnopened);
        assert_eq!(refused.offset, SNAPSHOT_SEALED_HEADER_BYTES);
    }

    #[cfg(feature = "encryption")]
    #[test]
    fn check_load_sealed_accepts_assorted_input() {
        let key = SealKey::new(&crate::seal::TEST_KEY_BYTES);
        let value = entry("a", SnapshotValue::Set(vec![Bytes::new()]));
        check_load_sealed(&sealed(std::slice::from_ref(&value), &key));
        let mut payload = BytesMut::new();
        encode_entry(&value, &mut payload);
        check_load_sealed(&payload);
        check_load_sealed(b"");
        check_load_sealed(b"\x00\x00\x00\x00");
    }

    #[test]
    fn check_load_accepts_assorted_input() {
        check_load(&write(&[entry(
            "a",
            SnapshotValue::Set(vec![Bytes::new()]),
        )]));
        check_load(b"");
        check_load(b"\x00\x00\x00\x00");
    }
}
