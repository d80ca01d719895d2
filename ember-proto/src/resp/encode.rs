//! The RESP encoder: native RESP3, or RESP2 with RESP3 types downgraded as Redis does.
//!
//! Replies are encoded on every request, so the hot paths avoid `format!`: headers and
//! integers are assembled in a small stack buffer and appended with one copy, and each
//! string frame reserves its whole encoding once.
//!
//! Doubles are written as Redis 7 writes them (`format_double`): `inf`, `-inf`, `nan`,
//! integers in plain digits, and otherwise the shortest text that parses back to the same
//! `f64`, with an exponent for very large or very small magnitudes (1e21 is "1e+21").

use std::fmt;

use bytes::BytesMut;

use super::frame::{has_line_break, Frame};

/// The protocol a connection speaks, chosen with HELLO.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Resp2,
    Resp3,
}

/// A type byte, the 20 characters of the longest `i64` ("-9223372036854775808") and CRLF.
const HEADER_LEN_MAX_BYTES: usize = 1 + 20 + 2;

/// Room for any `f64`'s `Display`: the longest, a subnormal such as -2.2250738585072014e-308
/// written out in full, takes under 350 bytes.
const DOUBLE_TEXT_LEN_MAX_BYTES: usize = 512;

/// Appends the encoding of `frame` for protocol `proto` to `out`.
pub fn encode(frame: &Frame, proto: Protocol, out: &mut BytesMut) {
    match proto {
        Protocol::Resp3 => encode_resp3(frame, out),
        Protocol::Resp2 => encode_resp2(frame, out),
    }
}

fn encode_resp3(frame: &Frame, out: &mut BytesMut) {
    match frame {
        Frame::Simple(text) => write_line(out, b'+', text),
        Frame::Error(text) => write_line(out, b'-', text),
        Frame::Integer(value) => write_header(out, b':', *value),
        Frame::Bulk(bytes) => write_blob(out, b'$', &[], bytes),
        Frame::Null | Frame::NullArray => out.extend_from_slice(b"_\r\n"),
        Frame::Array(items) => write_list_resp3(out, b'*', items),
        Frame::Map(pairs) => write_pairs_resp3(out, b'%', pairs),
        Frame::Set(items) => write_list_resp3(out, b'~', items),
        Frame::Double(value) => write_line(out, b',', DoubleText::new(*value).as_bytes()),
        Frame::Boolean(true) => out.extend_from_slice(b"#t\r\n"),
        Frame::Boolean(false) => out.extend_from_slice(b"#f\r\n"),
        Frame::BigNumber(digits) => write_line(out, b'(', digits),
        Frame::Verbatim { format, text } => {
            let prefix = [format[0], format[1], format[2], b':'];
            write_blob(out, b'=', &prefix, text);
        }
        Frame::Push(items) => write_list_resp3(out, b'>', items),
        Frame::Attribute(pairs) => write_pairs_resp3(out, b'|', pairs),
        Frame::BlobError(bytes) => write_blob(out, b'!', &[], bytes),
    }
}

/// RESP2 has no nulls of its own type, maps, sets, pushes, doubles, booleans, big numbers,
/// verbatim strings, blob errors or attributes; each becomes what Redis sends instead.
fn encode_resp2(frame: &Frame, out: &mut BytesMut) {
    match frame {
        Frame::Null => out.extend_from_slice(b"$-1\r\n"),
        Frame::NullArray => out.extend_from_slice(b"*-1\r\n"),
        Frame::Array(items) | Frame::Set(items) | Frame::Push(items) => {
            write_list_resp2(out, items);
        }
        Frame::Map(pairs) => write_pairs_resp2(out, pairs),
        Frame::Double(value) => write_blob(out, b'$', &[], DoubleText::new(*value).as_bytes()),
        Frame::Boolean(true) => out.extend_from_slice(b":1\r\n"),
        Frame::Boolean(false) => out.extend_from_slice(b":0\r\n"),
        Frame::BigNumber(digits) => write_blob(out, b'$', &[], digits),
        Frame::Verbatim { text, .. } => write_blob(out, b'$', &[], text),
        Frame::BlobError(bytes) => write_error_line(out, bytes),
        // RESP2 has no way to say it, so the reply goes without its metadata.
        Frame::Attribute(_) => {}
        Frame::Simple(_) | Frame::Error(_) | Frame::Integer(_) | Frame::Bulk(_) => {
            encode_resp3(frame, out);
        }
    }
}

fn write_list_resp3(out: &mut BytesMut, type_byte: u8, items: &[Frame]) {
    write_len_header(out, type_byte, items.len());
    for item in items {
        encode_resp3(item, out);
    }
}

fn write_pairs_resp3(out: &mut BytesMut, type_byte: u8, pairs: &[(Frame, Frame)]) {
    write_len_header(out, type_byte, pairs.len());
    for (key, value) in pairs {
        encode_resp3(key, out);
        encode_resp3(value, out);
    }
}

/// Attributes inside the list write nothing in RESP2, so the count leaves them out.
fn write_list_resp2(out: &mut BytesMut, items: &[Frame]) {
    let count = items.iter().filter(|item| !is_attribute(item)).count();
    write_len_header(out, b'*', count);
    for item in items {
        encode_resp2(item, out);
    }
}

/// A map becomes a flat array of keys and values, as Redis sends HGETALL to RESP2 clients.
fn write_pairs_resp2(out: &mut BytesMut, pairs: &[(Frame, Frame)]) {
    let count: usize = pairs
        .iter()
        .map(|(key, value)| usize::from(!is_attribute(key)) + usize::from(!is_attribute(value)))
        .sum();
    write_len_header(out, b'*', count);
    for (key, value) in pairs {
        encode_resp2(key, out);
        encode_resp2(value, out);
    }
}

fn is_attribute(frame: &Frame) -> bool {
    matches!(frame, Frame::Attribute(_))
}

/// A line frame: the type byte, the text, CRLF.
fn write_line(out: &mut BytesMut, type_byte: u8, text: &[u8]) {
    out.reserve(1 + text.len() + 2);
    out.extend_from_slice(&[type_byte]);
    if has_line_break(text) {
        // A caller's bug: CR or LF would end the line early and desynchronise the peer.
        // Tests stop on it; production sends spaces instead, so the stream stays framed.
        if cfg!(debug_assertions) {
            panic!("a line frame holds CR or LF: {text:?}");
        }
        extend_without_line_breaks(out, text);
    } else {
        out.extend_from_slice(text);
    }
    out.extend_from_slice(b"\r\n");
}

/// A simple error from bytes that may hold CR or LF: those become spaces, as Redis does
/// for every error reply, so the line cannot end early.
fn write_error_line(out: &mut BytesMut, text: &[u8]) {
    out.reserve(1 + text.len() + 2);
    out.extend_from_slice(b"-");
    extend_without_line_breaks(out, text);
    out.extend_from_slice(b"\r\n");
}

fn extend_without_line_breaks(out: &mut BytesMut, text: &[u8]) {
    for &byte in text {
        let safe = if byte == b'\r' || byte == b'\n' {
            b' '
        } else {
            byte
        };
        out.extend_from_slice(&[safe]);
    }
}

/// A length-prefixed frame whose payload is `prefix` then `body`.
fn write_blob(out: &mut BytesMut, type_byte: u8, prefix: &[u8], body: &[u8]) {
    let len = prefix.len() + body.len();
    out.reserve(HEADER_LEN_MAX_BYTES + len + 2);
    write_len_header(out, type_byte, len);
    out.extend_from_slice(prefix);
    out.extend_from_slice(body);
    out.extend_from_slice(b"\r\n");
}

fn write_len_header(out: &mut BytesMut, type_byte: u8, len: usize) {
    // No allocation can exceed isize::MAX bytes, so a length always fits an i64.
    let len = i64::try_from(len).expect("a length fits an i64");
    write_header(out, type_byte, len);
}

/// Writes the type byte, `value` in decimal and CRLF with one copy into `out`.
fn write_header(out: &mut BytesMut, type_byte: u8, value: i64) {
    let mut header = [0u8; HEADER_LEN_MAX_BYTES];
    let mut at = HEADER_LEN_MAX_BYTES - 2;
    header[at..].copy_from_slice(b"\r\n");
    // The digits go backwards from the CRLF: at most 20 iterations for a u64.
    let mut rest = value.unsigned_abs();
    loop {
        at -= 1;
        header[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    if value < 0 {
        at -= 1;
        header[at] = b'-';
    }
    assert!(at >= 1);
    at -= 1;
    header[at] = type_byte;
    out.extend_from_slice(&header[at..]);
}

/// A double as Redis writes it (fpconv_dtoa): integral values up to 2^62 as integers, others in the
/// shortest form that reads back to the same double, switching to an exponent for very large
/// or very small magnitudes ("1.7976931348623157e+308", "1e-7").
pub fn format_double(score: f64) -> String {
    if score.is_nan() {
        return "nan".into();
    }
    if score.is_infinite() {
        return if score > 0.0 { "inf" } else { "-inf" }.into();
    }
    if score == 0.0 {
        // Redis prints negative zero as "0".
        return "0".into();
    }
    let integral_max = (i64::MAX / 2) as f64;
    if score.fract() == 0.0 && score.abs() <= integral_max {
        return (score as i64).to_string();
    }
    let scientific = format!("{:e}", score.abs());
    let (mantissa, exponent) = scientific.split_once('e').expect("{:e} has an exponent");
    let exponent: i64 = exponent.parse().expect("a decimal exponent");
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let sign = if score < 0.0 { "-" } else { "" };
    format!("{sign}{}", place_digits(&digits, exponent))
}

/// Lays out shortest-round-trip `digits` whose first digit has decimal `exponent`: plain
/// when short, with an exponent otherwise.
fn place_digits(digits: &str, exponent: i64) -> String {
    let count = digits.len() as i64;
    assert!(count > 0);
    let last = exponent - (count - 1);
    if last >= 0 && exponent.abs() < count + 7 {
        return format!("{digits}{}", "0".repeat(last as usize));
    }
    if last < 0 && (last > -7 || exponent.abs() < 4) {
        if exponent < 0 {
            let zeros = "0".repeat((-exponent - 1) as usize);
            return format!("0.{zeros}{digits}");
        }
        let (whole, fraction) = digits.split_at(exponent as usize + 1);
        return format!("{whole}.{fraction}");
    }
    let (first, rest) = digits.split_at(1);
    let dot = if rest.is_empty() { "" } else { "." };
    let sign = if exponent < 0 { '-' } else { '+' };
    format!("{first}{dot}{rest}e{sign}{}", exponent.abs())
}

/// The wire text of a double, built on the stack.
struct DoubleText {
    bytes: [u8; DOUBLE_TEXT_LEN_MAX_BYTES],
    len: usize,
}

impl DoubleText {
    fn new(value: f64) -> DoubleText {
        let mut text = DoubleText {
            bytes: [0; DOUBLE_TEXT_LEN_MAX_BYTES],
            len: 0,
        };
        let special: Option<&str> = if value.is_nan() {
            Some("nan")
        } else if value == f64::INFINITY {
            Some("inf")
        } else if value == f64::NEG_INFINITY {
            Some("-inf")
        } else {
            None
        };
        let result = match special {
            Some(word) => fmt::Write::write_str(&mut text, word),
            None => fmt::Write::write_str(&mut text, &format_double(value)),
        };
        assert!(result.is_ok(), "every f64 fits DOUBLE_TEXT_LEN_MAX_BYTES");
        assert!(text.len > 0);
        text
    }

    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl fmt::Write for DoubleText {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let end = self.len.checked_add(text.len()).ok_or(fmt::Error)?;
        if end > DOUBLE_TEXT_LEN_MAX_BYTES {
            return Err(fmt::Error);
        }
        self.bytes[self.len..end].copy_from_slice(text.as_bytes());
        self.len = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn encoded(frame: &Frame, proto: Protocol) -> Vec<u8> {
        let mut out = BytesMut::new();
        encode(frame, proto, &mut out);
        out.to_vec()
    }

    fn bytes(text: &'static str) -> Bytes {
        Bytes::from_static(text.as_bytes())
    }

    /// Every variant, with its RESP3 and RESP2 encodings.
    fn golden() -> Vec<(Frame, &'static str, &'static str)> {
        let mut cases = golden_resp2_types();
        cases.extend(golden_resp3_types());
        cases
    }

    /// The types RESP2 has too.
    fn golden_resp2_types() -> Vec<(Frame, &'static str, &'static str)> {
        vec![
            (Frame::simple("OK"), "+OK\r\n", "+OK\r\n"),
            (Frame::error("ERR x"), "-ERR x\r\n", "-ERR x\r\n"),
            (Frame::Integer(0), ":0\r\n", ":0\r\n"),
            (Frame::Integer(-42), ":-42\r\n", ":-42\r\n"),
            (
                Frame::Integer(i64::MIN),
                ":-9223372036854775808\r\n",
                ":-9223372036854775808\r\n",
            ),
            (
                Frame::Integer(i64::MAX),
                ":9223372036854775807\r\n",
                ":9223372036854775807\r\n",
            ),
            (Frame::bulk("foo"), "$3\r\nfoo\r\n", "$3\r\nfoo\r\n"),
            (Frame::bulk(""), "$0\r\n\r\n", "$0\r\n\r\n"),
            (Frame::Null, "_\r\n", "$-1\r\n"),
            (Frame::NullArray, "_\r\n", "*-1\r\n"),
        ]
    }

    /// The aggregates and the RESP3-only scalars.
    fn golden_resp3_types() -> Vec<(Frame, &'static str, &'static str)> {
        vec![
            (
                Frame::Array(vec![Frame::Integer(1), Frame::bulk("a")]),
                "*2\r\n:1\r\n$1\r\na\r\n",
                "*2\r\n:1\r\n$1\r\na\r\n",
            ),
            (Frame::Array(vec![]), "*0\r\n", "*0\r\n"),
            (
                Frame::Map(vec![(Frame::bulk("k"), Frame::Integer(1))]),
                "%1\r\n$1\r\nk\r\n:1\r\n",
                "*2\r\n$1\r\nk\r\n:1\r\n",
            ),
            (
                Frame::Set(vec![Frame::Integer(1)]),
                "~1\r\n:1\r\n",
                "*1\r\n:1\r\n",
            ),
            (Frame::Double(1.5), ",1.5\r\n", "$3\r\n1.5\r\n"),
            (Frame::Double(3.0), ",3\r\n", "$1\r\n3\r\n"),
            (Frame::Double(-0.25), ",-0.25\r\n", "$5\r\n-0.25\r\n"),
            (Frame::Double(f64::INFINITY), ",inf\r\n", "$3\r\ninf\r\n"),
            (
                Frame::Double(f64::NEG_INFINITY),
                ",-inf\r\n",
                "$4\r\n-inf\r\n",
            ),
            (Frame::Double(f64::NAN), ",nan\r\n", "$3\r\nnan\r\n"),
            (Frame::Double(1e21), ",1e+21\r\n", "$5\r\n1e+21\r\n"),
            (Frame::Boolean(true), "#t\r\n", ":1\r\n"),
            (Frame::Boolean(false), "#f\r\n", ":0\r\n"),
            (
                Frame::BigNumber(bytes("-12345678901234567890")),
                "(-12345678901234567890\r\n",
                "$21\r\n-12345678901234567890\r\n",
            ),
            (
                Frame::Verbatim {
                    format: *b"txt",
                    text: bytes("Some string"),
                },
                "=15\r\ntxt:Some string\r\n",
                "$11\r\nSome string\r\n",
            ),
            (
                Frame::Push(vec![Frame::bulk("message"), Frame::bulk("c")]),
                ">2\r\n$7\r\nmessage\r\n$1\r\nc\r\n",
                "*2\r\n$7\r\nmessage\r\n$1\r\nc\r\n",
            ),
            (
                Frame::Attribute(vec![(Frame::simple("ttl"), Frame::Integer(3))]),
                "|1\r\n+ttl\r\n:3\r\n",
                "",
            ),
            (
                Frame::BlobError(bytes("SYNTAX bad\r\nthing")),
                "!17\r\nSYNTAX bad\r\nthing\r\n",
                "-SYNTAX bad  thing\r\n",
            ),
        ]
    }

    #[test]
    fn golden_encodings() {
        for (frame, resp3, resp2) in golden() {
            let got3 = encoded(&frame, Protocol::Resp3);
            assert_eq!(String::from_utf8_lossy(&got3), resp3, "{frame:?}");
            let got2 = encoded(&frame, Protocol::Resp2);
            assert_eq!(String::from_utf8_lossy(&got2), resp2, "{frame:?}");
        }
    }

    #[test]
    fn resp2_leaves_attributes_out_of_counts() {
        let attribute = Frame::Attribute(vec![]);
        let list = Frame::Array(vec![attribute.clone(), Frame::Integer(1)]);
        assert_eq!(encoded(&list, Protocol::Resp2), b"*1\r\n:1\r\n");
        let map = Frame::Map(vec![(Frame::Integer(1), attribute)]);
        assert_eq!(encoded(&map, Protocol::Resp2), b"*1\r\n:1\r\n");
    }

    #[test]
    fn nested_resp2_downgrades() {
        let frame = Frame::Map(vec![(
            Frame::bulk("k"),
            Frame::Set(vec![Frame::Boolean(true), Frame::Null]),
        )]);
        assert_eq!(
            encoded(&frame, Protocol::Resp2),
            b"*2\r\n$1\r\nk\r\n*2\r\n:1\r\n$-1\r\n"
        );
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "CR or LF")]
    fn line_breaks_in_a_simple_string_are_a_bug() {
        let frame = Frame::Simple(bytes("a\r\nb"));
        encoded(&frame, Protocol::Resp3);
    }

    #[test]
    fn error_line_sanitises_line_breaks() {
        let mut out = BytesMut::new();
        write_error_line(&mut out, b"a\r\nb");
        assert_eq!(&out[..], b"-a  b\r\n");
    }

    #[test]
    fn encoding_appends() {
        let mut out = BytesMut::from(&b"x"[..]);
        encode(&Frame::Integer(7), Protocol::Resp3, &mut out);
        encode(&Frame::ok(), Protocol::Resp2, &mut out);
        assert_eq!(&out[..], b"x:7\r\n+OK\r\n");
    }

    #[test]
    fn double_texts_round_trip() {
        let values = [
            0.1,
            -0.0,
            f64::MAX,
            f64::MIN,
            f64::MIN_POSITIVE,
            -f64::MIN_POSITIVE,
            f64::from_bits(1),
            -f64::from_bits(0x000f_ffff_ffff_ffff),
            f64::EPSILON,
            123_456_789.123_456_79,
        ];
        for value in values {
            let text = DoubleText::new(value);
            let parsed: f64 = std::str::from_utf8(text.as_bytes())
                .unwrap()
                .parse()
                .unwrap();
            if value == 0.0 {
                // Negative zero is written "0", as Redis writes it.
                assert_eq!(parsed.to_bits(), 0.0f64.to_bits(), "{value:e}");
            } else {
                assert_eq!(parsed.to_bits(), value.to_bits(), "{value:e}");
            }
        }
    }

    #[test]
    fn headers_for_every_digit_count() {
        let mut value: i64 = 1;
        for _ in 0..18 {
            for candidate in [value - 1, value, -value, -(value - 1)] {
                let mut out = BytesMut::new();
                write_header(&mut out, b':', candidate);
                assert_eq!(out, format!(":{candidate}\r\n").as_bytes());
            }
            value *= 10;
        }
    }
}
