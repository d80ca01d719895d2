//! The sorted-set family: ZADD and its options, scores and ranks, random members and ZSCAN
//! here; the ZRANGE family and the range removals in `zset/range.rs`; unions, intersections
//! and differences in `zset/setops.rs`; ZPOPMIN/ZPOPMAX/ZMPOP in `zset/pop.rs`, whose helpers
//! the blocking pops will reuse.
//!
//! Scores go out as `Frame::Double`: a RESP3 double, a bulk string in RESP2. Replies that
//! carry members with scores are flat `[member, score, ...]` in RESP2 and `[member, score]`
//! pairs in RESP3, as Redis 7 sends them.

mod pop;
mod range;
mod setops;

use bytes::Bytes;
use ember_proto::{Frame, Protocol};
use rand::seq::SliceRandom;
use rand::Rng;
use std::collections::BTreeSet;

use super::args::{parse_f64, parse_i64};
use super::keys::{glob_match, parse_cursor};
use super::scan::{ScanArgs, ScanExtra};
use super::table::{flag::*, CommandSpec, KeySpec, ONE_KEY, TWO_KEYS};
use super::{bulk, int, int_len, Args, CmdError, Ctx};
use crate::keyspace::zset::{ZSet, ZSetConfig};
use crate::keyspace::{Stored, Ttl, Value};

pub use pop::{pop_entries, pop_first, pop_reply, PopEnd};

/// Largest |count| ZRANDMEMBER answers with a negative count (repeats allowed): the reply is
/// built in memory, so an unbounded count could exhaust it. Larger counts are refused.
const RANDOM_REPEATS_MAX: u64 = 1 << 24;

/// Keys for commands whose `numkeys` is the first argument (ZUNION, ZMPOP, ZINTERCARD ...).
const NUMKEYS_FIRST: KeySpec = KeySpec::with_keynum(0, 0, 0, 1);

/// A destination, then `numkeys` and the keys (ZUNIONSTORE, ZINTERSTORE, ZDIFFSTORE).
const DESTINATION_NUMKEYS: KeySpec = KeySpec::with_keynum(1, 1, 1, 2);

/// BZMPOP's keys follow its `numkeys` argument at index 2, after the timeout.
const NUMKEYS_SECOND: KeySpec = KeySpec::with_keynum(0, 0, 0, 2);

/// BZPOPMIN and BZPOPMAX: every argument but the last (the timeout) is a key.
const KEYS_BEFORE_TIMEOUT: KeySpec = KeySpec::with_keynum(1, -2, 1, 0);

super::table::keyed_family!("sorted-set");

/// Complexity of the range reads: a descent, then the reply.
const LOG_PLUS_M: &str = "O(log(N)+M) with N the set's size and M the number of returned members.";

pub const COMMANDS: &[CommandSpec] = &[
    cmd(
        "zadd",
        -4,
        WRITE | DENYOOM | FAST,
        ONE_KEY,
        "1.2.0",
        "Adds members to a sorted set, or updates their scores. Creates the key when missing.",
        "O(log(N)) per added member.",
        zadd,
    ),
    cmd(
        "zincrby",
        4,
        WRITE | DENYOOM | FAST,
        ONE_KEY,
        "1.2.0",
        "Adds an increment to a member's score. Creates the member and the key when missing.",
        "O(log(N))",
        zincrby,
    ),
    cmd(
        "zrem",
        -3,
        WRITE | FAST,
        ONE_KEY,
        "1.2.0",
        "Removes members from a sorted set; deletes the key when it becomes empty.",
        "O(M*log(N)) for M removed members.",
        zrem,
    ),
    cmd(
        "zscore",
        3,
        READONLY | FAST,
        ONE_KEY,
        "1.2.0",
        "Returns a member's score.",
        "O(1)",
        zscore,
    ),
    cmd(
        "zmscore",
        -3,
        READONLY | FAST,
        ONE_KEY,
        "6.2.0",
        "Returns the scores of several members.",
        "O(N) for N requested members.",
        zmscore,
    ),
    cmd(
        "zcard",
        2,
        READONLY | FAST,
        ONE_KEY,
        "1.2.0",
        "Returns how many members a sorted set has.",
        "O(1)",
        zcard,
    ),
    cmd(
        "zcount",
        4,
        READONLY | FAST,
        ONE_KEY,
        "2.0.0",
        "Counts the members whose scores fall in a range.",
        "O(log(N))",
        range::zcount,
    ),
    cmd(
        "zlexcount",
        4,
        READONLY | FAST,
        ONE_KEY,
        "2.8.9",
        "Counts the members that fall in a lexicographical range.",
        "O(log(N))",
        range::zlexcount,
    ),
    cmd(
        "zrank",
        -3,
        READONLY | FAST,
        ONE_KEY,
        "2.0.0",
        "Returns a member's rank by ascending score, optionally with its score.",
        "O(log(N))",
        zrank,
    ),
    cmd(
        "zrevrank",
        -3,
        READONLY | FAST,
        ONE_KEY,
        "2.0.0",
        "Returns a member's rank by descending score, optionally with its score.",
        "O(log(N))",
        zrevrank,
    ),
    cmd(
        "zrange",
        -4,
        READONLY,
        ONE_KEY,
        "1.2.0",
        "Returns members in a range of ranks, scores or members.",
        LOG_PLUS_M,
        range::zrange,
    ),
    cmd(
        "zrangestore",
        -5,
        WRITE | DENYOOM,
        TWO_KEYS,
        "6.2.0",
        "Stores a range of a sorted set in another key.",
        LOG_PLUS_M,
        range::zrangestore,
    ),
    cmd(
        "zrangebyscore",
        -4,
        READONLY,
        ONE_KEY,
        "1.0.5",
        "Returns members in a range of scores.",
        LOG_PLUS_M,
        range::zrangebyscore,
    ),
    cmd(
        "zrevrangebyscore",
        -4,
        READONLY,
        ONE_KEY,
        "2.2.0",
        "Returns members in a range of scores, highest first.",
        LOG_PLUS_M,
        range::zrevrangebyscore,
    ),
    cmd(
        "zrangebylex",
        -4,
        READONLY,
        ONE_KEY,
        "2.8.9",
        "Returns members in a lexicographical range.",
        LOG_PLUS_M,
        range::zrangebylex,
    ),
    cmd(
        "zrevrangebylex",
        -4,
        READONLY,
        ONE_KEY,
        "2.8.9",
        "Returns members in a lexicographical range, highest first.",
        LOG_PLUS_M,
        range::zrevrangebylex,
    ),
    cmd(
        "zrevrange",
        -4,
        READONLY,
        ONE_KEY,
        "1.2.0",
        "Returns members in a range of ranks, highest first.",
        LOG_PLUS_M,
        range::zrevrange,
    ),
    cmd(
        "zremrangebyrank",
        4,
        WRITE,
        ONE_KEY,
        "2.0.0",
        "Removes the members in a range of ranks.",
        LOG_PLUS_M,
        range::zremrangebyrank,
    ),
    cmd(
        "zremrangebyscore",
        4,
        WRITE,
        ONE_KEY,
        "1.2.0",
        "Removes the members in a range of scores.",
        LOG_PLUS_M,
        range::zremrangebyscore,
    ),
    cmd(
        "zremrangebylex",
        4,
        WRITE,
        ONE_KEY,
        "2.8.9",
        "Removes the members in a lexicographical range.",
        LOG_PLUS_M,
        range::zremrangebylex,
    ),
    cmd(
        "zpopmin",
        -2,
        WRITE | FAST,
        ONE_KEY,
        "5.0.0",
        "Removes and returns the members with the lowest scores.",
        "O(log(N)*M) for M popped members.",
        pop::zpopmin,
    ),
    cmd(
        "zpopmax",
        -2,
        WRITE | FAST,
        ONE_KEY,
        "5.0.0",
        "Removes and returns the members with the highest scores.",
        "O(log(N)*M) for M popped members.",
        pop::zpopmax,
    ),
    cmd(
        "bzpopmin",
        -3,
        WRITE | FAST | BLOCKING,
        KEYS_BEFORE_TIMEOUT,
        "5.0.0",
        "Removes and returns the member with the lowest score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.",
        "O(log(N)) with N being the number of elements in the sorted set.",
        pop::bzpopmin,
    ),
    cmd(
        "bzpopmax",
        -3,
        WRITE | FAST | BLOCKING,
        KEYS_BEFORE_TIMEOUT,
        "5.0.0",
        "Removes and returns the member with the highest score from one or more sorted sets. Blocks until a member available otherwise. Deletes the sorted set if the last element was popped.",
        "O(log(N)) with N being the number of elements in the sorted set.",
        pop::bzpopmax,
    ),
    cmd(
        "bzmpop",
        -5,
        WRITE | BLOCKING,
        NUMKEYS_SECOND,
        "7.0.0",
        "Removes and returns a member by score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.",
        "O(K) + O(M*log(N)) where K is the number of provided keys, N being the number of elements in the sorted set, and M being the number of elements popped.",
        pop::bzmpop,
    ),
    cmd(
        "zmpop",
        -4,
        WRITE,
        NUMKEYS_FIRST,
        "7.0.0",
        "Removes and returns members from the first non-empty sorted set among several keys.",
        "O(K) + O(M*log(N)) for K keys and M popped members.",
        pop::zmpop,
    ),
    cmd(
        "zunionstore",
        -4,
        WRITE | DENYOOM,
        DESTINATION_NUMKEYS,
        "2.0.0",
        "Stores the union of sorted sets in a key.",
        "O(N)+O(M*log(M)) for N input members and M result members.",
        setops::zunionstore,
    ),
    cmd(
        "zinterstore",
        -4,
        WRITE | DENYOOM,
        DESTINATION_NUMKEYS,
        "2.0.0",
        "Stores the intersection of sorted sets in a key.",
        "O(N*K)+O(M*log(M)) for the smallest input N, K inputs and M result members.",
        setops::zinterstore,
    ),
    cmd(
        "zdiffstore",
        -4,
        WRITE | DENYOOM,
        DESTINATION_NUMKEYS,
        "6.2.0",
        "Stores the difference of sorted sets in a key.",
        "O(L + (N-K)log(N)) worst case.",
        setops::zdiffstore,
    ),
    cmd(
        "zunion",
        -3,
        READONLY,
        NUMKEYS_FIRST,
        "6.2.0",
        "Returns the union of sorted sets.",
        "O(N)+O(M*log(M)) for N input members and M result members.",
        setops::zunion,
    ),
    cmd(
        "zinter",
        -3,
        READONLY,
        NUMKEYS_FIRST,
        "6.2.0",
        "Returns the intersection of sorted sets.",
        "O(N*K)+O(M*log(M)) for the smallest input N, K inputs and M result members.",
        setops::zinter,
    ),
    cmd(
        "zdiff",
        -3,
        READONLY,
        NUMKEYS_FIRST,
        "6.2.0",
        "Returns the difference of sorted sets.",
        "O(L + (N-K)log(N)) worst case.",
        setops::zdiff,
    ),
    cmd(
        "zintercard",
        -3,
        READONLY,
        NUMKEYS_FIRST,
        "7.0.0",
        "Counts the members of the intersection of sorted sets.",
        "O(N*K) for the smallest input N and K inputs.",
        setops::zintercard,
    ),
    cmd(
        "zrandmember",
        -2,
        READONLY,
        ONE_KEY,
        "6.2.0",
        "Returns random members of a sorted set, optionally with scores.",
        "O(N) for N returned members.",
        zrandmember,
    ),
    cmd(
        "zscan",
        -3,
        READONLY,
        ONE_KEY,
        "2.8.0",
        "Iterates over the members and scores of a sorted set.",
        "O(1) per call, O(N) for a full iteration.",
        zscan,
    ),
];

/// The encoding choices for a write to `key`: the current thresholds and its store's hasher.
fn config(ctx: &mut Ctx, key: &[u8]) -> ZSetConfig {
    let limits = ctx.encoding_limits();
    ZSetConfig::new(&limits, ctx.store(key).hasher())
}

/// The sorted set at `key` for reading: `None` when missing, WRONGTYPE for another type.
fn read<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Result<Option<&'a ZSet>, CmdError> {
    let (db, now) = (ctx.db, ctx.now_ms);
    match ctx.store(key).get(db, key, now) {
        None => Ok(None),
        Some(Stored::Boxed(Value::ZSet(zset))) => Ok(Some(zset)),
        Some(_) => Err(CmdError::WrongType),
    }
}

/// Runs `change` on the sorted set at `key`, then accounts its new size and deletes the key
/// if it became empty. `None` when the key is missing; WRONGTYPE for another type.
fn modify<T>(
    ctx: &mut Ctx,
    key: &[u8],
    change: impl FnOnce(&mut ZSet) -> Result<T, CmdError>,
) -> Result<Option<T>, CmdError> {
    let (db, now) = (ctx.db, ctx.now_ms);
    let store = ctx.store(key);
    let (outcome, before, after, empty) = match store.get_mut_as(db, key, now, "zset") {
        None => return Ok(None),
        Some(Value::ZSet(zset)) => {
            let before = zset.size_bytes();
            let outcome = change(zset);
            (outcome, before, zset.size_bytes(), zset.is_empty())
        }
        Some(_) => return Err(CmdError::WrongType),
    };
    store.resized(before, after);
    if empty {
        store.remove(db, key, now);
    }
    outcome.map(Some)
}

/// Replaces `target` with a set of `entries` (sorted, unique), or deletes it when there are
/// none, as the store commands do; replies with the stored count.
fn store_result(
    ctx: &mut Ctx,
    target: &[u8],
    entries: Vec<(Bytes, f64)>,
) -> Result<Frame, CmdError> {
    let (db, now) = (ctx.db, ctx.now_ms);
    let count = entries.len();
    if entries.is_empty() {
        ctx.store(target).remove(db, target, now);
        return Ok(int(0));
    }
    let config = config(ctx, target);
    let zset = ZSet::from_sorted(entries, &config);
    assert_eq!(zset.len(), count);
    ctx.store(target)
        .insert(db, target, Value::ZSet(zset), Ttl::Clear, now);
    Ok(int_len(count))
}

/// Members, or members with scores: flat in RESP2, `[member, score]` pairs in RESP3.
fn entries_reply(entries: Vec<(Bytes, f64)>, withscores: bool, protocol: Protocol) -> Frame {
    if !withscores {
        return Frame::Array(entries.into_iter().map(|(m, _)| Frame::Bulk(m)).collect());
    }
    if protocol == Protocol::Resp3 {
        return pairs(entries);
    }
    let mut flat = Vec::with_capacity(entries.len() * 2);
    for (member, score) in entries {
        flat.push(Frame::Bulk(member));
        flat.push(Frame::Double(score));
    }
    Frame::Array(flat)
}

/// `[member, score]` pairs whatever the protocol (ZMPOP, and WITHSCORES in RESP3).
fn pairs(entries: Vec<(Bytes, f64)>) -> Frame {
    Frame::Array(
        entries
            .into_iter()
            .map(|(m, s)| Frame::Array(vec![Frame::Bulk(m), Frame::Double(s)]))
            .collect(),
    )
}

/// ZADD's flags, checked for the combinations Redis refuses.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct ZAddOptions {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    ch: bool,
    incr: bool,
}

impl ZAddOptions {
    /// Parses the leading flags, then checks that score/member pairs follow.
    fn parse(args: &mut Args) -> Result<ZAddOptions, CmdError> {
        let mut options = ZAddOptions::default();
        loop {
            if args.flag("NX") {
                options.nx = true;
            } else if args.flag("XX") {
                options.xx = true;
            } else if args.flag("GT") {
                options.gt = true;
            } else if args.flag("LT") {
                options.lt = true;
            } else if args.flag("CH") {
                options.ch = true;
            } else if args.flag("INCR") {
                options.incr = true;
            } else {
                break;
            }
        }
        let remaining = args.remaining();
        if remaining == 0 || remaining % 2 == 1 {
            return Err(CmdError::Syntax);
        }
        if options.nx && options.xx {
            return Err(CmdError::Err(
                "XX and NX options at the same time are not compatible".into(),
            ));
        }
        let exclusive = [options.gt, options.lt, options.nx];
        if exclusive.iter().filter(|set| **set).count() > 1 {
            return Err(CmdError::Err(
                "GT, LT, and/or NX options at the same time are not compatible".into(),
            ));
        }
        if options.incr && remaining > 2 {
            return Err(CmdError::Err(
                "INCR option supports a single increment-element pair".into(),
            ));
        }
        Ok(options)
    }
}

/// What a ZADD did: members added, members whose score changed, and the last score written
/// or kept (the INCR reply; `None` when the condition skipped the member).
#[derive(Debug, Default, Clone, PartialEq)]
struct ZAddOutcome {
    added: usize,
    updated: usize,
    score: Option<f64>,
}

/// Score/member pairs, every score checked before anything is written.
fn parse_pairs(rest: &[Bytes]) -> Result<Vec<(f64, Bytes)>, CmdError> {
    assert!(rest.len() % 2 != 1);
    rest.chunks_exact(2)
        .map(|pair| {
            let score = parse_f64(&pair[0]).ok_or(CmdError::NotFloat)?;
            Ok((score, pair[1].clone()))
        })
        .collect()
}

/// Applies ZADD's pairs with its conditions to one set.
fn zadd_apply(
    zset: &mut ZSet,
    options: &ZAddOptions,
    pairs: &[(f64, Bytes)],
    config: &ZSetConfig,
) -> Result<ZAddOutcome, CmdError> {
    let mut outcome = ZAddOutcome::default();
    for (score, member) in pairs {
        outcome.score = None;
        let Some(current) = zset.score(member) else {
            if !options.xx {
                // An increment starts from 0, so `INCR -0` stores +0 as Redis's default
                // encoding keeps it; the reply is the increment itself, as Redis sends it.
                let stored = if options.incr { 0.0 + *score } else { *score };
                zset.insert(member, stored, config);
                outcome.added += 1;
                outcome.score = Some(*score);
            }
            continue;
        };
        if options.nx {
            continue;
        }
        let new = if options.incr {
            current + score
        } else {
            *score
        };
        if new.is_nan() {
            return Err(CmdError::Err(
                "resulting score is not a number (NaN)".into(),
            ));
        }
        if (options.lt && new >= current) || (options.gt && new <= current) {
            continue;
        }
        if new != current {
            zset.insert(member, new, config);
            outcome.updated += 1;
        }
        outcome.score = Some(new);
    }
    Ok(outcome)
}

/// ZADD's work on `key`: on the existing set, or on a new one unless XX forbids creating it.
fn zadd_generic(
    ctx: &mut Ctx,
    key: &[u8],
    options: &ZAddOptions,
    pairs: &[(f64, Bytes)],
) -> Result<ZAddOutcome, CmdError> {
    assert!(!pairs.is_empty());
    let config = config(ctx, key);
    let existing = modify(ctx, key, |zset| {
        zset.reserve(pairs.len(), &config);
        zadd_apply(zset, options, pairs, &config)
    })?;
    if let Some(outcome) = existing {
        return Ok(outcome);
    }
    if options.xx {
        return Ok(ZAddOutcome::default());
    }
    let member_len_max = pairs.iter().map(|(_, m)| m.len()).max().unwrap_or(0);
    let mut zset = ZSet::new(&config, pairs.len(), member_len_max);
    let outcome = zadd_apply(&mut zset, options, pairs, &config)?;
    assert!(
        !zset.is_empty(),
        "a new key always receives its first member"
    );
    let (db, now) = (ctx.db, ctx.now_ms);
    ctx.store(key)
        .insert(db, key, Value::ZSet(zset), Ttl::Clear, now);
    Ok(outcome)
}

/// ZADD key [NX | XX] [GT | LT] [CH] [INCR] score member [score member ...]
fn zadd(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.key()?;
    let options = ZAddOptions::parse(args)?;
    let pairs = parse_pairs(args.rest())?;
    let outcome = zadd_generic(ctx, &key, &options, &pairs)?;
    if options.incr {
        return Ok(outcome.score.map_or(Frame::Null, Frame::Double));
    }
    let changed = outcome.added + if options.ch { outcome.updated } else { 0 };
    Ok(int_len(changed))
}

/// ZINCRBY key increment member: ZADD INCR without conditions.
fn zincrby(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.key()?;
    let increment = args.f64()?;
    let member = args.bytes()?;
    args.finish()?;
    let options = ZAddOptions {
        incr: true,
        ..ZAddOptions::default()
    };
    let outcome = zadd_generic(ctx, &key, &options, &[(increment, member)])?;
    let score = outcome
        .score
        .expect("an unconditional increment always writes");
    Ok(Frame::Double(score))
}

/// ZREM key member [member ...]
fn zrem(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.key()?;
    let members = args.rest();
    let removed = modify(ctx, &key, |zset| {
        Ok(members.iter().filter(|m| zset.remove(m).is_some()).count())
    })?;
    Ok(int_len(removed.unwrap_or(0)))
}

/// ZSCORE key member
fn zscore(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.key()?;
    let member = args.bytes()?;
    args.finish()?;
    let score = read(ctx, &key)?.and_then(|zset| zset.score(&member));
    Ok(score.map_or(Frame::Null, Frame::Double))
}

/// ZMSCORE key member [member ...]: a nil for each member (or key) that is missing.
fn zmscore(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.key()?;
    let members = args.rest();
    let zset = read(ctx, &key)?;
    let scores = members
        .iter()
        .map(|m| {
            zset.and_then(|z| z.score(m))
                .map_or(Frame::Null, Frame::Double)
        })
        .collect();
    Ok(Frame::Array(scores))
}

/// ZCARD key
fn zcard(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.key()?;
    args.finish()?;
    Ok(int_len(read(ctx, &key)?.map_or(0, ZSet::len)))
}

/// ZRANK key member [WITHSCORE]
fn zrank(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    rank_generic(ctx, args, false, "zrank")
}

/// ZREVRANK key member [WITHSCORE]
fn zrevrank(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    rank_generic(ctx, args, true, "zrevrank")
}

/// A member's rank, counted from the top when `reverse`. A missing member or key is a nil,
/// which with WITHSCORE is a nil array, as in Redis. More than one word after the member is
/// an arity error there, and one that is not WITHSCORE a syntax error.
fn rank_generic(
    ctx: &mut Ctx,
    args: &mut Args,
    reverse: bool,
    command: &str,
) -> Result<Frame, CmdError> {
    let key = args.key()?;
    let member = args.bytes()?;
    if args.remaining() > 1 {
        return Err(CmdError::WrongArity {
            command: command.into(),
        });
    }
    let withscore = args.flag("WITHSCORE");
    args.finish()?;
    let missing = if withscore {
        Frame::NullArray
    } else {
        Frame::Null
    };
    let Some(zset) = read(ctx, &key)? else {
        return Ok(missing);
    };
    let Some(rank) = zset.rank(&member) else {
        return Ok(missing);
    };
    let rank = if reverse { zset.len() - 1 - rank } else { rank };
    if !withscore {
        return Ok(int_len(rank));
    }
    let score = zset.score(&member).expect("the member has a rank");
    Ok(Frame::Array(vec![int_len(rank), Frame::Double(score)]))
}

/// ZRANDMEMBER's count argument and WITHSCORES flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RandomOptions {
    count: i64,
    withscores: bool,
}

impl RandomOptions {
    fn parse(args: &mut Args) -> Result<RandomOptions, CmdError> {
        // The count and its range come first, then the words after it, as in Redis.
        let count = args.i64()?;
        if count == i64::MIN {
            return Err(CmdError::Err(format!(
                "value is out of range, value must between {} and {}",
                -i64::MAX,
                i64::MAX
            )));
        }
        let withscores = match args.remaining() {
            0 => false,
            1 if args.flag("WITHSCORES") => true,
            _ => return Err(CmdError::Syntax),
        };
        let halved = i64::MAX / 2;
        let repeats_max = if count < 0 {
            RANDOM_REPEATS_MAX
        } else {
            u64::MAX
        };
        if (withscores && !(-halved..=halved).contains(&count))
            || count.unsigned_abs() > repeats_max
        {
            return Err(CmdError::Err("value is out of range".into()));
        }
        Ok(RandomOptions { count, withscores })
    }
}

/// ZRANDMEMBER key [count [WITHSCORES]]. Without a count, one member or nil. A positive count
/// gives distinct members (the whole set when it asks for as many); a negative one allows
/// repeats and always gives |count| members.
fn zrandmember(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.key()?;
    let options = if args.is_empty() {
        None
    } else {
        Some(RandomOptions::parse(args)?)
    };
    let (db, now, protocol) = (ctx.db, ctx.now_ms, ctx.protocol);
    let empty = if options.is_some() {
        Frame::Array(Vec::new())
    } else {
        Frame::Null
    };
    let Some((value, rng)) = ctx.store(&key).read_with_rng(db, &key, now) else {
        return Ok(empty);
    };
    let Stored::Boxed(Value::ZSet(zset)) = value else {
        return Err(CmdError::WrongType);
    };
    let Some(options) = options else {
        let (member, _) = zset.random(rng).expect("stored sets are never empty");
        return Ok(bulk(member));
    };
    let entries = random_entries(zset, options.count, rng);
    Ok(entries_reply(entries, options.withscores, protocol))
}

/// `count` random entries as ZRANDMEMBER defines them. Distinct picks use Floyd's sampling
/// over ranks, then a shuffle, so the order is random as well as the choice.
fn random_entries(zset: &ZSet, count: i64, rng: &mut impl Rng) -> Vec<(Bytes, f64)> {
    let len = zset.len();
    assert!(len > 0);
    if count < 0 {
        let repeats = count.unsigned_abs();
        assert!(repeats <= RANDOM_REPEATS_MAX);
        return (0..repeats)
            .map(|_| zset.get(rng.gen_range(0..len)))
            .collect();
    }
    let count = usize::try_from(count).unwrap_or(usize::MAX);
    if count >= len {
        return zset.all();
    }
    let mut chosen = BTreeSet::new();
    for upper in len - count..len {
        let pick = rng.gen_range(0..=upper);
        if !chosen.insert(pick) {
            chosen.insert(upper);
        }
    }
    assert_eq!(chosen.len(), count);
    let mut ranks: Vec<usize> = chosen.into_iter().collect();
    ranks.shuffle(rng);
    ranks.into_iter().map(|rank| zset.get(rank)).collect()
}

/// ZSCAN key cursor [MATCH pattern] [COUNT count] [NOSCORES]: flat [member, score, ...] with
/// scores as bulk strings in Redis's text form, in both protocols.
///
/// As in Redis, the cursor is parsed, then the key looked up, and only then the options: a
/// missing key is an empty scan whatever follows, and another type is WRONGTYPE before any
/// option error.
fn zscan(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.key()?;
    let cursor = parse_cursor(&args.bytes()?)?;
    let Some(zset) = read(ctx, &key)? else {
        return Ok(Frame::Array(vec![bulk("0"), Frame::Array(Vec::new())]));
    };
    let options = ScanArgs::parse(args, ScanExtra::Omit("NOSCORES"))?;
    let mut items = Vec::new();
    // Each step visits one bucket; cap the steps so a sparse table cannot stall the shard.
    let steps_max = options.count.saturating_mul(10).max(100);
    let next = zset.scan(cursor, options.count, steps_max, |member, score| {
        let wanted = options
            .pattern
            .as_ref()
            .is_none_or(|p| glob_match(p, member));
        if wanted {
            items.push(bulk(Bytes::copy_from_slice(member)));
            if !options.omit_values {
                items.push(bulk(format_score(score)));
            }
        }
    });
    Ok(Frame::Array(vec![
        bulk(next.to_string()),
        Frame::Array(items),
    ]))
}

pub use ember_proto::format_double as format_score;

/// Reads a `numkeys` argument that must be positive, with the error text the caller's
/// command uses.
fn parse_numkeys(args: &mut Args, error: &str) -> Result<usize, CmdError> {
    let count = parse_i64(&args.bytes()?)
        .filter(|n| *n > 0)
        .ok_or_else(|| CmdError::Err(error.into()))?;
    Ok(usize::try_from(count).unwrap_or(usize::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::table::lookup;
    use crate::cmd::table::Handler;
    use crate::keyspace::Store;
    use crate::server::Shared;

    /// One shard's store and the server state, driven in process.
    struct Node {
        shared: Shared,
        store: Store,
        protocol: Protocol,
    }

    impl Node {
        fn new() -> Node {
            let shared = Shared::for_tests(1);
            Node {
                shared,
                store: Store::for_tests(),
                protocol: Protocol::Resp2,
            }
        }

        fn limits(&mut self, entries: usize, value_bytes: usize) {
            let pairs = [
                (
                    "zset-max-listpack-entries".to_string(),
                    Bytes::from(entries.to_string()),
                ),
                (
                    "zset-max-listpack-value".to_string(),
                    Bytes::from(value_bytes.to_string()),
                ),
            ];
            self.shared.config.set_many(&pairs).unwrap();
        }

        fn run(&mut self, words: &[&str]) -> Frame {
            let argv: Vec<Bytes> = words.iter().map(|w| Bytes::from(w.to_string())).collect();
            let spec = lookup(&argv[0]).expect("a known command");
            if !spec.arity_ok(argv.len()) {
                return CmdError::WrongArity {
                    command: spec.name.into(),
                }
                .to_frame();
            }
            let (spec, skip) = match spec.handler {
                Handler::Container => (spec.subcommand(&argv[1]).expect("a subcommand"), 2),
                _ => (spec, 1),
            };
            let Handler::Data(handler) = spec.handler else {
                panic!("a data command");
            };
            let mut stores = [&mut self.store];
            let mut ctx = Ctx::new(0, 0, self.protocol, &self.shared, &mut stores);
            let mut args = Args::new(&argv, skip);
            handler(&mut ctx, &mut args).unwrap_or_else(|e| e.to_frame())
        }

        /// A reply flattened to text: bulk strings, integers and doubles as Redis prints them.
        fn words(&mut self, words: &[&str]) -> Vec<String> {
            flatten(&self.run(words))
        }

        fn encoding(&mut self, key: &str) -> String {
            flatten(&self.run(&["OBJECT", "ENCODING", key])).join("")
        }
    }

    fn flatten(frame: &Frame) -> Vec<String> {
        match frame {
            Frame::Array(items) => items.iter().flat_map(flatten).collect(),
            Frame::Bulk(b) | Frame::Simple(b) | Frame::Error(b) => {
                vec![String::from_utf8_lossy(b).into_owned()]
            }
            Frame::Integer(i) => vec![i.to_string()],
            Frame::Double(d) => vec![format_score(*d)],
            Frame::Null | Frame::NullArray => vec!["(nil)".into()],
            other => vec![format!("{other:?}")],
        }
    }

    fn parse_zadd(words: &[&str]) -> Result<ZAddOptions, CmdError> {
        let argv: Vec<Bytes> = words.iter().map(|w| Bytes::from(w.to_string())).collect();
        ZAddOptions::parse(&mut Args::new(&argv, 0))
    }

    #[test]
    fn zadd_options_refuse_redis_conflicts() {
        assert!(parse_zadd(&["gt", "CH", "xx", "1", "a"]).is_ok());
        let error = |words: &[&str]| parse_zadd(words).unwrap_err().message();
        assert_eq!(
            error(&["NX", "XX", "1", "a"]),
            "ERR XX and NX options at the same time are not compatible"
        );
        assert_eq!(
            error(&["GT", "LT", "1", "a"]),
            "ERR GT, LT, and/or NX options at the same time are not compatible"
        );
        assert_eq!(
            error(&["INCR", "1", "a", "2", "b"]),
            "ERR INCR option supports a single increment-element pair"
        );
        assert_eq!(error(&["XX", "1", "a", "2"]), "ERR syntax error");
        assert_eq!(error(&["NX"]), "ERR syntax error");
    }

    #[test]
    fn zadd_conditions_and_replies() {
        let mut node = Node::new();
        assert_eq!(node.words(&["ZADD", "z", "XX", "1", "a"]), ["0"]);
        assert_eq!(node.words(&["EXISTS", "z"]), ["0"]);
        assert_eq!(
            node.words(&["ZADD", "z", "10", "x", "20", "y", "30", "z"]),
            ["3"]
        );
        assert_eq!(
            node.words(&["ZADD", "z", "GT", "CH", "5", "foo", "11", "x", "21", "y", "29", "z"]),
            ["3"]
        );
        assert_eq!(
            node.words(&["ZADD", "z", "LT", "INCR", "1", "x"]),
            ["(nil)"]
        );
        assert_eq!(node.words(&["ZADD", "z", "INCR", "1.5", "x"]), ["12.5"]);
        assert_eq!(node.words(&["ZINCRBY", "z", "+inf", "x"]), ["inf"]);
        assert_eq!(
            node.words(&["ZINCRBY", "z", "-inf", "x"]),
            ["ERR resulting score is not a number (NaN)"]
        );
        assert_eq!(
            node.words(&["ZADD", "z", "nan", "x"]),
            ["ERR value is not a valid float"]
        );
        assert_eq!(
            node.words(&["ZADD", "z", "", "x"]),
            ["ERR value is not a valid float"]
        );
        assert_eq!(node.words(&["ZSCORE", "z", "y"]), ["21"]);
        assert_eq!(node.words(&["ZMSCORE", "z", "y", "nope"]), ["21", "(nil)"]);
        assert_eq!(node.words(&["ZRANK", "z", "y", "WITHSCORE"]), ["1", "21"]);
        assert_eq!(node.words(&["ZREVRANK", "z", "y"]), ["2"]);
        assert_eq!(
            node.run(&["ZRANK", "z", "nope", "WITHSCORE"]),
            Frame::NullArray
        );
        node.run(&["SET", "s", "v"]);
        assert_eq!(
            node.words(&["ZADD", "s", "1", "a"]),
            ["WRONGTYPE Operation against a key holding the wrong kind of value"]
        );
    }

    #[test]
    fn an_increment_on_a_new_member_starts_from_zero() {
        let mut node = Node::new();
        for (key, words) in [
            ("n", &["ZINCRBY", "n", "-0", "m"][..]),
            ("n2", &["ZADD", "n2", "INCR", "-0", "m"]),
        ] {
            let Frame::Double(reply) = node.run(words) else {
                panic!("a double reply");
            };
            assert!(reply == 0.0 && reply.is_sign_negative(), "Redis replies -0");
            let Frame::Double(stored) = node.run(&["ZSCORE", key, "m"]) else {
                panic!("a stored score");
            };
            assert!(stored == 0.0 && stored.is_sign_positive(), "0 + -0 is +0");
        }
    }

    #[test]
    fn ranges_in_both_encodings() {
        let mut node = Node::new();
        for (entries, encoding) in [(128, "listpack"), (0, "skiplist")] {
            node.limits(entries, 64);
            node.run(&["DEL", "z"]);
            node.run(&[
                "ZADD", "z", "-inf", "a", "1", "b", "2", "c", "3", "d", "4", "e", "5", "f", "+inf",
                "g",
            ]);
            assert_eq!(node.encoding("z"), encoding);
            assert_eq!(node.words(&["ZRANGEBYSCORE", "z", "(0", "(3"]), ["b", "c"]);
            assert_eq!(
                node.words(&["ZREVRANGEBYSCORE", "z", "10", "0", "LIMIT", "2", "3"]),
                ["d", "c", "b"]
            );
            assert_eq!(
                node.words(&[
                    "ZRANGE",
                    "z",
                    "5",
                    "0",
                    "BYSCORE",
                    "REV",
                    "LIMIT",
                    "0",
                    "2",
                    "WITHSCORES"
                ]),
                ["f", "5", "e", "4"]
            );
            assert_eq!(
                node.words(&["ZRANGE", "z", "-2", "-1", "WITHSCORES"]),
                ["f", "5", "g", "inf"]
            );
            assert_eq!(node.words(&["ZREVRANGE", "z", "0", "1"]), ["g", "f"]);
            assert_eq!(node.words(&["ZCOUNT", "z", "-inf", "(2"]), ["2"]);
            assert_eq!(node.words(&["ZREMRANGEBYRANK", "z", "0", "1"]), ["2"]);
            assert_eq!(node.words(&["ZREMRANGEBYSCORE", "z", "(4", "+inf"]), ["2"]);
            assert_eq!(node.words(&["ZRANGE", "z", "0", "-1"]), ["c", "d", "e"]);
            assert_eq!(node.words(&["ZRANGESTORE", "dst", "z", "1", "-1"]), ["2"]);
            assert_eq!(node.words(&["ZRANGE", "dst", "0", "-1"]), ["d", "e"]);
            node.run(&["DEL", "lex"]);
            node.run(&[
                "ZADD", "lex", "0", "alpha", "0", "bar", "0", "cool", "0", "down",
            ]);
            assert_eq!(
                node.words(&["ZRANGEBYLEX", "lex", "(alpha", "[cool"]),
                ["bar", "cool"]
            );
            assert_eq!(
                node.words(&["ZREVRANGEBYLEX", "lex", "+", "[bar", "LIMIT", "1", "2"]),
                ["cool", "bar"]
            );
            assert_eq!(node.words(&["ZLEXCOUNT", "lex", "-", "+"]), ["4"]);
            assert_eq!(node.words(&["ZREMRANGEBYLEX", "lex", "-", "+"]), ["4"]);
            assert_eq!(node.words(&["EXISTS", "lex"]), ["0"]);
        }
    }

    #[test]
    fn conversion_happens_past_either_threshold_and_never_back() {
        let mut node = Node::new();
        node.limits(3, 4);
        node.run(&["ZADD", "z", "1", "a", "2", "b", "3", "c"]);
        assert_eq!(node.encoding("z"), "listpack");
        node.run(&["ZADD", "z", "4", "d"]);
        assert_eq!(node.encoding("z"), "skiplist");
        node.run(&["ZREM", "z", "a", "b", "c"]);
        assert_eq!(node.encoding("z"), "skiplist");
        node.run(&["ZADD", "long", "1", "abcde"]);
        assert_eq!(node.encoding("long"), "skiplist");
        node.run(&["ZADD", "short", "1", "abcd"]);
        assert_eq!(node.encoding("short"), "listpack");
        node.run(&["ZADD", "short", "1", "abcde"]);
        assert_eq!(node.encoding("short"), "skiplist");
        assert_eq!(node.words(&["ZUNIONSTORE", "u", "1", "z"]), ["1"]);
        assert_eq!(node.encoding("u"), "listpack");
    }

    #[test]
    fn set_operations_weights_and_aggregates() {
        let mut node = Node::new();
        node.run(&["ZADD", "a", "1", "a", "2", "b", "3", "c"]);
        node.run(&["ZADD", "b", "1", "b", "2", "c", "3", "d"]);
        assert_eq!(
            node.words(&["ZUNION", "2", "a", "b", "WITHSCORES"]),
            ["a", "1", "b", "3", "d", "3", "c", "5"]
        );
        assert_eq!(
            node.words(&["ZINTER", "2", "a", "b", "WEIGHTS", "2", "3", "WITHSCORES"]),
            ["b", "7", "c", "12"]
        );
        assert_eq!(
            node.words(&["ZUNION", "2", "a", "b", "AGGREGATE", "MIN", "WITHSCORES"]),
            ["a", "1", "b", "1", "c", "2", "d", "3"]
        );
        assert_eq!(
            node.words(&["ZDIFF", "2", "a", "b", "WITHSCORES"]),
            ["a", "1"]
        );
        assert_eq!(
            node.words(&["ZINTERCARD", "2", "a", "b", "LIMIT", "1"]),
            ["1"]
        );
        assert_eq!(
            node.words(&["ZINTERSTORE", "c", "2", "a", "missing"]),
            ["0"]
        );
        assert_eq!(node.words(&["EXISTS", "c"]), ["0"]);
        assert_eq!(node.words(&["ZDIFFSTORE", "c", "2", "a", "b"]), ["1"]);
        node.run(&["ZADD", "inf", "-inf", "x"]);
        node.run(&["ZUNIONSTORE", "out", "1", "inf", "WEIGHTS", "0"]);
        assert_eq!(node.words(&["ZSCORE", "out", "x"]), ["0"]);
        node.run(&["SET", "s", "v"]);
        assert!(node.words(&["ZUNION", "2", "a", "s"])[0].starts_with("WRONGTYPE"));
    }

    #[test]
    fn pops_random_members_and_scans() {
        let mut node = Node::new();
        assert_eq!(node.run(&["ZPOPMIN", "z"]), Frame::Array(Vec::new()));
        node.run(&["ZADD", "z", "0", "a", "1", "b", "2", "c", "3", "d"]);
        assert_eq!(node.words(&["ZPOPMIN", "z"]), ["a", "0"]);
        assert_eq!(node.words(&["ZPOPMAX", "z", "2"]), ["d", "3", "c", "2"]);
        assert!(node.words(&["ZPOPMAX", "z", "-1"])[0].contains("must be positive"));
        assert_eq!(
            node.words(&["ZMPOP", "2", "none", "z", "MIN", "COUNT", "5"]),
            ["z", "b", "1"]
        );
        assert_eq!(node.run(&["ZMPOP", "1", "z", "MIN"]), Frame::NullArray);
        node.run(&["ZADD", "r", "1", "a", "2", "b", "3", "c"]);
        assert_eq!(node.words(&["ZRANDMEMBER", "r", "5"]).len(), 3);
        assert_eq!(
            node.words(&["ZRANDMEMBER", "r", "-7", "WITHSCORES"]).len(),
            14
        );
        let mut two = node.words(&["ZRANDMEMBER", "r", "2"]);
        two.sort();
        two.dedup();
        assert_eq!(two.len(), 2);
        assert_eq!(node.words(&["ZRANDMEMBER", "r", "0"]), Vec::<String>::new());
        assert_eq!(node.run(&["ZRANDMEMBER", "missing"]), Frame::Null);
        assert!(
            node.words(&["ZRANDMEMBER", "r", "-9223372036854775808"])[0].contains("out of range")
        );
        assert_eq!(
            node.words(&["ZSCAN", "r", "0", "MATCH", "[ab]"]),
            ["0", "a", "1", "b", "2"]
        );
    }

    #[test]
    fn resp3_replies_nest_pairs() {
        let mut node = Node::new();
        node.protocol = Protocol::Resp3;
        node.run(&["ZADD", "z", "0", "a", "1", "b"]);
        let pair = |m: &'static str, s: f64| {
            Frame::Array(vec![
                Frame::Bulk(Bytes::from_static(m.as_bytes())),
                Frame::Double(s),
            ])
        };
        assert_eq!(
            node.run(&["ZRANGE", "z", "0", "-1", "WITHSCORES"]),
            Frame::Array(vec![pair("a", 0.0), pair("b", 1.0)])
        );
        assert_eq!(
            node.run(&["ZPOPMIN", "z", "1"]),
            Frame::Array(vec![pair("a", 0.0)])
        );
        assert_eq!(
            node.run(&["ZPOPMIN", "z"]),
            Frame::Array(vec![
                Frame::Bulk(Bytes::from_static(b"b")),
                Frame::Double(1.0)
            ])
        );
    }

    /// Negative zero is left out: its text is ember-proto's formatter's choice. (Redis itself
    /// prints "-0" for a skiplist score or an INCR reply, and "0" for a listpack score because
    /// the listpack stores it as "0".)
    #[test]
    fn scores_print_like_redis() {
        let cases: &[(f64, &str)] = &[
            (1.0, "1"),
            (-2.5, "-2.5"),
            (0.1, "0.1"),
            (1e-7, "1e-7"),
            (1.5e-7, "1.5e-7"),
            (0.000001, "0.000001"),
            (f64::MAX, "1.7976931348623157e+308"),
            (1e21, "1e+21"),
            (4e18, "4000000000000000000"),
            (1e19, "1e+19"),
            (123.456, "123.456"),
            (f64::INFINITY, "inf"),
        ];
        for (score, text) in cases {
            assert_eq!(format_score(*score), *text);
            assert_eq!(format_score(*score).parse::<f64>().ok(), Some(*score));
        }
    }
}
