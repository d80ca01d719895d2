//! Start-up: load each shard's snapshot, then replay its AOFs from the snapshot's epoch on.
//!
//! Replay runs with expiry off (every record applies as it did when it was written) and
//! then sweeps keys whose time has passed, logging their deletes. A torn tail (a crash
//! mid-write) is cut back to the last whole record, with a warning; so is a group of
//! records cut before its end. Damage with valid records after it is corruption: start-up
//! stops with an error naming the file and byte offset, unless `--aof-load-corrupt yes`
//! says to load the records before it and cut the rest.
//!
//! Each file's header says whether it is encrypted; `seal` checks that against the key
//! (if any) before a byte after the header is read, and a sealed record that does not
//! open is corruption like any other.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use bytes::Bytes;
use ember_net::Env;
use ember_proto::aof::{read_records, AofEnd, AofRecord, AofScan, AOF_RECORD_HEADER_BYTES};
use ember_proto::snapshot::decode_entry_blob;
use ember_proto::Protocol;

use super::seal::AofSealFields;
use super::writer::AofFile;
use super::{aof_path, save::rotated_epoch, snapshot_path, MANIFEST};
use crate::cmd::table::Handler;
use crate::cmd::{Args, Ctx};
use crate::keyspace::journal::{GROUP_CLOSE, GROUP_OPEN};
use crate::keyspace::Store;
use crate::server::Shared;
use crate::shard::ShardLocal;

/// Records (or snapshot entries) applied between yields, so connections get -LOADING
/// promptly while a shard loads.
const ITEMS_PER_YIELD: usize = 1024;

/// One AOF as read from disk.
struct AofLog {
    path: PathBuf,
    epoch: u64,
    /// The header's seal arguments, for an encrypted file.
    seal: Option<AofSealFields>,
    records: Vec<AofRecord>,
    /// Where to cut the file: a torn tail, an unfinished group, or (when allowed) corruption.
    cut_to: Option<usize>,
}

/// Loads this shard's files into its store and opens its AOF for appending (when on).
pub async fn start_shard(local: &ShardLocal) -> Result<Option<AofFile>, String> {
    let env = &local.env;
    let shared = &local.shared;
    let persist = &shared.persist;
    let dir = persist.dir.clone();
    let id = local.id;
    let started = env.now();
    let aof_epoch_min = load(local, &dir).await?;
    let store = local.acquire().await;
    let loaded = store.total_keys() as u64;
    local.put_back(store);
    persist.loaded_keys.fetch_add(loaded, Ordering::Relaxed);
    persist.load_duration_ms.fetch_max(
        env.now().duration_since(started).as_millis() as u64,
        Ordering::Relaxed,
    );
    let aof = match aof_epoch_min {
        Some(current) => Some(open_current(env, shared, id, current).await?),
        None => None,
    };
    let mut store = local.acquire().await;
    let swept = store.sweep_expired(env.unix_ms());
    super::log::hand_over(shared, &mut store);
    local.put_back(store);
    if swept > 0 {
        tracing::info!(
            shard = id,
            swept,
            "keys that expired while down were deleted"
        );
    }
    Ok(aof)
}

/// Loads the snapshot and the AOFs; with the AOF on, gives the epoch and length the
/// current AOF should continue from.
///
/// The store is taken a batch at a time, so INFO (which may run while loading) gets in.
pub(crate) async fn load(local: &ShardLocal, dir: &Path) -> Result<Option<Current>, String> {
    let env = &local.env;
    let shared = &local.shared;
    let persist = &shared.persist;
    let id = local.id;
    let limits = shared.config.encoding_limits();
    let snapshot = snapshot_path(dir, id);
    let mut snapshot_epoch = 0;
    if env.exists(&snapshot).await {
        let data = env
            .read(&snapshot)
            .await
            .map_err(|e| format!("reading {}: {e}", snapshot.display()))?;
        let invalid =
            |e: ember_proto::snapshot::SnapshotError| format!("{}: {e}", snapshot.display());
        let key = persist.key.as_ref();
        let (header, mut reader) = super::seal::open_snapshot(&snapshot, Bytes::from(data), key)?;
        snapshot_epoch = header.aof_epoch;
        let mut loaded = 0usize;
        let mut done = false;
        while !done {
            let mut store = local.acquire().await;
            let batch = (|| {
                for _ in 0..ITEMS_PER_YIELD {
                    let Some(entry) = reader.next().map_err(invalid)? else {
                        return Ok(true);
                    };
                    store.load_entry(entry, &limits);
                    loaded += 1;
                }
                Ok::<bool, String>(false)
            })();
            store.forget_writes();
            local.put_back(store);
            done = batch?;
            tokio::task::yield_now().await;
        }
        tracing::info!(shard = id, keys = loaded, "snapshot loaded");
    }
    if !persist.appendonly {
        return Ok(None);
    }
    let logs = read_logs(env, shared, id, dir, snapshot_epoch).await?;
    let mut applied = 0usize;
    let mut refused = 0usize;
    for log in &logs {
        for batch in log.records.chunks(ITEMS_PER_YIELD) {
            let mut store = local.acquire().await;
            let result = (|| {
                for record in batch {
                    if !apply_record(shared, &mut store, record, &log.path)? {
                        refused += 1;
                    }
                    applied += 1;
                }
                Ok::<(), String>(())
            })();
            store.forget_writes();
            local.put_back(store);
            result?;
            tokio::task::yield_now().await;
        }
        if let Some(cut_to) = log.cut_to {
            env.truncate(&log.path, cut_to as u64)
                .await
                .map_err(|e| format!("cutting {} to {cut_to} bytes: {e}", log.path.display()))?;
        }
    }
    if refused > 0 {
        tracing::warn!(
            shard = id,
            refused,
            "AOF records answered with an error on replay"
        );
    }
    if applied > 0 {
        tracing::info!(shard = id, records = applied, "AOF replayed");
    }
    let current_path = aof_path(dir, id);
    let current = logs.iter().find(|log| log.path == current_path);
    let next_epoch = logs.iter().map(|log| log.epoch + 1).max().unwrap_or(1);
    Ok(Some(match current {
        Some(log) => Current::Existing(log.epoch, log.seal.clone()),
        None => Current::Create(next_epoch.max(snapshot_epoch).max(1)),
    }))
}

pub(crate) enum Current {
    /// `shard-i.aof` holds this epoch (and these seal arguments): append to it.
    Existing(u64, Option<AofSealFields>),
    /// Create `shard-i.aof` at this epoch.
    Create(u64),
}

async fn open_current(
    env: &Env,
    shared: &Shared,
    id: usize,
    current: Current,
) -> Result<AofFile, String> {
    let dir = &shared.persist.dir;
    let path = aof_path(dir, id);
    let what = |step: &str, e: std::io::Error| format!("{step} {}: {e}", path.display());
    let key = shared.persist.key.as_ref();
    match current {
        Current::Existing(epoch, seal) => {
            let file = env
                .open_append(&path)
                .await
                .map_err(|e| what("opening", e))?;
            let sealer = super::seal::existing_aof(env, key, seal.as_ref());
            Ok(AofFile {
                file,
                epoch,
                sealer,
            })
        }
        Current::Create(epoch) => {
            let (header, sealer) = super::seal::new_aof(env, key, epoch, id);
            let mut file = env
                .write_new(&path, &header)
                .await
                .map_err(|e| what("creating", e))?;
            file.fsync().await.map_err(|e| what("fsync of", e))?;
            env.sync_dir(dir)
                .await
                .map_err(|e| what("directory fsync after creating", e))?;
            Ok(AofFile {
                file,
                epoch,
                sealer,
            })
        }
    }
}

/// Reads every AOF of this shard of epoch `epoch_min` or later, in epoch order.
async fn read_logs(
    env: &Env,
    shared: &Shared,
    id: usize,
    dir: &Path,
    epoch_min: u64,
) -> Result<Vec<AofLog>, String> {
    let mut paths = Vec::new();
    if env.exists(dir).await {
        for path in env
            .list_dir(dir)
            .await
            .map_err(|e| format!("listing {}: {e}", dir.display()))?
        {
            if rotated_epoch(&path, id).is_some() || path == aof_path(dir, id) {
                paths.push(path);
            }
        }
    }
    let mut logs = Vec::new();
    for path in paths {
        let data = env
            .read(&path)
            .await
            .map_err(|e| format!("reading {}: {e}", path.display()))?;
        if let Some(log) = read_log(shared, path, Bytes::from(data))? {
            if log.epoch >= epoch_min {
                logs.push(log);
            }
        }
    }
    logs.sort_by_key(|log| log.epoch);
    Ok(logs)
}

/// Parses one AOF. `None` for a file without a whole header record (created by a crash
/// before its first fsync, so it holds nothing).
fn read_log(shared: &Shared, path: PathBuf, data: Bytes) -> Result<Option<AofLog>, String> {
    let (scan, sealed) = scan_log(shared, &path, &data)?;
    let mut cut_to = None;
    match scan.end {
        AofEnd::Clean => {}
        AofEnd::TornTail { offset, damage } => {
            tracing::warn!(file = %path.display(), offset, %damage, "torn AOF tail cut back to the last whole record");
            cut_to = Some(offset);
        }
        AofEnd::Corrupt { offset, reason, .. } => {
            if !shared.persist.load_corrupt {
                return Err(format!(
                    "{}: corrupt record at byte {offset}: {reason} (start with --aof-load-corrupt yes to load the records before it and drop the rest)",
                    path.display()
                ));
            }
            tracing::warn!(file = %path.display(), offset, %reason, "corrupt AOF loaded up to the damage, the rest dropped");
            cut_to = Some(offset);
        }
    }
    let mut records = scan.records;
    // A plain scan holds the header record; a sealed one starts after it.
    let (header, start) = match sealed {
        Some(sealed) => sealed,
        None => {
            let Some(first) = records.first() else {
                return Ok(None);
            };
            let header = parse_header(first).ok_or_else(|| {
                format!(
                    "{}: corrupt record at byte 0: not an ember AOF header",
                    path.display()
                )
            })?;
            let start = AOF_RECORD_HEADER_BYTES
                + ember_proto::aof::record_payload_len(first).expect("read back");
            records.remove(0);
            (header, start)
        }
    };
    let overhead = match header.seal {
        Some(_) => super::seal::RECORD_OVERHEAD_BYTES,
        None => 0,
    };
    if let Some(at) = unfinished_group(&path, &mut records, start, overhead) {
        cut_to = Some(at);
    }
    Ok(Some(AofLog {
        path,
        epoch: header.epoch,
        seal: header.seal,
        records,
        cut_to,
    }))
}

/// Scans an AOF. A file whose header is whole and encrypted, or any file while a key is
/// set, is scanned by `seal` from after its header, and its header comes back with where
/// it ends. Any other file is scanned whole from byte 0, exactly as a plain file is.
fn scan_log(
    shared: &Shared,
    path: &Path,
    data: &Bytes,
) -> Result<(AofScan, Option<(AofHeader, usize)>), String> {
    let key = shared.persist.key.as_ref();
    if let Ok(Some((record, start))) = ember_proto::aof::first_record(data) {
        if let Some(header) = parse_header(&record) {
            if header.seal.is_some() || key.is_some() {
                let scan = super::seal::read_aof(path, data, start, header.seal.as_ref(), key)?;
                return Ok((scan, Some((header, start))));
            }
        }
    }
    Ok((read_records(data), None))
}

/// Drops an unfinished group at the end (it was never acknowledged) and returns the
/// offset to cut the file to. `start` is where `records` start in the file, and every
/// record takes `overhead` bytes more on disk than its plain encoding.
fn unfinished_group(
    path: &Path,
    records: &mut Vec<AofRecord>,
    start: usize,
    overhead: usize,
) -> Option<usize> {
    let mut offset = start;
    let mut open_group: Option<(usize, usize)> = None;
    for (index, record) in records.iter().enumerate() {
        if record.argv[0].as_ref() == GROUP_OPEN {
            open_group = Some((index, offset));
        } else if record.argv[0].as_ref() == GROUP_CLOSE {
            open_group = None;
        }
        offset += AOF_RECORD_HEADER_BYTES
            + overhead
            + ember_proto::aof::record_payload_len(record).expect("read back");
    }
    let (index, at) = open_group?;
    tracing::warn!(file = %path.display(), offset = at, "unfinished group of AOF records dropped");
    records.truncate(index);
    Some(at)
}

/// What an AOF's header record says.
struct AofHeader {
    epoch: u64,
    seal: Option<AofSealFields>,
}

fn parse_header(record: &AofRecord) -> Option<AofHeader> {
    let [name, version, epoch, _shard, seal @ ..] = &record.argv[..] else {
        return None;
    };
    if name.as_ref() != super::AOF_HEADER || version.as_ref() != super::AOF_LAYOUT_VERSION {
        return None;
    }
    let epoch = std::str::from_utf8(epoch).ok()?.parse().ok()?;
    let seal = match seal {
        [] => None,
        [scheme, salt, check] => Some(AofSealFields {
            scheme: scheme.clone(),
            salt: salt.clone(),
            check: check.clone(),
        }),
        _ => return None,
    };
    Some(AofHeader { epoch, seal })
}

/// Applies one record with expiry off. Ok(false) when the command answered with an error.
fn apply_record(
    shared: &Shared,
    store: &mut Store,
    record: &AofRecord,
    path: &Path,
) -> Result<bool, String> {
    let db = record.db as usize;
    let name = record.argv[0].as_ref();
    if name == GROUP_OPEN || name == GROUP_CLOSE || name == super::AOF_HEADER {
        return Ok(true);
    }
    if db >= crate::limits::DATABASES_MAX {
        return Err(format!("{}: record for database {db}", path.display()));
    }
    if name == super::AOF_PUT {
        let blob = record
            .argv
            .get(1)
            .ok_or_else(|| format!("{}: EMBER.PUT without an entry", path.display()))?;
        let entry = decode_entry_blob(blob)
            .map_err(|e| format!("{}: EMBER.PUT entry: {e}", path.display()))?;
        store.load_entry(entry, &shared.config.encoding_limits());
        return Ok(true);
    }
    let (spec, skip) = crate::conn::resolve(&record.argv).map_err(|_| {
        format!(
            "{}: unknown command '{}' in the AOF",
            path.display(),
            String::from_utf8_lossy(name)
        )
    })?;
    let Handler::Data(handler) = spec.handler else {
        return Err(format!(
            "{}: '{}' is not a data command",
            path.display(),
            spec.name
        ));
    };
    let mut stores = [store];
    let mut ctx = Ctx::new(0, db, Protocol::Resp2, shared, &mut stores);
    let mut args = Args::new(&record.argv, skip);
    let ok = handler(&mut ctx, &mut args).is_ok();
    Ok(ok)
}

/// The shard count recorded in the data directory, if any.
pub async fn read_manifest(env: &Env, dir: &Path) -> Result<Option<usize>, String> {
    Ok(read_manifest_state(env, dir).await?.map(|m| m.shards))
}

async fn read_manifest_state(
    env: &Env,
    dir: &Path,
) -> Result<Option<super::reshard::Manifest>, String> {
    let path = dir.join(MANIFEST);
    if !env.exists(&path).await {
        return Ok(None);
    }
    let data = env
        .read(&path)
        .await
        .map_err(|e| format!("reading {}: {e}", path.display()))?;
    match super::reshard::parse_manifest(&String::from_utf8_lossy(&data)) {
        Some(manifest) => Ok(Some(manifest)),
        None => Err(format!("{}: not an ember manifest", path.display())),
    }
}

/// Before the shards start: with the AOF on, makes the data directory and records the
/// shard count in it when nothing is recorded yet.
pub async fn prepare_dir(env: &Env, shared: &std::sync::Arc<Shared>) -> Result<(), String> {
    let dir = &shared.persist.dir;
    let manifest = read_manifest_state(env, dir).await?;
    if let Some(manifest) = manifest {
        super::reshard::finish_switch(env, dir, manifest).await?;
    }
    // A listing that fails may hide files: load as if there were some.
    let files = has_shard_files(env, dir).await != Some(false);
    if let Some(manifest) = manifest.filter(|m| files && m.shards != shared.shard_count) {
        // Shard 0 moves the keys once the shards run, behind -LOADING.
        *shared.persist.reshard_from.lock().expect("reshard lock") = Some(manifest.shards);
    }
    if files {
        shared.persist.set_loading(shared.shard_count);
    }
    if !shared.persist.appendonly {
        return Ok(());
    }
    env.create_dir_all(dir)
        .await
        .map_err(|e| format!("creating {}: {e}", dir.display()))?;
    if manifest.is_none() {
        write_manifest(env, shared).await?;
    }
    Ok(())
}

/// Records this node's shard count in the data directory, durably, unless it is there.
pub async fn write_manifest(env: &Env, shared: &Shared) -> Result<(), String> {
    let dir = &shared.persist.dir;
    if read_manifest(env, dir).await? == Some(shared.shard_count) {
        return Ok(());
    }
    let manifest = super::reshard::Manifest {
        shards: shared.shard_count,
        state: super::reshard::State::Settled,
    };
    super::reshard::store_manifest(env, dir, manifest).await
}

/// Whether `dir` holds shard files: `Some(false)` for a missing or empty directory, `None`
/// when it could not be listed.
async fn has_shard_files(env: &Env, dir: &Path) -> Option<bool> {
    if !env.exists(dir).await {
        return Some(false);
    }
    let paths = env.list_dir(dir).await.ok()?;
    Some(paths.iter().any(|path| {
        path.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("shard-"))
    }))
}
