//! A point-in-time snapshot of a live store, written a few keys at a time while the shard
//! keeps serving.
//!
//! The snapshot walks each database's table with the SCAN cursor (which never misses an
//! entry, and with shrinking held off never visits one twice). A write to a key the walk
//! has not reached yet first writes the key's value as it was (`Store::save_before_write`)
//! and remembers the key in `settled`, so the walk skips it; a key created after the cut
//! goes into `settled` too. So every key present at the cut is written once, with its
//! value at the cut, and nothing else; the extra memory is one handle per key written to
//! during the snapshot, and the cut itself costs nothing.

use ahash::RandomState;
use bytes::Bytes;
use ember_proto::snapshot::{SnapshotEntry, SnapshotValue, SnapshotWriter};

use super::hash::{Conversion, Hash};
use super::list::{End, List};
use super::set::{Set, SetRules};
use super::zset::{ZSet, ZSetConfig};
use super::{EncodingLimits, KeyTable, Table, Value};

pub struct Cut {
    writer: Option<SnapshotWriter>,
    /// The database the walk is in, and its SCAN cursor there (0: not started, or done
    /// once `db` is past the last database).
    pub db: usize,
    pub cursor: u64,
    /// Per database, keys the walk must skip: written early, or created after the cut.
    pub settled: Vec<Table<()>>,
    /// Finished bytes not yet taken by the saver.
    chunks: Vec<Bytes>,
    /// The first entry the format refused (a value over its limits): the snapshot fails.
    pub error: Option<String>,
}

impl Cut {
    pub fn new(writer: SnapshotWriter, settled: Vec<Table<()>>) -> Cut {
        Cut {
            writer: Some(writer),
            db: 0,
            cursor: 0,
            settled,
            chunks: Vec::new(),
            error: None,
        }
    }

    /// Whether the walk has already visited (or will never visit) `key` of `db`, whose
    /// table is `table`.
    pub fn passed(&self, db: usize, key: &[u8], table: &KeyTable) -> bool {
        db < self.db || (db == self.db && self.cursor != 0 && table.is_scanned(key, self.cursor))
    }

    pub fn write(&mut self, db: usize, key: Bytes, value: &Value, expire_at_ms: Option<u64>) {
        let entry = SnapshotEntry {
            db: db as u8,
            key,
            expire_at_ms,
            value: to_snapshot(value),
        };
        let writer = self.writer.as_mut().expect("open until finished");
        match writer.push(&entry) {
            Ok(Some(chunk)) => self.chunks.push(chunk),
            Ok(None) => {}
            Err(error) => {
                let key = String::from_utf8_lossy(&entry.key).into_owned();
                self.error.get_or_insert(format!("key '{key}': {error}"));
            }
        }
    }

    pub fn take_chunks(&mut self) -> Vec<Bytes> {
        std::mem::take(&mut self.chunks)
    }

    /// The last bytes of the file: the open block and the footer.
    pub fn finish(&mut self) -> Bytes {
        self.writer.take().expect("finished once").finish()
    }
}

/// A value as the snapshot format holds it, whatever its encoding here.
pub fn to_snapshot(value: &Value) -> SnapshotValue {
    match value {
        Value::Str(bytes) | Value::Text(bytes, _) => SnapshotValue::Str(bytes.clone()),
        Value::List(list) => SnapshotValue::List(list.iter().collect()),
        Value::Hash(hash) => SnapshotValue::Hash(
            hash.iter()
                .map(|(f, v)| (Bytes::copy_from_slice(f), Bytes::copy_from_slice(v)))
                .collect(),
        ),
        Value::Set(set) => SnapshotValue::Set(set.members()),
        Value::ZSet(zset) => SnapshotValue::ZSet(zset.all()),
    }
}

/// Builds a value from its snapshot form, choosing encodings by today's thresholds, as a
/// value built by commands would have. Duplicate members collapse; an empty collection
/// gives `None`.
pub fn from_snapshot(
    value: SnapshotValue,
    limits: &EncodingLimits,
    hasher: &RandomState,
) -> Option<Value> {
    let value = match value {
        SnapshotValue::Str(bytes) => Value::Str(bytes),
        SnapshotValue::List(items) => {
            let mut list = List::new();
            list.push(End::Right, &items, limits.list_listpack_size);
            Value::List(list)
        }
        SnapshotValue::Hash(pairs) => {
            let conversion = Conversion::new(limits, hasher.clone());
            let mut hash = Hash::new();
            hash.prepare(
                pairs.len(),
                pairs.iter().map(|(f, v)| f.len().max(v.len())),
                &conversion,
            );
            for (field, value) in &pairs {
                hash.insert(field, value, &conversion);
            }
            Value::Hash(hash)
        }
        SnapshotValue::Set(members) => {
            let rules = SetRules::new(limits, hasher);
            let first = members.first()?;
            let mut set = Set::for_members(first, members.len(), &rules);
            for member in &members {
                set.add(member, &rules);
            }
            Value::Set(set)
        }
        SnapshotValue::ZSet(pairs) => {
            let config = ZSetConfig::new(limits, hasher);
            let member_len_max = pairs.iter().map(|(m, _)| m.len()).max().unwrap_or(0);
            let mut zset = ZSet::new(&config, pairs.len(), member_len_max);
            for (member, score) in &pairs {
                zset.insert(member, *score, &config);
            }
            Value::ZSet(zset)
        }
    };
    let empty = match &value {
        Value::Str(_) | Value::Text(..) => false,
        Value::List(list) => list.is_empty(),
        Value::Hash(hash) => hash.is_empty(),
        Value::Set(set) => set.is_empty(),
        Value::ZSet(zset) => zset.is_empty(),
    };
    (!empty).then_some(value)
}
