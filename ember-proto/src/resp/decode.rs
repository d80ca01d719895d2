//! Incremental, zero-copy RESP decoding: the limits, the errors, the two entry points and
//! the line and integer lexing they share.
//!
//! Both entry points work in two passes. The first scans `&buf[..]` without allocating and
//! either finds where one complete frame ends, returns `Ok(None)` (more bytes are needed,
//! nothing is consumed) or returns an error as soon as a declared length breaks a limit.
//! The second pass runs only on a frame that is wholly present: it splits those bytes off
//! with `split_to(len).freeze()` and slices the values out of them, so every allocation it
//! makes is bounded by bytes the peer has already sent.
//!
//! A frame that arrives in many small reads is scanned again on each read. That costs
//! O(n) per read of an n-byte frame, which is cheap next to the syscalls for all but huge
//! aggregates; the query buffer limit of the server bounds the worst case.

mod general;
mod inline;
mod request;

use std::ops::Range;

use bytes::{Bytes, BytesMut};

use super::frame::Frame;

/// Default for `Limits::bulk_len_max_bytes`: Redis's `proto-max-bulk-len`.
pub const BULK_LEN_MAX_BYTES: usize = 512 * 1024 * 1024;

/// Default for `Limits::multibulk_len_max`. Redis allows `i32::MAX` elements, but each
/// argument costs a 32-byte `Bytes` handle, and 16 Mi of them (an MSET of 8 Mi pairs) is
/// already 512 MiB of handles, as much as the largest single bulk string.
pub const MULTIBULK_LEN_MAX: usize = 16 * 1024 * 1024;

/// Default for `Limits::nesting_depth_max`: no Redis reply nests more than a few levels,
/// and 128 is far above that while keeping the recursion of the second pass shallow.
pub const NESTING_DEPTH_MAX: usize = 128;

/// The most nesting any `Limits` value can allow. The second pass, `Drop` and `encode`
/// recurse once per level, so this keeps them far from the end of a thread's stack even
/// when a configuration asks for more.
pub const NESTING_DEPTH_CEILING: usize = 1024;

/// Default for `Limits::inline_len_max_bytes`: Redis's `PROTO_INLINE_MAX_SIZE`. It bounds
/// inline requests and every CRLF-terminated header or line.
pub const INLINE_LEN_MAX_BYTES: usize = 64 * 1024;

const _: () = assert!(NESTING_DEPTH_MAX <= NESTING_DEPTH_CEILING);
const _: () = assert!(INLINE_LEN_MAX_BYTES <= BULK_LEN_MAX_BYTES);
const _: () = assert!(MULTIBULK_LEN_MAX <= i32::MAX as usize);

/// The bounds a decoder enforces on what a peer declares. Configuration may lower them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The longest bulk string, blob error or verbatim string.
    pub bulk_len_max_bytes: usize,
    /// The most elements in one request or aggregate (pairs, for maps and attributes).
    pub multibulk_len_max: usize,
    /// The most aggregates one frame may nest. Values above `NESTING_DEPTH_CEILING` act as
    /// the ceiling.
    pub nesting_depth_max: usize,
    /// The longest inline request, or header line still waiting for its CRLF.
    pub inline_len_max_bytes: usize,
}

impl Limits {
    /// Redis's defaults, documented on the constants above.
    pub const DEFAULT: Limits = Limits {
        bulk_len_max_bytes: BULK_LEN_MAX_BYTES,
        multibulk_len_max: MULTIBULK_LEN_MAX,
        nesting_depth_max: NESTING_DEPTH_MAX,
        inline_len_max_bytes: INLINE_LEN_MAX_BYTES,
    };

    /// The nesting the decoder really allows: the configured value, capped.
    pub(crate) fn nesting_depth_effective(&self) -> usize {
        self.nesting_depth_max.min(NESTING_DEPTH_CEILING)
    }
}

impl Default for Limits {
    fn default() -> Limits {
        Limits::DEFAULT
    }
}

/// A protocol error. After one the stream cannot be re-synchronised, so the server replies
/// `ERR Protocol error: <Display>` and closes the connection. The texts of the request
/// errors are Redis's own, byte for byte (CR and LF in a quoted byte shown as spaces, as
/// Redis's error replies do).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("invalid multibulk length")]
    InvalidMultibulkLength,
    #[error("too big mbulk count string")]
    MultibulkCountTooBig,
    #[error("expected '$', got '{}'", printable(*got))]
    ExpectedBulk { got: u8 },
    #[error("invalid bulk length")]
    InvalidBulkLength,
    #[error("too big bulk count string")]
    BulkCountTooBig,
    /// Redis skips the two bytes after a bulk payload unchecked; ember refuses anything
    /// but CRLF there, because accepting it would mis-frame everything after.
    #[error("invalid bulk terminator")]
    InvalidBulkTerminator,
    #[error("unbalanced quotes in request")]
    UnbalancedQuotes,
    #[error("too big inline request")]
    InlineTooBig,
    #[error("invalid type byte '{}'", printable(*got))]
    InvalidTypeByte { got: u8 },
    #[error("nesting too deep")]
    NestingTooDeep,
    #[error("too big line")]
    LineTooBig,
    #[error("invalid line terminator")]
    InvalidLineTerminator,
    #[error("invalid integer")]
    InvalidInteger,
    #[error("invalid double")]
    InvalidDouble,
    #[error("invalid boolean")]
    InvalidBoolean,
    #[error("invalid big number")]
    InvalidBigNumber,
    #[error("invalid null")]
    InvalidNull,
    #[error("invalid verbatim string")]
    InvalidVerbatim,
}

/// Where a CRLF-terminated line lies: its text after the type byte, and the next frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Line {
    pub content: Range<usize>,
    pub next: usize,
}

/// The errors a kind of line reports, so each caller keeps Redis's wording.
pub(super) struct LineErrors {
    pub too_big: DecodeError,
    pub bad_terminator: DecodeError,
}

/// Server side: decodes one client request from the front of `buf`.
///
/// A request starting with `*` is a multibulk of bulk strings; anything else is an inline
/// command line. `Ok(None)` means more bytes are needed and nothing was consumed.
/// `Ok(Some(args))` consumed exactly the request; multibulk arguments share `buf`'s
/// memory. An empty request (an empty line, `*0`, `*-1`) gives an empty `Vec`.
pub fn decode_request(
    buf: &mut BytesMut,
    limits: &Limits,
) -> Result<Option<Vec<Bytes>>, DecodeError> {
    match buf.first() {
        None => Ok(None),
        Some(b'*') => request::decode_multibulk(buf, limits),
        Some(_) => inline::decode_inline(buf, limits),
    }
}

/// Client side, or any peer: decodes one complete RESP2/RESP3 frame of any type from the
/// front of `buf`. `Ok(None)` means more bytes are needed and nothing was consumed.
pub fn decode(buf: &mut BytesMut, limits: &Limits) -> Result<Option<Frame>, DecodeError> {
    let Some(frame_len) = general::scan_frame(buf, limits)? else {
        return Ok(None);
    };
    assert!(frame_len >= 3);
    assert!(frame_len <= buf.len());
    let data = buf.split_to(frame_len).freeze();
    let frame = general::build_frame(&data, limits);
    Ok(Some(frame))
}

/// Finds the line whose type byte is at `start`. Like Redis, it looks for the first CR,
/// and gives up with `too_big` only when no CR has come within `max_bytes`.
pub(super) fn find_line(
    buf: &[u8],
    start: usize,
    max_bytes: usize,
    errors: &LineErrors,
) -> Result<Option<Line>, DecodeError> {
    assert!(start < buf.len());
    let rest = &buf[start..];
    assert!(rest[0] != b'\r');
    let Some(cr) = rest.iter().position(|&byte| byte == b'\r') else {
        if rest.len() > max_bytes {
            return Err(errors.too_big.clone());
        }
        return Ok(None);
    };
    let Some(&after_cr) = rest.get(cr + 1) else {
        return Ok(None);
    };
    if after_cr != b'\n' {
        return Err(errors.bad_terminator.clone());
    }
    Ok(Some(Line {
        content: start + 1..start + cr,
        next: start + cr + 2,
    }))
}

/// Checks that a payload of `len` bytes and its CRLF follow `start`, and returns where
/// the next frame begins. The arithmetic is checked because `len` came from the peer.
pub(super) fn find_payload_end(
    buf: &[u8],
    start: usize,
    len: usize,
) -> Result<Option<usize>, DecodeError> {
    let payload_end = start
        .checked_add(len)
        .ok_or(DecodeError::InvalidBulkLength)?;
    let next = payload_end
        .checked_add(2)
        .ok_or(DecodeError::InvalidBulkLength)?;
    if buf.len() < next {
        return Ok(None);
    }
    if &buf[payload_end..next] != b"\r\n" {
        return Err(DecodeError::InvalidBulkTerminator);
    }
    Ok(Some(next))
}

/// Parses a decimal `i64` as strictly as Redis's `string2ll`: an optional '-', then "0"
/// alone or digits without a leading zero. No '+', no spaces, no "-0".
pub(super) fn parse_integer(text: &[u8]) -> Option<i64> {
    let (negative, digits) = match text {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, text),
    };
    match digits {
        [b'0'] if !negative => return Some(0),
        [b'1'..=b'9', ..] => {}
        _ => return None,
    }
    // Bounded by the 20 digits a u64 holds: one more overflows and returns.
    let mut magnitude: u64 = 0;
    for &digit in digits {
        if !digit.is_ascii_digit() {
            return None;
        }
        magnitude = magnitude
            .checked_mul(10)?
            .checked_add(u64::from(digit - b'0'))?;
    }
    if negative {
        0i64.checked_sub_unsigned(magnitude)
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// Parses a declared bulk length: not negative and within `bulk_len_max_bytes`.
pub(super) fn parse_bulk_len(text: &[u8], limits: &Limits) -> Result<usize, DecodeError> {
    let declared = parse_integer(text).ok_or(DecodeError::InvalidBulkLength)?;
    let len = usize::try_from(declared).map_err(|_| DecodeError::InvalidBulkLength)?;
    if len > limits.bulk_len_max_bytes {
        return Err(DecodeError::InvalidBulkLength);
    }
    Ok(len)
}

/// The byte as Redis's `%c` shows it, except that CR and LF become spaces as they do in
/// Redis's error replies. Bytes above 0x7F show as the Latin-1 character, since a Rust
/// string cannot hold the raw byte.
fn printable(byte: u8) -> char {
    match byte {
        b'\r' | b'\n' => ' ',
        _ => char::from(byte),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_integer_is_strict() {
        assert_eq!(parse_integer(b"0"), Some(0));
        assert_eq!(parse_integer(b"12"), Some(12));
        assert_eq!(parse_integer(b"-12"), Some(-12));
        assert_eq!(parse_integer(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_integer(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            &b""[..],
            b"-",
            b"-0",
            b"01",
            b"+1",
            b" 1",
            b"1 ",
            b"1a",
            b"9223372036854775808",
            b"-9223372036854775809",
            b"99999999999999999999999",
        ] {
            assert_eq!(parse_integer(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn find_line_cases() {
        let errors = LineErrors {
            too_big: DecodeError::LineTooBig,
            bad_terminator: DecodeError::InvalidLineTerminator,
        };
        let line = find_line(b"+OK\r\n", 0, 10, &errors).unwrap().unwrap();
        assert_eq!(
            line,
            Line {
                content: 1..3,
                next: 5
            }
        );
        assert_eq!(find_line(b"+OK\r", 0, 10, &errors), Ok(None));
        assert_eq!(find_line(b"+OK", 0, 10, &errors), Ok(None));
        assert_eq!(
            find_line(b"+OKOKOKOKOKOK", 0, 10, &errors),
            Err(DecodeError::LineTooBig)
        );
        assert_eq!(
            find_line(b"+OK\rX", 0, 10, &errors),
            Err(DecodeError::InvalidLineTerminator)
        );
    }

    #[test]
    fn payload_end_checks_overflow_and_terminator() {
        assert_eq!(find_payload_end(b"abc\r\n", 0, 3), Ok(Some(5)));
        assert_eq!(find_payload_end(b"abc\r", 0, 3), Ok(None));
        assert_eq!(
            find_payload_end(b"abcX\n", 0, 3),
            Err(DecodeError::InvalidBulkTerminator)
        );
        assert_eq!(
            find_payload_end(b"abc", 5, usize::MAX),
            Err(DecodeError::InvalidBulkLength)
        );
    }

    #[test]
    fn bulk_len_limits() {
        let limits = Limits::DEFAULT;
        assert_eq!(parse_bulk_len(b"0", &limits), Ok(0));
        assert_eq!(
            parse_bulk_len(b"536870912", &limits),
            Ok(BULK_LEN_MAX_BYTES)
        );
        for bad in [&b"536870913"[..], b"-1", b"9223372036854775807", b"x"] {
            assert_eq!(
                parse_bulk_len(bad, &limits),
                Err(DecodeError::InvalidBulkLength)
            );
        }
    }

    #[test]
    fn error_texts_show_bytes_like_redis() {
        assert_eq!(
            DecodeError::ExpectedBulk { got: b'x' }.to_string(),
            "expected '$', got 'x'"
        );
        assert_eq!(
            DecodeError::ExpectedBulk { got: b'\r' }.to_string(),
            "expected '$', got ' '"
        );
        assert_eq!(
            DecodeError::InvalidTypeByte { got: b'@' }.to_string(),
            "invalid type byte '@'"
        );
    }

    #[test]
    fn default_limits() {
        let limits = Limits::default();
        assert_eq!(limits, Limits::DEFAULT);
        assert_eq!(limits.bulk_len_max_bytes, 512 * 1024 * 1024);
        assert_eq!(limits.inline_len_max_bytes, 64 * 1024);
        assert_eq!(limits.nesting_depth_max, 128);
        let huge = Limits {
            nesting_depth_max: usize::MAX,
            ..Limits::DEFAULT
        };
        assert_eq!(huge.nesting_depth_effective(), NESTING_DEPTH_CEILING);
    }
}
