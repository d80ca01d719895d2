//! The hash family: HSET and its older forms, reads of one field, many fields or all of
//! them, the two counters, random fields and HSCAN.
//!
//! Every handler goes through `read_hash` or `write_hash`, which own the type check, the
//! memory accounting after an in-place change, and deleting a hash that ends empty (Redis
//! never keeps an empty collection). The encoding is the keyspace's business: handlers only
//! pass the current thresholds along as a `Conversion`.

use bytes::Bytes;
use ember_proto::{Frame, Protocol};

use super::args::{parse_f64, parse_i64};
use super::keys::{glob_match, parse_cursor};
use super::scan::{ScanArgs, ScanExtra};
use super::string::format_float;
use super::table::{flag::*, CommandSpec, ONE_KEY};
use super::{bulk, int, int_len, ok, Args, CmdError, Ctx};
use crate::keyspace::hash::{Conversion, Hash, Pair};
use crate::keyspace::{Store, Stored, Ttl, Value};

/// Most results one HRANDFIELD with a negative count may build. Redis accepts any count and
/// would queue it all in memory; ember refuses past this bound rather than exhaust the node.
const RANDOM_PICKS_MAX: u64 = 1_000_000;

/// The widest count HRANDFIELD accepts at all, as in Redis (i64::MIN cannot be negated).
const RANDOM_COUNT_MAX: i64 = i64::MAX;

super::table::keyed_family!("hash");

pub const COMMANDS: &[CommandSpec] = &[
    cmd("hset", -4, WRITE | DENYOOM | FAST, ONE_KEY, "2.0.0", "Creates or modifies the value of a field in a hash.", "O(1) for each field/value pair added, so O(N) to add N field/value pairs when the command is called with multiple field/value pairs.", hset),
    cmd("hsetnx", 4, WRITE | DENYOOM | FAST, ONE_KEY, "2.0.0", "Sets the value of a field in a hash only when the field doesn't exist.", "O(1)", hsetnx),
    cmd("hmset", -4, WRITE | DENYOOM | FAST, ONE_KEY, "2.0.0", "Sets the values of multiple fields.", "O(N) where N is the number of fields being set.", hmset),
    cmd("hget", 3, READONLY | FAST, ONE_KEY, "2.0.0", "Returns the value of a field in a hash.", "O(1)", hget),
    cmd("hmget", -3, READONLY | FAST, ONE_KEY, "2.0.0", "Returns the values of all fields in a hash.", "O(N) where N is the number of fields being requested.", hmget),
    cmd("hgetall", 2, READONLY, ONE_KEY, "2.0.0", "Returns all fields and values in a hash.", "O(N) where N is the size of the hash.", hgetall),
    cmd("hdel", -3, WRITE | FAST, ONE_KEY, "2.0.0", "Deletes one or more fields and their values from a hash. Deletes the hash if no fields remain.", "O(N) where N is the number of fields to be removed.", hdel),
    cmd("hexists", 3, READONLY | FAST, ONE_KEY, "2.0.0", "Determines whether a field exists in a hash.", "O(1)", hexists),
    cmd("hlen", 2, READONLY | FAST, ONE_KEY, "2.0.0", "Returns the number of fields in a hash.", "O(1)", hlen),
    cmd("hstrlen", 3, READONLY | FAST, ONE_KEY, "3.2.0", "Returns the length of the value of a field.", "O(1)", hstrlen),
    cmd("hincrby", 4, WRITE | DENYOOM | FAST, ONE_KEY, "2.0.0", "Increments the integer value of a field in a hash by a number. Uses 0 as initial value if the field doesn't exist.", "O(1)", hincrby),
    cmd("hincrbyfloat", 4, WRITE | DENYOOM | FAST, ONE_KEY, "2.6.0", "Increments the floating point value of a field by a number. Uses 0 as initial value if the field doesn't exist.", "O(1)", hincrbyfloat),
    cmd("hkeys", 2, READONLY, ONE_KEY, "2.0.0", "Returns all fields in a hash.", "O(N) where N is the size of the hash.", hkeys),
    cmd("hvals", 2, READONLY, ONE_KEY, "2.0.0", "Returns all values in a hash.", "O(N) where N is the size of the hash.", hvals),
    cmd("hrandfield", -2, READONLY, ONE_KEY, "6.2.0", "Returns one or more random fields from a hash.", "O(N) where N is the number of fields returned", hrandfield),
    cmd("hscan", -3, READONLY, ONE_KEY, "2.8.0", "Iterates over fields and values of a hash.", "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection.", hscan),
];

/// The hash at `key` for reading: `None` when missing, WRONGTYPE for another type.
fn read_hash<'a>(
    store: &'a mut Store,
    db: usize,
    key: &[u8],
    now_ms: u64,
) -> Result<Option<&'a Hash>, CmdError> {
    match store.get(db, key, now_ms) {
        None => Ok(None),
        Some(Stored::Boxed(Value::Hash(hash))) => Ok(Some(hash)),
        Some(_) => Err(CmdError::WrongType),
    }
}

/// Runs `change` on the hash at `key`. A missing key gives `Ok(None)` unless `create`, in
/// which case `change` runs on a new hash that is stored only if it ends non-empty. An
/// existing hash is changed in place; its size change is accounted and it is deleted when
/// it ends empty. `change` must check everything that can fail before it writes.
fn write_hash<T>(
    ctx: &mut Ctx,
    key: &[u8],
    create: bool,
    change: impl FnOnce(&mut Hash, &Conversion) -> Result<T, CmdError>,
) -> Result<Option<T>, CmdError> {
    let limits = ctx.encoding_limits();
    let (db, now) = (ctx.db, ctx.now_ms);
    let store = ctx.store(key);
    let conversion = Conversion::new(&limits, store.hasher().clone());
    match store.get_mut_as(db, key, now, "hash") {
        Some(Value::Hash(hash)) => {
            let size_before = hash.size_bytes();
            let result = change(hash, &conversion);
            let size_after = hash.size_bytes();
            let empty = hash.is_empty();
            store.resized(size_before, size_after);
            if empty {
                store.remove(db, key, now);
            }
            result.map(Some)
        }
        Some(_) => Err(CmdError::WrongType),
        None if !create => Ok(None),
        None => {
            let mut hash = Hash::new();
            let result = change(&mut hash, &conversion)?;
            if !hash.is_empty() {
                store.insert(db, key, Value::Hash(hash), Ttl::Clear, now);
            }
            Ok(Some(result))
        }
    }
}

fn copy(bytes: &[u8]) -> Frame {
    Frame::Bulk(Bytes::copy_from_slice(bytes))
}

/// HSET key field value [field value ...]: replies with the number of fields added.
fn hset(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    set_pairs(ctx, args, "hset").map(int_len)
}

/// HMSET key field value [field value ...]: HSET's older form, which replies OK.
fn hmset(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    set_pairs(ctx, args, "hmset").map(|_| ok())
}

/// Sets every pair in order (a repeated field keeps its last value); the number of fields
/// that were new. An odd number of arguments is an arity error, as Redis words it.
fn set_pairs(ctx: &mut Ctx, args: &mut Args, command: &str) -> Result<usize, CmdError> {
    let key = args.key()?;
    let pairs = args.rest();
    if pairs.is_empty() || pairs.len() % 2 == 1 {
        return Err(CmdError::WrongArity {
            command: command.into(),
        });
    }
    let added = write_hash(ctx, &key, true, |hash, conversion| {
        hash.prepare(pairs.len() / 2, pairs.iter().map(Bytes::len), conversion);
        let mut added = 0usize;
        for pair in pairs.chunks_exact(2) {
            if hash.insert(&pair[0], &pair[1], conversion) {
                added += 1;
            }
        }
        Ok(added)
    })?;
    let added = added.expect("write_hash creates the key");
    assert!(added <= pairs.len() / 2);
    Ok(added)
}

/// HSETNX key field value: sets the field only when it does not exist yet.
fn hsetnx(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.key()?;
    let field = args.bytes()?;
    let value = args.bytes()?;
    let set = write_hash(ctx, &key, true, |hash, conversion| {
        if hash.contains(&field) {
            return Ok(false);
        }
        Ok(hash.insert(&field, &value, conversion))
    })?;
    Ok(int(i64::from(set == Some(true))))
}

/// HGET key field
fn hget(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.key()?;
    let field = args.bytes()?;
    let (db, now) = (ctx.db, ctx.now_ms);
    let hash = read_hash(ctx.store(&key), db, &key, now)?;
    Ok(hash
        .and_then(|hash| hash.get(&field))
        .map_or(Frame::Null, copy))
}

/// HMGET key field [field ...]: a nil for each missing field (all of them for a missing key).
fn hmget(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.key()?;
    let fields = args.rest();
    let (db, now) = (ctx.db, ctx.now_ms);
    let hash = read_hash(ctx.store(&key), db, &key, now)?;
    let values = fields
        .iter()
        .map(|field| {
            hash.and_then(|hash| hash.get(field))
                .map_or(Frame::Null, copy)
        })
        .collect();
    Ok(Frame::Array(values))
}

/// HGETALL key: a map in RESP3, which RESP2 sends as a flat field, value, ... array.
fn hgetall(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.key()?;
    let (db, now) = (ctx.db, ctx.now_ms);
    let hash = read_hash(ctx.store(&key), db, &key, now)?;
    let pairs = hash.map_or_else(Vec::new, |hash| {
        hash.iter()
            .map(|(field, value)| (copy(field), copy(value)))
            .collect()
    });
    Ok(Frame::Map(pairs))
}

/// HKEYS key
fn hkeys(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.key()?;
    let (db, now) = (ctx.db, ctx.now_ms);
    let hash = read_hash(ctx.store(&key), db, &key, now)?;
    let fields = hash.map_or_else(Vec::new, |hash| {
        hash.iter().map(|(field, _)| copy(field)).collect()
    });
    Ok(Frame::Array(fields))
}

/// HVALS key
fn hvals(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.key()?;
    let (db, now) = (ctx.db, ctx.now_ms);
    let hash = read_hash(ctx.store(&key), db, &key, now)?;
    let values = hash.map_or_else(Vec::new, |hash| {
        hash.iter().map(|(_, value)| copy(value)).collect()
    });
    Ok(Frame::Array(values))
}

/// HDEL key field [field ...]: the number of fields removed; the key goes with the last one.
fn hdel(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.key()?;
    let fields = args.rest();
    let removed = write_hash(ctx, &key, false, |hash, _| {
        let mut removed = 0usize;
        for field in fields {
            if hash.remove(field) {
                removed += 1;
            }
            // Redis stops once the hash is empty: the key is about to go.
            if hash.is_empty() {
                break;
            }
        }
        Ok(removed)
    })?;
    Ok(int_len(removed.unwrap_or(0)))
}

/// HEXISTS key field
fn hexists(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.key()?;
    let field = args.bytes()?;
    let (db, now) = (ctx.db, ctx.now_ms);
    let hash = read_hash(ctx.store(&key), db, &key, now)?;
    Ok(int(i64::from(
        hash.is_some_and(|hash| hash.contains(&field)),
    )))
}

/// HLEN key
fn hlen(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.key()?;
    let (db, now) = (ctx.db, ctx.now_ms);
    let hash = read_hash(ctx.store(&key), db, &key, now)?;
    Ok(int_len(hash.map_or(0, Hash::len)))
}

/// HSTRLEN key field: 0 for a missing field or key.
fn hstrlen(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.key()?;
    let field = args.bytes()?;
    let (db, now) = (ctx.db, ctx.now_ms);
    let hash = read_hash(ctx.store(&key), db, &key, now)?;
    let len = hash
        .and_then(|hash| hash.get(&field))
        .map_or(0, <[u8]>::len);
    Ok(int_len(len))
}

/// HINCRBY key field increment: the field counts from 0 when missing. The increment is
/// checked before the key, so a bad number wins over WRONGTYPE, as in Redis.
fn hincrby(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.key()?;
    let field = args.bytes()?;
    let delta = args.i64()?;
    let next = write_hash(ctx, &key, true, |hash, conversion| {
        let current = match hash.get(&field) {
            None => 0,
            Some(text) => parse_i64(text).ok_or(not_an_integer())?,
        };
        let next = current.checked_add(delta).ok_or(CmdError::Overflow)?;
        hash.insert(&field, next.to_string().as_bytes(), conversion);
        Ok(next)
    })?;
    Ok(int(next.expect("write_hash creates the key")))
}

fn not_an_integer() -> CmdError {
    CmdError::Err("hash value is not an integer".into())
}

/// HINCRBYFLOAT key field increment: written back in plain decimal, the shortest form that
/// reads back as the same double, like INCRBYFLOAT. An infinite increment is refused before
/// the key is touched, and a result that is not finite is refused before it is stored.
fn hincrbyfloat(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.key()?;
    let field = args.bytes()?;
    let increment = args.bytes()?;
    let delta = parse_f64(&increment).ok_or(CmdError::NotFloat)?;
    if !delta.is_finite() {
        return Err(CmdError::Err("value is NaN or Infinity".into()));
    }
    let text = write_hash(ctx, &key, true, |hash, conversion| {
        // Redis sizes the encoding by the field and the increment as given.
        hash.prepare(0, [field.len(), increment.len()], conversion);
        let current = match hash.get(&field) {
            None => 0.0,
            Some(text) => parse_f64(text).ok_or(not_a_float())?,
        };
        let next = current + delta;
        if !next.is_finite() {
            return Err(CmdError::NanOrInfinity);
        }
        let text = Bytes::from(format_float(next));
        hash.insert(&field, &text, conversion);
        Ok(text)
    })?;
    Ok(Frame::Bulk(text.expect("write_hash creates the key")))
}

fn not_a_float() -> CmdError {
    CmdError::Err("hash value is not a float".into())
}

/// HRANDFIELD's arguments after the key.
#[derive(Debug, PartialEq, Eq)]
struct RandomOptions {
    /// `None` without a count: one field or nil. Otherwise Redis's signed count.
    count: Option<i64>,
    with_values: bool,
}

impl RandomOptions {
    /// `[count [WITHVALUES]]`, checked in Redis's order: the number, the syntax, then the
    /// narrower range WITHVALUES allows (its replies are twice as long).
    fn parse(args: &mut Args) -> Result<RandomOptions, CmdError> {
        if args.is_empty() {
            return Ok(RandomOptions {
                count: None,
                with_values: false,
            });
        }
        let count = args.i64()?;
        // Redis's wording, word for word, since clients match on it.
        if count < -RANDOM_COUNT_MAX {
            return Err(CmdError::Err(format!(
                "value is out of range, value must between {} and {}",
                -RANDOM_COUNT_MAX, RANDOM_COUNT_MAX
            )));
        }
        let with_values = args.flag("WITHVALUES");
        args.finish()?;
        let half = RANDOM_COUNT_MAX / 2;
        if with_values && !(-half..=half).contains(&count) {
            return Err(value_out_of_range());
        }
        Ok(RandomOptions {
            count: Some(count),
            with_values,
        })
    }
}

fn value_out_of_range() -> CmdError {
    CmdError::Err("value is out of range".into())
}

/// HRANDFIELD key [count [WITHVALUES]]: without a count, one field (nil for a missing key);
/// a positive count gives distinct fields, at most the hash's size; a negative count gives
/// exactly |count| fields that may repeat. A missing key with a count gives an empty array.
fn hrandfield(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.key()?;
    let options = RandomOptions::parse(args)?;
    let (db, now, protocol) = (ctx.db, ctx.now_ms, ctx.protocol);
    let store = ctx.store(&key);
    let empty = match options.count {
        None => Frame::Null,
        Some(_) => Frame::Array(Vec::new()),
    };
    // The read lookup checks the type and counts the hit or miss; the second borrows the rng.
    if read_hash(store, db, &key, now)?.is_none() {
        return Ok(empty);
    }
    let Some((Stored::Boxed(Value::Hash(hash)), rng)) = store.read_with_rng(db, &key, now) else {
        unreachable!("read_hash found a hash at this key");
    };
    let Some(count) = options.count else {
        let pair = hash.random_pair(rng);
        return Ok(pair.map_or(Frame::Null, |(field, _)| Frame::Bulk(field)));
    };
    let distinct = count >= 0;
    let picks = count.unsigned_abs();
    if !distinct && picks > RANDOM_PICKS_MAX {
        return Err(value_out_of_range());
    }
    let picks = if distinct {
        picks.min(hash.len() as u64)
    } else {
        picks
    };
    let picks = usize::try_from(picks).expect("bounded by the hash size or RANDOM_PICKS_MAX");
    let pairs = hash.random_pairs(picks, distinct, rng);
    Ok(random_reply(pairs, options.with_values, protocol))
}

/// Fields alone, or with values: RESP3 nests each pair, RESP2 flattens them.
fn random_reply(pairs: Vec<Pair>, with_values: bool, protocol: Protocol) -> Frame {
    if !with_values {
        return Frame::Array(
            pairs
                .into_iter()
                .map(|(field, _)| Frame::Bulk(field))
                .collect(),
        );
    }
    let frames = match protocol {
        Protocol::Resp3 => pairs
            .into_iter()
            .map(|(field, value)| Frame::Array(vec![Frame::Bulk(field), Frame::Bulk(value)]))
            .collect(),
        Protocol::Resp2 => pairs
            .into_iter()
            .flat_map(|(field, value)| [Frame::Bulk(field), Frame::Bulk(value)])
            .collect(),
    };
    Frame::Array(frames)
}

/// HSCAN key cursor [MATCH pattern] [COUNT count] [NOVALUES]. A compact hash comes back whole
/// with cursor 0. As in Redis, the cursor is checked first, then the key (a missing key is an
/// empty scan whatever the options say), then the options.
fn hscan(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.key()?;
    let cursor = parse_cursor(&args.bytes()?)?;
    let options = ScanArgs::parse(args, ScanExtra::Omit("NOVALUES"));
    let (db, now) = (ctx.db, ctx.now_ms);
    let Some(hash) = read_hash(ctx.store(&key), db, &key, now)? else {
        return Ok(scan_reply(0, Vec::new()));
    };
    let options = options?;
    let mut found = Vec::new();
    let next = hash.scan(cursor, options.count, |field, value| {
        if options
            .pattern
            .as_ref()
            .is_some_and(|p| !glob_match(p, field))
        {
            return;
        }
        found.push(copy(field));
        if !options.omit_values {
            found.push(copy(value));
        }
    });
    Ok(scan_reply(next, found))
}

fn scan_reply(cursor: u64, items: Vec<Frame>) -> Frame {
    Frame::Array(vec![
        bulk(Bytes::from(cursor.to_string())),
        Frame::Array(items),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::table::Handler;
    use crate::server::Shared;

    fn argv(words: &[&str]) -> Vec<Bytes> {
        words.iter().map(|w| Bytes::from(w.to_string())).collect()
    }

    fn shared() -> Shared {
        Shared::for_tests(1)
    }

    /// Runs one command in-process against `store`, as a shard would.
    fn run(shared: &Shared, store: &mut Store, protocol: Protocol, words: &[&str]) -> Frame {
        let spec = COMMANDS
            .iter()
            .find(|spec| spec.name.eq_ignore_ascii_case(words[0]))
            .expect("a hash command");
        let Handler::Data(handler) = spec.handler else {
            unreachable!("hash commands are data commands");
        };
        let argv = argv(words);
        let mut stores = [&mut *store];
        let mut ctx = Ctx::new(0, 0, protocol, shared, &mut stores);
        let mut args = Args::new(&argv, 1);
        handler(&mut ctx, &mut args).unwrap_or_else(|e| e.to_frame())
    }

    fn b(text: &str) -> Frame {
        Frame::Bulk(Bytes::from(text.to_string()))
    }

    fn error(text: &str) -> Frame {
        Frame::Error(Bytes::from(text.to_string()))
    }

    #[test]
    fn random_options_follow_redis_order_of_checks() {
        let parse = |words: &[&str]| {
            let argv = argv(words);
            RandomOptions::parse(&mut Args::new(&argv, 0))
        };
        assert_eq!(
            parse(&["-5", "withvalues"]),
            Ok(RandomOptions {
                count: Some(-5),
                with_values: true
            })
        );
        assert_eq!(parse(&["x", "bogus"]), Err(CmdError::NotInteger));
        assert_eq!(parse(&["1", "bogus"]), Err(CmdError::Syntax));
        assert_eq!(parse(&["1", "withvalues", "x"]), Err(CmdError::Syntax));
        assert_eq!(
            parse(&["-9223372036854770000", "withvalues"]),
            Err(value_out_of_range())
        );
        assert!(parse(&["-9223372036854775808"])
            .unwrap_err()
            .message()
            .contains("value is out of range"));
        assert!(parse(&["-9223372036854770000"]).is_ok());
    }

    #[test]
    fn set_get_delete_and_empty_hashes_go_away() {
        let shared = shared();
        let mut store = Store::for_tests();
        let r2 = Protocol::Resp2;
        assert_eq!(
            run(
                &shared,
                &mut store,
                r2,
                &["HSET", "h", "a", "1", "b", "2", "a", "3"]
            ),
            int(2)
        );
        assert_eq!(run(&shared, &mut store, r2, &["HGET", "h", "a"]), b("3"));
        assert_eq!(
            run(&shared, &mut store, r2, &["HSET", "h", "a"]),
            error("ERR wrong number of arguments for 'hset' command")
        );
        assert_eq!(
            run(&shared, &mut store, r2, &["HDEL", "h", "a", "b", "c"]),
            int(2)
        );
        assert!(!store.exists(0, b"h", 0));
        assert_eq!(store.used_bytes(), 0);
    }

    #[test]
    fn memory_accounting_follows_in_place_changes() {
        let shared = shared();
        let mut store = Store::for_tests();
        let r2 = Protocol::Resp2;
        for i in 0..300 {
            let field = format!("f{i}");
            run(&shared, &mut store, r2, &["HSET", "h", &field, "value"]);
        }
        let mut expected = 0;
        if let Some(Stored::Boxed(Value::Hash(hash))) = store.get(0, b"h", 0) {
            assert_eq!(hash.encoding(), "hashtable");
            expected = hash.size_bytes();
        }
        assert!(store.used_bytes() > expected);
        for i in 0..300 {
            let field = format!("f{i}");
            run(&shared, &mut store, r2, &["HDEL", "h", &field]);
        }
        assert_eq!(store.used_bytes(), 0);
    }

    #[test]
    fn counters_check_values_and_overflow() {
        let shared = shared();
        let mut store = Store::for_tests();
        let r2 = Protocol::Resp2;
        assert_eq!(
            run(&shared, &mut store, r2, &["HINCRBY", "h", "n", "5"]),
            int(5)
        );
        run(
            &shared,
            &mut store,
            r2,
            &["HSET", "h", "s", " 1", "big", "9223372036854775807"],
        );
        assert_eq!(
            run(&shared, &mut store, r2, &["HINCRBY", "h", "s", "1"]),
            error("ERR hash value is not an integer")
        );
        assert_eq!(
            run(&shared, &mut store, r2, &["HINCRBY", "h", "big", "1"]),
            error("ERR increment or decrement would overflow")
        );
        assert_eq!(
            run(&shared, &mut store, r2, &["HINCRBYFLOAT", "h", "f", "1.23"]),
            b("1.23")
        );
        assert_eq!(
            run(&shared, &mut store, r2, &["HINCRBYFLOAT", "h", "f", "0.77"]),
            b("2")
        );
        assert_eq!(
            run(&shared, &mut store, r2, &["HINCRBYFLOAT", "h", "s", "1"]),
            error("ERR hash value is not a float")
        );
        assert_eq!(
            run(&shared, &mut store, r2, &["HINCRBYFLOAT", "x", "f", "+inf"]),
            error("ERR value is NaN or Infinity")
        );
        assert!(!store.exists(0, b"x", 0));
    }

    #[test]
    fn random_fields_reply_shapes() {
        let shared = shared();
        let mut store = Store::for_tests();
        run(
            &shared,
            &mut store,
            Protocol::Resp2,
            &["HSET", "h", "a", "1", "b", "2"],
        );
        let Frame::Array(flat) = run(
            &shared,
            &mut store,
            Protocol::Resp2,
            &["HRANDFIELD", "h", "-3", "WITHVALUES"],
        ) else {
            panic!("an array");
        };
        assert_eq!(flat.len(), 6);
        let Frame::Array(nested) = run(
            &shared,
            &mut store,
            Protocol::Resp3,
            &["HRANDFIELD", "h", "5", "WITHVALUES"],
        ) else {
            panic!("an array");
        };
        assert_eq!(nested.len(), 2);
        assert!(nested
            .iter()
            .all(|p| matches!(p, Frame::Array(pair) if pair.len() == 2)));
        assert_eq!(
            run(
                &shared,
                &mut store,
                Protocol::Resp2,
                &["HRANDFIELD", "nope"]
            ),
            Frame::Null
        );
        assert_eq!(
            run(
                &shared,
                &mut store,
                Protocol::Resp2,
                &["HRANDFIELD", "nope", "-99999999999"]
            ),
            Frame::Array(Vec::new())
        );
        assert_eq!(
            run(
                &shared,
                &mut store,
                Protocol::Resp2,
                &["HRANDFIELD", "h", "-99999999999"]
            ),
            error("ERR value is out of range")
        );
    }
}
