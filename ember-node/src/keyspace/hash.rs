//! The hash type: a map from field to value with Redis's two encodings.
//!
//! - "listpack": while the hash is small, every pair lives in ONE buffer of length-prefixed
//!   entries (`varint field_len, field, varint value_len, value`), in insertion order. Lookups
//!   are linear, which beats hashing at these sizes and costs no allocation per pair.
//! - "hashtable": once the hash has more pairs than `hash-max-listpack-entries`, or any field
//!   or value is longer than `hash-max-listpack-value` bytes, the pairs move to a seeded
//!   `Table` keyed by field. Like Redis, a hash never converts back; only a new key starts
//!   compact again.
//!
//! Handlers see a typed API (get, insert, remove, iterate, sample, scan) and never the
//! encoding. Conversions need the store's seeded hasher and the current thresholds, which the
//! caller passes in as a `Conversion`.

use std::collections::BTreeSet;

use ahash::RandomState;
use bytes::Bytes;
use rand::Rng;

use super::{EncodingLimits, Table};

/// Bytes accounted per pair of the hashtable encoding beyond its field and value: the slot,
/// the two `Bytes` headers and the allocator's share. A model, as the keyspace's own is.
const FULL_ENTRY_OVERHEAD_BYTES: usize = 48;

/// Largest hashtable encoding that random sampling snapshots whole, so picks are exactly
/// uniform; bigger tables sample through `Table::random`, which is O(1) and nearly uniform.
const SAMPLE_SNAPSHOT_ENTRIES_MAX: usize = 1024;

/// Bound on the draws one distinct sample makes before it falls back to a shuffle.
const DISTINCT_DRAWS_PER_PICK_MAX: usize = 16;

/// A field and its value, owned, as replies carry them.
pub type Pair = (Bytes, Bytes);

/// When a compact hash converts, and the hasher its table is built with.
#[derive(Clone)]
pub struct Conversion {
    pub entries_max: usize,
    pub value_bytes_max: usize,
    pub hasher: RandomState,
}

impl Conversion {
    pub fn new(limits: &EncodingLimits, hasher: RandomState) -> Conversion {
        Conversion {
            entries_max: limits.hash_listpack_entries,
            value_bytes_max: limits.hash_listpack_value_bytes,
            hasher,
        }
    }

    fn fits(&self, len_bytes: usize) -> bool {
        len_bytes <= self.value_bytes_max
    }
}

#[derive(Clone)]
pub struct Hash {
    encoding: Encoding,
}

#[derive(Clone)]
enum Encoding {
    Compact(Compact),
    Full(Full),
}

/// The listpack-like encoding: one buffer and a count of its pairs.
#[derive(Clone)]
struct Compact {
    buffer: Vec<u8>,
    len: usize,
}

/// Where one pair sits in a compact buffer.
#[derive(Clone, Copy, Debug)]
struct Slot {
    start: usize,
    field: (usize, usize),
    value_prefix: usize,
    value: (usize, usize),
    end: usize,
}

#[derive(Clone)]
struct Full {
    table: Table<Bytes>,
    payload_bytes: usize,
}

impl std::fmt::Debug for Hash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hash")
            .field("encoding", &self.encoding())
            .field("len", &self.len())
            .finish()
    }
}

impl Default for Hash {
    fn default() -> Hash {
        Hash::new()
    }
}

impl Hash {
    /// An empty hash in the compact encoding, as every new key starts.
    pub fn new() -> Hash {
        Hash {
            encoding: Encoding::Compact(Compact {
                buffer: Vec::new(),
                len: 0,
            }),
        }
    }

    /// The name OBJECT ENCODING reports.
    pub fn encoding(&self) -> &'static str {
        match &self.encoding {
            Encoding::Compact(_) => "listpack",
            Encoding::Full(_) => "hashtable",
        }
    }

    /// Bytes of payload the hash holds, for memory accounting.
    pub fn size_bytes(&self) -> usize {
        match &self.encoding {
            Encoding::Compact(compact) => compact.buffer.len(),
            Encoding::Full(full) => {
                full.payload_bytes + full.table.len() * FULL_ENTRY_OVERHEAD_BYTES
            }
        }
    }

    pub fn len(&self) -> usize {
        match &self.encoding {
            Encoding::Compact(compact) => compact.len,
            Encoding::Full(full) => full.table.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match &self.encoding {
            Encoding::Compact(compact) => {
                let slot = compact.find(field)?;
                Some(&compact.buffer[slot.value.0..slot.value.1])
            }
            Encoding::Full(full) => full.table.get(field).map(|value| &value[..]),
        }
    }

    pub fn contains(&self, field: &[u8]) -> bool {
        self.get(field).is_some()
    }

    /// Redis's pre-write check: converts before a write that brings `pairs_new` pairs (more
    /// than the compact encoding may hold, duplicates or not) or any element of the given
    /// lengths that is too long for it. Inserting converts on its own as well; this only
    /// moves the conversion ahead, as Redis does for multi-pair HSET and for HINCRBYFLOAT's
    /// increment argument.
    pub fn prepare(
        &mut self,
        pairs_new: usize,
        lengths_bytes: impl IntoIterator<Item = usize>,
        conversion: &Conversion,
    ) {
        if !matches!(self.encoding, Encoding::Compact(_)) {
            return;
        }
        let too_many = pairs_new > conversion.entries_max;
        if too_many || lengths_bytes.into_iter().any(|len| !conversion.fits(len)) {
            self.convert(conversion);
        }
    }

    /// Sets `field` to `value`; true when the field is new. Converts to the hashtable
    /// encoding when the pair is too long for the compact one or the hash grows past it.
    pub fn insert(&mut self, field: &[u8], value: &[u8], conversion: &Conversion) -> bool {
        if !conversion.fits(field.len()) || !conversion.fits(value.len()) {
            self.convert(conversion);
        }
        let len_before = self.len();
        let added = match &mut self.encoding {
            Encoding::Compact(compact) => compact.insert(field, value),
            Encoding::Full(full) => full.insert(field, value),
        };
        assert_eq!(self.len(), len_before + usize::from(added));
        // Redis checks the count after every write, so a lowered limit applies on the next one.
        if self.len() > conversion.entries_max {
            self.convert(conversion);
        }
        added
    }

    /// Removes `field`; true when it was there.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        let len_before = self.len();
        let removed = match &mut self.encoding {
            Encoding::Compact(compact) => compact.remove(field),
            Encoding::Full(full) => full.remove(field),
        };
        assert_eq!(self.len() + usize::from(removed), len_before);
        removed
    }

    /// Every pair, in the encoding's order (insertion order while compact).
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        let (compact, full) = match &self.encoding {
            Encoding::Compact(compact) => (Some(compact.iter()), None),
            Encoding::Full(full) => (None, Some(full.iter())),
        };
        compact
            .into_iter()
            .flatten()
            .chain(full.into_iter().flatten())
    }

    /// One uniformly chosen pair; `None` only when the hash is empty.
    pub fn random_pair(&self, rng: &mut impl Rng) -> Option<Pair> {
        self.random_pairs(1, false, rng).pop()
    }

    /// `count` random pairs. `distinct` pairs never repeat, so at most `len` come back (the
    /// whole hash when `count` reaches its size); otherwise exactly `count` come back, each
    /// drawn independently.
    pub fn random_pairs(&self, count: usize, distinct: bool, rng: &mut impl Rng) -> Vec<Pair> {
        if self.is_empty() || count == 0 {
            return Vec::new();
        }
        if distinct && count >= self.len() {
            return self.iter().map(owned).collect();
        }
        let picks = match &self.encoding {
            Encoding::Full(full) if full.table.len() > SAMPLE_SNAPSHOT_ENTRIES_MAX => {
                full.sample(count, distinct, rng)
            }
            _ => sample_snapshot(self.iter().collect(), count, distinct, rng),
        };
        assert!(distinct || picks.len() == count);
        assert!(picks.len() <= count);
        picks
    }

    /// One step of HSCAN from `cursor`, visiting pairs until `count` were seen; returns the
    /// next cursor (0 when done). The compact encoding is visited whole in one call with
    /// cursor 0 whatever the cursor was, as Redis does for small encodings.
    pub fn scan(&self, cursor: u64, count: usize, mut visit: impl FnMut(&[u8], &[u8])) -> u64 {
        assert!(count > 0);
        let full = match &self.encoding {
            Encoding::Compact(compact) => {
                compact
                    .iter()
                    .for_each(|(field, value)| visit(field, value));
                return 0;
            }
            Encoding::Full(full) => full,
        };
        // Redis bounds the buckets one call walks at ten per requested element, so a sparse
        // table cannot stall the shard.
        let steps_max = count.saturating_mul(10);
        let mut seen = 0usize;
        let mut cursor = cursor;
        for _ in 0..steps_max {
            cursor = full.table.scan(cursor, |field, value| {
                seen += 1;
                visit(field, value);
            });
            if cursor == 0 || seen >= count {
                break;
            }
        }
        cursor
    }

    /// Moves every pair into a table (past the compact encoding's thresholds); a hash that is
    /// already a table stays as it is.
    fn convert(&mut self, conversion: &Conversion) {
        let Encoding::Compact(compact) = &self.encoding else {
            return;
        };
        let mut full = Full {
            table: Table::new(conversion.hasher.clone()),
            payload_bytes: 0,
        };
        for (field, value) in compact.iter() {
            let added = full.insert(field, value);
            assert!(added, "compact fields are unique");
        }
        assert_eq!(full.table.len(), compact.len);
        self.encoding = Encoding::Full(full);
    }
}

fn owned((field, value): (&[u8], &[u8])) -> Pair {
    (Bytes::copy_from_slice(field), Bytes::copy_from_slice(value))
}

/// Exactly uniform sampling over a snapshot of the pairs. Each picked pair is copied out once
/// and shared by its repeats, so a large negative count costs no allocation per repeat.
fn sample_snapshot(
    pairs: Vec<(&[u8], &[u8])>,
    count: usize,
    distinct: bool,
    rng: &mut impl Rng,
) -> Vec<Pair> {
    assert!(!pairs.is_empty());
    if distinct {
        assert!(count < pairs.len());
        let mut order: Vec<usize> = (0..pairs.len()).collect();
        // A partial Fisher-Yates shuffle: the first `count` places end up a uniform sample.
        for place in 0..count {
            let pick = rng.gen_range(place..order.len());
            order.swap(place, pick);
        }
        return order[..count].iter().map(|&i| owned(pairs[i])).collect();
    }
    let mut copies: Vec<Option<Pair>> = vec![None; pairs.len()];
    (0..count)
        .map(|_| {
            let index = rng.gen_range(0..pairs.len());
            copies[index]
                .get_or_insert_with(|| owned(pairs[index]))
                .clone()
        })
        .collect()
}

impl Compact {
    /// The pair whose entry starts at `start`.
    fn slot_at(&self, start: usize) -> Slot {
        let (field_len, field_start) = read_varint(&self.buffer, start);
        let field_end = field_start + field_len;
        let (value_len, value_start) = read_varint(&self.buffer, field_end);
        let value_end = value_start + value_len;
        assert!(value_end <= self.buffer.len());
        Slot {
            start,
            field: (field_start, field_end),
            value_prefix: field_end,
            value: (value_start, value_end),
            end: value_end,
        }
    }

    fn slots(&self) -> impl Iterator<Item = Slot> + '_ {
        let mut next = 0usize;
        std::iter::from_fn(move || {
            if next >= self.buffer.len() {
                return None;
            }
            let slot = self.slot_at(next);
            next = slot.end;
            Some(slot)
        })
    }

    fn find(&self, field: &[u8]) -> Option<Slot> {
        self.slots()
            .find(|slot| &self.buffer[slot.field.0..slot.field.1] == field)
    }

    fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.slots().map(|slot| {
            (
                &self.buffer[slot.field.0..slot.field.1],
                &self.buffer[slot.value.0..slot.value.1],
            )
        })
    }

    fn insert(&mut self, field: &[u8], value: &[u8]) -> bool {
        let mut encoded_value = Vec::with_capacity(value.len() + 10);
        write_varint(&mut encoded_value, value.len());
        encoded_value.extend_from_slice(value);
        if let Some(slot) = self.find(field) {
            // Same-length values overwrite in place; others shift the entries behind them.
            self.buffer
                .splice(slot.value_prefix..slot.end, encoded_value);
            debug_assert_eq!(self.slots().count(), self.len);
            return false;
        }
        write_varint(&mut self.buffer, field.len());
        self.buffer.extend_from_slice(field);
        self.buffer.extend_from_slice(&encoded_value);
        self.len += 1;
        debug_assert_eq!(self.slots().count(), self.len);
        true
    }

    fn remove(&mut self, field: &[u8]) -> bool {
        let Some(slot) = self.find(field) else {
            return false;
        };
        self.buffer.drain(slot.start..slot.end);
        assert!(self.len > 0);
        self.len -= 1;
        if self.len == 0 {
            assert!(self.buffer.is_empty());
            self.buffer = Vec::new();
        }
        true
    }
}

impl Full {
    fn insert(&mut self, field: &[u8], value: &[u8]) -> bool {
        let stored = Bytes::copy_from_slice(value);
        match self.table.insert(field, stored) {
            Some(previous) => {
                self.payload_bytes = self.payload_bytes - previous.len() + value.len();
                false
            }
            None => {
                self.payload_bytes += field.len() + value.len();
                true
            }
        }
    }

    fn remove(&mut self, field: &[u8]) -> bool {
        let Some((stored, value)) = self.table.remove(field) else {
            return false;
        };
        let size = stored.len() + value.len();
        assert!(self.payload_bytes >= size);
        self.payload_bytes -= size;
        true
    }

    fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.table
            .iter()
            .map(|(field, value)| (&field[..], &value[..]))
    }

    fn random(&self, rng: &mut impl Rng) -> Pair {
        let (field, value) = self
            .table
            .random(rng)
            .expect("sampled tables are not empty");
        (field.clone(), value.clone())
    }

    /// Sampling for big tables through `Table::random`: O(count), sharing the stored bytes.
    fn sample(&self, count: usize, distinct: bool, rng: &mut impl Rng) -> Vec<Pair> {
        if !distinct {
            return (0..count).map(|_| self.random(rng)).collect();
        }
        // Drawing with rejection is cheap while the sample is a small part of the table;
        // past a third, or when draws keep colliding, an exact shuffle is the better deal.
        if count.saturating_mul(3) <= self.table.len() {
            let mut picked: BTreeSet<Bytes> = BTreeSet::new();
            let mut pairs = Vec::with_capacity(count);
            let draws_max = count.saturating_mul(DISTINCT_DRAWS_PER_PICK_MAX);
            for _ in 0..draws_max {
                let pair = self.random(rng);
                if picked.insert(pair.0.clone()) {
                    pairs.push(pair);
                    if pairs.len() == count {
                        return pairs;
                    }
                }
            }
        }
        sample_snapshot(self.iter().collect(), count, true, rng)
    }
}

/// LEB128: seven bits per byte, low first, the high bit set on all but the last byte.
fn write_varint(out: &mut Vec<u8>, value: usize) {
    let mut rest = value;
    while rest >= 0x80 {
        out.push((rest as u8 & 0x7f) | 0x80);
        rest >>= 7;
    }
    out.push(rest as u8);
}

/// Reads a varint at `at`; returns it and the position after it.
fn read_varint(buffer: &[u8], at: usize) -> (usize, usize) {
    let mut value = 0usize;
    let mut shift = 0u32;
    let mut position = at;
    loop {
        let byte = buffer[position];
        position += 1;
        value |= usize::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return (value, position);
        }
        shift += 7;
        assert!(shift < usize::BITS, "a corrupt varint in a compact hash");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use std::collections::BTreeMap;

    fn conversion(entries_max: usize, value_bytes_max: usize) -> Conversion {
        Conversion {
            entries_max,
            value_bytes_max,
            hasher: RandomState::with_seeds(1, 2, 3, 4),
        }
    }

    #[test]
    fn varints_round_trip() {
        for value in [
            0usize,
            1,
            127,
            128,
            300,
            16_383,
            16_384,
            1 << 40,
            usize::MAX,
        ] {
            let mut buffer = Vec::new();
            write_varint(&mut buffer, value);
            assert_eq!(read_varint(&buffer, 0), (value, buffer.len()));
        }
    }

    #[test]
    fn compact_insert_update_remove() {
        let rules = conversion(128, 64);
        let mut hash = Hash::new();
        assert!(hash.insert(b"a", b"1", &rules));
        assert!(hash.insert(b"b", b"22", &rules));
        assert!(!hash.insert(b"a", b"longer value", &rules));
        assert_eq!(hash.get(b"a"), Some(&b"longer value"[..]));
        assert_eq!(hash.get(b"b"), Some(&b"22"[..]));
        assert!(!hash.insert(b"a", b"", &rules));
        assert_eq!(hash.get(b"a"), Some(&b""[..]));
        assert_eq!(hash.encoding(), "listpack");
        assert!(hash.remove(b"a"));
        assert!(!hash.remove(b"a"));
        assert!(hash.remove(b"b"));
        assert!(hash.is_empty());
        assert_eq!(hash.size_bytes(), 0);
    }

    #[test]
    fn converts_on_count_and_on_length_and_never_back() {
        let rules = conversion(3, 8);
        let mut hash = Hash::new();
        for field in [&b"a"[..], b"b", b"c"] {
            hash.insert(field, b"v", &rules);
        }
        assert_eq!(hash.encoding(), "listpack");
        hash.insert(b"d", b"v", &rules);
        assert_eq!(hash.encoding(), "hashtable");
        for field in [&b"a"[..], b"b", b"c"] {
            hash.remove(field);
        }
        assert_eq!(hash.encoding(), "hashtable");
        assert_eq!(hash.get(b"d"), Some(&b"v"[..]));

        let mut long = Hash::new();
        long.insert(b"f", b"12345678", &rules);
        assert_eq!(long.encoding(), "listpack");
        long.insert(b"f", b"123456789", &rules);
        assert_eq!(long.encoding(), "hashtable");

        let mut prepared = Hash::new();
        prepared.prepare(4, [1, 1], &rules);
        assert_eq!(prepared.encoding(), "hashtable");
    }

    #[test]
    fn scan_of_a_compact_hash_is_one_call() {
        let rules = conversion(128, 64);
        let mut hash = Hash::new();
        for i in 0..50 {
            hash.insert(format!("f{i}").as_bytes(), b"v", &rules);
        }
        let mut seen = 0;
        assert_eq!(hash.scan(12345, 1, |_, _| seen += 1), 0);
        assert_eq!(seen, 50);
    }

    #[test]
    fn scan_of_a_full_hash_visits_every_field() {
        let rules = conversion(4, 64);
        let mut hash = Hash::new();
        for i in 0..1000 {
            hash.insert(format!("f{i}").as_bytes(), b"v", &rules);
        }
        let mut seen = BTreeSet::new();
        let mut cursor = 0;
        loop {
            cursor = hash.scan(cursor, 10, |field, _| {
                seen.insert(field.to_vec());
            });
            if cursor == 0 {
                break;
            }
        }
        assert_eq!(seen.len(), 1000);
    }

    #[test]
    fn random_pairs_follow_count_rules_in_both_encodings() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for entries_max in [128, 4] {
            let rules = conversion(entries_max, 64);
            let mut hash = Hash::new();
            for i in 0..10 {
                hash.insert(
                    format!("f{i}").as_bytes(),
                    format!("v{i}").as_bytes(),
                    &rules,
                );
            }
            assert_eq!(hash.random_pairs(20, true, &mut rng).len(), 10);
            assert_eq!(hash.random_pairs(1001, false, &mut rng).len(), 1001);
            let some = hash.random_pairs(8, true, &mut rng);
            let fields: BTreeSet<_> = some.iter().map(|(f, _)| f.clone()).collect();
            assert_eq!(fields.len(), 8);
            for (field, value) in some {
                assert_eq!(hash.get(&field), Some(&value[..]));
            }
            assert!(hash.random_pair(&mut rng).is_some());
        }
        assert!(Hash::new().random_pair(&mut rng).is_none());
    }

    #[test]
    fn big_tables_sample_without_snapshots() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let rules = conversion(4, 64);
        let mut hash = Hash::new();
        for i in 0..(SAMPLE_SNAPSHOT_ENTRIES_MAX * 2) {
            hash.insert(format!("f{i}").as_bytes(), b"v", &rules);
        }
        let distinct = hash.random_pairs(100, true, &mut rng);
        let fields: BTreeSet<_> = distinct.iter().map(|(f, _)| f.clone()).collect();
        assert_eq!(fields.len(), 100);
        assert_eq!(hash.random_pairs(1500, true, &mut rng).len(), 1500);
        assert_eq!(hash.random_pairs(5000, false, &mut rng).len(), 5000);
    }

    #[test]
    fn uniform_enough_on_a_small_hashtable() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let rules = conversion(4, 64);
        let mut hash = Hash::new();
        for i in 0..10 {
            hash.insert(format!("f{i}").as_bytes(), b"v", &rules);
        }
        let mut counts: BTreeMap<Bytes, usize> = BTreeMap::new();
        for (field, _) in hash.random_pairs(10_000, false, &mut rng) {
            *counts.entry(field).or_default() += 1;
        }
        assert_eq!(counts.len(), 10);
        assert!(
            counts.values().all(|&c| (800..1200).contains(&c)),
            "{counts:?}"
        );
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u8, Vec<u8>),
        Remove(u8),
        Fresh,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0u8..12, prop::collection::vec(any::<u8>(), 0..12)).prop_map(|(f, v)| Op::Insert(f, v)),
            2 => (0u8..12).prop_map(Op::Remove),
            1 => Just(Op::Fresh),
        ]
    }

    fn field_name(id: u8) -> Vec<u8> {
        // Some field names are longer than the value limit below, to convert on length too.
        if id % 5 == 4 {
            vec![b'F'; 10 + usize::from(id)]
        } else {
            vec![b'f', id]
        }
    }

    proptest! {
        #[test]
        fn behaves_like_a_map(ops in prop::collection::vec(op(), 1..120)) {
            let rules = conversion(6, 9);
            let mut hash = Hash::new();
            let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
            let mut model_full = false;
            for op in ops {
                match op {
                    Op::Insert(id, value) => {
                        let field = field_name(id);
                        model_full |= field.len() > 9 || value.len() > 9;
                        let added = hash.insert(&field, &value, &rules);
                        prop_assert_eq!(added, model.insert(field, value).is_none());
                        model_full |= model.len() > 6;
                    }
                    Op::Remove(id) => {
                        let field = field_name(id);
                        prop_assert_eq!(hash.remove(&field), model.remove(&field).is_some());
                    }
                    Op::Fresh => {
                        hash = Hash::new();
                        model.clear();
                        model_full = false;
                        prop_assert_eq!(hash.encoding(), "listpack");
                    }
                }
                prop_assert_eq!(hash.len(), model.len());
                let mut pairs: Vec<(Vec<u8>, Vec<u8>)> =
                    hash.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect();
                pairs.sort();
                let expected: Vec<(Vec<u8>, Vec<u8>)> = model.clone().into_iter().collect();
                prop_assert_eq!(&pairs, &expected);
                for id in 0..12 {
                    let field = field_name(id);
                    prop_assert_eq!(hash.get(&field), model.get(&field).map(|v| &v[..]));
                }
                let expected_encoding = if model_full { "hashtable" } else { "listpack" };
                prop_assert_eq!(hash.encoding(), expected_encoding);
            }
        }
    }
}
