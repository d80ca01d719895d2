//! `KeyTable`: the keyspace's hash table of `Entry` allocations.
//!
//! - Linear hashing: the table grows (and shrinks) one bucket at a time, so there is no
//!   stop-the-world rehash and the load stays near one entry per bucket instead of swinging
//!   between full and half empty as a doubling table does. The bucket directory is a list of
//!   fixed-size segments, so growing never copies it.
//! - Chains are intrusive (each entry's `next` link), and every link carries 15 bits of the
//!   hash of the entry it points to and whether that entry has a successor: a lookup
//!   dereferences only entries whose tag matches or that it must pass, about one per hit
//!   and, at the table's load of about one entry per bucket, almost none per miss.
//! - SCAN walks a virtual table of 2^k buckets in reverse-binary cursor order (an unsplit
//!   bucket is visited once per virtual bucket it stands for, filtered by hash), so a cursor
//!   never misses an entry present for the whole scan while the table grows or shrinks.
//! - Entries with a TTL are also listed in a dense index, so expiry samples only those, in
//!   O(1) each.
//!
//! The hasher is seeded from `Env`, so iteration order replays exactly in simulation.

use ahash::RandomState;
use rand::Rng;

use super::entry::{allocation_class, Entry};

const SEGMENT_SLOTS: usize = 512;
/// The table never has fewer than 2^LEVEL_MIN buckets.
const LEVEL_MIN: u32 = 2;
/// Buckets merged per removal at most, so a mass delete shrinks the table in step.
const MERGES_PER_REMOVAL: usize = 4;
const TAG_SHIFT: u32 = 48;
const POINTER_MASK: u64 = (1 << TAG_SHIFT) - 1;
/// Set in a link when the entry it points to has a successor in the chain.
const MORE: u64 = 1 << 63;
const TAG_MASK: u64 = !POINTER_MASK & !MORE;

/// A link to `entry` (whose hash is `hash`), followed in its chain by `next` (a link or 0).
fn link_to(entry: Entry, hash: u64, next: u64) -> u64 {
    entry.set_next(next);
    let more = if next == 0 { 0 } else { MORE };
    tagged(entry, hash) | more
}

fn tagged(entry: Entry, hash: u64) -> u64 {
    let pointer = entry.as_ptr() as u64;
    assert_eq!(
        pointer >> TAG_SHIFT,
        0,
        "user-space pointers fit in 48 bits"
    );
    pointer | (hash & TAG_MASK)
}

fn untag(link: u64) -> Entry {
    // SAFETY: links are only ever made by `tagged` from live entries of this table.
    unsafe { Entry::from_ptr((link & POINTER_MASK) as *mut u8) }
}

fn tag_matches(link: u64, hash: u64) -> bool {
    link & TAG_MASK == hash & TAG_MASK
}

/// A hint to the CPU to load the cache line at `address`; never faults, whatever it is.
fn prefetch(address: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is only a hint; it does not dereference the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch(address as *const i8, std::arch::x86_64::_MM_HINT_T0)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = address;
}

/// A vector stored in fixed-size segments: growing never copies, and the spare room is at
/// most one segment.
struct Segments {
    segments: Vec<Box<[u64]>>,
}

impl Segments {
    fn get(&self, index: usize) -> u64 {
        self.segments
            .get(index / SEGMENT_SLOTS)
            .map_or(0, |segment| segment[index % SEGMENT_SLOTS])
    }

    fn get_mut(&mut self, index: usize) -> &mut u64 {
        while self.segments.len() <= index / SEGMENT_SLOTS {
            self.segments
                .push(vec![0u64; SEGMENT_SLOTS].into_boxed_slice());
        }
        &mut self.segments[index / SEGMENT_SLOTS][index % SEGMENT_SLOTS]
    }

    /// Frees segments past the first `used` slots.
    fn truncate(&mut self, used: usize) {
        let keep = used.div_ceil(SEGMENT_SLOTS).max(1);
        self.segments.truncate(keep);
    }

    fn allocated_bytes(&self) -> usize {
        self.segments.len() * allocation_class(SEGMENT_SLOTS * 8)
            + allocation_class(self.segments.capacity() * std::mem::size_of::<Box<[u64]>>())
    }
}

pub struct KeyTable {
    buckets: Segments,
    /// 2^level buckets, plus `split` of the next level's.
    level: u32,
    split: usize,
    len: usize,
    hasher: RandomState,
    /// Shrinking is held off while a snapshot scans the table: a shrink can make a scan
    /// visit an entry twice.
    shrink_held: bool,
    /// Entries with a TTL, densely; each entry knows its slot here.
    ttl: Segments,
    /// The expiry time (unix ms) of the entry at the same place in `ttl`.
    ttl_at: Segments,
    ttl_len: usize,
}

// SAFETY: the table owns its entries outright; it moves between threads only as a whole.
unsafe impl Send for KeyTable {}

impl Drop for KeyTable {
    fn drop(&mut self) {
        for (entry, _) in self.take_all() {
            entry.free();
        }
    }
}

impl KeyTable {
    pub fn new(hasher: RandomState) -> KeyTable {
        KeyTable {
            buckets: Segments {
                segments: Vec::new(),
            },
            level: LEVEL_MIN,
            split: 0,
            len: 0,
            hasher,
            shrink_held: false,
            ttl: Segments {
                segments: Vec::new(),
            },
            ttl_at: Segments {
                segments: Vec::new(),
            },
            ttl_len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn ttl_len(&self) -> usize {
        self.ttl_len
    }

    pub fn bucket_count(&self) -> usize {
        (1 << self.level) + self.split
    }

    /// Bytes of the table's own structures (directory and TTL index), entries excluded.
    pub fn allocated_bytes(&self) -> usize {
        self.buckets.allocated_bytes() + self.ttl.allocated_bytes() + self.ttl_at.allocated_bytes()
    }

    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    fn bucket_of(&self, hash: u64) -> usize {
        let low = hash as usize & ((1 << self.level) - 1);
        if low < self.split {
            hash as usize & ((1 << (self.level + 1)) - 1)
        } else {
            low
        }
    }

    /// Starts loading `key`'s bucket into the cache, for a lookup soon after (a pipeline's
    /// next commands): the lookup then finds it there instead of waiting on memory.
    pub fn prefetch_bucket(&self, key: &[u8]) {
        if self.len == 0 {
            return;
        }
        let index = self.bucket_of(self.hash(key));
        if let Some(segment) = self.buckets.segments.get(index / SEGMENT_SLOTS) {
            prefetch(&segment[index % SEGMENT_SLOTS] as *const u64 as *const u8);
        }
    }

    /// Starts loading the first entry of `key`'s bucket (whose slot `prefetch_bucket` asked
    /// for earlier) into the cache.
    pub fn prefetch_entry(&self, key: &[u8]) {
        if self.len == 0 {
            return;
        }
        let link = self.buckets.get(self.bucket_of(self.hash(key)));
        if link != 0 {
            prefetch((link & POINTER_MASK) as *const u8);
        }
    }

    pub fn get(&self, key: &[u8]) -> Option<Entry> {
        // An empty table (most databases) answers without hashing.
        if self.len == 0 {
            return None;
        }
        let hash = self.hash(key);
        let mut link = self.buckets.get(self.bucket_of(hash));
        while link != 0 {
            if tag_matches(link, hash) {
                let entry = untag(link);
                if entry.key() == key {
                    return Some(entry);
                }
            }
            if link & MORE == 0 {
                return None;
            }
            link = untag(link).next();
        }
        None
    }

    /// The expiry time of an entry of this table, if it has a TTL.
    pub fn expire_at(&self, entry: Entry) -> Option<u64> {
        entry.has_ttl().then(|| self.ttl_at.get(entry.ttl_slot()))
    }

    /// Changes the expiry time of an entry that has a TTL.
    pub fn set_expire_at(&mut self, entry: Entry, at: u64) {
        assert!(
            entry.has_ttl(),
            "an entry without a TTL has no place in the index"
        );
        *self.ttl_at.get_mut(entry.ttl_slot()) = at;
    }

    /// Adds an entry whose key is not in the table; `expire_at` is given exactly when the
    /// entry was built with a TTL.
    pub fn insert_new(&mut self, entry: Entry, expire_at: Option<u64>) {
        assert_eq!(entry.has_ttl(), expire_at.is_some());
        debug_assert!(self.get(entry.key()).is_none());
        let hash = self.hash(entry.key());
        let slot = self.buckets.get_mut(self.bucket_of(hash));
        *slot = link_to(entry, hash, *slot);
        self.len += 1;
        if let Some(at) = expire_at {
            self.ttl_push(entry, at);
        }
        if self.len > self.bucket_count() {
            self.split_one();
        }
    }

    /// The link that points at the entry for `key` (or at the end of its chain).
    fn link_of(&mut self, key: &[u8]) -> (*mut u64, u64) {
        let hash = self.hash(key);
        let mut link: *mut u64 = self.buckets.get_mut(self.bucket_of(hash));
        loop {
            // SAFETY: `link` is a directory slot or the `next` field of a live entry.
            let value = unsafe { *link };
            if value == 0 {
                return (link, hash);
            }
            let entry = untag(value);
            if tag_matches(value, hash) && entry.key() == key {
                return (link, hash);
            }
            link = entry.next_link();
        }
    }

    /// Takes the entry for `key` out of the table; the caller frees it.
    pub fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        if self.len == 0 {
            return None;
        }
        let (link, _) = self.link_of(key);
        // SAFETY: as in `link_of`.
        let value = unsafe { *link };
        if value == 0 {
            return None;
        }
        let entry = untag(value);
        // SAFETY: as in `link_of`.
        unsafe { *link = entry.next() };
        self.len -= 1;
        if entry.has_ttl() {
            self.ttl_remove(entry.ttl_slot());
        }
        for _ in 0..MERGES_PER_REMOVAL {
            if self.shrink_held
                || self.len * 4 >= self.bucket_count()
                || self.bucket_count() <= 1 << LEVEL_MIN
            {
                break;
            }
            self.merge_one();
        }
        Some(entry)
    }

    /// Puts `new` in the place of `old` (an entry of the same key, now rebuilt) with this
    /// expiry (given exactly when `new` has a TTL); the caller frees `old`.
    pub fn replace(&mut self, old: Entry, new: Entry, expire_at: Option<u64>) {
        assert_eq!(new.has_ttl(), expire_at.is_some());
        let (link, hash) = self.link_of(old.key());
        // SAFETY: as in `link_of`; the key is present, so the link points at `old`.
        let value = unsafe { *link };
        assert_eq!(untag(value), old, "replace finds the entry it replaces");
        // SAFETY: as above.
        unsafe { *link = link_to(new, hash, old.next()) };
        match (old.has_ttl(), expire_at) {
            (true, Some(at)) => {
                let slot = old.ttl_slot();
                *self.ttl.get_mut(slot) = new.as_ptr() as u64;
                *self.ttl_at.get_mut(slot) = at;
                new.set_ttl_slot(slot);
            }
            (true, None) => self.ttl_remove(old.ttl_slot()),
            (false, Some(at)) => self.ttl_push(new, at),
            (false, None) => {}
        }
    }

    fn ttl_push(&mut self, entry: Entry, at: u64) {
        *self.ttl.get_mut(self.ttl_len) = entry.as_ptr() as u64;
        *self.ttl_at.get_mut(self.ttl_len) = at;
        entry.set_ttl_slot(self.ttl_len);
        self.ttl_len += 1;
    }

    fn ttl_remove(&mut self, slot: usize) {
        assert!(slot < self.ttl_len);
        self.ttl_len -= 1;
        let last = self.ttl.get(self.ttl_len);
        let last_at = self.ttl_at.get(self.ttl_len);
        *self.ttl.get_mut(self.ttl_len) = 0;
        if slot != self.ttl_len {
            *self.ttl.get_mut(slot) = last;
            *self.ttl_at.get_mut(slot) = last_at;
            untag(last).set_ttl_slot(slot);
        }
        self.ttl.truncate(self.ttl_len);
        self.ttl_at.truncate(self.ttl_len);
    }

    fn ttl_entry(&self, slot: usize) -> Entry {
        untag(self.ttl.get(slot))
    }

    /// Splits the next bucket in line into itself and its image one level up.
    fn split_one(&mut self) {
        let half = 1usize << self.level;
        let source = self.split;
        let mut chain = std::mem::take(self.buckets.get_mut(source));
        let (mut stay, mut moved) = (0u64, 0u64);
        while chain != 0 {
            let entry = untag(chain);
            chain = entry.next();
            let hash = self.hash(entry.key());
            let target = if (hash >> self.level) & 1 == 1 {
                &mut moved
            } else {
                &mut stay
            };
            *target = link_to(entry, hash, *target);
        }
        *self.buckets.get_mut(source) = stay;
        *self.buckets.get_mut(source + half) = moved;
        self.split += 1;
        if self.split == half {
            self.level += 1;
            self.split = 0;
        }
    }

    /// Undoes the last split: the last bucket's chain joins its sibling.
    fn merge_one(&mut self) {
        if self.split == 0 {
            assert!(self.level > LEVEL_MIN);
            self.level -= 1;
            self.split = 1 << self.level;
        }
        self.split -= 1;
        let target = self.split;
        let last = target + (1 << self.level);
        let mut link = std::mem::take(self.buckets.get_mut(last));
        while link != 0 {
            let entry = untag(link);
            let next = entry.next();
            let slot = self.buckets.get_mut(target);
            // A link's tag is its entry's own, so the moved link keeps it.
            entry.set_next(*slot);
            let more = if *slot == 0 { 0 } else { MORE };
            *slot = (link & !MORE) | more;
            link = next;
        }
        self.buckets.truncate(self.bucket_count());
    }

    /// Holds off (or allows again) shrinking, so a scan visits each entry at most once.
    pub fn hold_shrink(&mut self, held: bool) {
        self.shrink_held = held;
    }

    /// The number of bits of the virtual table SCAN walks.
    fn scan_bits(&self) -> u32 {
        if self.split == 0 {
            self.level
        } else {
            self.level + 1
        }
    }

    /// Whether a scan that has reached `cursor` (not 0) has visited `key`. Holds across
    /// growth: the virtual buckets a cursor covered are those whose bit-reversed index is
    /// below the bit-reversed cursor, at any size.
    pub fn is_scanned(&self, key: &[u8], cursor: u64) -> bool {
        let mask = (1u64 << self.scan_bits()) - 1;
        let bucket = self.hash(key) & mask;
        bucket.reverse_bits() < (cursor & mask).reverse_bits()
    }

    /// Visits the entries of one virtual bucket for `cursor` and returns the next cursor
    /// (0 when the scan is done).
    pub fn scan(&self, cursor: u64, mut visit: impl FnMut(Entry)) -> u64 {
        let bits = self.scan_bits();
        let mask = (1u64 << bits) - 1;
        let virtual_bucket = (cursor & mask) as usize;
        let low = virtual_bucket & ((1 << self.level) - 1);
        let filter = self.split != 0 && low >= self.split;
        let mut link = self.buckets.get(if filter { low } else { virtual_bucket });
        while link != 0 {
            let entry = untag(link);
            link = entry.next();
            if !filter || (self.hash(entry.key()) & mask) as usize == virtual_bucket {
                visit(entry);
            }
        }
        // Increment the reversed cursor: set the bits above the mask, reverse, add one, reverse.
        let mut next = cursor | !mask;
        next = next.reverse_bits();
        next = next.wrapping_add(1);
        next.reverse_bits()
    }

    fn chain_len(&self, bucket: usize) -> usize {
        let mut link = self.buckets.get(bucket);
        let mut count = 0;
        while link != 0 {
            count += 1;
            link = untag(link).next();
        }
        count
    }

    fn chain_nth(&self, bucket: usize, n: usize) -> Entry {
        let mut link = self.buckets.get(bucket);
        for _ in 0..n {
            link = untag(link).next();
        }
        untag(link)
    }

    /// A random entry: a random non-empty bucket's random entry (slightly favouring entries
    /// in short chains, as Redis's dictGetRandomKey does); `None` only when empty.
    pub fn random(&self, rng: &mut impl Rng) -> Option<Entry> {
        if self.len == 0 {
            return None;
        }
        let count = self.bucket_count();
        // The load is near one, so a hit comes quickly; bound the tries and fall back to a walk.
        for _ in 0..64 {
            let bucket = rng.gen_range(0..count);
            let len = self.chain_len(bucket);
            if len > 0 {
                return Some(self.chain_nth(bucket, rng.gen_range(0..len)));
            }
        }
        let start = rng.gen_range(0..count);
        (0..count)
            .map(|offset| (start + offset) % count)
            .find(|&bucket| self.buckets.get(bucket) != 0)
            .map(|bucket| self.chain_nth(bucket, 0))
    }

    /// Calls `visit` with up to `count` entries taken from consecutive buckets, starting at
    /// a random one, as Redis's dictGetSomeKeys samples for eviction: neighbouring buckets
    /// share cache lines, so a sample costs a few cache misses rather than one or two per
    /// key. Looks at no more than `count * 10` buckets; an empty stretch falls back to
    /// `random`, so a table with entries always yields at least one. Returns how many.
    pub fn sample(&self, rng: &mut impl Rng, count: usize, mut visit: impl FnMut(Entry)) -> usize {
        if self.len == 0 || count == 0 {
            return 0;
        }
        let buckets = self.bucket_count();
        let mut bucket = rng.gen_range(0..buckets);
        let mut found = 0;
        for _ in 0..count.saturating_mul(10).min(buckets) {
            let mut link = self.buckets.get(bucket);
            while link != 0 && found < count {
                let entry = untag(link);
                visit(entry);
                found += 1;
                if link & MORE == 0 {
                    break;
                }
                link = entry.next();
            }
            if found == count {
                break;
            }
            bucket = (bucket + 1) % buckets;
        }
        if found == 0 {
            visit(self.random(rng).expect("a table with entries"));
            found = 1;
        }
        assert!(found <= count);
        found
    }

    /// A uniformly chosen entry among those with a TTL.
    pub fn random_with_ttl(&self, rng: &mut impl Rng) -> Option<(Entry, u64)> {
        if self.ttl_len == 0 {
            return None;
        }
        let slot = rng.gen_range(0..self.ttl_len);
        Some((self.ttl_entry(slot), self.ttl_at.get(slot)))
    }

    /// Every entry, in bucket order.
    pub fn iter(&self) -> impl Iterator<Item = Entry> + '_ {
        let mut bucket = 0;
        let mut link = 0u64;
        std::iter::from_fn(move || {
            while link == 0 {
                if bucket >= self.bucket_count() {
                    return None;
                }
                link = self.buckets.get(bucket);
                bucket += 1;
            }
            let entry = untag(link);
            link = entry.next();
            Some(entry)
        })
    }

    /// Entries with a TTL.
    pub fn iter_with_ttl(&self) -> impl Iterator<Item = (Entry, u64)> + '_ {
        (0..self.ttl_len).map(|slot| (self.ttl_entry(slot), self.ttl_at.get(slot)))
    }

    /// Takes every entry out, leaving the table empty; the caller frees them (off the hot
    /// path, for a big table).
    pub fn take_all(&mut self) -> Vec<(Entry, Option<u64>)> {
        let entries: Vec<(Entry, Option<u64>)> = self
            .iter()
            .map(|entry| (entry, self.expire_at(entry)))
            .collect();
        self.buckets.segments.clear();
        self.ttl.segments.clear();
        self.ttl_at.segments.clear();
        self.level = LEVEL_MIN;
        self.split = 0;
        self.len = 0;
        self.ttl_len = 0;
        entries
    }
}

#[cfg(test)]
mod tests {
    use super::super::entry::{Contents, Stored};
    use super::super::value::Value;
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn table() -> KeyTable {
        KeyTable::new(RandomState::with_seeds(1, 2, 3, 4))
    }

    fn key(i: u32) -> Vec<u8> {
        format!("key:{i}").into_bytes()
    }

    fn entry(key: &[u8], ttl: Option<u64>) -> Entry {
        Entry::new(Contents {
            key,
            value: Value::string(key),
            ttl: ttl.is_some(),
            access: 0,
        })
    }

    fn add(t: &mut KeyTable, key: &[u8], ttl: Option<u64>) {
        t.insert_new(entry(key, ttl), ttl);
    }

    fn check(t: &KeyTable) {
        assert_eq!(t.iter().count(), t.len());
        assert_eq!(t.iter().filter(|e| e.has_ttl()).count(), t.ttl_len());
        for slot in 0..t.ttl_len() {
            assert_eq!(t.ttl_entry(slot).ttl_slot(), slot);
        }
        for e in t.iter() {
            assert_eq!(t.get(e.key()), Some(e));
        }
        for (e, at) in t.iter_with_ttl() {
            assert_eq!(t.expire_at(e), Some(at));
        }
    }

    #[test]
    fn grows_and_shrinks_one_bucket_at_a_time() {
        let mut t = table();
        for i in 0..5000 {
            add(&mut t, &key(i), (i % 3 == 0).then_some(i as u64));
            assert!(t.bucket_count() >= t.len());
            assert!(t.bucket_count() <= t.len().max(4) + 1);
        }
        check(&t);
        assert_eq!(t.ttl_len(), 1667);
        for i in 0..5000 {
            if i % 2 == 0 {
                t.remove(&key(i)).expect("present").free();
            }
        }
        check(&t);
        for i in 0..5000 {
            assert_eq!(t.get(&key(i)).is_some(), i % 2 == 1);
        }
        for i in 0..5000 {
            if let Some(e) = t.remove(&key(i)) {
                e.free();
            }
        }
        assert!(t.is_empty());
        assert_eq!(t.bucket_count(), 4);
        assert_eq!(t.ttl_len(), 0);
    }

    #[test]
    fn replace_keeps_chain_and_ttl_index() {
        let mut t = table();
        for i in 0..100 {
            add(&mut t, &key(i), None);
        }
        let old = t.get(&key(7)).expect("present");
        let new = entry(&key(7), Some(5));
        t.replace(old, new, Some(5));
        old.free();
        assert_eq!(t.ttl_len(), 1);
        let back = entry(&key(7), None);
        t.replace(new, back, None);
        new.free();
        assert_eq!(t.ttl_len(), 0);
        check(&t);
        assert!(matches!(
            t.get(&key(7)).map(|e| e.stored()),
            Some(Stored::Inline(..))
        ));
    }

    fn scan_all(t: &mut KeyTable, mut between: impl FnMut(&mut KeyTable, u32)) -> Vec<Vec<u8>> {
        let mut seen = Vec::new();
        let mut cursor = 0;
        let mut step = 0;
        loop {
            cursor = t.scan(cursor, |e| seen.push(e.key().to_vec()));
            between(t, step);
            step += 1;
            if cursor == 0 {
                return seen;
            }
        }
    }

    #[test]
    fn scan_visits_every_key_once_without_resizes() {
        let mut t = table();
        for i in 0..777 {
            add(&mut t, &key(i), None);
        }
        let mut seen = scan_all(&mut t, |_, _| {});
        let total = seen.len();
        seen.sort();
        seen.dedup();
        assert_eq!((seen.len(), total), (777, 777));
    }

    #[test]
    fn scan_never_misses_keys_present_throughout_while_the_table_grows_and_shrinks() {
        let mut t = table();
        for i in 0..64 {
            add(&mut t, &key(i), None);
        }
        let seen = scan_all(&mut t, |t, step| {
            if step < 10 {
                for i in 0..200 {
                    add(t, &key(1000 + step * 200 + i), None);
                }
            } else if step == 10 {
                for i in 1000..3000 {
                    t.remove(&key(i)).expect("present").free();
                }
            }
        });
        for i in 0..64 {
            assert!(seen.contains(&key(i)), "missed key {i}");
        }
    }

    #[test]
    fn is_scanned_matches_the_buckets_a_scan_visited_across_growth() {
        let mut t = table();
        for i in 0..64 {
            add(&mut t, &key(i), None);
        }
        t.hold_shrink(true);
        let mut cursor = 0;
        let mut visited = Vec::new();
        for step in 0..2000 {
            cursor = t.scan(cursor, |e| visited.push(e.key().to_vec()));
            if step == 20 {
                for i in 64..400 {
                    add(&mut t, &key(i), None);
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
        assert_eq!(cursor, 0);
    }

    #[test]
    fn random_samples_members_and_ttl_keys() {
        let mut t = table();
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        assert!(t.random(&mut rng).is_none());
        assert!(t.random_with_ttl(&mut rng).is_none());
        assert_eq!(t.sample(&mut rng, 5, |_| panic!("nothing to visit")), 0);
        for i in 0..50 {
            add(&mut t, &key(i), (i == 17).then_some(1));
        }
        for _ in 0..100 {
            let e = t.random(&mut rng).expect("non-empty");
            assert_eq!(t.get(e.key()), Some(e));
            assert_eq!(
                t.random_with_ttl(&mut rng)
                    .map(|(e, at)| (e.key().to_vec(), at)),
                Some((key(17), 1))
            );
        }
        // Samples are members, distinct, as many as asked (the table has 50), and over
        // many draws every member turns up.
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..200 {
            let mut sample = Vec::new();
            let found = t.sample(&mut rng, 5, |e| sample.push(e.key().to_vec()));
            assert_eq!(found, 5);
            assert_eq!(sample.len(), 5);
            for k in &sample {
                assert!(t.get(k).is_some());
            }
            sample.sort();
            sample.dedup();
            assert_eq!(sample.len(), 5, "one sample holds no key twice");
            seen.extend(sample);
        }
        assert_eq!(seen.len(), 50);
    }
}
