//! The keyspace of one shard: its sixteen databases, lazy and active expiry, SCAN and random
//! sampling. Synchronous and sans-IO: every call that can observe time is given `now_ms`
//! (unix milliseconds from `Env`), so the same code runs under the simulator's clock.
//!
//! Layout follows Redis's two-dictionary design: `keys` maps a key to its value, `expires`
//! holds only keys that have a TTL (sharing the key's allocation), so the active expiry
//! cycle samples only keys that can expire and costs nothing for keys without one.

pub mod blocking;
pub mod cut;
pub mod hash;
pub mod journal;
pub mod list;
pub mod set;
pub mod table;
pub mod value;
pub mod watch;
pub mod zset;

use ahash::RandomState;
use bytes::Bytes;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::limits::{DATABASES_MAX, EXPIRE_ROUNDS_MAX, EXPIRE_SAMPLE_KEYS};
pub use table::Table;
pub use value::Value;

/// Bytes accounted per entry beyond its key and value: the table slot, the value header and
/// the allocator's share. A model, not a measurement; issue 4 replaces it with real sizes.
const ENTRY_OVERHEAD_BYTES: usize = 64;

/// When the compact encodings of collections convert to their full structures, from the
/// `*-max-listpack-*` and `set-max-intset-entries` settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncodingLimits {
    pub hash_listpack_entries: usize,
    pub hash_listpack_value_bytes: usize,
    pub set_intset_entries: usize,
    pub set_listpack_entries: usize,
    pub set_listpack_value_bytes: usize,
    pub zset_listpack_entries: usize,
    pub zset_listpack_value_bytes: usize,
    /// Redis's list-max-listpack-size: positive is entries per node, -1..-5 is 4..64 KiB per node.
    pub list_listpack_size: i64,
}

impl Default for EncodingLimits {
    fn default() -> EncodingLimits {
        EncodingLimits {
            hash_listpack_entries: 128,
            hash_listpack_value_bytes: 64,
            set_intset_entries: 512,
            set_listpack_entries: 128,
            set_listpack_value_bytes: 64,
            zset_listpack_entries: 128,
            zset_listpack_value_bytes: 64,
            list_listpack_size: -2,
        }
    }
}

/// What a write does to the key's TTL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ttl {
    /// Drop any TTL (plain SET).
    Clear,
    /// Leave the TTL as it is (KEEPTTL, APPEND, SETRANGE, INCR).
    Keep,
    /// Expire at this unix time in ms.
    At(u64),
}

#[derive(Default, Clone, Copy, Debug)]
pub struct StoreStats {
    pub keyspace_hits: u64,
    pub keyspace_misses: u64,
    pub expired_keys: u64,
}

pub struct Db {
    keys: Table<Value>,
    expires: Table<u64>,
}

pub struct Store {
    pub id: usize,
    dbs: Vec<Db>,
    hasher: RandomState,
    watchers: watch::Watchers,
    blocked: blocking::Blocked,
    rng: ChaCha8Rng,
    used_bytes: usize,
    pub stats: StoreStats,
    /// What the running command wrote, and records for the AOF.
    pub journal: journal::Journal,
    /// A snapshot in progress.
    cut: Option<Box<cut::Cut>>,
}

/// What one run of the active expiry cycle did.
#[derive(Default, Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpireCycle {
    pub sampled: usize,
    pub expired: usize,
}

impl Store {
    /// `hasher` seeds every table (so iteration replays from a seed); `rng` drives sampling.
    pub fn new(id: usize, hasher: RandomState, rng: ChaCha8Rng) -> Store {
        let dbs = (0..DATABASES_MAX)
            .map(|_| Db {
                keys: Table::new(hasher.clone()),
                expires: Table::new(hasher.clone()),
            })
            .collect();
        Store {
            id,
            dbs,
            hasher,
            watchers: watch::Watchers::new(),
            blocked: blocking::Blocked::new(),
            rng,
            used_bytes: 0,
            stats: StoreStats::default(),
            journal: journal::Journal::default(),
            cut: None,
        }
    }

    /// A store with fixed seeds, for tests.
    pub fn for_tests() -> Store {
        Store::new(
            0,
            RandomState::with_seeds(1, 2, 3, 4),
            ChaCha8Rng::seed_from_u64(7),
        )
    }

    /// The seeded hasher new collections (hash and set tables) are built with.
    pub fn hasher(&self) -> &RandomState {
        &self.hasher
    }

    fn db(&mut self, db: usize) -> &mut Db {
        assert!(db < DATABASES_MAX, "db index checked by SELECT");
        &mut self.dbs[db]
    }

    /// Deletes the key if its TTL has passed; true when it did. Redis counts a key as expired
    /// only once `now` is strictly past its expiry time.
    pub fn expire_if_due(&mut self, db: usize, key: &[u8], now_ms: u64) -> bool {
        let due = match self.db(db).expires.get(key) {
            Some(&at) => now_ms > at,
            None => false,
        };
        if due {
            self.delete_expired(db, key);
            self.stats.expired_keys += 1;
        }
        due
    }

    /// A read lookup: lazy expiry, and counts a hit or a miss as Redis's INFO does.
    pub fn get(&mut self, db: usize, key: &[u8], now_ms: u64) -> Option<&Value> {
        self.expire_if_due(db, key, now_ms);
        let found = self.dbs[db].keys.contains(key);
        if found {
            self.stats.keyspace_hits += 1;
        } else {
            self.stats.keyspace_misses += 1;
        }
        self.dbs[db].keys.get(key)
    }

    /// A lookup for writing: lazy expiry, no hit/miss accounting. Taking a value for writing
    /// counts as modifying it for WATCH.
    pub fn get_mut(&mut self, db: usize, key: &[u8], now_ms: u64) -> Option<&mut Value> {
        self.expire_if_due(db, key, now_ms);
        // Only a key that exists can be modified through here; a lookup of a missing key is
        // not a write for WATCH or for blocked clients.
        if self.dbs[db].keys.contains(key) {
            self.written_key(db, key);
            self.blocked.written(db, key);
        }
        self.db(db).keys.get_mut(key)
    }

    /// A lookup that neither counts a hit or miss nor signals watchers (TYPE, OBJECT).
    pub fn peek(&mut self, db: usize, key: &[u8], now_ms: u64) -> Option<&Value> {
        self.expire_if_due(db, key, now_ms);
        self.dbs[db].keys.get(key)
    }

    /// Registers a WATCH on `key` for the connection owning `flag`.
    pub fn watch(
        &mut self,
        db: usize,
        key: &[u8],
        now_ms: u64,
        flag: &std::sync::Arc<std::sync::atomic::AtomicBool>,
    ) {
        // Expire first: a key that was already dead when watched does not abort EXEC.
        self.expire_if_due(db, key, now_ms);
        self.watchers.watch(db, key, flag);
    }

    /// Drops WATCH registrations of connections that ended their transactions, and blocked
    /// clients that are gone.
    pub fn prune_watchers(&mut self) {
        self.watchers.prune();
        self.blocked.prune();
    }

    /// Queues a blocked client on `key` (FIFO per key).
    pub fn block(&mut self, db: usize, key: &[u8], waiter: &std::sync::Arc<blocking::Waiter>) {
        self.blocked.block(db, key, waiter);
    }

    /// Clients currently queued on keys of this shard (a client blocked on keys of several
    /// shards counts once per shard).
    pub fn blocked_count(&self) -> usize {
        self.blocked.count()
    }

    /// A value for writing together with the store's seeded generator (SPOP).
    pub fn value_and_rng(
        &mut self,
        db: usize,
        key: &[u8],
        now_ms: u64,
    ) -> Option<(&mut Value, &mut ChaCha8Rng)> {
        self.expire_if_due(db, key, now_ms);
        if !self.dbs[db].keys.contains(key) {
            return None;
        }
        self.written_key(db, key);
        self.blocked.written(db, key);
        let value = self.dbs[db].keys.get_mut(key)?;
        Some((value, &mut self.rng))
    }

    /// Like `value_and_rng`, but only a value of type `type_name` counts as written: a command
    /// that fails with WRONGTYPE must not abort a WATCH.
    pub fn value_and_rng_as(
        &mut self,
        db: usize,
        key: &[u8],
        now_ms: u64,
        type_name: &str,
    ) -> Option<(&mut Value, &mut ChaCha8Rng)> {
        if self.peek(db, key, now_ms)?.type_name() != type_name {
            let value = self.dbs[db].keys.get_mut(key)?;
            return Some((value, &mut self.rng));
        }
        self.value_and_rng(db, key, now_ms)
    }

    /// A value for reading together with the store's seeded generator (SRANDMEMBER,
    /// HRANDFIELD, ZRANDMEMBER): no hit or miss is counted and nothing is signalled.
    pub fn read_with_rng(
        &mut self,
        db: usize,
        key: &[u8],
        now_ms: u64,
    ) -> Option<(&Value, &mut ChaCha8Rng)> {
        self.expire_if_due(db, key, now_ms);
        let value = self.dbs[db].keys.get(key)?;
        Some((value, &mut self.rng))
    }

    /// Like `get_mut`, but only a value of type `type_name` counts as written: a command that
    /// fails with WRONGTYPE must not abort a WATCH or wake a blocked client.
    pub fn get_mut_as(
        &mut self,
        db: usize,
        key: &[u8],
        now_ms: u64,
        type_name: &str,
    ) -> Option<&mut Value> {
        if self.peek(db, key, now_ms)?.type_name() != type_name {
            return self.dbs[db].keys.get_mut(key);
        }
        self.get_mut(db, key, now_ms)
    }

    pub fn exists(&mut self, db: usize, key: &[u8], now_ms: u64) -> bool {
        self.expire_if_due(db, key, now_ms);
        self.db(db).keys.contains(key)
    }

    /// Stores `value` under `key`, replacing any value of any type. An expiry time already in
    /// the past deletes the key instead, as Redis does for SET with a past EXAT.
    pub fn insert(&mut self, db: usize, key: &[u8], value: Value, ttl: Ttl, now_ms: u64) {
        if let Ttl::At(at) = ttl {
            if now_ms > at {
                self.delete(db, key);
                return;
            }
        }
        self.written_key(db, key);
        self.blocked.written(db, key);
        let added = key.len() + value.size_bytes() + ENTRY_OVERHEAD_BYTES;
        let database = self.db(db);
        let previous = database.keys.insert(key, value);
        let removed = previous.map_or(0, |v| key.len() + v.size_bytes() + ENTRY_OVERHEAD_BYTES);
        match ttl {
            Ttl::Keep => {}
            Ttl::Clear => {
                database.expires.remove(key);
            }
            Ttl::At(at) => {
                let (stored, _) = database.keys.get_key_value(key).expect("inserted above");
                let stored = stored.clone();
                database.expires.insert_shared(stored, at);
            }
        }
        self.used_bytes = self.used_bytes + added - removed;
    }

    /// Called after a value was changed in place through `get_mut`, with its size before.
    pub fn resized(&mut self, size_before: usize, size_after: usize) {
        self.used_bytes = self.used_bytes + size_after - size_before;
    }

    /// Removes a live key; `None` when it was missing or had expired.
    pub fn remove(&mut self, db: usize, key: &[u8], now_ms: u64) -> Option<(Bytes, Value)> {
        if self.expire_if_due(db, key, now_ms) {
            return None;
        }
        self.delete(db, key)
    }

    fn delete(&mut self, db: usize, key: &[u8]) -> Option<(Bytes, Value)> {
        if !self.dbs[db].keys.contains(key) {
            return None;
        }
        self.written_key(db, key);
        self.unlink(db, key)
    }

    /// Deletes a key whose time has passed. The AOF gets a DEL of its own (replay runs with
    /// expiry off), and the command that happened to find it dead does not count as a write.
    fn delete_expired(&mut self, db: usize, key: &[u8]) -> bool {
        if !self.dbs[db].keys.contains(key) {
            return false;
        }
        self.save_before_write(db, key);
        self.watchers.signal(db, key);
        self.journal.append(db, &[b"DEL", key]);
        self.unlink(db, key).is_some()
    }

    fn unlink(&mut self, db: usize, key: &[u8]) -> Option<(Bytes, Value)> {
        let database = self.db(db);
        let (stored, value) = database.keys.remove(key)?;
        database.expires.remove(key);
        let size = stored.len() + value.size_bytes() + ENTRY_OVERHEAD_BYTES;
        assert!(self.used_bytes >= size);
        self.used_bytes -= size;
        Some((stored, value))
    }

    /// Whether `key` is in `db`, dead or alive (no expiry check).
    pub fn contains_key(&self, db: usize, key: &[u8]) -> bool {
        self.dbs[db].keys.contains(key)
    }

    /// The key's expiry time, for a key the caller knows is live.
    pub fn expire_at(&self, db: usize, key: &[u8]) -> Option<u64> {
        self.dbs[db].expires.get(key).copied()
    }

    /// Sets or clears the TTL of an existing key; false when the key does not exist.
    pub fn set_expire_at(&mut self, db: usize, key: &[u8], at: Option<u64>) -> bool {
        let database = self.db(db);
        let Some((stored, _)) = database.keys.get_key_value(key) else {
            return false;
        };
        let stored = stored.clone();
        self.written_key(db, key);
        let database = self.db(db);
        match at {
            Some(at) => {
                database.expires.insert_shared(stored, at);
            }
            None => {
                database.expires.remove(key);
            }
        }
        true
    }

    /// SWAPDB: exchanges two databases' contents. Watched keys that exist in either database
    /// are touched, and clients blocked on keys that now hold values are woken, as in Redis.
    pub fn swap_db(&mut self, first: usize, second: usize) {
        assert!(first < DATABASES_MAX && second < DATABASES_MAX);
        self.save_db_before_write(first);
        self.save_db_before_write(second);
        self.journal.touch_whole();
        for (db, other) in [(first, second), (second, first)] {
            for key in self.watchers.keys(db) {
                if self.dbs[db].keys.contains(&key) || self.dbs[other].keys.contains(&key) {
                    self.watchers.signal(db, &key);
                }
            }
        }
        self.dbs.swap(first, second);
        for db in [first, second] {
            for key in self.blocked.keys(db) {
                if self.dbs[db].keys.contains(&key) {
                    self.blocked.written(db, &key);
                }
            }
        }
    }

    /// Keys in `db`, counting keys that expired but were not yet collected (as DBSIZE does).
    pub fn len(&self, db: usize) -> usize {
        self.dbs[db].keys.len()
    }

    /// Keys in every database.
    pub fn total_keys(&self) -> usize {
        self.dbs.iter().map(|db| db.keys.len()).sum()
    }

    pub fn expires_len(&self, db: usize) -> usize {
        self.dbs[db].expires.len()
    }

    pub fn used_bytes(&self) -> usize {
        self.used_bytes
    }

    /// Empties one database and returns its tables so the caller may free them off the hot path.
    pub fn flush_db(&mut self, db: usize) -> Vec<Vec<(Bytes, Value)>> {
        self.save_db_before_write(db);
        self.journal.touch_whole();
        let keys = &self.dbs[db].keys;
        self.watchers.signal_existing(db, |key| keys.contains(key));
        let database = self.db(db);
        let freed: usize = database
            .keys
            .iter()
            .map(|(k, v)| k.len() + v.size_bytes() + ENTRY_OVERHEAD_BYTES)
            .sum();
        database.expires.clear();
        let taken = database.keys.take_all();
        assert!(self.used_bytes >= freed);
        self.used_bytes -= freed;
        taken
    }

    /// One SCAN step over `db`: visits buckets until `count` keys were seen or the table ends.
    /// Expired keys are collected on the way and never returned.
    pub fn scan(
        &mut self,
        db: usize,
        cursor: u64,
        count: usize,
        now_ms: u64,
        mut keep: impl FnMut(&Bytes, &Value) -> bool,
    ) -> (u64, Vec<Bytes>) {
        assert!(count > 0);
        let mut found: Vec<(Bytes, bool)> = Vec::new();
        let mut cursor = cursor;
        // Each step visits one bucket; cap the steps so sparse tables cannot stall the shard.
        let steps_max = count.saturating_mul(10).max(100);
        let database = &self.dbs[db];
        for _ in 0..steps_max {
            cursor = database.keys.scan(cursor, |key, value| {
                found.push((key.clone(), keep(key, value)));
            });
            if cursor == 0 || found.len() >= count {
                break;
            }
        }
        let mut keys = Vec::with_capacity(found.len());
        for (key, wanted) in found {
            if !self.expire_if_due(db, &key, now_ms) && wanted {
                keys.push(key);
            }
        }
        (cursor, keys)
    }

    /// A random live key of `db`, expiring the dead ones it meets on the way.
    pub fn random_key(&mut self, db: usize, now_ms: u64) -> Option<Bytes> {
        // Bounded: if every sampled key was expired, report what we have rather than spin.
        for _ in 0..100 {
            let key = {
                let database = &self.dbs[db];
                let (key, _) = database.keys.random(&mut self.rng)?;
                key.clone()
            };
            if !self.expire_if_due(db, &key, now_ms) {
                return Some(key);
            }
        }
        None
    }

    /// Draws from the store's own seeded generator (used to pick among shards).
    pub fn random_below(&mut self, bound: usize) -> usize {
        assert!(bound > 0);
        self.rng.gen_range(0..bound)
    }

    /// One tick of active expiry: in every database, samples keys that have a TTL and deletes
    /// the dead ones, repeating while more than a quarter of a sample had expired, until
    /// `over_budget` says the tick's time is spent or `EXPIRE_ROUNDS_MAX` rounds ran.
    pub fn active_expire(
        &mut self,
        now_ms: u64,
        over_budget: &mut dyn FnMut() -> bool,
    ) -> ExpireCycle {
        let mut cycle = ExpireCycle::default();
        for db in 0..DATABASES_MAX {
            for _ in 0..EXPIRE_ROUNDS_MAX {
                if self.dbs[db].expires.is_empty() || over_budget() {
                    break;
                }
                let (sampled, expired) = self.expire_round(db, now_ms);
                cycle.sampled += sampled;
                cycle.expired += expired;
                if expired * 4 <= sampled {
                    break;
                }
            }
        }
        cycle
    }

    fn expire_round(&mut self, db: usize, now_ms: u64) -> (usize, usize) {
        let samples = EXPIRE_SAMPLE_KEYS.min(self.dbs[db].expires.len());
        let mut dead = Vec::new();
        for _ in 0..samples {
            if let Some((key, &at)) = self.dbs[db].expires.random(&mut self.rng) {
                if now_ms > at {
                    dead.push(key.clone());
                }
            }
        }
        let mut expired = 0;
        for key in dead {
            // A key can be sampled twice in one round; only the first delete counts.
            if self.delete_expired(db, &key) {
                self.stats.expired_keys += 1;
                expired += 1;
            }
        }
        (samples, expired)
    }
}

/// Persistence: the write hook, snapshots of a live store, loading and moving keys.
impl Store {
    /// Every write path calls this before it changes `key`: a snapshot in progress saves
    /// the old value first, WATCH is told, and the journal notes the key.
    fn written_key(&mut self, db: usize, key: &[u8]) {
        self.save_before_write(db, key);
        self.watchers.signal(db, key);
        self.journal.touch(db, key);
    }

    fn save_before_write(&mut self, db: usize, key: &[u8]) {
        let Some(cut) = self.cut.as_mut() else {
            return;
        };
        let database = &self.dbs[db];
        if cut.passed(db, key, &database.keys) || cut.settled[db].contains(key) {
            return;
        }
        // Written now (as it was at the cut) or created after it: the walk skips it.
        cut.settled[db].insert(key, ());
        if let Some((stored, value)) = database.keys.get_key_value(key) {
            let at = database.expires.get(key).copied();
            cut.write(db, stored.clone(), value, at);
        }
    }

    /// Saves every key of `db` a snapshot still has to write (before FLUSHDB or SWAPDB).
    fn save_db_before_write(&mut self, db: usize) {
        if self.cut.is_none() {
            return;
        }
        let keys: Vec<Bytes> = self.dbs[db].keys.iter().map(|(k, _)| k.clone()).collect();
        for key in keys {
            self.save_before_write(db, &key);
        }
    }

    /// Starts a snapshot of what the store holds now, written by `writer`. Costs nothing up
    /// front: the keys are written by `cut_step` and by writes that reach them first.
    pub fn begin_cut(&mut self, writer: ember_proto::snapshot::SnapshotWriter) {
        assert!(self.cut.is_none(), "one snapshot at a time");
        let settled = (0..DATABASES_MAX)
            .map(|_| Table::new(self.hasher.clone()))
            .collect();
        for database in &mut self.dbs {
            database.keys.hold_shrink(true);
        }
        self.cut = Some(Box::new(cut::Cut::new(writer, settled)));
    }

    /// Walks up to about `keys_max` more keys of the snapshot in progress (whole buckets)
    /// and returns the bytes finished so far, and whether the walk is done.
    pub fn cut_step(&mut self, keys_max: usize) -> (Vec<Bytes>, bool) {
        let cut = self.cut.as_mut().expect("a snapshot is in progress");
        let mut visited = 0;
        while cut.db < DATABASES_MAX && visited < keys_max {
            let database = &self.dbs[cut.db];
            if database.keys.is_empty() {
                cut.db += 1;
                cut.cursor = 0;
                continue;
            }
            let db = cut.db;
            let mut found = Vec::new();
            cut.cursor = database.keys.scan(cut.cursor, |key, _| {
                if !cut.settled[db].contains(key) {
                    found.push(key.clone());
                }
            });
            visited += found.len() + 1;
            for key in found {
                let value = database.keys.get(&key).expect("just visited");
                let at = database.expires.get(&key).copied();
                cut.write(db, key, value, at);
            }
            if cut.cursor == 0 {
                cut.db += 1;
            }
        }
        (cut.take_chunks(), cut.db >= DATABASES_MAX)
    }

    /// Ends the snapshot: its last bytes, or why it failed.
    pub fn finish_cut(&mut self) -> Result<Bytes, String> {
        let mut cut = self.cut.take().expect("a snapshot is in progress");
        self.release_tables();
        if let Some(error) = cut.error.take() {
            return Err(error);
        }
        let mut rest = bytes::BytesMut::new();
        for chunk in cut.take_chunks() {
            rest.extend_from_slice(&chunk);
        }
        rest.extend_from_slice(&cut.finish());
        Ok(rest.freeze())
    }

    /// Forgets what loading wrote: replayed writes are not logged or counted again.
    pub fn forget_writes(&mut self) {
        self.journal.take_touched();
        self.journal.take_changes();
    }

    pub fn abort_cut(&mut self) {
        self.cut = None;
        self.release_tables();
    }

    fn release_tables(&mut self) {
        for database in &mut self.dbs {
            database.keys.hold_shrink(false);
        }
    }

    /// Loads one snapshot entry as it was, dead or alive: recovery replays the AOF with
    /// expiry off, then sweeps (`sweep_expired`).
    pub fn load_entry(
        &mut self,
        entry: ember_proto::snapshot::SnapshotEntry,
        limits: &EncodingLimits,
    ) {
        let db = entry.db as usize;
        let Some(value) = cut::from_snapshot(entry.value, limits, &self.hasher) else {
            return;
        };
        let ttl = entry.expire_at_ms.map_or(Ttl::Clear, Ttl::At);
        self.insert(db, &entry.key, value, ttl, 0);
    }

    /// The key's value and expiry, as a snapshot entry (an AOF record of a key's contents).
    pub fn entry_of(&self, db: usize, key: &[u8]) -> Option<ember_proto::snapshot::SnapshotEntry> {
        let database = &self.dbs[db];
        let (stored, value) = database.keys.get_key_value(key)?;
        Some(ember_proto::snapshot::SnapshotEntry {
            db: db as u8,
            key: stored.clone(),
            expire_at_ms: database.expires.get(key).copied(),
            value: cut::to_snapshot(value),
        })
    }

    /// Deletes every key whose time has passed, logging each delete; the count.
    pub fn sweep_expired(&mut self, now_ms: u64) -> usize {
        let mut swept = 0;
        for db in 0..DATABASES_MAX {
            let dead: Vec<Bytes> = self.dbs[db]
                .expires
                .iter()
                .filter(|(_, &at)| now_ms > at)
                .map(|(key, _)| key.clone())
                .collect();
            for key in dead {
                if self.delete_expired(db, &key) {
                    swept += 1;
                }
            }
        }
        swept
    }

    /// Empties the store, handing out every key with its value and expiry.
    pub fn drain(&mut self) -> Vec<(usize, Bytes, Value, Option<u64>)> {
        let mut entries = Vec::new();
        for db in 0..DATABASES_MAX {
            let expires: Vec<(Bytes, u64)> = self.dbs[db]
                .expires
                .iter()
                .map(|(k, &at)| (k.clone(), at))
                .collect();
            let mut at_of = Table::new(self.hasher.clone());
            for (key, at) in expires {
                at_of.insert_shared(key, at);
            }
            for bucket in self.flush_db(db) {
                for (key, value) in bucket {
                    let at = at_of.get(&key).copied();
                    entries.push((db, key, value, at));
                }
            }
        }
        entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> Bytes {
        Bytes::copy_from_slice(text.as_bytes())
    }

    #[test]
    fn lazy_expiry_hides_and_removes_dead_keys() {
        let mut store = Store::for_tests();
        store.insert(0, s("k").as_ref(), Value::Str(s("v")), Ttl::At(1000), 0);
        assert!(
            store.get(0, b"k", 1000).is_some(),
            "alive at its expiry instant"
        );
        assert!(store.get(0, b"k", 1001).is_none());
        assert_eq!(store.len(0), 0);
        assert_eq!(store.stats.expired_keys, 1);
        assert_eq!(store.used_bytes(), 0);
    }

    #[test]
    fn set_clears_ttl_and_keepttl_keeps_it() {
        let mut store = Store::for_tests();
        store.insert(0, s("k").as_ref(), Value::Str(s("v")), Ttl::At(5000), 0);
        store.insert(0, s("k").as_ref(), Value::Str(s("w")), Ttl::Keep, 0);
        assert_eq!(store.expire_at(0, b"k"), Some(5000));
        store.insert(0, s("k").as_ref(), Value::Str(s("x")), Ttl::Clear, 0);
        assert_eq!(store.expire_at(0, b"k"), None);
        assert_eq!(store.expires_len(0), 0);
    }

    #[test]
    fn active_expiry_collects_dead_keys_without_touching_live_ones() {
        let mut store = Store::for_tests();
        for i in 0..1000 {
            store.insert(
                0,
                s(&format!("dead:{i}")).as_ref(),
                Value::Str(s("v")),
                Ttl::At(10),
                0,
            );
            store.insert(
                0,
                s(&format!("live:{i}")).as_ref(),
                Value::Str(s("v")),
                Ttl::Clear,
                0,
            );
        }
        let mut total = 0;
        for _ in 0..200 {
            total += store.active_expire(100, &mut || false).expired;
        }
        assert_eq!(total, 1000);
        assert_eq!(store.len(0), 1000);
        assert_eq!(store.expires_len(0), 0);
    }

    #[test]
    fn active_expiry_is_free_without_ttls() {
        let mut store = Store::for_tests();
        for i in 0..1000 {
            store.insert(
                0,
                s(&format!("k{i}")).as_ref(),
                Value::Str(s("v")),
                Ttl::Clear,
                0,
            );
        }
        assert_eq!(
            store.active_expire(100, &mut || false),
            ExpireCycle::default()
        );
    }

    #[test]
    fn databases_are_separate_and_flush_accounts_memory() {
        let mut store = Store::for_tests();
        store.insert(0, s("a").as_ref(), Value::Str(s("1")), Ttl::Clear, 0);
        store.insert(3, s("a").as_ref(), Value::Str(s("2")), Ttl::At(99), 0);
        assert_eq!(store.len(0), 1);
        assert_eq!(store.len(3), 1);
        store.flush_db(3);
        assert_eq!(store.len(3), 0);
        assert_eq!(store.expires_len(3), 0);
        assert_eq!(store.used_bytes(), 1 + 1 + ENTRY_OVERHEAD_BYTES);
    }

    #[test]
    fn scan_returns_each_live_key_once() {
        let mut store = Store::for_tests();
        for i in 0..300 {
            store.insert(
                0,
                s(&format!("k{i}")).as_ref(),
                Value::Str(s("v")),
                Ttl::Clear,
                0,
            );
        }
        let mut cursor = 0;
        let mut seen = Vec::new();
        loop {
            let (next, keys) = store.scan(0, cursor, 10, 0, |_, _| true);
            seen.extend(keys);
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 300);
    }

    #[test]
    fn a_snapshot_holds_the_keys_as_they_were_at_the_cut() {
        use ember_proto::snapshot::{SnapshotHeader, SnapshotReader, SnapshotValue};
        let mut store = Store::for_tests();
        for i in 0..2000 {
            let db = i % 3;
            store.insert(
                db,
                format!("k{i}").as_bytes(),
                Value::Str(s("old")),
                Ttl::Clear,
                0,
            );
        }
        let header = SnapshotHeader {
            shard: 0,
            created_unix_ms: 0,
            aof_epoch: 0,
        };
        store.begin_cut(ember_proto::snapshot::SnapshotWriter::new(header));
        let mut bytes = Vec::new();
        let mut step = 0;
        loop {
            let (chunks, done) = store.cut_step(25);
            chunks.iter().for_each(|c| bytes.extend_from_slice(c));
            // Writes during the walk: overwrite, delete, create (the table grows too).
            for j in 0..15 {
                let i = (step * 37 + j * 101) % 2000;
                let db = i % 3;
                match j % 3 {
                    0 => store.insert(
                        db,
                        format!("k{i}").as_bytes(),
                        Value::Str(s("new")),
                        Ttl::Clear,
                        0,
                    ),
                    1 => {
                        store.remove(db, format!("k{i}").as_bytes(), 0);
                    }
                    _ => store.insert(
                        db,
                        format!("new{step}-{j}").as_bytes(),
                        Value::Str(s("x")),
                        Ttl::Clear,
                        0,
                    ),
                }
            }
            step += 1;
            if done {
                break;
            }
        }
        bytes.extend_from_slice(&store.finish_cut().expect("no error"));
        let (_, mut reader) = SnapshotReader::new(Bytes::from(bytes)).expect("valid");
        let mut seen = std::collections::BTreeSet::new();
        while let Some(entry) = reader.next().expect("valid") {
            assert_eq!(entry.value, SnapshotValue::Str(s("old")), "{:?}", entry.key);
            assert!(
                seen.insert((entry.db, entry.key.clone())),
                "{:?} twice",
                entry.key
            );
        }
        assert_eq!(seen.len(), 2000, "every key of the cut, once");
        assert!(step > 10, "the walk took several steps ({step})");
    }
}
