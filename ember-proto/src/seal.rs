//! Sealing at rest (cargo feature `encryption`): AES-256-GCM over every AOF record payload
//! and every snapshot block payload, the nonce scheme that keeps nonces unique, the key
//! check that tells a wrong key from damage, and the key file format. Pure code: fresh
//! salts come from the caller (the node draws them from the operating system).
//!
//! # Nonces
//!
//! A nonce is `salt [8] | counter u32 LE`. A salt is 8 random bytes that start one run of
//! nonces; the counter counts up from 0 and never reaches `KEY_CHECK_COUNTER`, which only
//! the key check uses, so no data nonce is ever a key check nonce.
//!
//! - AOF: every sealed record carries its nonce in front of its ciphertext. A writer draws
//!   a new salt each time it opens a file (a new one, or an existing one after a restart)
//!   and before its counter would reach `KEY_CHECK_COUNTER`. So a restart needs no state
//!   from the previous process, and the nonce of a record cut off as a torn tail is never
//!   used again. The AAD is the salt in the file's header, so a record copied from one AOF
//!   into another does not open there.
//! - Snapshot: one writer writes the whole file, so block `i` (the footer too) is sealed
//!   under `salt || i` with the salt from the header: a block moved, repeated or dropped
//!   does not open in its new place. The AAD is the header, so a changed header fails the
//!   first block.
//!
//! Two runs share nonces only if two 64-bit salts drawn from the OS are equal.
//!
//! # Key check
//!
//! Each file's header holds, in plain, its salt and its key check: the GCM tag of an empty
//! message under `salt || KEY_CHECK_COUNTER` with the AAD `KEY_CHECK_AAD`. A reader
//! compares it before opening anything, so a wrong key is reported as a wrong key and not
//! as damage. It is one block of AES output under a nonce data never uses.

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use bytes::{BufMut, Bytes, BytesMut};

use crate::aof::{
    OpenError, PayloadOpener, AOF_PAYLOAD_MIN_BYTES, AOF_RECORD_HEADER_BYTES, AOF_RECORD_MAX_BYTES,
    AOF_RESYNC_HASH_MAX_BYTES,
};

/// An AES-256 key.
pub const SEAL_KEY_BYTES: usize = 32;
/// The random half of a nonce.
pub const SEAL_SALT_BYTES: usize = 8;
/// A whole nonce: salt and counter.
pub const SEAL_NONCE_BYTES: usize = SEAL_SALT_BYTES + 4;
/// The GCM tag after every ciphertext.
pub const SEAL_TAG_BYTES: usize = 16;
/// The counter value only the key check uses.
pub const KEY_CHECK_COUNTER: u32 = u32::MAX;
/// The AAD of the key check, so its tag is not the tag of any empty data payload.
pub const KEY_CHECK_AAD: &[u8] = b"ember key check";
/// The name of the scheme, as the AOF header records it.
pub const SEAL_SCHEME: &str = "aes-256-gcm";

/// What sealing adds to an AOF payload: its nonce in front, its tag behind.
pub const AOF_SEAL_OVERHEAD_BYTES: usize = SEAL_NONCE_BYTES + SEAL_TAG_BYTES;
/// The shortest sealed AOF payload: the shortest plain payload, sealed.
pub const AOF_SEALED_PAYLOAD_MIN_BYTES: usize = AOF_PAYLOAD_MIN_BYTES + AOF_SEAL_OVERHEAD_BYTES;
/// The longest sealed AOF payload: the longest plain payload, sealed.
pub const AOF_SEALED_PAYLOAD_MAX_BYTES: usize = AOF_RECORD_MAX_BYTES + AOF_SEAL_OVERHEAD_BYTES;

/// A fixed key for the fuzz targets and tests of the sealed formats. Never for data.
pub const TEST_KEY_BYTES: [u8; SEAL_KEY_BYTES] = *b"ember test key: never for data!!";
/// The AOF file salt the sealed fuzz check reads its input with.
pub const TEST_FILE_SALT: [u8; SEAL_SALT_BYTES] = *b"fuzzsalt";

const _: () = assert!(AOF_SEALED_PAYLOAD_MAX_BYTES <= u32::MAX as usize);
// The resync search still covers one whole sealed record.
const _: () = assert!(AOF_RESYNC_HASH_MAX_BYTES >= AOF_SEALED_PAYLOAD_MAX_BYTES);

/// An AES-256-GCM key, ready to use. Its `Debug` output hides the key.
#[derive(Clone)]
pub struct SealKey {
    cipher: Aes256Gcm,
}

/// Why a key file was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyFileError {
    #[error("a key file holds exactly {SEAL_KEY_BYTES} raw bytes, or {} hex digits and an optional newline; this one holds {length} bytes", 2 * SEAL_KEY_BYTES)]
    BadLength { length: usize },
    #[error("{} characters, but not all of them hex digits", 2 * SEAL_KEY_BYTES)]
    NotHex,
}

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealKey(..)")
    }
}

impl SealKey {
    pub fn new(bytes: &[u8; SEAL_KEY_BYTES]) -> SealKey {
        SealKey {
            cipher: Aes256Gcm::new(bytes.into()),
        }
    }

    /// The key in a key file: exactly 32 raw bytes, or 64 hex digits followed by at most
    /// one newline (`\n` or `\r\n`). Anything else is refused, so a truncated or padded
    /// file never becomes some other key.
    pub fn from_key_file(data: &[u8]) -> Result<SealKey, KeyFileError> {
        if let Ok(raw) = <&[u8; SEAL_KEY_BYTES]>::try_from(data) {
            return Ok(SealKey::new(raw));
        }
        let text = data.strip_suffix(b"\n").unwrap_or(data);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        if text.len() != 2 * SEAL_KEY_BYTES {
            return Err(KeyFileError::BadLength { length: data.len() });
        }
        let key = from_hex::<SEAL_KEY_BYTES>(text).ok_or(KeyFileError::NotHex)?;
        Ok(SealKey::new(&key))
    }

    /// The key check stored beside `salt` in a file's header.
    pub fn key_check(&self, salt: [u8; SEAL_SALT_BYTES]) -> [u8; SEAL_TAG_BYTES] {
        let nonce = nonce(salt, KEY_CHECK_COUNTER);
        self.seal_in_place(&nonce, KEY_CHECK_AAD, &mut [])
    }

    /// Whether `check` is this key's check for `salt`, i.e. whether this is the file's key.
    pub fn checks(&self, salt: [u8; SEAL_SALT_BYTES], check: &[u8]) -> bool {
        self.key_check(salt).as_slice() == check
    }

    /// Encrypts `buffer` in place and returns its tag.
    pub(crate) fn seal_in_place(
        &self,
        nonce: &[u8; SEAL_NONCE_BYTES],
        aad: &[u8],
        buffer: &mut [u8],
    ) -> [u8; SEAL_TAG_BYTES] {
        let tag = self
            .cipher
            .encrypt_in_place_detached(Nonce::from_slice(nonce), aad, buffer)
            .expect("a payload within GCM's 64 GiB limit");
        tag.into()
    }

    /// Authenticates and decrypts `buffer` in place. On failure `buffer` holds garbage
    /// that the caller must drop.
    pub(crate) fn open_in_place(
        &self,
        nonce: &[u8; SEAL_NONCE_BYTES],
        aad: &[u8],
        buffer: &mut [u8],
        tag: &[u8],
    ) -> Result<(), OpenError> {
        assert_eq!(tag.len(), SEAL_TAG_BYTES);
        self.cipher
            .decrypt_in_place_detached(Nonce::from_slice(nonce), aad, buffer, Tag::from_slice(tag))
            .map_err(|_| OpenError::Authentication)
    }
}

/// The nonce of `counter` in the run started by `salt`.
pub fn nonce(salt: [u8; SEAL_SALT_BYTES], counter: u32) -> [u8; SEAL_NONCE_BYTES] {
    let mut nonce = [0; SEAL_NONCE_BYTES];
    nonce[..SEAL_SALT_BYTES].copy_from_slice(&salt);
    nonce[SEAL_SALT_BYTES..].copy_from_slice(&counter.to_le_bytes());
    nonce
}

/// Opens the sealed records of one AOF. A sealed payload is
/// `salt [8] | counter u32 LE | ciphertext | tag [16]`, and its AAD is the file's salt.
#[derive(Clone, Debug)]
pub struct AofOpener {
    key: SealKey,
    file_salt: [u8; SEAL_SALT_BYTES],
}

impl AofOpener {
    pub fn new(key: SealKey, file_salt: [u8; SEAL_SALT_BYTES]) -> AofOpener {
        AofOpener { key, file_salt }
    }
}

impl PayloadOpener for AofOpener {
    fn stored_len_min(&self) -> usize {
        AOF_SEALED_PAYLOAD_MIN_BYTES
    }

    fn stored_len_max(&self) -> usize {
        AOF_SEALED_PAYLOAD_MAX_BYTES
    }

    fn open(&self, stored: Bytes) -> Result<Bytes, OpenError> {
        let Some(ciphertext_len) = stored.len().checked_sub(AOF_SEAL_OVERHEAD_BYTES) else {
            return Err(OpenError::TooShort {
                length: stored.len(),
            });
        };
        let nonce: [u8; SEAL_NONCE_BYTES] = stored[..SEAL_NONCE_BYTES]
            .try_into()
            .expect("length checked");
        let tag_start = SEAL_NONCE_BYTES + ciphertext_len;
        let mut plain = stored[SEAL_NONCE_BYTES..tag_start].to_vec();
        self.key
            .open_in_place(&nonce, &self.file_salt, &mut plain, &stored[tag_start..])?;
        assert_eq!(plain.len(), ciphertext_len);
        Ok(Bytes::from(plain))
    }
}

/// Seals the records an AOF writer appends to one file, each under the next nonce of the
/// current run.
#[derive(Debug)]
pub struct AofSealer {
    opener: AofOpener,
    run_salt: [u8; SEAL_SALT_BYTES],
    counter: u32,
}

impl AofSealer {
    /// A sealer for the file whose header holds `file_salt`, starting a run at `run_salt`.
    pub fn new(
        key: SealKey,
        file_salt: [u8; SEAL_SALT_BYTES],
        run_salt: [u8; SEAL_SALT_BYTES],
    ) -> AofSealer {
        AofSealer {
            opener: AofOpener::new(key, file_salt),
            run_salt,
            counter: 0,
        }
    }

    /// The opener that reads back what this sealer writes.
    pub fn opener(&self) -> &AofOpener {
        &self.opener
    }

    /// Appends the sealed form of every record in `plain`, which holds whole records as
    /// `encode_record` writes them. `fresh_salt` is asked for a new salt when a run's
    /// counter would reach `KEY_CHECK_COUNTER`.
    pub fn seal_records(
        &mut self,
        plain: &[u8],
        out: &mut BytesMut,
        fresh_salt: &mut dyn FnMut() -> [u8; SEAL_SALT_BYTES],
    ) {
        let mut position = 0;
        // Bounded by `plain`: every record is longer than its header.
        while position < plain.len() {
            let header = &plain[position..position + AOF_RECORD_HEADER_BYTES];
            let payload_len =
                u32::from_le_bytes(header[..4].try_into().expect("four bytes")) as usize;
            let payload_start = position + AOF_RECORD_HEADER_BYTES;
            let payload = &plain[payload_start..payload_start + payload_len];
            debug_assert_eq!(
                crc32c::crc32c(payload).to_le_bytes(),
                header[4..],
                "whole plain records"
            );
            if self.counter == KEY_CHECK_COUNTER {
                let salt = fresh_salt();
                assert_ne!(salt, self.run_salt, "a new run has a new salt");
                self.run_salt = salt;
                self.counter = 0;
            }
            self.seal_payload(payload, out);
            position = payload_start + payload_len;
        }
        assert_eq!(position, plain.len(), "no partial record");
    }

    /// Appends one record whose plain payload is `payload`, under the next nonce.
    fn seal_payload(&mut self, payload: &[u8], out: &mut BytesMut) {
        assert!(self.counter < KEY_CHECK_COUNTER);
        assert!((AOF_PAYLOAD_MIN_BYTES..=AOF_RECORD_MAX_BYTES).contains(&payload.len()));
        let stored_len = payload.len() + AOF_SEAL_OVERHEAD_BYTES;
        let nonce = nonce(self.run_salt, self.counter);
        self.counter += 1;
        let start = out.len();
        out.reserve(AOF_RECORD_HEADER_BYTES + stored_len);
        out.put_u32_le(stored_len as u32);
        // The CRC covers the stored bytes; it is patched in once they are written.
        out.put_u32_le(0);
        out.put_slice(&nonce);
        let ciphertext_start = out.len();
        out.put_slice(payload);
        let tag = self.opener.key.seal_in_place(
            &nonce,
            &self.opener.file_salt,
            &mut out[ciphertext_start..],
        );
        out.put_slice(&tag);
        let stored_start = start + AOF_RECORD_HEADER_BYTES;
        assert_eq!(out.len() - stored_start, stored_len);
        let crc = crc32c::crc32c(&out[stored_start..]);
        out[start + 4..stored_start].copy_from_slice(&crc.to_le_bytes());
    }
}

/// Lower-case hex, as the AOF header writes salts and key checks.
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(2 * bytes.len());
    for byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    text
}

/// Exactly `2 * N` hex digits (either case) as `N` bytes.
pub fn from_hex<const N: usize>(text: &[u8]) -> Option<[u8; N]> {
    if text.len() != 2 * N {
        return None;
    }
    let digit = |c: u8| char::from(c).to_digit(16).map(|d| d as u8);
    let mut bytes = [0; N];
    for (byte, pair) in bytes.iter_mut().zip(text.chunks_exact(2)) {
        *byte = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aof::{encode_record, read_records_with, AofDamage, AofEnd, AofRecord};

    fn key() -> SealKey {
        SealKey::new(&TEST_KEY_BYTES)
    }

    #[test]
    fn key_files_are_raw_or_hex_and_nothing_else() {
        let hex = to_hex(&TEST_KEY_BYTES);
        let check = |key: SealKey| key.key_check([1; 8]);
        let expected = check(key());
        assert_eq!(
            check(SealKey::from_key_file(&TEST_KEY_BYTES).unwrap()),
            expected
        );
        for text in [hex.clone(), format!("{hex}\n"), format!("{hex}\r\n")] {
            let key = SealKey::from_key_file(text.as_bytes()).unwrap();
            assert_eq!(check(key), expected);
        }
        let upper = SealKey::from_key_file(hex.to_uppercase().as_bytes()).unwrap();
        assert_eq!(check(upper), expected);
        for bad in [&b""[..], &[0; 31], &[0; 33], &[b'a'; 63], &[b'a'; 66]] {
            let error = SealKey::from_key_file(bad).unwrap_err();
            assert_eq!(error, KeyFileError::BadLength { length: bad.len() });
        }
        let error = SealKey::from_key_file(format!("{}g", &hex[1..]).as_bytes()).unwrap_err();
        assert_eq!(error, KeyFileError::NotHex);
        assert_eq!(format!("{:?}", key()), "SealKey(..)");
    }

    #[test]
    fn the_key_check_tells_keys_and_salts_apart() {
        let other = SealKey::new(&[7; SEAL_KEY_BYTES]);
        let check = key().key_check([1; 8]);
        assert!(key().checks([1; 8], &check));
        assert!(!other.checks([1; 8], &check));
        assert!(!key().checks([2; 8], &check));
        assert!(!key().checks([1; 8], &check[..15]));
    }

    #[test]
    fn hex_round_trips() {
        assert_eq!(to_hex(&[0x00, 0xab, 0xff]), "00abff");
        assert_eq!(from_hex::<3>(b"00ABff"), Some([0x00, 0xab, 0xff]));
        assert_eq!(from_hex::<3>(b"00abf"), None);
        assert_eq!(from_hex::<1>(b"+1"), None);
    }

    fn plain(records: &[AofRecord]) -> BytesMut {
        let mut out = BytesMut::new();
        for record in records {
            encode_record(record, &mut out);
        }
        out
    }

    #[test]
    fn a_new_run_starts_before_the_counter_reaches_the_key_check() {
        let record = AofRecord {
            db: 0,
            argv: vec![Bytes::from_static(b"PING")],
        };
        let mut sealer = AofSealer::new(key(), [3; 8], [4; 8]);
        sealer.counter = KEY_CHECK_COUNTER - 1;
        let mut out = BytesMut::new();
        let mut salts = 0;
        let mut fresh = || {
            salts += 1;
            [5; 8]
        };
        sealer.seal_records(
            &plain(&[record.clone(), record.clone()]),
            &mut out,
            &mut fresh,
        );
        assert_eq!(salts, 1);
        let record_len = out.len() / 2;
        let stored = |at: usize| &out[at + AOF_RECORD_HEADER_BYTES..at + record_len];
        assert_eq!(stored(0)[..12], nonce([4; 8], KEY_CHECK_COUNTER - 1));
        assert_eq!(stored(record_len)[..12], nonce([5; 8], 0));
        let scan = read_records_with(&out.freeze(), 0, sealer.opener());
        assert_eq!(scan.records, [record.clone(), record]);
        assert_eq!(scan.end, AofEnd::Clean);
    }

    #[test]
    fn a_record_under_another_file_salt_or_key_does_not_open() {
        let record = AofRecord {
            db: 1,
            argv: vec![Bytes::from_static(b"SET"), Bytes::from_static(b"k")],
        };
        let mut out = BytesMut::new();
        AofSealer::new(key(), [3; 8], [4; 8]).seal_records(
            &plain(&[record]),
            &mut out,
            &mut || unreachable!(),
        );
        let data = out.freeze();
        for opener in [
            AofOpener::new(key(), [9; 8]),
            AofOpener::new(SealKey::new(&[1; 32]), [3; 8]),
        ] {
            let scan = read_records_with(&data, 0, &opener);
            let unopened = matches!(
                scan.end,
                AofEnd::Corrupt {
                    offset: 0,
                    reason: AofDamage::Unopened(OpenError::Authentication),
                    ..
                }
            );
            assert!(unopened, "{:?}", scan.end);
        }
    }
}
