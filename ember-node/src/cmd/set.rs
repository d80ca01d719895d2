//! The set family: membership, random picks, SMOVE, the set algebra (SINTER, SUNION, SDIFF,
//! their STORE forms, SINTERCARD) and SSCAN.
//!
//! Multi-key commands may span shards. The executor reserves the store of every declared key
//! before the handler runs, but `ctx.store` lends one store at a time, so the algebra first
//! checks every key's type (Redis reports WRONGTYPE for any key before any result), then
//! copies the members it needs out of one set and filters them against the others.

use bytes::Bytes;
use ember_proto::Frame;
use rand_chacha::ChaCha8Rng;

use super::args::parse_i64;
use super::keys::{glob_match, parse_cursor};
use super::scan::{ScanArgs, ScanExtra};
use super::table::{flag::*, CommandSpec, KeySpec, ALL_KEYS, ONE_KEY, TWO_KEYS};
use super::{bulk, int, int_len, Args, CmdError, Ctx};
use crate::keyspace::set::{Set, SetRules};
use crate::keyspace::{Store, Stored, Ttl, Value};

/// Most members one SRANDMEMBER with a negative count may return: the reply is built in
/// memory, so a count the peer sends must not size it unchecked. Positive counts are bounded
/// by the set itself.
const RANDOM_REPEATS_MAX: u64 = 1 << 20;

super::table::keyed_family!("set");

/// SINTERCARD's keys follow its numkeys argument (argument 1); it has no fixed key.
const NUMKEYS_AT_1: KeySpec = KeySpec::with_keynum(0, 0, 0, 1);

const ALGEBRA: &str = "O(N) where N is the total number of elements in all given sets.";
const INTERSECTION: &str =
    "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets.";

pub const COMMANDS: &[CommandSpec] = &[
    cmd("sadd", -3, WRITE | DENYOOM | FAST, ONE_KEY, "1.0.0", "Adds one or more members to a set. Creates the key if it doesn't exist.", "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.", sadd),
    cmd("srem", -3, WRITE | FAST, ONE_KEY, "1.0.0", "Removes one or more members from a set. Deletes the set if the last member was removed.", "O(N) where N is the number of members to be removed.", srem),
    cmd("smembers", 2, READONLY, ONE_KEY, "1.0.0", "Returns all members of a set.", "O(N) where N is the set cardinality.", smembers),
    cmd("sismember", 3, READONLY | FAST, ONE_KEY, "1.0.0", "Determines whether a member belongs to a set.", "O(1)", sismember),
    cmd("smismember", -3, READONLY | FAST, ONE_KEY, "6.2.0", "Determines whether multiple members belong to a set.", "O(N) where N is the number of elements being checked for membership", smismember),
    cmd("scard", 2, READONLY | FAST, ONE_KEY, "1.0.0", "Returns the number of members in a set.", "O(1)", scard),
    cmd("spop", -2, WRITE | FAST, ONE_KEY, "1.0.0", "Returns one or more random members from a set after removing them. Deletes the set if the last member was popped.", "Without the count argument O(1), otherwise O(N) where N is the value of the passed count.", spop),
    cmd("srandmember", -2, READONLY, ONE_KEY, "1.0.0", "Get one or multiple random members from a set", "Without the count argument O(1), otherwise O(N) where N is the absolute value of the passed count.", srandmember),
    cmd("smove", 4, WRITE | FAST, TWO_KEYS, "1.0.0", "Moves a member from one set to another.", "O(1)", smove),
    cmd("sinter", -2, READONLY, ALL_KEYS, "1.0.0", "Returns the intersect of multiple sets.", INTERSECTION, sinter),
    cmd("sinterstore", -3, WRITE | DENYOOM, ALL_KEYS, "1.0.0", "Stores the intersect of multiple sets in a key.", INTERSECTION, sinterstore),
    cmd("sintercard", -3, READONLY, NUMKEYS_AT_1, "7.0.0", "Returns the number of members of the intersect of multiple sets.", INTERSECTION, sintercard),
    cmd("sunion", -2, READONLY, ALL_KEYS, "1.0.0", "Returns the union of multiple sets.", ALGEBRA, sunion),
    cmd("sunionstore", -3, WRITE | DENYOOM, ALL_KEYS, "1.0.0", "Stores the union of multiple sets in a key.", ALGEBRA, sunionstore),
    cmd("sdiff", -2, READONLY, ALL_KEYS, "1.0.0", "Returns the difference of multiple sets.", ALGEBRA, sdiff),
    cmd("sdiffstore", -3, WRITE | DENYOOM, ALL_KEYS, "1.0.0", "Stores the difference of multiple sets in a key.", ALGEBRA, sdiffstore),
    cmd("sscan", -3, READONLY, ONE_KEY, "2.8.0", "Iterates over members of a set.", "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection.", sscan),
];

/// SADD key member [member ...]: the number of members that were new.
fn sadd(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.key()?;
    let members = args.rest();
    assert!(!members.is_empty(), "arity guarantees a member");
    let rules = rules(ctx, &key);
    let (db, now) = (ctx.db, ctx.now_ms);
    let added = add_members(ctx.store(&key), db, &key, now, members, &rules)?;
    Ok(int_len(added))
}

/// SREM key member [member ...]: the number of members removed; an emptied set is deleted.
fn srem(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.key()?;
    let members = args.rest();
    let (db, now) = (ctx.db, ctx.now_ms);
    let removed = change_set(ctx.store(&key), db, &key, now, |set, _| {
        members.iter().filter(|m| set.remove(m)).count()
    })?;
    Ok(int_len(removed.unwrap_or(0)))
}

/// SMEMBERS key: a RESP3 set (RESP2 array); ascending for an intset, as in Redis.
fn smembers(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.key()?;
    let (db, now) = (ctx.db, ctx.now_ms);
    let members = read_set(ctx.store(&key), db, &key, now)?.map_or_else(Vec::new, Set::members);
    Ok(set_reply(members))
}

/// SISMEMBER key member
fn sismember(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.key()?;
    let member = args.bytes()?;
    let (db, now) = (ctx.db, ctx.now_ms);
    let found = read_set(ctx.store(&key), db, &key, now)?.is_some_and(|s| s.contains(&member));
    Ok(int(found as i64))
}

/// SMISMEMBER key member [member ...]: one 0/1 per member; a missing key is an empty set.
fn smismember(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.key()?;
    let members = args.rest();
    let (db, now) = (ctx.db, ctx.now_ms);
    let set = read_set(ctx.store(&key), db, &key, now)?;
    let flags = members
        .iter()
        .map(|m| int(set.is_some_and(|s| s.contains(m)) as i64))
        .collect();
    Ok(Frame::Array(flags))
}

/// SCARD key
fn scard(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.key()?;
    let (db, now) = (ctx.db, ctx.now_ms);
    let len = read_set(ctx.store(&key), db, &key, now)?.map_or(0, Set::len);
    Ok(int_len(len))
}

/// SPOP key [count]: without a count one member or nil; with one, a set of up to `count`
/// members (empty for a missing key or a count of 0). Popping the last member deletes the key.
fn spop(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.key()?;
    if args.remaining() > 1 {
        return Err(CmdError::Syntax);
    }
    let count = match args.peek() {
        Some(_) => Some(parse_pop_count(&args.bytes()?)?),
        None => None,
    };
    let rules = rules(ctx, &key);
    let (db, now) = (ctx.db, ctx.now_ms);
    let store = ctx.store(&key);
    let Some(count) = count else {
        let popped = change_set(store, db, &key, now, |set, rng| set.pop_random(rng))?;
        if let Some(member) = &popped {
            ctx.propagate = Some(vec![Bytes::from_static(b"SREM"), key, member.clone()]);
        }
        return Ok(popped.map_or(Frame::Null, Frame::Bulk));
    };
    let popped = change_set(store, db, &key, now, |set, rng| {
        if count == 0 {
            Vec::new()
        } else if count >= set.len() {
            std::mem::take(set).members()
        } else {
            set.pop_many(count, rng, &rules)
        }
    })?;
    let popped = popped.unwrap_or_default();
    if !popped.is_empty() {
        let mut srem = vec![Bytes::from_static(b"SREM"), key];
        srem.extend(popped.iter().cloned());
        ctx.propagate = Some(srem);
    }
    Ok(set_reply(popped))
}

/// SPOP's count: a non-negative integer; anything else is Redis's "out of range" error.
fn parse_pop_count(text: &[u8]) -> Result<usize, CmdError> {
    parse_i64(text)
        .and_then(|count| usize::try_from(count).ok())
        .ok_or_else(|| CmdError::Err("value is out of range, must be positive".into()))
}

/// SRANDMEMBER key [count]: without a count one member or nil. A positive count gives that
/// many distinct members (the whole set at most), a negative one exactly |count| members
/// that may repeat; both as an array, empty for a missing key.
fn srandmember(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.key()?;
    if args.remaining() > 1 {
        return Err(CmdError::Syntax);
    }
    let count = match args.peek() {
        Some(_) => Some(parse_random_count(&args.bytes()?)?),
        None => None,
    };
    let (db, now) = (ctx.db, ctx.now_ms);
    let store = ctx.store(&key);
    if read_set(store, db, &key, now)?.is_none() {
        return Ok(count.map_or(Frame::Null, |_| Frame::Array(Vec::new())));
    }
    let Some((Stored::Boxed(Value::Set(set)), rng)) = store.read_with_rng(db, &key, now) else {
        unreachable!("the set was read just before")
    };
    let Some(count) = count else {
        return Ok(Frame::Bulk(set.random_member(rng)));
    };
    let members = match count {
        0 => Vec::new(),
        // One pick is the same whether repeats are allowed or not.
        count if count < 0 || count == 1 => {
            set.random_repeating(count.unsigned_abs() as usize, rng)
        }
        count if count as u64 >= set.len() as u64 => set.members(),
        count => set.random_distinct(count as usize, rng),
    };
    Ok(Frame::Array(members.into_iter().map(Frame::Bulk).collect()))
}

/// SRANDMEMBER's count: an integer above i64::MIN (Redis's -LONG_MAX..LONG_MAX), and for
/// negative counts at most `RANDOM_REPEATS_MAX` repeats.
fn parse_random_count(text: &[u8]) -> Result<i64, CmdError> {
    let count = parse_i64(text).ok_or(CmdError::NotInteger)?;
    if count == i64::MIN {
        return Err(CmdError::Err(format!(
            "value is out of range, value must between -{} and {}",
            i64::MAX,
            i64::MAX
        )));
    }
    if count < 0 && count.unsigned_abs() > RANDOM_REPEATS_MAX {
        return Err(CmdError::Err(format!(
            "value is out of range, value must between -{RANDOM_REPEATS_MAX} and {}",
            i64::MAX
        )));
    }
    Ok(count)
}

/// SMOVE source destination member: 1 when the member was moved (or already in both, for
/// one key), 0 when the source lacks it. The keys may live on different shards. As in Redis,
/// a missing source answers 0 before the destination is looked at, and a destination of
/// another type is WRONGTYPE even when the member is absent.
fn smove(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let source = args.key()?;
    let destination = args.key()?;
    let member = args.bytes()?;
    let rules = rules(ctx, &destination);
    let (db, now) = (ctx.db, ctx.now_ms);
    let Some(source_set) = read_set(ctx.store(&source), db, &source, now)? else {
        return Ok(int(0));
    };
    let in_source = source_set.contains(&member);
    read_set(ctx.store(&destination), db, &destination, now)?;
    if source == destination || !in_source {
        return Ok(int(in_source as i64));
    }
    let removed = change_set(ctx.store(&source), db, &source, now, |set, _| {
        set.remove(&member)
    })?;
    assert_eq!(removed, Some(true), "the member was found just before");
    let store = ctx.store(&destination);
    add_members(store, db, &destination, now, &[member], &rules)?;
    Ok(int(1))
}

/// SINTER key [key ...]: a set; a missing key makes it empty.
fn sinter(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let keys = args.rest();
    let members = intersection(ctx, keys, 0)?;
    Ok(set_reply(members))
}

/// SINTERSTORE destination key [key ...]: the result's size; an empty result deletes the
/// destination, any other replaces it whatever it held.
fn sinterstore(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let destination = args.key()?;
    let keys = args.rest();
    let rules = rules(ctx, &destination);
    let members = intersection(ctx, keys, 0)?;
    let mut result = Set::new();
    for member in &members {
        result.add(member, &rules);
    }
    Ok(store_result(ctx, &destination, result))
}

#[derive(Debug, PartialEq, Eq)]
struct InterCardOptions<'a> {
    keys: &'a [Bytes],
    /// 0 means no limit.
    limit: usize,
}

impl<'a> InterCardOptions<'a> {
    /// Parses `numkeys key [key ...] [LIMIT limit]` with Redis's error texts.
    fn parse(args: &mut Args<'a>) -> Result<InterCardOptions<'a>, CmdError> {
        let numkeys = parse_i64(&args.bytes()?)
            .filter(|&n| n > 0)
            .ok_or_else(|| CmdError::Err("numkeys should be greater than 0".into()))?;
        if numkeys as u64 > args.remaining() as u64 {
            return Err(CmdError::Err(
                "Number of keys can't be greater than number of args".into(),
            ));
        }
        let (keys, rest) = args.rest().split_at(numkeys as usize);
        let mut options = Args::new(rest, 0);
        let mut limit = 0;
        while !options.is_empty() {
            if options.remaining() >= 2 && options.flag("LIMIT") {
                limit = parse_i64(&options.bytes()?)
                    .and_then(|l| usize::try_from(l).ok())
                    .ok_or_else(|| CmdError::Err("LIMIT can't be negative".into()))?;
            } else {
                return Err(CmdError::Syntax);
            }
        }
        Ok(InterCardOptions { keys, limit })
    }
}

/// SINTERCARD numkeys key [key ...] [LIMIT limit]: the intersection's size, counting stops
/// at `limit` when it is not 0.
fn sintercard(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let options = InterCardOptions::parse(args)?;
    let members = intersection(ctx, options.keys, options.limit)?;
    Ok(int_len(members.len()))
}

/// SUNION key [key ...]: a set.
fn sunion(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let keys = args.rest();
    let rules = rules(ctx, &keys[0]);
    let result = union(ctx, keys, &rules)?;
    Ok(set_reply(result.members()))
}

/// SUNIONSTORE destination key [key ...]
fn sunionstore(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let destination = args.key()?;
    let keys = args.rest();
    let rules = rules(ctx, &destination);
    let result = union(ctx, keys, &rules)?;
    Ok(store_result(ctx, &destination, result))
}

/// SDIFF key [key ...]: members of the first set in none of the others.
fn sdiff(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let keys = args.rest();
    let rules = rules(ctx, &keys[0]);
    let result = difference(ctx, keys, &rules)?;
    Ok(set_reply(result.members()))
}

/// SDIFFSTORE destination key [key ...]
fn sdiffstore(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let destination = args.key()?;
    let keys = args.rest();
    let rules = rules(ctx, &destination);
    let result = difference(ctx, keys, &rules)?;
    Ok(store_result(ctx, &destination, result))
}

/// SSCAN key cursor [MATCH pattern] [COUNT count]. As in Redis, the cursor is checked first,
/// a missing key answers an empty scan before the options are, and compact encodings return
/// every member with cursor 0.
fn sscan(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.key()?;
    let cursor = parse_cursor(&args.bytes()?)?;
    let options = ScanArgs::parse(args, ScanExtra::None);
    let (db, now) = (ctx.db, ctx.now_ms);
    let Some(set) = read_set(ctx.store(&key), db, &key, now)? else {
        return Ok(scan_reply(0, Vec::new()));
    };
    let options = options?;
    let mut found = Vec::new();
    let next = set.scan(cursor, options.count, |member| {
        if options
            .pattern
            .as_ref()
            .is_none_or(|p| glob_match(p, member))
        {
            found.push(Frame::Bulk(Bytes::copy_from_slice(member)));
        }
    });
    Ok(scan_reply(next, found))
}

fn scan_reply(cursor: u64, members: Vec<Frame>) -> Frame {
    Frame::Array(vec![bulk(cursor.to_string()), Frame::Array(members)])
}

/// A RESP3 set of members (an array in RESP2).
fn set_reply(members: Vec<Bytes>) -> Frame {
    Frame::Set(members.into_iter().map(Frame::Bulk).collect())
}

/// The thresholds in force and the hasher of the store that owns `key`, for sets stored there.
fn rules(ctx: &mut Ctx, key: &[u8]) -> SetRules {
    let limits = ctx.encoding_limits();
    SetRules::new(&limits, ctx.store(key).hasher())
}

/// The set at `key` for reading: `None` when missing, WRONGTYPE for another type.
fn read_set<'a>(
    store: &'a mut Store,
    db: usize,
    key: &[u8],
    now_ms: u64,
) -> Result<Option<&'a Set>, CmdError> {
    match store.get(db, key, now_ms) {
        None => Ok(None),
        Some(Stored::Boxed(Value::Set(set))) => Ok(Some(set)),
        Some(_) => Err(CmdError::WrongType),
    }
}

/// Runs `change` on the set at `key` in place, then accounts its new size and deletes the key
/// if it became empty. `None` when the key is missing, WRONGTYPE for another type.
fn change_set<R>(
    store: &mut Store,
    db: usize,
    key: &[u8],
    now_ms: u64,
    change: impl FnOnce(&mut Set, &mut ChaCha8Rng) -> R,
) -> Result<Option<R>, CmdError> {
    let Some((value, rng)) = store.value_and_rng_as(db, key, now_ms, "set") else {
        return Ok(None);
    };
    let Value::Set(set) = value else {
        return Err(CmdError::WrongType);
    };
    let size_before = set.size_bytes();
    let result = change(set, rng);
    let (size_after, empty) = (set.size_bytes(), set.is_empty());
    store.resized(size_before, size_after);
    if empty {
        store.remove(db, key, now_ms);
    }
    Ok(Some(result))
}

/// Adds `members` to the set at `key`, creating it in the encoding Redis would pick for them.
fn add_members(
    store: &mut Store,
    db: usize,
    key: &[u8],
    now_ms: u64,
    members: &[Bytes],
    rules: &SetRules,
) -> Result<usize, CmdError> {
    let existing = change_set(store, db, key, now_ms, |set, _| {
        set.prepare_for(members.len(), rules);
        members.iter().filter(|m| set.add(m, rules)).count()
    })?;
    if let Some(added) = existing {
        return Ok(added);
    }
    let mut set = Set::for_members(&members[0], members.len(), rules);
    let added = members.iter().filter(|m| set.add(m, rules)).count();
    assert!(added > 0);
    store.insert(db, key, Value::Set(set), Ttl::Clear, now_ms);
    Ok(added)
}

/// Replaces `destination` with `result`, or deletes it when the result is empty (the STORE
/// forms); answers the result's size.
fn store_result(ctx: &mut Ctx, destination: &[u8], result: Set) -> Frame {
    let (db, now) = (ctx.db, ctx.now_ms);
    let len = result.len();
    let store = ctx.store(destination);
    if len == 0 {
        store.remove(db, destination, now);
    } else {
        store.insert(db, destination, Value::Set(result), Ttl::Clear, now);
    }
    int_len(len)
}

/// Each key's set size, `None` for a missing key; WRONGTYPE if any key holds another type.
fn set_sizes(ctx: &mut Ctx, keys: &[Bytes]) -> Result<Vec<Option<usize>>, CmdError> {
    let (db, now) = (ctx.db, ctx.now_ms);
    keys.iter()
        .map(|key| Ok(read_set(ctx.store(key), db, key, now)?.map(Set::len)))
        .collect()
}

/// The set at `key`, which `set_sizes` found to be a live set earlier in this command (the
/// time is the same, so it cannot have expired since).
fn known_set<'a>(ctx: &'a mut Ctx, key: &[u8]) -> &'a Set {
    let (db, now) = (ctx.db, ctx.now_ms);
    match ctx.store(key).peek(db, key, now) {
        Some(Stored::Boxed(Value::Set(set))) => set,
        _ => unreachable!("checked by set_sizes in this command"),
    }
}

/// The members common to every key's set, in the smallest set's order; at most `limit` of
/// them when `limit` is not 0.
fn intersection(ctx: &mut Ctx, keys: &[Bytes], limit: usize) -> Result<Vec<Bytes>, CmdError> {
    let sizes = set_sizes(ctx, keys)?;
    if sizes.iter().any(Option::is_none) {
        return Ok(Vec::new());
    }
    // Filtering the smallest set against the others, largest last, does the least work.
    let mut order: Vec<usize> = (0..keys.len()).collect();
    order.sort_by_key(|&index| sizes[index]);
    let smallest = &keys[order[0]];
    let mut members = known_set(ctx, smallest).members();
    for &index in &order[1..] {
        if members.is_empty() {
            break;
        }
        if keys[index] != *smallest {
            let set = known_set(ctx, &keys[index]);
            members.retain(|member| set.contains(member));
        }
    }
    if limit > 0 {
        members.truncate(limit);
    }
    Ok(members)
}

/// The union of every key's set, built as Redis builds it: from an empty intset, member by
/// member, so its encoding is what those members would have in a new key.
fn union(ctx: &mut Ctx, keys: &[Bytes], rules: &SetRules) -> Result<Set, CmdError> {
    let sizes = set_sizes(ctx, keys)?;
    let mut result = Set::new();
    for (key, size) in keys.iter().zip(&sizes) {
        if size.is_some() {
            known_set(ctx, key).for_each(|member| {
                result.add(member, rules);
            });
        }
    }
    Ok(result)
}

/// The members of the first key's set that no other key's set holds, built like `union`.
fn difference(ctx: &mut Ctx, keys: &[Bytes], rules: &SetRules) -> Result<Set, CmdError> {
    let sizes = set_sizes(ctx, keys)?;
    let mut result = Set::new();
    // Subtracting the first set from itself leaves nothing.
    if sizes[0].is_none() || keys[1..].contains(&keys[0]) {
        return Ok(result);
    }
    let mut members = known_set(ctx, &keys[0]).members();
    for (key, size) in keys.iter().zip(&sizes).skip(1) {
        if members.is_empty() {
            break;
        }
        if size.is_some() {
            let set = known_set(ctx, key);
            members.retain(|member| !set.contains(member));
        }
    }
    for member in &members {
        result.add(member, rules);
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::table::Handler;
    use crate::server::Shared;
    use ember_proto::Protocol;
    use rand::SeedableRng;

    /// Two shards, so multi-key commands cross stores as they do in the server.
    struct Node {
        shared: Shared,
        stores: Vec<Store>,
    }

    impl Node {
        fn new() -> Node {
            let shard_count = 2;
            let shared = Shared::for_tests(shard_count);
            let stores = (0..shard_count)
                .map(|id| {
                    Store::new(
                        id,
                        ahash::RandomState::with_seeds(1, 2, 3, 4),
                        ChaCha8Rng::seed_from_u64(id as u64),
                    )
                })
                .collect();
            Node { shared, stores }
        }

        fn run_with(&mut self, protocol: Protocol, words: &[&str]) -> Frame {
            let argv: Vec<Bytes> = words.iter().map(|w| Bytes::from(w.to_string())).collect();
            let mut spec = super::super::lookup(words[0].as_bytes()).expect("a known command");
            let mut skip = 1;
            if let Handler::Container = spec.handler {
                spec = spec.subcommand(words[1].as_bytes()).expect("a subcommand");
                skip = 2;
            }
            assert!(spec.arity_ok(argv.len()), "arity of {words:?}");
            let Handler::Data(handler) = spec.handler else {
                panic!("a data command")
            };
            let mut stores: Vec<&mut Store> = self.stores.iter_mut().collect();
            let mut ctx = Ctx::new(1_000, 0, protocol, &self.shared, &mut stores);
            let mut args = Args::new(&argv, skip);
            handler(&mut ctx, &mut args).unwrap_or_else(|e| e.to_frame())
        }

        fn run(&mut self, words: &[&str]) -> Frame {
            self.run_with(Protocol::Resp2, words)
        }

        fn sorted(&mut self, words: &[&str]) -> Vec<String> {
            let frame = self.run(words);
            let (Frame::Set(items) | Frame::Array(items)) = frame else {
                panic!("{words:?} answered {frame:?}")
            };
            let mut texts: Vec<String> = items.iter().map(text).collect();
            texts.sort();
            texts
        }

        fn encoding(&mut self, key: &str) -> String {
            text(&self.run(&["OBJECT", "ENCODING", key]))
        }
    }

    fn text(frame: &Frame) -> String {
        match frame {
            Frame::Bulk(bytes) => String::from_utf8(bytes.to_vec()).unwrap(),
            Frame::Error(bytes) => String::from_utf8(bytes.to_vec()).unwrap(),
            other => panic!("not text: {other:?}"),
        }
    }

    fn error(frame: Frame) -> String {
        let Frame::Error(bytes) = frame else {
            panic!("expected an error, got {frame:?}")
        };
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[test]
    fn add_remove_and_membership() {
        let mut node = Node::new();
        assert_eq!(node.run(&["SADD", "s", "a", "b", "a"]), int(2));
        assert_eq!(node.run(&["SADD", "s", "b", "c"]), int(1));
        assert_eq!(node.run(&["SCARD", "s"]), int(3));
        assert_eq!(node.run(&["SISMEMBER", "s", "a"]), int(1));
        assert_eq!(node.run(&["SISMEMBER", "s", "z"]), int(0));
        assert_eq!(
            node.run(&["SMISMEMBER", "s", "a", "z", "c"]),
            Frame::Array(vec![int(1), int(0), int(1)])
        );
        assert_eq!(
            node.run(&["SMISMEMBER", "missing", "a"]),
            Frame::Array(vec![int(0)])
        );
        assert_eq!(node.run(&["SREM", "s", "a", "z"]), int(1));
        assert_eq!(node.run(&["SREM", "s", "b", "c"]), int(2));
        assert_eq!(node.run(&["EXISTS", "s"]), int(0), "emptied set is deleted");
        assert_eq!(node.run(&["SCARD", "s"]), int(0));
        assert_eq!(node.run(&["SMEMBERS", "s"]), Frame::Set(Vec::new()));
    }

    #[test]
    fn wrong_type_is_reported_everywhere() {
        let mut node = Node::new();
        node.run(&["SET", "str", "x"]);
        node.run(&["SADD", "s", "a"]);
        let wrong = "WRONGTYPE Operation against a key holding the wrong kind of value";
        for words in [
            &["SADD", "str", "a"][..],
            &["SREM", "str", "a"],
            &["SMEMBERS", "str"],
            &["SISMEMBER", "str", "a"],
            &["SMISMEMBER", "str", "a"],
            &["SCARD", "str"],
            &["SPOP", "str"],
            &["SPOP", "str", "2"],
            &["SRANDMEMBER", "str"],
            &["SRANDMEMBER", "str", "2"],
            &["SMOVE", "str", "s", "a"],
            &["SMOVE", "s", "str", "zz"],
            &["SINTER", "missing", "str"],
            &["SINTERSTORE", "d", "s", "str"],
            &["SINTERCARD", "2", "missing", "str"],
            &["SUNION", "s", "str"],
            &["SUNIONSTORE", "d", "str"],
            &["SDIFF", "missing", "str"],
            &["SDIFFSTORE", "d", "s", "str"],
            &["SSCAN", "str", "0"],
        ] {
            assert_eq!(error(node.run(words)), wrong, "{words:?}");
        }
        assert_eq!(node.run(&["SMOVE", "missing", "str", "a"]), int(0));
    }

    #[test]
    fn spop_and_srandmember_counts() {
        let mut node = Node::new();
        node.run(&["SADD", "s", "1", "2", "3", "4", "5"]);
        let out_of_range = "ERR value is out of range, must be positive";
        assert_eq!(error(node.run(&["SPOP", "s", "-1"])), out_of_range);
        assert_eq!(error(node.run(&["SPOP", "s", "x"])), out_of_range);
        assert_eq!(
            error(node.run(&["SPOP", "s", "1", "2"])),
            "ERR syntax error"
        );
        assert_eq!(node.run(&["SPOP", "s", "0"]), Frame::Set(Vec::new()));
        assert_eq!(node.run(&["SPOP", "missing"]), Frame::Null);
        assert_eq!(node.run(&["SPOP", "missing", "3"]), Frame::Set(Vec::new()));
        assert_eq!(node.sorted(&["SRANDMEMBER", "s", "-7"]).len(), 7);
        assert_eq!(node.sorted(&["SRANDMEMBER", "s", "3"]).len(), 3);
        assert_eq!(
            node.sorted(&["SRANDMEMBER", "s", "10"]),
            ["1", "2", "3", "4", "5"]
        );
        assert_eq!(
            node.run(&["SRANDMEMBER", "s", "0"]),
            Frame::Array(Vec::new())
        );
        assert_eq!(node.run(&["SRANDMEMBER", "missing"]), Frame::Null);
        assert_eq!(
            node.run(&["SRANDMEMBER", "missing", "-3"]),
            Frame::Array(Vec::new())
        );
        assert_eq!(
            error(node.run(&["SRANDMEMBER", "s", "x"])),
            "ERR value is not an integer or out of range"
        );
        assert!(
            error(node.run(&["SRANDMEMBER", "s", "-9223372036854775808"]))
                .contains("value is out of range")
        );
        let popped = node.sorted(&["SPOP", "s", "2"]);
        assert_eq!(popped.len(), 2);
        assert_eq!(node.run(&["SCARD", "s"]), int(3));
        let rest = node.sorted(&["SPOP", "s", "10"]);
        assert_eq!(rest.len(), 3);
        assert_eq!(node.run(&["EXISTS", "s"]), int(0));
    }

    #[test]
    fn smove_across_shards() {
        let mut node = Node::new();
        // "a" and "b" hash to different shards of two (checked below), so the move crosses.
        let shard = |key: &str| crate::slot::shard_of_key(key.as_bytes(), 2);
        let (source, target) = ("src{1}", "dst{2}");
        assert_ne!(shard(source), shard(target));
        node.run(&["SADD", source, "m", "n"]);
        assert_eq!(node.run(&["SMOVE", source, target, "zz"]), int(0));
        assert_eq!(node.run(&["SMOVE", source, target, "m"]), int(1));
        assert_eq!(node.run(&["SMOVE", source, target, "n"]), int(1));
        assert_eq!(node.run(&["EXISTS", source]), int(0));
        assert_eq!(node.sorted(&["SMEMBERS", target]), ["m", "n"]);
        assert_eq!(node.run(&["SMOVE", target, target, "m"]), int(1));
        assert_eq!(node.run(&["SMOVE", target, target, "q"]), int(0));
        assert_eq!(node.run(&["SCARD", target]), int(2));
    }

    #[test]
    fn algebra_and_store_forms() {
        let mut node = Node::new();
        node.run(&["SADD", "a{x}", "1", "2", "3", "4"]);
        node.run(&["SADD", "b{y}", "3", "4", "5", "x"]);
        assert_eq!(node.sorted(&["SINTER", "a{x}", "b{y}"]), ["3", "4"]);
        assert_eq!(
            node.sorted(&["SINTER", "a{x}", "nope"]),
            Vec::<String>::new()
        );
        assert_eq!(
            node.sorted(&["SUNION", "a{x}", "b{y}", "nope"]),
            ["1", "2", "3", "4", "5", "x"]
        );
        assert_eq!(node.sorted(&["SDIFF", "a{x}", "b{y}"]), ["1", "2"]);
        assert_eq!(
            node.sorted(&["SDIFF", "a{x}", "a{x}"]),
            Vec::<String>::new()
        );
        assert_eq!(node.run(&["SINTERCARD", "2", "a{x}", "b{y}"]), int(2));
        assert_eq!(
            node.run(&["SINTERCARD", "2", "a{x}", "b{y}", "LIMIT", "1"]),
            int(1)
        );
        assert_eq!(node.run(&["SINTERCARD", "1", "a{x}", "LIMIT", "0"]), int(4));
        node.run(&["SET", "d{z}", "string"]);
        assert_eq!(node.run(&["SINTERSTORE", "d{z}", "a{x}", "b{y}"]), int(2));
        assert_eq!(node.encoding("d{z}"), "intset");
        assert_eq!(node.run(&["SUNIONSTORE", "d{z}", "a{x}", "b{y}"]), int(6));
        assert_eq!(node.encoding("d{z}"), "listpack");
        assert_eq!(node.run(&["SDIFFSTORE", "d{z}", "b{y}", "a{x}"]), int(2));
        assert_eq!(node.sorted(&["SMEMBERS", "d{z}"]), ["5", "x"]);
        assert_eq!(node.run(&["SINTERSTORE", "d{z}", "a{x}", "nope"]), int(0));
        assert_eq!(node.run(&["EXISTS", "d{z}"]), int(0));
    }

    #[test]
    fn sintercard_options_are_checked() {
        let mut node = Node::new();
        for (words, message) in [
            (
                &["SINTERCARD", "0", "a"][..],
                "ERR numkeys should be greater than 0",
            ),
            (
                &["SINTERCARD", "x", "a"],
                "ERR numkeys should be greater than 0",
            ),
            (
                &["SINTERCARD", "3", "a", "b"],
                "ERR Number of keys can't be greater than number of args",
            ),
            (
                &["SINTERCARD", "1", "a", "LIMIT", "-1"],
                "ERR LIMIT can't be negative",
            ),
            (
                &["SINTERCARD", "1", "a", "LIMIT", "x"],
                "ERR LIMIT can't be negative",
            ),
            (&["SINTERCARD", "1", "a", "LIMIT"], "ERR syntax error"),
            (&["SINTERCARD", "1", "a", "b"], "ERR syntax error"),
        ] {
            assert_eq!(error(node.run(words)), message, "{words:?}");
        }
    }

    #[test]
    fn sscan_options_and_encodings() {
        let mut node = Node::new();
        assert_eq!(
            node.run(&["SSCAN", "missing", "0", "COUNT", "0"]),
            scan_reply(0, vec![])
        );
        node.run(&["SADD", "s", "a1", "a2", "b1"]);
        assert_eq!(error(node.run(&["SSCAN", "s", "x"])), "ERR invalid cursor");
        assert_eq!(
            error(node.run(&["SSCAN", "s", "0", "COUNT", "0"])),
            "ERR syntax error"
        );
        assert_eq!(
            error(node.run(&["SSCAN", "s", "0", "MATCH"])),
            "ERR syntax error"
        );
        let reply = node.run(&["SSCAN", "s", "0", "MATCH", "a*", "COUNT", "1"]);
        let Frame::Array(parts) = reply else { panic!() };
        assert_eq!(text(&parts[0]), "0");
        assert_eq!(parts[1], Frame::Array(vec![bulk("a1"), bulk("a2")]));
    }

    #[test]
    fn encodings_follow_thresholds() {
        let mut node = Node::new();
        node.run(&["SADD", "i", "1", "2", "3"]);
        assert_eq!(node.encoding("i"), "intset");
        assert_eq!(node.sorted(&["SMEMBERS", "i"]), ["1", "2", "3"]);
        node.run(&["SADD", "i", "x"]);
        assert_eq!(node.encoding("i"), "listpack");
        let many: Vec<String> = (0..129).map(|i| format!("m{i}")).collect();
        let mut words = vec!["SADD", "i"];
        words.extend(many.iter().map(String::as_str));
        node.run(&words);
        assert_eq!(node.encoding("i"), "hashtable");
        node.run(&["SADD", "big", &"v".repeat(65)]);
        assert_eq!(node.encoding("big"), "hashtable");
        let ints: Vec<String> = (0..513).map(|i| i.to_string()).collect();
        let mut words = vec!["SADD", "n"];
        words.extend(ints.iter().map(String::as_str));
        node.run(&words);
        assert_eq!(node.encoding("n"), "hashtable");
    }

    #[test]
    fn resp3_shapes() {
        let mut node = Node::new();
        node.run(&["SADD", "s", "b", "a"]);
        let members = node.run_with(Protocol::Resp3, &["SMEMBERS", "s"]);
        assert_eq!(members, Frame::Set(vec![bulk("b"), bulk("a")]));
        let random = node.run_with(Protocol::Resp3, &["SRANDMEMBER", "s", "-2"]);
        assert!(matches!(random, Frame::Array(ref items) if items.len() == 2));
    }

    #[test]
    fn pop_counts_parse_like_redis() {
        assert_eq!(parse_pop_count(b"3"), Ok(3));
        assert!(parse_pop_count(b"-1").is_err());
        assert_eq!(parse_random_count(b"-5"), Ok(-5));
        assert!(parse_random_count(b"-1048577").is_err());
        assert_eq!(parse_random_count(b"9223372036854775807"), Ok(i64::MAX));
    }
}
