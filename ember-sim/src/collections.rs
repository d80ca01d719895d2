//! The reference model of one data client's keys of every type (strings, lists, hashes,
//! sets, sorted sets), written from Redis's documentation and not from ember's code. Keys
//! carry no TTL in the types scenario and only their owner writes them, so every reply is
//! exact: `apply` takes a command as sent on the wire and returns the one reply Redis gives.
//!
//! Collections that become empty are deleted, as in Redis. Sorted sets order by (score,
//! member bytes); scores are integers and halves, so sums stay exact in f64.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use bytes::Bytes;

use crate::checkers::replies::{wrongtype, Want};
use crate::oracle::parse_redis_i64;

/// One key's value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Str(Bytes),
    List(VecDeque<Bytes>),
    Hash(BTreeMap<Bytes, Bytes>),
    Set(BTreeSet<Bytes>),
    ZSet(BTreeMap<Bytes, f64>),
}

/// One client's keys.
#[derive(Debug, Default)]
pub struct Store {
    entries: BTreeMap<Bytes, Value>,
}

impl Store {
    pub fn get(&self, key: &[u8]) -> Option<&Value> {
        self.entries.get(key)
    }

    /// Runs the command `args` (name first, upper case) and returns Redis's reply.
    pub fn apply(&mut self, args: &[Bytes]) -> Want {
        assert!(!args.is_empty());
        let name = std::str::from_utf8(&args[0]).expect("command names are ASCII");
        let rest = &args[1..];
        let reply = match name {
            "SET" | "GET" | "DEL" | "EXISTS" | "TYPE" => self.keys(name, rest),
            "LPUSH" | "RPUSH" | "LPOP" | "RPOP" | "LRANGE" | "LLEN" | "LINDEX" | "LMOVE"
            | "LTRIM" | "LREM" => self.list(name, rest),
            "HSET" | "HGET" | "HDEL" | "HLEN" | "HGETALL" | "HEXISTS" | "HINCRBY" | "HMGET" => {
                self.hash(name, rest)
            }
            "SADD" | "SREM" | "SCARD" | "SISMEMBER" | "SMEMBERS" | "SMOVE" | "SUNIONSTORE"
            | "SINTERSTORE" | "SDIFFSTORE" => self.set(name, rest),
            _ => self.zset(name, rest),
        };
        debug_assert!(self.entries.values().all(|value| !is_empty(value)));
        reply
    }

    fn keys(&mut self, name: &str, rest: &[Bytes]) -> Want {
        match name {
            "SET" => {
                self.entries
                    .insert(rest[0].clone(), Value::Str(rest[1].clone()));
                Want::Status("OK")
            }
            "GET" => match self.entries.get(&rest[0]) {
                None => Want::Nil,
                Some(Value::Str(bytes)) => Want::Bulk(bytes.clone()),
                Some(_) => wrongtype(),
            },
            "DEL" => {
                let removed = rest
                    .iter()
                    .filter(|key| self.entries.remove(*key).is_some())
                    .count();
                Want::Int(count(removed))
            }
            "EXISTS" => Want::Int(count(
                rest.iter()
                    .filter(|key| self.entries.contains_key(*key))
                    .count(),
            )),
            _ => Want::Status(match self.entries.get(&rest[0]) {
                None => "none",
                Some(Value::Str(_)) => "string",
                Some(Value::List(_)) => "list",
                Some(Value::Hash(_)) => "hash",
                Some(Value::Set(_)) => "set",
                Some(Value::ZSet(_)) => "zset",
            }),
        }
    }

    /// The key's value if it is absent or a list.
    fn load_list(&self, key: &Bytes) -> Result<VecDeque<Bytes>, Want> {
        match self.entries.get(key) {
            None => Ok(VecDeque::new()),
            Some(Value::List(list)) => Ok(list.clone()),
            Some(_) => Err(wrongtype()),
        }
    }

    fn store(&mut self, key: &Bytes, value: Value) {
        if is_empty(&value) {
            self.entries.remove(key);
        } else {
            self.entries.insert(key.clone(), value);
        }
    }

    fn list(&mut self, name: &str, rest: &[Bytes]) -> Want {
        let key = &rest[0];
        let mut list = match self.load_list(key) {
            Ok(list) => list,
            Err(error) => return error,
        };
        let reply = match name {
            "LPUSH" | "RPUSH" => {
                for item in &rest[1..] {
                    if name == "LPUSH" {
                        list.push_front(item.clone());
                    } else {
                        list.push_back(item.clone());
                    }
                }
                Want::Int(count(list.len()))
            }
            "LPOP" | "RPOP" => pop(&mut list, name == "LPOP", rest.get(1).map(int)),
            "LRANGE" => {
                let range = rank_range(list.len(), int(&rest[1]), int(&rest[2]));
                Want::Array(range.map(|i| Want::Bulk(list[i].clone())).collect())
            }
            "LLEN" => Want::Int(count(list.len())),
            "LINDEX" => {
                let index = int(&rest[1]);
                let index = if index < 0 {
                    index + count(list.len())
                } else {
                    index
                };
                usize::try_from(index)
                    .ok()
                    .and_then(|i| list.get(i))
                    .map_or(Want::Nil, |item| Want::Bulk(item.clone()))
            }
            "LMOVE" => return self.lmove(rest, list),
            "LTRIM" => {
                let range = rank_range(list.len(), int(&rest[1]), int(&rest[2]));
                list = list.range(range).cloned().collect();
                Want::Status("OK")
            }
            _ => lrem(&mut list, int(&rest[1]), &rest[2]),
        };
        self.store(key, Value::List(list));
        reply
    }

    /// LMOVE source target LEFT|RIGHT LEFT|RIGHT: a missing source answers nil before the
    /// target's type is looked at.
    fn lmove(&mut self, rest: &[Bytes], mut source: VecDeque<Bytes>) -> Want {
        let (source_key, target_key) = (&rest[0], &rest[1]);
        if source.is_empty() {
            return Want::Nil;
        }
        let mut target = match self.load_list(target_key) {
            Ok(target) => target,
            Err(error) => return error,
        };
        let from_left = &rest[2][..] == b"LEFT";
        let to_left = &rest[3][..] == b"LEFT";
        let item = if from_left {
            source.pop_front()
        } else {
            source.pop_back()
        }
        .expect("not empty");
        let destination = if source_key == target_key {
            &mut source
        } else {
            &mut target
        };
        if to_left {
            destination.push_front(item.clone());
        } else {
            destination.push_back(item.clone());
        }
        if source_key != target_key {
            self.store(target_key, Value::List(target));
        }
        self.store(source_key, Value::List(source));
        Want::Bulk(item)
    }

    fn load_hash(&self, key: &Bytes) -> Result<BTreeMap<Bytes, Bytes>, Want> {
        match self.entries.get(key) {
            None => Ok(BTreeMap::new()),
            Some(Value::Hash(hash)) => Ok(hash.clone()),
            Some(_) => Err(wrongtype()),
        }
    }

    fn hash(&mut self, name: &str, rest: &[Bytes]) -> Want {
        let key = &rest[0];
        let mut hash = match self.load_hash(key) {
            Ok(hash) => hash,
            Err(error) => return error,
        };
        let reply = match name {
            "HSET" => {
                let added = rest[1..]
                    .chunks(2)
                    .filter(|pair| hash.insert(pair[0].clone(), pair[1].clone()).is_none())
                    .count();
                Want::Int(count(added))
            }
            "HGET" => hash
                .get(&rest[1])
                .map_or(Want::Nil, |value| Want::Bulk(value.clone())),
            "HDEL" => Want::Int(count(
                rest[1..]
                    .iter()
                    .filter(|field| hash.remove(*field).is_some())
                    .count(),
            )),
            "HLEN" => Want::Int(count(hash.len())),
            "HGETALL" => Want::Pairs(hash.iter().map(|(f, v)| (f.clone(), v.clone())).collect()),
            "HEXISTS" => Want::Int(i64::from(hash.contains_key(&rest[1]))),
            "HINCRBY" => {
                let current = match hash.get(&rest[1]) {
                    None => 0,
                    Some(text) => match parse_redis_i64(text) {
                        Some(current) => current,
                        None => return Want::Error("ERR hash value is not an integer".into()),
                    },
                };
                let next = current + int(&rest[2]);
                hash.insert(rest[1].clone(), Bytes::from(next.to_string()));
                Want::Int(next)
            }
            _ => Want::Array(
                rest[1..]
                    .iter()
                    .map(|field| hash.get(field).map_or(Want::Nil, |v| Want::Bulk(v.clone())))
                    .collect(),
            ),
        };
        self.store(key, Value::Hash(hash));
        reply
    }

    fn load_set(&self, key: &Bytes) -> Result<BTreeSet<Bytes>, Want> {
        match self.entries.get(key) {
            None => Ok(BTreeSet::new()),
            Some(Value::Set(set)) => Ok(set.clone()),
            Some(_) => Err(wrongtype()),
        }
    }

    fn set(&mut self, name: &str, rest: &[Bytes]) -> Want {
        if name.ends_with("STORE") {
            return self.set_store(name, rest);
        }
        if name == "SMOVE" {
            return self.smove(rest);
        }
        let key = &rest[0];
        let mut set = match self.load_set(key) {
            Ok(set) => set,
            Err(error) => return error,
        };
        let reply = match name {
            "SADD" => Want::Int(count(
                rest[1..]
                    .iter()
                    .filter(|m| set.insert((*m).clone()))
                    .count(),
            )),
            "SREM" => Want::Int(count(rest[1..].iter().filter(|m| set.remove(*m)).count())),
            "SCARD" => Want::Int(count(set.len())),
            "SISMEMBER" => Want::Int(i64::from(set.contains(&rest[1]))),
            _ => Want::Members(set.iter().cloned().collect()),
        };
        self.store(key, Value::Set(set));
        reply
    }

    /// SMOVE source target member: a missing source answers 0 before any type check.
    fn smove(&mut self, rest: &[Bytes]) -> Want {
        let (source_key, target_key, member) = (&rest[0], &rest[1], &rest[2]);
        if !self.entries.contains_key(source_key) {
            return Want::Int(0);
        }
        let (mut source, mut target) = match (self.load_set(source_key), self.load_set(target_key))
        {
            (Ok(source), Ok(target)) => (source, target),
            _ => return wrongtype(),
        };
        if source_key == target_key {
            return Want::Int(i64::from(source.contains(member)));
        }
        if !source.remove(member) {
            return Want::Int(0);
        }
        target.insert(member.clone());
        self.store(source_key, Value::Set(source));
        self.store(target_key, Value::Set(target));
        Want::Int(1)
    }

    /// SUNIONSTORE, SINTERSTORE, SDIFFSTORE target key...: every source is type-checked,
    /// missing ones are empty, and the target is replaced whatever it held.
    fn set_store(&mut self, name: &str, rest: &[Bytes]) -> Want {
        let mut sources = Vec::with_capacity(rest.len() - 1);
        for key in &rest[1..] {
            match self.load_set(key) {
                Ok(set) => sources.push(set),
                Err(error) => return error,
            }
        }
        let mut result = sources[0].clone();
        for other in &sources[1..] {
            result = match name {
                "SUNIONSTORE" => result.union(other).cloned().collect(),
                "SINTERSTORE" => result.intersection(other).cloned().collect(),
                _ => result.difference(other).cloned().collect(),
            };
        }
        let size = result.len();
        self.entries.remove(&rest[0]);
        self.store(&rest[0], Value::Set(result));
        Want::Int(count(size))
    }

    fn load_zset(&self, key: &Bytes) -> Result<BTreeMap<Bytes, f64>, Want> {
        match self.entries.get(key) {
            None => Ok(BTreeMap::new()),
            Some(Value::ZSet(zset)) => Ok(zset.clone()),
            Some(_) => Err(wrongtype()),
        }
    }

    fn zset(&mut self, name: &str, rest: &[Bytes]) -> Want {
        if name == "ZUNIONSTORE" || name == "ZINTERSTORE" {
            return self.zset_store(name == "ZUNIONSTORE", rest);
        }
        let key = &rest[0];
        let mut zset = match self.load_zset(key) {
            Ok(zset) => zset,
            Err(error) => return error,
        };
        let reply = match name {
            "ZADD" => Want::Int(count(
                rest[1..]
                    .chunks(2)
                    .filter(|pair| zset.insert(pair[1].clone(), score(&pair[0])).is_none())
                    .count(),
            )),
            "ZREM" => Want::Int(count(
                rest[1..]
                    .iter()
                    .filter(|m| zset.remove(*m).is_some())
                    .count(),
            )),
            "ZSCORE" => zset.get(&rest[1]).map_or(Want::Nil, |s| Want::Score(*s)),
            "ZCARD" => Want::Int(count(zset.len())),
            "ZINCRBY" => {
                let next = zset.get(&rest[2]).copied().unwrap_or(0.0) + score(&rest[1]);
                zset.insert(rest[2].clone(), next);
                Want::Score(next)
            }
            "ZRANGE" => {
                let ordered = by_score(&zset);
                let range = rank_range(ordered.len(), int(&rest[1]), int(&rest[2]));
                let pairs: Vec<(Bytes, f64)> = ordered[range].to_vec();
                if rest.len() > 3 {
                    Want::Scored {
                        pairs,
                        nested: true,
                    }
                } else {
                    Want::Array(pairs.into_iter().map(|(m, _)| Want::Bulk(m)).collect())
                }
            }
            "ZRANK" => by_score(&zset)
                .iter()
                .position(|(member, _)| *member == rest[1])
                .map_or(Want::Nil, |rank| Want::Int(count(rank))),
            _ => zpop(&mut zset, name == "ZPOPMIN", rest.get(1).map(int)),
        };
        self.store(key, Value::ZSet(zset));
        reply
    }

    /// ZUNIONSTORE/ZINTERSTORE target numkeys key... [WEIGHTS w...] [AGGREGATE how]: plain
    /// sets count as sorted sets with score 1.
    fn zset_store(&mut self, union: bool, rest: &[Bytes]) -> Want {
        let keys_count = usize::try_from(int(&rest[1])).expect("a positive numkeys");
        let keys = &rest[2..2 + keys_count];
        let mut weights = vec![1.0; keys_count];
        let mut aggregate: &[u8] = b"SUM";
        let mut options = rest[2 + keys_count..].iter();
        while let Some(option) = options.next() {
            if &option[..] == b"WEIGHTS" {
                for weight in weights.iter_mut() {
                    *weight = score(options.next().expect("a weight per key"));
                }
            } else {
                aggregate = options.next().expect("an aggregate");
            }
        }
        let mut sources = Vec::with_capacity(keys_count);
        for key in keys {
            match self.entries.get(key) {
                None => sources.push(BTreeMap::new()),
                Some(Value::ZSet(zset)) => sources.push(zset.clone()),
                Some(Value::Set(set)) => {
                    sources.push(set.iter().map(|m| (m.clone(), 1.0)).collect())
                }
                Some(_) => return wrongtype(),
            }
        }
        let mut result: BTreeMap<Bytes, f64> = BTreeMap::new();
        for (index, (source, weight)) in sources.iter().zip(&weights).enumerate() {
            for (member, member_score) in source {
                let weighted = member_score * weight;
                let in_all = sources.iter().all(|other| other.contains_key(member));
                if !union && (!in_all || index > 0 && !result.contains_key(member)) {
                    continue;
                }
                let merged = match (result.get(member), aggregate) {
                    (None, _) => weighted,
                    (Some(old), b"MIN") => old.min(weighted),
                    (Some(old), b"MAX") => old.max(weighted),
                    (Some(old), _) => old + weighted,
                };
                result.insert(member.clone(), merged);
            }
        }
        let size = result.len();
        self.entries.remove(&rest[0]);
        self.store(&rest[0], Value::ZSet(result));
        Want::Int(count(size))
    }
}

/// LPOP/RPOP key [count]: without a count one element or nil; with one an array, or a null
/// array when the key is missing.
fn pop(list: &mut VecDeque<Bytes>, left: bool, wanted: Option<i64>) -> Want {
    let Some(wanted) = wanted else {
        let item = if left {
            list.pop_front()
        } else {
            list.pop_back()
        };
        return item.map_or(Want::Nil, Want::Bulk);
    };
    if list.is_empty() {
        return Want::NilArray;
    }
    let taken = usize::try_from(wanted)
        .expect("positive counts")
        .min(list.len());
    let items = (0..taken).map(|_| {
        let item = if left {
            list.pop_front()
        } else {
            list.pop_back()
        };
        Want::Bulk(item.expect("counted"))
    });
    Want::Array(items.collect())
}

/// LREM key count element: from the head when count > 0, the tail when < 0, all when 0.
fn lrem(list: &mut VecDeque<Bytes>, limit: i64, item: &Bytes) -> Want {
    let from_tail = limit < 0;
    let limit = usize::try_from(limit.unsigned_abs()).expect("small");
    let mut elements: Vec<Bytes> = list.drain(..).collect();
    if from_tail {
        elements.reverse();
    }
    let mut removed = 0;
    let mut kept: Vec<Bytes> = Vec::with_capacity(elements.len());
    for element in elements {
        if element == *item && (limit == 0 || removed < limit) {
            removed += 1;
        } else {
            kept.push(element);
        }
    }
    if from_tail {
        kept.reverse();
    }
    list.extend(kept);
    Want::Int(count(removed))
}

/// ZPOPMIN/ZPOPMAX key [count]: flat without a count, nested pairs in RESP3 with one.
fn zpop(zset: &mut BTreeMap<Bytes, f64>, min: bool, wanted: Option<i64>) -> Want {
    let mut ordered = by_score(zset);
    if !min {
        ordered.reverse();
    }
    let taken = wanted.map_or(1, |n| usize::try_from(n).expect("positive counts"));
    let pairs: Vec<(Bytes, f64)> = ordered.into_iter().take(taken).collect();
    for (member, _) in &pairs {
        zset.remove(member);
    }
    Want::Scored {
        pairs,
        nested: wanted.is_some(),
    }
}

/// Members ordered as Redis orders them: by score, then by member bytes.
pub fn by_score(zset: &BTreeMap<Bytes, f64>) -> Vec<(Bytes, f64)> {
    let mut ordered: Vec<(Bytes, f64)> = zset.iter().map(|(m, s)| (m.clone(), *s)).collect();
    ordered.sort_by(|(m1, s1), (m2, s2)| s1.total_cmp(s2).then_with(|| m1.cmp(m2)));
    ordered
}

/// LRANGE's and ZRANGE's index arithmetic: negatives count from the end, then clamp.
pub fn rank_range(length: usize, start: i64, stop: i64) -> std::ops::Range<usize> {
    let length = count(length);
    let start = if start < 0 { start + length } else { start }.max(0);
    let stop = if stop < 0 { stop + length } else { stop };
    if start > stop || start >= length {
        return 0..0;
    }
    let stop = stop.min(length - 1);
    let range =
        usize::try_from(start).expect("clamped")..usize::try_from(stop + 1).expect("clamped");
    assert!(range.end <= usize::try_from(length).expect("a length"));
    range
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Str(_) => false,
        Value::List(list) => list.is_empty(),
        Value::Hash(hash) => hash.is_empty(),
        Value::Set(set) => set.is_empty(),
        Value::ZSet(zset) => zset.is_empty(),
    }
}

fn int(arg: &Bytes) -> i64 {
    parse_redis_i64(arg).expect("the workload sends integers here")
}

fn score(arg: &Bytes) -> f64 {
    std::str::from_utf8(arg)
        .ok()
        .and_then(|text| text.parse().ok())
        .expect("the workload sends numeric scores")
}

fn count(n: usize) -> i64 {
    i64::try_from(n).expect("counts fit in i64")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(store: &mut Store, line: &str) -> Want {
        let args: Vec<Bytes> = line
            .split_whitespace()
            .map(|word| Bytes::copy_from_slice(word.as_bytes()))
            .collect();
        store.apply(&args)
    }

    fn bulk(text: &'static str) -> Want {
        Want::Bulk(Bytes::from_static(text.as_bytes()))
    }

    #[test]
    fn lists_follow_redis() {
        let mut store = Store::default();
        assert_eq!(run(&mut store, "RPUSH l a b c a"), Want::Int(4));
        assert_eq!(run(&mut store, "LREM l -1 a"), Want::Int(1));
        assert_eq!(
            run(&mut store, "LRANGE l -100 100"),
            Want::Array(vec![bulk("a"), bulk("b"), bulk("c")])
        );
        // Moving within one key rotates it.
        assert_eq!(run(&mut store, "LMOVE l l LEFT RIGHT"), bulk("a"));
        assert_eq!(run(&mut store, "LINDEX l -1"), bulk("a"));
        assert_eq!(run(&mut store, "LTRIM l 5 10"), Want::Status("OK"));
        assert_eq!(run(&mut store, "TYPE l"), Want::Status("none"));
        assert_eq!(run(&mut store, "LPOP l 2"), Want::NilArray);
        assert_eq!(run(&mut store, "LMOVE missing l LEFT LEFT"), Want::Nil);
    }

    #[test]
    fn type_checks_happen_before_changes() {
        let mut store = Store::default();
        run(&mut store, "SET s v");
        // A missing source answers before the target's type is looked at.
        assert_eq!(run(&mut store, "SMOVE nothing s m"), Want::Int(0));
        run(&mut store, "SADD set 1");
        assert_eq!(run(&mut store, "SMOVE set s 1"), wrongtype());
        assert_eq!(run(&mut store, "SCARD set"), Want::Int(1));
        assert_eq!(run(&mut store, "SUNIONSTORE out set s"), wrongtype());
        assert_eq!(run(&mut store, "SINTERSTORE s set"), Want::Int(1));
        assert_eq!(run(&mut store, "TYPE s"), Want::Status("set"));
    }

    #[test]
    fn sorted_sets_take_plain_sets_and_weights() {
        let mut store = Store::default();
        run(&mut store, "ZADD z 1.5 a 3 b");
        run(&mut store, "SADD s a c");
        assert_eq!(
            run(&mut store, "ZUNIONSTORE out 2 z s WEIGHTS 2 1"),
            Want::Int(3)
        );
        assert_eq!(run(&mut store, "ZSCORE out a"), Want::Score(4.0));
        assert_eq!(
            run(&mut store, "ZINTERSTORE out 2 z s AGGREGATE MIN"),
            Want::Int(1)
        );
        assert_eq!(run(&mut store, "ZSCORE out a"), Want::Score(1.0));
        assert_eq!(
            run(&mut store, "ZPOPMAX z"),
            Want::Scored {
                pairs: vec![(Bytes::from_static(b"b"), 3.0)],
                nested: false
            }
        );
        assert_eq!(run(&mut store, "ZRANK z a"), Want::Int(0));
    }

    #[test]
    fn hashes_count_new_fields() {
        let mut store = Store::default();
        assert_eq!(run(&mut store, "HSET h f 1 f 2 g x"), Want::Int(2));
        assert_eq!(run(&mut store, "HINCRBY h f 3"), Want::Int(5));
        assert_eq!(
            run(&mut store, "HINCRBY h g 1"),
            Want::Error("ERR hash value is not an integer".into())
        );
        assert_eq!(run(&mut store, "HDEL h f g f"), Want::Int(2));
        assert_eq!(run(&mut store, "EXISTS h h"), Want::Int(0));
    }
}
