//! Unions, intersections and differences of sorted sets: ZUNION, ZINTER, ZDIFF, their STORE
//! forms, and ZINTERCARD.
//!
//! Inputs are read one at a time (each may live on another shard's store), so intersections
//! and differences start from one input's entries and filter them against each other input
//! in turn. Missing keys are empty inputs. Plain sets as inputs (score 1) arrive with the set
//! type: `input_len` and `for_each_input` are the only places that look at an input's type.

use bytes::Bytes;
use ember_proto::Frame;

use super::{entries_reply, int_len, store_result, Args, CmdError, Ctx};
use crate::cmd::args::{parse_f64, parse_i64};
use crate::keyspace::table::Table;
use crate::keyspace::zset::{entry_less, ZSet};
use crate::keyspace::Stored;
use crate::keyspace::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SetOp {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

/// Which of the trailing options a command accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Form {
    /// ZUNION, ZINTER, ZDIFF: WITHSCORES.
    Read,
    /// The STORE forms: no WITHSCORES.
    Store,
    /// ZINTERCARD: LIMIT only.
    Card,
}

#[derive(Clone, Debug, PartialEq)]
struct SetOpOptions {
    keys: Vec<Bytes>,
    weights: Vec<f64>,
    aggregate: Aggregate,
    withscores: bool,
    /// ZINTERCARD's LIMIT; 0 means none.
    limit: usize,
}

impl SetOpOptions {
    /// Parses `numkeys key [key ...]`, with Redis's numkeys errors.
    fn parse_keys(args: &mut Args, command: &str) -> Result<Vec<Bytes>, CmdError> {
        let numkeys = args.i64()?;
        if numkeys < 1 {
            return Err(CmdError::Err(format!(
                "at least 1 input key is needed for '{command}' command"
            )));
        }
        if numkeys as u64 > args.remaining() as u64 {
            return Err(CmdError::Syntax);
        }
        (0..numkeys as usize).map(|_| args.key()).collect()
    }

    /// Parses the options after the keys that `form` allows: WEIGHTS and AGGREGATE (not for
    /// ZDIFF), WITHSCORES (not for the STORE forms), LIMIT (ZINTERCARD only). Redis reads
    /// them only once every input key has been looked up, so callers check the inputs' types
    /// between `parse_keys` and this.
    fn parse_options(
        args: &mut Args,
        keys: Vec<Bytes>,
        op: SetOp,
        form: Form,
    ) -> Result<SetOpOptions, CmdError> {
        let count = keys.len();
        let mut options = SetOpOptions {
            keys,
            weights: vec![1.0; count],
            aggregate: Aggregate::Sum,
            withscores: false,
            limit: 0,
        };
        let weighted = op != SetOp::Diff && form != Form::Card;
        while !args.is_empty() {
            if weighted && args.remaining() > count && args.flag("WEIGHTS") {
                for weight in options.weights.iter_mut() {
                    *weight = parse_f64(&args.bytes()?)
                        .ok_or_else(|| CmdError::Err("weight value is not a float".into()))?;
                }
            } else if weighted && args.remaining() >= 2 && args.flag("AGGREGATE") {
                options.aggregate = parse_aggregate(&args.bytes()?)?;
            } else if form == Form::Read && args.flag("WITHSCORES") {
                options.withscores = true;
            } else if form == Form::Card && args.remaining() >= 2 && args.flag("LIMIT") {
                let limit = parse_i64(&args.bytes()?)
                    .filter(|l| *l >= 0)
                    .ok_or_else(|| CmdError::Err("LIMIT can't be negative".into()))?;
                options.limit = usize::try_from(limit).unwrap_or(usize::MAX);
            } else {
                return Err(CmdError::Syntax);
            }
        }
        Ok(options)
    }

    /// Parses the keys, checks every input's type, then parses the options: Redis's order,
    /// so WRONGTYPE comes before any option error. Returns each input's size as well.
    fn parse(
        ctx: &mut Ctx,
        args: &mut Args,
        op: SetOp,
        form: Form,
        command: &str,
    ) -> Result<(SetOpOptions, Vec<usize>), CmdError> {
        let keys = Self::parse_keys(args, command)?;
        let lens = keys
            .iter()
            .map(|key| input_len(ctx, key))
            .collect::<Result<Vec<_>, _>>()?;
        let options = Self::parse_options(args, keys, op, form)?;
        Ok((options, lens))
    }
}

fn parse_aggregate(word: &[u8]) -> Result<Aggregate, CmdError> {
    match word.to_ascii_uppercase().as_slice() {
        b"SUM" => Ok(Aggregate::Sum),
        b"MIN" => Ok(Aggregate::Min),
        b"MAX" => Ok(Aggregate::Max),
        _ => Err(CmdError::Syntax),
    }
}

impl Aggregate {
    /// Combines two scores; a sum of opposite infinities (or with a NaN) is 0, and MIN and MAX
    /// keep `total` when `value` is NaN, as in Redis.
    fn apply(self, total: f64, value: f64) -> f64 {
        match self {
            Aggregate::Sum => zero_if_nan(total + value),
            Aggregate::Min => total.min(value),
            Aggregate::Max => total.max(value),
        }
    }
}

/// A weighted score; infinity times zero is 0, as in Redis.
fn weigh(score: f64, weight: f64) -> f64 {
    zero_if_nan(score * weight)
}

fn zero_if_nan(value: f64) -> f64 {
    if value.is_nan() {
        0.0
    } else {
        value
    }
}

/// One input of ZUNION, ZINTER, ZDIFF and ZINTERCARD: a sorted set, or a plain set whose
/// members all count with score 1, as in Redis.
enum Input<'a> {
    Sorted(&'a ZSet),
    Plain(&'a crate::keyspace::set::Set),
}

impl Input<'_> {
    fn len(&self) -> usize {
        match self {
            Input::Sorted(zset) => zset.len(),
            Input::Plain(set) => set.len(),
        }
    }

    fn score(&self, member: &[u8]) -> Option<f64> {
        match self {
            Input::Sorted(zset) => zset.score(member),
            Input::Plain(set) => set.contains(member).then_some(1.0),
        }
    }

    fn for_each(&self, mut visit: impl FnMut(&[u8], f64)) {
        match self {
            Input::Sorted(zset) => zset.for_each(visit),
            Input::Plain(set) => set.for_each(|member| visit(member, 1.0)),
        }
    }
}

/// The input at `key`: `None` when missing, WRONGTYPE unless a sorted set or a set.
fn read_input<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Result<Option<Input<'a>>, CmdError> {
    let (db, now) = (ctx.db, ctx.now_ms);
    match ctx.store(key).get(db, key, now) {
        None => Ok(None),
        Some(Stored::Boxed(Value::ZSet(zset))) => Ok(Some(Input::Sorted(zset))),
        Some(Stored::Boxed(Value::Set(set))) => Ok(Some(Input::Plain(set))),
        Some(_) => Err(CmdError::WrongType),
    }
}

/// How many members an input has: 0 when missing; WRONGTYPE for a type that is not an input.
fn input_len(ctx: &mut Ctx, key: &[u8]) -> Result<usize, CmdError> {
    Ok(read_input(ctx, key)?.map_or(0, |input| input.len()))
}

/// Visits an input's members and scores.
fn for_each_input(
    ctx: &mut Ctx,
    key: &[u8],
    visit: impl FnMut(&[u8], f64),
) -> Result<(), CmdError> {
    if let Some(zset) = read_input(ctx, key)? {
        zset.for_each(visit);
    }
    Ok(())
}

/// The input indexes from the smallest input to the largest, ties in argument order: the
/// order Redis combines them in, which decides where a NaN turns into 0.
fn by_size(lens: &[usize]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..lens.len()).collect();
    order.sort_by_key(|&index| lens[index]);
    order
}

/// The entries of input `index`, weighted (a NaN product is 0).
fn weighted_entries(
    ctx: &mut Ctx,
    options: &SetOpOptions,
    index: usize,
) -> Result<Vec<(Bytes, f64)>, CmdError> {
    let weight = options.weights[index];
    let mut entries = Vec::new();
    for_each_input(ctx, &options.keys[index], |member, score| {
        entries.push((Bytes::copy_from_slice(member), weigh(score, weight)));
    })?;
    Ok(entries)
}

/// The members every input has, starting from the smallest input and visiting the others in
/// `by_size` order. As in Redis, only the first input's weighted scores turn NaN into 0; the
/// others' weighted scores go to the aggregate as they are, which then keeps no NaN.
fn intersection(
    ctx: &mut Ctx,
    options: &SetOpOptions,
    lens: &[usize],
) -> Result<Vec<(Bytes, f64)>, CmdError> {
    let order = by_size(lens);
    let first = order[0];
    if lens[first] == 0 {
        return Ok(Vec::new());
    }
    let mut entries = weighted_entries(ctx, options, first)?;
    for &index in &order[1..] {
        if entries.is_empty() {
            break;
        }
        let weight = options.weights[index];
        let Some(input) = read_input(ctx, &options.keys[index])? else {
            return Ok(Vec::new());
        };
        entries.retain_mut(|(member, total)| match input.score(member) {
            Some(score) => {
                *total = options.aggregate.apply(*total, score * weight);
                true
            }
            None => false,
        });
    }
    Ok(entries)
}

/// The result of `op` over the inputs, sorted by (score, member). `lens` are the inputs'
/// sizes, read when their types were checked.
fn compute(
    ctx: &mut Ctx,
    op: SetOp,
    options: &SetOpOptions,
    lens: &[usize],
) -> Result<Vec<(Bytes, f64)>, CmdError> {
    assert_eq!(lens.len(), options.keys.len());
    let mut entries = match op {
        SetOp::Union => union(ctx, options, lens)?,
        SetOp::Inter => intersection(ctx, options, lens)?,
        SetOp::Diff => difference(ctx, options)?,
    };
    entries.sort_by(|a, b| {
        let by_score = a.1.partial_cmp(&b.1).unwrap_or(std::cmp::Ordering::Equal);
        by_score.then_with(|| a.0.cmp(&b.0))
    });
    debug_assert!(entries
        .windows(2)
        .all(|w| entry_less(w[0].1, &w[0].0, w[1].1, &w[1].0)));
    Ok(entries)
}

/// Every member of any input, its weighted scores (a NaN product is 0) aggregated, the
/// inputs taken in `by_size` order as Redis takes them.
fn union(
    ctx: &mut Ctx,
    options: &SetOpOptions,
    lens: &[usize],
) -> Result<Vec<(Bytes, f64)>, CmdError> {
    let hasher = ctx.store(&options.keys[0]).hasher().clone();
    let mut totals: Table<f64> = Table::new(hasher);
    for index in by_size(lens) {
        let weight = options.weights[index];
        for_each_input(ctx, &options.keys[index], |member, score| {
            let value = weigh(score, weight);
            match totals.get_mut(member) {
                Some(total) => *total = options.aggregate.apply(*total, value),
                None => {
                    totals.insert(member, value);
                }
            }
        })?;
    }
    Ok(totals.iter().map(|(m, s)| (m.clone(), *s)).collect())
}

/// The first input's entries that no other input has, with their own scores.
fn difference(ctx: &mut Ctx, options: &SetOpOptions) -> Result<Vec<(Bytes, f64)>, CmdError> {
    let mut entries = Vec::new();
    for_each_input(ctx, &options.keys[0], |member, score| {
        entries.push((Bytes::copy_from_slice(member), score));
    })?;
    for key in &options.keys[1..] {
        if entries.is_empty() {
            break;
        }
        if let Some(zset) = read_input(ctx, key)? {
            entries.retain(|(member, _)| zset.score(member).is_none());
        }
    }
    Ok(entries)
}

fn read_form(ctx: &mut Ctx, args: &mut Args, op: SetOp, command: &str) -> Result<Frame, CmdError> {
    let (options, lens) = SetOpOptions::parse(ctx, args, op, Form::Read, command)?;
    let entries = compute(ctx, op, &options, &lens)?;
    Ok(entries_reply(entries, options.withscores, ctx.protocol))
}

fn store_form(ctx: &mut Ctx, args: &mut Args, op: SetOp, command: &str) -> Result<Frame, CmdError> {
    let target = args.key()?;
    let (options, lens) = SetOpOptions::parse(ctx, args, op, Form::Store, command)?;
    let entries = compute(ctx, op, &options, &lens)?;
    store_result(ctx, &target, entries)
}

/// ZUNION numkeys key [key ...] [WEIGHTS weight ...] [AGGREGATE SUM | MIN | MAX] [WITHSCORES]
pub(super) fn zunion(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    read_form(ctx, args, SetOp::Union, "zunion")
}

/// ZINTER numkeys key [key ...] [WEIGHTS weight ...] [AGGREGATE SUM | MIN | MAX] [WITHSCORES]
pub(super) fn zinter(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    read_form(ctx, args, SetOp::Inter, "zinter")
}

/// ZDIFF numkeys key [key ...] [WITHSCORES]
pub(super) fn zdiff(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    read_form(ctx, args, SetOp::Diff, "zdiff")
}

/// ZUNIONSTORE destination numkeys key [key ...] [WEIGHTS weight ...] [AGGREGATE ...]
pub(super) fn zunionstore(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    store_form(ctx, args, SetOp::Union, "zunionstore")
}

/// ZINTERSTORE destination numkeys key [key ...] [WEIGHTS weight ...] [AGGREGATE ...]
pub(super) fn zinterstore(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    store_form(ctx, args, SetOp::Inter, "zinterstore")
}

/// ZDIFFSTORE destination numkeys key [key ...]
pub(super) fn zdiffstore(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    store_form(ctx, args, SetOp::Diff, "zdiffstore")
}

/// ZINTERCARD numkeys key [key ...] [LIMIT limit]: the intersection's size, counting at most
/// `limit` when it is not 0.
pub(super) fn zintercard(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let (options, lens) = SetOpOptions::parse(ctx, args, SetOp::Inter, Form::Card, "zintercard")?;
    let count = compute(ctx, SetOp::Inter, &options, &lens)?.len();
    let count = if options.limit > 0 {
        count.min(options.limit)
    } else {
        count
    };
    Ok(int_len(count))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(words: &[&str], op: SetOp, form: Form) -> Result<SetOpOptions, CmdError> {
        let argv: Vec<Bytes> = words.iter().map(|w| Bytes::from(w.to_string())).collect();
        let mut args = Args::new(&argv, 0);
        let keys = SetOpOptions::parse_keys(&mut args, "zunion")?;
        SetOpOptions::parse_options(&mut args, keys, op, form)
    }

    #[test]
    fn options_parse_like_redis() {
        let options = parse(
            &[
                "2",
                "a",
                "b",
                "WEIGHTS",
                "2",
                "3",
                "aggregate",
                "max",
                "WITHSCORES",
            ],
            SetOp::Union,
            Form::Read,
        )
        .unwrap();
        assert_eq!(options.weights, vec![2.0, 3.0]);
        assert_eq!(options.aggregate, Aggregate::Max);
        assert!(options.withscores);
        let none = parse(&["0", "a"], SetOp::Union, Form::Read).unwrap_err();
        assert_eq!(
            none.message(),
            "ERR at least 1 input key is needed for 'zunion' command"
        );
        let nan = parse(&["1", "a", "WEIGHTS", "nan"], SetOp::Inter, Form::Read).unwrap_err();
        assert_eq!(nan.message(), "ERR weight value is not a float");
        for (words, op, form) in [
            (&["3", "a", "b"][..], SetOp::Union, Form::Read),
            (&["1", "a", "WITHSCORES"], SetOp::Union, Form::Store),
            (&["1", "a", "WEIGHTS", "1"], SetOp::Diff, Form::Read),
            (&["1", "a", "AGGREGATE", "avg"], SetOp::Union, Form::Read),
            (&["1", "a", "a"], SetOp::Inter, Form::Card),
            (&["1", "a", "LIMIT"], SetOp::Inter, Form::Card),
        ] {
            assert_eq!(parse(words, op, form), Err(CmdError::Syntax), "{words:?}");
        }
        let negative = parse(&["1", "a", "LIMIT", "-1"], SetOp::Inter, Form::Card).unwrap_err();
        assert_eq!(negative.message(), "ERR LIMIT can't be negative");
    }

    #[test]
    fn infinities_aggregate_to_zero_not_nan() {
        assert_eq!(Aggregate::Sum.apply(f64::INFINITY, f64::NEG_INFINITY), 0.0);
        assert_eq!(weigh(f64::NEG_INFINITY, 0.0), 0.0);
        assert_eq!(Aggregate::Min.apply(1.0, -2.0), -2.0);
    }
}
