//! The reference model of one cluster client's keys. Each client owns its keys, and sends
//! one command at a time, so every reply is checked against what that client itself did;
//! the cluster may serve any command from any node, during migrations and failures, and
//! must still look like one Redis to it.
//!
//! A reply that never came (a crash, a partition, a deadline) leaves its write in doubt: it
//! may have been applied, and, since a node may still hold it queued, it may yet be applied
//! later, up to [`PENDING_HORIZON_MS`] after it was sent. The model then admits every value
//! the key could hold. Values are unique per write (`c<client>-<seq>`), so a read tells
//! which write it saw.
//!
//! Keys come in three kinds: plain strings (SET, GET, DEL), counters (INCR, GET) and pairs
//! (two keys of one hash tag, written together by MSET and read by MGET, which must always
//! show the two halves of the same write).

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;

/// How long a write whose reply was lost may still be applied after it was sent: longer
/// than any queue a node keeps a command in (a MIGRATE holds a key's store for at most its
/// timeout).
pub const PENDING_HORIZON_MS: u64 = 10_000;
/// How many writes in doubt a key remembers; past that its value is no longer checked
/// until a write is acknowledged.
const PENDING_MAX: usize = 32;

/// What a string key may hold. `None` is "absent".
#[derive(Clone, Debug, Default)]
pub struct StringKey {
    /// What the key held at its last acknowledged operation, or several candidates when
    /// writes before it are in doubt.
    possible: BTreeSet<Option<Bytes>>,
    /// Writes in doubt, with the time after which they can no longer be applied.
    pending: Vec<(Option<Bytes>, u64)>,
    /// Too many writes in doubt: anything goes until the next acknowledged write.
    loose: bool,
}

/// What a counter may hold: a value in `lo..=hi` (absent counts as 0).
#[derive(Clone, Debug, Default)]
pub struct Counter {
    lo: i64,
    hi: i64,
    /// INCRs in doubt, by the time after which they can no longer be applied.
    pending: Vec<u64>,
}

/// One client's keys, by name.
#[derive(Clone, Debug, Default)]
pub struct Model {
    pub strings: BTreeMap<Bytes, StringKey>,
    pub counters: BTreeMap<Bytes, Counter>,
}

impl StringKey {
    fn absent() -> StringKey {
        StringKey {
            possible: BTreeSet::from([None]),
            pending: Vec::new(),
            loose: false,
        }
    }

    /// Every value the key may hold at `now_ms`.
    pub fn candidates(&self, now_ms: u64) -> BTreeSet<Option<Bytes>> {
        let mut all = self.possible.clone();
        for (value, until_ms) in &self.pending {
            if *until_ms >= now_ms {
                all.insert(value.clone());
            }
        }
        all
    }

    /// Whether the key may be absent, and whether it may be present, at `now_ms`.
    pub fn may_be(&self, now_ms: u64) -> (bool, bool) {
        if self.loose {
            return (true, true);
        }
        let candidates = self.candidates(now_ms);
        let absent = candidates.contains(&None);
        let present = candidates.iter().any(Option::is_some);
        (absent, present)
    }

    fn expire(&mut self, now_ms: u64) {
        self.pending.retain(|(_, until_ms)| *until_ms >= now_ms);
    }

    /// A write was acknowledged: the key holds `value`, or a write in doubt applied after it.
    pub fn acknowledged(&mut self, value: Option<Bytes>, now_ms: u64) {
        self.expire(now_ms);
        self.possible = BTreeSet::from([value]);
        self.loose = self.pending.len() > PENDING_MAX;
    }

    /// A write's reply was lost: it may have been applied, now or up to the horizon.
    pub fn in_doubt(&mut self, value: Option<Bytes>, sent_ms: u64, now_ms: u64) {
        self.expire(now_ms);
        self.possible.insert(value.clone());
        self.pending.push((value, sent_ms + PENDING_HORIZON_MS));
        if self.pending.len() > PENDING_MAX {
            self.loose = true;
        }
    }

    /// A read saw `got`; an error if the key could not have held it.
    pub fn read(&mut self, got: Option<Bytes>, now_ms: u64) -> Result<(), String> {
        self.expire(now_ms);
        if !self.loose && !self.candidates(now_ms).contains(&got) {
            return Err(format!(
                "read {} but the key could only hold {}",
                show_value(&got),
                show_set(&self.candidates(now_ms))
            ));
        }
        if !self.loose {
            self.possible = BTreeSet::from([got]);
        }
        Ok(())
    }

    /// DEL replied `removed` (0 or 1); an error if that contradicts the model.
    pub fn deleted(&mut self, removed: i64, now_ms: u64) -> Result<(), String> {
        self.expire(now_ms);
        let (absent, present) = self.may_be(now_ms);
        let admitted = match removed {
            0 => absent,
            1 => present,
            _ => false,
        };
        if !admitted {
            return Err(format!(
                "DEL removed {removed} but the key could only hold {}",
                show_set(&self.candidates(now_ms))
            ));
        }
        self.acknowledged(None, now_ms);
        Ok(())
    }
}

impl Counter {
    fn expire(&mut self, now_ms: u64) {
        self.pending.retain(|until_ms| *until_ms >= now_ms);
    }

    /// The bounds the counter may lie in.
    pub fn bounds(&self) -> (i64, i64) {
        (self.lo, self.hi)
    }

    /// INCR replied `value`.
    pub fn incremented(&mut self, value: i64, now_ms: u64) -> Result<(), String> {
        self.expire(now_ms);
        if value < self.lo + 1 || value > self.hi + 1 {
            return Err(format!(
                "INCR gave {value} but the counter was in {}..={}",
                self.lo, self.hi
            ));
        }
        self.settle(value);
        Ok(())
    }

    /// An INCR's reply was lost.
    pub fn in_doubt(&mut self, sent_ms: u64, now_ms: u64) {
        self.expire(now_ms);
        self.hi += 1;
        self.pending.push(sent_ms + PENDING_HORIZON_MS);
    }

    /// A read saw `value` (0 for absent).
    pub fn read(&mut self, value: i64, now_ms: u64) -> Result<(), String> {
        self.expire(now_ms);
        if value < self.lo || value > self.hi {
            return Err(format!(
                "read {value} but the counter was in {}..={}",
                self.lo, self.hi
            ));
        }
        self.settle(value);
        Ok(())
    }

    /// The counter was `value` at the last reply; INCRs in doubt may still add to it.
    fn settle(&mut self, value: i64) {
        self.lo = value;
        self.hi = value + self.pending.len() as i64;
        assert!(self.lo <= self.hi);
    }
}

impl Model {
    /// A model whose keys are all absent.
    pub fn new(strings: &[Bytes], counters: &[Bytes]) -> Model {
        Model {
            strings: strings
                .iter()
                .map(|key| (key.clone(), StringKey::absent()))
                .collect(),
            counters: counters
                .iter()
                .map(|key| (key.clone(), Counter::default()))
                .collect(),
        }
    }

    pub fn string(&mut self, key: &Bytes) -> &mut StringKey {
        self.strings
            .get_mut(key)
            .unwrap_or_else(|| panic!("{key:?} is not one of this client's keys"))
    }

    pub fn counter(&mut self, key: &Bytes) -> &mut Counter {
        self.counters
            .get_mut(key)
            .unwrap_or_else(|| panic!("{key:?} is not one of this client's counters"))
    }
}

/// The write sequence number in a value `c<client>-<seq>[a|b]`, to match pair halves.
pub fn write_of(value: &Bytes) -> &[u8] {
    match value.last() {
        Some(b'a' | b'b') => &value[..value.len() - 1],
        _ => value,
    }
}

/// The two halves an MGET of a pair returned must come from one MSET (or both be absent).
pub fn pair_matches(a: &Option<Bytes>, b: &Option<Bytes>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => write_of(a) == write_of(b) && a != b,
        _ => false,
    }
}

pub fn show_value(value: &Option<Bytes>) -> String {
    match value {
        None => "(absent)".to_string(),
        Some(bytes) => format!("{:?}", String::from_utf8_lossy(bytes)),
    }
}

fn show_set(values: &BTreeSet<Option<Bytes>>) -> String {
    let shown: Vec<String> = values.iter().map(show_value).collect();
    format!("[{}]", shown.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> Option<Bytes> {
        Some(Bytes::from(text.to_string()))
    }

    #[test]
    fn acknowledged_writes_decide_reads() {
        let mut key = StringKey::absent();
        assert!(key.read(None, 0).is_ok());
        key.acknowledged(v("c0-1"), 1);
        assert!(key.read(v("c0-1"), 2).is_ok());
        assert!(key.read(None, 3).is_err(), "a lost key is caught");
        assert!(key.read(v("c0-0"), 3).is_err(), "an old value is caught");
    }

    #[test]
    fn a_write_in_doubt_may_apply_until_its_horizon() {
        let mut key = StringKey::absent();
        key.acknowledged(v("c0-1"), 0);
        key.in_doubt(v("c0-2"), 10, 20);
        key.acknowledged(v("c0-3"), 30);
        // The lost write may land after the acknowledged one...
        assert!(key.clone().read(v("c0-2"), 40).is_ok());
        assert!(key.clone().read(v("c0-3"), 40).is_ok());
        // ...but not once its horizon has passed, and never the value before both.
        assert!(key.clone().read(v("c0-1"), 40).is_err());
        let late = 10 + PENDING_HORIZON_MS + 1;
        assert!(key.clone().read(v("c0-2"), late).is_err());
    }

    #[test]
    fn deletes_are_checked_against_presence() {
        let mut key = StringKey::absent();
        assert!(key.clone().deleted(1, 0).is_err());
        assert!(key.deleted(0, 0).is_ok());
        key.acknowledged(v("c0-1"), 1);
        assert!(key.clone().deleted(0, 2).is_err());
        key.in_doubt(None, 2, 3);
        assert!(
            key.clone().deleted(0, 4).is_ok(),
            "the lost DEL may have run"
        );
        assert!(key.deleted(1, 4).is_ok());
        assert!(key.read(None, 5).is_ok());
    }

    #[test]
    fn counters_admit_lost_increments() {
        let mut counter = Counter::default();
        assert!(counter.incremented(1, 0).is_ok());
        assert!(counter.clone().incremented(3, 1).is_err(), "a skipped INCR");
        assert!(
            counter.clone().incremented(1, 1).is_err(),
            "a repeated value"
        );
        counter.in_doubt(1, 2);
        assert!(counter.clone().incremented(2, 3).is_ok());
        assert!(counter.clone().incremented(3, 3).is_ok());
        assert!(counter.clone().read(0, 3).is_err(), "a counter lost");
        assert!(counter.read(2, 3).is_ok());
    }

    #[test]
    fn pair_halves_come_from_one_write() {
        assert!(pair_matches(&v("c0-4a"), &v("c0-4b")));
        assert!(pair_matches(&None, &None));
        assert!(!pair_matches(&v("c0-4a"), &v("c0-5b")));
        assert!(!pair_matches(&v("c0-4a"), &None));
        assert!(!pair_matches(&v("c0-4a"), &v("c0-4a")));
    }
}
