//! A shard's AOF writer: one task on the shard's thread that appends queued records, fsyncs
//! by the policy, rotates files for snapshots, and publishes how far the log is durable.
//!
//! Group commit falls out of the queue: while one fsync runs, commands keep queueing, and
//! the next pass writes and fsyncs all of them at once. A failed write or fsync stops the
//! node: the file's state is unknown, so nothing after it may be acknowledged.
//!
//! With encryption at rest, records are sealed here, just before they reach the file: the
//! writer owns the file, so it alone knows which nonces that file has used (`seal`).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use ember_net::{Env, File};

use super::seal::RecordSealer;
use super::{aof_path, rotated_aof_path, FsyncPolicy, Segment};
use crate::server::Shared;

/// How often `everysec` fsyncs.
const EVERYSEC: Duration = Duration::from_secs(1);

pub struct AofFile {
    pub file: File,
    pub epoch: u64,
    /// Seals records before they are appended, when encryption at rest is on.
    pub sealer: Option<RecordSealer>,
}

pub async fn run(env: Env, shared: Arc<Shared>, shard: usize, mut aof: AofFile) {
    let persist = &shared.persist;
    let log = &persist.shards[shard];
    log.epoch.store(aof.epoch, Ordering::Relaxed);
    let mut written = log.durable.borrow().to_owned();
    let mut unsynced = false;
    let mut last_sync = env.now();
    let _exit = WriterExit(&shared.persist);
    loop {
        // Stopping: whatever is queued is written and fsynced before the node exits.
        let stopping = persist.is_stopping();
        if persist.failure().is_some() {
            return;
        }
        let wake = log.wake.notified();
        let segments = log.take();
        if segments.is_empty() && !stopping {
            if persist.fsync == FsyncPolicy::EverySec && unsynced {
                let due = EVERYSEC.saturating_sub(env.now().duration_since(last_sync));
                tokio::select! {
                    biased;
                    _ = wake => {}
                    _ = env.sleep(due) => {}
                }
            } else {
                wake.await;
            }
        }
        for segment in segments {
            let result = match segment {
                Segment::Records(bytes, position) => {
                    let bytes = match aof.sealer.as_mut() {
                        Some(sealer) => sealer.seal(&env, &bytes),
                        None => bytes,
                    };
                    // `always`: the write and its fsync are one trip to the disk.
                    let sync = persist.fsync == FsyncPolicy::Always;
                    let appended = aof.file.append_sync(bytes.freeze(), sync).await;
                    written = position;
                    unsynced = !sync;
                    if sync {
                        last_sync = env.now();
                    }
                    log.aof_bytes.store(aof.file.len(), Ordering::Relaxed);
                    appended.map_err(|e| {
                        format!("writing {}: {e}", aof_path(&persist.dir, shard).display())
                    })
                }
                Segment::Rotate(epoch, done) => {
                    let rotated = rotate(&env, &shared, shard, &mut aof, epoch).await;
                    if rotated.is_ok() {
                        unsynced = false;
                        last_sync = env.now();
                        log.epoch.store(epoch, Ordering::Relaxed);
                    }
                    let _ = done.send(rotated.clone());
                    rotated
                }
            };
            if let Err(reason) = result {
                persist.fail(reason);
                return;
            }
        }
        let sync_now = match persist.fsync {
            _ if stopping => unsynced,
            FsyncPolicy::Always => unsynced,
            FsyncPolicy::EverySec => unsynced && env.now().duration_since(last_sync) >= EVERYSEC,
            FsyncPolicy::No => false,
        };
        if sync_now {
            if let Err(error) = aof.file.fsync().await {
                let path = aof_path(&persist.dir, shard);
                persist.fail(format!("fsync of {}: {error}", path.display()));
                return;
            }
            unsynced = false;
            last_sync = env.now();
        }
        if *log.durable.borrow() != written {
            log.durable.send_replace(written);
        }
        if stopping {
            return;
        }
    }
}

/// Counts the writer out when it ends, however it ends.
struct WriterExit<'a>(&'a super::Persist);

impl Drop for WriterExit<'_> {
    fn drop(&mut self) {
        self.0.writer_done();
    }
}

/// Closes the current AOF as `shard-i.aof.E` and starts `shard-i.aof` at `epoch`, durably.
async fn rotate(
    env: &Env,
    shared: &Shared,
    shard: usize,
    aof: &mut AofFile,
    epoch: u64,
) -> Result<(), String> {
    let dir = &shared.persist.dir;
    let current = aof_path(dir, shard);
    let what = |step: &str, error: std::io::Error| {
        format!("rotating {}: {step}: {error}", current.display())
    };
    aof.file.fsync().await.map_err(|e| what("fsync", e))?;
    let old = rotated_aof_path(dir, shard, aof.epoch);
    env.rename(&current, &old)
        .await
        .map_err(|e| what("rename", e))?;
    let key = shared.persist.key.as_ref();
    let (header, sealer) = super::seal::new_aof(env, key, epoch, shard);
    let mut file = env
        .write_new(&current, &header)
        .await
        .map_err(|e| what("create", e))?;
    file.fsync().await.map_err(|e| what("fsync", e))?;
    env.sync_dir(dir)
        .await
        .map_err(|e| what("directory fsync", e))?;
    *aof = AofFile {
        file,
        epoch,
        sealer,
    };
    Ok(())
}
