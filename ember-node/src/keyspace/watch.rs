//! WATCH registrations of one shard: which connections watch which keys.
//!
//! A watching connection owns an `Arc<AtomicBool>` dirty flag and registers a `Weak` to it on
//! every key it watches. Any modification of a watched key (a write, a delete, an expiry, a
//! flush) sets the flags registered on it. Ending a transaction (EXEC, DISCARD, UNWATCH, a
//! closed connection) only drops the connection's `Arc`; dead registrations are pruned by the
//! shard's background tick, so unwatching needs no message to any shard.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};

use bytes::Bytes;

use crate::limits::DATABASES_MAX;

#[derive(Default)]
pub struct Watchers {
    per_db: Vec<BTreeMap<Bytes, Vec<Weak<AtomicBool>>>>,
    /// Registrations across all databases; zero makes `signal` a single branch.
    count: usize,
}

impl Watchers {
    pub fn new() -> Watchers {
        Watchers {
            per_db: (0..DATABASES_MAX).map(|_| BTreeMap::new()).collect(),
            count: 0,
        }
    }

    pub fn watch(&mut self, db: usize, key: &[u8], flag: &Arc<AtomicBool>) {
        let list = self.per_db[db]
            .entry(Bytes::copy_from_slice(key))
            .or_default();
        list.push(Arc::downgrade(flag));
        self.count += 1;
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Marks every connection watching `key` dirty. The registrations are dropped: a dirty
    /// flag stays dirty until its transaction ends.
    pub fn signal(&mut self, db: usize, key: &[u8]) {
        if self.count == 0 {
            return;
        }
        if let Some(list) = self.per_db[db].remove(key) {
            self.count -= list.len();
            for flag in list.iter().filter_map(Weak::upgrade) {
                flag.store(true, Ordering::Relaxed);
            }
        }
    }

    /// FLUSHDB and FLUSHALL: marks watchers of every key of `db` that exists.
    pub fn signal_existing(&mut self, db: usize, exists: impl Fn(&[u8]) -> bool) {
        if self.count == 0 {
            return;
        }
        let keys: Vec<Bytes> = self.per_db[db]
            .keys()
            .filter(|k| exists(k))
            .cloned()
            .collect();
        for key in keys {
            self.signal(db, &key);
        }
    }

    /// Keys of `db` that someone watches.
    pub fn keys(&self, db: usize) -> Vec<Bytes> {
        self.per_db[db].keys().cloned().collect()
    }

    /// Drops registrations whose connection has ended its transaction.
    pub fn prune(&mut self) {
        if self.count == 0 {
            return;
        }
        let mut count = 0;
        for db in &mut self.per_db {
            db.retain(|_, list| {
                list.retain(|weak| weak.strong_count() > 0);
                count += list.len();
                !list.is_empty()
            });
        }
        self.count = count;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_reach_live_watchers_once() {
        let mut watchers = Watchers::new();
        let flag = Arc::new(AtomicBool::new(false));
        watchers.watch(0, b"k", &flag);
        watchers.signal(1, b"k");
        assert!(
            !flag.load(Ordering::Relaxed),
            "other databases are separate"
        );
        watchers.signal(0, b"k");
        assert!(flag.load(Ordering::Relaxed));
        assert!(watchers.is_empty());
    }

    #[test]
    fn dropped_flags_are_pruned() {
        let mut watchers = Watchers::new();
        let flag = Arc::new(AtomicBool::new(false));
        watchers.watch(2, b"a", &flag);
        watchers.watch(2, b"b", &flag);
        let other = Arc::new(AtomicBool::new(false));
        watchers.watch(2, b"b", &other);
        drop(flag);
        watchers.prune();
        assert_eq!(watchers.count, 1);
        watchers.signal_existing(2, |k| k == b"b");
        assert!(other.load(Ordering::Relaxed));
    }
}
