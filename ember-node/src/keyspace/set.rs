//! The set type, in Redis 7.2's three encodings, behind one typed API (handlers never see the
//! encoding):
//!
//! - "intset": while every member reads as a 64-bit integer (Redis's `string2ll` rules) and
//!   there are at most `set_intset_entries` of them. One sorted buffer of little-endian
//!   integers, all 2, 4 or 8 bytes wide: the width grows to fit the widest member ever added
//!   and never shrinks, like Redis's intset, so small numbers cost two bytes each.
//! - "listpack": a small set with a non-integer member. One buffer of length-prefixed members
//!   in insertion order, searched linearly; no allocation per member.
//! - "hashtable": past either listpack threshold (entries or member length), or an intset
//!   past its entry limit. A seeded `Table<()>`.
//!
//! Conversions go one way, as in Redis: intset -> listpack when a small intset gains a
//! non-integer, intset or listpack -> hashtable past the thresholds. A command that empties a
//! set deletes its key, so a new key starts compact again; the one other way back is Redis's
//! own: SPOP taking most of a set rebuilds the remainder as a new set (`pop_many`).

use std::collections::BTreeSet;
use std::fmt;
use std::io::Write;
use std::ops::Range;

use ahash::RandomState;
use bytes::Bytes;
use rand::Rng;

use super::table::Table;
use super::EncodingLimits;
use crate::cmd::args::parse_i64;

/// Bytes accounted per hashtable member beyond the member itself: the bucket slot and the
/// key's allocation header. A model, like the keyspace's own entry overhead.
const TABLE_ENTRY_OVERHEAD_BYTES: usize = 32;

/// The longest decimal form of an i64: "-9223372036854775808".
const INT_TEXT_MAX_BYTES: usize = 20;

/// The fair random pick treats a hash chain as this many slots (see `Full::random`).
const RANDOM_CHAIN_SLOTS: usize = 4;

/// Rejection-sampling rounds before the fair pick settles for the table's biased one.
const RANDOM_TRIES_MAX: usize = 4096;

/// SPOP with a count rebuilds the remainder instead of popping one by one once the count is
/// at least this many times what remains (Redis's SPOP_MOVE_STRATEGY_MUL).
const SPOP_REBUILD_RATIO: usize = 5;

/// SRANDMEMBER with a positive count copies the whole set once the set is smaller than this
/// many times the count (Redis's SRANDMEMBER_SUB_STRATEGY_MUL).
const SRANDMEMBER_COPY_RATIO: usize = 3;

/// One SSCAN step over a hashtable visits at most this many buckets per requested member, so
/// a sparse table cannot stall the shard (Redis uses the same factor).
const SCAN_STEPS_PER_COUNT: usize = 10;

/// What a set needs to choose and change its encoding: the thresholds in force and the
/// store's seeded hasher for a hashtable it may build.
#[derive(Clone)]
pub struct SetRules {
    pub intset_entries: usize,
    pub listpack_entries: usize,
    pub listpack_value_bytes: usize,
    pub hasher: RandomState,
}

impl SetRules {
    pub fn new(limits: &EncodingLimits, hasher: &RandomState) -> SetRules {
        SetRules {
            intset_entries: limits.set_intset_entries,
            listpack_entries: limits.set_listpack_entries,
            listpack_value_bytes: limits.set_listpack_value_bytes,
            hasher: hasher.clone(),
        }
    }
}

/// A set of binary-safe members.
#[derive(Clone)]
pub struct Set {
    repr: Repr,
}

#[derive(Clone)]
enum Repr {
    Ints(IntSet),
    Pack(Pack),
    Table(Full),
}

/// Sorted integers of one width, packed little-endian in one buffer.
#[derive(Clone)]
struct IntSet {
    width: usize,
    bytes: Vec<u8>,
}

/// Members as `varint length ++ bytes` entries, in insertion order.
#[derive(Clone, Default)]
struct Pack {
    count: usize,
    bytes: Vec<u8>,
}

/// The hashtable encoding and the bytes its members hold.
#[derive(Clone)]
struct Full {
    table: Table<()>,
    member_bytes: usize,
}

impl Default for Set {
    fn default() -> Set {
        Set::new()
    }
}

impl fmt::Debug for Set {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Set")
            .field("encoding", &self.encoding())
            .field("len", &self.len())
            .finish()
    }
}

impl Set {
    /// An empty set in the intset encoding, where every result set of SUNION/SDIFF starts.
    pub fn new() -> Set {
        Set {
            repr: Repr::Ints(IntSet::new()),
        }
    }

    /// An empty set in the encoding Redis picks for a new key whose first member is `first`
    /// and that is about to receive `count_hint` members.
    pub fn for_members(first: &[u8], count_hint: usize, rules: &SetRules) -> Set {
        let repr = if parse_i64(first).is_some() && count_hint <= rules.intset_entries {
            Repr::Ints(IntSet::new())
        } else if count_hint <= rules.listpack_entries {
            Repr::Pack(Pack::default())
        } else {
            Repr::Table(Full::new(rules.hasher.clone()))
        };
        Set { repr }
    }

    /// An empty set in the listpack encoding (the remainder SPOP rebuilds from a set of text).
    fn empty_listpack() -> Set {
        Set {
            repr: Repr::Pack(Pack::default()),
        }
    }

    /// The name OBJECT ENCODING reports.
    pub fn encoding(&self) -> &'static str {
        match self.repr {
            Repr::Ints(_) => "intset",
            Repr::Pack(_) => "listpack",
            Repr::Table(_) => "hashtable",
        }
    }

    /// Bytes of payload held, for memory accounting.
    pub fn size_bytes(&self) -> usize {
        match &self.repr {
            Repr::Ints(ints) => ints.bytes.len(),
            Repr::Pack(pack) => pack.bytes.len(),
            Repr::Table(full) => full.member_bytes + full.table.len() * TABLE_ENTRY_OVERHEAD_BYTES,
        }
    }

    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Ints(ints) => ints.len(),
            Repr::Pack(pack) => pack.count,
            Repr::Table(full) => full.table.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn contains(&self, member: &[u8]) -> bool {
        match &self.repr {
            Repr::Ints(ints) => parse_i64(member).is_some_and(|v| ints.search(v).is_ok()),
            Repr::Pack(pack) => pack.find(member).is_some(),
            Repr::Table(full) => full.table.contains(member),
        }
    }

    /// Converts ahead of a batch of `count_hint` additions that could not fit the current
    /// compact encoding anyway, as Redis's SADD does before adding many members.
    pub fn prepare_for(&mut self, count_hint: usize, rules: &SetRules) {
        let too_many = match &self.repr {
            Repr::Ints(_) => count_hint > rules.intset_entries,
            Repr::Pack(_) => count_hint > rules.listpack_entries,
            Repr::Table(_) => false,
        };
        if too_many {
            self.convert_to_table(rules);
        }
    }

    /// Adds `member`; false when it was already there. Converts the encoding when the new
    /// member does not fit it.
    pub fn add(&mut self, member: &[u8], rules: &SetRules) -> bool {
        let added = match &mut self.repr {
            Repr::Ints(ints) => match parse_i64(member) {
                Some(value) => {
                    let added = ints.insert(value);
                    if added && ints.len() > rules.intset_entries {
                        self.convert_to_table(rules);
                    }
                    added
                }
                None => {
                    self.add_text_to_ints(member, rules);
                    true
                }
            },
            Repr::Pack(pack) => {
                if pack.find(member).is_some() {
                    return false;
                }
                if pack.count < rules.listpack_entries && member.len() <= rules.listpack_value_bytes
                {
                    pack.push(member);
                } else {
                    self.convert_to_table(rules);
                    self.insert_into_table(member);
                }
                true
            }
            Repr::Table(full) => full.insert(member),
        };
        debug_assert!(self.contains(member));
        added
    }

    /// Removes `member`; false when it was not there. The encoding never changes.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match &mut self.repr {
            Repr::Ints(ints) => parse_i64(member).is_some_and(|v| ints.remove(v)),
            Repr::Pack(pack) => match pack.find(member) {
                Some(entry) => {
                    pack.remove_entry(entry);
                    true
                }
                None => false,
            },
            Repr::Table(full) => full.remove(member),
        }
    }

    /// Visits every member in the encoding's order: ascending for an intset, insertion order
    /// for a listpack, table order for a hashtable.
    pub fn for_each(&self, mut visit: impl FnMut(&[u8])) {
        match &self.repr {
            Repr::Ints(ints) => {
                let mut text = [0u8; INT_TEXT_MAX_BYTES];
                for value in ints.iter() {
                    visit(int_text(value, &mut text));
                }
            }
            Repr::Pack(pack) => pack.iter().for_each(|(_, member)| visit(member)),
            Repr::Table(full) => full.table.iter().for_each(|(member, _)| visit(member)),
        }
    }

    /// Every member, in `for_each` order.
    pub fn members(&self) -> Vec<Bytes> {
        let mut members = Vec::with_capacity(self.len());
        match &self.repr {
            Repr::Table(full) => members.extend(full.table.iter().map(|(m, _)| m.clone())),
            _ => self.for_each(|m| members.push(Bytes::copy_from_slice(m))),
        }
        assert_eq!(members.len(), self.len());
        members
    }

    /// One member chosen uniformly at random.
    pub fn random_member(&self, rng: &mut impl Rng) -> Bytes {
        assert!(!self.is_empty(), "random pick from an empty set");
        match &self.repr {
            Repr::Ints(ints) => int_bytes(ints.get(rng.gen_range(0..ints.len()))),
            Repr::Pack(pack) => {
                let (_, member) = pack.nth(rng.gen_range(0..pack.count));
                Bytes::copy_from_slice(member)
            }
            Repr::Table(full) => full.random(rng),
        }
    }

    /// Removes and returns one member chosen uniformly at random.
    pub fn pop_random(&mut self, rng: &mut impl Rng) -> Bytes {
        assert!(!self.is_empty(), "pop from an empty set");
        let len_before = self.len();
        let member = match &mut self.repr {
            Repr::Ints(ints) => {
                let index = rng.gen_range(0..ints.len());
                let value = ints.get(index);
                ints.remove_at(index);
                int_bytes(value)
            }
            Repr::Pack(pack) => {
                let (entry, member) = pack.nth(rng.gen_range(0..pack.count));
                let member = Bytes::copy_from_slice(member);
                pack.remove_entry(entry);
                member
            }
            Repr::Table(full) => {
                let member = full.random(rng);
                assert!(full.remove(&member));
                member
            }
        };
        assert_eq!(self.len() + 1, len_before);
        member
    }

    /// `count` members picked independently, so repeats are possible (SRANDMEMBER with a
    /// negative count).
    pub fn random_repeating(&self, count: usize, rng: &mut impl Rng) -> Vec<Bytes> {
        assert!(!self.is_empty(), "random picks from an empty set");
        match &self.repr {
            Repr::Pack(pack) => {
                // Index the entries once rather than walking the buffer for every pick.
                let members: Vec<&[u8]> = pack.iter().map(|(_, m)| m).collect();
                (0..count)
                    .map(|_| Bytes::copy_from_slice(members[rng.gen_range(0..members.len())]))
                    .collect()
            }
            _ => (0..count).map(|_| self.random_member(rng)).collect(),
        }
    }

    /// `count` distinct members chosen at random, for a `count` below the set's size
    /// (SRANDMEMBER with a positive count; larger counts take the whole set).
    pub fn random_distinct(&self, count: usize, rng: &mut impl Rng) -> Vec<Bytes> {
        assert!(count < self.len(), "the caller takes the whole set");
        let picked = match &self.repr {
            Repr::Table(full) if count * SRANDMEMBER_COPY_RATIO <= full.table.len() => {
                full.random_distinct(count, rng)
            }
            Repr::Table(_) => shuffled_prefix(self.members(), count, rng),
            _ => {
                let mut indexes = shuffled_prefix((0..self.len()).collect(), count, rng);
                indexes.sort_unstable();
                self.compact_members_at(&indexes)
            }
        };
        assert_eq!(picked.len(), count);
        picked
    }

    /// Removes and returns `count` random members, for `0 < count < len` (SPOP with a count;
    /// the caller takes the whole set for larger counts). When few members remain, the
    /// remainder is picked instead and rebuilt as a new set, as Redis does, so the new value
    /// may be compact again.
    pub fn pop_many(&mut self, count: usize, rng: &mut impl Rng, rules: &SetRules) -> Vec<Bytes> {
        let len = self.len();
        assert!(
            count > 0 && count < len,
            "the caller handles 0 and the whole set"
        );
        let remaining = len - count;
        if remaining * SPOP_REBUILD_RATIO > count {
            return (0..count).map(|_| self.pop_random(rng)).collect();
        }
        let keep = self.random_distinct(remaining, rng);
        let mut rebuilt = match self.repr {
            Repr::Ints(_) => Set::new(),
            _ => Set::empty_listpack(),
        };
        for member in &keep {
            rebuilt.add(member, rules);
            assert!(self.remove(member));
        }
        let popped = self.members();
        *self = rebuilt;
        assert_eq!(popped.len(), count);
        assert_eq!(self.len(), remaining);
        popped
    }

    /// One SSCAN step: visits members and returns the next cursor (0 when done). Compact
    /// encodings are small, so they return everything at once with cursor 0, as Redis does;
    /// a hashtable walks buckets in the table's resize-safe cursor order.
    pub fn scan(&self, cursor: u64, count: usize, mut visit: impl FnMut(&[u8])) -> u64 {
        assert!(count > 0);
        let Repr::Table(full) = &self.repr else {
            self.for_each(visit);
            return 0;
        };
        let mut cursor = cursor;
        let mut seen = 0usize;
        let steps_max = count.saturating_mul(SCAN_STEPS_PER_COUNT);
        for _ in 0..steps_max {
            cursor = full.table.scan(cursor, |member, _| {
                visit(member);
                seen += 1;
            });
            if cursor == 0 || seen >= count {
                break;
            }
        }
        cursor
    }

    /// Members of a compact encoding at the given ascending positions.
    fn compact_members_at(&self, indexes: &[usize]) -> Vec<Bytes> {
        debug_assert!(indexes.windows(2).all(|w| w[0] < w[1]));
        match &self.repr {
            Repr::Ints(ints) => indexes.iter().map(|&i| int_bytes(ints.get(i))).collect(),
            Repr::Pack(pack) => {
                let mut wanted = indexes.iter().peekable();
                let mut members = Vec::with_capacity(indexes.len());
                for (index, (_, member)) in pack.iter().enumerate() {
                    if wanted.next_if_eq(&&index).is_some() {
                        members.push(Bytes::copy_from_slice(member));
                    }
                }
                members
            }
            Repr::Table(_) => unreachable!("only compact encodings are indexed"),
        }
    }

    /// An intset gains a non-integer: it becomes a listpack when everything fits one, as
    /// Redis checks (entries, the new member's length, the longest integer's text), else a
    /// hashtable.
    fn add_text_to_ints(&mut self, member: &[u8], rules: &SetRules) {
        let Repr::Ints(ints) = &self.repr else {
            unreachable!("called for the intset encoding only")
        };
        let fits = ints.len() < rules.listpack_entries
            && member.len() <= rules.listpack_value_bytes
            && ints.text_len_max() <= rules.listpack_value_bytes;
        if fits {
            let mut pack = Pack::default();
            self.for_each(|m| pack.push(m));
            pack.push(member);
            self.repr = Repr::Pack(pack);
        } else {
            self.convert_to_table(rules);
            self.insert_into_table(member);
        }
    }

    fn convert_to_table(&mut self, rules: &SetRules) {
        let len = self.len();
        let mut full = Full::new(rules.hasher.clone());
        self.for_each(|member| {
            full.insert(member);
        });
        assert_eq!(full.table.len(), len);
        self.repr = Repr::Table(full);
    }

    fn insert_into_table(&mut self, member: &[u8]) {
        let Repr::Table(full) = &mut self.repr else {
            unreachable!("converted to a hashtable just before")
        };
        assert!(full.insert(member), "the member was checked to be new");
    }
}

impl IntSet {
    fn new() -> IntSet {
        IntSet {
            width: 2,
            bytes: Vec::new(),
        }
    }

    fn len(&self) -> usize {
        self.bytes.len() / self.width
    }

    fn get(&self, index: usize) -> i64 {
        let start = index * self.width;
        let raw = &self.bytes[start..start + self.width];
        match self.width {
            2 => i16::from_le_bytes([raw[0], raw[1]]) as i64,
            4 => i32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]) as i64,
            _ => i64::from_le_bytes(raw.try_into().expect("eight bytes")),
        }
    }

    fn iter(&self) -> impl Iterator<Item = i64> + '_ {
        (0..self.len()).map(|index| self.get(index))
    }

    /// Binary search: the index of `value`, or where it would go.
    fn search(&self, value: i64) -> Result<usize, usize> {
        let (mut low, mut high) = (0, self.len());
        while low < high {
            let middle = low + (high - low) / 2;
            match self.get(middle).cmp(&value) {
                std::cmp::Ordering::Less => low = middle + 1,
                std::cmp::Ordering::Greater => high = middle,
                std::cmp::Ordering::Equal => return Ok(middle),
            }
        }
        Err(low)
    }

    fn insert(&mut self, value: i64) -> bool {
        let width = width_of(value);
        if width > self.width {
            self.widen(width);
        }
        let Err(index) = self.search(value) else {
            return false;
        };
        let at = index * self.width;
        let encoded = value.to_le_bytes();
        self.bytes
            .splice(at..at, encoded[..self.width].iter().copied());
        debug_assert!((1..self.len()).all(|i| self.get(i - 1) < self.get(i)));
        true
    }

    fn remove(&mut self, value: i64) -> bool {
        match self.search(value) {
            Ok(index) => {
                self.remove_at(index);
                true
            }
            Err(_) => false,
        }
    }

    fn remove_at(&mut self, index: usize) {
        assert!(index < self.len());
        let at = index * self.width;
        self.bytes.drain(at..at + self.width);
    }

    /// Re-encodes every member at a larger width; the order is unchanged.
    fn widen(&mut self, width: usize) {
        assert!(width > self.width);
        let values: Vec<i64> = self.iter().collect();
        let mut bytes = Vec::with_capacity(values.len() * width);
        for value in &values {
            bytes.extend_from_slice(&value.to_le_bytes()[..width]);
        }
        self.width = width;
        self.bytes = bytes;
        assert_eq!(self.len(), values.len());
    }

    /// The longest decimal text of a member: the smallest or the largest one.
    fn text_len_max(&self) -> usize {
        if self.len() == 0 {
            return 0;
        }
        let mut text = [0u8; INT_TEXT_MAX_BYTES];
        let first = int_text(self.get(0), &mut text).len();
        let last = int_text(self.get(self.len() - 1), &mut text).len();
        first.max(last)
    }
}

/// The narrowest intset width (in bytes) that holds `value`.
fn width_of(value: i64) -> usize {
    if i16::try_from(value).is_ok() {
        2
    } else if i32::try_from(value).is_ok() {
        4
    } else {
        8
    }
}

impl Pack {
    /// Entries as (byte range of the whole entry, member).
    fn iter(&self) -> PackIter<'_> {
        PackIter {
            bytes: &self.bytes,
            at: 0,
        }
    }

    fn find(&self, member: &[u8]) -> Option<Range<usize>> {
        self.iter()
            .find(|(_, candidate)| *candidate == member)
            .map(|(entry, _)| entry)
    }

    fn nth(&self, index: usize) -> (Range<usize>, &[u8]) {
        assert!(index < self.count);
        self.iter().nth(index).expect("index below count")
    }

    fn push(&mut self, member: &[u8]) {
        write_varint(&mut self.bytes, member.len());
        self.bytes.extend_from_slice(member);
        self.count += 1;
    }

    fn remove_entry(&mut self, entry: Range<usize>) {
        assert!(entry.end <= self.bytes.len());
        assert!(self.count > 0);
        self.bytes.drain(entry);
        self.count -= 1;
    }
}

struct PackIter<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Iterator for PackIter<'a> {
    type Item = (Range<usize>, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        if self.at == self.bytes.len() {
            return None;
        }
        let start = self.at;
        let (len, body) = read_varint(self.bytes, start);
        let end = body + len;
        assert!(end <= self.bytes.len(), "listpack entry within the buffer");
        self.at = end;
        Some((start..end, &self.bytes[body..end]))
    }
}

/// LEB128: seven bits per byte, low bits first, high bit set on all but the last byte.
fn write_varint(out: &mut Vec<u8>, value: usize) {
    let mut value = value;
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// The varint at `at`, and the offset just past it.
fn read_varint(bytes: &[u8], at: usize) -> (usize, usize) {
    let mut value = 0usize;
    let mut shift = 0;
    let mut at = at;
    loop {
        let byte = bytes[at];
        at += 1;
        value |= ((byte & 0x7f) as usize) << shift;
        if byte & 0x80 == 0 {
            return (value, at);
        }
        shift += 7;
        assert!(shift < usize::BITS, "varint fits a usize");
    }
}

impl Full {
    fn new(hasher: RandomState) -> Full {
        Full {
            table: Table::new(hasher),
            member_bytes: 0,
        }
    }

    fn insert(&mut self, member: &[u8]) -> bool {
        let added = self.table.insert(member, ()).is_none();
        if added {
            self.member_bytes += member.len();
        }
        added
    }

    fn remove(&mut self, member: &[u8]) -> bool {
        let removed = self.table.remove(member).is_some();
        if removed {
            assert!(self.member_bytes >= member.len());
            self.member_bytes -= member.len();
        }
        removed
    }

    /// A uniformly random member. The table's own pick favours members of short chains, so
    /// this samples a bucket and a chain slot instead: a bucket is kept with probability
    /// min(chain, SLOTS) / SLOTS and then one of its members is taken uniformly, which makes
    /// every member of a chain no longer than SLOTS equally likely (longer chains are rare
    /// at the table's load factor and still reachable).
    fn random(&self, rng: &mut impl Rng) -> Bytes {
        assert!(!self.table.is_empty());
        let buckets = self.table.bucket_count() as u64;
        for _ in 0..RANDOM_TRIES_MAX {
            let bucket = rng.gen_range(0..buckets);
            let mut chain = 0usize;
            self.table.scan(bucket, |_, _| chain += 1);
            if chain == 0 || rng.gen_range(0..RANDOM_CHAIN_SLOTS) >= chain {
                continue;
            }
            let pick = rng.gen_range(0..chain);
            let mut position = 0usize;
            let mut found = None;
            self.table.scan(bucket, |member, _| {
                if position == pick {
                    found = Some(member.clone());
                }
                position += 1;
            });
            return found.expect("the chain was just counted");
        }
        let (member, _) = self.table.random(rng).expect("a non-empty table");
        member.clone()
    }

    /// `count` distinct members for a count well below the size: random picks until enough
    /// distinct ones came up, in the order they did.
    fn random_distinct(&self, count: usize, rng: &mut impl Rng) -> Vec<Bytes> {
        assert!(count * SRANDMEMBER_COPY_RATIO <= self.table.len());
        let mut seen = BTreeSet::new();
        let mut picked = Vec::with_capacity(count);
        // With at most a third of the set wanted, each pick is new with probability >= 2/3.
        let tries_max = count.saturating_mul(64).max(1024);
        for _ in 0..tries_max {
            if picked.len() == count {
                break;
            }
            let member = self.random(rng);
            if seen.insert(member.clone()) {
                picked.push(member);
            }
        }
        if picked.len() < count {
            let all = self.table.iter().map(|(m, _)| m.clone()).collect();
            return shuffled_prefix(all, count, rng);
        }
        picked
    }
}

/// The first `count` items of a uniformly random permutation (a partial Fisher-Yates).
fn shuffled_prefix<T>(mut items: Vec<T>, count: usize, rng: &mut impl Rng) -> Vec<T> {
    assert!(count <= items.len());
    for index in 0..count {
        let other = rng.gen_range(index..items.len());
        items.swap(index, other);
    }
    items.truncate(count);
    items
}

/// `value` in decimal, written into `text`.
fn int_text(value: i64, text: &mut [u8; INT_TEXT_MAX_BYTES]) -> &[u8] {
    let unused = {
        let mut cursor = &mut text[..];
        write!(cursor, "{value}").expect("an i64 fits 20 bytes");
        cursor.len()
    };
    &text[..INT_TEXT_MAX_BYTES - unused]
}

fn int_bytes(value: i64) -> Bytes {
    let mut text = [0u8; INT_TEXT_MAX_BYTES];
    Bytes::copy_from_slice(int_text(value, &mut text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn rules(intset: usize, entries: usize, value_bytes: usize) -> SetRules {
        SetRules {
            intset_entries: intset,
            listpack_entries: entries,
            listpack_value_bytes: value_bytes,
            hasher: RandomState::with_seeds(1, 2, 3, 4),
        }
    }

    fn defaults() -> SetRules {
        SetRules::new(
            &EncodingLimits::default(),
            &RandomState::with_seeds(1, 2, 3, 4),
        )
    }

    fn texts(set: &Set) -> Vec<String> {
        set.members()
            .iter()
            .map(|m| String::from_utf8(m.to_vec()).unwrap())
            .collect()
    }

    fn set_of(members: &[&str], rules: &SetRules) -> Set {
        let mut set = Set::new();
        for member in members {
            set.add(member.as_bytes(), rules);
        }
        set
    }

    #[test]
    fn intset_keeps_integers_sorted_and_widens() {
        let rules = defaults();
        let mut set = Set::new();
        for member in ["5", "-3", "100", "5", "0"] {
            set.add(member.as_bytes(), &rules);
        }
        assert_eq!(set.encoding(), "intset");
        assert_eq!(texts(&set), ["-3", "0", "5", "100"]);
        assert_eq!(set.size_bytes(), 4 * 2);
        assert!(set.add(b"70000", &rules));
        assert_eq!(set.size_bytes(), 5 * 4, "widened to 32 bits");
        assert!(set.add(b"-9223372036854775808", &rules));
        assert!(set.add(b"9223372036854775807", &rules));
        assert_eq!(set.size_bytes(), 7 * 8, "widened to 64 bits");
        assert_eq!(
            texts(&set),
            [
                "-9223372036854775808",
                "-3",
                "0",
                "5",
                "100",
                "70000",
                "9223372036854775807"
            ]
        );
        assert!(set.contains(b"70000") && !set.contains(b"070000"));
        assert!(set.remove(b"70000") && !set.remove(b"70000"));
        assert_eq!(set.encoding(), "intset");
    }

    #[test]
    fn non_canonical_integers_are_text() {
        let rules = defaults();
        for member in ["01", "+1", " 1", "1.0", "9223372036854775808", "-0"] {
            let set = set_of(&["1", member], &rules);
            assert_eq!(set.encoding(), "listpack", "{member}");
            assert_eq!(set.len(), 2);
        }
    }

    #[test]
    fn conversions_follow_redis_thresholds() {
        let small = rules(4, 3, 5);
        let mut set = set_of(&["1", "2"], &small);
        assert_eq!(set.encoding(), "intset");
        set.add(b"abc", &small);
        assert_eq!(set.encoding(), "listpack");
        assert_eq!(texts(&set), ["1", "2", "abc"], "ascending, then appended");
        set.add(b"x", &small);
        assert_eq!(set.encoding(), "hashtable", "past the entry limit");

        let long_member = set_of(&["1", "abcdef"], &small);
        assert_eq!(long_member.encoding(), "hashtable", "member too long");
        let too_many_ints = set_of(&["1", "2", "3", "4", "5"], &small);
        assert_eq!(too_many_ints.encoding(), "hashtable");
        let big_intset = set_of(&["1", "2", "3", "a"], &small);
        assert_eq!(
            big_intset.encoding(),
            "hashtable",
            "3 ints + text > 3 entries"
        );
        let long_int = set_of(&["123456", "a"], &small);
        assert_eq!(
            long_int.encoding(),
            "hashtable",
            "an integer's text too long"
        );
    }

    #[test]
    fn for_members_picks_like_redis_set_type_create() {
        let rules = defaults();
        assert_eq!(Set::for_members(b"1", 1, &rules).encoding(), "intset");
        assert_eq!(Set::for_members(b"1", 513, &rules).encoding(), "hashtable");
        assert_eq!(Set::for_members(b"a", 128, &rules).encoding(), "listpack");
        assert_eq!(Set::for_members(b"a", 129, &rules).encoding(), "hashtable");
        let mut pack = Set::for_members(b"a", 2, &rules);
        pack.prepare_for(129, &rules);
        assert_eq!(pack.encoding(), "hashtable");
    }

    #[test]
    fn listpack_keeps_insertion_order_and_removes_in_place() {
        let rules = defaults();
        let mut set = set_of(&["b", "a", "c", "a"], &rules);
        assert_eq!(texts(&set), ["b", "a", "c"]);
        assert!(set.remove(b"a"));
        assert_eq!(texts(&set), ["b", "c"]);
        let long = "x".repeat(64);
        set.add(long.as_bytes(), &rules);
        assert_eq!(set.encoding(), "listpack");
        set.add("y".repeat(65).as_bytes(), &rules);
        assert_eq!(set.encoding(), "hashtable");
        assert_eq!(set.len(), 4);
    }

    #[test]
    fn varints_round_trip() {
        for value in [0usize, 1, 127, 128, 300, 16_383, 16_384, 1 << 40] {
            let mut out = Vec::new();
            write_varint(&mut out, value);
            assert_eq!(read_varint(&out, 0), (value, out.len()));
        }
    }

    #[test]
    fn random_picks_are_members_and_distinct_when_asked() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let rules = rules(512, 8, 64);
        let fifty: Vec<String> = (0..50).map(|i| format!("m{i}")).collect();
        let fifty: Vec<&str> = fifty.iter().map(String::as_str).collect();
        for members in [
            vec!["1", "2", "3", "4", "5", "6"],
            vec!["a", "b", "c", "d", "e", "f"],
            fifty,
        ] {
            let set = set_of(&members, &rules);
            for count in [1, 2, set.len() / 3, set.len() - 1] {
                let picked = set.random_distinct(count, &mut rng);
                let distinct: BTreeSet<_> = picked.iter().collect();
                assert_eq!(distinct.len(), count);
                assert!(picked.iter().all(|m| set.contains(m)));
            }
            let repeated = set.random_repeating(100, &mut rng);
            assert_eq!(repeated.len(), 100);
            assert!(repeated.iter().all(|m| set.contains(m)));
        }
    }

    #[test]
    fn hashtable_random_member_is_close_to_uniform() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let rules = rules(0, 0, 0);
        let names: Vec<String> = (0..50).map(|i| format!("member:{i}")).collect();
        let mut set = Set::new();
        for name in &names {
            set.add(name.as_bytes(), &rules);
        }
        assert_eq!(set.encoding(), "hashtable");
        let draws = 50_000;
        let mut counts = std::collections::BTreeMap::new();
        for _ in 0..draws {
            *counts.entry(set.random_member(&mut rng)).or_insert(0usize) += 1;
        }
        let expected = (draws / names.len()) as f64;
        let chi_square: f64 = counts
            .values()
            .map(|&c| (c as f64 - expected).powi(2) / expected)
            .sum();
        assert_eq!(counts.len(), names.len());
        assert!(chi_square < 100.0, "chi-square {chi_square}");
    }

    #[test]
    fn pop_many_rebuilds_a_small_remainder_compact() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let rules = rules(512, 4, 64);
        let names: Vec<String> = (0..20).map(|i| format!("m{i}")).collect();
        let mut set = Set::new();
        for name in &names {
            set.add(name.as_bytes(), &rules);
        }
        assert_eq!(set.encoding(), "hashtable");
        let popped = set.pop_many(18, &mut rng, &rules);
        assert_eq!(popped.len(), 18);
        assert_eq!(set.len(), 2);
        assert_eq!(set.encoding(), "listpack");
        let mut all: Vec<Bytes> = popped.into_iter().chain(set.members()).collect();
        all.sort();
        let mut expected: Vec<Bytes> = names.iter().map(|n| Bytes::from(n.clone())).collect();
        expected.sort();
        assert_eq!(all, expected);
        let few = set_of(&["1", "2", "3", "4", "5", "6", "7"], &rules);
        let mut few = few;
        let popped = few.pop_many(2, &mut rng, &rules);
        assert_eq!((popped.len(), few.len(), few.encoding()), (2, 5, "intset"));
    }

    #[test]
    fn scan_of_a_hashtable_covers_every_member() {
        let rules = rules(0, 0, 0);
        let mut set = Set::new();
        for i in 0..300 {
            set.add(format!("m{i}").as_bytes(), &rules);
        }
        let mut seen = BTreeSet::new();
        let mut cursor = 0;
        loop {
            cursor = set.scan(cursor, 7, |m| {
                seen.insert(m.to_vec());
            });
            if cursor == 0 {
                break;
            }
        }
        assert_eq!(seen.len(), 300);
        let small = set_of(&["a", "b"], &defaults());
        let mut all = Vec::new();
        assert_eq!(small.scan(99, 1, |m| all.push(m.to_vec())), 0);
        assert_eq!(all.len(), 2);
    }

    #[derive(Clone, Debug)]
    enum Op {
        Add(String),
        Remove(String),
        Pop,
        PopMany(usize),
    }

    fn member() -> impl Strategy<Value = String> {
        prop_oneof![
            (-40i64..40).prop_map(|i| i.to_string()),
            Just("70000".to_string()),
            Just("-5000000000".to_string()),
            "[a-d]{1,3}",
            "[a-c]{6,8}",
            Just("007".to_string()),
        ]
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            5 => member().prop_map(Op::Add),
            3 => member().prop_map(Op::Remove),
            1 => Just(Op::Pop),
            1 => (1usize..10).prop_map(Op::PopMany),
        ]
    }

    /// The encoding the rules predict after adding a new `member` to a set in `encoding`
    /// that held `model` before.
    fn predicted(
        encoding: &str,
        model: &BTreeSet<String>,
        member: &str,
        r: &SetRules,
    ) -> &'static str {
        let is_int = parse_i64(member.as_bytes()).is_some();
        let len = model.len();
        let fits_listpack = len < r.listpack_entries && member.len() <= r.listpack_value_bytes;
        let longest = model.iter().map(String::len).max().unwrap_or(0);
        let next = match encoding {
            "intset" if is_int => len < r.intset_entries,
            "intset" => fits_listpack && longest <= r.listpack_value_bytes,
            "listpack" => fits_listpack,
            _ => false,
        };
        match (encoding, next) {
            (_, false) => "hashtable",
            ("intset", true) if is_int => "intset",
            (_, true) => "listpack",
        }
    }

    fn apply(
        set: &mut Set,
        model: &mut BTreeSet<String>,
        op: &Op,
        r: &SetRules,
        rng: &mut ChaCha8Rng,
    ) {
        match op {
            Op::Add(m) => {
                let before = set.encoding();
                let expected = if model.contains(m) {
                    before
                } else {
                    predicted(before, model, m, r)
                };
                assert_eq!(set.add(m.as_bytes(), r), model.insert(m.clone()));
                assert_eq!(set.encoding(), expected, "adding {m:?}");
            }
            Op::Remove(m) => assert_eq!(set.remove(m.as_bytes()), model.remove(m)),
            Op::Pop if !model.is_empty() => {
                let popped = String::from_utf8(set.pop_random(rng).to_vec()).unwrap();
                assert!(model.remove(&popped), "popped a member");
            }
            Op::PopMany(count) if *count < model.len() => {
                for popped in set.pop_many(*count, rng, r) {
                    assert!(model.remove(std::str::from_utf8(&popped).unwrap()));
                }
            }
            _ => {}
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn set_matches_a_btreeset(ops in proptest::collection::vec(op(), 1..120)) {
            let r = rules(6, 4, 5);
            let mut rng = ChaCha8Rng::seed_from_u64(1);
            let mut set = Set::new();
            let mut model = BTreeSet::new();
            for op in &ops {
                apply(&mut set, &mut model, op, &r, &mut rng);
                if model.is_empty() {
                    // The command deletes an emptied key; the next write starts a new set.
                    set = Set::new();
                }
                let mut members: Vec<String> = texts(&set);
                if set.encoding() == "intset" {
                    prop_assert!(members.windows(2).all(|w| w[0].parse::<i64>().unwrap() < w[1].parse::<i64>().unwrap()));
                    prop_assert!(members.len() <= r.intset_entries);
                }
                if set.encoding() == "listpack" {
                    prop_assert!(members.len() <= r.listpack_entries);
                    prop_assert!(members.iter().all(|m| m.len() <= r.listpack_value_bytes));
                }
                members.sort();
                prop_assert_eq!(&members, &model.iter().cloned().collect::<Vec<_>>());
                prop_assert_eq!(set.len(), model.len());
                for candidate in ["1", "a", "aaaaaa", "70000", "x"] {
                    prop_assert_eq!(set.contains(candidate.as_bytes()), model.contains(candidate));
                }
            }
        }
    }
}
