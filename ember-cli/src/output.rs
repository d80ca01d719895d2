//! Renders a reply as text, in one of two styles.
//!
//! `Raw` is for scripts and is what a pipe or file gets by default: values are printed
//! without type tags or quotes, integers as digits, nil as an empty line, and aggregates
//! one element per line with nesting flattened (a map gives its key and value on alternate
//! lines). A top-level error is the one exception: it keeps the `(error) ` prefix, so that
//! a script can tell a failure from a value that merely looks like one.
//!
//! `Human` is for a terminal: each value carries its type (`(integer) 1`, `(nil)`),
//! strings are quoted with their unprintable bytes escaped, and aggregates are numbered
//! (`1) "a"`) with nested ones indented under their number.

use ember_proto::Frame;

/// How replies are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    Raw,
    Human,
}

/// The complete text for one reply, ending with a newline.
pub fn render(frame: &Frame, style: Style) -> Vec<u8> {
    let mut out = Vec::new();
    match style {
        Style::Raw => {
            render_raw_top(frame, &mut out);
            out.push(b'\n');
        }
        Style::Human => render_human(frame, 0, &mut out),
    }
    assert!(out.ends_with(b"\n"));
    out
}

/// Whether the reply is an error, which makes the command count as failed.
pub fn is_error(frame: &Frame) -> bool {
    error_text(frame).is_some()
}

/// The text of an error reply, such as `ERR unknown command`, or `None` for any other.
pub fn error_text(frame: &Frame) -> Option<&[u8]> {
    match frame {
        Frame::Error(text) | Frame::BlobError(text) => Some(text),
        _ => None,
    }
}

fn render_raw_top(frame: &Frame, out: &mut Vec<u8>) {
    match frame {
        Frame::Error(text) | Frame::BlobError(text) => {
            out.extend_from_slice(b"(error) ");
            out.extend_from_slice(text);
        }
        _ => render_raw(frame, out),
    }
}

/// Appends `frame` in raw style, without the final newline.
fn render_raw(frame: &Frame, out: &mut Vec<u8>) {
    match frame {
        Frame::Simple(text) | Frame::Bulk(text) | Frame::BigNumber(text) => {
            out.extend_from_slice(text);
        }
        Frame::Error(text) | Frame::BlobError(text) => out.extend_from_slice(text),
        Frame::Verbatim { text, .. } => out.extend_from_slice(text),
        Frame::Integer(value) => out.extend_from_slice(value.to_string().as_bytes()),
        Frame::Double(value) => out.extend_from_slice(double_text(*value).as_bytes()),
        Frame::Boolean(value) => out.extend_from_slice(if *value { b"true" } else { b"false" }),
        Frame::Null | Frame::NullArray => {}
        Frame::Array(items) | Frame::Set(items) | Frame::Push(items) => {
            render_raw_list(items.iter(), out);
        }
        Frame::Map(pairs) | Frame::Attribute(pairs) => {
            render_raw_list(pairs.iter().flat_map(|(key, value)| [key, value]), out);
        }
    }
}

/// Appends the elements one per line. An element that is itself an aggregate spreads over
/// several lines, which is the flattening raw mode promises.
fn render_raw_list<'a>(items: impl Iterator<Item = &'a Frame>, out: &mut Vec<u8>) {
    for (index, item) in items.enumerate() {
        if index > 0 {
            out.push(b'\n');
        }
        render_raw(item, out);
    }
}

/// Appends `frame` in human style. The first line continues wherever the cursor is; later
/// lines are indented by `indent` so nested elements line up under their parent's number.
fn render_human(frame: &Frame, indent: usize, out: &mut Vec<u8>) {
    match frame {
        Frame::Array(items) | Frame::Push(items) => {
            render_human_list(items, b')', "(empty array)", indent, out);
        }
        Frame::Set(items) => render_human_list(items, b'~', "(empty set)", indent, out),
        Frame::Map(pairs) | Frame::Attribute(pairs) => render_human_map(pairs, indent, out),
        _ => {
            render_human_scalar(frame, out);
            out.push(b'\n');
        }
    }
}

/// Appends a non-aggregate `frame` in human style, without the final newline.
fn render_human_scalar(frame: &Frame, out: &mut Vec<u8>) {
    let (tag, body): (&str, &[u8]) = match frame {
        Frame::Simple(text) => ("", text),
        Frame::Verbatim { text, .. } => ("", text),
        Frame::Error(text) | Frame::BlobError(text) => ("(error) ", text),
        Frame::BigNumber(digits) => ("(big number) ", digits),
        Frame::Null | Frame::NullArray => ("(nil)", b""),
        Frame::Boolean(true) => ("(true)", b""),
        Frame::Boolean(false) => ("(false)", b""),
        Frame::Bulk(bytes) => return quote(bytes, out),
        Frame::Integer(value) => {
            return out.extend_from_slice(format!("(integer) {value}").as_bytes())
        }
        Frame::Double(value) => {
            let text = format!("(double) {}", double_text(*value));
            return out.extend_from_slice(text.as_bytes());
        }
        Frame::Array(_) | Frame::Set(_) | Frame::Push(_) | Frame::Map(_) | Frame::Attribute(_) => {
            unreachable!("aggregates are rendered by render_human")
        }
    };
    out.extend_from_slice(tag.as_bytes());
    out.extend_from_slice(body);
}

/// Appends a numbered list such as `1) "a"`, right-aligning the numbers so the values
/// line up even past nine elements.
fn render_human_list(items: &[Frame], marker: u8, empty: &str, indent: usize, out: &mut Vec<u8>) {
    if items.is_empty() {
        out.extend_from_slice(empty.as_bytes());
        out.push(b'\n');
        return;
    }
    let width = items.len().to_string().len();
    for (index, item) in items.iter().enumerate() {
        if index > 0 {
            out.resize(out.len() + indent, b' ');
        }
        let number = format!("{:>width$}{} ", index + 1, marker as char);
        assert!(number.len() == width + 2);
        out.extend_from_slice(number.as_bytes());
        render_human(item, indent + number.len(), out);
    }
}

/// Appends a numbered map as `1# key => value` lines. A nested value is indented past its
/// key so it stays readable.
fn render_human_map(pairs: &[(Frame, Frame)], indent: usize, out: &mut Vec<u8>) {
    if pairs.is_empty() {
        out.extend_from_slice(b"(empty hash)\n");
        return;
    }
    let width = pairs.len().to_string().len();
    for (index, (key, value)) in pairs.iter().enumerate() {
        if index > 0 {
            out.resize(out.len() + indent, b' ');
        }
        let number = format!("{:>width$}# ", index + 1);
        out.extend_from_slice(number.as_bytes());
        let key_indent = indent + number.len();
        let mut key_text = Vec::new();
        render_human(key, key_indent, &mut key_text);
        assert!(key_text.ends_with(b"\n"));
        key_text.pop();
        let key_last_line = key_text.rsplit(|&byte| byte == b'\n').next().unwrap_or(&[]);
        let value_indent = key_indent + key_last_line.len() + " => ".len();
        out.extend_from_slice(&key_text);
        out.extend_from_slice(b" => ");
        render_human(value, value_indent, out);
    }
}

/// Appends `bytes` in double quotes, escaping quotes, backslashes and anything
/// unprintable, so the operator sees exactly which bytes the value holds.
fn quote(bytes: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for &byte in bytes {
        match byte {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'"' => out.extend_from_slice(b"\\\""),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x07 => out.extend_from_slice(b"\\a"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x20..=0x7e => out.push(byte),
            _ => out.extend_from_slice(format!("\\x{byte:02x}").as_bytes()),
        }
    }
    out.push(b'"');
}

/// A double the way RESP3 spells it: `inf`, `-inf`, `nan`, or the shortest exact decimal.
fn double_text(value: f64) -> String {
    if value.is_nan() {
        return "nan".to_string();
    }
    if value.is_infinite() {
        let text = if value > 0.0 { "inf" } else { "-inf" };
        return text.to_string();
    }
    value.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn raw(frame: &Frame) -> String {
        String::from_utf8(render(frame, Style::Raw)).unwrap()
    }

    fn human(frame: &Frame) -> String {
        String::from_utf8(render(frame, Style::Human)).unwrap()
    }

    fn bulk(text: &'static str) -> Frame {
        Frame::Bulk(Bytes::from_static(text.as_bytes()))
    }

    fn verbatim() -> Frame {
        Frame::Verbatim {
            format: *b"txt",
            text: Bytes::from_static(b"Some string"),
        }
    }

    /// Every variant once, with its raw and human rendering.
    fn scalar_cases() -> Vec<(Frame, &'static str, &'static str)> {
        vec![
            (Frame::ok(), "OK\n", "OK\n"),
            (
                Frame::error("ERR boom"),
                "(error) ERR boom\n",
                "(error) ERR boom\n",
            ),
            (Frame::Integer(-42), "-42\n", "(integer) -42\n"),
            (bulk("hello"), "hello\n", "\"hello\"\n"),
            (Frame::Null, "\n", "(nil)\n"),
            (Frame::NullArray, "\n", "(nil)\n"),
            (Frame::Double(1.5), "1.5\n", "(double) 1.5\n"),
            (Frame::Double(f64::INFINITY), "inf\n", "(double) inf\n"),
            (
                Frame::Double(f64::NEG_INFINITY),
                "-inf\n",
                "(double) -inf\n",
            ),
            (Frame::Double(f64::NAN), "nan\n", "(double) nan\n"),
            (Frame::Boolean(true), "true\n", "(true)\n"),
            (Frame::Boolean(false), "false\n", "(false)\n"),
            (
                Frame::BigNumber(Bytes::from_static(b"-1234567890123456789012")),
                "-1234567890123456789012\n",
                "(big number) -1234567890123456789012\n",
            ),
            (verbatim(), "Some string\n", "Some string\n"),
            (
                Frame::BlobError(Bytes::from_static(b"SYNTAX bad")),
                "(error) SYNTAX bad\n",
                "(error) SYNTAX bad\n",
            ),
        ]
    }

    #[test]
    fn scalars() {
        for (frame, raw_text, human_text) in scalar_cases() {
            assert_eq!(raw(&frame), raw_text, "{frame:?}");
            assert_eq!(human(&frame), human_text, "{frame:?}");
        }
    }

    #[test]
    fn error_detection() {
        assert!(is_error(&Frame::error("ERR x")));
        assert!(is_error(&Frame::BlobError(Bytes::from_static(b"x"))));
        assert!(!is_error(&Frame::ok()));
        assert!(!is_error(&Frame::Array(vec![Frame::error("ERR x")])));
        assert_eq!(error_text(&Frame::error("ERR x")), Some(&b"ERR x"[..]));
        assert_eq!(error_text(&Frame::ok()), None);
    }

    #[test]
    fn human_quotes_unprintable_bytes() {
        let frame = Frame::Bulk(Bytes::from_static(b"a\"b\\c\n\r\t\x07\x08\x00\xff"));
        assert_eq!(human(&frame), "\"a\\\"b\\\\c\\n\\r\\t\\a\\b\\x00\\xff\"\n");
        assert_eq!(
            render(&frame, Style::Raw),
            b"a\"b\\c\n\r\t\x07\x08\x00\xff\n"
        );
    }

    #[test]
    fn arrays() {
        let frame = Frame::Array(vec![bulk("a"), Frame::Integer(2), Frame::Null]);
        assert_eq!(raw(&frame), "a\n2\n\n");
        assert_eq!(human(&frame), "1) \"a\"\n2) (integer) 2\n3) (nil)\n");
        let push = Frame::Push(vec![bulk("message"), bulk("ch")]);
        assert_eq!(raw(&push), "message\nch\n");
        assert_eq!(human(&push), "1) \"message\"\n2) \"ch\"\n");
    }

    #[test]
    fn empty_aggregates() {
        assert_eq!(raw(&Frame::Array(vec![])), "\n");
        assert_eq!(human(&Frame::Array(vec![])), "(empty array)\n");
        assert_eq!(human(&Frame::Push(vec![])), "(empty array)\n");
        assert_eq!(raw(&Frame::Set(vec![])), "\n");
        assert_eq!(human(&Frame::Set(vec![])), "(empty set)\n");
        assert_eq!(raw(&Frame::Map(vec![])), "\n");
        assert_eq!(human(&Frame::Map(vec![])), "(empty hash)\n");
    }

    #[test]
    fn nested_arrays_flatten_in_raw_and_indent_in_human() {
        let inner = Frame::Array(vec![bulk("b"), bulk("c")]);
        let frame = Frame::Array(vec![bulk("a"), inner, Frame::error("ERR x")]);
        assert_eq!(raw(&frame), "a\nb\nc\nERR x\n");
        assert_eq!(
            human(&frame),
            "1) \"a\"\n2) 1) \"b\"\n   2) \"c\"\n3) (error) ERR x\n"
        );
    }

    #[test]
    fn numbers_are_right_aligned_past_nine() {
        let frame = Frame::Array((0..10).map(Frame::Integer).collect());
        let text = human(&frame);
        assert!(text.starts_with(" 1) (integer) 0\n 2) (integer) 1\n"));
        assert!(text.ends_with("10) (integer) 9\n"));
        let nested = Frame::Array(vec![Frame::Array((0..10).map(Frame::Integer).collect())]);
        assert!(human(&nested).contains("\n   10) (integer) 9\n"));
    }

    #[test]
    fn sets() {
        let frame = Frame::Set(vec![bulk("x"), bulk("y")]);
        assert_eq!(raw(&frame), "x\ny\n");
        assert_eq!(human(&frame), "1~ \"x\"\n2~ \"y\"\n");
    }

    #[test]
    fn maps_alternate_keys_and_values() {
        let frame = Frame::Map(vec![
            (bulk("field"), bulk("value")),
            (bulk("n"), Frame::Integer(1)),
        ]);
        assert_eq!(raw(&frame), "field\nvalue\nn\n1\n");
        assert_eq!(
            human(&frame),
            "1# \"field\" => \"value\"\n2# \"n\" => (integer) 1\n"
        );
        let attribute = Frame::Attribute(vec![(bulk("ttl"), Frame::Integer(3))]);
        assert_eq!(raw(&attribute), "ttl\n3\n");
        assert_eq!(human(&attribute), "1# \"ttl\" => (integer) 3\n");
    }

    #[test]
    fn map_values_that_nest_stay_under_their_key() {
        let frame = Frame::Map(vec![(bulk("k"), Frame::Array(vec![bulk("a"), bulk("b")]))]);
        assert_eq!(raw(&frame), "k\na\nb\n");
        assert_eq!(human(&frame), "1# \"k\" => 1) \"a\"\n          2) \"b\"\n");
    }
}
