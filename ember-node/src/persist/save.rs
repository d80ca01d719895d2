//! Snapshots of live shards: SAVE, BGSAVE, BGREWRITEAOF and the save schedule.
//!
//! Each shard cuts its store at one instant (between two commands), then writes a few
//! keys at a time to `shard-i.snap.tmp` while it keeps serving; a write to a key not yet
//! written saves the old value first (`keyspace::cut`). With the AOF on, the cut also
//! rotates the AOF, so the snapshot plus the new AOF hold everything. The file is fsynced,
//! renamed over `shard-i.snap` and the directory fsynced; only then are older AOFs removed.
//! A crash at any step leaves either the old snapshot and every AOF after it, or the new
//! snapshot and its AOF.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use ember_net::Env;
use ember_proto::snapshot::SnapshotHeader;

use super::{rotated_aof_path, snapshot_path, snapshot_temp_path};
use crate::server::Shared;
use crate::shard::ShardLocal;

/// Keys written per step before the saver gives the shard back to commands.
const KEYS_PER_STEP: usize = 512;

/// Snapshots this shard. `Ok` once `shard-i.snap` is durable.
pub async fn save_shard(local: &ShardLocal) -> Result<(), String> {
    let env = &local.env;
    let shared = &local.shared;
    let persist = &shared.persist;
    let id = local.id;
    let dir = &persist.dir;
    let epoch = if persist.appendonly {
        persist.shards[id].epoch.load(Ordering::Relaxed) + 1
    } else {
        0
    };
    let rotated = {
        let mut store = local.acquire().await;
        let header = SnapshotHeader {
            shard: id as u16,
            created_unix_ms: env.unix_ms(),
            aof_epoch: epoch,
        };
        let writer = super::seal::snapshot_writer(env, persist.key.as_ref(), header);
        store.begin_cut(writer);
        // Records of commands before the cut go to the old file, later ones to the new.
        super::log::hand_over(shared, &mut store);
        let rotated = persist.appendonly.then(|| persist.shards[id].rotate(epoch));
        local.put_back(store);
        rotated
    };
    let result = write_cut(local, rotated).await;
    if result.is_err() {
        let mut store = local.acquire().await;
        store.abort_cut();
        local.put_back(store);
        let _ = env.remove(&snapshot_temp_path(dir, id)).await;
        return result;
    }
    // Every AOF before `epoch` is now covered by the snapshot (without the AOF on, every
    // AOF is: recovery ignores them, and a later start with the AOF on must not replay them).
    let mut removed = false;
    for path in env.list_dir(dir).await.map_err(|e| e.to_string())? {
        let stale = match rotated_epoch(&path, id) {
            Some(old) => old < epoch && path == rotated_aof_path(dir, id, old),
            None => !persist.appendonly && path == super::aof_path(dir, id),
        };
        if stale {
            env.remove(&path).await.map_err(|e| e.to_string())?;
            removed = true;
        }
    }
    if removed {
        env.sync_dir(dir).await.map_err(|e| e.to_string())?;
    }
    Ok(())
}

async fn write_cut(
    local: &ShardLocal,
    rotated: Option<tokio::sync::oneshot::Receiver<Result<(), String>>>,
) -> Result<(), String> {
    let env = &local.env;
    let dir = &local.shared.persist.dir;
    let temp = snapshot_temp_path(dir, local.id);
    let what = |step: &str, error: std::io::Error| format!("{step} {}: {error}", temp.display());
    let mut file = env
        .write_new(&temp, &[])
        .await
        .map_err(|e| what("creating", e))?;
    loop {
        let (chunks, done) = {
            let mut store = local.acquire().await;
            let step = store.cut_step(KEYS_PER_STEP);
            local.put_back(store);
            step
        };
        for chunk in chunks {
            file.append(&chunk).await.map_err(|e| what("writing", e))?;
        }
        if done {
            break;
        }
        tokio::task::yield_now().await;
    }
    let last = {
        let mut store = local.acquire().await;
        let last = store.finish_cut();
        local.put_back(store);
        last?
    };
    file.append(&last).await.map_err(|e| what("writing", e))?;
    file.fsync().await.map_err(|e| what("fsync of", e))?;
    if let Some(rotated) = rotated {
        // The new AOF must be durable before a snapshot that names its epoch is.
        rotated
            .await
            .map_err(|_| "the AOF writer stopped".to_string())??;
    }
    let path = snapshot_path(dir, local.id);
    env.rename(&temp, &path)
        .await
        .map_err(|e| what("renaming", e))?;
    env.sync_dir(dir)
        .await
        .map_err(|e| what("directory fsync after", e))?;
    Ok(())
}

/// The epoch in a rotated AOF's name `shard-{id}.aof.{epoch}`.
pub fn rotated_epoch(path: &std::path::Path, id: usize) -> Option<u64> {
    let name = path.file_name()?.to_str()?;
    let rest = name.strip_prefix(&format!("shard-{id}.aof."))?;
    rest.parse().ok()
}

/// Snapshots every shard; at most one such save runs at a time. `rewrite` counts it as an
/// AOF rewrite.
pub async fn save_all(env: Env, shared: Arc<Shared>, rewrite: bool) -> Result<(), String> {
    let persist = &shared.persist;
    if persist
        .saving
        .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        return Err("Background save already in progress".into());
    }
    let started = env.now();
    let changes = persist.total_changes();
    let result = save_every_shard(&env, &shared).await;
    let persist = &shared.persist;
    persist.saving.store(false, Ordering::Release);
    persist.last_save_duration_ms.store(
        env.now().duration_since(started).as_millis() as u64,
        Ordering::Relaxed,
    );
    persist
        .last_save_ok
        .store(result.is_ok(), Ordering::Relaxed);
    match &result {
        Ok(()) => {
            persist
                .changes_at_last_save
                .store(changes, Ordering::Relaxed);
            persist
                .last_save_unix_ms
                .store(env.unix_ms(), Ordering::Relaxed);
            persist.saves.fetch_add(1, Ordering::Relaxed);
            if rewrite {
                persist.aof_rewrites.fetch_add(1, Ordering::Relaxed);
            }
            tracing::info!("snapshot saved");
        }
        Err(reason) => tracing::warn!(%reason, "snapshot failed"),
    }
    result
}

async fn save_every_shard(env: &Env, shared: &Arc<Shared>) -> Result<(), String> {
    env.create_dir_all(&shared.persist.dir)
        .await
        .map_err(|e| format!("creating {}: {e}", shared.persist.dir.display()))?;
    super::recover::write_manifest(env, shared).await?;
    let mut replies = Vec::with_capacity(shared.shard_count);
    for shard in 0..shared.shard_count {
        let (reply, receive) = tokio::sync::oneshot::channel();
        shared.persist.save_requests[shard]
            .send(reply)
            .map_err(|_| format!("shard {shard} stopped"))?;
        replies.push(receive);
    }
    let mut first_error = None;
    for reply in replies {
        let result = reply
            .await
            .unwrap_or_else(|_| Err("a shard stopped".into()));
        if let Err(error) = result {
            first_error.get_or_insert(error);
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// The save schedule: every second, snapshot if some `seconds changes` point is due.
pub async fn schedule(env: Env, shared: Arc<Shared>) {
    loop {
        env.sleep(Duration::from_secs(1)).await;
        let persist = &shared.persist;
        if persist.is_stopping() {
            return;
        }
        if persist.saving.load(Ordering::Acquire) || persist.is_loading() {
            continue;
        }
        if persist.save_scheduled.swap(false, Ordering::AcqRel) {
            let _ = save_all(env.clone(), shared.clone(), true).await;
            continue;
        }
        let changes =
            persist.total_changes() - persist.changes_at_last_save.load(Ordering::Relaxed);
        let since_ms = env
            .unix_ms()
            .saturating_sub(persist.last_save_unix_ms.load(Ordering::Relaxed));
        let due = shared
            .config
            .save_points()
            .iter()
            .any(|&(seconds, min)| changes >= min && since_ms > seconds * 1000);
        if due {
            let _ = save_all(env.clone(), shared.clone(), false).await;
        }
    }
}
