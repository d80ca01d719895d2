//! Encryption at rest, as the node uses it: the key from `--encryption-key-file`, the seal
//! fields of AOF headers, the sealer each AOF writer owns, and the reader or writer each
//! snapshot gets. The formats are `ember_proto::seal`'s. Every choice that depends on the
//! cargo feature `encryption` is made here: without it `Key` and `RecordSealer` have no
//! values, the flag is refused at start-up, and an encrypted file is refused with a
//! message saying this build cannot read it.
//!
//! A file's kind is in its header, and the key must match it: an encrypted file without a
//! key, an encrypted file under another key ("wrong encryption key for <file>") and a
//! plain file while a key is set all stop start-up with the file's name. A plain file is
//! refused rather than loaded because a key promises that what is loaded was written
//! under it; nothing is ever read as garbage or cut.
//!
//! An AOF header of a sealed file is `EMBER.AOF 1 <epoch> <shard> aes-256-gcm <salt hex>
//! <key check hex>`. Records after it are sealed by the writer just before they reach the
//! file, each under a nonce of a run salt drawn with `Env::secure_random` whenever a file
//! is opened for appending (see `ember_proto::seal` for why that keeps nonces unique).

use std::path::Path;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use ember_net::Env;
use ember_proto::aof::AofScan;
use ember_proto::snapshot::{
    SnapshotError, SnapshotErrorKind, SnapshotHeader, SnapshotReader, SnapshotWriter,
};

#[cfg(feature = "encryption")]
use ember_proto::seal::{self as format, AofOpener, AofSealer};

/// The key everything at rest is sealed with.
#[cfg(feature = "encryption")]
pub type Key = ember_proto::seal::SealKey;

/// A build without encryption has no key.
#[cfg(not(feature = "encryption"))]
#[derive(Debug)]
pub enum Key {}

/// What sealing adds to each AOF record on disk.
#[cfg(feature = "encryption")]
pub const RECORD_OVERHEAD_BYTES: usize = format::AOF_SEAL_OVERHEAD_BYTES;
#[cfg(not(feature = "encryption"))]
pub const RECORD_OVERHEAD_BYTES: usize = 0;

const WITHOUT_ENCRYPTION: &str =
    "this ember-server was built without encryption (the cargo feature `encryption`)";

/// The seal arguments of an AOF header, as written: scheme, salt and key check, in hex.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AofSealFields {
    pub scheme: Bytes,
    pub salt: Bytes,
    pub check: Bytes,
}

/// Seals the records an AOF writer appends to one file.
#[cfg(feature = "encryption")]
#[derive(Debug)]
pub struct RecordSealer(AofSealer);

/// A build without encryption seals nothing.
#[cfg(not(feature = "encryption"))]
#[derive(Debug)]
pub enum RecordSealer {}

/// Reads the key that `--encryption-key-file` names, if it names one.
pub async fn load_key(env: &Env, path: Option<&str>) -> Result<Option<Arc<Key>>, String> {
    let Some(path) = path else {
        return Ok(None);
    };
    if !cfg!(feature = "encryption") {
        return Err(format!("--encryption-key-file: {WITHOUT_ENCRYPTION}"));
    }
    let data = env
        .read(Path::new(path))
        .await
        .map_err(|e| format!("--encryption-key-file {path}: {e}"))?;
    parse_key(&data).map_err(|e| format!("--encryption-key-file {path}: {e}"))
}

#[cfg(feature = "encryption")]
fn parse_key(data: &[u8]) -> Result<Option<Arc<Key>>, String> {
    let key = Key::from_key_file(data).map_err(|e| e.to_string())?;
    Ok(Some(Arc::new(key)))
}

#[cfg(not(feature = "encryption"))]
fn parse_key(_data: &[u8]) -> Result<Option<Arc<Key>>, String> {
    Err(WITHOUT_ENCRYPTION.into())
}

/// A new AOF's header record, and the sealer of its records when a key is set. The salts
/// are fresh from `Env::secure_random`.
pub fn new_aof(
    env: &Env,
    key: Option<&Arc<Key>>,
    epoch: u64,
    shard: usize,
) -> (BytesMut, Option<RecordSealer>) {
    let Some(key) = key else {
        return (super::aof_header(epoch, shard, &[]), None);
    };
    new_sealed_aof(env, key, epoch, shard)
}

#[cfg(feature = "encryption")]
fn new_sealed_aof(
    env: &Env,
    key: &Key,
    epoch: u64,
    shard: usize,
) -> (BytesMut, Option<RecordSealer>) {
    let file_salt = fresh_salt(env);
    let salt = format::to_hex(&file_salt);
    let check = format::to_hex(&key.key_check(file_salt));
    let extra = [
        format::SEAL_SCHEME.as_bytes(),
        salt.as_bytes(),
        check.as_bytes(),
    ];
    let header = super::aof_header(epoch, shard, &extra);
    let sealer = AofSealer::new(key.clone(), file_salt, fresh_salt(env));
    (header, Some(RecordSealer(sealer)))
}

#[cfg(not(feature = "encryption"))]
fn new_sealed_aof(
    _env: &Env,
    key: &Key,
    _epoch: u64,
    _shard: usize,
) -> (BytesMut, Option<RecordSealer>) {
    match *key {}
}

/// The sealer for appending to an existing AOF whose header `read_aof` accepted, under a
/// new run salt.
pub fn existing_aof(
    env: &Env,
    key: Option<&Arc<Key>>,
    fields: Option<&AofSealFields>,
) -> Option<RecordSealer> {
    let (key, fields) = (key?, fields?);
    sealer_for(env, key, fields)
}

#[cfg(feature = "encryption")]
fn sealer_for(env: &Env, key: &Key, fields: &AofSealFields) -> Option<RecordSealer> {
    let file_salt = format::from_hex(&fields.salt).expect("a header read_aof accepted");
    let sealer = AofSealer::new(key.clone(), file_salt, fresh_salt(env));
    Some(RecordSealer(sealer))
}

#[cfg(not(feature = "encryption"))]
fn sealer_for(_env: &Env, key: &Key, _fields: &AofSealFields) -> Option<RecordSealer> {
    match *key {}
}

impl RecordSealer {
    /// The sealed form of `plain`, whole records as the journal encodes them.
    #[cfg(feature = "encryption")]
    pub fn seal(&mut self, env: &Env, plain: &[u8]) -> BytesMut {
        let records = plain.len() / ember_proto::aof::AOF_RECORD_HEADER_BYTES;
        let mut out = BytesMut::with_capacity(plain.len() + records * RECORD_OVERHEAD_BYTES);
        self.0
            .seal_records(plain, &mut out, &mut || fresh_salt(env));
        out
    }

    #[cfg(not(feature = "encryption"))]
    pub fn seal(&mut self, _env: &Env, _plain: &[u8]) -> BytesMut {
        match *self {}
    }
}

#[cfg(feature = "encryption")]
fn fresh_salt(env: &Env) -> [u8; format::SEAL_SALT_BYTES] {
    let mut salt = [0; format::SEAL_SALT_BYTES];
    env.secure_random(&mut salt);
    salt
}

/// Reads the records after an AOF's header (which ends at `start`) when the header is
/// sealed or a key is set: the key must be the file's, and the file must be sealed.
pub fn read_aof(
    path: &Path,
    data: &Bytes,
    start: usize,
    fields: Option<&AofSealFields>,
    key: Option<&Arc<Key>>,
) -> Result<AofScan, String> {
    let file = path.display();
    match (fields, key) {
        (None, None) => unreachable!("a plain file without a key is read as plain"),
        (None, Some(_)) => Err(format!(
            "{file} is not encrypted, but --encryption-key-file is set (a key loads only files written under it)"
        )),
        (Some(_), None) if !cfg!(feature = "encryption") => {
            Err(format!("{file} is encrypted, but {WITHOUT_ENCRYPTION}"))
        }
        (Some(_), None) => Err(format!(
            "{file} is encrypted: start with --encryption-key-file naming its key"
        )),
        (Some(fields), Some(key)) => read_sealed_aof(path, data, start, fields, key),
    }
}

#[cfg(feature = "encryption")]
fn read_sealed_aof(
    path: &Path,
    data: &Bytes,
    start: usize,
    fields: &AofSealFields,
    key: &Key,
) -> Result<AofScan, String> {
    let file = path.display();
    if fields.scheme.as_ref() != format::SEAL_SCHEME.as_bytes() {
        let scheme = String::from_utf8_lossy(&fields.scheme);
        return Err(format!("{file}: unknown encryption scheme '{scheme}'"));
    }
    let salt = format::from_hex::<{ format::SEAL_SALT_BYTES }>(&fields.salt);
    let check = format::from_hex::<{ format::SEAL_TAG_BYTES }>(&fields.check);
    let (Some(salt), Some(check)) = (salt, check) else {
        return Err(format!(
            "{file}: corrupt record at byte 0: bad salt or key check in the header"
        ));
    };
    if !key.checks(salt, &check) {
        return Err(format!("wrong encryption key for {file}"));
    }
    let opener = AofOpener::new(key.clone(), salt);
    Ok(ember_proto::aof::read_records_with(data, start, &opener))
}

#[cfg(not(feature = "encryption"))]
fn read_sealed_aof(
    _path: &Path,
    _data: &Bytes,
    _start: usize,
    _fields: &AofSealFields,
    key: &Key,
) -> Result<AofScan, String> {
    match *key {}
}

/// Verifies a snapshot and returns its header and reader; the key must match its kind.
pub fn open_snapshot(
    path: &Path,
    data: Bytes,
    key: Option<&Arc<Key>>,
) -> Result<(SnapshotHeader, SnapshotReader), String> {
    let file = path.display();
    let result = match key {
        None => SnapshotReader::new(data),
        Some(key) => read_sealed_snapshot(data, key),
    };
    result.map_err(|error| match error.kind {
        SnapshotErrorKind::WrongKey => format!("wrong encryption key for {file}"),
        SnapshotErrorKind::NotSealed => format!(
            "{file} is not encrypted, but --encryption-key-file is set (a key loads only files written under it)"
        ),
        SnapshotErrorKind::Sealed if !cfg!(feature = "encryption") => {
            format!("{file} is encrypted, but {WITHOUT_ENCRYPTION}")
        }
        SnapshotErrorKind::Sealed => {
            format!("{file} is encrypted: start with --encryption-key-file naming its key")
        }
        _ => format!("{file}: {error}"),
    })
}

#[cfg(feature = "encryption")]
fn read_sealed_snapshot(
    data: Bytes,
    key: &Key,
) -> Result<(SnapshotHeader, SnapshotReader), SnapshotError> {
    SnapshotReader::with_key(data, key)
}

#[cfg(not(feature = "encryption"))]
fn read_sealed_snapshot(
    _data: Bytes,
    key: &Key,
) -> Result<(SnapshotHeader, SnapshotReader), SnapshotError> {
    match *key {}
}

/// The writer of a new snapshot: sealed under a fresh salt when a key is set.
pub fn snapshot_writer(
    env: &Env,
    key: Option<&Arc<Key>>,
    header: SnapshotHeader,
) -> SnapshotWriter {
    match key {
        None => SnapshotWriter::new(header),
        Some(key) => sealed_snapshot_writer(env, key, header),
    }
}

#[cfg(feature = "encryption")]
fn sealed_snapshot_writer(env: &Env, key: &Key, header: SnapshotHeader) -> SnapshotWriter {
    SnapshotWriter::sealed(header, key, fresh_salt(env))
}

#[cfg(not(feature = "encryption"))]
fn sealed_snapshot_writer(_env: &Env, key: &Key, _header: SnapshotHeader) -> SnapshotWriter {
    match *key {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(path: Option<&str>) -> Result<bool, String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let env = Env::production(Some(1));
        runtime
            .block_on(load_key(&env, path))
            .map(|key| key.is_some())
    }

    #[test]
    fn no_flag_means_no_key() {
        assert_eq!(load(None), Ok(false));
    }

    #[cfg(not(feature = "encryption"))]
    #[test]
    fn the_flag_is_refused_without_the_feature() {
        let error = load(Some("/nonexistent/key")).unwrap_err();
        assert!(error.contains("built without encryption"), "{error}");
    }

    #[cfg(feature = "encryption")]
    #[test]
    fn a_missing_key_file_is_named() {
        let error = load(Some("/nonexistent/key")).unwrap_err();
        assert!(
            error.starts_with("--encryption-key-file /nonexistent/key: "),
            "{error}"
        );
    }
}
