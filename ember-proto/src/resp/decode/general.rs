//! Any RESP2/RESP3 frame: the scan that finds where one ends, and the build that turns
//! the scanned bytes into a `Frame`.
//!
//! The scan is a loop with an explicit stack of open aggregates, so hostile nesting costs
//! heap bounded by `nesting_depth_max`, never the thread's stack. The build recurses, but
//! only over a frame the scan has already checked, so never deeper than that limit.

use std::ops::Range;

use bytes::Bytes;

use super::{find_line, find_payload_end, parse_bulk_len, parse_integer};
use super::{DecodeError, Limits, LineErrors};
use crate::resp::frame::Frame;

/// The header of one frame, with positions in place of values so the scan can produce it
/// from `&[u8]` without copying.
#[derive(Clone, Debug, PartialEq)]
enum Head {
    Simple(Range<usize>),
    Error(Range<usize>),
    Integer(i64),
    Bulk(Range<usize>),
    Null,
    NullArray,
    Double(f64),
    Boolean(bool),
    BigNumber(Range<usize>),
    Verbatim { format: [u8; 3], text: Range<usize> },
    BlobError(Range<usize>),
    Aggregate { kind: Aggregate, count: usize },
}

/// The aggregate types. `count` in `Head::Aggregate` counts pairs for maps and attributes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Aggregate {
    Array,
    Set,
    Push,
    Map,
    Attribute,
}

/// A frame's header and where the bytes after it start.
#[derive(Clone, Debug, PartialEq)]
struct Parsed {
    head: Head,
    end: usize,
}

const LENGTH_LINE: LineErrors = LineErrors {
    too_big: DecodeError::BulkCountTooBig,
    bad_terminator: DecodeError::InvalidBulkLength,
};

const COUNT_LINE: LineErrors = LineErrors {
    too_big: DecodeError::MultibulkCountTooBig,
    bad_terminator: DecodeError::InvalidMultibulkLength,
};

const VALUE_LINE: LineErrors = LineErrors {
    too_big: DecodeError::LineTooBig,
    bad_terminator: DecodeError::InvalidLineTerminator,
};

/// Finds the length of the complete frame at the front of `buf`, without allocating
/// unless the frame nests aggregates.
pub(super) fn scan_frame(buf: &[u8], limits: &Limits) -> Result<Option<usize>, DecodeError> {
    let depth_max = limits.nesting_depth_effective();
    // Children still expected by each open aggregate, innermost last.
    let mut open: Vec<usize> = Vec::new();
    let mut pos = 0;
    // Bounded by the buffer: every header takes at least three bytes.
    loop {
        let Some(parsed) = scan_head(buf, pos, limits)? else {
            return Ok(None);
        };
        assert!(parsed.end >= pos + 3);
        pos = parsed.end;
        if let Head::Aggregate { kind, count } = parsed.head {
            if open.len() >= depth_max {
                return Err(DecodeError::NestingTooDeep);
            }
            let children = child_count(kind, count)?;
            if children > 0 {
                open.push(children);
                continue;
            }
        }
        // A complete frame closes every aggregate whose last child it was.
        loop {
            let Some(left) = open.last_mut() else {
                return Ok(Some(pos));
            };
            assert!(*left > 0);
            *left -= 1;
            if *left > 0 {
                break;
            }
            open.pop();
        }
    }
}

/// Builds the frame that `scan_frame` found to fill all of `data`.
pub(super) fn build_frame(data: &Bytes, limits: &Limits) -> Frame {
    let mut pos = 0;
    let frame = build(data, &mut pos, limits, 0);
    assert_eq!(pos, data.len());
    frame
}

fn build(data: &Bytes, pos: &mut usize, limits: &Limits, depth: usize) -> Frame {
    assert!(depth <= limits.nesting_depth_effective());
    let parsed = scan_head(data, *pos, limits)
        .expect("the scan accepted this frame")
        .expect("the scan found this frame complete");
    *pos = parsed.end;
    let text = |range: Range<usize>| data.slice(range);
    match parsed.head {
        Head::Simple(range) => Frame::Simple(text(range)),
        Head::Error(range) => Frame::Error(text(range)),
        Head::Integer(value) => Frame::Integer(value),
        Head::Bulk(range) => Frame::Bulk(text(range)),
        Head::Null => Frame::Null,
        Head::NullArray => Frame::NullArray,
        Head::Double(value) => Frame::Double(value),
        Head::Boolean(value) => Frame::Boolean(value),
        Head::BigNumber(range) => Frame::BigNumber(text(range)),
        Head::Verbatim {
            format,
            text: range,
        } => Frame::Verbatim {
            format,
            text: text(range),
        },
        Head::BlobError(range) => Frame::BlobError(text(range)),
        Head::Aggregate { kind, count } => build_aggregate(data, pos, limits, depth, kind, count),
    }
}

/// Builds an aggregate's children. Its `count` was checked against the limit and all of
/// its children are present, so the allocation is bounded by received bytes.
fn build_aggregate(
    data: &Bytes,
    pos: &mut usize,
    limits: &Limits,
    depth: usize,
    kind: Aggregate,
    count: usize,
) -> Frame {
    let mut child = || build(data, pos, limits, depth + 1);
    match kind {
        Aggregate::Array => Frame::Array((0..count).map(|_| child()).collect()),
        Aggregate::Set => Frame::Set((0..count).map(|_| child()).collect()),
        Aggregate::Push => Frame::Push((0..count).map(|_| child()).collect()),
        Aggregate::Map => Frame::Map((0..count).map(|_| (child(), child())).collect()),
        Aggregate::Attribute => Frame::Attribute((0..count).map(|_| (child(), child())).collect()),
    }
}

/// How many frames follow an aggregate's header.
fn child_count(kind: Aggregate, count: usize) -> Result<usize, DecodeError> {
    match kind {
        Aggregate::Map | Aggregate::Attribute => count
            .checked_mul(2)
            .ok_or(DecodeError::InvalidMultibulkLength),
        Aggregate::Array | Aggregate::Set | Aggregate::Push => Ok(count),
    }
}

/// Reads the header of the frame at `pos`: for strings, also their payload.
fn scan_head(buf: &[u8], pos: usize, limits: &Limits) -> Result<Option<Parsed>, DecodeError> {
    let Some(&type_byte) = buf.get(pos) else {
        return Ok(None);
    };
    match type_byte {
        b'$' | b'!' | b'=' => scan_blob(buf, pos, limits),
        b'*' | b'%' | b'~' | b'>' | b'|' => scan_aggregate(buf, pos, limits),
        b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(' => scan_value_line(buf, pos, limits),
        got => Err(DecodeError::InvalidTypeByte { got }),
    }
}

/// Bulk strings, blob errors and verbatim strings: a length line, then the payload.
fn scan_blob(buf: &[u8], pos: usize, limits: &Limits) -> Result<Option<Parsed>, DecodeError> {
    let type_byte = buf[pos];
    let Some(line) = find_line(buf, pos, limits.inline_len_max_bytes, &LENGTH_LINE)? else {
        return Ok(None);
    };
    let len_text = &buf[line.content];
    if type_byte == b'$' && len_text == b"-1" {
        return Ok(Some(Parsed {
            head: Head::Null,
            end: line.next,
        }));
    }
    let len = parse_bulk_len(len_text, limits)?;
    let Some(end) = find_payload_end(buf, line.next, len)? else {
        return Ok(None);
    };
    let payload = line.next..line.next + len;
    let head = match type_byte {
        b'$' => Head::Bulk(payload),
        b'!' => Head::BlobError(payload),
        _ => verbatim_head(buf, payload)?,
    };
    Ok(Some(Parsed { head, end }))
}

/// A verbatim payload is a three-byte format, a ':', then the text.
fn verbatim_head(buf: &[u8], payload: Range<usize>) -> Result<Head, DecodeError> {
    let &[f0, f1, f2, b':', ..] = &buf[payload.clone()] else {
        return Err(DecodeError::InvalidVerbatim);
    };
    Ok(Head::Verbatim {
        format: [f0, f1, f2],
        text: payload.start + 4..payload.end,
    })
}

/// Aggregates: a count line. `*-1` is RESP2's null array; other negatives are errors.
fn scan_aggregate(buf: &[u8], pos: usize, limits: &Limits) -> Result<Option<Parsed>, DecodeError> {
    let type_byte = buf[pos];
    let Some(line) = find_line(buf, pos, limits.inline_len_max_bytes, &COUNT_LINE)? else {
        return Ok(None);
    };
    let count_text = &buf[line.content];
    if type_byte == b'*' && count_text == b"-1" {
        return Ok(Some(Parsed {
            head: Head::NullArray,
            end: line.next,
        }));
    }
    let declared = parse_integer(count_text).ok_or(DecodeError::InvalidMultibulkLength)?;
    let count = usize::try_from(declared).map_err(|_| DecodeError::InvalidMultibulkLength)?;
    if count > limits.multibulk_len_max {
        return Err(DecodeError::InvalidMultibulkLength);
    }
    let kind = match type_byte {
        b'*' => Aggregate::Array,
        b'~' => Aggregate::Set,
        b'>' => Aggregate::Push,
        b'%' => Aggregate::Map,
        _ => Aggregate::Attribute,
    };
    Ok(Some(Parsed {
        head: Head::Aggregate { kind, count },
        end: line.next,
    }))
}

/// Frames that are one line: simple strings, errors, integers, null, doubles, booleans
/// and big numbers.
fn scan_value_line(buf: &[u8], pos: usize, limits: &Limits) -> Result<Option<Parsed>, DecodeError> {
    let Some(line) = find_line(buf, pos, limits.inline_len_max_bytes, &VALUE_LINE)? else {
        return Ok(None);
    };
    let text = &buf[line.content.clone()];
    let head = match buf[pos] {
        b'+' | b'-' if text.contains(&b'\n') => return Err(DecodeError::InvalidLineTerminator),
        b'+' => Head::Simple(line.content),
        b'-' => Head::Error(line.content),
        b':' => Head::Integer(parse_integer(text).ok_or(DecodeError::InvalidInteger)?),
        b'_' if text.is_empty() => Head::Null,
        b'_' => return Err(DecodeError::InvalidNull),
        b',' => Head::Double(parse_double(text).ok_or(DecodeError::InvalidDouble)?),
        b'#' => Head::Boolean(parse_boolean(text)?),
        _ if is_big_number(text) => Head::BigNumber(line.content),
        _ => return Err(DecodeError::InvalidBigNumber),
    };
    Ok(Some(Parsed {
        head,
        end: line.next,
    }))
}

/// `inf`, `-inf`, `nan` (any case, optional sign), or decimal float syntax.
fn parse_double(text: &[u8]) -> Option<f64> {
    let unsigned = match text {
        [b'+' | b'-', rest @ ..] => rest,
        _ => text,
    };
    let negative = text.first() == Some(&b'-');
    if unsigned.eq_ignore_ascii_case(b"inf") {
        return Some(if negative {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    if unsigned.eq_ignore_ascii_case(b"nan") {
        return Some(f64::NAN);
    }
    // Rust's parser also takes words such as "infinity"; the wire format does not.
    let allowed = |byte: &u8| byte.is_ascii_digit() || b"+-.eE".contains(byte);
    if !text.iter().all(allowed) {
        return None;
    }
    std::str::from_utf8(text).ok()?.parse().ok()
}

fn parse_boolean(text: &[u8]) -> Result<bool, DecodeError> {
    match text {
        b"t" => Ok(true),
        b"f" => Ok(false),
        _ => Err(DecodeError::InvalidBoolean),
    }
}

/// An optional sign and at least one digit.
fn is_big_number(text: &[u8]) -> bool {
    let digits = match text {
        [b'+' | b'-', rest @ ..] => rest,
        _ => text,
    };
    !digits.is_empty() && digits.iter().all(u8::is_ascii_digit)
}

#[cfg(test)]
mod tests {
    use super::super::decode;
    use super::*;
    use bytes::BytesMut;

    fn decode_one(input: &[u8]) -> Result<Option<Frame>, DecodeError> {
        let mut buf = BytesMut::from(input);
        let result = decode(&mut buf, &Limits::DEFAULT);
        if let Ok(Some(_)) = result {
            assert!(buf.is_empty(), "{input:?} left {buf:?}");
        }
        result
    }

    fn frame(input: &[u8]) -> Frame {
        decode_one(input).unwrap().unwrap()
    }

    fn bulk(text: &'static str) -> Frame {
        Frame::Bulk(Bytes::from_static(text.as_bytes()))
    }

    #[test]
    fn resp2_types() {
        assert_eq!(frame(b"+OK\r\n"), Frame::simple("OK"));
        assert_eq!(frame(b"-ERR no\r\n"), Frame::error("ERR no"));
        assert_eq!(frame(b":-42\r\n"), Frame::Integer(-42));
        assert_eq!(frame(b"$3\r\nfoo\r\n"), bulk("foo"));
        assert_eq!(frame(b"$0\r\n\r\n"), bulk(""));
        assert_eq!(frame(b"$-1\r\n"), Frame::Null);
        assert_eq!(frame(b"*-1\r\n"), Frame::NullArray);
        assert_eq!(frame(b"*0\r\n"), Frame::Array(vec![]));
        assert_eq!(
            frame(b"*2\r\n$1\r\na\r\n*1\r\n:1\r\n"),
            Frame::Array(vec![bulk("a"), Frame::Array(vec![Frame::Integer(1)])])
        );
    }

    #[test]
    fn resp3_types() {
        assert_eq!(frame(b"_\r\n"), Frame::Null);
        assert_eq!(frame(b",1.5\r\n"), Frame::Double(1.5));
        assert_eq!(frame(b",-3\r\n"), Frame::Double(-3.0));
        assert_eq!(frame(b",1e3\r\n"), Frame::Double(1000.0));
        assert_eq!(frame(b",inf\r\n"), Frame::Double(f64::INFINITY));
        assert_eq!(frame(b",-inf\r\n"), Frame::Double(f64::NEG_INFINITY));
        assert!(matches!(frame(b",nan\r\n"), Frame::Double(v) if v.is_nan()));
        assert_eq!(frame(b"#t\r\n"), Frame::Boolean(true));
        assert_eq!(frame(b"#f\r\n"), Frame::Boolean(false));
        assert_eq!(
            frame(b"(-123456789012345678901234567890\r\n"),
            Frame::BigNumber(Bytes::from_static(b"-123456789012345678901234567890"))
        );
        assert_eq!(
            frame(b"=15\r\ntxt:Some string\r\n"),
            Frame::Verbatim {
                format: *b"txt",
                text: Bytes::from_static(b"Some string")
            }
        );
        assert_eq!(
            frame(b"!21\r\nSYNTAX invalid syntax\r\n"),
            Frame::BlobError(Bytes::from_static(b"SYNTAX invalid syntax"))
        );
    }

    #[test]
    fn resp3_aggregates() {
        assert_eq!(
            frame(b"%2\r\n+a\r\n:1\r\n+b\r\n:2\r\n"),
            Frame::Map(vec![
                (Frame::simple("a"), Frame::Integer(1)),
                (Frame::simple("b"), Frame::Integer(2)),
            ])
        );
        assert_eq!(
            frame(b"~2\r\n:1\r\n:2\r\n"),
            Frame::Set(vec![Frame::Integer(1), Frame::Integer(2)])
        );
        assert_eq!(
            frame(b">2\r\n+message\r\n$1\r\nx\r\n"),
            Frame::Push(vec![Frame::simple("message"), bulk("x")])
        );
        assert_eq!(
            frame(b"|1\r\n+ttl\r\n:3\r\n"),
            Frame::Attribute(vec![(Frame::simple("ttl"), Frame::Integer(3))])
        );
        assert_eq!(frame(b"%0\r\n"), Frame::Map(vec![]));
    }

    #[test]
    fn an_attribute_is_followed_by_its_reply() {
        let mut buf = BytesMut::from(&b"|1\r\n+key\r\n+a\r\n:7\r\n"[..]);
        let first = decode(&mut buf, &Limits::DEFAULT).unwrap().unwrap();
        assert!(matches!(first, Frame::Attribute(_)));
        let second = decode(&mut buf, &Limits::DEFAULT).unwrap().unwrap();
        assert_eq!(second, Frame::Integer(7));
        assert!(buf.is_empty());
    }

    #[test]
    fn incomplete_frames_consume_nothing() {
        let full: &[u8] = b"*3\r\n%1\r\n+k\r\n$2\r\nvv\r\n=7\r\ntxt:abc\r\n,1.25\r\n";
        for cut in 0..full.len() {
            let mut buf = BytesMut::from(&full[..cut]);
            assert_eq!(decode(&mut buf, &Limits::DEFAULT), Ok(None), "cut {cut}");
            assert_eq!(buf.len(), cut);
        }
        assert!(matches!(frame(full), Frame::Array(items) if items.len() == 3));
    }

    #[test]
    fn malformed_frames() {
        let cases: &[(&[u8], DecodeError)] = &[
            (b"@1\r\n", DecodeError::InvalidTypeByte { got: b'@' }),
            (b":1.5\r\n", DecodeError::InvalidInteger),
            (b":\r\n", DecodeError::InvalidInteger),
            (b"_x\r\n", DecodeError::InvalidNull),
            (b",1.2.3\r\n", DecodeError::InvalidDouble),
            (b",infinity\r\n", DecodeError::InvalidDouble),
            (b",\r\n", DecodeError::InvalidDouble),
            (b"#x\r\n", DecodeError::InvalidBoolean),
            (b"(12a\r\n", DecodeError::InvalidBigNumber),
            (b"(-\r\n", DecodeError::InvalidBigNumber),
            (b"=3\r\ntxt\r\n", DecodeError::InvalidVerbatim),
            (b"=4\r\ntxtx\r\n", DecodeError::InvalidVerbatim),
            (b"$-2\r\n", DecodeError::InvalidBulkLength),
            (b"!-1\r\n", DecodeError::InvalidBulkLength),
            (b"$3\r\nfooxx", DecodeError::InvalidBulkTerminator),
            (b"%-1\r\n", DecodeError::InvalidMultibulkLength),
            (b"*-2\r\n", DecodeError::InvalidMultibulkLength),
            (b"*16777217\r\n", DecodeError::InvalidMultibulkLength),
            (b"+a\nb\r\n", DecodeError::InvalidLineTerminator),
            (b"+a\rb", DecodeError::InvalidLineTerminator),
            (b"$?\r\n", DecodeError::InvalidBulkLength),
        ];
        for (input, error) in cases {
            assert_eq!(decode_one(input).as_ref(), Err(error), "{input:?}");
        }
    }

    #[test]
    fn huge_declared_lengths_fail_at_once() {
        let error = decode_one(b"$1073741824\r\n0123456789").unwrap_err();
        assert_eq!(error, DecodeError::InvalidBulkLength);
        let error = decode_one(b"$9223372036854775807\r\n").unwrap_err();
        assert_eq!(error, DecodeError::InvalidBulkLength);
        let error = decode_one(b"*1\r\n%9223372036854775807\r\n").unwrap_err();
        assert_eq!(error, DecodeError::InvalidMultibulkLength);
        // A count within the limit just waits for its elements.
        assert_eq!(decode_one(b"*16777216\r\n:1\r\n"), Ok(None));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let deep = b"*1\r\n".repeat(100_000);
        assert_eq!(decode_one(&deep), Err(DecodeError::NestingTooDeep));

        let mut at_limit = b"*1\r\n".repeat(NESTING_DEPTH_MAX_FOR_TEST);
        at_limit.extend_from_slice(b":1\r\n");
        let mut nested = frame(&at_limit);
        for _ in 0..NESTING_DEPTH_MAX_FOR_TEST {
            let Frame::Array(mut items) = nested else {
                panic!("expected an array");
            };
            nested = items.pop().unwrap();
        }
        assert_eq!(nested, Frame::Integer(1));

        let mut over = b"*1\r\n".repeat(NESTING_DEPTH_MAX_FOR_TEST);
        over.extend_from_slice(b"*0\r\n");
        assert_eq!(decode_one(&over), Err(DecodeError::NestingTooDeep));
    }

    const NESTING_DEPTH_MAX_FOR_TEST: usize = super::super::NESTING_DEPTH_MAX;

    #[test]
    fn too_big_lines() {
        let mut line = b"+".to_vec();
        line.resize(64 * 1024 + 2, b'a');
        assert_eq!(decode_one(&line), Err(DecodeError::LineTooBig));
        let mut count = b"*".to_vec();
        count.resize(64 * 1024 + 2, b'1');
        assert_eq!(decode_one(&count), Err(DecodeError::MultibulkCountTooBig));
    }
}
