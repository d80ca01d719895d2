//! `Table`: a chained hash table with power-of-two bucket counts, written here (rather than
//! taken from std) for two properties the keyspace needs:
//!
//! - SCAN walks buckets in reverse-binary order, so a cursor never misses an entry that was
//!   present for the whole scan even when the table grows or shrinks between calls;
//! - random sampling (RANDOMKEY, active expiry) picks a random bucket in O(1).
//!
//! The hasher is seeded from `Env`, so iteration order replays exactly in simulation.

use ahash::RandomState;
use bytes::Bytes;
use rand::Rng;

/// Fewest buckets a table keeps, so small tables never resize back and forth.
const BUCKETS_MIN: usize = 4;

#[derive(Clone)]
pub struct Table<V> {
    buckets: Vec<Vec<(Bytes, V)>>,
    len: usize,
    hasher: RandomState,
    /// Shrinking is held off while a snapshot scans the table: a shrink can make a scan
    /// visit an entry twice.
    shrink_held: bool,
}

impl<V> Table<V> {
    pub fn new(hasher: RandomState) -> Table<V> {
        let mut buckets = Vec::with_capacity(BUCKETS_MIN);
        buckets.resize_with(BUCKETS_MIN, Vec::new);
        Table {
            buckets,
            len: 0,
            hasher,
            shrink_held: false,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn bucket_count(&self) -> usize {
        self.buckets.len()
    }

    fn bucket_of(&self, key: &[u8]) -> usize {
        let mask = self.buckets.len() - 1;
        (self.hasher.hash_one(key) as usize) & mask
    }

    pub fn get(&self, key: &[u8]) -> Option<&V> {
        // An empty table (most expires tables) answers without hashing.
        if self.len == 0 {
            return None;
        }
        let bucket = &self.buckets[self.bucket_of(key)];
        bucket.iter().find(|(k, _)| k[..] == *key).map(|(_, v)| v)
    }

    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut V> {
        if self.len == 0 {
            return None;
        }
        let index = self.bucket_of(key);
        let bucket = &mut self.buckets[index];
        bucket
            .iter_mut()
            .find(|(k, _)| k[..] == *key)
            .map(|(_, v)| v)
    }

    /// The stored key equal to `key`, so callers can share its allocation.
    pub fn get_key_value(&self, key: &[u8]) -> Option<(&Bytes, &V)> {
        if self.len == 0 {
            return None;
        }
        let bucket = &self.buckets[self.bucket_of(key)];
        bucket
            .iter()
            .find(|(k, _)| k[..] == *key)
            .map(|(k, v)| (k, v))
    }

    pub fn contains(&self, key: &[u8]) -> bool {
        self.get(key).is_some()
    }

    /// Inserts or replaces; returns the previous value. A new key is copied into its own
    /// allocation, so a stored key never pins the (much larger) buffer it was parsed from.
    pub fn insert(&mut self, key: &[u8], value: V) -> Option<V> {
        let index = self.bucket_of(key);
        let bucket = &mut self.buckets[index];
        if let Some(slot) = bucket.iter_mut().find(|(k, _)| k[..] == *key) {
            return Some(std::mem::replace(&mut slot.1, value));
        }
        bucket.push((Bytes::copy_from_slice(key), value));
        self.len += 1;
        self.grow_if_needed();
        None
    }

    /// Like `insert`, but stores `key` as given: for a second table that shares the key
    /// allocation of the first (the expires table).
    pub fn insert_shared(&mut self, key: Bytes, value: V) -> Option<V> {
        let index = self.bucket_of(&key);
        let bucket = &mut self.buckets[index];
        if let Some(slot) = bucket.iter_mut().find(|(k, _)| *k == key) {
            return Some(std::mem::replace(&mut slot.1, value));
        }
        bucket.push((key, value));
        self.len += 1;
        self.grow_if_needed();
        None
    }

    pub fn remove(&mut self, key: &[u8]) -> Option<(Bytes, V)> {
        if self.len == 0 {
            return None;
        }
        let index = self.bucket_of(key);
        let bucket = &mut self.buckets[index];
        let position = bucket.iter().position(|(k, _)| k[..] == *key)?;
        let entry = bucket.swap_remove(position);
        if bucket.is_empty() {
            // Give the memory back: most buckets hold one entry.
            *bucket = Vec::new();
        }
        assert!(self.len > 0);
        self.len -= 1;
        self.shrink_if_needed();
        Some(entry)
    }

    pub fn clear(&mut self) {
        self.buckets.clear();
        self.buckets.resize_with(BUCKETS_MIN, Vec::new);
        self.len = 0;
    }

    /// Takes every entry out, leaving the table empty (used to free big tables off the hot path).
    pub fn take_all(&mut self) -> Vec<Vec<(Bytes, V)>> {
        let buckets = std::mem::take(&mut self.buckets);
        self.buckets.resize_with(BUCKETS_MIN, Vec::new);
        self.len = 0;
        buckets
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Bytes, &V)> {
        self.buckets
            .iter()
            .flat_map(|b| b.iter().map(|(k, v)| (k, v)))
    }

    fn grow_if_needed(&mut self) {
        if self.len > self.buckets.len() {
            self.resize(self.buckets.len() * 2);
        }
    }

    /// Holds off (or allows again) shrinking, so a scan visits each entry at most once.
    pub fn hold_shrink(&mut self, held: bool) {
        self.shrink_held = held;
        if !held {
            self.shrink_if_needed();
        }
    }

    /// Whether a scan that has reached `cursor` (not 0) has visited `key`'s bucket. Holds
    /// across growth: the buckets a cursor covered are those whose bit-reversed index is
    /// below the bit-reversed cursor, at any size.
    pub fn is_scanned(&self, key: &[u8], cursor: u64) -> bool {
        let mask = (self.buckets.len() - 1) as u64;
        let bucket = self.bucket_of(key) as u64;
        bucket.reverse_bits() < (cursor & mask).reverse_bits()
    }

    fn shrink_if_needed(&mut self) {
        let buckets = self.buckets.len();
        if !self.shrink_held && buckets > BUCKETS_MIN && self.len * 8 < buckets {
            self.resize((buckets / 2).max(BUCKETS_MIN));
        }
    }

    fn resize(&mut self, bucket_count: usize) {
        assert!(bucket_count.is_power_of_two());
        assert!(bucket_count >= BUCKETS_MIN);
        let old = std::mem::take(&mut self.buckets);
        self.buckets.resize_with(bucket_count, Vec::new);
        let mask = bucket_count - 1;
        for (key, value) in old.into_iter().flatten() {
            let index = (self.hasher.hash_one(&key[..]) as usize) & mask;
            self.buckets[index].push((key, value));
        }
        debug_assert_eq!(self.buckets.iter().map(Vec::len).sum::<usize>(), self.len);
    }

    /// Visits one bucket for `cursor` and returns the next cursor (0 when the scan is done).
    ///
    /// The cursor counts in reverse-binary order over the high bits, which is what lets a scan
    /// survive resizes: after the table doubles, the buckets a cursor has already covered are
    /// exactly the ones whose low bits were visited.
    pub fn scan(&self, cursor: u64, mut visit: impl FnMut(&Bytes, &V)) -> u64 {
        let mask = (self.buckets.len() - 1) as u64;
        let index = (cursor & mask) as usize;
        for (key, value) in &self.buckets[index] {
            visit(key, value);
        }
        // Increment the reversed cursor: set the bits above the mask, reverse, add one, reverse.
        let mut next = cursor | !mask;
        next = next.reverse_bits();
        next = next.wrapping_add(1);
        next.reverse_bits()
    }

    /// A uniformly chosen bucket's random entry; `None` only when the table is empty.
    ///
    /// Picking a non-empty bucket first biases towards entries in sparse buckets, exactly as
    /// Redis's dictGetRandomKey does; chains are short, so the bias is small.
    pub fn random(&self, rng: &mut impl Rng) -> Option<(&Bytes, &V)> {
        if self.len == 0 {
            return None;
        }
        // With load factor above 1/8 a hit comes quickly; bound the tries and fall back to a walk.
        for _ in 0..64 {
            let bucket = &self.buckets[rng.gen_range(0..self.buckets.len())];
            if !bucket.is_empty() {
                let (key, value) = &bucket[rng.gen_range(0..bucket.len())];
                return Some((key, value));
            }
        }
        let start = rng.gen_range(0..self.buckets.len());
        let count = self.buckets.len();
        (0..count)
            .map(|offset| &self.buckets[(start + offset) % count])
            .find(|bucket| !bucket.is_empty())
            .map(|bucket| (&bucket[0].0, &bucket[0].1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn table() -> Table<u32> {
        Table::new(RandomState::with_seeds(1, 2, 3, 4))
    }

    fn key(i: u32) -> Bytes {
        Bytes::from(format!("key:{i}"))
    }

    #[test]
    fn insert_get_remove() {
        let mut t = table();
        for i in 0..1000 {
            assert_eq!(t.insert(&key(i), i), None);
        }
        assert_eq!(t.len(), 1000);
        assert_eq!(t.insert(&key(7), 70), Some(7));
        assert_eq!(t.get(b"key:7"), Some(&70));
        for i in 0..1000 {
            assert!(t.remove(&key(i)).is_some());
        }
        assert!(t.is_empty());
        assert_eq!(t.bucket_count(), BUCKETS_MIN);
    }

    fn scan_all(t: &Table<u32>, between: &mut impl FnMut(&Table<u32>)) -> Vec<Bytes> {
        let mut seen = Vec::new();
        let mut cursor = 0;
        loop {
            cursor = t.scan(cursor, |k, _| seen.push(k.clone()));
            between(t);
            if cursor == 0 {
                return seen;
            }
        }
    }

    #[test]
    fn scan_visits_every_key_once_without_resizes() {
        let mut t = table();
        for i in 0..500 {
            t.insert(&key(i), i);
        }
        let mut seen = scan_all(&t, &mut |_| {});
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 500);
    }

    #[test]
    fn scan_never_misses_keys_present_throughout_while_the_table_grows_and_shrinks() {
        let mut t = table();
        for i in 0..64 {
            t.insert(&key(i), i);
        }
        let mut seen = std::collections::BTreeSet::new();
        let mut cursor = 0;
        let mut step = 0u32;
        loop {
            cursor = t.scan(cursor, |k, _| {
                seen.insert(k.clone());
            });
            // Grow hard, then shrink back: keys 0..64 stay present the whole time.
            if step < 10 {
                for i in 0..200 {
                    t.insert(&key(1000 + step * 200 + i), 0);
                }
            } else {
                for i in 1000..(1000 + 10 * 200) {
                    t.remove(&key(i));
                }
            }
            step += 1;
            if cursor == 0 {
                break;
            }
        }
        for i in 0..64 {
            assert!(seen.contains(&key(i)), "missed key {i}");
        }
    }

    #[test]
    fn random_returns_members_and_none_when_empty() {
        let mut t = table();
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        assert!(t.random(&mut rng).is_none());
        for i in 0..10 {
            t.insert(&key(i), i);
        }
        for _ in 0..100 {
            let (k, v) = t.random(&mut rng).expect("non-empty");
            assert_eq!(*k, key(*v));
        }
    }

    #[test]
    fn is_scanned_matches_the_buckets_a_scan_visited_across_growth() {
        let mut t = table();
        for i in 0..64 {
            t.insert(&key(i), i);
        }
        let mut cursor = 0;
        let mut visited = Vec::new();
        for step in 0..40 {
            cursor = t.scan(cursor, |k, _| visited.push(k.clone()));
            if step == 20 {
                for i in 64..400 {
                    t.insert(&key(i), i);
                }
            }
            if cursor == 0 {
                break;
            }
            for i in 0..400 {
                let k = key(i);
                if visited.contains(&k) {
                    assert!(t.is_scanned(&k, cursor), "{k:?} was visited");
                } else if i < 64 {
                    assert!(!t.is_scanned(&k, cursor), "{k:?} was not visited");
                }
            }
        }
    }
}
