//! ZPOPMIN, ZPOPMAX and ZMPOP. The popping itself (`pop_entries`, `pop_first`) and the reply
//! shapes (`pop_reply`) are public so the blocking forms (BZPOPMIN, BZPOPMAX, BZMPOP) can
//! reuse them once they serve a key that became non-empty.

use bytes::Bytes;
use ember_proto::{Frame, Protocol};

use super::{entries_reply, modify, pairs, parse_numkeys, Args, CmdError, Ctx};
use crate::cmd::args::parse_i64;
use crate::cmd::blocking;

/// What a multi-key pop took: the key it popped from and the entries, in pop order.
pub type KeyPopped = (Bytes, Vec<(Bytes, f64)>);

/// Which end of the order a pop takes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PopEnd {
    Min,
    Max,
}

/// Pops up to `count` entries from one end of the sorted set at `key`, in pop order
/// (ascending for `Min`, descending for `Max`), and deletes the key when it empties. `None`
/// when the key is missing; WRONGTYPE when it holds another type.
pub fn pop_entries(
    ctx: &mut Ctx,
    key: &[u8],
    end: PopEnd,
    count: usize,
) -> Result<Option<Vec<(Bytes, f64)>>, CmdError> {
    modify(ctx, key, |zset| {
        let len = zset.len();
        let take = count.min(len);
        let popped = match end {
            PopEnd::Min => zset.remove_ranks(0..take),
            PopEnd::Max => {
                let mut popped = zset.remove_ranks(len - take..len);
                popped.reverse();
                popped
            }
        };
        assert_eq!(popped.len(), take);
        Ok(popped)
    })
}

/// Pops from the first of `keys` that holds a sorted set (stored sets are never empty), as
/// ZMPOP and BZMPOP do; keys before it must be missing, not of another type.
pub fn pop_first(
    ctx: &mut Ctx,
    keys: &[Bytes],
    end: PopEnd,
    count: usize,
) -> Result<Option<KeyPopped>, CmdError> {
    assert!(count > 0);
    for key in keys {
        if let Some(popped) = pop_entries(ctx, key, end, count)? {
            assert!(!popped.is_empty());
            return Ok(Some((key.clone(), popped)));
        }
    }
    Ok(None)
}

/// ZPOPMIN/ZPOPMAX's reply: flat [member, score, ...], except that RESP3 nests
/// [member, score] pairs when a count was given.
pub fn pop_reply(popped: Vec<(Bytes, f64)>, count_given: bool, protocol: Protocol) -> Frame {
    if count_given && protocol == Protocol::Resp3 {
        return pairs(popped);
    }
    entries_reply(popped, true, Protocol::Resp2)
}

/// ZPOPMIN key [count]
pub(super) fn zpopmin(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    zpop(ctx, args, PopEnd::Min)
}

/// ZPOPMAX key [count]
pub(super) fn zpopmax(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    zpop(ctx, args, PopEnd::Max)
}

/// A missing key pops nothing (an empty array); a count of 0 still checks the key's type.
fn zpop(ctx: &mut Ctx, args: &mut Args, end: PopEnd) -> Result<Frame, CmdError> {
    let key = args.key()?;
    if args.remaining() > 1 {
        return Err(CmdError::Syntax);
    }
    let count = if args.is_empty() {
        None
    } else {
        // Redis's positive-long parser: one error for a negative count and for one that is
        // not an integer at all.
        let count = parse_i64(&args.bytes()?)
            .filter(|count| *count >= 0)
            .ok_or_else(|| CmdError::Err("value is out of range, must be positive".into()))?;
        Some(usize::try_from(count).unwrap_or(usize::MAX))
    };
    let popped = pop_entries(ctx, &key, end, count.unwrap_or(1))?.unwrap_or_default();
    Ok(pop_reply(popped, count.is_some(), ctx.protocol))
}

/// ZMPOP's arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
struct MPopOptions {
    keys: Vec<Bytes>,
    end: PopEnd,
    count: usize,
}

impl MPopOptions {
    /// Parses `numkeys key [key ...] MIN | MAX [COUNT count]`.
    fn parse(args: &mut Args) -> Result<MPopOptions, CmdError> {
        let numkeys = parse_numkeys(args, "numkeys should be greater than 0")?;
        // The keys must leave room for MIN or MAX.
        if numkeys >= args.remaining() {
            return Err(CmdError::Syntax);
        }
        let keys = (0..numkeys)
            .map(|_| args.key())
            .collect::<Result<Vec<_>, _>>()?;
        let end = if args.flag("MIN") {
            PopEnd::Min
        } else if args.flag("MAX") {
            PopEnd::Max
        } else {
            return Err(CmdError::Syntax);
        };
        let mut count = None;
        while !args.is_empty() {
            if count.is_none() && args.remaining() >= 2 && args.flag("COUNT") {
                let value = parse_i64(&args.bytes()?)
                    .filter(|c| *c > 0)
                    .ok_or_else(|| CmdError::Err("count should be greater than 0".into()))?;
                count = Some(usize::try_from(value).unwrap_or(usize::MAX));
            } else {
                return Err(CmdError::Syntax);
            }
        }
        Ok(MPopOptions {
            keys,
            end,
            count: count.unwrap_or(1),
        })
    }
}

/// ZMPOP numkeys key [key ...] MIN | MAX [COUNT count]: [key, [[member, score], ...]] from the
/// first non-empty set, or a nil array when every key is missing.
pub(super) fn zmpop(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let options = MPopOptions::parse(args)?;
    match pop_first(ctx, &options.keys, options.end, options.count)? {
        None => Ok(Frame::NullArray),
        Some((key, popped)) => Ok(Frame::Array(vec![Frame::Bulk(key), pairs(popped)])),
    }
}

/// BZPOPMIN and BZPOPMAX: [key, member, score] from the first non-empty sorted set, blocking
/// until one has members or the timeout passes (then a null array).
fn bzpop(ctx: &mut Ctx, args: &mut Args, end: PopEnd) -> Result<Frame, CmdError> {
    let argv = args.rest();
    let (keys, timeout) = argv.split_at(argv.len() - 1);
    let timeout_ms = blocking::parse_timeout(&timeout[0])?;
    let Some(key) = blocking::first_holding(ctx, keys, "zset")? else {
        return blocking::block(ctx, keys, timeout_ms, Frame::NullArray);
    };
    blocking::served(ctx);
    let mut popped = pop_entries(ctx, &key, end, 1)?.expect("a live sorted set");
    let (member, score) = popped.pop().expect("live sorted sets are never empty");
    Ok(Frame::Array(vec![
        Frame::Bulk(key),
        Frame::Bulk(member),
        Frame::Double(score),
    ]))
}

/// BZPOPMIN key [key ...] timeout
pub(super) fn bzpopmin(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    bzpop(ctx, args, PopEnd::Min)
}

/// BZPOPMAX key [key ...] timeout
pub(super) fn bzpopmax(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    bzpop(ctx, args, PopEnd::Max)
}

/// BZMPOP timeout numkeys key [key ...] MIN | MAX [COUNT count]
pub(super) fn bzmpop(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    // As in Redis, numkeys, the keys, MIN/MAX and COUNT are checked before the timeout.
    let timeout = args.bytes()?;
    let options = MPopOptions::parse(args)?;
    let timeout_ms = blocking::parse_timeout(&timeout)?;
    let Some(key) = blocking::first_holding(ctx, &options.keys, "zset")? else {
        return blocking::block(ctx, &options.keys, timeout_ms, Frame::NullArray);
    };
    blocking::served(ctx);
    let popped = pop_entries(ctx, &key, options.end, options.count)?.expect("a live sorted set");
    Ok(Frame::Array(vec![Frame::Bulk(key), pairs(popped)]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(words: &[&str]) -> Result<MPopOptions, CmdError> {
        let argv: Vec<Bytes> = words.iter().map(|w| Bytes::from(w.to_string())).collect();
        MPopOptions::parse(&mut Args::new(&argv, 0))
    }

    #[test]
    fn zmpop_arguments_follow_redis() {
        let options = parse(&["2", "a", "b", "max", "COUNT", "3"]).unwrap();
        assert_eq!(options.keys.len(), 2);
        assert_eq!((options.end, options.count), (PopEnd::Max, 3));
        for words in [
            &["0", "a", "MIN"][..],
            &["x", "a", "MIN"],
            &["-1", "a", "MAX"],
        ] {
            let error = parse(words).unwrap_err();
            assert_eq!(error.message(), "ERR numkeys should be greater than 0");
        }
        for words in [
            &["1", "a", "bad"][..],
            &["1", "a", "MIN", "extra"],
            &["1", "a", "MAX", "MIN"],
            &["1", "a", "MAX", "COUNT", "1", "COUNT", "2"],
            &["2", "a", "b"],
            &["1", "a", "MIN", "COUNT"],
        ] {
            assert_eq!(parse(words), Err(CmdError::Syntax), "{words:?}");
        }
        for words in [
            &["1", "a", "MIN", "COUNT", "0"][..],
            &["1", "a", "MAX", "COUNT", "a"],
        ] {
            let error = parse(words).unwrap_err();
            assert_eq!(error.message(), "ERR count should be greater than 0");
        }
    }
}
