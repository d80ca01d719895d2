//! Persistence: per-shard append-only files and snapshots in the data directory.
//!
//! - `log`: what a command writes to its shard's AOF (the command itself, rewritten to
//!   replay exactly, or the new contents of the keys it touched).
//! - `writer`: each shard's AOF writer task, its fsync policy and group commit.
//! - `save`: point-in-time snapshots of live shards (SAVE, BGSAVE, BGREWRITEAOF).
//! - `recover`: loading a data directory at start-up.
//! - `seal`: encryption at rest (`--encryption-key-file`, cargo feature `encryption`).
//!
//! Files, for shard `i`: `shard-i.snap` (the newest snapshot), `shard-i.aof` (the AOF being
//! appended to), `shard-i.aof.E` (an older AOF of epoch `E`, kept until a snapshot covers
//! it), and `ember.manifest` (the shard count the files were written with). Every AOF
//! starts with a header record naming its epoch; a snapshot names the epoch of the AOF
//! that continues it, so recovery is: the snapshot, then every AOF of that epoch or later,
//! in epoch order.

pub mod log;
pub mod recover;
pub mod reshard;
pub mod save;
pub mod seal;
pub mod writer;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use bytes::BytesMut;
use tokio::sync::{mpsc, oneshot, watch, Notify};

use crate::config::ServerConfig;

/// The first argument of the header record that opens every AOF.
pub const AOF_HEADER: &[u8] = b"EMBER.AOF";
/// The first argument of a record holding one key's whole contents.
pub const AOF_PUT: &[u8] = b"EMBER.PUT";
/// The AOF layout version in the header record.
pub const AOF_LAYOUT_VERSION: &[u8] = b"1";
pub const MANIFEST: &str = "ember.manifest";

/// When the AOF is fsynced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// Before a write is acknowledged (one fsync covers every write queued meanwhile).
    Always,
    /// Once a second, off the hot path.
    EverySec,
    /// When the operating system decides.
    No,
}

impl FsyncPolicy {
    pub fn parse(text: &str) -> Result<FsyncPolicy, String> {
        match text.to_ascii_lowercase().as_str() {
            "always" => Ok(FsyncPolicy::Always),
            "everysec" => Ok(FsyncPolicy::EverySec),
            "no" => Ok(FsyncPolicy::No),
            _ => Err(format!("'{text}' is not one of always, everysec, no")),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            FsyncPolicy::Always => "always",
            FsyncPolicy::EverySec => "everysec",
            FsyncPolicy::No => "no",
        }
    }
}

/// A `save` schedule: snapshot after `seconds` if at least `changes` writes happened.
pub fn parse_save(text: &str) -> Result<Vec<(u64, u64)>, String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    if !words.len().is_multiple_of(2) {
        return Err("Invalid save parameters".into());
    }
    words
        .chunks(2)
        .map(|pair| {
            let seconds = pair[0].parse::<u64>();
            let changes = pair[1].parse::<u64>();
            match (seconds, changes) {
                (Ok(s), Ok(c)) if s > 0 => Ok((s, c)),
                _ => Err("Invalid save parameters".into()),
            }
        })
        .collect()
}

pub fn format_save(points: &[(u64, u64)]) -> String {
    let parts: Vec<String> = points.iter().map(|(s, c)| format!("{s} {c}")).collect();
    parts.join(" ")
}

/// One piece of a shard's AOF queue.
pub enum Segment {
    /// Records, and the log position after them.
    Records(BytesMut, u64),
    /// Close the current AOF (it becomes `shard-i.aof.E`) and start epoch `epoch`; the
    /// sender hears once the new file is durable.
    Rotate(u64, oneshot::Sender<Result<(), String>>),
}

#[derive(Default)]
struct LogQueue {
    segments: VecDeque<Segment>,
    /// Log position after the last queued record.
    queued: u64,
}

/// A shard's AOF queue, shared between the threads that run commands on its store and its
/// writer task.
pub struct ShardLog {
    queue: Mutex<LogQueue>,
    pub wake: Notify,
    /// Log position the writer has made as durable as the policy promises.
    pub durable: watch::Sender<u64>,
    /// Writes applied to the shard since start-up, for the save schedule.
    pub changes: AtomicU64,
    /// The epoch of the AOF being appended to.
    pub epoch: AtomicU64,
    pub aof_bytes: AtomicU64,
}

impl ShardLog {
    fn new() -> ShardLog {
        ShardLog {
            queue: Mutex::new(LogQueue::default()),
            wake: Notify::new(),
            durable: watch::Sender::new(0),
            changes: AtomicU64::new(0),
            epoch: AtomicU64::new(0),
            aof_bytes: AtomicU64::new(0),
        }
    }

    /// Queues finished records for the writer (copied onto the queue's open segment, so
    /// the store keeps its buffer).
    pub fn push(&self, records: &[u8]) {
        let mut queue = self.queue.lock().expect("log queue lock");
        queue.queued += records.len() as u64;
        let position = queue.queued;
        match queue.segments.back_mut() {
            Some(Segment::Records(bytes, end)) => {
                bytes.extend_from_slice(records);
                *end = position;
            }
            _ => {
                let bytes = BytesMut::from(records);
                queue.segments.push_back(Segment::Records(bytes, position));
            }
        }
        drop(queue);
        self.wake.notify_one();
    }

    /// Queues a rotation; it happens after every record queued before it.
    pub fn rotate(&self, epoch: u64) -> oneshot::Receiver<Result<(), String>> {
        let (done, receive) = oneshot::channel();
        let mut queue = self.queue.lock().expect("log queue lock");
        queue.segments.push_back(Segment::Rotate(epoch, done));
        drop(queue);
        self.wake.notify_one();
        receive
    }

    pub fn take(&self) -> VecDeque<Segment> {
        std::mem::take(&mut self.queue.lock().expect("log queue lock").segments)
    }

    pub fn queued(&self) -> u64 {
        self.queue.lock().expect("log queue lock").queued
    }
}

/// What every shard shares about persistence.
pub struct Persist {
    pub dir: PathBuf,
    pub appendonly: bool,
    pub fsync: FsyncPolicy,
    /// Load an AOF up to its first corrupt record instead of refusing to start.
    pub load_corrupt: bool,
    /// The key every file is sealed with, when encryption at rest is on.
    pub key: Option<std::sync::Arc<seal::Key>>,
    pub shards: Vec<ShardLog>,
    /// Shards still loading their data; commands get -LOADING meanwhile.
    loading: AtomicUsize,
    /// A snapshot of every shard is being written.
    pub saving: AtomicBool,
    /// BGSAVE SCHEDULE or BGREWRITEAOF arrived during a save: another follows it.
    pub save_scheduled: AtomicBool,
    pub last_save_unix_ms: AtomicU64,
    pub last_save_ok: AtomicBool,
    pub last_save_duration_ms: AtomicU64,
    /// Total writes when the last snapshot began, for rdb_changes_since_last_save.
    pub changes_at_last_save: AtomicU64,
    pub saves: AtomicU64,
    pub aof_rewrites: AtomicU64,
    /// Keys loaded at start-up and how long it took.
    pub loaded_keys: AtomicU64,
    pub load_duration_ms: AtomicU64,
    fatal: Mutex<Option<String>>,
    /// Told once when the node must stop (a failed write or fsync, SHUTDOWN).
    pub stop: Notify,
    stopping: AtomicBool,
    /// Exit status once stopping: 0 for SHUTDOWN or a signal, 1 after a failure.
    pub shutdown_requested: AtomicBool,
    /// The shard count of a data directory to reshard before loading (shard 0 does it), and
    /// whether that is done (every shard waits for it).
    pub reshard_from: Mutex<Option<usize>>,
    pub reshard_done: watch::Sender<bool>,
    /// AOF writers running, and news of one ending.
    pub writers: AtomicUsize,
    pub writer_exited: Notify,
    /// Per shard: where snapshot requests go, and the shard's end, taken once it starts.
    pub save_requests: Vec<mpsc::UnboundedSender<SaveReply>>,
    pub save_inboxes: Vec<Mutex<Option<mpsc::UnboundedReceiver<SaveReply>>>>,
}

/// Where a shard reports how its snapshot went.
pub type SaveReply = oneshot::Sender<Result<(), String>>;

impl Persist {
    pub fn new(
        config: &ServerConfig,
        shard_count: usize,
        key: Option<std::sync::Arc<seal::Key>>,
    ) -> Result<Persist, String> {
        let fsync = FsyncPolicy::parse(&config.appendfsync)?;
        parse_save(&config.save).map_err(|e| format!("--save: {e}"))?;
        let (save_requests, save_inboxes) = (0..shard_count)
            .map(|_| {
                let (send, receive) = mpsc::unbounded_channel();
                (send, Mutex::new(Some(receive)))
            })
            .unzip();
        Ok(Persist {
            reshard_from: Mutex::new(None),
            reshard_done: watch::Sender::new(false),
            // Counted from the start, so a stop before a writer runs still waits for it.
            writers: AtomicUsize::new(if config.appendonly { shard_count } else { 0 }),
            writer_exited: Notify::new(),
            save_requests,
            save_inboxes,
            dir: PathBuf::from(&config.data_dir),
            appendonly: config.appendonly,
            fsync,
            load_corrupt: config.aof_load_corrupt,
            key,
            shards: (0..shard_count).map(|_| ShardLog::new()).collect(),
            loading: AtomicUsize::new(0),
            saving: AtomicBool::new(false),
            save_scheduled: AtomicBool::new(false),
            last_save_unix_ms: AtomicU64::new(0),
            last_save_ok: AtomicBool::new(true),
            last_save_duration_ms: AtomicU64::new(0),
            changes_at_last_save: AtomicU64::new(0),
            saves: AtomicU64::new(0),
            aof_rewrites: AtomicU64::new(0),
            loaded_keys: AtomicU64::new(0),
            load_duration_ms: AtomicU64::new(0),
            fatal: Mutex::new(None),
            stop: Notify::new(),
            stopping: AtomicBool::new(false),
            shutdown_requested: AtomicBool::new(false),
        })
    }

    /// Persistence off and nothing to load, for in-process tests.
    pub fn disabled(shard_count: usize) -> Persist {
        Persist::new(&ServerConfig::default(), shard_count, None).expect("defaults parse")
    }

    pub fn is_loading(&self) -> bool {
        self.loading.load(Ordering::Acquire) > 0
    }

    /// Called before the shards start when there are files to load: commands get -LOADING
    /// until every shard has loaded.
    pub fn set_loading(&self, shards: usize) {
        self.loading.store(shards, Ordering::Release);
    }

    pub fn shard_loaded(&self) {
        let _ = self
            .loading
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    }

    pub fn total_changes(&self) -> u64 {
        self.shards
            .iter()
            .map(|s| s.changes.load(Ordering::Relaxed))
            .sum()
    }

    /// Stops the node because its files can no longer be trusted: nothing more is
    /// acknowledged.
    pub fn fail(&self, reason: String) {
        tracing::error!(%reason, "persistence failed; stopping");
        self.fatal.lock().expect("fatal lock").get_or_insert(reason);
        self.request_stop();
    }

    pub fn request_stop(&self) {
        self.stopping.store(true, Ordering::Release);
        self.stop.notify_waiters();
        // A stop requested before anyone waits is seen by the next `stopped` call.
        self.stop.notify_one();
        for shard in &self.shards {
            shard.wake.notify_one();
            shard.durable.send_modify(|_| {});
        }
    }

    /// A shard's AOF writer ended (or will never run).
    pub fn writer_done(&self) {
        let _ = self
            .writers
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
        self.writer_exited.notify_waiters();
    }

    /// Waits (a bounded time) for every AOF writer to write and fsync what was queued.
    pub async fn drain(&self, env: &ember_net::Env) {
        let deadline = std::time::Duration::from_secs(10);
        let _ = env
            .timeout(deadline, async {
                loop {
                    let exited = self.writer_exited.notified();
                    if self.writers.load(Ordering::Acquire) == 0 {
                        return;
                    }
                    exited.await;
                }
            })
            .await;
    }

    pub fn failure(&self) -> Option<String> {
        self.fatal.lock().expect("fatal lock").clone()
    }

    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// Waits until every record queued so far on every shard is durable as the policy
    /// promises. Err when the node is stopping instead.
    pub async fn wait_durable(&self) -> Result<(), String> {
        for shard in &self.shards {
            let target = shard.queued();
            let mut durable = shard.durable.subscribe();
            let reached = durable
                .wait_for(|position| *position >= target || self.is_stopping())
                .await
                .is_ok_and(|position| *position >= target);
            if !reached || self.failure().is_some() {
                return Err(self
                    .failure()
                    .unwrap_or_else(|| "the node is stopping".into()));
            }
        }
        Ok(())
    }
}

pub fn aof_path(dir: &Path, shard: usize) -> PathBuf {
    dir.join(format!("shard-{shard}.aof"))
}

pub fn rotated_aof_path(dir: &Path, shard: usize, epoch: u64) -> PathBuf {
    dir.join(format!("shard-{shard}.aof.{epoch}"))
}

pub fn snapshot_path(dir: &Path, shard: usize) -> PathBuf {
    dir.join(format!("shard-{shard}.snap"))
}

pub fn snapshot_temp_path(dir: &Path, shard: usize) -> PathBuf {
    dir.join(format!("shard-{shard}.snap.tmp"))
}

/// The header record of an AOF of `epoch` written by `shard`, followed by `seal`'s
/// arguments for a sealed file (see `seal`). It is never sealed itself.
pub fn aof_header(epoch: u64, shard: usize, seal: &[&[u8]]) -> BytesMut {
    assert!(
        seal.is_empty() || seal.len() == 3,
        "scheme, salt and key check"
    );
    let mut out = BytesMut::new();
    let epoch = epoch.to_string();
    let shard = shard.to_string();
    let mut argv: Vec<&[u8]> = vec![
        AOF_HEADER,
        AOF_LAYOUT_VERSION,
        epoch.as_bytes(),
        shard.as_bytes(),
    ];
    argv.extend_from_slice(seal);
    ember_proto::aof::encode_command(0, &argv, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_schedules_parse_like_redis() {
        assert_eq!(parse_save(""), Ok(vec![]));
        assert_eq!(
            parse_save("3600 1 300 100"),
            Ok(vec![(3600, 1), (300, 100)])
        );
        assert!(parse_save("3600").is_err());
        assert!(parse_save("x 1").is_err());
        assert!(parse_save("0 1").is_err());
        assert_eq!(format_save(&[(3600, 1), (60, 10000)]), "3600 1 60 10000");
    }

    #[test]
    fn fsync_policies_parse() {
        assert_eq!(FsyncPolicy::parse("Always"), Ok(FsyncPolicy::Always));
        assert_eq!(FsyncPolicy::parse("everysec"), Ok(FsyncPolicy::EverySec));
        assert_eq!(FsyncPolicy::parse("no"), Ok(FsyncPolicy::No));
        assert!(FsyncPolicy::parse("sometimes").is_err());
    }
}
