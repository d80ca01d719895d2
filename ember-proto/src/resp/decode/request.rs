//! Multibulk requests (`*<count>\r\n` then `count` bulk strings), decoded the way Redis's
//! `processMultibulkBuffer` accepts and rejects them.
//!
//! One walker serves both passes: the first calls it on the read buffer with a closure
//! that does nothing, to validate and measure; the second calls it on the frozen request
//! with a closure that slices out each argument. So the two passes cannot disagree.

use std::ops::Range;

use bytes::{Bytes, BytesMut};

use super::{find_line, find_payload_end, parse_bulk_len, parse_integer};
use super::{DecodeError, Limits, LineErrors};

/// A complete multibulk request: how many arguments it has and how many bytes it takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Walk {
    arg_count: usize,
    end: usize,
}

const COUNT_LINE: LineErrors = LineErrors {
    too_big: DecodeError::MultibulkCountTooBig,
    bad_terminator: DecodeError::InvalidMultibulkLength,
};

const BULK_LINE: LineErrors = LineErrors {
    too_big: DecodeError::BulkCountTooBig,
    bad_terminator: DecodeError::InvalidBulkLength,
};

/// Decodes the multibulk request at the front of `buf`, which starts with `*`.
pub(super) fn decode_multibulk(
    buf: &mut BytesMut,
    limits: &Limits,
) -> Result<Option<Vec<Bytes>>, DecodeError> {
    assert_eq!(buf.first(), Some(&b'*'));
    let Some(walk) = walk_multibulk(buf, limits, |_| {})? else {
        return Ok(None);
    };
    assert!(walk.end <= buf.len());
    let data = buf.split_to(walk.end).freeze();
    // The whole request is present, so `arg_count` is bounded by bytes already received.
    let mut args = Vec::with_capacity(walk.arg_count);
    let again = walk_multibulk(&data, limits, |range| args.push(data.slice(range)));
    assert_eq!(again, Ok(Some(walk)));
    assert_eq!(args.len(), walk.arg_count);
    Ok(Some(args))
}

/// Walks one multibulk request, calling `on_arg` with each argument's byte range.
/// Errors come as soon as the bytes that prove them are present, before any payload.
fn walk_multibulk(
    buf: &[u8],
    limits: &Limits,
    mut on_arg: impl FnMut(Range<usize>),
) -> Result<Option<Walk>, DecodeError> {
    let Some(count_line) = find_line(buf, 0, limits.inline_len_max_bytes, &COUNT_LINE)? else {
        return Ok(None);
    };
    let declared = parse_integer(&buf[count_line.content.clone()])
        .ok_or(DecodeError::InvalidMultibulkLength)?;
    let count_max = i64::try_from(limits.multibulk_len_max).unwrap_or(i64::MAX);
    if declared > count_max {
        return Err(DecodeError::InvalidMultibulkLength);
    }
    // Redis treats any count <= 0 as an empty request, consumed.
    let arg_count = usize::try_from(declared).unwrap_or(0);
    let mut pos = count_line.next;
    // Bounded by `arg_count`, itself bounded by `multibulk_len_max`.
    for _ in 0..arg_count {
        let Some(&type_byte) = buf.get(pos) else {
            return Ok(None);
        };
        if type_byte != b'$' {
            return Err(DecodeError::ExpectedBulk { got: type_byte });
        }
        let Some(line) = find_line(buf, pos, limits.inline_len_max_bytes, &BULK_LINE)? else {
            return Ok(None);
        };
        let len = parse_bulk_len(&buf[line.content], limits)?;
        let Some(next) = find_payload_end(buf, line.next, len)? else {
            return Ok(None);
        };
        on_arg(line.next..line.next + len);
        pos = next;
    }
    Ok(Some(Walk {
        arg_count,
        end: pos,
    }))
}

#[cfg(test)]
mod tests {
    use super::super::decode_request;
    use super::*;

    fn decode_all(input: &[u8]) -> Result<Option<Vec<Bytes>>, DecodeError> {
        let mut buf = BytesMut::from(input);
        decode_request(&mut buf, &Limits::DEFAULT)
    }

    fn args(list: &[&str]) -> Vec<Bytes> {
        list.iter()
            .map(|arg| Bytes::copy_from_slice(arg.as_bytes()))
            .collect()
    }

    #[test]
    fn decodes_a_request_and_consumes_it() {
        let mut buf = BytesMut::from(&b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\nrest"[..]);
        let got = decode_request(&mut buf, &Limits::DEFAULT).unwrap().unwrap();
        assert_eq!(got, args(&["GET", "k"]));
        assert_eq!(&buf[..], b"rest");
    }

    #[test]
    fn empty_requests() {
        for input in [&b"*0\r\n"[..], b"*-1\r\n", b"*-5\r\n"] {
            let mut buf = BytesMut::from(input);
            let got = decode_request(&mut buf, &Limits::DEFAULT).unwrap();
            assert_eq!(got, Some(vec![]));
            assert!(buf.is_empty());
        }
    }

    #[test]
    fn incomplete_requests_consume_nothing() {
        let full = b"*2\r\n$3\r\nGET\r\n$10\r\n0123456789\r\n";
        for cut in 0..full.len() {
            let mut buf = BytesMut::from(&full[..cut]);
            assert_eq!(decode_request(&mut buf, &Limits::DEFAULT), Ok(None));
            assert_eq!(buf.len(), cut);
        }
        assert_eq!(decode_all(full).unwrap().unwrap().len(), 2);
    }

    #[test]
    fn redis_error_texts() {
        let cases: &[(&[u8], &str)] = &[
            (b"*x\r\n", "invalid multibulk length"),
            (b"*\r\n", "invalid multibulk length"),
            (b"*1x\r\n", "invalid multibulk length"),
            (b"*16777217\r\n", "invalid multibulk length"),
            (b"*9223372036854775808\r\n", "invalid multibulk length"),
            (b"*1\rX", "invalid multibulk length"),
            (b"*1\r\n:1\r\n", "expected '$', got ':'"),
            (b"*1\r\nfoo", "expected '$', got 'f'"),
            (b"*1\r\n$x\r\n", "invalid bulk length"),
            (b"*1\r\n$-1\r\n", "invalid bulk length"),
            (b"*1\r\n$536870913\r\n", "invalid bulk length"),
            (b"*1\r\n$9223372036854775807\r\n", "invalid bulk length"),
            (b"*1\r\n$99999999999999999999\r\n", "invalid bulk length"),
            (b"*1\r\n$3\r\nfooXY", "invalid bulk terminator"),
        ];
        for (input, text) in cases {
            let error = decode_all(input).unwrap_err();
            assert_eq!(error.to_string(), *text, "{input:?}");
        }
    }

    #[test]
    fn too_big_count_strings() {
        let mut count_line = b"*".to_vec();
        count_line.resize(64 * 1024 + 2, b'1');
        let error = decode_all(&count_line).unwrap_err();
        assert_eq!(error.to_string(), "too big mbulk count string");
        // Exactly at the limit it still waits for the CR.
        assert_eq!(decode_all(&count_line[..64 * 1024]), Ok(None));

        let mut bulk_line = b"*1\r\n$".to_vec();
        bulk_line.resize(4 + 64 * 1024 + 2, b'1');
        let error = decode_all(&bulk_line).unwrap_err();
        assert_eq!(error.to_string(), "too big bulk count string");
    }

    #[test]
    fn huge_declared_bulk_fails_before_its_bytes_arrive() {
        let error = decode_all(b"*1\r\n$1073741824\r\n0123456789").unwrap_err();
        assert_eq!(error, DecodeError::InvalidBulkLength);
        let error = decode_all(b"*3\r\n$3\r\nSET\r\n$1073741824\r\n").unwrap_err();
        assert_eq!(error, DecodeError::InvalidBulkLength);
    }

    #[test]
    fn huge_declared_count_allocates_nothing_until_present() {
        // 16 Mi elements declared, one present: the decoder waits without allocating.
        assert_eq!(decode_all(b"*16777216\r\n$1\r\na\r\n"), Ok(None));
    }

    #[test]
    fn lower_limits_apply() {
        let limits = Limits {
            bulk_len_max_bytes: 3,
            multibulk_len_max: 2,
            ..Limits::DEFAULT
        };
        let mut buf = BytesMut::from(&b"*3\r\n"[..]);
        let error = decode_request(&mut buf, &limits).unwrap_err();
        assert_eq!(error, DecodeError::InvalidMultibulkLength);
        let mut buf = BytesMut::from(&b"*1\r\n$4\r\n"[..]);
        let error = decode_request(&mut buf, &limits).unwrap_err();
        assert_eq!(error, DecodeError::InvalidBulkLength);
        let mut buf = BytesMut::from(&b"*2\r\n$3\r\nabc\r\n$0\r\n\r\n"[..]);
        let got = decode_request(&mut buf, &limits).unwrap().unwrap();
        assert_eq!(got, args(&["abc", ""]));
    }

    #[test]
    fn pipelined_requests_decode_one_by_one() {
        let mut buf = BytesMut::from(
            &b"*1\r\n$4\r\nPING\r\nECHO hi\r\n*0\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1\r\n$3\r\nGE"[..],
        );
        let limits = Limits::DEFAULT;
        let expected = [
            (args(&["PING"]), 43),
            (args(&["ECHO", "hi"]), 34),
            (args(&[]), 30),
            (args(&["GET", "k"]), 10),
        ];
        for (want, left_after) in expected {
            let got = decode_request(&mut buf, &limits).unwrap().unwrap();
            assert_eq!(got, want);
            assert_eq!(buf.len(), left_after);
        }
        assert_eq!(decode_request(&mut buf, &limits), Ok(None));
        assert_eq!(&buf[..], b"*1\r\n$3\r\nGE");
    }

    #[test]
    fn binary_arguments_are_kept_exactly() {
        let got = decode_all(b"*1\r\n$4\r\n\r\n\0\xff\r\n").unwrap().unwrap();
        assert_eq!(got, vec![Bytes::from_static(b"\r\n\0\xff")]);
    }
}
