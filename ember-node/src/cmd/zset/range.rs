//! The ZRANGE family (ZRANGE, ZRANGESTORE and the older ZRANGEBYSCORE, ZREVRANGEBYSCORE,
//! ZRANGEBYLEX, ZREVRANGEBYLEX, ZREVRANGE), the counts ZCOUNT and ZLEXCOUNT, and the
//! removals ZREMRANGEBYRANK, ZREMRANGEBYSCORE and ZREMRANGEBYLEX.
//!
//! Every form parses into one `RangeOptions`, which resolves against a set to a run of ranks;
//! the set then hands out or removes exactly those ranks.

use std::ops::Range;

use bytes::Bytes;
use ember_proto::Frame;

use super::{entries_reply, int_len, modify, read, store_result, Args, CmdError, Ctx};
use crate::cmd::args::parse_i64;
use crate::keyspace::zset::{LexRange, ScoreRange, ZSet};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RangeKind {
    Rank,
    Score,
    Lex,
}

/// What a command fixes of the ZRANGE grammar: ZRANGEBYSCORE is ZRANGE with BYSCORE given,
/// ZREVRANGE is ZRANGE with REV given, and so on. A fixed option cannot be repeated.
#[derive(Clone, Copy, Debug)]
struct Preset {
    kind: Option<RangeKind>,
    reverse: Option<bool>,
    store: bool,
}

const ZRANGE: Preset = Preset {
    kind: None,
    reverse: None,
    store: false,
};

#[derive(Clone, Debug, PartialEq)]
enum Bounds {
    Rank(i64, i64),
    Score(ScoreRange),
    Lex(LexRange),
}

#[derive(Clone, Debug, PartialEq)]
struct RangeOptions {
    bounds: Bounds,
    reverse: bool,
    /// LIMIT offset count.
    limit: Option<(i64, i64)>,
    withscores: bool,
}

impl RangeOptions {
    /// Parses `start stop [BYSCORE | BYLEX] [REV] [LIMIT offset count] [WITHSCORES]` under a
    /// preset, with Redis's checks and error texts. With REV, score and lex ranges are given
    /// high end first.
    fn parse(args: &mut Args, preset: Preset) -> Result<RangeOptions, CmdError> {
        let mut start = args.bytes()?;
        let mut stop = args.bytes()?;
        let (mut kind, mut reverse) = (preset.kind, preset.reverse);
        let (mut limit, mut withscores) = (None, false);
        while !args.is_empty() {
            if !preset.store && args.flag("WITHSCORES") {
                withscores = true;
            } else if args.remaining() >= 3 && args.flag("LIMIT") {
                limit = Some((args.i64()?, args.i64()?));
            } else if reverse.is_none() && args.flag("REV") {
                reverse = Some(true);
            } else if kind.is_none() && args.flag("BYSCORE") {
                kind = Some(RangeKind::Score);
            } else if kind.is_none() && args.flag("BYLEX") {
                kind = Some(RangeKind::Lex);
            } else {
                return Err(CmdError::Syntax);
            }
        }
        let kind = kind.unwrap_or(RangeKind::Rank);
        let reverse = reverse.unwrap_or(false);
        // Redis takes a LIMIT count of -1 (its "no limit") as no LIMIT at all, so only other
        // counts conflict with a rank range; this check comes before the range is parsed.
        if limit.is_some_and(|(_, count)| count != -1) && kind == RangeKind::Rank {
            return Err(CmdError::Err(
                "syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"
                    .into(),
            ));
        }
        if withscores && kind == RangeKind::Lex {
            return Err(CmdError::Err(
                "syntax error, WITHSCORES not supported in combination with BYLEX".into(),
            ));
        }
        if reverse && kind != RangeKind::Rank {
            std::mem::swap(&mut start, &mut stop);
        }
        let bounds = parse_bounds(kind, &start, &stop)?;
        Ok(RangeOptions {
            bounds,
            reverse,
            limit,
            withscores,
        })
    }

    /// The ranks (ascending) this request covers in `zset`.
    fn resolve(&self, zset: &ZSet) -> Range<usize> {
        match &self.bounds {
            Bounds::Rank(start, stop) => rank_span(zset.len(), *start, *stop, self.reverse),
            Bounds::Score(range) => limit_span(zset.score_span(range), self.limit, self.reverse),
            Bounds::Lex(range) => limit_span(zset.lex_span(range), self.limit, self.reverse),
        }
    }
}

fn parse_bounds(kind: RangeKind, start: &[u8], stop: &[u8]) -> Result<Bounds, CmdError> {
    Ok(match kind {
        RangeKind::Rank => Bounds::Rank(
            parse_i64(start).ok_or(CmdError::NotInteger)?,
            parse_i64(stop).ok_or(CmdError::NotInteger)?,
        ),
        RangeKind::Score => Bounds::Score(parse_score_range(start, stop)?),
        RangeKind::Lex => Bounds::Lex(parse_lex_range(start, stop)?),
    })
}

fn parse_score_range(min: &[u8], max: &[u8]) -> Result<ScoreRange, CmdError> {
    ScoreRange::parse(exclusive_zero(min), exclusive_zero(max))
        .ok_or_else(|| CmdError::Err("min or max is not a float".into()))
}

/// Redis reads a bound of just "(" as exclusive 0: strtod of the empty rest gives 0 and ends
/// at the string's end, which it accepts.
fn exclusive_zero(bound: &[u8]) -> &[u8] {
    if bound == b"(" {
        b"(0"
    } else {
        bound
    }
}

fn parse_lex_range(min: &[u8], max: &[u8]) -> Result<LexRange, CmdError> {
    LexRange::parse(min, max)
        .ok_or_else(|| CmdError::Err("min or max not valid string range item".into()))
}

/// Redis's index rules: negative indexes count from the end, the start clamps to 0 and the
/// stop to the last entry; nothing when start > stop or start is past the end. With
/// `reverse`, indexes count from the highest score down.
fn rank_span(len: usize, start: i64, stop: i64, reverse: bool) -> Range<usize> {
    let len = i64::try_from(len).expect("lengths fit in i64");
    let start = if start < 0 {
        len.saturating_add(start)
    } else {
        start
    }
    .max(0);
    let stop = if stop < 0 {
        len.saturating_add(stop)
    } else {
        stop
    };
    if start > stop || start >= len {
        return 0..0;
    }
    let stop = stop.min(len - 1);
    let (first, last) = if reverse {
        (len - 1 - stop, len - 1 - start)
    } else {
        (start, stop)
    };
    assert!(0 <= first && first <= last && last < len);
    first as usize..last as usize + 1
}

/// Applies LIMIT offset count to a span, counting from its top when `reverse`: a negative
/// offset gives nothing and a negative count means "all the rest", as in Redis.
fn limit_span(span: Range<usize>, limit: Option<(i64, i64)>, reverse: bool) -> Range<usize> {
    let Some((offset, count)) = limit else {
        return span;
    };
    let available = span.len() as u64;
    if offset < 0 || offset as u64 >= available {
        return span.start..span.start;
    }
    let offset = offset as usize;
    let rest = span.len() - offset;
    let take = if count < 0 {
        rest
    } else {
        (count as u64).min(rest as u64) as usize
    };
    if reverse {
        span.end - offset - take..span.end - offset
    } else {
        span.start + offset..span.start + offset + take
    }
}

/// The reply of every read form: the entries in the requested order.
fn range_generic(ctx: &mut Ctx, args: &mut Args, preset: Preset) -> Result<Frame, CmdError> {
    let key = args.key()?;
    let options = RangeOptions::parse(args, preset)?;
    let protocol = ctx.protocol;
    let Some(zset) = read(ctx, &key)? else {
        return Ok(Frame::Array(Vec::new()));
    };
    let entries = zset.entries(options.resolve(zset), options.reverse);
    Ok(entries_reply(entries, options.withscores, protocol))
}

/// ZRANGE key start stop [BYSCORE | BYLEX] [REV] [LIMIT offset count] [WITHSCORES]
pub(super) fn zrange(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    range_generic(ctx, args, ZRANGE)
}

/// ZRANGEBYSCORE key min max [WITHSCORES] [LIMIT offset count]
pub(super) fn zrangebyscore(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let preset = Preset {
        kind: Some(RangeKind::Score),
        reverse: Some(false),
        store: false,
    };
    range_generic(ctx, args, preset)
}

/// ZREVRANGEBYSCORE key max min [WITHSCORES] [LIMIT offset count]
pub(super) fn zrevrangebyscore(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let preset = Preset {
        kind: Some(RangeKind::Score),
        reverse: Some(true),
        store: false,
    };
    range_generic(ctx, args, preset)
}

/// ZRANGEBYLEX key min max [LIMIT offset count]
pub(super) fn zrangebylex(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let preset = Preset {
        kind: Some(RangeKind::Lex),
        reverse: Some(false),
        store: false,
    };
    range_generic(ctx, args, preset)
}

/// ZREVRANGEBYLEX key max min [LIMIT offset count]
pub(super) fn zrevrangebylex(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let preset = Preset {
        kind: Some(RangeKind::Lex),
        reverse: Some(true),
        store: false,
    };
    range_generic(ctx, args, preset)
}

/// ZREVRANGE key start stop [WITHSCORES]
pub(super) fn zrevrange(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let preset = Preset {
        kind: Some(RangeKind::Rank),
        reverse: Some(true),
        store: false,
    };
    range_generic(ctx, args, preset)
}

/// ZRANGESTORE dst src min max [BYSCORE | BYLEX] [REV] [LIMIT offset count]: a missing source
/// or an empty range deletes the destination.
pub(super) fn zrangestore(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let target = args.key()?;
    let source = args.key()?;
    let preset = Preset {
        store: true,
        ..ZRANGE
    };
    let options = RangeOptions::parse(args, preset)?;
    let entries: Vec<(Bytes, f64)> = match read(ctx, &source)? {
        None => Vec::new(),
        Some(zset) => zset.entries(options.resolve(zset), false),
    };
    store_result(ctx, &target, entries)
}

/// ZCOUNT key min max
pub(super) fn zcount(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.key()?;
    let range = parse_score_range(&args.bytes()?, &args.bytes()?)?;
    args.finish()?;
    let count = read(ctx, &key)?.map_or(0, |zset| zset.score_span(&range).len());
    Ok(int_len(count))
}

/// ZLEXCOUNT key min max
pub(super) fn zlexcount(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.key()?;
    let range = parse_lex_range(&args.bytes()?, &args.bytes()?)?;
    args.finish()?;
    let count = read(ctx, &key)?.map_or(0, |zset| zset.lex_span(&range).len());
    Ok(int_len(count))
}

/// Removes the ranks `resolve` picks from the set at the key; replies with how many.
fn remove_generic(
    ctx: &mut Ctx,
    key: &[u8],
    resolve: impl FnOnce(&ZSet) -> Range<usize>,
) -> Result<Frame, CmdError> {
    let removed = modify(ctx, key, |zset| {
        let ranks = resolve(zset);
        Ok(zset.remove_ranks(ranks).len())
    })?;
    Ok(int_len(removed.unwrap_or(0)))
}

/// ZREMRANGEBYRANK key start stop
pub(super) fn zremrangebyrank(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.key()?;
    let start = args.i64()?;
    let stop = args.i64()?;
    args.finish()?;
    remove_generic(ctx, &key, |zset| rank_span(zset.len(), start, stop, false))
}

/// ZREMRANGEBYSCORE key min max
pub(super) fn zremrangebyscore(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.key()?;
    let range = parse_score_range(&args.bytes()?, &args.bytes()?)?;
    args.finish()?;
    remove_generic(ctx, &key, |zset| zset.score_span(&range))
}

/// ZREMRANGEBYLEX key min max
pub(super) fn zremrangebylex(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.key()?;
    let range = parse_lex_range(&args.bytes()?, &args.bytes()?)?;
    args.finish()?;
    remove_generic(ctx, &key, |zset| zset.lex_span(&range))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(words: &[&str], preset: Preset) -> Result<RangeOptions, CmdError> {
        let argv: Vec<Bytes> = words.iter().map(|w| Bytes::from(w.to_string())).collect();
        RangeOptions::parse(&mut Args::new(&argv, 0), preset)
    }

    #[test]
    fn rank_spans_follow_redis_index_rules() {
        assert_eq!(rank_span(4, 0, -1, false), 0..4);
        assert_eq!(rank_span(4, -2, -1, false), 2..4);
        assert_eq!(rank_span(4, -5, 1, false), 0..2);
        assert_eq!(rank_span(4, 5, -1, false), 0..0);
        assert_eq!(rank_span(4, 1, -5, false), 0..0);
        assert_eq!(rank_span(4, 1, 5, false), 1..4);
        assert_eq!(rank_span(4, 0, 0, true), 3..4);
        assert_eq!(rank_span(4, 1, 2, true), 1..3);
        assert_eq!(rank_span(0, 0, -1, false), 0..0);
        assert_eq!(rank_span(4, i64::MIN, i64::MAX, false), 0..4);
    }

    #[test]
    fn limits_count_from_the_requested_end() {
        assert_eq!(limit_span(2..8, Some((0, 2)), false), 2..4);
        assert_eq!(limit_span(2..8, Some((0, 2)), true), 6..8);
        assert_eq!(limit_span(2..8, Some((2, -1)), false), 4..8);
        assert_eq!(limit_span(2..8, Some((2, 100)), true), 2..6);
        assert!(limit_span(2..8, Some((-1, 2)), false).is_empty());
        assert!(limit_span(2..8, Some((6, 2)), false).is_empty());
        assert!(limit_span(2..8, Some((1, 0)), false).is_empty());
    }

    #[test]
    fn options_parse_with_redis_errors() {
        let options = parse(&["5", "(1", "BYSCORE", "REV", "LIMIT", "0", "2"], ZRANGE).unwrap();
        assert!(options.reverse);
        assert_eq!(
            options.bounds,
            Bounds::Score(ScoreRange::parse(b"(1", b"5").unwrap())
        );
        let limit_error = parse(&["0", "1", "LIMIT", "0", "1"], ZRANGE).unwrap_err();
        assert!(limit_error.message().contains("LIMIT is only supported"));
        let lex_error = parse(&["-", "+", "BYLEX", "WITHSCORES"], ZRANGE).unwrap_err();
        assert!(lex_error.message().contains("WITHSCORES not supported"));
        let store = Preset {
            store: true,
            ..ZRANGE
        };
        assert_eq!(
            parse(&["0", "1", "WITHSCORES"], store),
            Err(CmdError::Syntax)
        );
        assert_eq!(
            parse(&["0", "1", "REV", "REV"], ZRANGE),
            Err(CmdError::Syntax)
        );
        assert_eq!(
            parse(&["0", "1", "LIMIT", "0"], ZRANGE),
            Err(CmdError::Syntax)
        );
        let float = parse(&["x", "1", "BYSCORE"], ZRANGE).unwrap_err();
        assert_eq!(float.message(), "ERR min or max is not a float");
        let lex = parse(&["a", "+", "BYLEX"], ZRANGE).unwrap_err();
        assert_eq!(lex.message(), "ERR min or max not valid string range item");
        assert_eq!(parse(&["a", "1"], ZRANGE), Err(CmdError::NotInteger));
    }
}
