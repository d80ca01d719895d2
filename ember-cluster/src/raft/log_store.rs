//! The Raft log, vote and committed id, kept in memory and journaled to one append-only
//! file through `Env`, so the simulator's disk can crash it.
//!
//! The file is a sequence of records: payload length (u32 LE), CRC32C of the payload
//! (u32 LE), payload (a postcard [`LogRecord`]). Every change is a record: an appended
//! entry, a truncation, a purge, a vote, a committed id. Opening replays the records in
//! order. Appends, truncations and votes are fsynced before they are acknowledged;
//! the committed id is not (it is a hint that only speeds up restart), and reaches the
//! disk with the next fsync.
//!
//! A crash can leave a torn tail: damage after which no whole record can be found. It is
//! cut back with a warning, as the AOF does. Damage followed by a valid record is
//! corruption of acknowledged data, and opening fails with the file and offset.
//!
//! Purged entries stay in the file until it is rewritten: once the file is larger than
//! [`REWRITE_MIN_BYTES`] and more than half of it is dead, a purge writes the live state
//! to a temporary file, fsyncs it, renames it over the log and syncs the directory.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io;
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use ember_net::{Env, File};
use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{
    Entry, LogId, OptionalSend, RaftLogId, RaftLogReader, StorageError, StorageIOError, Vote,
};
use serde::{Deserialize, Serialize};

use super::{RaftNodeId, TypeConfig};

/// The largest record payload written or read back; a topology command with every slot
/// as its own range is about 64 KiB.
pub const LOG_RECORD_MAX_BYTES: usize = 1 << 20;
/// Bytes of a record before its payload: length and checksum.
pub const LOG_RECORD_HEADER_BYTES: usize = 8;
/// A log file is rewritten on purge only past this size.
pub const REWRITE_MIN_BYTES: u64 = 1 << 20;
/// How far past damage recovery looks for a valid record before calling it a torn tail.
pub const RESYNC_SCAN_MAX_BYTES: usize = 1 << 20;

const _: () = assert!(LOG_RECORD_MAX_BYTES <= u32::MAX as usize);
const _: () = assert!(REWRITE_MIN_BYTES as usize >= LOG_RECORD_MAX_BYTES);

const LOG_FILE_NAME: &str = "raft-log";
const LOG_TEMP_FILE_NAME: &str = "raft-log.tmp";

/// One change to the log's state, as journaled.
#[derive(Debug, Clone, Serialize, Deserialize)]
enum LogRecord {
    Entry(Entry<TypeConfig>),
    /// Entries at `since` and after are gone.
    Truncate {
        since: u64,
    },
    /// Entries up to and including this id are gone.
    Purge(LogId<RaftNodeId>),
    Vote(Vote<RaftNodeId>),
    Committed(Option<LogId<RaftNodeId>>),
}

/// Why the log could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum LogStoreError {
    #[error("raft log {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("raft log {path} is corrupt at offset {offset}: {reason}")]
    Corrupt {
        path: PathBuf,
        offset: usize,
        reason: String,
    },
}

/// The log's state, shared by the store and its readers.
#[derive(Debug, Default)]
struct LogMemory {
    entries: BTreeMap<u64, Entry<TypeConfig>>,
    last_purged: Option<LogId<RaftNodeId>>,
    vote: Option<Vote<RaftNodeId>>,
    committed: Option<LogId<RaftNodeId>>,
}

/// openraft's log storage.
pub struct LogStore {
    env: Env,
    dir: PathBuf,
    file: File,
    memory: Arc<Mutex<LogMemory>>,
}

/// Reads entries while the store appends.
#[derive(Clone)]
pub struct LogReader {
    memory: Arc<Mutex<LogMemory>>,
}

impl LogStore {
    /// Opens (or creates) the log in `dir`, replaying it and cutting a torn tail.
    pub async fn open(env: Env, dir: &Path) -> Result<LogStore, LogStoreError> {
        let path = dir.join(LOG_FILE_NAME);
        let io_error = |source| LogStoreError::Io {
            path: path.clone(),
            source,
        };
        env.create_dir_all(dir).await.map_err(io_error)?;
        let mut memory = LogMemory::default();
        if env.exists(&path).await {
            let data = env.read(&path).await.map_err(io_error)?;
            let valid_len =
                replay(&data, &mut memory).map_err(|(offset, reason)| LogStoreError::Corrupt {
                    path: path.clone(),
                    offset,
                    reason,
                })?;
            if valid_len < data.len() {
                tracing::warn!(
                    path = %path.display(),
                    valid_len,
                    file_len = data.len(),
                    "cutting a torn tail off the raft log"
                );
                env.truncate(&path, valid_len as u64)
                    .await
                    .map_err(io_error)?;
            }
        }
        let file = env.open_append(&path).await.map_err(io_error)?;
        // A new file's directory entry must be durable before anything in it is acked.
        env.sync_dir(dir).await.map_err(io_error)?;
        Ok(LogStore {
            env,
            dir: dir.to_path_buf(),
            file,
            memory: Arc::new(Mutex::new(memory)),
        })
    }

    /// The vote as last saved.
    pub fn vote(&self) -> Option<Vote<RaftNodeId>> {
        self.lock().vote
    }

    /// The committed id as last saved.
    pub fn committed(&self) -> Option<LogId<RaftNodeId>> {
        self.lock().committed
    }

    /// The log file's length in bytes.
    pub fn file_len(&self) -> u64 {
        self.file.len()
    }

    fn lock(&self) -> MutexGuard<'_, LogMemory> {
        self.memory.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Encodes and appends `records`, then fsyncs with `sync`.
    async fn write(&mut self, records: &[LogRecord], sync: bool) -> io::Result<()> {
        let mut buffer = Vec::new();
        for record in records {
            encode_record(record, &mut buffer)?;
        }
        self.file.append_sync(buffer.into(), sync).await
    }

    /// Rewrites the file with only the live state when most of it is dead.
    async fn rewrite_if_mostly_dead(&mut self) -> io::Result<()> {
        let file_len = self.file.len();
        if file_len < REWRITE_MIN_BYTES {
            return Ok(());
        }
        let records = self.lock().live_records();
        let mut buffer = Vec::new();
        for record in &records {
            encode_record(record, &mut buffer)?;
        }
        if (buffer.len() as u64).saturating_mul(2) > file_len {
            return Ok(());
        }
        let temp = self.dir.join(LOG_TEMP_FILE_NAME);
        let path = self.dir.join(LOG_FILE_NAME);
        let mut file = self.env.write_new(&temp, &buffer).await?;
        file.fsync().await?;
        self.env.rename(&temp, &path).await?;
        self.env.sync_dir(&self.dir).await?;
        assert_eq!(file.len(), buffer.len() as u64);
        self.file = file;
        Ok(())
    }
}

impl LogMemory {
    /// Applies one record, checking it against the state; the error is why it does not fit.
    fn apply(&mut self, record: LogRecord) -> Result<(), String> {
        match record {
            LogRecord::Entry(entry) => {
                let index = entry.get_log_id().index;
                let expected = self.next_index();
                if index != expected {
                    return Err(format!("entry {index} where {expected} was expected"));
                }
                self.entries.insert(index, entry);
            }
            LogRecord::Truncate { since } => {
                self.entries.split_off(&since);
            }
            LogRecord::Purge(log_id) => {
                if self.last_purged.is_some_and(|purged| purged > log_id) {
                    return Err(format!("purge back to {log_id}"));
                }
                self.entries = self.entries.split_off(&(log_id.index + 1));
                self.last_purged = Some(log_id);
            }
            LogRecord::Vote(vote) => self.vote = Some(vote),
            LogRecord::Committed(committed) => self.committed = committed,
        }
        Ok(())
    }

    fn next_index(&self) -> u64 {
        match (self.entries.last_key_value(), self.last_purged) {
            (Some((index, _)), _) => index + 1,
            (None, Some(purged)) => purged.index + 1,
            (None, None) => 0,
        }
    }

    fn last_log_id(&self) -> Option<LogId<RaftNodeId>> {
        match self.entries.last_key_value() {
            Some((_, entry)) => Some(*entry.get_log_id()),
            None => self.last_purged,
        }
    }

    fn range(&self, range: impl RangeBounds<u64>) -> Vec<Entry<TypeConfig>> {
        self.entries
            .range(range)
            .map(|(_, entry)| entry.clone())
            .collect()
    }

    /// The records that rebuild this state from nothing.
    fn live_records(&self) -> Vec<LogRecord> {
        let mut records = Vec::with_capacity(self.entries.len() + 3);
        records.extend(self.vote.map(LogRecord::Vote));
        records.extend(self.last_purged.map(LogRecord::Purge));
        records.push(LogRecord::Committed(self.committed));
        records.extend(self.entries.values().cloned().map(LogRecord::Entry));
        records
    }
}

impl RaftLogReader<TypeConfig> for LogReader {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>, StorageError<RaftNodeId>> {
        let memory = self.memory.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(memory.range(range))
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>, StorageError<RaftNodeId>> {
        Ok(self.lock().range(range))
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogReader;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError<RaftNodeId>> {
        let memory = self.lock();
        Ok(LogState {
            last_purged_log_id: memory.last_purged,
            last_log_id: memory.last_log_id(),
        })
    }

    async fn get_log_reader(&mut self) -> LogReader {
        LogReader {
            memory: self.memory.clone(),
        }
    }

    async fn save_vote(&mut self, vote: &Vote<RaftNodeId>) -> Result<(), StorageError<RaftNodeId>> {
        self.write(&[LogRecord::Vote(*vote)], true)
            .await
            .map_err(|e| StorageIOError::write_vote(&e))?;
        self.lock().vote = Some(*vote);
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<RaftNodeId>>, StorageError<RaftNodeId>> {
        Ok(self.lock().vote)
    }

    async fn save_committed(
        &mut self,
        committed: Option<LogId<RaftNodeId>>,
    ) -> Result<(), StorageError<RaftNodeId>> {
        self.write(&[LogRecord::Committed(committed)], false)
            .await
            .map_err(|e| StorageIOError::write(&e))?;
        self.lock().committed = committed;
        Ok(())
    }

    async fn read_committed(
        &mut self,
    ) -> Result<Option<LogId<RaftNodeId>>, StorageError<RaftNodeId>> {
        Ok(self.lock().committed)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError<RaftNodeId>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let records: Vec<LogRecord> = entries.into_iter().map(LogRecord::Entry).collect();
        let result = self.write(&records, true).await;
        if let Err(error) = result {
            let storage_error = StorageIOError::write_logs(&error);
            callback.log_io_completed(Err(error));
            return Err(storage_error.into());
        }
        {
            let mut memory = self.lock();
            for record in records {
                // openraft appends contiguously; a gap is a bug in the caller or here.
                memory
                    .apply(record)
                    .unwrap_or_else(|reason| panic!("raft log append: {reason}"));
            }
        }
        callback.log_io_completed(Ok(()));
        Ok(())
    }

    async fn truncate(
        &mut self,
        log_id: LogId<RaftNodeId>,
    ) -> Result<(), StorageError<RaftNodeId>> {
        let record = LogRecord::Truncate {
            since: log_id.index,
        };
        self.write(std::slice::from_ref(&record), true)
            .await
            .map_err(|e| StorageIOError::write_logs(&e))?;
        let applied = self.lock().apply(record);
        assert!(applied.is_ok(), "a truncation always applies");
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId<RaftNodeId>) -> Result<(), StorageError<RaftNodeId>> {
        let record = LogRecord::Purge(log_id);
        self.write(std::slice::from_ref(&record), true)
            .await
            .map_err(|e| StorageIOError::write_logs(&e))?;
        self.lock()
            .apply(record)
            .map_err(|reason| StorageIOError::write_logs(&io::Error::other(reason)))?;
        self.rewrite_if_mostly_dead()
            .await
            .map_err(|e| StorageIOError::write_logs(&e))?;
        Ok(())
    }
}

/// Appends `record`'s framing and payload to `out`.
fn encode_record(record: &LogRecord, out: &mut Vec<u8>) -> io::Result<()> {
    let payload = postcard::to_allocvec(record).map_err(io::Error::other)?;
    if payload.len() > LOG_RECORD_MAX_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "raft log record of {} bytes is over the limit",
                payload.len()
            ),
        ));
    }
    let length = u32::try_from(payload.len()).map_err(io::Error::other)?;
    out.extend_from_slice(&length.to_le_bytes());
    out.extend_from_slice(&crc32c::crc32c(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
    Ok(())
}

/// The record at `position`: `Ok(None)` at the end of `data`, the record and the offset
/// after it, or why no whole valid record starts there.
fn decode_record_at(data: &[u8], position: usize) -> Result<Option<(LogRecord, usize)>, String> {
    let rest = &data[position..];
    if rest.is_empty() {
        return Ok(None);
    }
    let Some((header, body)) = rest.split_first_chunk::<LOG_RECORD_HEADER_BYTES>() else {
        return Err("a partial record header".to_string());
    };
    let length = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let checksum = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    if length > LOG_RECORD_MAX_BYTES {
        return Err(format!("a record of {length} bytes is over the limit"));
    }
    let Some(payload) = body.get(..length) else {
        return Err("a partial record".to_string());
    };
    if crc32c::crc32c(payload) != checksum {
        return Err("a record's checksum does not match".to_string());
    }
    let record = postcard::from_bytes(payload).map_err(|e| format!("a bad record: {e}"))?;
    Ok(Some((record, position + LOG_RECORD_HEADER_BYTES + length)))
}

/// Replays `data` into `memory` and returns how many bytes are whole records, or the
/// offset and reason of damage that is not a torn tail.
fn replay(data: &[u8], memory: &mut LogMemory) -> Result<usize, (usize, String)> {
    let mut position = 0;
    // Bounded by the input: each record consumes at least its header.
    loop {
        match decode_record_at(data, position) {
            Ok(None) => return Ok(position),
            Ok(Some((record, next))) => {
                assert!(next > position && next <= data.len());
                memory.apply(record).map_err(|reason| (position, reason))?;
                position = next;
            }
            Err(reason) => {
                if let Some(valid_at) = find_valid_record(data, position + 1) {
                    let reason = format!("{reason}, and a valid record follows at {valid_at}");
                    return Err((position, reason));
                }
                return Ok(position);
            }
        }
    }
}

/// The first offset from `start` (within the scan bound) where a whole valid record begins.
fn find_valid_record(data: &[u8], start: usize) -> Option<usize> {
    let end = data.len().min(start.saturating_add(RESYNC_SCAN_MAX_BYTES));
    (start..end).find(|offset| matches!(decode_record_at(data, *offset), Ok(Some(_))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::{NodeName, SlotRange, TopologyCommand};
    use ember_net::SimDisk;
    use openraft::storage::RaftLogStorageExt;
    use openraft::{CommittedLeaderId, EntryPayload};
    use rand::SeedableRng;

    const HOST: &str = "node-a";

    fn dir() -> PathBuf {
        PathBuf::from("/data/raft")
    }

    fn log_id(term: u64, index: u64) -> LogId<RaftNodeId> {
        LogId::new(CommittedLeaderId::new(term, 1), index)
    }

    fn entry(term: u64, index: u64) -> Entry<TypeConfig> {
        let name = NodeName::from_bytes([index as u8; 20]);
        Entry {
            log_id: log_id(term, index),
            payload: EntryPayload::Normal(TopologyCommand::AddSlots {
                node: name,
                ranges: vec![SlotRange::single(index as u16)],
            }),
        }
    }

    /// Runs `test` on a current-thread runtime with a simulated `Env` on `disk`.
    fn run<F: std::future::Future<Output = ()>>(disk: &SimDisk, test: impl FnOnce(Env) -> F) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let env = Env::simulation(7, HOST, disk.clone(), 1, 0);
        runtime.block_on(test(env));
    }

    async fn indexes(store: &mut LogStore) -> Vec<u64> {
        let entries = store.try_get_log_entries(0..).await.unwrap();
        entries.iter().map(|entry| entry.log_id.index).collect()
    }

    #[test]
    fn appends_votes_and_commits_come_back_after_restart() {
        let disk = SimDisk::new(1);
        run(&disk, |env| async move {
            let mut store = LogStore::open(env.clone(), &dir()).await.unwrap();
            assert_eq!(store.get_log_state().await.unwrap().last_log_id, None);
            store
                .blocking_append((0..5).map(|i| entry(1, i)))
                .await
                .unwrap();
            let vote = Vote::new(2, 3);
            store.save_vote(&vote).await.unwrap();
            store.save_committed(Some(log_id(1, 3))).await.unwrap();
            store.blocking_append([entry(2, 5)]).await.unwrap();
            let mut reader = store.get_log_reader().await;
            let read = reader.try_get_log_entries(2..4).await.unwrap();
            assert_eq!(read, vec![entry(1, 2), entry(1, 3)]);
            drop(store);

            let mut store = LogStore::open(env, &dir()).await.unwrap();
            assert_eq!(indexes(&mut store).await, vec![0, 1, 2, 3, 4, 5]);
            assert_eq!(store.read_vote().await.unwrap(), Some(vote));
            assert_eq!(store.read_committed().await.unwrap(), Some(log_id(1, 3)));
            let state = store.get_log_state().await.unwrap();
            assert_eq!(state.last_log_id, Some(log_id(2, 5)));
            assert_eq!(state.last_purged_log_id, None);
        });
        // Appends and votes were fsynced: a crash keeps them.
        disk.crash(HOST, &mut rand_chacha::ChaCha8Rng::seed_from_u64(1));
        run(&disk, |env| async move {
            let mut store = LogStore::open(env, &dir()).await.unwrap();
            assert_eq!(indexes(&mut store).await, vec![0, 1, 2, 3, 4, 5]);
            assert_eq!(store.vote(), Some(Vote::new(2, 3)));
            assert_eq!(store.committed(), Some(log_id(1, 3)));
        });
    }

    #[test]
    fn truncate_and_purge_survive_restart() {
        let disk = SimDisk::new(2);
        run(&disk, |env| async move {
            let mut store = LogStore::open(env.clone(), &dir()).await.unwrap();
            store
                .blocking_append((0..10).map(|i| entry(1, i)))
                .await
                .unwrap();
            store.truncate(log_id(1, 7)).await.unwrap();
            assert_eq!(indexes(&mut store).await, (0..7).collect::<Vec<_>>());
            // A new leader's entries replace the truncated ones.
            store
                .blocking_append([entry(2, 7), entry(2, 8)])
                .await
                .unwrap();
            store.purge(log_id(1, 3)).await.unwrap();
            assert_eq!(indexes(&mut store).await, vec![4, 5, 6, 7, 8]);
            let state = store.get_log_state().await.unwrap();
            assert_eq!(state.last_purged_log_id, Some(log_id(1, 3)));
            assert_eq!(state.last_log_id, Some(log_id(2, 8)));
            drop(store);

            let mut store = LogStore::open(env, &dir()).await.unwrap();
            assert_eq!(indexes(&mut store).await, vec![4, 5, 6, 7, 8]);
            let entries = store.try_get_log_entries(7..9).await.unwrap();
            assert_eq!(entries, vec![entry(2, 7), entry(2, 8)]);
            // Purging everything leaves the purged id as the last log id.
            store.purge(log_id(2, 8)).await.unwrap();
            let state = store.get_log_state().await.unwrap();
            assert_eq!(state.last_log_id, Some(log_id(2, 8)));
            store.blocking_append([entry(2, 9)]).await.unwrap();
            assert_eq!(indexes(&mut store).await, vec![9]);
        });
    }

    #[test]
    fn a_torn_tail_is_cut_back() {
        let disk = SimDisk::new(3);
        run(&disk, |env| async move {
            let mut store = LogStore::open(env.clone(), &dir()).await.unwrap();
            store
                .blocking_append((0..3).map(|i| entry(1, i)))
                .await
                .unwrap();
            let whole_len = store.file_len();
            drop(store);
            // Half a record: a header that promises more than the file holds.
            let path = dir().join(LOG_FILE_NAME);
            let mut file = env.open_append(&path).await.unwrap();
            let mut torn = Vec::new();
            encode_record(&LogRecord::Entry(entry(1, 3)), &mut torn).unwrap();
            file.append(&torn[..torn.len() / 2]).await.unwrap();
            file.fsync().await.unwrap();
            drop(file);

            let mut store = LogStore::open(env.clone(), &dir()).await.unwrap();
            assert_eq!(indexes(&mut store).await, vec![0, 1, 2]);
            assert_eq!(store.file_len(), whole_len);
            assert_eq!(env.read(&path).await.unwrap().len() as u64, whole_len);
            // The log goes on from the cut.
            store.blocking_append([entry(1, 3)]).await.unwrap();
            drop(store);
            let mut store = LogStore::open(env, &dir()).await.unwrap();
            assert_eq!(indexes(&mut store).await, vec![0, 1, 2, 3]);
        });
    }

    #[test]
    fn a_crash_tears_only_unsynced_records() {
        // The committed id is written without fsync; a crash may drop or tear it, and the
        // log must still open with every fsynced entry.
        for seed in 0..20 {
            let disk = SimDisk::new(seed);
            disk.set_faults(ember_net::FaultConfig {
                garble_probability: 0.5,
                ..Default::default()
            });
            run(&disk, |env| async move {
                let mut store = LogStore::open(env, &dir()).await.unwrap();
                store
                    .blocking_append((0..4).map(|i| entry(1, i)))
                    .await
                    .unwrap();
                store.save_committed(Some(log_id(1, 2))).await.unwrap();
            });
            disk.crash(HOST, &mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
            run(&disk, |env| async move {
                let mut store = LogStore::open(env, &dir()).await.unwrap();
                assert_eq!(indexes(&mut store).await, vec![0, 1, 2, 3]);
                let committed = store.committed();
                assert!(committed.is_none() || committed == Some(log_id(1, 2)));
            });
        }
    }

    #[test]
    fn damage_before_a_valid_record_is_corruption() {
        let disk = SimDisk::new(4);
        run(&disk, |env| async move {
            let mut store = LogStore::open(env.clone(), &dir()).await.unwrap();
            store
                .blocking_append((0..3).map(|i| entry(1, i)))
                .await
                .unwrap();
            drop(store);
            let path = dir().join(LOG_FILE_NAME);
            let mut data = env.read(&path).await.unwrap();
            data[LOG_RECORD_HEADER_BYTES + 1] ^= 0xff;
            env.write_new(&path, &data)
                .await
                .unwrap()
                .fsync()
                .await
                .unwrap();
            let error = LogStore::open(env, &dir()).await.err().unwrap();
            assert!(
                matches!(error, LogStoreError::Corrupt { offset: 0, .. }),
                "{error}"
            );
        });
    }

    #[test]
    fn a_mostly_purged_log_is_rewritten() {
        let disk = SimDisk::new(5);
        run(&disk, |env| async move {
            let mut store = LogStore::open(env.clone(), &dir()).await.unwrap();
            let name = NodeName::from_bytes([1; 20]);
            // Each entry names thousands of single-slot ranges: tens of KiB each.
            let big = |index: u64| Entry {
                log_id: log_id(1, index),
                payload: EntryPayload::Normal(TopologyCommand::AddSlots {
                    node: name,
                    ranges: (0..8000).map(SlotRange::single).collect(),
                }),
            };
            let mut index = 0;
            while store.file_len() < 2 * REWRITE_MIN_BYTES {
                store.blocking_append([big(index)]).await.unwrap();
                index += 1;
            }
            store.save_vote(&Vote::new(1, 1)).await.unwrap();
            let before = store.file_len();
            store.purge(log_id(1, index - 2)).await.unwrap();
            assert!(
                store.file_len() < before / 4,
                "{} of {before}",
                store.file_len()
            );
            assert!(!env.exists(&dir().join(LOG_TEMP_FILE_NAME)).await);
            store.blocking_append([big(index)]).await.unwrap();
            drop(store);

            let mut store = LogStore::open(env, &dir()).await.unwrap();
            assert_eq!(indexes(&mut store).await, vec![index - 1, index]);
            assert_eq!(store.vote(), Some(Vote::new(1, 1)));
            let state = store.get_log_state().await.unwrap();
            assert_eq!(state.last_purged_log_id, Some(log_id(1, index - 2)));
        });
    }
}
