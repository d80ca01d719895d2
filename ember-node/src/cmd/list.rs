//! The list family: pushes and pops at both ends, indexed reads and writes, LINSERT, LREM,
//! LTRIM, LPOS, and the moves between lists (LMOVE, RPOPLPUSH, LMPOP).
//!
//! The pop, push and move logic are plain functions over `Ctx` (`pop_from`, `pop_first`,
//! `push_to`, `move_element`, and `MpopOptions::parse`) so the blocking variants can run the
//! same code once a key has data. Every change goes through `modify_list`, which keeps the
//! store's memory accounting current and deletes a list that became empty, as Redis does.

use bytes::Bytes;
use ember_proto::Frame;

use super::args::parse_i64;
use super::table::{flag::*, CommandSpec, KeySpec, ONE_KEY, TWO_KEYS};
use super::{blocking, bulk, int, int_len, ok, Args, CmdError, Ctx};
use crate::keyspace::list::{End, List};
use crate::keyspace::{Store, Stored, Ttl, Value};

super::table::keyed_family!("list");

/// LMPOP's keys follow its `numkeys` argument (index 1).
const NUMKEYS_AT_1: KeySpec = KeySpec::with_keynum(0, 0, 0, 1);

/// BLMPOP's keys follow its `numkeys` argument (index 2, after the timeout).
const NUMKEYS_AT_2: KeySpec = KeySpec::with_keynum(0, 0, 0, 2);

/// BLPOP and BRPOP: every argument but the last (the timeout) is a key.
const KEYS_BEFORE_TIMEOUT: KeySpec = KeySpec::with_keynum(1, -2, 1, 0);

pub const COMMANDS: &[CommandSpec] = &[
    cmd("blpop", -3, WRITE | BLOCKING, KEYS_BEFORE_TIMEOUT, "2.0.0", "Removes and returns the first element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.", "O(N) where N is the number of provided keys.", blpop),
    cmd("brpop", -3, WRITE | BLOCKING, KEYS_BEFORE_TIMEOUT, "2.0.0", "Removes and returns the last element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.", "O(N) where N is the number of provided keys.", brpop),
    cmd("blmove", 6, WRITE | DENYOOM | BLOCKING, TWO_KEYS, "6.2.0", "Pops an element from a list, pushes it to another list and returns it. Blocks until an element is available otherwise. Deletes the list if the last element was moved.", "O(1)", blmove),
    cmd("brpoplpush", 4, WRITE | DENYOOM | BLOCKING, TWO_KEYS, "2.2.0", "Pops an element from a list, pushes it to another list and returns it. Block until an element is available otherwise. Deletes the list if the last element was popped.", "O(1)", brpoplpush),
    cmd("blmpop", -5, WRITE | BLOCKING, NUMKEYS_AT_2, "7.0.0", "Pops the first element from one of multiple lists. Blocks until an element is available otherwise. Deletes the list if the last element was popped.", "O(N+M) where N is the number of provided keys and M is the number of elements returned.", blmpop),
    cmd("lindex", 3, READONLY, ONE_KEY, "1.0.0", "Returns an element from a list by its index.", "O(N) where N is the number of elements to traverse to get to the element at index. This makes asking for the first or the last element of the list O(1).", lindex),
    cmd("linsert", 5, WRITE | DENYOOM, ONE_KEY, "2.2.0", "Inserts an element before or after another element in a list.", "O(N) where N is the number of elements to traverse before seeing the value pivot. This means that inserting somewhere on the left end on the list (head) can be considered O(1) and inserting somewhere on the right end (tail) is O(N).", linsert),
    cmd("llen", 2, READONLY | FAST, ONE_KEY, "1.0.0", "Returns the length of a list.", "O(1)", llen),
    cmd("lmove", 5, WRITE | DENYOOM, TWO_KEYS, "6.2.0", "Returns an element after popping it from one list and pushing it to another. Deletes the list if the last element was moved.", "O(1)", lmove),
    cmd("lmpop", -4, WRITE, NUMKEYS_AT_1, "7.0.0", "Returns multiple elements from a list after removing them. Deletes the list if the last element was popped.", "O(N+M) where N is the number of provided keys and M is the number of elements returned.", lmpop),
    cmd("lpop", -2, WRITE | FAST, ONE_KEY, "1.0.0", "Returns the first elements in a list after removing it. Deletes the list if the last element was popped.", "O(N) where N is the number of elements returned", lpop),
    cmd("lpos", -3, READONLY, ONE_KEY, "6.0.6", "Returns the index of matching elements in a list.", "O(N) where N is the number of elements in the list, for the average case. When searching for elements near the head or the tail of the list, or when the MAXLEN option is provided, the command may run in constant time.", lpos),
    cmd("lpush", -3, WRITE | DENYOOM | FAST, ONE_KEY, "1.0.0", "Prepends one or more elements to a list. Creates the key if it doesn't exist.", "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.", lpush),
    cmd("lpushx", -3, WRITE | DENYOOM | FAST, ONE_KEY, "2.2.0", "Prepends one or more elements to a list only when the list exists.", "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.", lpushx),
    cmd("lrange", 4, READONLY, ONE_KEY, "1.0.0", "Returns a range of elements from a list.", "O(S+N) where S is the distance of start offset from HEAD for small lists, from nearest end (HEAD or TAIL) for large lists; and N is the number of elements in the specified range.", lrange),
    cmd("lrem", 4, WRITE, ONE_KEY, "1.0.0", "Removes elements from a list. Deletes the list if the last element was removed.", "O(N+M) where N is the length of the list and M is the number of elements removed.", lrem),
    cmd("lset", 4, WRITE | DENYOOM, ONE_KEY, "1.0.0", "Sets the value of an element in a list by its index.", "O(N) where N is the length of the list. Setting either the first or the last element of the list is O(1).", lset),
    cmd("ltrim", 4, WRITE, ONE_KEY, "1.0.0", "Removes elements from both ends a list. Deletes the list if all elements were trimmed.", "O(N) where N is the number of elements to be removed by the operation.", ltrim),
    cmd("rpop", -2, WRITE | FAST, ONE_KEY, "1.0.0", "Returns and removes the last elements of a list. Deletes the list if the last element was popped.", "O(N) where N is the number of elements returned", rpop),
    cmd("rpoplpush", 3, WRITE | DENYOOM, TWO_KEYS, "1.2.0", "Returns the last element of a list after removing and pushing it to another list. Deletes the list if the last element was popped.", "O(1)", rpoplpush),
    cmd("rpush", -3, WRITE | DENYOOM | FAST, ONE_KEY, "1.0.0", "Appends one or more elements to a list. Creates the key if it doesn't exist.", "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.", rpush),
    cmd("rpushx", -3, WRITE | DENYOOM | FAST, ONE_KEY, "2.2.0", "Appends an element to a list only when the list exists.", "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.", rpushx),
];

/// The parsed arguments of LMPOP (and, later, BLMPOP after its timeout).
#[derive(Debug, PartialEq, Eq)]
pub struct MpopOptions {
    pub keys: Vec<Bytes>,
    pub end: End,
    pub count: usize,
}

impl MpopOptions {
    /// Parses `numkeys key [key ...] LEFT|RIGHT [COUNT count]`.
    pub fn parse(args: &mut Args) -> Result<MpopOptions, CmdError> {
        let numkeys = parse_i64(&args.bytes()?)
            .filter(|n| *n > 0)
            .ok_or_else(|| CmdError::Err("numkeys should be greater than 0".into()))?;
        // The direction must follow the keys; checked before anything is sized by numkeys.
        if numkeys as u64 >= args.remaining() as u64 {
            return Err(CmdError::Syntax);
        }
        let keys = (0..numkeys)
            .map(|_| args.key())
            .collect::<Result<Vec<_>, _>>()?;
        let end = parse_end(&args.bytes()?)?;
        let mut count = None;
        while !args.is_empty() {
            if count.is_some() || args.remaining() < 2 || !args.flag("COUNT") {
                return Err(CmdError::Syntax);
            }
            let value = parse_i64(&args.bytes()?).filter(|c| *c > 0);
            let value =
                value.ok_or_else(|| CmdError::Err("count should be greater than 0".into()))?;
            count = Some(usize::try_from(value).unwrap_or(usize::MAX));
        }
        Ok(MpopOptions {
            keys,
            end,
            count: count.unwrap_or(1),
        })
    }
}

/// The parsed options of LPOS.
#[derive(Debug, PartialEq, Eq)]
struct LposOptions {
    rank: i64,
    /// `None` without COUNT (one index or nil); `Some(0)` means every match.
    count: Option<usize>,
    /// 0 compares the whole list.
    maxlen: usize,
}

impl LposOptions {
    /// Parses `[RANK rank] [COUNT num-matches] [MAXLEN len]` in any order, with Redis's texts.
    fn parse(args: &mut Args) -> Result<LposOptions, CmdError> {
        let mut options = LposOptions {
            rank: 1,
            count: None,
            maxlen: 0,
        };
        while !args.is_empty() {
            let word = args.bytes()?;
            if args.is_empty() {
                return Err(CmdError::Syntax);
            }
            let value = parse_i64(&args.bytes()?);
            match word.to_ascii_uppercase().as_slice() {
                b"RANK" => options.rank = parse_rank(value)?,
                b"COUNT" => options.count = Some(non_negative(value, "COUNT can't be negative")?),
                b"MAXLEN" => options.maxlen = non_negative(value, "MAXLEN can't be negative")?,
                _ => return Err(CmdError::Syntax),
            }
        }
        Ok(options)
    }
}

fn parse_rank(value: Option<i64>) -> Result<i64, CmdError> {
    let rank = value.ok_or(CmdError::NotInteger)?;
    if rank == i64::MIN {
        return Err(CmdError::Err(format!(
            "value is out of range, value must between {} and {}",
            -i64::MAX,
            i64::MAX
        )));
    }
    if rank == 0 {
        return Err(CmdError::Err(
            "RANK can't be zero: use 1 to start from the first match, 2 from the second ... \
             or use negative to start from the end of the list"
                .into(),
        ));
    }
    Ok(rank)
}

/// A count that must be an integer >= 0; Redis answers both failures with the same text.
fn non_negative(value: Option<i64>, message: &str) -> Result<usize, CmdError> {
    match value {
        Some(v) if v >= 0 => Ok(usize::try_from(v).unwrap_or(usize::MAX)),
        _ => Err(CmdError::Err(message.into())),
    }
}

/// LPOP's and RPOP's count: a non-negative integer. Redis reads it with its positive-number
/// parser, so a non-integer gets the same "must be positive" error as a negative number.
fn parse_pop_count(bytes: &[u8]) -> Result<usize, CmdError> {
    let count = parse_i64(bytes)
        .filter(|count| *count >= 0)
        .ok_or_else(|| CmdError::Err("value is out of range, must be positive".into()))?;
    Ok(usize::try_from(count).unwrap_or(usize::MAX))
}

/// LEFT or RIGHT, any case; anything else is a syntax error.
fn parse_end(word: &[u8]) -> Result<End, CmdError> {
    if word.eq_ignore_ascii_case(b"LEFT") {
        Ok(End::Left)
    } else if word.eq_ignore_ascii_case(b"RIGHT") {
        Ok(End::Right)
    } else {
        Err(CmdError::Syntax)
    }
}

fn array(elements: Vec<Bytes>) -> Frame {
    Frame::Array(elements.into_iter().map(Frame::Bulk).collect())
}

/// The list at `key` for reading: `None` when missing, WRONGTYPE for another type.
fn read_list<'a>(
    store: &'a mut Store,
    db: usize,
    key: &[u8],
    now_ms: u64,
) -> Result<Option<&'a List>, CmdError> {
    match store.get(db, key, now_ms) {
        None => Ok(None),
        Some(Stored::Boxed(Value::List(list))) => Ok(Some(list)),
        Some(_) => Err(CmdError::WrongType),
    }
}

/// Runs `change` on the list at `key` with the current `list-max-listpack-size`, then keeps
/// the store's books: memory accounting, and deleting the key if the list became empty.
/// `None` when the key is missing; WRONGTYPE when it holds another type.
fn modify_list<R>(
    ctx: &mut Ctx,
    key: &[u8],
    change: impl FnOnce(&mut List, i64) -> R,
) -> Result<Option<R>, CmdError> {
    let fill = ctx.encoding_limits().list_listpack_size;
    let (db, now) = (ctx.db, ctx.now_ms);
    let store = ctx.store(key);
    let Some(value) = store.get_mut_as(db, key, now, "list") else {
        return Ok(None);
    };
    let Value::List(list) = value else {
        return Err(CmdError::WrongType);
    };
    let size_before = list.size_bytes();
    let result = change(list, fill);
    let (size_after, empty) = (list.size_bytes(), list.is_empty());
    store.resized(size_before, size_after);
    if empty {
        let removed = store.remove(db, key, now);
        assert!(removed.is_some(), "the emptied list was live");
    }
    Ok(Some(result))
}

/// Pushes `elements` at `end` of the list at `key`, creating it unless `only_existing`
/// (LPUSHX/RPUSHX). Returns the new length (0 when `only_existing` and the key is missing).
pub fn push_to(
    ctx: &mut Ctx,
    key: &[u8],
    end: End,
    elements: &[Bytes],
    only_existing: bool,
) -> Result<usize, CmdError> {
    assert!(!elements.is_empty());
    let pushed = modify_list(ctx, key, |list, fill| {
        list.push(end, elements, fill);
        list.len()
    })?;
    match pushed {
        Some(len) => Ok(len),
        None if only_existing => Ok(0),
        None => {
            let fill = ctx.encoding_limits().list_listpack_size;
            let (db, now) = (ctx.db, ctx.now_ms);
            let mut list = List::new();
            list.push(end, elements, fill);
            let len = list.len();
            ctx.store(key)
                .insert(db, key, Value::List(list), Ttl::Clear, now);
            Ok(len)
        }
    }
}

/// Pops up to `count` elements from `end` of the list at `key`, deleting the key when it
/// empties. `None` when the key is missing; `count` 0 on a live list gives an empty vector.
pub fn pop_from(
    ctx: &mut Ctx,
    key: &[u8],
    end: End,
    count: usize,
) -> Result<Option<Vec<Bytes>>, CmdError> {
    modify_list(ctx, key, |list, fill| list.pop(end, count, fill))
}

/// LMPOP's core: pops from the first key in `keys` that holds a list. WRONGTYPE stops the
/// scan at the first key of another type, as in Redis.
pub fn pop_first(
    ctx: &mut Ctx,
    keys: &[Bytes],
    end: End,
    count: usize,
) -> Result<Option<(Bytes, Vec<Bytes>)>, CmdError> {
    assert!(count > 0);
    for key in keys {
        if let Some(elements) = pop_from(ctx, key, end, count)? {
            assert!(!elements.is_empty(), "live lists are never empty");
            return Ok(Some((key.clone(), elements)));
        }
    }
    Ok(None)
}

/// LMOVE's core: pops at `from` of `source` and pushes at `to` of `target`. `None` when the
/// source is missing. The target's type is checked before anything moves, so a WRONGTYPE
/// target leaves the source intact; a missing source never looks at the target.
pub fn move_element(
    ctx: &mut Ctx,
    source: &[u8],
    target: &[u8],
    from: End,
    to: End,
) -> Result<Option<Bytes>, CmdError> {
    if source == target {
        let rotated = modify_list(ctx, source, |list, fill| list.rotate(from, to, fill))?;
        return Ok(rotated.flatten());
    }
    let (db, now) = (ctx.db, ctx.now_ms);
    // Type checks only look: a failed move must not count as a write for WATCH.
    match ctx.store(source).peek(db, source, now) {
        None => return Ok(None),
        Some(Stored::Boxed(Value::List(_))) => {}
        Some(_) => return Err(CmdError::WrongType),
    }
    if let Some(value) = ctx.store(target).peek(db, target, now) {
        if !matches!(value, Stored::Boxed(Value::List(_))) {
            return Err(CmdError::WrongType);
        }
    }
    let popped = pop_from(ctx, source, from, 1)?.and_then(|mut elements| elements.pop());
    let element = popped.expect("the source was checked to be a live list");
    push_to(ctx, target, to, std::slice::from_ref(&element), false)?;
    Ok(Some(element))
}

/// LPUSH key element [element ...]: prepends, so the last argument ends up first.
fn lpush(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    push_command(ctx, args, End::Left, false)
}

/// RPUSH key element [element ...]
fn rpush(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    push_command(ctx, args, End::Right, false)
}

/// LPUSHX key element [element ...]: only when the list exists; 0 otherwise.
fn lpushx(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    push_command(ctx, args, End::Left, true)
}

/// RPUSHX key element [element ...]
fn rpushx(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    push_command(ctx, args, End::Right, true)
}

fn push_command(
    ctx: &mut Ctx,
    args: &mut Args,
    end: End,
    only_existing: bool,
) -> Result<Frame, CmdError> {
    let key = args.key()?;
    let elements = args.rest();
    Ok(int_len(push_to(ctx, &key, end, elements, only_existing)?))
}

/// LPOP key [count]: one element (or nil) without a count; an array (or a null array for a
/// missing key) with one.
fn lpop(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    pop_command(ctx, args, End::Left, "lpop")
}

/// RPOP key [count]
fn rpop(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    pop_command(ctx, args, End::Right, "rpop")
}

fn pop_command(ctx: &mut Ctx, args: &mut Args, end: End, command: &str) -> Result<Frame, CmdError> {
    let key = args.key()?;
    if args.remaining() > 1 {
        return Err(CmdError::WrongArity {
            command: command.into(),
        });
    }
    let count = match args.is_empty() {
        true => None,
        false => Some(parse_pop_count(&args.bytes()?)?),
    };
    let Some(count) = count else {
        let popped = pop_from(ctx, &key, end, 1)?.and_then(|mut elements| elements.pop());
        return Ok(popped.map_or(Frame::Null, Frame::Bulk));
    };
    Ok(match pop_from(ctx, &key, end, count)? {
        None => Frame::NullArray,
        Some(elements) => array(elements),
    })
}

/// LLEN key
fn llen(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.key()?;
    let (db, now) = (ctx.db, ctx.now_ms);
    let list = read_list(ctx.store(&key), db, &key, now)?;
    Ok(int_len(list.map_or(0, List::len)))
}

/// LRANGE key start stop
fn lrange(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.key()?;
    let start = args.i64()?;
    let stop = args.i64()?;
    let (db, now) = (ctx.db, ctx.now_ms);
    let list = read_list(ctx.store(&key), db, &key, now)?;
    Ok(array(list.map_or_else(Vec::new, |l| l.range(start, stop))))
}

/// LINDEX key index: the key is looked up before the index is parsed, as in Redis.
fn lindex(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.key()?;
    let index = args.bytes()?;
    let (db, now) = (ctx.db, ctx.now_ms);
    let Some(list) = read_list(ctx.store(&key), db, &key, now)? else {
        return Ok(Frame::Null);
    };
    let index = parse_i64(&index).ok_or(CmdError::NotInteger)?;
    Ok(list.get(index).map_or(Frame::Null, bulk))
}

/// LSET key index element: `ERR no such key` for a missing key, `ERR index out of range`.
fn lset(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.key()?;
    let index = parse_i64(&args.bytes()?);
    let element = args.bytes()?;
    let outcome = modify_list(ctx, &key, |list, fill| {
        let index = index.ok_or(CmdError::NotInteger)?;
        Ok(list.set(index, &element, fill))
    })?;
    match outcome {
        None => Err(CmdError::NoSuchKey),
        Some(Err(error)) => Err(error),
        Some(Ok(false)) => Err(CmdError::Err("index out of range".into())),
        Some(Ok(true)) => Ok(ok()),
    }
}

/// LINSERT key BEFORE|AFTER pivot element: the new length, -1 without the pivot, 0 without
/// the key.
fn linsert(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.key()?;
    let after = if args.flag("AFTER") {
        true
    } else if args.flag("BEFORE") {
        false
    } else {
        return Err(CmdError::Syntax);
    };
    let pivot = args.bytes()?;
    let element = args.bytes()?;
    let inserted = modify_list(ctx, &key, |list, fill| {
        list.insert(&pivot, &element, after, fill)
    })?;
    Ok(match inserted {
        None => int(0),
        Some(None) => int(-1),
        Some(Some(len)) => int_len(len),
    })
}

/// LREM key count element
fn lrem(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.key()?;
    let count = args.i64()?;
    let element = args.bytes()?;
    let removed = modify_list(ctx, &key, |list, fill| list.remove(&element, count, fill))?;
    Ok(int_len(removed.unwrap_or(0)))
}

/// LTRIM key start stop: always OK; trimming everything deletes the key.
fn ltrim(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.key()?;
    let start = args.i64()?;
    let stop = args.i64()?;
    modify_list(ctx, &key, |list, fill| list.trim(start, stop, fill))?;
    Ok(ok())
}

/// LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len]
fn lpos(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.key()?;
    let element = args.bytes()?;
    let options = LposOptions::parse(args)?;
    let (db, now) = (ctx.db, ctx.now_ms);
    let list = read_list(ctx.store(&key), db, &key, now)?;
    let want = options.count.unwrap_or(1);
    let found = list.map_or_else(Vec::new, |l| {
        l.positions(&element, options.rank, want, options.maxlen)
    });
    Ok(match options.count {
        Some(_) => Frame::Array(found.into_iter().map(int_len).collect()),
        None => found.first().map_or(Frame::Null, |&index| int_len(index)),
    })
}

/// LMOVE source destination LEFT|RIGHT LEFT|RIGHT
fn lmove(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let source = args.key()?;
    let target = args.key()?;
    let from = parse_end(&args.bytes()?)?;
    let to = parse_end(&args.bytes()?)?;
    let moved = move_element(ctx, &source, &target, from, to)?;
    Ok(moved.map_or(Frame::Null, Frame::Bulk))
}

/// RPOPLPUSH source destination: LMOVE source destination RIGHT LEFT.
fn rpoplpush(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let source = args.key()?;
    let target = args.key()?;
    let moved = move_element(ctx, &source, &target, End::Right, End::Left)?;
    Ok(moved.map_or(Frame::Null, Frame::Bulk))
}

/// LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count]: `[key, [elements]]` from the first
/// non-empty list, or a null array.
fn lmpop(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let options = MpopOptions::parse(args)?;
    Ok(
        match pop_first(ctx, &options.keys, options.end, options.count)? {
            None => Frame::NullArray,
            Some((key, elements)) => Frame::Array(vec![Frame::Bulk(key), array(elements)]),
        },
    )
}

/// BLPOP and BRPOP: `[key, element]` from the first non-empty list, blocking until one has
/// data or the timeout passes (then a null array).
fn blocking_pop(ctx: &mut Ctx, args: &mut Args, end: End) -> Result<Frame, CmdError> {
    let argv = args.rest();
    let (keys, timeout) = argv.split_at(argv.len() - 1);
    let timeout_ms = blocking::parse_timeout(&timeout[0])?;
    let Some(key) = blocking::first_holding(ctx, keys, "list")? else {
        return blocking::block(ctx, keys, timeout_ms, Frame::NullArray);
    };
    blocking::served(ctx);
    let mut popped = pop_from(ctx, &key, end, 1)?.expect("a live list");
    let element = popped.pop().expect("live lists are never empty");
    Ok(Frame::Array(vec![Frame::Bulk(key), Frame::Bulk(element)]))
}

/// BLPOP key [key ...] timeout
fn blpop(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    blocking_pop(ctx, args, End::Left)
}

/// BRPOP key [key ...] timeout
fn brpop(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    blocking_pop(ctx, args, End::Right)
}

/// The shared body of BLMOVE and BRPOPLPUSH: moves once the source has data; a null array
/// on timeout.
fn blocking_move(
    ctx: &mut Ctx,
    source: Bytes,
    target: Bytes,
    from: End,
    to: End,
    timeout_ms: Option<u64>,
) -> Result<Frame, CmdError> {
    if blocking::first_holding(ctx, std::slice::from_ref(&source), "list")?.is_none() {
        // Inside MULTI it cannot block and answers like LMOVE (a nil bulk); a real timeout is
        // a null array (`*-1` in RESP2), as Redis answers.
        if ctx.waiter.is_none() {
            return Ok(Frame::Null);
        }
        return blocking::block(ctx, &[source], timeout_ms, Frame::NullArray);
    }
    blocking::served(ctx);
    let moved = move_element(ctx, &source, &target, from, to)?;
    Ok(moved.map_or(Frame::Null, Frame::Bulk))
}

/// BLMOVE source destination LEFT|RIGHT LEFT|RIGHT timeout
fn blmove(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let source = args.key()?;
    let target = args.key()?;
    let from = parse_end(&args.bytes()?)?;
    let to = parse_end(&args.bytes()?)?;
    let timeout_ms = blocking::parse_timeout(&args.bytes()?)?;
    blocking_move(ctx, source, target, from, to, timeout_ms)
}

/// BRPOPLPUSH source destination timeout: BLMOVE source destination RIGHT LEFT timeout.
fn brpoplpush(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let source = args.key()?;
    let target = args.key()?;
    let timeout_ms = blocking::parse_timeout(&args.bytes()?)?;
    blocking_move(ctx, source, target, End::Right, End::Left, timeout_ms)
}

/// BLMPOP timeout numkeys key [key ...] LEFT|RIGHT [COUNT count]. As in Redis, the other
/// arguments are checked before the timeout.
fn blmpop(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let timeout = args.bytes()?;
    let options = MpopOptions::parse(args)?;
    let timeout_ms = blocking::parse_timeout(&timeout)?;
    let Some(key) = blocking::first_holding(ctx, &options.keys, "list")? else {
        return blocking::block(ctx, &options.keys, timeout_ms, Frame::NullArray);
    };
    blocking::served(ctx);
    let elements = pop_from(ctx, &key, options.end, options.count)?.expect("a live list");
    Ok(Frame::Array(vec![Frame::Bulk(key), array(elements)]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::table::Handler;
    use crate::server::Shared;
    use ember_proto::Protocol;

    fn shared() -> Shared {
        Shared::for_tests(1)
    }

    /// Runs one command of this family in-process, with the table's arity check.
    fn run(store: &mut Store, words: &[&str]) -> Frame {
        let shared = shared();
        let argv: Vec<Bytes> = words.iter().map(|w| Bytes::from(w.to_string())).collect();
        let name = words[0].to_ascii_lowercase();
        let spec = COMMANDS
            .iter()
            .find(|s| s.name == name)
            .expect("a list command");
        if !spec.arity_ok(argv.len()) {
            return CmdError::WrongArity { command: name }.to_frame();
        }
        let Handler::Data(handler) = spec.handler else {
            unreachable!("list commands are data commands")
        };
        let mut stores = [store];
        let mut ctx = Ctx::new(1000, 0, Protocol::Resp2, &shared, &mut stores);
        let mut args = Args::new(&argv, 1);
        handler(&mut ctx, &mut args).unwrap_or_else(|e| e.to_frame())
    }

    fn bulks(items: &[&str]) -> Frame {
        Frame::Array(
            items
                .iter()
                .map(|s| Frame::Bulk(Bytes::from(s.to_string())))
                .collect(),
        )
    }

    fn error(text: &str) -> Frame {
        Frame::Error(Bytes::from(text.to_string()))
    }

    #[test]
    fn push_pop_and_empty_lists_delete_their_key() {
        let mut store = Store::for_tests();
        assert_eq!(run(&mut store, &["RPUSH", "l", "a", "b", "c"]), int(3));
        assert_eq!(run(&mut store, &["LPUSH", "l", "x", "y"]), int(5));
        assert_eq!(
            run(&mut store, &["LRANGE", "l", "0", "-1"]),
            bulks(&["y", "x", "a", "b", "c"])
        );
        assert_eq!(run(&mut store, &["LPOP", "l"]), bulk("y"));
        assert_eq!(run(&mut store, &["RPOP", "l", "2"]), bulks(&["c", "b"]));
        assert_eq!(run(&mut store, &["LPOP", "l", "0"]), bulks(&[]));
        assert_eq!(run(&mut store, &["LPOP", "l", "5"]), bulks(&["x", "a"]));
        assert_eq!(store.len(0), 0);
        assert_eq!(store.used_bytes(), 0);
        assert_eq!(run(&mut store, &["LPOP", "l"]), Frame::Null);
        assert_eq!(run(&mut store, &["LPOP", "l", "0"]), Frame::NullArray);
        assert_eq!(run(&mut store, &["LPUSHX", "l", "a"]), int(0));
        assert_eq!(store.len(0), 0);
    }

    #[test]
    fn pop_count_errors_follow_redis() {
        let mut store = Store::for_tests();
        run(&mut store, &["RPUSH", "l", "a"]);
        assert_eq!(
            run(&mut store, &["LPOP", "l", "-1"]),
            error("ERR value is out of range, must be positive")
        );
        assert_eq!(
            run(&mut store, &["LPOP", "l", "x"]),
            error("ERR value is out of range, must be positive"),
            "Redis reads the count with its positive-number parser"
        );
        assert_eq!(
            run(&mut store, &["LPOP", "l", "1", "2"]),
            error("ERR wrong number of arguments for 'lpop' command")
        );
    }

    #[test]
    fn wrong_types_are_refused() {
        let mut store = Store::for_tests();
        store.insert(0, b"s", Value::string(b"v"), Ttl::Clear, 0);
        let wrongtype = error("WRONGTYPE Operation against a key holding the wrong kind of value");
        for words in [
            &["LPUSH", "s", "a"][..],
            &["LPUSHX", "s", "a"],
            &["LPOP", "s"],
            &["LLEN", "s"],
            &["LRANGE", "s", "0", "1"],
            &["LINDEX", "s", "0"],
            &["LSET", "s", "0", "a"],
            &["LINSERT", "s", "BEFORE", "a", "b"],
            &["LREM", "s", "0", "a"],
            &["LTRIM", "s", "0", "1"],
            &["LPOS", "s", "a"],
            &["LMOVE", "s", "d", "LEFT", "LEFT"],
            &["LMPOP", "1", "s", "LEFT"],
        ] {
            assert_eq!(run(&mut store, words), wrongtype, "{words:?}");
        }
    }

    #[test]
    fn lset_linsert_lrem_ltrim() {
        let mut store = Store::for_tests();
        assert_eq!(
            run(&mut store, &["LSET", "l", "0", "a"]),
            error("ERR no such key")
        );
        run(&mut store, &["RPUSH", "l", "a", "b", "a", "c", "a"]);
        assert_eq!(
            run(&mut store, &["LSET", "l", "9", "z"]),
            error("ERR index out of range")
        );
        assert_eq!(run(&mut store, &["LSET", "l", "-1", "z"]), ok());
        assert_eq!(
            run(&mut store, &["LINSERT", "l", "AFTER", "b", "q"]),
            int(6)
        );
        assert_eq!(
            run(&mut store, &["LINSERT", "l", "before", "nope", "q"]),
            int(-1)
        );
        assert_eq!(
            run(&mut store, &["LINSERT", "missing", "BEFORE", "a", "q"]),
            int(0)
        );
        assert_eq!(
            run(&mut store, &["LINSERT", "l", "MIDDLE", "a", "q"]),
            error("ERR syntax error")
        );
        assert_eq!(
            run(&mut store, &["LRANGE", "l", "0", "-1"]),
            bulks(&["a", "b", "q", "a", "c", "z"])
        );
        assert_eq!(run(&mut store, &["LREM", "l", "-1", "a"]), int(1));
        assert_eq!(
            run(&mut store, &["LRANGE", "l", "0", "-1"]),
            bulks(&["a", "b", "q", "c", "z"])
        );
        assert_eq!(run(&mut store, &["LTRIM", "l", "1", "-2"]), ok());
        assert_eq!(
            run(&mut store, &["LRANGE", "l", "0", "-1"]),
            bulks(&["b", "q", "c"])
        );
        assert_eq!(run(&mut store, &["LTRIM", "l", "5", "10"]), ok());
        assert_eq!(store.len(0), 0);
    }

    #[test]
    fn lpos_options_and_errors() {
        let mut store = Store::for_tests();
        run(
            &mut store,
            &["RPUSH", "l", "a", "b", "c", "1", "2", "3", "c", "c"],
        );
        assert_eq!(run(&mut store, &["LPOS", "l", "c"]), int(2));
        assert_eq!(run(&mut store, &["LPOS", "l", "c", "RANK", "-1"]), int(7));
        assert_eq!(
            run(&mut store, &["LPOS", "l", "c", "COUNT", "0", "RANK", "2"]),
            Frame::Array(vec![int(6), int(7)])
        );
        assert_eq!(
            run(&mut store, &["LPOS", "l", "c", "COUNT", "0", "MAXLEN", "1"]),
            Frame::Array(vec![])
        );
        assert_eq!(run(&mut store, &["LPOS", "l", "x"]), Frame::Null);
        assert_eq!(
            run(&mut store, &["LPOS", "missing", "x", "COUNT", "1"]),
            Frame::Array(vec![])
        );
        assert_eq!(
            run(&mut store, &["LPOS", "l", "c", "RANK", "0"]),
            error("ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list")
        );
        assert_eq!(
            run(&mut store, &["LPOS", "l", "c", "COUNT", "-1"]),
            error("ERR COUNT can't be negative")
        );
        assert_eq!(
            run(&mut store, &["LPOS", "l", "c", "MAXLEN", "-1"]),
            error("ERR MAXLEN can't be negative")
        );
        assert_eq!(
            run(&mut store, &["LPOS", "l", "c", "RANK"]),
            error("ERR syntax error")
        );
        assert_eq!(
            run(&mut store, &["LPOS", "l", "c", "BOGUS", "1"]),
            error("ERR syntax error")
        );
        assert_eq!(
            run(&mut store, &["LPOS", "l", "c", "RANK", "-9223372036854775808"]),
            error("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")
        );
    }

    #[test]
    fn moves_rotate_and_lmpop() {
        let mut store = Store::for_tests();
        run(&mut store, &["RPUSH", "src", "a", "b", "c"]);
        assert_eq!(
            run(&mut store, &["LMOVE", "src", "src", "LEFT", "RIGHT"]),
            bulk("a")
        );
        assert_eq!(
            run(&mut store, &["LRANGE", "src", "0", "-1"]),
            bulks(&["b", "c", "a"])
        );
        assert_eq!(run(&mut store, &["RPOPLPUSH", "src", "dst"]), bulk("a"));
        assert_eq!(
            run(&mut store, &["LMOVE", "src", "dst", "left", "right"]),
            bulk("b")
        );
        assert_eq!(
            run(&mut store, &["LRANGE", "dst", "0", "-1"]),
            bulks(&["a", "b"])
        );
        assert_eq!(
            run(&mut store, &["LMOVE", "nope", "dst", "LEFT", "RIGHT"]),
            Frame::Null
        );
        assert_eq!(
            run(&mut store, &["LMOVE", "src", "dst", "UP", "RIGHT"]),
            error("ERR syntax error")
        );
        assert_eq!(
            run(
                &mut store,
                &["LMPOP", "2", "nope", "dst", "RIGHT", "COUNT", "5"]
            ),
            Frame::Array(vec![bulk("dst"), bulks(&["b", "a"])])
        );
        assert_eq!(
            run(&mut store, &["LMPOP", "1", "dst", "LEFT"]),
            Frame::NullArray
        );
        assert_eq!(
            run(&mut store, &["LMPOP", "0", "dst", "LEFT"]),
            error("ERR numkeys should be greater than 0")
        );
        assert_eq!(
            run(&mut store, &["LMPOP", "x", "dst", "LEFT"]),
            error("ERR numkeys should be greater than 0")
        );
        assert_eq!(
            run(&mut store, &["LMPOP", "2", "a", "LEFT"]),
            error("ERR syntax error")
        );
        assert_eq!(
            run(&mut store, &["LMPOP", "1", "a", "LEFT", "COUNT", "0"]),
            error("ERR count should be greater than 0")
        );
        assert_eq!(
            run(
                &mut store,
                &["LMPOP", "1", "a", "LEFT", "COUNT", "1", "COUNT", "1"]
            ),
            error("ERR syntax error")
        );
        assert_eq!(
            run(&mut store, &["LMPOP", "1", "a", "LEFT", "COUNT"]),
            error("ERR syntax error")
        );
    }

    #[test]
    fn target_type_is_checked_before_the_source_changes() {
        let mut store = Store::for_tests();
        run(&mut store, &["RPUSH", "src", "a"]);
        store.insert(0, b"s", Value::string(b"v"), Ttl::Clear, 0);
        let wrongtype = error("WRONGTYPE Operation against a key holding the wrong kind of value");
        assert_eq!(run(&mut store, &["RPOPLPUSH", "src", "s"]), wrongtype);
        assert_eq!(run(&mut store, &["LLEN", "src"]), int(1));
        assert_eq!(run(&mut store, &["RPOPLPUSH", "missing", "s"]), Frame::Null);
    }

    #[test]
    fn memory_accounting_returns_to_zero() {
        let mut store = Store::for_tests();
        for i in 0..2000 {
            run(&mut store, &["RPUSH", "l", &format!("element-{i}")]);
        }
        run(&mut store, &["LINSERT", "l", "BEFORE", "element-1000", "x"]);
        run(&mut store, &["LSET", "l", "5", "yyyyyyyyyyyyyyyyyyyyyy"]);
        run(&mut store, &["LREM", "l", "0", "element-7"]);
        run(&mut store, &["LTRIM", "l", "10", "-10"]);
        run(&mut store, &["LPOP", "l", "1000"]);
        run(&mut store, &["RPOP", "l", "2000"]);
        assert_eq!(store.len(0), 0);
        assert_eq!(store.used_bytes(), 0);
    }

    const WORDS: [&str; 22] = [
        "l",
        "s",
        "missing",
        "0",
        "1",
        "-1",
        "2",
        "-2",
        "100",
        "-100",
        "x",
        "LEFT",
        "right",
        "BEFORE",
        "after",
        "COUNT",
        "RANK",
        "MAXLEN",
        "9223372036854775807",
        "-9223372036854775808",
        "a",
        "",
    ];

    fn word() -> impl proptest::strategy::Strategy<Value = String> {
        proptest::sample::select(WORDS.map(String::from).to_vec())
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(500))]
        /// Random arguments to every list command: any reply is fine, a panic is not, and
        /// the memory accounting stays exact.
        #[test]
        fn any_arguments_are_answered(
            command in proptest::sample::select(COMMANDS.iter().map(|s| s.name).collect::<Vec<_>>()),
            words in proptest::collection::vec(word(), 0..7),
        ) {
            let mut store = Store::for_tests();
            store.insert(0, b"s", Value::string(b"v"), Ttl::Clear, 0);
            let items: Vec<String> = (0..300).map(|i| format!("item{}", i % 7)).collect();
            let mut push = vec!["RPUSH", "l"];
            push.extend(items.iter().map(String::as_str));
            run(&mut store, &push);
            let mut argv = vec![command];
            argv.extend(words.iter().map(String::as_str));
            run(&mut store, &argv);
            // Any word may have become a key: the running total must be what the live
            // entries cost now, after every in-place change.
            let expected: usize = WORDS
                .iter()
                .filter_map(|key| store.cost_of(0, key.as_bytes()))
                .sum();
            proptest::prop_assert_eq!(store.used_bytes(), expected);
        }
    }

    #[test]
    fn mpop_options_parse() {
        let argv: Vec<Bytes> = ["2", "a", "b", "right", "count", "3"]
            .iter()
            .map(|s| Bytes::from(s.to_string()))
            .collect();
        let options = MpopOptions::parse(&mut Args::new(&argv, 0)).unwrap();
        assert_eq!(options.keys, vec![Bytes::from("a"), Bytes::from("b")]);
        assert_eq!((options.end, options.count), (End::Right, 3));
    }
}
