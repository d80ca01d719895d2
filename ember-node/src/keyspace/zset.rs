//! The sorted set type: members with scores, ordered by (score, member).
//!
//! Two encodings, named as Redis names them for OBJECT ENCODING:
//! - "listpack": one buffer of (member, score) entries in order (`listpack.rs`), while the set
//!   holds at most `zset-max-listpack-entries` members of at most `zset-max-listpack-value`
//!   bytes each;
//! - "skiplist": past either threshold, an order-statistic skiplist (`skiplist.rs`) for ranks
//!   and ranges in O(log n) plus a hash table from member to score for O(1) ZSCORE. Both hold
//!   the same `Bytes` for a member, so its bytes are stored once.
//!
//! As in Redis, a set never converts back to a listpack when it shrinks; a new key (including
//! the destination of a store command) starts compact when it fits.
//!
//! Handlers see ranks and ranges only: `score_span`/`lex_span` turn a range into the ranks it
//! covers, and `entries`/`remove_ranks` act on ranks, so no command touches an encoding.

mod listpack;
mod skiplist;

use std::cmp::Ordering;
use std::ops::Range;

use ahash::RandomState;
use bytes::Bytes;
use rand::Rng;

use super::table::Table;
use super::EncodingLimits;
use listpack::Listpack;
use skiplist::{SkipList, LEVELS_MAX};

/// Bytes accounted per skiplist entry beyond its member: the node, its links, the hash
/// table slot. A model, not a measurement.
const SKIPLIST_ENTRY_OVERHEAD_BYTES: usize = 64;

/// Bytes accounted for an empty skiplist-encoded set (head node and tables).
const SKIPLIST_BASE_BYTES: usize = LEVELS_MAX * 8 + 128;

/// What a write needs to choose an encoding: the thresholds at the time of the write (CONFIG
/// SET may change them) and the store's seeded hasher for the full encoding's table.
#[derive(Clone)]
pub struct ZSetConfig {
    pub listpack_entries: usize,
    pub listpack_value_bytes: usize,
    pub hasher: RandomState,
}

impl ZSetConfig {
    pub fn new(limits: &EncodingLimits, hasher: &RandomState) -> ZSetConfig {
        ZSetConfig {
            listpack_entries: limits.zset_listpack_entries,
            listpack_value_bytes: limits.zset_listpack_value_bytes,
            hasher: hasher.clone(),
        }
    }

    /// Whether `entries` members, the longest `member_len_max` bytes, fit a listpack.
    fn fits(&self, entries: usize, member_len_max: usize) -> bool {
        entries <= self.listpack_entries && member_len_max <= self.listpack_value_bytes
    }
}

/// A score range as ZRANGEBYSCORE takes it: each end inclusive unless given with '('.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScoreRange {
    pub min: f64,
    pub max: f64,
    pub min_exclusive: bool,
    pub max_exclusive: bool,
}

/// One end of a ZRANGEBYLEX range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LexBound {
    /// "-": below every member.
    Lowest,
    /// "+": above every member.
    Highest,
    /// "[member".
    Inclusive(Bytes),
    /// "(member".
    Exclusive(Bytes),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LexRange {
    pub min: LexBound,
    pub max: LexBound,
}

#[derive(Clone, Debug)]
pub struct ZSet {
    encoding: Encoding,
}

#[derive(Clone, Debug)]
enum Encoding {
    Listpack(Listpack),
    Skiplist(Box<Full>),
}

/// The full encoding: the order and the member-to-score table.
#[derive(Clone)]
struct Full {
    order: SkipList,
    scores: Table<f64>,
    hasher: RandomState,
    member_bytes: usize,
}

impl std::fmt::Debug for Full {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Full")
            .field("len", &self.order.len())
            .field("member_bytes", &self.member_bytes)
            .finish()
    }
}

/// The order of entries: by score, then by member bytes. Scores are never NaN, and -0.0
/// equals 0.0 as it does for Redis's `<`.
pub fn entry_less(score: f64, member: &[u8], other_score: f64, other_member: &[u8]) -> bool {
    match score.partial_cmp(&other_score) {
        Some(Ordering::Less) => true,
        Some(Ordering::Greater) => false,
        _ => member < other_member,
    }
}

impl ScoreRange {
    /// Parses ZRANGEBYSCORE's `min` and `max`: a float, "-inf"/"+inf", each optionally
    /// prefixed with '(' for an exclusive end. NaN is refused.
    pub fn parse(min: &[u8], max: &[u8]) -> Option<ScoreRange> {
        let (min, min_exclusive) = parse_score_bound(min)?;
        let (max, max_exclusive) = parse_score_bound(max)?;
        Some(ScoreRange {
            min,
            max,
            min_exclusive,
            max_exclusive,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.min > self.max || (self.min == self.max && (self.min_exclusive || self.max_exclusive))
    }

    /// True for scores below the range's lower end.
    pub fn below_min(&self, score: f64) -> bool {
        if self.min_exclusive {
            score <= self.min
        } else {
            score < self.min
        }
    }

    /// True for scores at or below the range's upper end.
    pub fn within_max(&self, score: f64) -> bool {
        if self.max_exclusive {
            score < self.max
        } else {
            score <= self.max
        }
    }

    pub fn contains(&self, score: f64) -> bool {
        !self.below_min(score) && self.within_max(score)
    }
}

fn parse_score_bound(text: &[u8]) -> Option<(f64, bool)> {
    let (number, exclusive) = match text.first() {
        Some(b'(') => (&text[1..], true),
        _ => (text, false),
    };
    let value = crate::cmd::args::parse_f64(number)?;
    assert!(!value.is_nan());
    Some((value, exclusive))
}

impl LexBound {
    fn parse(text: &[u8]) -> Option<LexBound> {
        match text {
            b"-" => Some(LexBound::Lowest),
            b"+" => Some(LexBound::Highest),
            [b'[', rest @ ..] => Some(LexBound::Inclusive(Bytes::copy_from_slice(rest))),
            [b'(', rest @ ..] => Some(LexBound::Exclusive(Bytes::copy_from_slice(rest))),
            _ => None,
        }
    }

    /// Where the bound sits among members: (rank class, member), with "-" below and "+"
    /// above every member.
    fn key(&self) -> (u8, &[u8]) {
        match self {
            LexBound::Lowest => (0, b""),
            LexBound::Inclusive(m) | LexBound::Exclusive(m) => (1, m),
            LexBound::Highest => (2, b""),
        }
    }

    /// "-" and "+" count as exclusive: nothing equals them.
    fn is_exclusive(&self) -> bool {
        !matches!(self, LexBound::Inclusive(_))
    }
}

impl LexRange {
    /// Parses ZRANGEBYLEX's `min` and `max`: "-", "+", "[member" or "(member".
    pub fn parse(min: &[u8], max: &[u8]) -> Option<LexRange> {
        Some(LexRange {
            min: LexBound::parse(min)?,
            max: LexBound::parse(max)?,
        })
    }

    pub fn is_empty(&self) -> bool {
        match self.min.key().cmp(&self.max.key()) {
            Ordering::Greater => true,
            Ordering::Equal => self.min.is_exclusive() || self.max.is_exclusive(),
            Ordering::Less => false,
        }
    }

    /// True for members below the range's lower end.
    pub fn below_min(&self, member: &[u8]) -> bool {
        match &self.min {
            LexBound::Lowest => false,
            LexBound::Highest => true,
            LexBound::Inclusive(m) => member < &m[..],
            LexBound::Exclusive(m) => member <= &m[..],
        }
    }

    /// True for members at or below the range's upper end.
    pub fn within_max(&self, member: &[u8]) -> bool {
        match &self.max {
            LexBound::Lowest => false,
            LexBound::Highest => true,
            LexBound::Inclusive(m) => member <= &m[..],
            LexBound::Exclusive(m) => member < &m[..],
        }
    }

    pub fn contains(&self, member: &[u8]) -> bool {
        !self.below_min(member) && self.within_max(member)
    }
}

impl ZSet {
    /// An empty set for a new key, encoded as Redis would for a write of `size_hint` members
    /// whose longest is `member_len_max` bytes.
    pub fn new(config: &ZSetConfig, size_hint: usize, member_len_max: usize) -> ZSet {
        let encoding = if size_hint > 0 && config.fits(size_hint, member_len_max) {
            Encoding::Listpack(Listpack::new())
        } else {
            Encoding::Skiplist(Box::new(Full::new(&config.hasher)))
        };
        ZSet { encoding }
    }

    /// A set built from entries sorted by (score, member) with unique members, for the
    /// destination of a store command: compact when it fits.
    pub fn from_sorted(entries: Vec<(Bytes, f64)>, config: &ZSetConfig) -> ZSet {
        debug_assert!(entries
            .windows(2)
            .all(|w| entry_less(w[0].1, &w[0].0, w[1].1, &w[1].0)));
        let member_len_max = entries.iter().map(|(m, _)| m.len()).max().unwrap_or(0);
        let mut zset = ZSet::new(config, entries.len(), member_len_max);
        match &mut zset.encoding {
            Encoding::Listpack(pack) => {
                for (member, score) in &entries {
                    pack.insert(member, *score);
                }
            }
            Encoding::Skiplist(full) => {
                for (member, score) in entries {
                    full.insert_new(member, score);
                }
            }
        }
        zset
    }

    pub fn encoding(&self) -> &'static str {
        match &self.encoding {
            Encoding::Listpack(_) => "listpack",
            Encoding::Skiplist(_) => "skiplist",
        }
    }

    pub fn size_bytes(&self) -> usize {
        match &self.encoding {
            Encoding::Listpack(pack) => pack.buffer_bytes(),
            Encoding::Skiplist(full) => {
                SKIPLIST_BASE_BYTES
                    + full.member_bytes
                    + full.order.len() * SKIPLIST_ENTRY_OVERHEAD_BYTES
            }
        }
    }

    pub fn len(&self) -> usize {
        match &self.encoding {
            Encoding::Listpack(pack) => pack.len(),
            Encoding::Skiplist(full) => full.order.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Converts to the full encoding ahead of a write of `size_hint` members that could not
    /// fit a listpack, as Redis does before a large ZADD.
    pub fn reserve(&mut self, size_hint: usize, config: &ZSetConfig) {
        if size_hint > config.listpack_entries {
            self.convert(config);
        }
    }

    fn convert(&mut self, config: &ZSetConfig) {
        let Encoding::Listpack(pack) = &self.encoding else {
            return;
        };
        let mut full = Full::new(&config.hasher);
        for entry in pack.iter() {
            full.insert_new(Bytes::copy_from_slice(entry.member), entry.score);
        }
        assert_eq!(full.order.len(), pack.len());
        self.encoding = Encoding::Skiplist(Box::new(full));
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match &self.encoding {
            Encoding::Listpack(pack) => pack.find(member).map(|(_, e)| e.score),
            Encoding::Skiplist(full) => full.scores.get(member).copied(),
        }
    }

    /// Sets `member`'s score, adding it if absent; returns the previous score. An equal score
    /// (including -0 for 0) changes nothing, as in Redis. A new member that would outgrow the
    /// listpack thresholds converts the set to the full encoding first.
    pub fn insert(&mut self, member: &[u8], score: f64, config: &ZSetConfig) -> Option<f64> {
        assert!(!score.is_nan(), "callers refuse NaN scores");
        if let Encoding::Listpack(pack) = &mut self.encoding {
            match pack.find(member).map(|(_, e)| e.score) {
                Some(previous) if previous == score => return Some(previous),
                Some(_) => {
                    let previous = pack.remove(member);
                    pack.insert(member, score);
                    return previous;
                }
                None if config.fits(pack.len() + 1, member.len()) => {
                    pack.insert(member, score);
                    return None;
                }
                None => self.convert(config),
            }
        }
        let Encoding::Skiplist(full) = &mut self.encoding else {
            unreachable!("converted above");
        };
        full.insert(member, score)
    }

    /// Removes `member`; its score when it was present.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        match &mut self.encoding {
            Encoding::Listpack(pack) => pack.remove(member),
            Encoding::Skiplist(full) => full.remove(member),
        }
    }

    /// The member's 0-based rank in ascending order.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        match &self.encoding {
            Encoding::Listpack(pack) => pack.find(member).map(|(rank, _)| rank),
            Encoding::Skiplist(full) => {
                let score = *full.scores.get(member)?;
                let rank = full.order.rank(member, score);
                assert!(rank.is_some(), "the table and the order agree");
                rank
            }
        }
    }

    /// How many leading entries satisfy `below`, which must hold for a prefix of the order.
    fn count_while(&self, below: impl FnMut(f64, &[u8]) -> bool) -> usize {
        match &self.encoding {
            Encoding::Listpack(pack) => pack.count_while(below),
            Encoding::Skiplist(full) => full.order.count_while(below),
        }
    }

    /// The ranks of the entries whose scores fall in `range`.
    pub fn score_span(&self, range: &ScoreRange) -> Range<usize> {
        if range.is_empty() {
            return 0..0;
        }
        let start = self.count_while(|score, _| range.below_min(score));
        let end = self.count_while(|score, _| range.within_max(score));
        start..end.max(start)
    }

    /// The ranks of the entries whose members fall in `range`. Meaningful when every score is
    /// equal, as Redis documents; otherwise the ranks are some consistent run of entries.
    pub fn lex_span(&self, range: &LexRange) -> Range<usize> {
        if range.is_empty() {
            return 0..0;
        }
        let start = self.count_while(|_, member| range.below_min(member));
        let end = self.count_while(|_, member| range.within_max(member));
        start..end.max(start)
    }

    /// The entry at 0-based `rank`, which must be below `len()`.
    pub fn get(&self, rank: usize) -> (Bytes, f64) {
        assert!(rank < self.len());
        match &self.encoding {
            Encoding::Listpack(pack) => {
                let mut one = pack.entries(rank..rank + 1);
                one.pop().expect("the rank is in range")
            }
            Encoding::Skiplist(full) => full.order.get(rank),
        }
    }

    /// The entries whose ranks fall in `ranks`, ascending, or descending when `reverse`.
    pub fn entries(&self, ranks: Range<usize>, reverse: bool) -> Vec<(Bytes, f64)> {
        assert!(ranks.end <= self.len());
        match &self.encoding {
            Encoding::Listpack(pack) => {
                let mut entries = pack.entries(ranks);
                if reverse {
                    entries.reverse();
                }
                entries
            }
            Encoding::Skiplist(full) => full.order.entries(ranks, reverse),
        }
    }

    /// Every entry in ascending order.
    pub fn all(&self) -> Vec<(Bytes, f64)> {
        self.entries(0..self.len(), false)
    }

    /// Visits every entry in ascending order without copying members out of a skiplist.
    pub fn for_each(&self, mut visit: impl FnMut(&[u8], f64)) {
        match &self.encoding {
            Encoding::Listpack(pack) => pack.iter().for_each(|e| visit(e.member, e.score)),
            Encoding::Skiplist(full) => full.order.for_each(|m, s| visit(m, s)),
        }
    }

    /// Removes the entries whose ranks fall in `ranks`; returns them in ascending order.
    pub fn remove_ranks(&mut self, ranks: Range<usize>) -> Vec<(Bytes, f64)> {
        assert!(ranks.end <= self.len());
        match &mut self.encoding {
            Encoding::Listpack(pack) => pack.remove_ranks(ranks),
            Encoding::Skiplist(full) => full.remove_ranks(ranks),
        }
    }

    /// A uniformly chosen entry; `None` when empty.
    pub fn random(&self, rng: &mut impl Rng) -> Option<(Bytes, f64)> {
        if self.is_empty() {
            return None;
        }
        Some(self.get(rng.gen_range(0..self.len())))
    }

    /// One step of ZSCAN. A listpack is small and returns whole with cursor 0; the full
    /// encoding walks its table's buckets with the reverse-binary cursor, visiting buckets
    /// until `count` entries were seen (at most `steps_max` buckets), and returns the next
    /// cursor (0 when done).
    pub fn scan(
        &self,
        cursor: u64,
        count: usize,
        steps_max: usize,
        mut visit: impl FnMut(&[u8], f64),
    ) -> u64 {
        assert!(count > 0 && steps_max > 0);
        match &self.encoding {
            Encoding::Listpack(pack) => {
                pack.iter().for_each(|e| visit(e.member, e.score));
                0
            }
            Encoding::Skiplist(full) => {
                let mut cursor = cursor;
                let mut seen = 0;
                for _ in 0..steps_max {
                    cursor = full.scores.scan(cursor, |member, score| {
                        seen += 1;
                        visit(member, *score);
                    });
                    if cursor == 0 || seen >= count {
                        break;
                    }
                }
                cursor
            }
        }
    }
}

impl Full {
    fn new(hasher: &RandomState) -> Full {
        Full {
            order: SkipList::new(),
            scores: Table::new(hasher.clone()),
            hasher: hasher.clone(),
            member_bytes: 0,
        }
    }

    /// A member's skiplist level: 1 plus one per pair of trailing zero bits of its seeded
    /// hash, which gives Redis's p = 1/4 without a random generator, replayably.
    fn level_of(&self, member: &[u8]) -> usize {
        let hash = self.hasher.hash_one(member);
        1 + (hash.trailing_zeros() as usize / 2).min(LEVELS_MAX - 1)
    }

    /// Adds a member known to be absent.
    fn insert_new(&mut self, member: Bytes, score: f64) {
        let level = self.level_of(&member);
        self.member_bytes += member.len();
        let previous = self.scores.insert_shared(member.clone(), score);
        assert!(previous.is_none(), "the member was absent");
        self.order.insert(member, score, level);
    }

    fn insert(&mut self, member: &[u8], score: f64) -> Option<f64> {
        let level = self.level_of(member);
        match self.scores.get_mut(member) {
            Some(current) => {
                let previous = *current;
                if previous != score {
                    *current = score;
                    self.order.update_score(member, previous, score, level);
                }
                Some(previous)
            }
            None => {
                self.insert_new(Bytes::copy_from_slice(member), score);
                None
            }
        }
    }

    fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let (_, score) = self.scores.remove(member)?;
        self.order.remove(member, score);
        assert!(self.member_bytes >= member.len());
        self.member_bytes -= member.len();
        Some(score)
    }

    fn remove_ranks(&mut self, ranks: Range<usize>) -> Vec<(Bytes, f64)> {
        let removed = self.order.remove_ranks(ranks);
        for (member, _) in &removed {
            let gone = self.scores.remove(member);
            assert!(gone.is_some(), "the table and the order agree");
            self.member_bytes -= member.len();
        }
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use std::collections::{BTreeMap, BTreeSet};

    /// A score with a total order, for the model (scores are never NaN).
    #[derive(Clone, Copy, Debug, PartialEq)]
    struct OrderedScore(f64);

    impl Eq for OrderedScore {}

    impl PartialOrd for OrderedScore {
        fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
            Some(self.cmp(other))
        }
    }

    impl Ord for OrderedScore {
        fn cmp(&self, other: &Self) -> Ordering {
            self.0.partial_cmp(&other.0).expect("no NaN")
        }
    }

    /// The reference: the order as a BTreeSet, the scores as a map, and the encoding the set
    /// should report.
    #[derive(Default)]
    struct Model {
        order: BTreeSet<(OrderedScore, Vec<u8>)>,
        scores: BTreeMap<Vec<u8>, f64>,
        full: bool,
    }

    impl Model {
        fn insert(&mut self, member: &[u8], score: f64, config: &ZSetConfig) -> Option<f64> {
            let previous = self.scores.get(member).copied();
            match previous {
                Some(old) if old == score => return previous,
                Some(old) => {
                    self.order.remove(&(OrderedScore(old), member.to_vec()));
                }
                None => {
                    if !config.fits(self.scores.len() + 1, member.len()) {
                        self.full = true;
                    }
                }
            }
            self.scores.insert(member.to_vec(), score);
            self.order.insert((OrderedScore(score), member.to_vec()));
            previous
        }

        fn remove(&mut self, member: &[u8]) -> Option<f64> {
            let score = self.scores.remove(member)?;
            self.order.remove(&(OrderedScore(score), member.to_vec()));
            Some(score)
        }

        fn entries(&self) -> Vec<(Bytes, f64)> {
            self.order
                .iter()
                .map(|(s, m)| (Bytes::copy_from_slice(m), s.0))
                .collect()
        }
    }

    #[derive(Clone, Debug)]
    enum Op {
        Insert(usize, i8),
        Remove(usize),
        RemoveRanks(usize, usize),
        Fresh,
    }

    const MEMBERS: &[&str] = &["a", "b", "c", "dd", "ee", "f", "ggg", "hhhh", "i", "jjjjjj"];

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (0..MEMBERS.len(), -4i8..4).prop_map(|(m, s)| Op::Insert(m, s)),
            2 => (0..MEMBERS.len()).prop_map(Op::Remove),
            1 => (0usize..12, 0usize..4).prop_map(|(a, n)| Op::RemoveRanks(a, n)),
            1 => Just(Op::Fresh),
        ]
    }

    fn config() -> ZSetConfig {
        ZSetConfig {
            listpack_entries: 5,
            listpack_value_bytes: 4,
            hasher: RandomState::with_seeds(1, 2, 3, 4),
        }
    }

    fn score_ranges() -> Vec<ScoreRange> {
        let mut ranges = Vec::new();
        for min in [-5.0, -2.0, 0.0, 1.5, f64::NEG_INFINITY, f64::INFINITY] {
            for max in [-1.0, 0.0, 2.0, 3.0, f64::INFINITY] {
                for (min_exclusive, max_exclusive) in
                    [(false, false), (true, false), (false, true), (true, true)]
                {
                    ranges.push(ScoreRange {
                        min,
                        max,
                        min_exclusive,
                        max_exclusive,
                    });
                }
            }
        }
        ranges
    }

    fn lex_ranges() -> Vec<LexRange> {
        let bounds = [
            LexBound::Lowest,
            LexBound::Highest,
            LexBound::Inclusive(Bytes::from_static(b"b")),
            LexBound::Exclusive(Bytes::from_static(b"b")),
            LexBound::Inclusive(Bytes::from_static(b"ee")),
            LexBound::Exclusive(Bytes::from_static(b"f")),
            LexBound::Inclusive(Bytes::from_static(b"")),
        ];
        let mut ranges = Vec::new();
        for min in &bounds {
            for max in &bounds {
                ranges.push(LexRange {
                    min: min.clone(),
                    max: max.clone(),
                });
            }
        }
        ranges
    }

    /// Everything the set answers, compared with the model.
    fn check(zset: &ZSet, model: &Model, same_scores: bool) {
        let expected = model.entries();
        assert_eq!(zset.len(), expected.len());
        assert_eq!(zset.all(), expected);
        let reversed: Vec<_> = expected.iter().rev().cloned().collect();
        assert_eq!(zset.entries(0..zset.len(), true), reversed);
        let encoding = if model.full { "skiplist" } else { "listpack" };
        assert_eq!(zset.encoding(), encoding);
        for member in MEMBERS {
            let member = member.as_bytes();
            assert_eq!(zset.score(member), model.scores.get(member).copied());
            let rank = expected.iter().position(|(m, _)| m == member);
            assert_eq!(zset.rank(member), rank);
        }
        for (rank, entry) in expected.iter().enumerate() {
            assert_eq!(&zset.get(rank), entry);
        }
        for range in score_ranges() {
            let span = zset.score_span(&range);
            let wanted: Vec<_> = expected
                .iter()
                .filter(|(_, s)| range.contains(*s))
                .cloned()
                .collect();
            assert_eq!(zset.entries(span, false), wanted, "{range:?}");
        }
        if same_scores {
            for range in lex_ranges() {
                let span = zset.lex_span(&range);
                let wanted: Vec<_> = expected
                    .iter()
                    .filter(|(m, _)| range.contains(m))
                    .cloned()
                    .collect();
                assert_eq!(zset.entries(span, false), wanted, "{range:?}");
            }
        }
        if let Encoding::Skiplist(full) = &zset.encoding {
            full.order.check();
            assert_eq!(full.scores.len(), full.order.len());
        }
    }

    fn apply(zset: &mut ZSet, model: &mut Model, op: &Op, same_scores: bool) {
        let config = config();
        match op {
            Op::Insert(m, s) => {
                let member = MEMBERS[*m].as_bytes();
                let score = if same_scores { 0.0 } else { *s as f64 / 2.0 };
                let expected = model.insert(member, score, &config);
                assert_eq!(zset.insert(member, score, &config), expected);
            }
            Op::Remove(m) => {
                let member = MEMBERS[*m].as_bytes();
                assert_eq!(zset.remove(member), model.remove(member));
            }
            Op::RemoveRanks(start, count) => {
                let start = (*start).min(zset.len());
                let end = (start + count).min(zset.len());
                let expected: Vec<_> = model.entries()[start..end].to_vec();
                for (member, _) in &expected {
                    model.remove(member);
                }
                assert_eq!(zset.remove_ranks(start..end), expected);
            }
            Op::Fresh => {
                *zset = ZSet::new(&config, 1, 1);
                *model = Model::default();
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn matches_the_model_across_both_encodings(
            same_scores in any::<bool>(),
            ops in prop::collection::vec(op(), 1..80),
        ) {
            let mut zset = ZSet::new(&config(), 1, 1);
            let mut model = Model::default();
            for op in &ops {
                apply(&mut zset, &mut model, op, same_scores);
                check(&zset, &model, same_scores);
            }
        }
    }

    #[test]
    fn a_big_skiplist_keeps_ranks_and_ranges() {
        let config = ZSetConfig {
            listpack_entries: 0,
            listpack_value_bytes: 0,
            hasher: RandomState::with_seeds(5, 6, 7, 8),
        };
        let mut zset = ZSet::new(&config, 1, 1);
        let mut model = Model {
            full: true,
            ..Model::default()
        };
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for _ in 0..3000 {
            let member = format!("m{}", rng.gen_range(0..1000)).into_bytes();
            if rng.gen_bool(0.2) {
                assert_eq!(zset.remove(&member), model.remove(&member));
            } else {
                let score = rng.gen_range(0..100) as f64;
                assert_eq!(
                    zset.insert(&member, score, &config),
                    model.insert(&member, score, &config)
                );
            }
        }
        assert_eq!(zset.all(), model.entries());
        let range = ScoreRange::parse(b"(10", b"20").unwrap();
        let span = zset.score_span(&range);
        let count = model
            .scores
            .values()
            .filter(|s| range.contains(**s))
            .count();
        assert_eq!(span.len(), count);
        let Encoding::Skiplist(full) = &zset.encoding else {
            panic!("starts full with zero thresholds");
        };
        full.order.check();
    }

    #[test]
    fn ranges_parse_like_redis() {
        let range = ScoreRange::parse(b"(1.5", b"+inf").unwrap();
        assert!(range.min_exclusive && !range.max_exclusive);
        assert_eq!(range.max, f64::INFINITY);
        assert!(ScoreRange::parse(b"-inf", b"(-inf").unwrap().is_empty());
        assert!(ScoreRange::parse(b"nan", b"1").is_none());
        assert!(ScoreRange::parse(b"x", b"1").is_none());
        assert!(ScoreRange::parse(b"(", b"1").is_none());
        assert!(LexRange::parse(b"-", b"+").is_some());
        assert!(LexRange::parse(b"+", b"+").unwrap().is_empty());
        assert!(LexRange::parse(b"[a", b"(a").unwrap().is_empty());
        assert!(!LexRange::parse(b"[a", b"[a").unwrap().is_empty());
        for bad in [&b"a"[..], b"", b"+x", b"-x"] {
            assert!(LexRange::parse(bad, b"+").is_none());
        }
    }

    #[test]
    fn a_new_set_starts_in_the_encoding_its_first_write_needs() {
        let config = config();
        assert_eq!(ZSet::new(&config, 5, 4).encoding(), "listpack");
        assert_eq!(ZSet::new(&config, 6, 1).encoding(), "skiplist");
        assert_eq!(ZSet::new(&config, 1, 5).encoding(), "skiplist");
        let entries = vec![
            (Bytes::from_static(b"a"), 1.0),
            (Bytes::from_static(b"b"), 2.0),
        ];
        let stored = ZSet::from_sorted(entries.clone(), &config);
        assert_eq!(stored.encoding(), "listpack");
        assert_eq!(stored.all(), entries);
        let mut zero = config.clone();
        zero.listpack_entries = 1;
        assert_eq!(ZSet::from_sorted(entries, &zero).encoding(), "skiplist");
    }

    #[test]
    fn equal_scores_keep_the_stored_one() {
        let config = config();
        let mut zset = ZSet::new(&config, 1, 1);
        zset.insert(b"a", -0.0, &config);
        assert_eq!(zset.insert(b"a", 0.0, &config), Some(-0.0));
        assert!(zset.score(b"a").unwrap().is_sign_negative());
    }
}
