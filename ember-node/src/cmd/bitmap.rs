//! The bitmap family: bit-level reads and writes on string values (SETBIT, GETBIT, BITCOUNT,
//! BITPOS, BITOP, BITFIELD, BITFIELD_RO).
//!
//! A bitmap is an ordinary `Value::Str`: bit 0 is the most significant bit of the first byte,
//! and everything past the end reads as zero. Writers grow the string with zero bytes. The bit
//! math (ranges, counting, searching, integer fields and their overflow rules) lives in pure
//! functions below the handlers so it can be tested without a store.
//!
//! Writes that change nothing (SETBIT of the bit already there, BITFIELD SET of the same
//! value) leave the key untouched, as Redis does, so they neither copy the buffer nor wake a
//! WATCH. Writes that do change it edit the stored buffer in place when nothing else shares it.

use std::collections::BTreeMap;

use bytes::{Bytes, BytesMut};
use ember_proto::Frame;

use super::args::parse_i64;
use super::table::{flag::*, CommandSpec, KeySpec, ONE_KEY};
use super::{int, int_len, Args, CmdError, Ctx};
use crate::keyspace::value::TextEncoding;
use crate::keyspace::{Store, Ttl, Value};

const BIT_OFFSET_ERROR: &str = "bit offset is not an integer or out of range";
const BIT_VALUE_ERROR: &str = "bit is not an integer or out of range";
const BITPOS_BIT_ERROR: &str = "The bit argument must be 1 or 0.";
const BITOP_NOT_ERROR: &str = "BITOP NOT must be called with a single source key.";
const FIELD_TYPE_ERROR: &str =
    "Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";
const OVERFLOW_TYPE_ERROR: &str = "Invalid OVERFLOW type specified";
const BITFIELD_RO_ERROR: &str = "BITFIELD_RO only supports the GET subcommand";

/// The widest integer field BITFIELD addresses; unsigned fields stop one bit short because
/// the reply is a signed 64-bit integer.
const FIELD_BITS_MAX: u32 = 64;
/// A field of up to 64 bits at any bit offset spans at most this many bytes.
const FIELD_SPAN_BYTES_MAX: usize = 9;

/// BITOP's destination and sources: every argument from the destination on is a key.
const DEST_AND_SOURCES: KeySpec = KeySpec::with_keynum(2, -1, 1, 0);

/// Whether BITCOUNT and BITPOS ranges count bytes (the default) or bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Unit {
    Byte,
    Bit,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BitOp {
    And,
    Or,
    Xor,
    Not,
}

/// A BITFIELD integer type: `i1`..`i64` or `u1`..`u63`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FieldType {
    signed: bool,
    bits: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FieldAction {
    Get,
    Set(i64),
    IncrBy(i64),
}

/// One BITFIELD operation, with the OVERFLOW mode in force where it appeared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FieldOp {
    action: FieldAction,
    field: FieldType,
    offset_bits: u64,
    overflow: Overflow,
}

/// A string being edited by BITFIELD: the stored bytes, the length after growth, and the
/// bytes written so far. Operations touch at most nine bytes each, so a change costs nothing
/// until it is committed, and a request that changes nothing is never committed.
struct Patch<'a> {
    base: &'a [u8],
    len_bytes: usize,
    written: BTreeMap<usize, u8>,
}

super::table::keyed_family!("bitmap");

pub const COMMANDS: &[CommandSpec] = &[
    cmd("setbit", 4, WRITE | DENYOOM, ONE_KEY, "2.2.0", "Sets or clears the bit at offset of the string value. Creates the key if it doesn't exist.", "O(1)", setbit),
    cmd("getbit", 3, READONLY | FAST, ONE_KEY, "2.2.0", "Returns a bit value by offset.", "O(1)", getbit),
    cmd("bitcount", -2, READONLY, ONE_KEY, "2.6.0", "Counts the number of set bits (population counting) in a string.", "O(N)", bitcount),
    cmd("bitpos", -3, READONLY, ONE_KEY, "2.8.7", "Finds the first set (1) or clear (0) bit in a string.", "O(N)", bitpos),
    cmd("bitop", -4, WRITE | DENYOOM, DEST_AND_SOURCES, "2.6.0", "Performs bitwise operations on multiple strings, and stores the result.", "O(N)", bitop),
    cmd("bitfield", -2, WRITE | DENYOOM, ONE_KEY, "3.2.0", "Performs arbitrary bitfield integer operations on strings.", "O(1) for each subcommand specified", bitfield),
    cmd("bitfield_ro", -2, READONLY | FAST, ONE_KEY, "6.0.0", "Performs arbitrary read-only bitfield integer operations on strings.", "O(1) for each subcommand specified", bitfield_ro),
];

/// SETBIT key offset value: returns the bit that was there. The offset is checked against
/// proto-max-bulk-len (in bytes) before anything else, so a huge offset is refused up front.
fn setbit(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.key()?;
    let offset = parse_bit_offset(&args.bytes()?, None, string_len_max(ctx))?;
    let bit = match parse_i64(&args.bytes()?) {
        Some(0) => false,
        Some(1) => true,
        _ => return Err(CmdError::Err(BIT_VALUE_ERROR.into())),
    };
    args.finish()?;
    let (db, now) = (ctx.db, ctx.now_ms);
    let store = ctx.store(&key);
    let byte_index = usize::try_from(offset / 8).expect("checked against the length limit");
    let (old, unchanged) = match peek_string(store, db, &key, now)? {
        Some(current) => {
            let old = get_bit(&current, offset);
            (old, byte_index < current.len() && old == bit)
        }
        None => (false, false),
    };
    if unchanged {
        return Ok(int(i64::from(old)));
    }
    let mask = 0x80u8 >> (offset % 8);
    commit(store, db, &key, now, byte_index + 1, |buffer| {
        if bit {
            buffer[byte_index] |= mask;
        } else {
            buffer[byte_index] &= !mask;
        }
    });
    Ok(int(i64::from(old)))
}

/// GETBIT key offset: bits past the end, and bits of a missing key, are 0.
fn getbit(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.key()?;
    let offset = parse_bit_offset(&args.bytes()?, None, string_len_max(ctx))?;
    args.finish()?;
    let (db, now) = (ctx.db, ctx.now_ms);
    let value = read_string(ctx.store(&key), db, &key, now)?.unwrap_or_default();
    Ok(int(i64::from(get_bit(&value, offset))))
}

/// BITCOUNT key [start end [BYTE | BIT]]: the arguments are checked before the key is looked
/// up (Redis 7.2), so a missing key with a bad range is still an error.
fn bitcount(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.key()?;
    let range = match args.remaining() {
        0 => None,
        2 | 3 => {
            let start = args.i64()?;
            let end = args.i64()?;
            Some((start, end, parse_unit(args)?))
        }
        _ => return Err(CmdError::Syntax),
    };
    let (db, now) = (ctx.db, ctx.now_ms);
    let Some(value) = read_string(ctx.store(&key), db, &key, now)? else {
        return Ok(int(0));
    };
    let bits = match range {
        None => resolve_range(value.len(), 0, -1, Unit::Byte),
        // Both ends negative and crossed is empty before clamping could make them meet.
        Some((start, end, _)) if start < 0 && end < 0 && start > end => None,
        Some((start, end, unit)) => resolve_range(value.len(), start, end, unit),
    };
    let count = bits.map_or(0, |(first, last)| count_ones(&value, first, last));
    Ok(int(i64::try_from(count).expect("bit counts fit in i64")))
}

/// BITPOS key bit [start [end [BYTE | BIT]]]. Without an explicit end, a search for a clear
/// bit in an all-ones range answers the first bit past the range, because the string reads
/// as zero-padded; with an explicit end it answers -1.
fn bitpos(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.key()?;
    let want = match args.i64()? {
        0 => false,
        1 => true,
        _ => return Err(CmdError::Err(BITPOS_BIT_ERROR.into())),
    };
    let range = match args.remaining() {
        0 => None,
        1..=3 => Some(parse_bitpos_range(args)?),
        _ => return Err(CmdError::Syntax),
    };
    let (db, now) = (ctx.db, ctx.now_ms);
    let Some(value) = read_string(ctx.store(&key), db, &key, now)? else {
        // A missing key is an endless run of zeros.
        return Ok(int(if want { -1 } else { 0 }));
    };
    let (start, end, unit) = range.unwrap_or((0, None, Unit::Byte));
    let Some((first, last)) = resolve_range(value.len(), start, end.unwrap_or(-1), unit) else {
        return Ok(int(-1));
    };
    let position = match find_bit(&value, want, first, last) {
        Some(position) => i64::try_from(position).expect("bit positions fit in i64"),
        None if want || end.is_some() => -1,
        None => i64::try_from(last + 1).expect("bit positions fit in i64"),
    };
    Ok(int(position))
}

/// `start [end [BYTE | BIT]]` of BITPOS, in Redis's order of checks: the unit word is judged
/// before the end is parsed.
fn parse_bitpos_range(args: &mut Args) -> Result<(i64, Option<i64>, Unit), CmdError> {
    let given = args.remaining();
    assert!((1..=3).contains(&given));
    let start = args.i64()?;
    if given == 1 {
        return Ok((start, None, Unit::Byte));
    }
    let end_arg = args.bytes()?;
    let unit = parse_unit(args)?;
    let end = parse_i64(&end_arg).ok_or(CmdError::NotInteger)?;
    Ok((start, Some(end), unit))
}

/// The optional trailing BYTE | BIT word; anything else, or more words, is a syntax error.
fn parse_unit(args: &mut Args) -> Result<Unit, CmdError> {
    let unit = if args.flag("BIT") {
        Unit::Bit
    } else {
        args.flag("BYTE");
        Unit::Byte
    };
    args.finish()?;
    Ok(unit)
}

/// BITOP AND | OR | XOR | NOT destkey key [key ...]: missing sources are empty strings and
/// shorter ones are zero-padded; the result replaces destkey (dropping its TTL), and an
/// empty result deletes it. Returns the result's length.
fn bitop(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let op_name = args.bytes()?;
    let op = match op_name.to_ascii_uppercase().as_slice() {
        b"AND" => BitOp::And,
        b"OR" => BitOp::Or,
        b"XOR" => BitOp::Xor,
        b"NOT" => BitOp::Not,
        _ => return Err(CmdError::Syntax),
    };
    let dest = args.key()?;
    let source_keys = args.rest();
    assert!(!source_keys.is_empty(), "arity guarantees one source");
    if op == BitOp::Not && source_keys.len() != 1 {
        return Err(CmdError::Err(BITOP_NOT_ERROR.into()));
    }
    let (db, now) = (ctx.db, ctx.now_ms);
    let mut sources = Vec::with_capacity(source_keys.len());
    for key in source_keys {
        sources.push(read_string(ctx.store(key), db, key, now)?.unwrap_or_default());
    }
    let result = combine(op, &sources);
    drop(sources);
    let len = result.len();
    let store = ctx.store(&dest);
    if result.is_empty() {
        store.remove(db, &dest, now);
    } else {
        store.insert(
            db,
            &dest,
            Value::Text(Bytes::from(result), TextEncoding::Raw),
            Ttl::Clear,
            now,
        );
    }
    Ok(int_len(len))
}

/// BITFIELD key [GET type offset | [OVERFLOW WRAP | SAT | FAIL] SET type offset value |
/// INCRBY type offset increment ...]
fn bitfield(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    bitfield_generic(ctx, args, false)
}

/// BITFIELD_RO key [GET type offset ...]: the same parser, but any write is refused.
fn bitfield_ro(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    bitfield_generic(ctx, args, true)
}

/// Parses every operation first (any error means nothing runs), then reads or edits the
/// string once. A request with a write grows the string to cover the farthest field written,
/// even when every write fails its overflow check, as Redis does.
fn bitfield_generic(ctx: &mut Ctx, args: &mut Args, read_only: bool) -> Result<Frame, CmdError> {
    let key = args.key()?;
    let ops = parse_field_ops(args, string_len_max(ctx))?;
    let write_len_bytes = ops.iter().filter_map(write_end_bytes).max();
    if read_only && write_len_bytes.is_some() {
        return Err(CmdError::Err(BITFIELD_RO_ERROR.into()));
    }
    let (db, now) = (ctx.db, ctx.now_ms);
    let store = ctx.store(&key);
    let Some(write_len_bytes) = write_len_bytes else {
        let value = read_string(store, db, &key, now)?.unwrap_or_default();
        let patch = Patch::new(&value, value.len());
        let replies = ops
            .iter()
            .map(|op| int_from(read_field(&patch, op)))
            .collect();
        return Ok(Frame::Array(replies));
    };
    let current = peek_string(store, db, &key, now)?;
    let current_len = current.as_ref().map_or(0, |c| c.len());
    let len_bytes = current_len.max(write_len_bytes);
    let (replies, written, changed) = {
        let mut patch = Patch::new(current.as_deref().unwrap_or_default(), len_bytes);
        let mut changed = current.is_none() || len_bytes > current_len;
        let replies: Vec<Frame> = ops
            .iter()
            .map(|op| {
                let (reply, op_changed) = apply_field_op(&mut patch, op);
                changed |= op_changed;
                reply
            })
            .collect();
        (replies, patch.written, changed)
    };
    // Release the read handle so the stored buffer is unique and can be edited in place.
    drop(current);
    if changed {
        commit(store, db, &key, now, len_bytes, |buffer| {
            for (index, byte) in &written {
                buffer[*index] = *byte;
            }
        });
    }
    Ok(Frame::Array(replies))
}

/// Reads every BITFIELD operation; OVERFLOW changes the mode of the writes after it.
fn parse_field_ops(args: &mut Args, len_max_bytes: usize) -> Result<Vec<FieldOp>, CmdError> {
    let mut ops = Vec::new();
    let mut overflow = Overflow::Wrap;
    // Each pass consumes at least one argument, so this ends within the argument count.
    while let Some(word) = args.peek() {
        let word = word.to_ascii_uppercase();
        let remaining = args.remaining() - 1;
        match word.as_slice() {
            b"GET" if remaining >= 2 => {}
            b"SET" | b"INCRBY" if remaining >= 3 => {}
            b"OVERFLOW" if remaining >= 1 => {
                args.bytes()?;
                overflow = parse_overflow(&args.bytes()?)?;
                continue;
            }
            _ => return Err(CmdError::Syntax),
        }
        args.bytes()?;
        let field = parse_field_type(&args.bytes()?)?;
        let offset_bits = parse_bit_offset(&args.bytes()?, Some(field.bits), len_max_bytes)?;
        let action = match word.as_slice() {
            b"GET" => FieldAction::Get,
            b"SET" => FieldAction::Set(args.i64()?),
            _ => FieldAction::IncrBy(args.i64()?),
        };
        ops.push(FieldOp {
            action,
            field,
            offset_bits,
            overflow,
        });
    }
    Ok(ops)
}

fn parse_overflow(word: &[u8]) -> Result<Overflow, CmdError> {
    match word.to_ascii_uppercase().as_slice() {
        b"WRAP" => Ok(Overflow::Wrap),
        b"SAT" => Ok(Overflow::Sat),
        b"FAIL" => Ok(Overflow::Fail),
        _ => Err(CmdError::Err(OVERFLOW_TYPE_ERROR.into())),
    }
}

/// `i<bits>` or `u<bits>`, lowercase letter only, as Redis reads it.
fn parse_field_type(word: &[u8]) -> Result<FieldType, CmdError> {
    let error = || CmdError::Err(FIELD_TYPE_ERROR.into());
    let (signed, bits_max) = match word.first() {
        Some(b'i') => (true, FIELD_BITS_MAX),
        Some(b'u') => (false, FIELD_BITS_MAX - 1),
        _ => return Err(error()),
    };
    let bits = parse_i64(&word[1..]).ok_or_else(error)?;
    if bits < 1 || bits > i64::from(bits_max) {
        return Err(error());
    }
    let bits = u32::try_from(bits).expect("checked against the maximum");
    Ok(FieldType { signed, bits })
}

/// A bit offset: a non-negative integer whose byte is below proto-max-bulk-len. BITFIELD
/// also takes `#N`, meaning N fields of the operation's width.
fn parse_bit_offset(
    word: &[u8],
    field_bits: Option<u32>,
    len_max_bytes: usize,
) -> Result<u64, CmdError> {
    let error = || CmdError::Err(BIT_OFFSET_ERROR.into());
    let (digits, multiplier) = match (word.first(), field_bits) {
        (Some(b'#'), Some(bits)) => (&word[1..], i64::from(bits)),
        _ => (word, 1),
    };
    let offset = parse_i64(digits)
        .and_then(|offset| offset.checked_mul(multiplier))
        .ok_or_else(error)?;
    let offset = u64::try_from(offset).map_err(|_| error())?;
    if offset / 8 >= len_max_bytes as u64 {
        return Err(error());
    }
    Ok(offset)
}

/// The string length a write operation needs, in bytes; `None` for GET.
fn write_end_bytes(op: &FieldOp) -> Option<usize> {
    if op.action == FieldAction::Get {
        return None;
    }
    let last_bit = op.offset_bits + u64::from(op.field.bits) - 1;
    Some(usize::try_from(last_bit / 8 + 1).expect("offsets are bounded by the length limit"))
}

/// Runs one operation against the patch: the reply, and whether the field's value changed.
fn apply_field_op(patch: &mut Patch, op: &FieldOp) -> (Frame, bool) {
    let old = read_field(patch, op);
    let (sum, reply_old) = match op.action {
        FieldAction::Get => return (int_from(old), false),
        // An unsigned field reads the value's bits as unsigned, as Redis does: -1 is huge.
        FieldAction::Set(value) if op.field.signed => (i128::from(value), true),
        FieldAction::Set(value) => (i128::from(value as u64), true),
        FieldAction::IncrBy(increment) => (old + i128::from(increment), false),
    };
    let Some(new) = fit_field(op.field, sum, op.overflow) else {
        return (Frame::Null, false);
    };
    write_field(patch, op, new);
    let reply = if reply_old { old } else { new };
    (int_from(reply), new != old)
}

fn int_from(value: i128) -> Frame {
    int(i64::try_from(value).expect("fields fit in i64"))
}

/// The value a field holds after storing `sum`: itself when it fits the type, otherwise per
/// the overflow mode (wrapped modulo 2^bits, saturated, or `None` for FAIL).
fn fit_field(field: FieldType, sum: i128, overflow: Overflow) -> Option<i128> {
    assert!((1..=FIELD_BITS_MAX).contains(&field.bits));
    let span = 1i128 << field.bits;
    let (min, max) = if field.signed {
        (-(span / 2), span / 2 - 1)
    } else {
        (0, span - 1)
    };
    if (min..=max).contains(&sum) {
        return Some(sum);
    }
    match overflow {
        Overflow::Fail => None,
        Overflow::Sat => Some(sum.clamp(min, max)),
        Overflow::Wrap => {
            let wrapped = sum.rem_euclid(span);
            Some(if wrapped > max {
                wrapped - span
            } else {
                wrapped
            })
        }
    }
}

/// A field's value; bits past the end of the string read as zero.
fn read_field(patch: &Patch, op: &FieldOp) -> i128 {
    let bits = op.field.bits;
    let (window, shift) = patch.window(op.offset_bits, bits);
    let raw = (window >> shift) & ((1u128 << bits) - 1);
    let negative = op.field.signed && raw >> (bits - 1) == 1;
    let value = i128::try_from(raw).expect("at most 64 bits");
    if negative {
        value - (1i128 << bits)
    } else {
        value
    }
}

/// Stores a value that fits the field, as its low `bits` bits in two's complement.
fn write_field(patch: &mut Patch, op: &FieldOp, value: i128) {
    let bits = op.field.bits;
    let mask = (1u128 << bits) - 1;
    let raw = u128::try_from(value.rem_euclid(1i128 << bits)).expect("non-negative");
    assert!(raw <= mask);
    let (window, shift) = patch.window(op.offset_bits, bits);
    let window = (window & !(mask << shift)) | (raw << shift);
    let first = usize::try_from(op.offset_bits / 8).expect("bounded offset");
    let last = usize::try_from((op.offset_bits + u64::from(bits) - 1) / 8).expect("bounded");
    for index in first..=last {
        let from_end = FIELD_SPAN_BYTES_MAX - 1 - (index - first);
        patch.set(index, (window >> (8 * from_end)) as u8);
    }
}

impl<'a> Patch<'a> {
    fn new(base: &'a [u8], len_bytes: usize) -> Patch<'a> {
        assert!(len_bytes >= base.len());
        Patch {
            base,
            len_bytes,
            written: BTreeMap::new(),
        }
    }

    fn byte(&self, index: usize) -> u8 {
        match self.written.get(&index) {
            Some(byte) => *byte,
            None => self.base.get(index).copied().unwrap_or(0),
        }
    }

    fn set(&mut self, index: usize, byte: u8) {
        assert!(
            index < self.len_bytes,
            "writes stay within the grown length"
        );
        self.written.insert(index, byte);
    }

    /// The nine bytes from the field's first byte as one big-endian integer, and how far the
    /// field's lowest bit sits from the window's lowest bit.
    fn window(&self, offset_bits: u64, bits: u32) -> (u128, u32) {
        assert!((1..=FIELD_BITS_MAX).contains(&bits));
        let first = usize::try_from(offset_bits / 8).expect("bounded offset");
        let mut window = 0u128;
        for index in first..first + FIELD_SPAN_BYTES_MAX {
            window = (window << 8) | u128::from(self.byte(index));
        }
        let window_bits = 8 * FIELD_SPAN_BYTES_MAX as u32;
        let shift = window_bits - (offset_bits % 8) as u32 - bits;
        (window, shift)
    }
}

/// The bit at `offset`, 0 past the end.
fn get_bit(bytes: &[u8], offset: u64) -> bool {
    let Ok(index) = usize::try_from(offset / 8) else {
        return false;
    };
    bytes
        .get(index)
        .is_some_and(|byte| byte & (0x80 >> (offset % 8)) != 0)
}

/// An inclusive range of a `len_bytes`-long string as bit positions, after negative indexes
/// count from the end and both ends are clamped; `None` when empty.
fn resolve_range(len_bytes: usize, start: i64, end: i64, unit: Unit) -> Option<(u64, u64)> {
    let len = i64::try_from(len_bytes).expect("string lengths fit in i64");
    let total = match unit {
        Unit::Byte => len,
        Unit::Bit => len.checked_mul(8).expect("string lengths are bounded"),
    };
    let from_end = |index: i64| if index < 0 { total + index } else { index };
    let start = from_end(start).max(0);
    let end = from_end(end).max(0).min(total - 1);
    if start > end {
        return None;
    }
    let (start, end) = (start as u64, end as u64);
    match unit {
        Unit::Byte => Some((start * 8, end * 8 + 7)),
        Unit::Bit => Some((start, end)),
    }
}

/// The bits of byte `index` that fall inside the inclusive bit range, as a mask.
fn range_mask(index: u64, first: u64, last: u64) -> u8 {
    assert!(first <= last);
    assert!(index >= first / 8 && index <= last / 8);
    let low = if index == first / 8 { first % 8 } else { 0 };
    let high = if index == last / 8 { last % 8 } else { 7 };
    (0xffu8 >> low) & (0xffu8 << (7 - high))
}

/// Set bits in the inclusive bit range, which lies within the string.
fn count_ones(bytes: &[u8], first: u64, last: u64) -> u64 {
    assert!(first <= last);
    assert!(last / 8 < bytes.len() as u64);
    let (first_byte, last_byte) = ((first / 8) as usize, (last / 8) as usize);
    let edge = |index: usize| {
        let mask = range_mask(index as u64, first, last);
        u64::from((bytes[index] & mask).count_ones())
    };
    if first_byte == last_byte {
        return edge(first_byte);
    }
    let middle: u64 = bytes[first_byte + 1..last_byte]
        .iter()
        .map(|byte| u64::from(byte.count_ones()))
        .sum();
    edge(first_byte) + middle + edge(last_byte)
}

/// The first bit equal to `want` in the inclusive bit range, which lies within the string.
fn find_bit(bytes: &[u8], want: bool, first: u64, last: u64) -> Option<u64> {
    assert!(first <= last);
    assert!(last / 8 < bytes.len() as u64);
    // Bounded by the range's byte count.
    for index in first / 8..=last / 8 {
        let byte = bytes[index as usize];
        let candidates = if want { byte } else { !byte } & range_mask(index, first, last);
        if candidates != 0 {
            return Some(index * 8 + u64::from(candidates.leading_zeros()));
        }
    }
    None
}

/// The byte-wise result of a BITOP over sources padded with zeros to the longest.
fn combine(op: BitOp, sources: &[Bytes]) -> Vec<u8> {
    assert!(!sources.is_empty());
    let len = sources.iter().map(Bytes::len).max().unwrap_or(0);
    let padded = |source: &Bytes, index: usize| source.get(index).copied().unwrap_or(0);
    let mut result: Vec<u8> = (0..len).map(|index| padded(&sources[0], index)).collect();
    if op == BitOp::Not {
        assert_eq!(sources.len(), 1);
        result.iter_mut().for_each(|byte| *byte = !*byte);
        return result;
    }
    for source in &sources[1..] {
        for (index, byte) in result.iter_mut().enumerate() {
            let other = padded(source, index);
            match op {
                BitOp::And => *byte &= other,
                BitOp::Or => *byte |= other,
                BitOp::Xor => *byte ^= other,
                BitOp::Not => unreachable!("handled above"),
            }
        }
    }
    debug_assert_eq!(result.len(), len);
    result
}

fn string_len_max(ctx: &Ctx) -> usize {
    ctx.shared.config.proto_max_bulk_len()
}

/// The string at `key` for reading (counts a hit or miss): `None` when missing, WRONGTYPE
/// for another type.
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

/// The string at `key` ahead of a write: no hit or miss is counted, and WATCH is not
/// signalled until the write happens.
fn peek_string(
    store: &mut Store,
    db: usize,
    key: &[u8],
    now_ms: u64,
) -> Result<Option<Bytes>, CmdError> {
    match store.peek(db, key, now_ms) {
        None => Ok(None),
        Some(stored) => match stored.as_bytes() {
            Some(bytes) => Ok(Some(Bytes::copy_from_slice(bytes))),
            None => Err(CmdError::WrongType),
        },
    }
}

/// Grows the string at `key` (creating it) to at least `len_bytes` zero-padded bytes and
/// lets `edit` change it, in place when the buffer is not shared. The caller has checked
/// that the key is missing or holds a string, and holds no other handle to its bytes.
fn commit(
    store: &mut Store,
    db: usize,
    key: &[u8],
    now_ms: u64,
    len_bytes: usize,
    edit: impl FnOnce(&mut [u8]),
) {
    assert!(len_bytes > 0);
    let Some(slot) = store.get_mut(db, key, now_ms) else {
        let mut buffer = vec![0u8; len_bytes];
        edit(&mut buffer);
        store.insert(
            db,
            key,
            Value::Text(Bytes::from(buffer), TextEncoding::Raw),
            Ttl::Keep,
            now_ms,
        );
        return;
    };
    let (Value::Str(stored) | Value::Text(stored, _)) =
        std::mem::replace(slot, Value::Str(Bytes::new()))
    else {
        unreachable!("the caller checked the type");
    };
    let before = stored.len();
    let mut buffer = stored
        .try_into_mut()
        .unwrap_or_else(|shared| BytesMut::from(&shared[..]));
    if buffer.len() < len_bytes {
        buffer.resize(len_bytes, 0);
    }
    edit(&mut buffer);
    let after = buffer.len();
    assert!(after >= before);
    *slot = Value::Text(buffer.freeze(), TextEncoding::Raw);
    store.resized(before, after);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::table::Handler;
    use crate::server::Shared;
    use ember_proto::Protocol;
    use proptest::prelude::*;

    /// Runs one command in-process against `store`, as a shard would.
    fn run(store: &mut Store, words: &[&[u8]]) -> Frame {
        let shared = Shared::for_tests(1);
        let name = std::str::from_utf8(words[0]).unwrap();
        let spec = COMMANDS
            .iter()
            .find(|spec| spec.name.eq_ignore_ascii_case(name))
            .expect("a bitmap command");
        let Handler::Data(handler) = spec.handler else {
            unreachable!("bitmap commands are data commands");
        };
        let argv: Vec<Bytes> = words.iter().map(|w| Bytes::copy_from_slice(w)).collect();
        let mut stores = [&mut *store];
        let mut ctx = Ctx::new(0, 0, Protocol::Resp2, &shared, &mut stores);
        let mut args = Args::new(&argv, 1);
        handler(&mut ctx, &mut args).unwrap_or_else(|e| e.to_frame())
    }

    fn run_str(store: &mut Store, line: &str) -> Frame {
        let words: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
        run(store, &words)
    }

    fn with_value(bytes: &[u8]) -> Store {
        let mut store = Store::for_tests();
        store.insert(0, b"k", Value::string(bytes), Ttl::Keep, 0);
        store
    }

    fn stored(store: &mut Store, key: &[u8]) -> Option<Bytes> {
        read_string(store, 0, key, 0).unwrap()
    }

    fn error(text: &str) -> Frame {
        Frame::Error(Bytes::from(text.to_string()))
    }

    fn field(signed: bool, bits: u32) -> FieldType {
        FieldType { signed, bits }
    }

    fn op(kind: &str, bits: u32, offset_bits: u64) -> FieldOp {
        FieldOp {
            action: FieldAction::Get,
            field: field(kind == "i", bits),
            offset_bits,
            overflow: Overflow::Wrap,
        }
    }

    #[test]
    fn ranges_resolve_in_bytes_and_bits() {
        assert_eq!(resolve_range(3, 0, -1, Unit::Byte), Some((0, 23)));
        assert_eq!(resolve_range(3, 1, 1, Unit::Byte), Some((8, 15)));
        assert_eq!(resolve_range(3, -2, 100, Unit::Byte), Some((8, 23)));
        assert_eq!(resolve_range(3, -100, 0, Unit::Byte), Some((0, 7)));
        assert_eq!(resolve_range(3, 2, 1, Unit::Byte), None);
        assert_eq!(resolve_range(3, 5, 10, Unit::Byte), None);
        assert_eq!(resolve_range(0, 0, -1, Unit::Byte), None);
        assert_eq!(resolve_range(3, 5, 10, Unit::Bit), Some((5, 10)));
        assert_eq!(resolve_range(3, -3, -1, Unit::Bit), Some((21, 23)));
        assert_eq!(resolve_range(3, 20, 1000, Unit::Bit), Some((20, 23)));
        assert_eq!(resolve_range(3, 24, 30, Unit::Bit), None);
    }

    #[test]
    fn counting_honours_partial_bytes() {
        let bytes = [0xffu8, 0x0f, 0x80];
        assert_eq!(count_ones(&bytes, 0, 23), 13);
        assert_eq!(count_ones(&bytes, 4, 11), 4);
        assert_eq!(count_ones(&bytes, 12, 12), 1);
        assert_eq!(count_ones(&bytes, 8, 11), 0);
        assert_eq!(count_ones(&bytes, 3, 16), 10);
        assert_eq!(range_mask(0, 3, 5), 0b0001_1100);
        assert_eq!(range_mask(1, 3, 20), 0xff);
        assert_eq!(range_mask(2, 3, 20), 0b1111_1000);
    }

    #[test]
    fn searching_honours_partial_bytes() {
        let bytes = [0xffu8, 0xf0, 0x00];
        assert_eq!(find_bit(&bytes, false, 0, 23), Some(12));
        assert_eq!(find_bit(&bytes, true, 12, 23), None);
        assert_eq!(find_bit(&bytes, true, 3, 23), Some(3));
        assert_eq!(find_bit(&bytes, false, 0, 11), None);
        assert_eq!(find_bit(&bytes, true, 11, 11), Some(11));
        assert_eq!(find_bit(&[0x00, 0x01], true, 0, 15), Some(15));
    }

    #[test]
    fn bitpos_follows_the_documented_examples() {
        let mut store = with_value(b"\xff\xf0\x00");
        assert_eq!(run_str(&mut store, "BITPOS k 0"), int(12));
        let mut store = with_value(b"\x00\xff\xf0");
        assert_eq!(run_str(&mut store, "BITPOS k 1 0"), int(8));
        assert_eq!(run_str(&mut store, "BITPOS k 1 2"), int(16));
        assert_eq!(run_str(&mut store, "BITPOS k 1 2 -1 BYTE"), int(16));
        assert_eq!(run_str(&mut store, "BITPOS k 1 7 15 BIT"), int(8));
        assert_eq!(run_str(&mut store, "BITPOS k 1 7 -3 bit"), int(8));
        let mut store = with_value(b"\x00\x00\x00");
        assert_eq!(run_str(&mut store, "BITPOS k 1"), int(-1));
    }

    #[test]
    fn bitpos_for_a_clear_bit_in_all_ones() {
        let mut store = with_value(b"\xff\xff\xff");
        // Without an end the string reads as zero-padded on the right.
        assert_eq!(run_str(&mut store, "BITPOS k 0"), int(24));
        assert_eq!(run_str(&mut store, "BITPOS k 0 1"), int(24));
        assert_eq!(run_str(&mut store, "BITPOS k 0 3 -1 BIT"), int(-1));
        assert_eq!(run_str(&mut store, "BITPOS k 0 0 -1"), int(-1));
        assert_eq!(run_str(&mut store, "BITPOS k 0 5 1"), int(-1));
        assert_eq!(run_str(&mut store, "BITPOS k 1 5"), int(-1));
        // Crossed negative indexes are not special for BITPOS: they clamp and meet.
        let mut store = with_value(b"\x01\x01");
        assert_eq!(run_str(&mut store, "BITPOS k 1 -3 -5"), int(7));
        assert_eq!(run_str(&mut store, "BITCOUNT k -3 -5"), int(0));
        let mut store = Store::for_tests();
        assert_eq!(run_str(&mut store, "BITPOS k 0"), int(0));
        assert_eq!(run_str(&mut store, "BITPOS k 1"), int(-1));
        assert_eq!(run_str(&mut store, "BITPOS k 0 0 5"), int(0));
        let mut store = with_value(b"");
        assert_eq!(run_str(&mut store, "BITPOS k 0"), int(-1));
    }

    #[test]
    fn bitcount_ranges_and_errors() {
        let mut store = with_value(b"foobar");
        assert_eq!(run_str(&mut store, "BITCOUNT k"), int(26));
        assert_eq!(run_str(&mut store, "BITCOUNT k 0 0"), int(4));
        assert_eq!(run_str(&mut store, "BITCOUNT k 1 1"), int(6));
        assert_eq!(run_str(&mut store, "BITCOUNT k 1 1 BYTE"), int(6));
        assert_eq!(run_str(&mut store, "BITCOUNT k 5 30 BIT"), int(17));
        assert_eq!(run_str(&mut store, "BITCOUNT k -2 -1"), int(7));
        assert_eq!(run_str(&mut store, "BITCOUNT k -1 -2"), int(0));
        assert_eq!(
            run_str(&mut store, "BITCOUNT k 0"),
            error("ERR syntax error")
        );
        assert_eq!(
            run_str(&mut store, "BITCOUNT k 0 1 BITS"),
            error("ERR syntax error")
        );
        assert_eq!(
            run_str(&mut store, "BITCOUNT k 0 1 BIT x"),
            error("ERR syntax error")
        );
        let not_integer = error("ERR value is not an integer or out of range");
        assert_eq!(run_str(&mut store, "BITCOUNT k x 1"), not_integer);
        // Redis 7.2 checks the arguments before looking the key up.
        assert_eq!(run_str(&mut store, "BITCOUNT missing x 1"), not_integer);
        assert_eq!(
            run_str(&mut store, "BITCOUNT missing 0 1 bad"),
            error("ERR syntax error")
        );
        assert_eq!(run_str(&mut store, "BITCOUNT missing"), int(0));
    }

    #[test]
    fn bitpos_errors_in_redis_order() {
        let mut store = with_value(b"\x00");
        let bit_error = error("ERR The bit argument must be 1 or 0.");
        assert_eq!(run_str(&mut store, "BITPOS k 2"), bit_error);
        assert_eq!(
            run_str(&mut store, "BITPOS k x"),
            error("ERR value is not an integer or out of range")
        );
        // The unit word is judged before the end is parsed.
        assert_eq!(
            run_str(&mut store, "BITPOS k 1 0 x bad"),
            error("ERR syntax error")
        );
        assert_eq!(
            run_str(&mut store, "BITPOS k 1 0 x BIT"),
            error("ERR value is not an integer or out of range")
        );
        assert_eq!(
            run_str(&mut store, "BITPOS k 1 0 1 BIT x"),
            error("ERR syntax error")
        );
        assert_eq!(
            run_str(&mut store, "BITPOS missing 1 0 1 bad"),
            error("ERR syntax error")
        );
    }

    #[test]
    fn setbit_grows_and_answers_the_old_bit() {
        let mut store = Store::for_tests();
        assert_eq!(run_str(&mut store, "SETBIT k 7 1"), int(0));
        assert_eq!(stored(&mut store, b"k").unwrap(), &b"\x01"[..]);
        assert_eq!(run_str(&mut store, "SETBIT k 7 1"), int(1));
        assert_eq!(run_str(&mut store, "SETBIT k 23 1"), int(0));
        assert_eq!(stored(&mut store, b"k").unwrap(), &b"\x01\x00\x01"[..]);
        assert_eq!(run_str(&mut store, "SETBIT k 7 0"), int(1));
        assert_eq!(run_str(&mut store, "GETBIT k 23"), int(1));
        assert_eq!(run_str(&mut store, "GETBIT k 1000"), int(0));
        assert_eq!(run_str(&mut store, "GETBIT missing 0"), int(0));
        // Clearing a bit past the end still grows the string, as in Redis, and the memory
        // accounting follows the growth made in place.
        let used_before = store.used_bytes();
        assert_eq!(run_str(&mut store, "SETBIT k 39 0"), int(0));
        assert_eq!(stored(&mut store, b"k").unwrap().len(), 5);
        assert_eq!(store.used_bytes(), used_before + 2);
        assert_eq!(run_str(&mut store, "SETBIT k 39 0"), int(0));
        assert_eq!(store.used_bytes(), used_before + 2);
    }

    #[test]
    fn setbit_and_getbit_errors() {
        let mut store = Store::for_tests();
        let offset_error = error("ERR bit offset is not an integer or out of range");
        let value_error = error("ERR bit is not an integer or out of range");
        assert_eq!(run_str(&mut store, "SETBIT k -1 1"), offset_error);
        assert_eq!(run_str(&mut store, "SETBIT k 4294967296 1"), offset_error);
        assert_eq!(run_str(&mut store, "SETBIT k 1.5 1"), offset_error);
        assert_eq!(run_str(&mut store, "SETBIT k #1 1"), offset_error);
        assert_eq!(run_str(&mut store, "SETBIT k 0 2"), value_error);
        assert_eq!(run_str(&mut store, "SETBIT k 0 -1"), value_error);
        assert_eq!(run_str(&mut store, "SETBIT k 0 x"), value_error);
        assert_eq!(run_str(&mut store, "GETBIT k 4294967296"), offset_error);
        assert_eq!(run_str(&mut store, "GETBIT k x"), offset_error);
        assert!(!store.exists(0, b"k", 0));
        store.insert(0, b"h", Value::List(Default::default()), Ttl::Keep, 0);
        let wrong = error("WRONGTYPE Operation against a key holding the wrong kind of value");
        for line in [
            "SETBIT h 0 1",
            "GETBIT h 0",
            "BITCOUNT h",
            "BITPOS h 1",
            "BITFIELD h",
        ] {
            assert_eq!(run_str(&mut store, line), wrong, "{line}");
        }
    }

    #[test]
    fn bitop_combines_padded_sources() {
        let sources = [Bytes::from_static(b"\xff\x0f"), Bytes::from_static(b"\x3c")];
        assert_eq!(combine(BitOp::And, &sources), vec![0x3c, 0x00]);
        assert_eq!(combine(BitOp::Or, &sources), vec![0xff, 0x0f]);
        assert_eq!(combine(BitOp::Xor, &sources), vec![0xc3, 0x0f]);
        assert_eq!(combine(BitOp::Not, &sources[..1]), vec![0x00, 0xf0]);
        assert_eq!(
            combine(BitOp::And, &[Bytes::new(), Bytes::new()]),
            Vec::<u8>::new()
        );
    }

    #[test]
    fn bitop_stores_replaces_and_deletes() {
        let mut store = with_value(b"foobar");
        store.insert(0, b"b", Value::string(b"abcdef"), Ttl::Keep, 0);
        assert_eq!(run_str(&mut store, "BITOP AND d k b"), int(6));
        assert_eq!(stored(&mut store, b"d").unwrap(), &b"`bc`ab"[..]);
        assert_eq!(run_str(&mut store, "BITOP or d k missing"), int(6));
        assert_eq!(stored(&mut store, b"d").unwrap(), &b"foobar"[..]);
        assert_eq!(run_str(&mut store, "BITOP XOR d k k"), int(6));
        assert_eq!(stored(&mut store, b"d").unwrap(), &[0u8; 6][..]);
        assert_eq!(run_str(&mut store, "BITOP NOT d missing"), int(0));
        assert!(!store.exists(0, b"d", 0));
        assert_eq!(
            run_str(&mut store, "BITOP NOT d k b"),
            error("ERR BITOP NOT must be called with a single source key.")
        );
        assert_eq!(
            run_str(&mut store, "BITOP NAND d k"),
            error("ERR syntax error")
        );
    }

    #[test]
    fn field_types_and_offsets_parse_like_redis() {
        assert_eq!(parse_field_type(b"i64"), Ok(field(true, 64)));
        assert_eq!(parse_field_type(b"u63"), Ok(field(false, 63)));
        assert_eq!(parse_field_type(b"u1"), Ok(field(false, 1)));
        for bad in [
            &b"u64"[..],
            b"i65",
            b"i0",
            b"I8",
            b"U8",
            b"x8",
            b"i",
            b"i08",
            b"i+8",
            b"",
        ] {
            assert_eq!(
                parse_field_type(bad),
                Err(CmdError::Err(FIELD_TYPE_ERROR.into())),
                "{bad:?}"
            );
        }
        let max = 512 * 1024 * 1024;
        assert_eq!(parse_bit_offset(b"#3", Some(8), max), Ok(24));
        assert_eq!(parse_bit_offset(b"100", Some(8), max), Ok(100));
        assert_eq!(parse_bit_offset(b"4294967295", None, max), Ok(4294967295));
        for (word, bits) in [
            (&b"#3"[..], None),
            (b"#-1", Some(8)),
            (b"-1", None),
            (b"4294967296", None),
            (b"#536870912", Some(8)),
            (b"#", Some(8)),
        ] {
            assert!(parse_bit_offset(word, bits, max).is_err(), "{word:?}");
        }
        assert!(parse_bit_offset(b"8", None, 1).is_err());
        assert_eq!(parse_bit_offset(b"7", None, 1), Ok(7));
    }

    #[test]
    fn fields_fit_by_overflow_mode_at_the_boundaries() {
        let (i8, u8, i64, u63) = (
            field(true, 8),
            field(false, 8),
            field(true, 64),
            field(false, 63),
        );
        assert_eq!(fit_field(i8, 127, Overflow::Fail), Some(127));
        assert_eq!(fit_field(i8, 128, Overflow::Wrap), Some(-128));
        assert_eq!(fit_field(i8, 128, Overflow::Sat), Some(127));
        assert_eq!(fit_field(i8, 128, Overflow::Fail), None);
        assert_eq!(fit_field(i8, -129, Overflow::Wrap), Some(127));
        assert_eq!(fit_field(i8, -129, Overflow::Sat), Some(-128));
        assert_eq!(fit_field(i8, 200, Overflow::Wrap), Some(-56));
        assert_eq!(fit_field(u8, 256, Overflow::Wrap), Some(0));
        assert_eq!(fit_field(u8, 300, Overflow::Wrap), Some(44));
        assert_eq!(fit_field(u8, -1, Overflow::Wrap), Some(255));
        assert_eq!(fit_field(u8, -1, Overflow::Sat), Some(0));
        assert_eq!(fit_field(u8, 256, Overflow::Sat), Some(255));
        assert_eq!(fit_field(u8, -1, Overflow::Fail), None);
        let i64_max = i128::from(i64::MAX);
        assert_eq!(
            fit_field(i64, i64_max + 1, Overflow::Wrap),
            Some(i128::from(i64::MIN))
        );
        assert_eq!(fit_field(i64, i64_max + 1, Overflow::Sat), Some(i64_max));
        assert_eq!(
            fit_field(i64, i128::from(i64::MIN) - 1, Overflow::Wrap),
            Some(i64_max)
        );
        assert_eq!(fit_field(u63, i64_max + 1, Overflow::Wrap), Some(0));
        assert_eq!(fit_field(u63, i64_max + 1, Overflow::Sat), Some(i64_max));
        assert_eq!(fit_field(field(true, 1), 1, Overflow::Wrap), Some(-1));
        assert_eq!(fit_field(field(false, 1), 2, Overflow::Sat), Some(1));
    }

    #[test]
    fn fields_read_and_write_at_any_alignment() {
        let base = [0b1010_1010u8, 0xff];
        let patch = Patch::new(&base, 2);
        assert_eq!(read_field(&patch, &op("u", 4, 0)), 0b1010);
        assert_eq!(read_field(&patch, &op("i", 4, 0)), -6);
        assert_eq!(read_field(&patch, &op("u", 8, 4)), 0b1010_1111);
        assert_eq!(read_field(&patch, &op("u", 8, 12)), 0b1111_0000);
        assert_eq!(read_field(&patch, &op("i", 64, 8)), -(1i128 << 56));
        assert_eq!(read_field(&patch, &op("u", 63, 100)), 0);
        let mut patch = Patch::new(&base, 3);
        write_field(&mut patch, &op("u", 4, 6), 0b0110);
        assert_eq!((patch.byte(0), patch.byte(1)), (0b1010_1001, 0b1011_1111));
        write_field(&mut patch, &op("i", 8, 13), -1);
        assert_eq!((patch.byte(1), patch.byte(2)), (0b1011_1111, 0b1111_1000));
        assert_eq!(
            base,
            [0b1010_1010u8, 0xff],
            "the stored bytes are untouched"
        );
        let mut patch = Patch::new(&[], 9);
        write_field(&mut patch, &op("i", 64, 7), i128::from(i64::MIN));
        assert_eq!(read_field(&patch, &op("i", 64, 7)), i128::from(i64::MIN));
        assert_eq!(read_field(&patch, &op("u", 1, 7)), 1);
        assert_eq!(read_field(&patch, &op("u", 63, 8)), 0);
    }

    #[test]
    fn bitfield_runs_operations_in_order() {
        let mut store = Store::for_tests();
        let reply = run_str(&mut store, "BITFIELD k INCRBY i5 100 1 GET u4 0");
        assert_eq!(reply, Frame::Array(vec![int(1), int(0)]));
        assert_eq!(stored(&mut store, b"k").unwrap().len(), 14);
        let reply = run_str(
            &mut store,
            "BITFIELD k SET i8 #0 100 SET i8 #1 200 GET i8 0 GET u8 8",
        );
        assert_eq!(
            reply,
            Frame::Array(vec![int(0), int(0), int(100), int(200)])
        );
        let reply = run_str(
            &mut store,
            "BITFIELD k OVERFLOW SAT INCRBY u2 102 1 INCRBY u2 102 5 OVERFLOW FAIL INCRBY u2 102 1 \
             OVERFLOW WRAP INCRBY u2 102 1",
        );
        assert_eq!(
            reply,
            Frame::Array(vec![int(1), int(3), Frame::Null, int(0)])
        );
        let reply = run_str(
            &mut store,
            "BITFIELD k OVERFLOW SAT SET u8 200 -1 SET i8 200 200",
        );
        assert_eq!(reply, Frame::Array(vec![int(0), int(-1)]));
        assert_eq!(
            run_str(&mut store, "BITFIELD k GET i8 200"),
            Frame::Array(vec![int(127)])
        );
        assert_eq!(run_str(&mut store, "BITFIELD k"), Frame::Array(vec![]));
        assert_eq!(
            run_str(&mut store, "BITFIELD_RO k GET u8 200"),
            Frame::Array(vec![int(127)])
        );
        assert_eq!(
            run_str(&mut store, "BITFIELD missing GET u8 0"),
            Frame::Array(vec![int(0)])
        );
        assert!(!store.exists(0, b"missing", 0));
    }

    #[test]
    fn bitfield_failed_writes_still_grow_the_string() {
        let mut store = Store::for_tests();
        let reply = run_str(&mut store, "BITFIELD k OVERFLOW FAIL SET u8 100 256");
        assert_eq!(reply, Frame::Array(vec![Frame::Null]));
        assert_eq!(stored(&mut store, b"k").unwrap(), &[0u8; 14][..]);
    }

    #[test]
    fn bitfield_errors_stop_everything() {
        let mut store = Store::for_tests();
        let cases = [
            ("BITFIELD k SET u8 0 1 GET u64 0", FIELD_TYPE_ERROR),
            ("BITFIELD k SET u8 0 1 OVERFLOW BAD", OVERFLOW_TYPE_ERROR),
            ("BITFIELD k SET u8 0 1 GET u8 -1", BIT_OFFSET_ERROR),
            ("BITFIELD k SET u8 0 1 GET u8 #-1", BIT_OFFSET_ERROR),
            (
                "BITFIELD k SET u8 0 1 SET u8 0 x",
                "value is not an integer or out of range",
            ),
            ("BITFIELD k SET u8 0 1 GET u8", "syntax error"),
            ("BITFIELD k SET u8 0 1 OVERFLOW", "syntax error"),
            ("BITFIELD k SET u8 0 1 BOGUS", "syntax error"),
            ("BITFIELD_RO k GET u8 0 SET u8 0 1", BITFIELD_RO_ERROR),
            (
                "BITFIELD_RO k INCRBY u8 0 x",
                "value is not an integer or out of range",
            ),
        ];
        for (line, text) in cases {
            assert_eq!(
                run_str(&mut store, line),
                error(&format!("ERR {text}")),
                "{line}"
            );
        }
        assert!(!store.exists(0, b"k", 0));
        assert_eq!(
            run_str(&mut store, "BITFIELD_RO k OVERFLOW SAT"),
            Frame::Array(vec![])
        );
    }

    #[derive(Clone, Debug)]
    enum ModelOp {
        Set(u32, bool),
        Get(u32),
        Count(i64, i64, bool),
        Pos(bool, i64, Option<i64>, bool),
    }

    fn model_op() -> impl Strategy<Value = ModelOp> {
        prop_oneof![
            (0u32..200, any::<bool>()).prop_map(|(o, b)| ModelOp::Set(o, b)),
            (0u32..220).prop_map(ModelOp::Get),
            (-30i64..30, -30i64..30, any::<bool>()).prop_map(|(s, e, b)| ModelOp::Count(s, e, b)),
            (
                any::<bool>(),
                -30i64..30,
                proptest::option::of(-30i64..30),
                any::<bool>()
            )
                .prop_map(|(w, s, e, b)| ModelOp::Pos(w, s, e, b)),
        ]
    }

    /// The model's view of an inclusive range, written as plainly as possible.
    fn model_range(bits: &[bool], start: i64, end: i64, in_bits: bool) -> Option<(usize, usize)> {
        let unit = if in_bits { 1 } else { 8 };
        let total = (bits.len() / unit) as i64;
        let start = if start < 0 {
            (total + start).max(0)
        } else {
            start
        };
        let end = if end < 0 {
            (total + end).max(0)
        } else {
            end.min(total - 1)
        };
        if start > end || total == 0 {
            return None;
        }
        Some((start as usize * unit, end as usize * unit + unit - 1))
    }

    fn model_pos(bits: &[bool], want: bool, start: i64, end: Option<i64>, in_bits: bool) -> i64 {
        let Some((first, last)) = model_range(bits, start, end.unwrap_or(-1), in_bits) else {
            return -1;
        };
        match (first..=last).find(|&i| bits[i] == want) {
            Some(i) => i as i64,
            None if want || end.is_some() => -1,
            None => last as i64 + 1,
        }
    }

    proptest! {
        #[test]
        fn bit_commands_match_a_vec_of_bools(ops in proptest::collection::vec(model_op(), 1..60)) {
            let mut store = Store::for_tests();
            let mut model: Vec<bool> = Vec::new();
            for op in ops {
                let unit = |b: bool| if b { "BIT" } else { "BYTE" };
                let (line, expected) = match op {
                    ModelOp::Set(offset, bit) => {
                        let offset = offset as usize;
                        let old = model.get(offset).copied().unwrap_or(false);
                        let len = (offset / 8 + 1) * 8;
                        if model.len() < len {
                            model.resize(len, false);
                        }
                        model[offset] = bit;
                        (format!("SETBIT k {offset} {}", u8::from(bit)), int(i64::from(old)))
                    }
                    ModelOp::Get(offset) => {
                        let bit = model.get(offset as usize).copied().unwrap_or(false);
                        (format!("GETBIT k {offset}"), int(i64::from(bit)))
                    }
                    ModelOp::Count(start, end, in_bits) => {
                        let count = if start < 0 && end < 0 && start > end {
                            0
                        } else {
                            model_range(&model, start, end, in_bits)
                                .map_or(0, |(f, l)| model[f..=l].iter().filter(|b| **b).count())
                        };
                        (format!("BITCOUNT k {start} {end} {}", unit(in_bits)), int_len(count))
                    }
                    ModelOp::Pos(want, start, end, in_bits) => {
                        // The unit word goes with an end; a lone start counts bytes.
                        let in_bits = in_bits && end.is_some();
                        let expected = if model.is_empty() {
                            if want { -1 } else { 0 }
                        } else {
                            model_pos(&model, want, start, end, in_bits)
                        };
                        let line = match end {
                            Some(end) => format!("BITPOS k {} {start} {end} {}", u8::from(want), unit(in_bits)),
                            None => format!("BITPOS k {} {start}", u8::from(want)),
                        };
                        (line, int(expected))
                    }
                };
                prop_assert_eq!(run_str(&mut store, &line), expected, "{}", line);
                let len = stored(&mut store, b"k").map_or(0, |v| v.len());
                prop_assert_eq!(len * 8, model.len());
            }
        }
    }
}
