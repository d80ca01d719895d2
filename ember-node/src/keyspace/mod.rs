//! The keyspace of one shard: its sixteen databases, lazy and active expiry, SCAN and random
//! sampling. Synchronous and sans-IO: every call that can observe time is given `now_ms`
//! (unix milliseconds from `Env`), so the same code runs under the simulator's clock.
//!
//! Each database is one `KeyTable` of `Entry` allocations (key, small value inline, TTL only
//! when present, a 24-bit LRU/LFU field); the table also indexes the entries that have a
//! TTL, so the active expiry cycle samples only keys that can expire and costs nothing for
//! keys without one. Memory is accounted from allocation sizes, and `evict` keeps a shard
//! under its share of maxmemory.

pub mod blocking;
pub mod cut;
pub mod entry;
pub mod evict;
pub mod hash;
pub mod journal;
pub mod keytable;
pub mod list;
pub mod set;
pub mod table;
pub mod value;
pub mod watch;
pub mod zset;

use std::borrow::Cow;

use ahash::RandomState;
use bytes::Bytes;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::limits::{DATABASES_MAX, EXPIRE_ROUNDS_MAX, EXPIRE_SAMPLE_KEYS};
pub use entry::Stored;
use entry::{Contents, Entry};
pub use keytable::KeyTable;
pub use table::Table;
pub use value::Value;

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
    pub evicted_keys: u64,
}

pub struct Db {
    keys: KeyTable,
}

pub struct Store {
    pub id: usize,
    dbs: Vec<Db>,
    hasher: RandomState,
    watchers: watch::Watchers,
    blocked: blocking::Blocked,
    rng: ChaCha8Rng,
    /// Bytes of entries and their values, as allocated.
    used_bytes: usize,
    pub stats: StoreStats,
    /// What the running command wrote, and records for the AOF.
    pub journal: journal::Journal,
    /// A snapshot in progress.
    cut: Option<Box<cut::Cut>>,
    /// The eviction policy and this shard's share of maxmemory.
    eviction: evict::Settings,
    pool: evict::Pool,
    /// Where big values go to be freed off the hot path (a background thread in
    /// production); dropped in place when unset.
    dropper: Option<Dropper>,
}

/// Takes values whose drop would stall the shard.
pub type Dropper = Box<dyn Fn(Vec<Box<Value>>) + Send>;

/// What one run of the active expiry cycle did.
#[derive(Default, Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpireCycle {
    pub sampled: usize,
    pub expired: usize,
}

/// The two steps of `Store::prefetch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prefetch {
    Bucket,
    Entry,
}

/// A write was refused: memory is over maxmemory and nothing can be evicted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutOfMemory;

impl Store {
    /// `hasher` seeds every table (so iteration replays from a seed); `rng` drives sampling.
    pub fn new(id: usize, hasher: RandomState, rng: ChaCha8Rng) -> Store {
        let dbs = (0..DATABASES_MAX)
            .map(|_| Db {
                keys: KeyTable::new(hasher.clone()),
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
            eviction: evict::Settings::default(),
            pool: evict::Pool::default(),
            dropper: None,
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

    pub fn set_dropper(&mut self, dropper: Dropper) {
        self.dropper = Some(dropper);
    }

    fn db(&mut self, db: usize) -> &mut Db {
        assert!(db < DATABASES_MAX, "db index checked by SELECT");
        &mut self.dbs[db]
    }

    /// Deletes the key if its TTL has passed; true when it did. Redis counts a key as expired
    /// only once `now` is strictly past its expiry time.
    pub fn expire_if_due(&mut self, db: usize, key: &[u8], now_ms: u64) -> bool {
        let table = &self.db(db).keys;
        let due = match table.get(key) {
            Some(entry) => table.expire_at(entry).is_some_and(|at| now_ms > at),
            None => false,
        };
        if due {
            self.delete_expired(db, key);
            self.stats.expired_keys += 1;
        }
        due
    }

    /// Warms the cache for a lookup of `key` soon: `Bucket` loads its bucket's slot, then
    /// (some commands later, once that has arrived) `Entry` loads the entry it points to.
    pub fn prefetch(&self, db: usize, key: &[u8], stage: Prefetch) {
        let table = &self.dbs[db].keys;
        match stage {
            Prefetch::Bucket => table.prefetch_bucket(key),
            Prefetch::Entry => table.prefetch_entry(key),
        }
    }

    /// The live entry for `key`, after lazy expiry.
    fn live(&mut self, db: usize, key: &[u8], now_ms: u64) -> Option<Entry> {
        let table = &self.db(db).keys;
        let entry = table.get(key)?;
        if table.expire_at(entry).is_some_and(|at| now_ms > at) {
            self.delete_expired(db, key);
            self.stats.expired_keys += 1;
            return None;
        }
        Some(entry)
    }

    /// Records an access for LRU/LFU.
    fn touch(&mut self, entry: Entry, now_ms: u64) {
        let access = evict::touched(entry.access(), &self.eviction, now_ms, &mut self.rng);
        entry.set_access(access);
    }

    /// A read lookup: lazy expiry, LRU/LFU, and a hit or a miss counted as Redis's INFO
    /// does. An inline string is copied out.
    pub fn get(&mut self, db: usize, key: &[u8], now_ms: u64) -> Option<Stored<'_>> {
        match self.live(db, key, now_ms) {
            Some(entry) => {
                self.stats.keyspace_hits += 1;
                self.touch(entry, now_ms);
                Some(entry.stored())
            }
            None => {
                self.stats.keyspace_misses += 1;
                None
            }
        }
    }

    /// The string value of `key`, copied: `Err` when it holds another type.
    pub fn get_string(
        &mut self,
        db: usize,
        key: &[u8],
        now_ms: u64,
    ) -> Result<Option<Bytes>, WrongType> {
        match self.get(db, key, now_ms) {
            None => Ok(None),
            Some(Stored::Boxed(Value::Str(bytes) | Value::Text(bytes, _))) => {
                Ok(Some(bytes.clone()))
            }
            Some(stored) => match stored.as_bytes() {
                Some(bytes) => Ok(Some(Bytes::copy_from_slice(bytes))),
                None => Err(WrongType),
            },
        }
    }

    /// The entry for writing: a boxed value (an inline string is boxed first), lazy expiry.
    fn entry_for_write(&mut self, db: usize, key: &[u8], now_ms: u64) -> Option<Entry> {
        let entry = self.live(db, key, now_ms)?;
        if entry.boxed_mut().is_some() {
            return Some(entry);
        }
        let rebuilt = Entry::new_boxed(Contents {
            key,
            value: entry.stored().to_value(),
            ttl: entry.has_ttl(),
            access: entry.access(),
        });
        let at = self.dbs[db].keys.expire_at(entry);
        self.swap_entry(db, entry, rebuilt, at);
        Some(rebuilt)
    }

    /// Puts `new` in `old`'s place with expiry `at` and frees `old`, keeping the accounting.
    fn swap_entry(&mut self, db: usize, old: Entry, new: Entry, at: Option<u64>) {
        self.used_bytes += entry_cost(new);
        self.used_bytes -= entry_cost(old);
        self.dbs[db].keys.replace(old, new, at);
        self.free_entry(old);
    }

    fn free_entry(&mut self, entry: Entry) {
        let Some(value) = entry.free() else {
            return;
        };
        match &self.dropper {
            Some(dropper) if table_is_big(&value) => dropper(vec![value]),
            _ => drop(value),
        }
    }

    /// A lookup for writing: lazy expiry, no hit/miss accounting. Taking a value for writing
    /// counts as modifying it for WATCH.
    pub fn get_mut(&mut self, db: usize, key: &[u8], now_ms: u64) -> Option<&mut Value> {
        let entry = self.entry_for_write(db, key, now_ms)?;
        // Only a key that exists can be modified through here; a lookup of a missing key is
        // not a write for WATCH or for blocked clients.
        self.written_key(db, key);
        self.blocked.written(db, key);
        self.touch(entry, now_ms);
        entry.boxed_mut()
    }

    /// A lookup that neither counts a hit or miss nor signals watchers nor counts as an
    /// access (TYPE, OBJECT).
    pub fn peek(&mut self, db: usize, key: &[u8], now_ms: u64) -> Option<Stored<'_>> {
        Some(self.live(db, key, now_ms)?.stored())
    }

    /// The name TYPE reports for a live key, without copying its value.
    pub fn type_name(&mut self, db: usize, key: &[u8], now_ms: u64) -> Option<&'static str> {
        Some(self.live(db, key, now_ms)?.stored().type_name())
    }

    /// The raw access field of a live key (OBJECT IDLETIME and FREQ), not counted as an access.
    pub fn access_of(&mut self, db: usize, key: &[u8], now_ms: u64) -> Option<u32> {
        Some(self.live(db, key, now_ms)?.access())
    }

    /// Sets the raw access field of a key (RESTORE's IDLETIME and FREQ), not counted as an
    /// access or a write; false when the key is missing.
    pub fn set_access(&mut self, db: usize, key: &[u8], access: u32) -> bool {
        let Some(entry) = self.db(db).keys.get(key) else {
            return false;
        };
        entry.set_access(access);
        true
    }

    pub fn eviction(&self) -> &evict::Settings {
        &self.eviction
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
        let entry = self.entry_for_write(db, key, now_ms)?;
        self.written_key(db, key);
        self.blocked.written(db, key);
        self.touch(entry, now_ms);
        Some((entry.boxed_mut()?, &mut self.rng))
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
        if self.type_name(db, key, now_ms)? != type_name {
            let entry = self.entry_for_write(db, key, now_ms)?;
            return Some((entry.boxed_mut()?, &mut self.rng));
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
    ) -> Option<(Stored<'_>, &mut ChaCha8Rng)> {
        let entry = self.live(db, key, now_ms)?;
        Some((entry.stored(), &mut self.rng))
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
        if self.type_name(db, key, now_ms)? != type_name {
            return self.entry_for_write(db, key, now_ms)?.boxed_mut();
        }
        self.get_mut(db, key, now_ms)
    }

    pub fn exists(&mut self, db: usize, key: &[u8], now_ms: u64) -> bool {
        self.live(db, key, now_ms).is_some()
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
        let access = evict::initial_access(self.eviction.policy, now_ms);
        let Some(old) = self.db(db).keys.get(key) else {
            let expire_at = match ttl {
                Ttl::At(at) => Some(at),
                Ttl::Keep | Ttl::Clear => None,
            };
            let entry = Entry::new(Contents {
                key,
                value,
                ttl: expire_at.is_some(),
                access,
            });
            self.used_bytes += entry_cost(entry);
            self.db(db).keys.insert_new(entry, expire_at);
            return;
        };
        let expire_at = match ttl {
            Ttl::Keep => self.dbs[db].keys.expire_at(old),
            Ttl::Clear => None,
            Ttl::At(at) => Some(at),
        };
        if old.fits(&value) && old.has_ttl() == expire_at.is_some() {
            let before = entry_cost(old);
            let previous = old.replace_value(value);
            if let Some(at) = expire_at {
                self.dbs[db].keys.set_expire_at(old, at);
            }
            old.set_access(access);
            self.used_bytes = self.used_bytes + entry_cost(old) - before;
            self.drop_value(previous);
            return;
        }
        let entry = Entry::new(Contents {
            key,
            value,
            ttl: expire_at.is_some(),
            access,
        });
        self.swap_entry(db, old, entry, expire_at);
    }

    fn drop_value(&mut self, value: Value) {
        match &self.dropper {
            Some(dropper) if table_is_big(&value) => dropper(vec![Box::new(value)]),
            _ => drop(value),
        }
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

    /// Removes a live key and frees its value (off the hot path when it is big); whether
    /// it existed. DEL and UNLINK.
    pub fn discard(&mut self, db: usize, key: &[u8], now_ms: u64) -> bool {
        if self.expire_if_due(db, key, now_ms) || self.dbs[db].keys.get(key).is_none() {
            return false;
        }
        self.written_key(db, key);
        let entry = self.unlink(db, key).expect("present");
        self.free_entry(entry);
        true
    }

    fn delete(&mut self, db: usize, key: &[u8]) -> Option<(Bytes, Value)> {
        self.dbs[db].keys.get(key)?;
        self.written_key(db, key);
        let entry = self.unlink(db, key)?;
        Some(take_entry(entry))
    }

    /// Deletes a key whose time has passed. The AOF gets a DEL of its own (replay runs with
    /// expiry off), and the command that happened to find it dead does not count as a write.
    fn delete_expired(&mut self, db: usize, key: &[u8]) -> bool {
        if self.dbs[db].keys.get(key).is_none() {
            return false;
        }
        self.save_before_write(db, key);
        self.watchers.signal(db, key);
        self.journal.append(db, &[b"DEL", key]);
        let entry = self.unlink(db, key).expect("present");
        self.free_entry(entry);
        true
    }

    fn unlink(&mut self, db: usize, key: &[u8]) -> Option<Entry> {
        let entry = self.db(db).keys.remove(key)?;
        let cost = entry_cost(entry);
        assert!(self.used_bytes >= cost);
        self.used_bytes -= cost;
        Some(entry)
    }

    /// Whether `key` is in `db`, dead or alive (no expiry check).
    pub fn contains_key(&self, db: usize, key: &[u8]) -> bool {
        self.dbs[db].keys.get(key).is_some()
    }

    /// The key's expiry time, for a key the caller knows is live.
    pub fn expire_at(&self, db: usize, key: &[u8]) -> Option<u64> {
        let table = &self.dbs[db].keys;
        table.expire_at(table.get(key)?)
    }

    /// Sets or clears the TTL of an existing key; false when the key does not exist.
    pub fn set_expire_at(&mut self, db: usize, key: &[u8], at: Option<u64>) -> bool {
        let Some(entry) = self.db(db).keys.get(key) else {
            return false;
        };
        self.written_key(db, key);
        match (entry.has_ttl(), at) {
            (true, Some(at)) => self.dbs[db].keys.set_expire_at(entry, at),
            (false, None) => {}
            (_, at) => {
                let rebuilt = entry.with_ttl(at.is_some());
                self.swap_entry_keeping_value(db, entry, rebuilt, at);
            }
        }
        true
    }

    /// Like `swap_entry`, for a rebuilt entry that took over the old one's boxed value.
    fn swap_entry_keeping_value(&mut self, db: usize, old: Entry, new: Entry, at: Option<u64>) {
        self.used_bytes += entry_cost(new);
        self.used_bytes -= entry_cost(old);
        self.dbs[db].keys.replace(old, new, at);
        old.free_shell();
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
                if self.contains_key(db, &key) || self.contains_key(other, &key) {
                    self.watchers.signal(db, &key);
                }
            }
        }
        self.dbs.swap(first, second);
        for db in [first, second] {
            for key in self.blocked.keys(db) {
                if self.contains_key(db, &key) {
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
        self.dbs[db].keys.ttl_len()
    }

    /// Up to `limit` keys of `db` in hash slot `slot` (CLUSTER GETKEYSINSLOT and
    /// COUNTKEYSINSLOT): a walk over the whole table.
    pub fn keys_in_slot(&self, db: usize, slot: u16, limit: usize) -> Vec<Bytes> {
        self.dbs[db]
            .keys
            .iter()
            .filter(|entry| crate::slot::key_slot(entry.key()) == slot)
            .take(limit)
            .map(|entry| Bytes::copy_from_slice(entry.key()))
            .collect()
    }

    /// What the key's entry and value cost, dead or alive.
    pub fn cost_of(&self, db: usize, key: &[u8]) -> Option<usize> {
        self.dbs[db].keys.get(key).map(entry_cost)
    }

    /// Bytes held by keys and values.
    pub fn used_bytes(&self) -> usize {
        self.used_bytes
    }

    /// Bytes held by keys, values and the tables over them: what eviction compares with
    /// this shard's share of maxmemory.
    pub fn memory_bytes(&self) -> usize {
        self.used_bytes
            + self
                .dbs
                .iter()
                .map(|db| db.keys.allocated_bytes())
                .sum::<usize>()
    }

    /// Empties one database; a big one is freed off the hot path.
    pub fn flush_db(&mut self, db: usize) {
        self.save_db_before_write(db);
        self.journal.touch_whole();
        let keys = &self.dbs[db].keys;
        self.watchers
            .signal_existing(db, |key| keys.get(key).is_some());
        let entries: Vec<Entry> = self
            .db(db)
            .keys
            .take_all()
            .into_iter()
            .map(|(e, _)| e)
            .collect();
        let freed: usize = entries.iter().map(|&e| entry_cost(e)).sum();
        assert!(self.used_bytes >= freed);
        self.used_bytes -= freed;
        self.pool.clear();
        match &self.dropper {
            Some(dropper) if entries.len() > crate::limits::LAZY_FREE_ELEMENTS_MIN => {
                let values = entries.into_iter().filter_map(Entry::free).collect();
                dropper(values);
            }
            _ => entries.into_iter().for_each(|entry| drop(entry.free())),
        }
    }

    /// One SCAN step over `db`: visits buckets until `count` keys were seen or the table ends.
    /// Expired keys are collected on the way and never returned.
    pub fn scan(
        &mut self,
        db: usize,
        cursor: u64,
        count: usize,
        now_ms: u64,
        mut keep: impl FnMut(&[u8], &str) -> bool,
    ) -> (u64, Vec<Bytes>) {
        assert!(count > 0);
        let mut found: Vec<(Bytes, bool)> = Vec::new();
        let mut cursor = cursor;
        // Each step visits one bucket; cap the steps so sparse tables cannot stall the shard.
        let steps_max = count.saturating_mul(10).max(100);
        let database = &self.dbs[db];
        for _ in 0..steps_max {
            cursor = database.keys.scan(cursor, |entry| {
                let key = entry.key();
                let wanted = keep(key, entry.stored().type_name());
                found.push((Bytes::copy_from_slice(key), wanted));
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
                let entry = self.dbs[db].keys.random(&mut self.rng)?;
                Bytes::copy_from_slice(entry.key())
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
                if self.dbs[db].keys.ttl_len() == 0 || over_budget() {
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
        let samples = EXPIRE_SAMPLE_KEYS.min(self.dbs[db].keys.ttl_len());
        let mut dead = Vec::new();
        for _ in 0..samples {
            if let Some((entry, at)) = self.dbs[db].keys.random_with_ttl(&mut self.rng) {
                if now_ms > at {
                    dead.push(Bytes::copy_from_slice(entry.key()));
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

/// Eviction.
impl Store {
    /// Takes the eviction settings in force (refreshed before each command).
    pub fn set_eviction(&mut self, settings: evict::Settings) {
        if settings.policy != self.eviction.policy {
            self.pool.clear();
        }
        self.eviction = settings;
    }

    /// Evicts keys while this shard is over its share of maxmemory. `Err` when it is still
    /// over and nothing more may be evicted (noeviction, or no key with a TTL for a volatile
    /// policy): a command that adds memory must then be refused.
    pub fn evict(&mut self, now_ms: u64) -> Result<(), OutOfMemory> {
        let budget = self.eviction.budget_bytes;
        if budget == 0 {
            return Ok(());
        }
        let overhead = self.eviction.overhead_bytes;
        while self.memory_bytes() + overhead > budget {
            if self.eviction.policy == evict::Policy::NoEviction || !self.evict_one(now_ms) {
                return Err(OutOfMemory);
            }
        }
        Ok(())
    }

    /// Evicts one key chosen by the policy; false when there is no candidate.
    fn evict_one(&mut self, now_ms: u64) -> bool {
        let settings = self.eviction;
        let volatile = settings.policy.volatile();
        let candidates = |db: &Db| {
            if volatile {
                db.keys.ttl_len()
            } else {
                db.keys.len()
            }
        };
        if settings.policy.random() {
            let dbs: Vec<usize> = (0..DATABASES_MAX)
                .filter(|&db| candidates(&self.dbs[db]) > 0)
                .collect();
            if dbs.is_empty() {
                return false;
            }
            let db = dbs[self.rng.gen_range(0..dbs.len())];
            let table = &self.dbs[db].keys;
            let entry = if volatile {
                table.random_with_ttl(&mut self.rng).map(|(entry, _)| entry)
            } else {
                table.random(&mut self.rng)
            };
            let key = Bytes::copy_from_slice(entry.expect("non-empty").key());
            self.evict_key(db, &key);
            return true;
        }
        for db in 0..DATABASES_MAX {
            if candidates(&self.dbs[db]) == 0 {
                continue;
            }
            let table = &self.dbs[db].keys;
            let (pool, rng) = (&mut self.pool, &mut self.rng);
            let mut offer = |entry: Entry| {
                let at = table.expire_at(entry);
                let score = evict::score(&settings, entry.access(), at, now_ms);
                pool.offer(score, db, entry.key());
            };
            if volatile {
                for _ in 0..settings.samples {
                    let Some((entry, _)) = table.random_with_ttl(rng) else {
                        break;
                    };
                    offer(entry);
                }
            } else {
                table.sample(rng, settings.samples, offer);
            }
        }
        while let Some((db, key)) = self.pool.take_best() {
            // A candidate may have gone (deleted, or lost its TTL under a volatile policy).
            match self.dbs[db].keys.get(&key) {
                Some(entry) if !volatile || entry.has_ttl() => {
                    self.evict_key(db, &key);
                    return true;
                }
                _ => continue,
            }
        }
        false
    }

    /// Deletes a key to make room: logged as a DEL of its own (not part of the command
    /// that made room), WATCH told, counted in evicted_keys.
    fn evict_key(&mut self, db: usize, key: &[u8]) {
        self.save_before_write(db, key);
        self.watchers.signal(db, key);
        self.journal.append(db, &[b"DEL", key]);
        let entry = self.unlink(db, key).expect("an eviction candidate exists");
        self.free_entry(entry);
        self.stats.evicted_keys += 1;
    }
}

/// A value as stored, borrowed when boxed and copied out when inline.
fn borrowed(stored: Stored<'_>) -> Cow<'_, Value> {
    match stored {
        Stored::Boxed(value) => Cow::Borrowed(value),
        inline => Cow::Owned(inline.to_value()),
    }
}

/// What an entry costs the shard: its allocation and its boxed value's payload.
fn entry_cost(entry: Entry) -> usize {
    entry.allocated_bytes() + entry.value_bytes()
}

/// An entry's key and value, freeing the entry.
fn take_entry(entry: Entry) -> (Bytes, Value) {
    let key = Bytes::copy_from_slice(entry.key());
    let value = match entry.stored() {
        Stored::Inline(..) => {
            let value = entry.stored().to_value();
            entry.free();
            value
        }
        Stored::Boxed(_) => *entry.free().expect("boxed"),
    };
    (key, value)
}

/// Whether dropping `value` is worth a trip off the hot path.
fn table_is_big(value: &Value) -> bool {
    value.element_count() > crate::limits::LAZY_FREE_ELEMENTS_MIN
}

/// The type of a value that was asked for as a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WrongType;

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
        if let Some(entry) = database.keys.get(key) {
            cut.write(
                db,
                Bytes::copy_from_slice(key),
                &borrowed(entry.stored()),
                database.keys.expire_at(entry),
            );
        }
    }

    /// Saves every key of `db` a snapshot still has to write (before FLUSHDB or SWAPDB).
    fn save_db_before_write(&mut self, db: usize) {
        if self.cut.is_none() {
            return;
        }
        let keys: Vec<Bytes> = self.dbs[db]
            .keys
            .iter()
            .map(|entry| Bytes::copy_from_slice(entry.key()))
            .collect();
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
            cut.cursor = database.keys.scan(cut.cursor, |entry| {
                if !cut.settled[db].contains(entry.key()) {
                    found.push(entry);
                }
            });
            visited += found.len() + 1;
            for entry in found {
                let key = Bytes::copy_from_slice(entry.key());
                let at = database.keys.expire_at(entry);
                cut.write(db, key, &borrowed(entry.stored()), at);
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
        let entry = self.dbs[db].keys.get(key)?;
        Some(ember_proto::snapshot::SnapshotEntry {
            db: db as u8,
            key: Bytes::copy_from_slice(key),
            expire_at_ms: self.dbs[db].keys.expire_at(entry),
            value: cut::to_snapshot(&borrowed(entry.stored())),
        })
    }

    /// Deletes every key whose time has passed, logging each delete; the count.
    pub fn sweep_expired(&mut self, now_ms: u64) -> usize {
        let mut swept = 0;
        for db in 0..DATABASES_MAX {
            let dead: Vec<Bytes> = self.dbs[db]
                .keys
                .iter_with_ttl()
                .filter(|&(_, at)| now_ms > at)
                .map(|(entry, _)| Bytes::copy_from_slice(entry.key()))
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
            self.save_db_before_write(db);
            self.journal.touch_whole();
            for (entry, at) in self.db(db).keys.take_all() {
                self.used_bytes -= entry_cost(entry);
                let (key, value) = take_entry(entry);
                entries.push((db, key, value, at));
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
        // One entry: a 14-byte header, key and value in one 16-byte allocation.
        assert_eq!(store.used_bytes(), 16);
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
