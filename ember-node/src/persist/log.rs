//! What a finished command writes to the AOF of each shard it touched.
//!
//! - A command whose keys all live on one shard (or that acts on each shard alone, as
//!   FLUSHALL does) is logged as itself, rewritten where replaying it as sent would not redo
//!   it: relative TTLs become absolute (the key's resulting state is logged: `SET .. PXAT`,
//!   `PEXPIREAT`, `PERSIST` or `DEL`; RESTORE becomes `RESTORE .. REPLACE ABSTTL` or
//!   `DEL`), and SPOP becomes the SREM of what it popped
//!   (`Ctx::propagate`). A blocking pop is logged as sent: replayed without a waiter it
//!   pops what it popped then, from the same state, and never blocks.
//! - A command whose keys span shards (RENAME, SUNIONSTORE, MSET ...) is logged on each
//!   shard as the new contents of the keys it touched there: an `EMBER.PUT` of the whole
//!   entry or a `DEL`, grouped so they replay together.
//!
//! Replay runs with expiry off and sweeps afterwards, so a key that expired between two
//! records is deleted by the `DEL` logged when it expired, as it was live.

use bytes::Bytes;

use crate::cmd::table::Route;
use crate::keyspace::Store;
use crate::server::Shared;
use crate::slot::shard_of_key;

/// Logs what the command `argv`, run in `db`, did to each of `stores`, and hands the
/// records to the shards' writers.
pub fn after_command(
    shared: &Shared,
    stores: &mut [&mut Store],
    db: usize,
    argv: &[Bytes],
    propagate: Option<Vec<Bytes>>,
) {
    // One store: the executor gave the command exactly the stores its keys live on.
    let mut single_shard: Option<bool> = (stores.len() == 1).then_some(true);
    for store in stores.iter_mut() {
        let changes = store.journal.take_changes();
        if changes > 0 {
            let log = &shared.persist.shards[store.id];
            log.changes
                .fetch_add(changes, std::sync::atomic::Ordering::Relaxed);
        }
        let (touched, wrote, _whole) = store.journal.take_touched();
        if store.journal.is_on() && wrote {
            let owns_rewrite = propagate
                .as_ref()
                .and_then(|p| p.get(1))
                .is_some_and(|key| shard_of_key(key, shared.shard_count) == store.id);
            if owns_rewrite {
                store
                    .journal
                    .append(db, propagate.as_deref().expect("checked"));
            } else if *single_shard.get_or_insert_with(|| on_one_shard(shared, argv)) {
                log_as_command(store, db, argv);
            } else {
                log_effects(store, &touched);
            }
        }
        hand_over(shared, store);
    }
}

/// Gives the store's finished records to its shard's writer.
pub fn hand_over(shared: &Shared, store: &mut Store) {
    let log = &shared.persist.shards[store.id];
    store.journal.drain_records(|records| log.push(records));
}

/// Whether replaying `argv` on one shard's data alone redoes it.
fn on_one_shard(shared: &Shared, argv: &[Bytes]) -> bool {
    let Ok((spec, _)) = crate::conn::resolve(argv) else {
        return false;
    };
    match spec.route {
        Route::AllShards => true,
        Route::Keys => {
            let mut shards = spec
                .key_positions(argv)
                .into_iter()
                .map(|i| shard_of_key(&argv[i], shared.shard_count));
            match shards.next() {
                Some(first) => shards.all(|shard| shard == first),
                None => true,
            }
        }
        Route::None => true,
    }
}

fn log_as_command(store: &mut Store, db: usize, argv: &[Bytes]) {
    let name = argv[0].as_ref();
    let is = |names: &[&str]| {
        names
            .iter()
            .any(|n| name.eq_ignore_ascii_case(n.as_bytes()))
    };
    if is(&["set", "setex", "psetex"]) {
        let record = string_state(store, db, &argv[1]);
        store.journal.append(db, &record);
    } else if is(&["getex", "expire", "pexpire", "expireat", "pexpireat"]) {
        let record = ttl_state(store, db, &argv[1]);
        store.journal.append(db, &record);
    } else if is(&["restore", "restore-asking"]) {
        let record = restore_state(store, db, argv);
        store.journal.append(db, &record);
    } else {
        // Blocking pops replay as they ran: without a waiter they never block.
        store.journal.append(db, argv);
    }
}

/// A string key's state after a SET with any options: SET with an absolute expiry, or DEL.
fn string_state(store: &Store, db: usize, key: &Bytes) -> Vec<Bytes> {
    let Some(entry) = store.entry_of(db, key) else {
        return vec![Bytes::from_static(b"DEL"), key.clone()];
    };
    let ember_proto::snapshot::SnapshotValue::Str(value) = entry.value else {
        unreachable!("SET leaves a string");
    };
    let mut set = vec![Bytes::from_static(b"SET"), key.clone(), value];
    if let Some(at) = entry.expire_at_ms {
        set.push(Bytes::from_static(b"PXAT"));
        set.push(Bytes::from(at.to_string()));
    }
    set
}

/// A key's TTL state after a command that set or cleared it: PEXPIREAT, PERSIST or DEL.
fn ttl_state(store: &Store, db: usize, key: &Bytes) -> Vec<Bytes> {
    if !store.contains_key(db, key) {
        return vec![Bytes::from_static(b"DEL"), key.clone()];
    }
    match store.expire_at(db, key) {
        Some(at) => vec![
            Bytes::from_static(b"PEXPIREAT"),
            key.clone(),
            Bytes::from(at.to_string()),
        ],
        None => vec![Bytes::from_static(b"PERSIST"), key.clone()],
    }
}

/// A key's state after RESTORE: the same payload restored with an absolute expiry (0 for
/// none) over whatever is there, or DEL when nothing was created (a TTL already past under
/// REPLACE). IDLETIME and FREQ are left out: the AOF keeps no access times.
fn restore_state(store: &Store, db: usize, argv: &[Bytes]) -> Vec<Bytes> {
    let key = &argv[1];
    if !store.contains_key(db, key) {
        return vec![Bytes::from_static(b"DEL"), key.clone()];
    }
    let at = store.expire_at(db, key).unwrap_or(0);
    vec![
        Bytes::from_static(b"RESTORE"),
        key.clone(),
        Bytes::from(at.to_string()),
        argv[3].clone(),
        Bytes::from_static(b"REPLACE"),
        Bytes::from_static(b"ABSTTL"),
    ]
}

/// Logs the touched keys' new contents, as one group.
fn log_effects(store: &mut Store, touched: &[(usize, Bytes)]) {
    let mut seen: Vec<(usize, &Bytes)> = Vec::with_capacity(touched.len());
    store.journal.open_group();
    for (db, key) in touched {
        if seen.contains(&(*db, key)) {
            continue;
        }
        seen.push((*db, key));
        match store.entry_of(*db, key) {
            Some(entry) => {
                let blob = ember_proto::snapshot::encode_entry_blob(&entry)
                    .expect("a value the keyspace holds fits the snapshot limits");
                store
                    .journal
                    .append(*db, &[Bytes::from_static(super::AOF_PUT), blob]);
            }
            None => store
                .journal
                .append(*db, &[Bytes::from_static(b"DEL"), key.clone()]),
        }
    }
    store.journal.close_group();
}
