//! The state machine: the applied [`Topology`], the last applied log id and membership,
//! and snapshots.
//!
//! Applied state lives in memory and is rebuilt on restart from the latest snapshot plus
//! the log entries after it (openraft re-applies up to the committed id the log store
//! saved). A snapshot is persisted before openraft hears of it, so the log is never purged
//! past state that only memory held: it goes to a temporary file, is fsynced, renamed over
//! `raft-snapshot` and the directory is synced. The file is one checksummed frame, as in
//! the log, holding the snapshot's metadata and the topology's bytes; the same bytes are
//! what a leader sends to a follower that fell behind the purged log.

use std::io::{self, Cursor};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use ember_net::Env;
use openraft::storage::{RaftStateMachine, Snapshot, SnapshotMeta};
use openraft::{
    BasicNode, Entry, EntryPayload, LogId, OptionalSend, RaftSnapshotBuilder, StorageError,
    StorageIOError, StoredMembership,
};
use serde::{Deserialize, Serialize};

use super::{ApplyResult, RaftNodeId, TypeConfig};
use crate::topology::{Applied, Topology, TopologyCommand};

/// The largest snapshot file read back: a topology of `NODES_MAX` nodes is far smaller.
pub const SNAPSHOT_MAX_BYTES: usize = 16 << 20;

const SNAPSHOT_FILE_NAME: &str = "raft-snapshot";
const SNAPSHOT_TEMP_FILE_NAME: &str = "raft-snapshot.tmp";
const SNAPSHOT_HEADER_BYTES: usize = 8;

/// One applied log entry, as the apply hook sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedEntry {
    pub log_id: LogId<RaftNodeId>,
    /// The command, or `None` for a Raft blank or membership entry.
    pub command: Option<TopologyCommand>,
    pub result: ApplyResult,
}

/// Called for every applied entry, in log order, on the Raft's task: keep it short.
pub type ApplyHook = Arc<dyn Fn(&AppliedEntry) + Send + Sync>;

/// A shared read-only view of the applied topology, for the node's command handlers, and
/// a way to wait for the next change.
#[derive(Clone)]
pub struct TopologyHandle {
    current: tokio::sync::watch::Sender<Arc<Topology>>,
}

/// openraft's state machine.
pub struct StateMachine {
    state: AppliedState,
    handle: TopologyHandle,
    store: SnapshotStore,
    hook: Option<ApplyHook>,
}

/// What the state machine has applied; cloned into a snapshot builder.
#[derive(Clone, Default)]
struct AppliedState {
    topology: Topology,
    last_applied: Option<LogId<RaftNodeId>>,
    membership: StoredMembership<RaftNodeId, BasicNode>,
}

/// Where snapshots are persisted, and the current one.
#[derive(Clone)]
struct SnapshotStore {
    env: Env,
    dir: PathBuf,
    current: Arc<Mutex<Option<StoredSnapshot>>>,
}

#[derive(Clone, Serialize, Deserialize)]
struct StoredSnapshot {
    meta: SnapshotMeta<RaftNodeId, BasicNode>,
    /// [`Topology::to_bytes`].
    data: Vec<u8>,
}

/// Builds a snapshot of the state as it was when the builder was made.
pub struct SnapshotBuilder {
    state: AppliedState,
    store: SnapshotStore,
}

impl TopologyHandle {
    /// The topology as last applied.
    pub fn current(&self) -> Arc<Topology> {
        self.current.borrow().clone()
    }

    /// A receiver that sees every topology the state machine publishes from now on (the
    /// latest one, if several were published since it last looked).
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<Arc<Topology>> {
        self.current.subscribe()
    }

    /// Publishes `topology` unless it equals the current one, so watchers wake only on a
    /// real change (a Raft blank or membership entry changes nothing here).
    fn replace(&self, topology: Topology) {
        self.current.send_if_modified(|current| {
            if **current == topology {
                return false;
            }
            *current = Arc::new(topology);
            true
        });
    }
}

impl Default for TopologyHandle {
    fn default() -> TopologyHandle {
        TopologyHandle {
            current: tokio::sync::watch::Sender::new(Arc::new(Topology::new())),
        }
    }
}

impl StateMachine {
    /// Opens the state machine in `dir`, starting from the persisted snapshot if any.
    pub async fn open(env: Env, dir: &Path, hook: Option<ApplyHook>) -> io::Result<StateMachine> {
        env.create_dir_all(dir).await?;
        let store = SnapshotStore {
            env,
            dir: dir.to_path_buf(),
            current: Arc::new(Mutex::new(None)),
        };
        let mut state = AppliedState::default();
        if let Some(stored) = store.load().await? {
            state = AppliedState::from_snapshot(&stored)?;
            *store.lock() = Some(stored);
        }
        let handle = TopologyHandle::default();
        handle.replace(state.topology.clone());
        Ok(StateMachine {
            state,
            handle,
            store,
            hook,
        })
    }

    /// A view of the applied topology that follows every apply.
    pub fn handle(&self) -> TopologyHandle {
        self.handle.clone()
    }

    fn apply_entry(&mut self, entry: Entry<TypeConfig>) -> ApplyResult {
        let log_id = entry.log_id;
        assert!(
            self.state.last_applied < Some(log_id),
            "entries apply in log order"
        );
        self.state.last_applied = Some(log_id);
        let (command, result) = match entry.payload {
            EntryPayload::Blank => (None, Ok(Applied::Nothing)),
            EntryPayload::Membership(membership) => {
                self.state.membership = StoredMembership::new(Some(log_id), membership);
                (None, Ok(Applied::Nothing))
            }
            EntryPayload::Normal(command) => {
                let result = self.state.topology.apply(&command);
                (Some(command), result)
            }
        };
        if let Some(hook) = &self.hook {
            hook(&AppliedEntry {
                log_id,
                command,
                result: result.clone(),
            });
        }
        result
    }
}

impl AppliedState {
    fn from_snapshot(stored: &StoredSnapshot) -> io::Result<AppliedState> {
        let topology = Topology::from_bytes(&stored.data)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        Ok(AppliedState {
            topology,
            last_applied: stored.meta.last_log_id,
            membership: stored.meta.last_membership.clone(),
        })
    }
}

impl SnapshotStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<StoredSnapshot>> {
        self.current.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reads the persisted snapshot; a damaged one is an error, not a fresh start, since
    /// the log may already be purged up to it.
    async fn load(&self) -> io::Result<Option<StoredSnapshot>> {
        let path = self.dir.join(SNAPSHOT_FILE_NAME);
        if !self.env.exists(&path).await {
            return Ok(None);
        }
        let data = self.env.read(&path).await?;
        decode_snapshot_file(&data).map(Some).map_err(|reason| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {reason}", path.display()),
            )
        })
    }

    /// Persists `stored` durably, then makes it the current snapshot.
    async fn save(&self, stored: StoredSnapshot) -> io::Result<()> {
        let payload = postcard::to_allocvec(&stored).map_err(io::Error::other)?;
        if payload.len() > SNAPSHOT_MAX_BYTES {
            return Err(io::Error::other("snapshot over the size limit"));
        }
        let length = u32::try_from(payload.len()).map_err(io::Error::other)?;
        let mut frame = Vec::with_capacity(SNAPSHOT_HEADER_BYTES + payload.len());
        frame.extend_from_slice(&length.to_le_bytes());
        frame.extend_from_slice(&crc32c::crc32c(&payload).to_le_bytes());
        frame.extend_from_slice(&payload);
        let temp = self.dir.join(SNAPSHOT_TEMP_FILE_NAME);
        let mut file = self.env.write_new(&temp, &frame).await?;
        file.fsync().await?;
        self.env
            .rename(&temp, &self.dir.join(SNAPSHOT_FILE_NAME))
            .await?;
        self.env.sync_dir(&self.dir).await?;
        *self.lock() = Some(stored);
        Ok(())
    }
}

fn decode_snapshot_file(data: &[u8]) -> Result<StoredSnapshot, String> {
    let Some((header, payload)) = data.split_first_chunk::<SNAPSHOT_HEADER_BYTES>() else {
        return Err("a partial header".to_string());
    };
    let length = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let checksum = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    if length > SNAPSHOT_MAX_BYTES || length != payload.len() {
        return Err(format!("a length of {length} for {} bytes", payload.len()));
    }
    if crc32c::crc32c(payload) != checksum {
        return Err("the checksum does not match".to_string());
    }
    postcard::from_bytes(payload).map_err(|e| e.to_string())
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError<RaftNodeId>> {
        let data = self.state.topology.to_bytes();
        let snapshot_id = match self.state.last_applied {
            Some(log_id) => format!("{}-{}", log_id.leader_id, log_id.index),
            None => "empty".to_string(),
        };
        let meta = SnapshotMeta {
            last_log_id: self.state.last_applied,
            last_membership: self.state.membership.clone(),
            snapshot_id,
        };
        let stored = StoredSnapshot {
            meta: meta.clone(),
            data: data.clone(),
        };
        self.store
            .save(stored)
            .await
            .map_err(|e| StorageIOError::write_snapshot(Some(meta.signature()), &e))?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(
        &mut self,
    ) -> Result<
        (
            Option<LogId<RaftNodeId>>,
            StoredMembership<RaftNodeId, BasicNode>,
        ),
        StorageError<RaftNodeId>,
    > {
        Ok((self.state.last_applied, self.state.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<ApplyResult>, StorageError<RaftNodeId>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let results: Vec<ApplyResult> = entries
            .into_iter()
            .map(|entry| self.apply_entry(entry))
            .collect();
        self.handle.replace(self.state.topology.clone());
        Ok(results)
    }

    async fn get_snapshot_builder(&mut self) -> SnapshotBuilder {
        SnapshotBuilder {
            state: self.state.clone(),
            store: self.store.clone(),
        }
    }

    async fn begin_receiving_snapshot(
        &mut self,
    ) -> Result<Box<Cursor<Vec<u8>>>, StorageError<RaftNodeId>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<RaftNodeId, BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError<RaftNodeId>> {
        let stored = StoredSnapshot {
            meta: meta.clone(),
            data: snapshot.into_inner(),
        };
        let state = AppliedState::from_snapshot(&stored)
            .map_err(|e| StorageIOError::read_snapshot(Some(meta.signature()), &e))?;
        self.store
            .save(stored)
            .await
            .map_err(|e| StorageIOError::write_snapshot(Some(meta.signature()), &e))?;
        self.handle.replace(state.topology.clone());
        self.state = state;
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<Snapshot<TypeConfig>>, StorageError<RaftNodeId>> {
        Ok(self.store.lock().clone().map(|stored| Snapshot {
            meta: stored.meta,
            snapshot: Box::new(Cursor::new(stored.data)),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::{NodeAddress, NodeName, SlotRange};
    use ember_net::SimDisk;
    use openraft::{CommittedLeaderId, RaftSnapshotBuilder};
    use std::io::Read;

    fn run<F: std::future::Future<Output = ()>>(disk: &SimDisk, test: impl FnOnce(Env) -> F) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        runtime.block_on(test(Env::simulation(3, "node-a", disk.clone(), 1, 0)));
    }

    fn entry(index: u64, command: TopologyCommand) -> Entry<TypeConfig> {
        Entry {
            log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
            payload: EntryPayload::Normal(command),
        }
    }

    fn commands() -> Vec<TopologyCommand> {
        let name = NodeName::from_bytes([7; 20]);
        vec![
            TopologyCommand::Meet(NodeAddress {
                name,
                ip: [10, 0, 0, 7].into(),
                port: 6379,
                bus_port: 16379,
            }),
            TopologyCommand::AddSlots {
                node: name,
                ranges: vec![SlotRange::new(0, 99)],
            },
            TopologyCommand::AddSlots {
                node: name,
                ranges: vec![SlotRange::single(5)],
            },
        ]
    }

    #[test]
    fn applies_in_order_reports_results_and_calls_the_hook() {
        let disk = SimDisk::new(1);
        run(&disk, |env| async move {
            let seen = Arc::new(Mutex::new(Vec::new()));
            let record = seen.clone();
            let hook: ApplyHook =
                Arc::new(move |applied| record.lock().unwrap().push(applied.clone()));
            let dir = Path::new("/data/raft");
            let mut machine = StateMachine::open(env, dir, Some(hook)).await.unwrap();
            let handle = machine.handle();
            let entries: Vec<_> = commands()
                .into_iter()
                .enumerate()
                .map(|(i, c)| entry(i as u64 + 1, c))
                .collect();
            let results = machine.apply(entries).await.unwrap();
            assert_eq!(results[1], Ok(Applied::SlotsAdded { count: 100 }));
            assert_eq!(results[2], Err(crate::topology::TopologyError::SlotBusy(5)));
            assert_eq!(handle.current().slots_assigned(), 100);
            assert_eq!(seen.lock().unwrap().len(), 3);
            let (applied, _) = machine.applied_state().await.unwrap();
            assert_eq!(applied.map(|id| id.index), Some(3));
        });
    }

    #[test]
    fn a_built_snapshot_survives_restart_and_installs_elsewhere() {
        let disk = SimDisk::new(2);
        let dir = Path::new("/data/raft");
        run(&disk, |env| async move {
            let mut machine = StateMachine::open(env, dir, None).await.unwrap();
            let entries: Vec<_> = commands()
                .into_iter()
                .enumerate()
                .map(|(i, c)| entry(i as u64 + 1, c))
                .collect();
            machine.apply(entries).await.unwrap();
            let mut builder = machine.get_snapshot_builder().await;
            let snapshot = builder.build_snapshot().await.unwrap();
            assert_eq!(snapshot.meta.last_log_id.map(|id| id.index), Some(3));
            let current = machine.get_current_snapshot().await.unwrap().unwrap();
            assert_eq!(current.meta, snapshot.meta);
        });
        // A crash keeps the snapshot: it was fsynced and its rename synced.
        disk.crash(
            "node-a",
            &mut <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(2),
        );
        run(&disk, |env| async move {
            let mut machine = StateMachine::open(env.clone(), dir, None).await.unwrap();
            let (applied, _) = machine.applied_state().await.unwrap();
            assert_eq!(applied.map(|id| id.index), Some(3));
            assert_eq!(machine.handle().current().slots_assigned(), 100);
            let mut snapshot = machine.get_current_snapshot().await.unwrap().unwrap();
            let mut data = Vec::new();
            snapshot.snapshot.read_to_end(&mut data).unwrap();

            // Another node installs it.
            let other = Path::new("/data/other");
            let mut follower = StateMachine::open(env.clone(), other, None).await.unwrap();
            follower
                .install_snapshot(&snapshot.meta, Box::new(Cursor::new(data)))
                .await
                .unwrap();
            assert_eq!(*follower.handle().current(), *machine.handle().current());
            // Bytes that are not a topology are refused and change nothing.
            let bad = follower
                .install_snapshot(&snapshot.meta, Box::new(Cursor::new(vec![1, 2, 3])))
                .await;
            assert!(bad.is_err());
            assert_eq!(follower.handle().current().slots_assigned(), 100);
        });
    }

    #[test]
    fn a_damaged_snapshot_file_is_an_error() {
        let disk = SimDisk::new(3);
        let dir = Path::new("/data/raft");
        run(&disk, |env| async move {
            let mut machine = StateMachine::open(env.clone(), dir, None).await.unwrap();
            machine
                .get_snapshot_builder()
                .await
                .build_snapshot()
                .await
                .unwrap();
            let path = dir.join(SNAPSHOT_FILE_NAME);
            let mut data = env.read(&path).await.unwrap();
            let last = data.len() - 1;
            data[last] ^= 0x55;
            env.write_new(&path, &data)
                .await
                .unwrap()
                .fsync()
                .await
                .unwrap();
            let error = StateMachine::open(env, dir, None).await.err().unwrap();
            assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        });
    }
}
