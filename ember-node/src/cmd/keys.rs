//! The generic key family: existence, deletion, TTLs, renames, KEYS, SCAN and RANDOMKEY.

use bytes::Bytes;
use ember_proto::Frame;

use super::scan::{ScanArgs, ScanExtra};
use super::table::{
    flag::*, CommandSpec, Handler, KeySpec, Route, ALL_KEYS, NO_KEYS, ONE_KEY, TWO_KEYS,
};
use super::{bulk, int, ok, simple, Args, CmdError, Ctx, DataFn};
use crate::keyspace::{evict, Stored, Ttl};
use crate::limits::{SCAN_COUNT_MAX, SHARDS_MAX};

#[allow(clippy::too_many_arguments)]
const fn cmd(
    name: &'static str,
    arity: i32,
    flags: u32,
    keys: KeySpec,
    route: Route,
    since: &'static str,
    summary: &'static str,
    complexity: &'static str,
    handler: DataFn,
) -> CommandSpec {
    CommandSpec {
        name,
        group: "generic",
        arity,
        flags,
        keys,
        route,
        summary,
        complexity,
        since,
        handler: Handler::Data(handler),
        subcommands: &[],
    }
}

const K: Route = Route::Keys;

pub const COMMANDS: &[CommandSpec] = &[
    cmd("del", -2, WRITE, ALL_KEYS, K, "1.0.0", "Deletes one or more keys.", "O(N) where N is the number of keys that will be removed.", del),
    cmd("unlink", -2, WRITE | FAST, ALL_KEYS, K, "4.0.0", "Asynchronously deletes one or more keys.", "O(1) for each key removed regardless of its size.", del),
    cmd("exists", -2, READONLY | FAST, ALL_KEYS, K, "1.0.0", "Determines whether one or more keys exist.", "O(N) where N is the number of keys to check.", exists),
    cmd("touch", -2, READONLY | FAST, ALL_KEYS, K, "3.2.1", "Returns the number of existing keys out of those specified after updating the time they were last accessed.", "O(N) where N is the number of keys that will be touched.", touch),
    cmd("expire", -3, WRITE | FAST, ONE_KEY, K, "1.0.0", "Sets the expiration time of a key in seconds.", "O(1)", expire),
    cmd("pexpire", -3, WRITE | FAST, ONE_KEY, K, "2.6.0", "Sets the expiration time of a key in milliseconds.", "O(1)", pexpire),
    cmd("expireat", -3, WRITE | FAST, ONE_KEY, K, "1.2.0", "Sets the expiration time of a key to a Unix timestamp.", "O(1)", expireat),
    cmd("pexpireat", -3, WRITE | FAST, ONE_KEY, K, "2.6.0", "Sets the expiration time of a key to a Unix milliseconds timestamp.", "O(1)", pexpireat),
    cmd("ttl", 2, READONLY | FAST, ONE_KEY, K, "1.0.0", "Returns the expiration time in seconds of a key.", "O(1)", ttl),
    cmd("pttl", 2, READONLY | FAST, ONE_KEY, K, "2.6.0", "Returns the expiration time in milliseconds of a key.", "O(1)", pttl),
    cmd("expiretime", 2, READONLY | FAST, ONE_KEY, K, "7.0.0", "Returns the expiration time of a key as a Unix timestamp.", "O(1)", expiretime),
    cmd("pexpiretime", 2, READONLY | FAST, ONE_KEY, K, "7.0.0", "Returns the expiration time of a key as a Unix milliseconds timestamp.", "O(1)", pexpiretime),
    cmd("persist", 2, WRITE | FAST, ONE_KEY, K, "2.2.0", "Removes the expiration time of a key.", "O(1)", persist),
    cmd("type", 2, READONLY | FAST, ONE_KEY, K, "1.0.0", "Determines the type of value stored at a key.", "O(1)", key_type),
    cmd("rename", 3, WRITE, TWO_KEYS, K, "1.0.0", "Renames a key and overwrites the destination.", "O(1)", rename),
    cmd("renamenx", 3, WRITE | FAST, TWO_KEYS, K, "1.0.0", "Renames a key only when the target key name doesn't exist.", "O(1)", renamenx),
    cmd("randomkey", 1, READONLY, NO_KEYS, Route::AllShards, "1.0.0", "Returns a random key name from the database.", "O(1)", randomkey),
    cmd("keys", 2, READONLY, NO_KEYS, Route::AllShards, "1.0.0", "Returns all key names that match a pattern.", "O(N) with N being the number of keys in the database, under the assumption that the key names in the database and the given pattern have limited length.", keys),
    cmd("scan", -2, READONLY, NO_KEYS, Route::AllShards, "2.8.0", "Iterates over the key names in the database.", "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection.", scan),
    cmd("copy", -3, WRITE | DENYOOM, TWO_KEYS, K, "6.2.0", "Copies the value of a key to a new key.", "O(N) worst case for collections, where N is the number of nested items. O(1) for string values.", copy),
    cmd("move", 3, WRITE | FAST, ONE_KEY, K, "1.0.0", "Moves a key to another database.", "O(1)", move_key),
    cmd("swapdb", 3, WRITE | FAST | DANGEROUS, NO_KEYS, Route::AllShards, "4.0.0", "Swaps two Redis databases.", "O(N) where N is the count of clients watching or blocking on keys from both databases.", swapdb),
    CommandSpec {
        name: "object",
        group: "generic",
        arity: -2,
        flags: 0,
        keys: NO_KEYS,
        route: Route::None,
        summary: "A container for object introspection commands.",
        complexity: "Depends on subcommand.",
        since: "2.2.3",
        handler: Handler::Container,
        subcommands: OBJECT_SUBCOMMANDS,
    },
];

const OBJECT_KEY: KeySpec = KeySpec::with_keynum(2, 2, 1, 0);

const OBJECT_SUBCOMMANDS: &[CommandSpec] = &[
    cmd(
        "object|encoding",
        3,
        READONLY,
        OBJECT_KEY,
        K,
        "2.2.3",
        "Returns the internal encoding of a Redis object.",
        "O(1)",
        object_encoding,
    ),
    cmd(
        "object|refcount",
        3,
        READONLY,
        OBJECT_KEY,
        K,
        "2.2.3",
        "Returns the reference count of a value of a key.",
        "O(1)",
        object_refcount,
    ),
    cmd(
        "object|freq",
        3,
        READONLY,
        OBJECT_KEY,
        K,
        "4.0.0",
        "Returns the logarithmic access frequency counter of a Redis object.",
        "O(1)",
        object_freq,
    ),
    cmd(
        "object|idletime",
        3,
        READONLY,
        OBJECT_KEY,
        K,
        "2.2.3",
        "Returns the time since the last access to a Redis object.",
        "O(1)",
        object_idletime,
    ),
    cmd(
        "object|help",
        2,
        LOADING | STALE,
        NO_KEYS,
        Route::AllShards,
        "6.2.0",
        "Returns helpful text about the different subcommands.",
        "O(1)",
        object_help,
    ),
];

/// A database index argument: an integer within 0..16.
fn parse_db(bytes: &[u8]) -> Result<usize, CmdError> {
    let index = super::args::parse_i64(bytes).ok_or(CmdError::NotInteger)?;
    if !(0..crate::limits::DATABASES_MAX as i64).contains(&index) {
        return Err(CmdError::DbIndexOutOfRange);
    }
    Ok(index as usize)
}

/// COPY source destination [DB destination-db] [REPLACE]: 1 when copied, 0 when the
/// destination exists and REPLACE was not given. The copy keeps the source's TTL.
fn copy(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let source = args.key()?;
    let target = args.key()?;
    let (mut target_db, mut replace) = (ctx.db, false);
    while !args.is_empty() {
        if args.flag("REPLACE") {
            replace = true;
        } else if args.flag("DB") {
            target_db = parse_db(&args.bytes()?)?;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let (db, now) = (ctx.db, ctx.now_ms);
    if source == target && db == target_db {
        return Err(CmdError::Err(
            "source and destination objects are the same".into(),
        ));
    }
    let store = ctx.store(&source);
    let Some(value) = store.peek(db, &source, now).map(Stored::to_value) else {
        return Ok(int(0));
    };
    let ttl = store.expire_at(db, &source).map_or(Ttl::Clear, Ttl::At);
    let target_store = ctx.store(&target);
    if target_store.exists(target_db, &target, now) && !replace {
        return Ok(int(0));
    }
    target_store.insert(target_db, &target, value, ttl, now);
    Ok(int(1))
}

/// MOVE key db: 1 when moved, 0 when the key is missing or already exists in `db`.
fn move_key(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.key()?;
    let target_db = parse_db(&args.bytes()?)?;
    let (db, now) = (ctx.db, ctx.now_ms);
    if db == target_db {
        return Err(CmdError::Err(
            "source and destination objects are the same".into(),
        ));
    }
    let store = ctx.store(&key);
    if !store.exists(db, &key, now) || store.exists(target_db, &key, now) {
        return Ok(int(0));
    }
    let ttl = store.expire_at(db, &key).map_or(Ttl::Clear, Ttl::At);
    let (_, value) = store.remove(db, &key, now).expect("checked above");
    store.insert(target_db, &key, value, ttl, now);
    Ok(int(1))
}

/// SWAPDB index1 index2: swaps the two databases on every shard at once.
fn swapdb(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let first = super::args::parse_i64(&args.bytes()?)
        .ok_or_else(|| CmdError::Err("invalid first DB index".into()))?;
    let second = super::args::parse_i64(&args.bytes()?)
        .ok_or_else(|| CmdError::Err("invalid second DB index".into()))?;
    let range = 0..crate::limits::DATABASES_MAX as i64;
    if !range.contains(&first) || !range.contains(&second) {
        return Err(CmdError::DbIndexOutOfRange);
    }
    for store in ctx.stores() {
        store.swap_db(first as usize, second as usize);
    }
    Ok(ok())
}

/// OBJECT ENCODING key: nil for a missing key.
fn object_encoding(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.key()?;
    let (db, now) = (ctx.db, ctx.now_ms);
    Ok(match ctx.store(&key).peek(db, &key, now) {
        Some(value) => bulk(Bytes::from_static(value.encoding().as_bytes())),
        None => Frame::Null,
    })
}

/// OBJECT REFCOUNT key: values are never shared between keys, so a live key counts 1.
fn object_refcount(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.key()?;
    let (db, now) = (ctx.db, ctx.now_ms);
    Ok(if ctx.store(&key).exists(db, &key, now) {
        int(1)
    } else {
        Frame::Null
    })
}

/// OBJECT FREQ key: the logarithmic access counter, tracked only under an LFU policy.
fn object_freq(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.key()?;
    let (db, now) = (ctx.db, ctx.now_ms);
    let store = ctx.store(&key);
    let Some(access) = store.access_of(db, &key, now) else {
        return Ok(Frame::Null);
    };
    let settings = store.eviction();
    if !settings.policy.is_lfu() {
        return Err(CmdError::Err(
            "An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."
                .into(),
        ));
    }
    let counter = evict::lfu_counter(access, now, settings.lfu_decay_minutes);
    Ok(int(i64::from(counter)))
}

/// OBJECT IDLETIME key: seconds since the key was last read or written, tracked only when
/// the policy is not LFU.
fn object_idletime(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.key()?;
    let (db, now) = (ctx.db, ctx.now_ms);
    let store = ctx.store(&key);
    let Some(access) = store.access_of(db, &key, now) else {
        return Ok(Frame::Null);
    };
    if store.eviction().policy.is_lfu() {
        return Err(CmdError::Err(
            "An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."
                .into(),
        ));
    }
    Ok(int((evict::idle_ms(access, now) / 1000) as i64))
}

/// OBJECT HELP
fn object_help(_ctx: &mut Ctx, _args: &mut Args) -> Result<Frame, CmdError> {
    Ok(super::connection::help_reply(
        "OBJECT",
        &[
            "ENCODING <key>",
            "    Return the kind of internal representation used in order to store the value",
            "    associated with a <key>.",
            "FREQ <key>",
            "    Return the access frequency index of the <key>. The returned integer is",
            "    proportional to the logarithm of the recent access frequency of the key.",
            "IDLETIME <key>",
            "    Return the idle time of the <key>, that is the approximated number of",
            "    seconds elapsed since the last access to the key.",
            "REFCOUNT <key>",
            "    Return the number of references of the value associated with the specified",
            "    <key>.",
        ],
    ))
}

/// DEL key [key ...] and UNLINK: the count of keys that existed. Both free a big value off
/// the hot path (as Redis's lazyfree-lazy-user-del does for DEL).
fn del(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let (db, now) = (ctx.db, ctx.now_ms);
    let mut removed = 0;
    for key in args.rest() {
        if ctx.store(key).discard(db, key, now) {
            removed += 1;
        }
    }
    Ok(int(removed))
}

/// EXISTS key [key ...]: a key named twice counts twice, as in Redis.
fn exists(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let (db, now) = (ctx.db, ctx.now_ms);
    let mut found = 0;
    for key in args.rest() {
        if ctx.store(key).exists(db, key, now) {
            found += 1;
        }
    }
    Ok(int(found))
}

/// TOUCH key [key ...]: like EXISTS, but each found key counts as accessed (LRU/LFU) and as
/// a keyspace hit.
fn touch(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let (db, now) = (ctx.db, ctx.now_ms);
    let mut found = 0;
    for key in args.rest() {
        if ctx.store(key).get(db, key, now).is_some() {
            found += 1;
        }
    }
    Ok(int(found))
}

/// NX, XX, GT and LT as independent conditions: Redis allows XX with GT or LT and checks each.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct ExpireConditions {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
}

impl ExpireConditions {
    /// Parses the options, with Redis's error texts for the combinations it refuses.
    fn parse(args: &mut Args) -> Result<ExpireConditions, CmdError> {
        let mut c = ExpireConditions::default();
        while let Some(word) = args.peek() {
            match word.to_ascii_uppercase().as_slice() {
                b"NX" => c.nx = true,
                b"XX" => c.xx = true,
                b"GT" => c.gt = true,
                b"LT" => c.lt = true,
                _ => {
                    let word = String::from_utf8_lossy(word);
                    return Err(CmdError::Err(format!("Unsupported option {word}")));
                }
            }
            args.bytes()?;
        }
        if c.nx && (c.xx || c.gt || c.lt) {
            return Err(CmdError::Err(
                "NX and XX, GT or LT options at the same time are not compatible".into(),
            ));
        }
        if c.gt && c.lt {
            return Err(CmdError::Err(
                "GT and LT options at the same time are not compatible".into(),
            ));
        }
        Ok(c)
    }

    /// Whether a new expiry `at` may replace `current`; no expiry counts as infinite for GT/LT.
    fn allow(&self, at: i64, current: Option<i64>) -> bool {
        let nx_ok = !self.nx || current.is_none();
        let xx_ok = !self.xx || current.is_some();
        let gt_ok = !self.gt || current.is_some_and(|c| at > c);
        let lt_ok = !self.lt || current.is_none_or(|c| at < c);
        nx_ok && xx_ok && gt_ok && lt_ok
    }
}

/// The shared body of EXPIRE, PEXPIRE, EXPIREAT and PEXPIREAT. A time at or before now
/// deletes the key.
fn expire_generic(
    ctx: &mut Ctx,
    args: &mut Args,
    unit_ms: i64,
    relative: bool,
    command: &'static str,
) -> Result<Frame, CmdError> {
    let key = args.key()?;
    let amount = args.bytes()?;
    let conditions = ExpireConditions::parse(args)?;
    let amount = super::args::parse_i64(&amount).ok_or(CmdError::NotInteger)?;
    let invalid = CmdError::InvalidExpire { command };
    let mut at = amount.checked_mul(unit_ms).ok_or(invalid.clone())?;
    if relative {
        at = at.checked_add(ctx.now_ms as i64).ok_or(invalid)?;
    }
    let (db, now) = (ctx.db, ctx.now_ms);
    let store = ctx.store(&key);
    if !store.exists(db, &key, now) {
        return Ok(int(0));
    }
    let current = store.expire_at(db, &key).map(|c| c as i64);
    if !conditions.allow(at, current) {
        return Ok(int(0));
    }
    if at <= now as i64 {
        store.remove(db, &key, now);
    } else {
        store.set_expire_at(db, &key, Some(at as u64));
    }
    Ok(int(1))
}

/// EXPIRE key seconds [NX | XX | GT | LT]
fn expire(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    expire_generic(ctx, args, 1000, true, "expire")
}

/// PEXPIRE key milliseconds [NX | XX | GT | LT]
fn pexpire(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    expire_generic(ctx, args, 1, true, "pexpire")
}

/// EXPIREAT key unix-time-seconds [NX | XX | GT | LT]
fn expireat(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    expire_generic(ctx, args, 1000, false, "expireat")
}

/// PEXPIREAT key unix-time-milliseconds [NX | XX | GT | LT]
fn pexpireat(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    expire_generic(ctx, args, 1, false, "pexpireat")
}

/// The shared body of TTL, PTTL, EXPIRETIME and PEXPIRETIME: -2 missing, -1 no expiry.
fn ttl_generic(
    ctx: &mut Ctx,
    args: &mut Args,
    in_ms: bool,
    absolute: bool,
) -> Result<Frame, CmdError> {
    let key = args.key()?;
    let (db, now) = (ctx.db, ctx.now_ms);
    let store = ctx.store(&key);
    if !store.exists(db, &key, now) {
        return Ok(int(-2));
    }
    let Some(at) = store.expire_at(db, &key) else {
        return Ok(int(-1));
    };
    let value = if absolute {
        at as i64
    } else {
        (at as i64 - now as i64).max(0)
    };
    Ok(int(if in_ms { value } else { (value + 500) / 1000 }))
}

/// TTL key
fn ttl(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    ttl_generic(ctx, args, false, false)
}

/// PTTL key
fn pttl(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    ttl_generic(ctx, args, true, false)
}

/// EXPIRETIME key
fn expiretime(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    ttl_generic(ctx, args, false, true)
}

/// PEXPIRETIME key
fn pexpiretime(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    ttl_generic(ctx, args, true, true)
}

/// PERSIST key: 1 when a TTL was removed.
fn persist(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.key()?;
    let (db, now) = (ctx.db, ctx.now_ms);
    let store = ctx.store(&key);
    if !store.exists(db, &key, now) || store.expire_at(db, &key).is_none() {
        return Ok(int(0));
    }
    store.set_expire_at(db, &key, None);
    Ok(int(1))
}

/// TYPE key
fn key_type(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.key()?;
    let (db, now) = (ctx.db, ctx.now_ms);
    let name = match ctx.store(&key).peek(db, &key, now) {
        Some(value) => value.type_name(),
        None => "none",
    };
    Ok(simple(name))
}

/// Moves `source` to `target` with its TTL; the two may live on different shards, both reserved.
fn rename_generic(
    ctx: &mut Ctx,
    args: &mut Args,
    only_if_missing: bool,
) -> Result<Frame, CmdError> {
    let source = args.key()?;
    let target = args.key()?;
    let (db, now) = (ctx.db, ctx.now_ms);
    if !ctx.store(&source).exists(db, &source, now) {
        return Err(CmdError::NoSuchKey);
    }
    if source == target {
        return Ok(if only_if_missing { int(0) } else { ok() });
    }
    if only_if_missing && ctx.store(&target).exists(db, &target, now) {
        return Ok(int(0));
    }
    let source_store = ctx.store(&source);
    let ttl = source_store
        .expire_at(db, &source)
        .map_or(Ttl::Clear, Ttl::At);
    let (_, value) = source_store
        .remove(db, &source, now)
        .expect("checked above");
    ctx.store(&target).insert(db, &target, value, ttl, now);
    Ok(if only_if_missing { int(1) } else { ok() })
}

/// RENAME key newkey
fn rename(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    rename_generic(ctx, args, false)
}

/// RENAMENX key newkey
fn renamenx(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    rename_generic(ctx, args, true)
}

/// RANDOMKEY: picks a shard weighted by its key count, then a key in it.
fn randomkey(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    args.finish()?;
    let (db, now) = (ctx.db, ctx.now_ms);
    // Expired-but-uncollected keys make a pick fail; retry a bounded number of times.
    for _ in 0..8 {
        let sizes: Vec<usize> = ctx.stores().map(|s| s.len(db)).collect();
        let total: usize = sizes.iter().sum();
        if total == 0 {
            return Ok(Frame::Null);
        }
        let mut pick = ctx
            .stores()
            .next()
            .expect("at least one store")
            .random_below(total);
        let index = sizes.iter().position(|&size| {
            let hit = pick < size;
            pick = pick.saturating_sub(size);
            hit
        });
        let store = ctx
            .stores()
            .nth(index.expect("pick < total"))
            .expect("index in range");
        if let Some(key) = store.random_key(db, now) {
            return Ok(bulk(key));
        }
    }
    Ok(Frame::Null)
}

/// KEYS pattern: every live key of the database matching the glob pattern.
fn keys(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let pattern = args.bytes()?;
    let (db, now) = (ctx.db, ctx.now_ms);
    let mut found = Vec::new();
    for store in ctx.stores() {
        let mut cursor = 0;
        loop {
            let (next, keys) = store.scan(db, cursor, SCAN_COUNT_MAX, now, |key, _| {
                glob_match(&pattern, key)
            });
            found.extend(keys.into_iter().map(Frame::Bulk));
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
    }
    Ok(Frame::Array(found))
}

/// Parses a cursor the way Redis does: an unsigned decimal, nothing else.
pub fn parse_cursor(bytes: &[u8]) -> Result<u64, CmdError> {
    let text = std::str::from_utf8(bytes).map_err(|_| CmdError::InvalidCursor)?;
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CmdError::InvalidCursor);
    }
    text.parse().map_err(|_| CmdError::InvalidCursor)
}

/// The shard a SCAN cursor is walking: its low 8 bits. Cursors from a server with more shards
/// wrap into range rather than fail.
pub fn scan_shard(cursor: u64, shard_count: usize) -> usize {
    assert!(shard_count > 0 && shard_count <= SHARDS_MAX);
    (cursor & 0xff) as usize % shard_count
}

/// SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]. The cursor packs the shard in its
/// low 8 bits and that shard's table cursor above them. A call walks on into the next shard
/// when one is exhausted, until COUNT keys were visited, so a small database comes back whole
/// with cursor 0, as Redis users expect.
fn scan(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let cursor = parse_cursor(&args.bytes()?)?;
    let options = ScanArgs::parse(args, ScanExtra::Type)?;
    let shard_count = ctx.shared.shard_count;
    let (db, now) = (ctx.db, ctx.now_ms);
    let mut shard = scan_shard(cursor, shard_count);
    let mut inner = cursor >> 8;
    let mut keys = Vec::new();
    let next = loop {
        let store = ctx
            .stores()
            .find(|s| s.id == shard)
            .expect("SCAN borrows every shard");
        let (next_inner, found) = store.scan(db, inner, options.count, now, |key, type_name| {
            let name_ok = options.matches(key);
            let type_ok = options
                .type_name
                .as_ref()
                .is_none_or(|t| type_name.as_bytes() == t.as_slice());
            name_ok && type_ok
        });
        keys.extend(found.into_iter().map(Frame::Bulk));
        if next_inner != 0 {
            break (next_inner << 8) | shard as u64;
        }
        shard += 1;
        inner = 0;
        if shard == shard_count {
            break 0;
        }
        if keys.len() >= options.count {
            break shard as u64;
        }
    };
    Ok(Frame::Array(vec![
        bulk(Bytes::from(next.to_string())),
        Frame::Array(keys),
    ]))
}

/// Redis's glob matching: `*`, `?`, `[abc]`, `[^a]`, `[a-z]` and `\` escapes. Iterative with
/// one backtrack point (the last `*`), so it runs in O(pattern * text) and cannot recurse.
pub fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            while p < pattern.len() && pattern[p] == b'*' {
                p += 1;
            }
            if p == pattern.len() {
                return true;
            }
            star = Some((p, t));
            continue;
        }
        if let Some(next) = match_one(pattern, p, text[t]) {
            p = next;
            t += 1;
            continue;
        }
        match star {
            Some((star_p, star_t)) => {
                p = star_p;
                t = star_t + 1;
                star = Some((star_p, star_t + 1));
            }
            None => return false,
        }
    }
    pattern[p..].iter().all(|&b| b == b'*')
}

/// If the pattern element at `p` matches `byte`, the index after that element.
fn match_one(pattern: &[u8], p: usize, byte: u8) -> Option<usize> {
    match pattern.get(p)? {
        b'?' => Some(p + 1),
        b'[' => match_class(pattern, p + 1, byte),
        b'\\' if p + 1 < pattern.len() => (pattern[p + 1] == byte).then_some(p + 2),
        &literal => (literal == byte).then_some(p + 1),
    }
}

/// A `[...]` class starting after the bracket; an unterminated class runs to the pattern's end.
fn match_class(pattern: &[u8], mut p: usize, byte: u8) -> Option<usize> {
    let negate = pattern.get(p) == Some(&b'^');
    if negate {
        p += 1;
    }
    let mut matched = false;
    while p < pattern.len() && pattern[p] != b']' {
        if pattern[p] == b'\\' && p + 1 < pattern.len() {
            matched |= pattern[p + 1] == byte;
            p += 2;
        } else if p + 2 < pattern.len() && pattern[p + 1] == b'-' && pattern[p + 2] != b']' {
            let (low, high) = (
                pattern[p].min(pattern[p + 2]),
                pattern[p].max(pattern[p + 2]),
            );
            matched |= low <= byte && byte <= high;
            p += 3;
        } else {
            matched |= pattern[p] == byte;
            p += 1;
        }
    }
    let end = if p < pattern.len() { p + 1 } else { p };
    (matched != negate).then_some(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matches_like_redis() {
        let cases: &[(&str, &str, bool)] = &[
            ("*", "anything", true),
            ("h?llo", "hello", true),
            ("h?llo", "hllo", false),
            ("h*llo", "heeeello", true),
            ("h[ae]llo", "hallo", true),
            ("h[ae]llo", "hillo", false),
            ("h[^e]llo", "hallo", true),
            ("h[^e]llo", "hello", false),
            ("h[a-b]llo", "hbllo", true),
            ("h[b-a]llo", "hallo", true),
            ("h\\*llo", "h*llo", true),
            ("h\\*llo", "hello", false),
            ("user:*:name", "user:42:name", true),
            ("user:*:name", "user:42:age", false),
            ("*a*b*c", "xxaxxbxxc", true),
            ("", "", true),
            ("", "a", false),
            ("a*", "", false),
        ];
        for (pattern, text, expected) in cases {
            assert_eq!(
                glob_match(pattern.as_bytes(), text.as_bytes()),
                *expected,
                "{pattern} ~ {text}"
            );
        }
    }

    #[test]
    fn glob_is_fast_on_pathological_patterns() {
        let pattern = "*a".repeat(50) + "b";
        let text = "a".repeat(5000);
        assert!(!glob_match(pattern.as_bytes(), text.as_bytes()));
    }

    #[test]
    fn expire_conditions_follow_redis() {
        let c = |nx, xx, gt, lt| ExpireConditions { nx, xx, gt, lt };
        assert!(c(true, false, false, false).allow(5, None));
        assert!(!c(true, false, false, false).allow(5, Some(1)));
        assert!(!c(false, true, false, false).allow(5, None));
        assert!(
            !c(false, false, true, false).allow(5, None),
            "GT on a persistent key fails"
        );
        assert!(
            c(false, false, false, true).allow(5, None),
            "LT on a persistent key succeeds"
        );
        assert!(
            !c(false, true, false, true).allow(5, None),
            "XX still requires a TTL with LT"
        );
        assert!(c(false, true, true, false).allow(6, Some(5)));
    }

    #[test]
    fn cursors_parse_strictly() {
        assert_eq!(parse_cursor(b"0"), Ok(0));
        assert_eq!(parse_cursor(b"18446744073709551615"), Ok(u64::MAX));
        for bad in [&b"-1"[..], b"", b"1a", b" 1", b"18446744073709551616"] {
            assert_eq!(parse_cursor(bad), Err(CmdError::InvalidCursor));
        }
    }
}
