//! Restarting with another shard count: every key moves to the shard that now owns its
//! slot, and nothing is lost or loaded twice, whenever the process dies.
//!
//! Before the shards start, each old shard's files are loaded into a store of their own
//! (replayed exactly as that shard would), the keys are spread over stores of the new
//! layout, and each new store is written as `reshard.shard-j.snap` (with an empty
//! `reshard.shard-j.aof` when the AOF is on). Then the manifest is switched in three
//! durable steps, each of which recovery redoes if it finds it unfinished:
//!
//! 1. `state delete`: the old `shard-*` files are removed;
//! 2. `state move`: each `reshard.X` is renamed to `X`;
//! 3. the manifest names the new count alone.
//!
//! A crash before step 1 leaves the old layout and stray `reshard.*` files, which the next
//! attempt overwrites.

use std::cell::RefCell;
use std::path::Path;
use std::sync::Arc;

use ember_net::Env;
use ember_proto::snapshot::SnapshotHeader;

use super::{snapshot_path, MANIFEST};
use crate::keyspace::{Store, Ttl};
use crate::server::Shared;
use crate::shard::ShardLocal;
use crate::slot::shard_of_key;

const STAGING: &str = "reshard.";

/// What the manifest says about the layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Manifest {
    pub shards: usize,
    pub state: State,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Settled,
    /// Step 1 is unfinished: old files may remain.
    Delete,
    /// Step 2 is unfinished: staged files may remain.
    Move,
}

pub fn parse_manifest(text: &str) -> Option<Manifest> {
    let mut shards = None;
    let mut state = State::Settled;
    for line in text.lines() {
        if let Some(n) = line.strip_prefix("shards ") {
            shards = n.trim().parse().ok();
        } else if let Some(word) = line.strip_prefix("state ") {
            state = match word.trim() {
                "delete" => State::Delete,
                "move" => State::Move,
                _ => return None,
            };
        }
    }
    Some(Manifest {
        shards: shards.filter(|n| *n > 0)?,
        state,
    })
}

fn render_manifest(manifest: Manifest) -> String {
    let state = match manifest.state {
        State::Settled => "",
        State::Delete => "state delete\n",
        State::Move => "state move\n",
    };
    format!(
        "ember data directory\nversion 1\nshards {}\n{state}",
        manifest.shards
    )
}

/// Writes the manifest durably (temporary file, fsync, rename, directory fsync).
pub async fn store_manifest(env: &Env, dir: &Path, manifest: Manifest) -> Result<(), String> {
    let path = dir.join(MANIFEST);
    let temp = dir.join(format!("{MANIFEST}.tmp"));
    let what = |e: std::io::Error| format!("writing {}: {e}", path.display());
    let text = render_manifest(manifest);
    let mut file = env.write_new(&temp, text.as_bytes()).await.map_err(what)?;
    file.fsync().await.map_err(what)?;
    env.rename(&temp, &path).await.map_err(what)?;
    env.sync_dir(dir).await.map_err(what)?;
    Ok(())
}

/// Finishes a switch a crash interrupted (steps 1 to 3 from where it stopped).
pub async fn finish_switch(env: &Env, dir: &Path, manifest: Manifest) -> Result<(), String> {
    let names = file_names(env, dir).await?;
    let io = |what: &str, name: &str, e: std::io::Error| {
        format!("{what} {name} in {}: {e}", dir.display())
    };
    if manifest.state == State::Delete {
        for name in names.iter().filter(|n| n.starts_with("shard-")) {
            env.remove(&dir.join(name))
                .await
                .map_err(|e| io("removing", name, e))?;
        }
        env.sync_dir(dir)
            .await
            .map_err(|e| io("fsync of", ".", e))?;
        store_manifest(
            env,
            dir,
            Manifest {
                state: State::Move,
                ..manifest
            },
        )
        .await?;
    }
    if manifest.state != State::Settled {
        for name in file_names(env, dir).await? {
            if let Some(target) = name.strip_prefix(STAGING) {
                env.rename(&dir.join(&name), &dir.join(target))
                    .await
                    .map_err(|e| io("renaming", &name, e))?;
            }
        }
        env.sync_dir(dir)
            .await
            .map_err(|e| io("fsync of", ".", e))?;
        store_manifest(
            env,
            dir,
            Manifest {
                state: State::Settled,
                ..manifest
            },
        )
        .await?;
    }
    Ok(())
}

async fn file_names(env: &Env, dir: &Path) -> Result<Vec<String>, String> {
    let paths = env
        .list_dir(dir)
        .await
        .map_err(|e| format!("listing {}: {e}", dir.display()))?;
    Ok(paths
        .iter()
        .filter_map(|p| p.file_name()?.to_str().map(str::to_string))
        .collect())
}

/// Moves every key of a data directory written by `old` shards into `shared`'s layout.
pub async fn reshard(env: &Env, shared: &Arc<Shared>, old: usize) -> Result<(), String> {
    let dir = shared.persist.dir.clone();
    let new = shared.shard_count;
    tracing::info!(
        old,
        new,
        "the shard count changed; moving every key to its new shard"
    );
    let replay = Arc::new(Shared::for_replay(old, shared));
    let mut stores: Vec<Store> = (0..new)
        .map(|id| {
            Store::new(
                id,
                env.hash_state(&format!("store-{id}")),
                env.rng(&format!("store-{id}")),
            )
        })
        .collect();
    let mut moved = 0usize;
    for id in 0..old {
        let store = Store::new(
            id,
            env.hash_state(&format!("reshard-{id}")),
            env.rng(&format!("reshard-{id}")),
        );
        let local = ShardLocal::standalone(id, env.clone(), replay.clone(), store);
        super::recover::load(&local, &dir).await?;
        let mut store = local.take_store();
        for (db, key, value, expire_at) in store.drain() {
            let target = shard_of_key(&key, new);
            let ttl = expire_at.map_or(Ttl::Clear, Ttl::At);
            stores[target].insert(db, &key, value, ttl, 0);
            moved += 1;
        }
    }
    let epoch = if shared.persist.appendonly { 1 } else { 0 };
    for store in &mut stores {
        let id = store.id;
        let header = SnapshotHeader {
            shard: id as u16,
            created_unix_ms: env.unix_ms(),
            aof_epoch: epoch,
        };
        let key = shared.persist.key.as_ref();
        store.begin_cut(super::seal::snapshot_writer(env, key, header));
        let mut bytes = Vec::new();
        loop {
            let (chunks, done) = store.cut_step(usize::MAX);
            chunks.iter().for_each(|c| bytes.extend_from_slice(c));
            if done {
                break;
            }
        }
        bytes.extend_from_slice(&store.finish_cut()?);
        let snap = staged(&snapshot_path(&dir, id));
        write_durably(env, &snap, &bytes).await?;
        if shared.persist.appendonly {
            let aof = staged(&super::aof_path(&dir, id));
            // The staged file holds its header alone: its sealer is made again on opening.
            let (header, _) = super::seal::new_aof(env, key, epoch, id);
            write_durably(env, &aof, &header).await?;
        }
    }
    env.sync_dir(&dir)
        .await
        .map_err(|e| format!("fsync of {}: {e}", dir.display()))?;
    let manifest = Manifest {
        shards: new,
        state: State::Delete,
    };
    store_manifest(env, &dir, manifest).await?;
    finish_switch(env, &dir, manifest).await?;
    tracing::info!(keys = moved, "keys moved to the new layout");
    Ok(())
}

fn staged(path: &Path) -> std::path::PathBuf {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .expect("a file name");
    path.with_file_name(format!("{STAGING}{name}"))
}

async fn write_durably(env: &Env, path: &Path, bytes: &[u8]) -> Result<(), String> {
    let what = |e: std::io::Error| format!("writing {}: {e}", path.display());
    let mut file = env.write_new(path, bytes).await.map_err(what)?;
    file.fsync().await.map_err(what)
}

/// A shard's local state without a running shard, for loading an old shard's files.
impl ShardLocal {
    pub fn standalone(id: usize, env: Env, shared: Arc<Shared>, store: Store) -> ShardLocal {
        ShardLocal::new(
            id,
            env,
            shared,
            Arc::new(Vec::new()),
            RefCell::new(Some(Box::new(store))),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_round_trip() {
        for state in [State::Settled, State::Delete, State::Move] {
            let manifest = Manifest { shards: 3, state };
            assert_eq!(parse_manifest(&render_manifest(manifest)), Some(manifest));
        }
        assert_eq!(parse_manifest("shards 0\n"), None);
        assert_eq!(parse_manifest("nothing\n"), None);
        assert_eq!(parse_manifest("shards 2\nstate bogus\n"), None);
    }
}
