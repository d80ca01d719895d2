//! The string family: GET, SET and its options, the counters, ranges and multi-key forms.

use bytes::{Bytes, BytesMut};
use ember_proto::Frame;

use super::table::{flag::*, CommandSpec, ALL_KEYS, KEY_VALUE_PAIRS, ONE_KEY};
use super::{int, int_len, ok, Args, CmdError, Ctx};
use crate::keyspace::value::TextEncoding;
use crate::keyspace::{Store, Ttl, Value};

super::table::keyed_family!("string");

pub const COMMANDS: &[CommandSpec] = &[
    cmd("get", 2, READONLY | FAST, ONE_KEY, "1.0.0", "Returns the string value of a key.", "O(1)", get),
    cmd("set", -3, WRITE | DENYOOM, ONE_KEY, "1.0.0", "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.", "O(1)", set),
    cmd("setnx", 3, WRITE | DENYOOM | FAST, ONE_KEY, "1.0.0", "Set the string value of a key only when the key doesn't exist.", "O(1)", setnx),
    cmd("setex", 4, WRITE | DENYOOM, ONE_KEY, "2.0.0", "Sets the string value and expiration time of a key. Creates the key if it doesn't exist.", "O(1)", setex),
    cmd("psetex", 4, WRITE | DENYOOM, ONE_KEY, "2.6.0", "Sets both string value and expiration time in milliseconds of a key. The key is created if it doesn't exist.", "O(1)", psetex),
    cmd("getset", 3, WRITE | DENYOOM | FAST, ONE_KEY, "1.0.0", "Returns the previous string value of a key after setting it to a new value.", "O(1)", getset),
    cmd("getdel", 2, WRITE | FAST, ONE_KEY, "6.2.0", "Returns the string value of a key after deleting the key.", "O(1)", getdel),
    cmd("getex", -2, WRITE | FAST, ONE_KEY, "6.2.0", "Returns the string value of a key after setting its expiration time.", "O(1)", getex),
    cmd("mget", -2, READONLY | FAST, ALL_KEYS, "1.0.0", "Atomically returns the string values of one or more keys.", "O(N) where N is the number of keys to retrieve.", mget),
    cmd("mset", -3, WRITE | DENYOOM, KEY_VALUE_PAIRS, "1.0.1", "Atomically creates or modifies the string values of one or more keys.", "O(N) where N is the number of keys to set.", mset),
    cmd("msetnx", -3, WRITE | DENYOOM, KEY_VALUE_PAIRS, "1.0.1", "Atomically modifies the string values of one or more keys only when all keys don't exist.", "O(N) where N is the number of keys to set.", msetnx),
    cmd("incr", 2, WRITE | DENYOOM | FAST, ONE_KEY, "1.0.0", "Increments the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.", "O(1)", incr),
    cmd("decr", 2, WRITE | DENYOOM | FAST, ONE_KEY, "1.0.0", "Decrements the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.", "O(1)", decr),
    cmd("incrby", 3, WRITE | DENYOOM | FAST, ONE_KEY, "1.0.0", "Increments the integer value of a key by a number. Uses 0 as initial value if the key doesn't exist.", "O(1)", incrby),
    cmd("decrby", 3, WRITE | DENYOOM | FAST, ONE_KEY, "1.0.0", "Decrements a number from the integer value of a key. Uses 0 as initial value if the key doesn't exist.", "O(1)", decrby),
    cmd("incrbyfloat", 3, WRITE | DENYOOM | FAST, ONE_KEY, "2.6.0", "Increment the floating point value of a key by a number. Uses 0 as initial value if the key doesn't exist.", "O(1)", incrbyfloat),
    cmd("append", 3, WRITE | DENYOOM | FAST, ONE_KEY, "2.0.0", "Appends a string to the value of a key. Creates the key if it doesn't exist.", "O(1). The amortized time complexity is O(1) assuming the appended value is small and the already present value is of any size, since the dynamic string library used by Redis will double the free space available on every reallocation.", append),
    cmd("strlen", 2, READONLY | FAST, ONE_KEY, "2.2.0", "Returns the length of a string value.", "O(1)", strlen),
    cmd("getrange", 4, READONLY, ONE_KEY, "2.4.0", "Returns a substring of the string stored at a key.", "O(N) where N is the length of the returned string.", getrange),
    cmd("substr", 4, READONLY, ONE_KEY, "1.0.0", "Returns a substring from a string value.", "O(N) where N is the length of the returned string.", getrange),
    cmd("setrange", 4, WRITE | DENYOOM, ONE_KEY, "2.2.0", "Overwrites a part of a string value with another by an offset. Creates the key if it doesn't exist.", "O(1), not counting the time taken to copy the new string in place.", setrange),
];

/// The string at `key`: `None` when missing, WRONGTYPE when it holds another type.
fn read_string(
    store: &mut Store,
    db: usize,
    key: &[u8],
    now_ms: u64,
) -> Result<Option<Bytes>, CmdError> {
    store
        .get_string(db, key, now_ms)
        .map_err(|_| CmdError::WrongType)
}

fn nullable(value: Option<Bytes>) -> Frame {
    value.map_or(Frame::Null, Frame::Bulk)
}

/// GET key
fn get(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.key()?;
    let (db, now) = (ctx.db, ctx.now_ms);
    Ok(nullable(read_string(ctx.store(&key), db, &key, now)?))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Condition {
    Always,
    IfMissing,
    IfExists,
}

/// How a SET or GETEX changes the TTL, before the time value is validated.
#[derive(Clone, Debug, PartialEq, Eq)]
enum ExpireArg {
    None,
    KeepTtl,
    Persist,
    Relative { amount: Bytes, unit_ms: i64 },
    Absolute { amount: Bytes, unit_ms: i64 },
}

#[derive(Debug, PartialEq, Eq)]
struct SetOptions {
    condition: Condition,
    get: bool,
    expire: ExpireArg,
}

impl SetOptions {
    /// Parses `[NX | XX] [GET] [EX s | PX ms | EXAT ts | PXAT ms-ts | KEEPTTL]` in any order.
    /// Syntax errors win over bad numbers, as in Redis, so numbers are checked later.
    fn parse(args: &mut Args) -> Result<SetOptions, CmdError> {
        let mut options = SetOptions {
            condition: Condition::Always,
            get: false,
            expire: ExpireArg::None,
        };
        while !args.is_empty() {
            if args.flag("NX") && options.condition != Condition::IfExists {
                options.condition = Condition::IfMissing;
            } else if args.flag("XX") && options.condition != Condition::IfMissing {
                options.condition = Condition::IfExists;
            } else if args.flag("GET") {
                options.get = true;
            } else if args.flag("KEEPTTL")
                && matches!(options.expire, ExpireArg::None | ExpireArg::KeepTtl)
            {
                options.expire = ExpireArg::KeepTtl;
            } else if let Some(expire) = parse_expire_option(args, &options.expire)? {
                options.expire = expire;
            } else {
                return Err(CmdError::Syntax);
            }
        }
        Ok(options)
    }
}

/// EX, PX, EXAT or PXAT with its value, if the next argument is one of them and does not
/// conflict with an expiry already given (repeating the same option is allowed, as in Redis).
fn parse_expire_option(
    args: &mut Args,
    current: &ExpireArg,
) -> Result<Option<ExpireArg>, CmdError> {
    let Some(word) = args.peek() else {
        return Ok(None);
    };
    let (absolute, unit_ms) = match word.to_ascii_uppercase().as_slice() {
        b"EX" => (false, 1000),
        b"PX" => (false, 1),
        b"EXAT" => (true, 1000),
        b"PXAT" => (true, 1),
        _ => return Ok(None),
    };
    let compatible = match current {
        ExpireArg::None => true,
        ExpireArg::Relative { unit_ms: u, .. } => !absolute && *u == unit_ms,
        ExpireArg::Absolute { unit_ms: u, .. } => absolute && *u == unit_ms,
        ExpireArg::KeepTtl | ExpireArg::Persist => false,
    };
    if !compatible || args.remaining() < 2 {
        return Err(CmdError::Syntax);
    }
    args.bytes()?;
    let amount = args.bytes()?;
    Ok(Some(if absolute {
        ExpireArg::Absolute { amount, unit_ms }
    } else {
        ExpireArg::Relative { amount, unit_ms }
    }))
}

/// Turns an EX/PX/EXAT/PXAT value into an absolute time in ms, with Redis's checks: the value
/// must be a positive integer and the result must not overflow.
fn expire_time(expire: &ExpireArg, now_ms: u64, command: &'static str) -> Result<Ttl, CmdError> {
    let (amount, unit_ms, relative) = match expire {
        ExpireArg::None => return Ok(Ttl::Clear),
        ExpireArg::KeepTtl => return Ok(Ttl::Keep),
        ExpireArg::Persist => return Ok(Ttl::Clear),
        ExpireArg::Relative { amount, unit_ms } => (amount, *unit_ms, true),
        ExpireArg::Absolute { amount, unit_ms } => (amount, *unit_ms, false),
    };
    let value = super::args::parse_i64(amount).ok_or(CmdError::NotInteger)?;
    let invalid = CmdError::InvalidExpire { command };
    if value <= 0 {
        return Err(invalid);
    }
    let ms = value.checked_mul(unit_ms).ok_or(invalid.clone())?;
    let at = if relative {
        ms.checked_add(now_ms as i64).ok_or(invalid.clone())?
    } else {
        ms
    };
    if at > crate::limits::EXPIRE_AT_MAX_MS {
        return Err(invalid);
    }
    Ok(Ttl::At(at as u64))
}

/// SET key value [NX | XX] [GET] [EX seconds | PX milliseconds | EXAT unix-time-seconds |
/// PXAT unix-time-milliseconds | KEEPTTL]
fn set(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.key()?;
    let value = args.bytes()?;
    let options = SetOptions::parse(args)?;
    let ttl = expire_time(&options.expire, ctx.now_ms, "set")?;
    let (db, now) = (ctx.db, ctx.now_ms);
    let store = ctx.store(&key);
    let previous = if options.get {
        read_string(store, db, &key, now)?
    } else {
        None
    };
    let allowed = match options.condition {
        // A plain SET replaces whatever is there: one lookup, in `insert`.
        Condition::Always => {
            store.expire_if_due(db, &key, now);
            true
        }
        Condition::IfMissing => !store.exists(db, &key, now),
        Condition::IfExists => store.exists(db, &key, now),
    };
    if allowed {
        store.insert(db, &key, Value::string(&value), ttl, now);
    }
    Ok(match (options.get, allowed) {
        (true, _) => nullable(previous),
        (false, true) => ok(),
        (false, false) => Frame::Null,
    })
}

/// SETNX key value
fn setnx(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.key()?;
    let value = args.bytes()?;
    let (db, now) = (ctx.db, ctx.now_ms);
    let store = ctx.store(&key);
    if store.exists(db, &key, now) {
        return Ok(int(0));
    }
    store.insert(db, &key, Value::string(&value), Ttl::Clear, now);
    Ok(int(1))
}

fn set_with_expire(
    ctx: &mut Ctx,
    args: &mut Args,
    unit_ms: i64,
    command: &'static str,
) -> Result<Frame, CmdError> {
    let key = args.key()?;
    let amount = args.bytes()?;
    let value = args.bytes()?;
    let ttl = expire_time(
        &ExpireArg::Relative { amount, unit_ms },
        ctx.now_ms,
        command,
    )?;
    let (db, now) = (ctx.db, ctx.now_ms);
    ctx.store(&key)
        .insert(db, &key, Value::string(&value), ttl, now);
    Ok(ok())
}

/// SETEX key seconds value
fn setex(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    set_with_expire(ctx, args, 1000, "setex")
}

/// PSETEX key milliseconds value
fn psetex(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    set_with_expire(ctx, args, 1, "psetex")
}

/// GETSET key value: sets and returns the old value; the TTL is discarded.
fn getset(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.key()?;
    let value = args.bytes()?;
    let (db, now) = (ctx.db, ctx.now_ms);
    let store = ctx.store(&key);
    let previous = read_string(store, db, &key, now)?;
    store.insert(db, &key, Value::string(&value), Ttl::Clear, now);
    Ok(nullable(previous))
}

/// GETDEL key
fn getdel(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.key()?;
    let (db, now) = (ctx.db, ctx.now_ms);
    let store = ctx.store(&key);
    let previous = read_string(store, db, &key, now)?;
    if previous.is_some() {
        store.remove(db, &key, now);
    }
    Ok(nullable(previous))
}

/// GETEX key [EX seconds | PX milliseconds | EXAT unix-time-seconds | PXAT unix-time-milliseconds | PERSIST]
fn getex(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.key()?;
    let mut expire = ExpireArg::None;
    while !args.is_empty() {
        if args.flag("PERSIST") && matches!(expire, ExpireArg::None | ExpireArg::Persist) {
            expire = ExpireArg::Persist;
        } else if let Some(parsed) = parse_expire_option(args, &expire)? {
            expire = parsed;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    // As in Redis: options first, then the key (missing: nil; wrong type: WRONGTYPE), and
    // only then the expire time's value.
    let (db, now) = (ctx.db, ctx.now_ms);
    let Some(value) = read_string(ctx.store(&key), db, &key, now)? else {
        return Ok(Frame::Null);
    };
    let ttl = expire_time(&expire, now, "getex")?;
    let store = ctx.store(&key);
    match (expire, ttl) {
        (ExpireArg::None, _) => {}
        (_, Ttl::At(at)) if now > at => {
            store.remove(db, &key, now);
        }
        (_, Ttl::At(at)) => {
            store.set_expire_at(db, &key, Some(at));
        }
        (_, _) => {
            store.set_expire_at(db, &key, None);
        }
    }
    Ok(Frame::Bulk(value))
}

/// MGET key [key ...]: a missing key or one of another type reads as nil.
fn mget(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let (db, now) = (ctx.db, ctx.now_ms);
    let keys = args.rest();
    let mut values = Vec::with_capacity(keys.len());
    for key in keys {
        let value = read_string(ctx.store(key), db, key, now).unwrap_or(None);
        values.push(nullable(value));
    }
    Ok(Frame::Array(values))
}

fn pairs<'a>(args: &mut Args<'a>, command: &str) -> Result<&'a [Bytes], CmdError> {
    let rest = args.rest();
    if rest.is_empty() || !rest.len().is_multiple_of(2) {
        return Err(CmdError::WrongArity {
            command: command.into(),
        });
    }
    Ok(rest)
}

/// MSET key value [key value ...]
fn mset(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let (db, now) = (ctx.db, ctx.now_ms);
    for pair in pairs(args, "mset")?.chunks_exact(2) {
        ctx.store(&pair[0])
            .insert(db, &pair[0], Value::string(&pair[1]), Ttl::Clear, now);
    }
    Ok(ok())
}

/// MSETNX key value [key value ...]: all or nothing.
fn msetnx(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let (db, now) = (ctx.db, ctx.now_ms);
    let pairs = pairs(args, "msetnx")?;
    for pair in pairs.chunks_exact(2) {
        if ctx.store(&pair[0]).exists(db, &pair[0], now) {
            return Ok(int(0));
        }
    }
    for pair in pairs.chunks_exact(2) {
        ctx.store(&pair[0])
            .insert(db, &pair[0], Value::string(&pair[1]), Ttl::Clear, now);
    }
    Ok(int(1))
}

/// Adds `delta` to the integer at `key` (0 when missing), keeping its TTL.
fn add_integer(ctx: &mut Ctx, key: &[u8], delta: i64) -> Result<Frame, CmdError> {
    let (db, now) = (ctx.db, ctx.now_ms);
    let store = ctx.store(key);
    let current = match read_string(store, db, key, now)? {
        None => 0,
        Some(bytes) => super::args::parse_i64(&bytes).ok_or(CmdError::NotInteger)?,
    };
    let next = current.checked_add(delta).ok_or(CmdError::Overflow)?;
    store.insert(
        db,
        key,
        Value::Str(Bytes::from(next.to_string())),
        Ttl::Keep,
        now,
    );
    Ok(int(next))
}

/// INCR key
fn incr(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.key()?;
    add_integer(ctx, &key, 1)
}

/// DECR key
fn decr(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.key()?;
    add_integer(ctx, &key, -1)
}

/// INCRBY key increment
fn incrby(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.key()?;
    let delta = args.i64()?;
    add_integer(ctx, &key, delta)
}

/// DECRBY key decrement: negating i64::MIN would overflow before the addition.
fn decrby(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.key()?;
    let delta = args.i64()?;
    let negated = delta.checked_neg().ok_or(CmdError::DecrementOverflow)?;
    add_integer(ctx, &key, negated)
}

/// INCRBYFLOAT key increment. The result is written in plain decimal notation (never with an
/// exponent), the shortest that reads back as the same double.
fn incrbyfloat(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.key()?;
    let delta = args.bytes()?;
    let (db, now) = (ctx.db, ctx.now_ms);
    let store = ctx.store(&key);
    // Redis checks the key's type, then the stored number, then the increment.
    let current = match read_string(store, db, &key, now)? {
        None => 0.0,
        Some(bytes) => super::args::parse_f64(&bytes).ok_or(CmdError::NotFloat)?,
    };
    let delta = super::args::parse_f64(&delta).ok_or(CmdError::NotFloat)?;
    let next = current + delta;
    if !next.is_finite() {
        return Err(CmdError::NanOrInfinity);
    }
    let text = Bytes::from(format_float(next));
    store.insert(
        db,
        &key,
        Value::Text(text.clone(), TextEncoding::NotInt),
        Ttl::Keep,
        now,
    );
    Ok(Frame::Bulk(text))
}

/// Rust's `Display` for f64 is the shortest round-trip form and never uses an exponent; only
/// negative zero needs care ("-0" reads back fine but Redis prints "0").
pub fn format_float(value: f64) -> String {
    assert!(value.is_finite());
    if value == 0.0 {
        return "0".into();
    }
    format!("{value}")
}

fn string_len_max(ctx: &Ctx) -> usize {
    ctx.shared.config.proto_max_bulk_len()
}

/// APPEND key value: grows the stored string in place, amortized, when nothing else shares it.
fn append(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.key()?;
    let tail = args.bytes()?;
    let len_max = string_len_max(ctx);
    let (db, now) = (ctx.db, ctx.now_ms);
    let store = ctx.store(&key);
    let Some(current) = read_string(store, db, &key, now)? else {
        if tail.len() > len_max {
            return Err(CmdError::StringTooLong);
        }
        store.insert(db, &key, Value::string(&tail), Ttl::Keep, now);
        return Ok(int_len(tail.len()));
    };
    let total = current
        .len()
        .checked_add(tail.len())
        .ok_or(CmdError::StringTooLong)?;
    if total > len_max {
        return Err(CmdError::StringTooLong);
    }
    let before = current.len();
    // Drop the stored handle so the buffer is unique and can grow where it is.
    let slot = store.get_mut(db, &key, now).expect("read above");
    let (Value::Str(stored) | Value::Text(stored, _)) =
        std::mem::replace(slot, Value::Str(Bytes::new()))
    else {
        unreachable!("read_string checked the type");
    };
    drop(current);
    let mut buffer = stored
        .try_into_mut()
        .unwrap_or_else(|shared| BytesMut::from(&shared[..]));
    buffer.extend_from_slice(&tail);
    // An appended string is "raw" in Redis whatever it holds.
    *slot = Value::Text(buffer.freeze(), TextEncoding::Raw);
    store.resized(before, total);
    Ok(int_len(total))
}

/// STRLEN key
fn strlen(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.key()?;
    let (db, now) = (ctx.db, ctx.now_ms);
    let value = read_string(ctx.store(&key), db, &key, now)?;
    Ok(int_len(value.map_or(0, |v| v.len())))
}

/// GETRANGE key start end: inclusive, negative indexes count from the end, clamped.
fn getrange(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.key()?;
    let start = args.i64()?;
    let end = args.i64()?;
    let (db, now) = (ctx.db, ctx.now_ms);
    let value = read_string(ctx.store(&key), db, &key, now)?.unwrap_or_default();
    Ok(Frame::Bulk(substring(&value, start, end)))
}

fn substring(value: &Bytes, start: i64, end: i64) -> Bytes {
    let len = value.len() as i64;
    if (start < 0 && end < 0 && start > end) || len == 0 {
        return Bytes::new();
    }
    let start = if start < 0 {
        (len + start).max(0)
    } else {
        start
    };
    let end = if end < 0 {
        (len + end).max(0)
    } else {
        end.min(len - 1)
    };
    if start > end {
        return Bytes::new();
    }
    value.slice(start as usize..=end as usize)
}

/// SETRANGE key offset value: zero-pads past the end; an empty value changes nothing.
fn setrange(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.key()?;
    let offset = args.i64()?;
    let patch = args.bytes()?;
    if offset < 0 {
        return Err(CmdError::OffsetOutOfRange);
    }
    let len_max = string_len_max(ctx);
    let (db, now) = (ctx.db, ctx.now_ms);
    let store = ctx.store(&key);
    let current = read_string(store, db, &key, now)?;
    let current_len = current.as_ref().map_or(0, |c| c.len());
    if patch.is_empty() {
        return Ok(int_len(current_len));
    }
    let offset = usize::try_from(offset).map_err(|_| CmdError::StringTooLong)?;
    let end = offset
        .checked_add(patch.len())
        .ok_or(CmdError::StringTooLong)?;
    if end > len_max {
        return Err(CmdError::StringTooLong);
    }
    let total = end.max(current_len);
    let mut buffer = BytesMut::with_capacity(total);
    buffer.extend_from_slice(current.as_deref().unwrap_or_default());
    buffer.resize(total, 0);
    buffer[offset..end].copy_from_slice(&patch);
    store.insert(
        db,
        &key,
        Value::Text(buffer.freeze(), TextEncoding::Raw),
        Ttl::Keep,
        now,
    );
    Ok(int_len(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(words: &[&str]) -> Result<SetOptions, CmdError> {
        let argv: Vec<Bytes> = words.iter().map(|w| Bytes::from(w.to_string())).collect();
        SetOptions::parse(&mut Args::new(&argv, 0))
    }

    #[test]
    fn set_options_accept_redis_combinations() {
        let options = parse(&["nx", "GET", "ex", "10"]).unwrap();
        assert_eq!(options.condition, Condition::IfMissing);
        assert!(options.get);
        assert_eq!(
            parse(&["KEEPTTL", "XX"]).unwrap().expire,
            ExpireArg::KeepTtl
        );
        assert!(parse(&["EX", "1", "EX", "2"]).is_ok());
    }

    #[test]
    fn set_options_reject_conflicts_as_syntax_errors() {
        for words in [
            &["NX", "XX"][..],
            &["EX", "1", "PX", "2"],
            &["EX", "1", "KEEPTTL"],
            &["KEEPTTL", "PXAT", "1"],
            &["EX"],
            &["BOGUS"],
        ] {
            assert_eq!(parse(words), Err(CmdError::Syntax), "{words:?}");
        }
    }

    #[test]
    fn expire_values_are_checked_after_syntax() {
        let relative = |s: &str| ExpireArg::Relative {
            amount: Bytes::from(s.to_string()),
            unit_ms: 1000,
        };
        assert_eq!(expire_time(&relative("10"), 5, "set"), Ok(Ttl::At(10_005)));
        assert_eq!(
            expire_time(&relative("x"), 5, "set"),
            Err(CmdError::NotInteger)
        );
        assert_eq!(
            expire_time(&relative("0"), 5, "set"),
            Err(CmdError::InvalidExpire { command: "set" })
        );
        assert_eq!(
            expire_time(&relative("9223372036854775807"), 5, "set"),
            Err(CmdError::InvalidExpire { command: "set" })
        );
    }

    #[test]
    fn substring_clamps_like_redis() {
        let value = Bytes::from_static(b"This is a string");
        assert_eq!(substring(&value, 0, 3), "This");
        assert_eq!(substring(&value, -3, -1), "ing");
        assert_eq!(substring(&value, 0, -1), "This is a string");
        assert_eq!(substring(&value, 10, 100), "string");
        assert_eq!(substring(&value, -1, -5), "");
        assert_eq!(substring(&value, 5, 3), "");
        assert_eq!(substring(&Bytes::new(), 0, -1), "");
    }

    #[test]
    fn floats_print_without_exponent_or_negative_zero() {
        assert_eq!(format_float(10.5 + 0.1), "10.6");
        assert_eq!(format_float(5200.0), "5200");
        assert_eq!(format_float(-0.0), "0");
        assert_eq!(format_float(1e21), "1000000000000000000000");
    }
}
