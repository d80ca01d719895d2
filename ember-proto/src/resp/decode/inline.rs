//! Inline requests: the command lines people type into `nc` or telnet, split into
//! arguments with the rules of Redis's `sdssplitargs`.
//!
//! The rules: arguments are separated by whitespace; "double quotes" take the escapes
//! \n \r \t \b \a \xHH and a backslash before any other byte gives that byte; 'single
//! quotes' take only \'; a quote may start in the middle of an argument, and a closing
//! quote must be followed by whitespace or the end of the line. Redis holds the line as a
//! C string, so a NUL byte ends it. Arguments are owned copies, since escapes change them.

use bytes::{Bytes, BytesMut};

use super::{DecodeError, Limits};

/// Decodes the inline request at the front of `buf`: one line ending in LF, with an
/// optional CR before it. As in Redis, `inline_len_max_bytes` bounds only a line still
/// waiting for its LF; a complete line is bounded by the server's query buffer limit.
pub(super) fn decode_inline(
    buf: &mut BytesMut,
    limits: &Limits,
) -> Result<Option<Vec<Bytes>>, DecodeError> {
    assert!(!buf.is_empty());
    let Some(newline) = buf.iter().position(|&byte| byte == b'\n') else {
        if buf.len() > limits.inline_len_max_bytes {
            return Err(DecodeError::InlineTooBig);
        }
        return Ok(None);
    };
    let mut line_end = newline;
    if line_end > 0 && buf[line_end - 1] == b'\r' {
        line_end -= 1;
    }
    let args = split_args(&buf[..line_end])?;
    let _ = buf.split_to(newline + 1);
    Ok(Some(args))
}

/// Splits one line into arguments, or fails on unbalanced quotes.
fn split_args(line: &[u8]) -> Result<Vec<Bytes>, DecodeError> {
    let line = match line.iter().position(|&byte| byte == 0) {
        Some(nul) => &line[..nul],
        None => line,
    };
    let mut args = Vec::new();
    let mut pos = 0;
    // Bounded by the line: each argument consumes at least one byte.
    loop {
        while pos < line.len() && is_space(line[pos]) {
            pos += 1;
        }
        if pos == line.len() {
            return Ok(args);
        }
        let (arg, next) = split_one(line, pos)?;
        assert!(next > pos);
        args.push(Bytes::from(arg));
        pos = next;
    }
}

/// Reads the argument that starts at `start` (not whitespace) and returns it with the
/// position after it.
fn split_one(line: &[u8], start: usize) -> Result<(Vec<u8>, usize), DecodeError> {
    assert!(start < line.len());
    assert!(!is_space(line[start]));
    let mut arg = Vec::new();
    let mut pos = start;
    // Bounded by the line: every arm moves `pos` forward or returns.
    loop {
        let Some(&byte) = line.get(pos) else {
            return Ok((arg, pos));
        };
        match byte {
            // Redis ends a bare argument on these four only, not on \v or \f.
            b' ' | b'\n' | b'\r' | b'\t' => return Ok((arg, pos + 1)),
            b'"' => return read_double_quoted(line, pos + 1, &mut arg).map(|next| (arg, next)),
            b'\'' => return read_single_quoted(line, pos + 1, &mut arg).map(|next| (arg, next)),
            _ => {
                arg.push(byte);
                pos += 1;
            }
        }
    }
}

/// Appends the double-quoted text starting at `start` to `arg`, and returns the position
/// after the closing quote.
fn read_double_quoted(line: &[u8], start: usize, arg: &mut Vec<u8>) -> Result<usize, DecodeError> {
    let mut pos = start;
    // Bounded by the line: every arm moves `pos` forward or returns.
    loop {
        let Some(&byte) = line.get(pos) else {
            return Err(DecodeError::UnbalancedQuotes);
        };
        match byte {
            b'"' => return after_closing_quote(line, pos),
            b'\\' => {
                let Some(&escaped) = line.get(pos + 1) else {
                    return Err(DecodeError::UnbalancedQuotes);
                };
                let hex = (line.get(pos + 2), line.get(pos + 3));
                if let (b'x', (Some(&high), Some(&low))) = (escaped, hex) {
                    if let (Some(high), Some(low)) = (hex_value(high), hex_value(low)) {
                        arg.push(high * 16 + low);
                        pos += 4;
                        continue;
                    }
                }
                arg.push(unescape(escaped));
                pos += 2;
            }
            _ => {
                arg.push(byte);
                pos += 1;
            }
        }
    }
}

/// Appends the single-quoted text starting at `start` to `arg`, and returns the position
/// after the closing quote. Only \' is an escape here.
fn read_single_quoted(line: &[u8], start: usize, arg: &mut Vec<u8>) -> Result<usize, DecodeError> {
    let mut pos = start;
    // Bounded by the line: every arm moves `pos` forward or returns.
    loop {
        let Some(&byte) = line.get(pos) else {
            return Err(DecodeError::UnbalancedQuotes);
        };
        if byte == b'\\' && line.get(pos + 1) == Some(&b'\'') {
            arg.push(b'\'');
            pos += 2;
        } else if byte == b'\'' {
            return after_closing_quote(line, pos);
        } else {
            arg.push(byte);
            pos += 1;
        }
    }
}

/// A closing quote at `quote` must be followed by whitespace or the end of the line.
fn after_closing_quote(line: &[u8], quote: usize) -> Result<usize, DecodeError> {
    match line.get(quote + 1) {
        Some(&next) if !is_space(next) => Err(DecodeError::UnbalancedQuotes),
        _ => Ok(quote + 1),
    }
}

/// The byte a backslash escape inside double quotes stands for.
fn unescape(escaped: u8) -> u8 {
    match escaped {
        b'n' => b'\n',
        b'r' => b'\r',
        b't' => b'\t',
        b'b' => 0x08,
        b'a' => 0x07,
        other => other,
    }
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

/// C's `isspace` in the "C" locale.
fn is_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

#[cfg(test)]
mod tests {
    use super::super::decode_request;
    use super::*;

    fn split(line: &str) -> Result<Vec<String>, DecodeError> {
        let args = split_args(line.as_bytes())?;
        Ok(args
            .iter()
            .map(|arg| String::from_utf8_lossy(arg).into_owned())
            .collect())
    }

    #[test]
    fn splits_on_whitespace() {
        assert_eq!(split("SET  k\tv").unwrap(), ["SET", "k", "v"]);
        assert_eq!(split("   ").unwrap(), Vec::<String>::new());
        assert_eq!(split("").unwrap(), Vec::<String>::new());
        assert_eq!(split("a\x0bb").unwrap(), ["a\x0bb"]);
        assert_eq!(split("\x0ba").unwrap(), ["a"]);
    }

    #[test]
    fn double_quotes_and_escapes() {
        assert_eq!(
            split(r#"SET "a b" "x\ny""#).unwrap(),
            ["SET", "a b", "x\ny"]
        );
        assert_eq!(split(r#""\r\t\b\a\\\"\q""#).unwrap(), ["\r\t\x08\x07\\\"q"]);
        assert_eq!(split(r#""\x41\x4a\x6b""#).unwrap(), ["AJk"]);
        assert_eq!(split(r#""\x4""#).unwrap(), ["x4"]);
        assert_eq!(split(r#""\xZZ""#).unwrap(), ["xZZ"]);
        assert_eq!(split(r#""""#).unwrap(), [""]);
        let args = split_args(br#""\xff\x00""#).unwrap();
        assert_eq!(args, vec![Bytes::from_static(b"\xff\x00")]);
    }

    #[test]
    fn single_quotes() {
        assert_eq!(
            split(r"'a b' 'it\'s' '\n'").unwrap(),
            ["a b", "it's", "\\n"]
        );
        assert_eq!(split("''").unwrap(), [""]);
    }

    #[test]
    fn quotes_inside_an_argument() {
        assert_eq!(split(r#"foo"bar baz" x"#).unwrap(), ["foobar baz", "x"]);
        assert_eq!(split("foo'bar'").unwrap(), ["foobar"]);
    }

    #[test]
    fn unbalanced_quotes() {
        for line in [
            r#""abc"#,
            r#""abc"def"#,
            "'abc",
            "'abc'def",
            r#""abc\"#,
            r"'abc\'",
        ] {
            assert_eq!(split(line), Err(DecodeError::UnbalancedQuotes), "{line}");
        }
    }

    #[test]
    fn nul_ends_the_line() {
        assert_eq!(split("GET k\0 junk").unwrap(), ["GET", "k"]);
        assert_eq!(split("\"ab\0c\""), Err(DecodeError::UnbalancedQuotes));
    }

    #[test]
    fn decodes_lines() {
        let mut buf = BytesMut::from(&b"PING\r\nGET \"a b\"\n\r\nSET"[..]);
        let limits = Limits::DEFAULT;
        let got = decode_request(&mut buf, &limits).unwrap().unwrap();
        assert_eq!(got, vec![Bytes::from_static(b"PING")]);
        let got = decode_request(&mut buf, &limits).unwrap().unwrap();
        assert_eq!(
            got,
            vec![Bytes::from_static(b"GET"), Bytes::from_static(b"a b")]
        );
        let got = decode_request(&mut buf, &limits).unwrap().unwrap();
        assert!(got.is_empty());
        assert_eq!(decode_request(&mut buf, &limits), Ok(None));
        assert_eq!(&buf[..], b"SET");
    }

    #[test]
    fn inline_errors() {
        let mut buf = BytesMut::from(&b"SET \"k v\r\n"[..]);
        let error = decode_request(&mut buf, &Limits::DEFAULT).unwrap_err();
        assert_eq!(error.to_string(), "unbalanced quotes in request");

        let mut buf = BytesMut::from(vec![b'a'; 64 * 1024].as_slice());
        assert_eq!(decode_request(&mut buf, &Limits::DEFAULT), Ok(None));
        buf.extend_from_slice(b"a");
        let error = decode_request(&mut buf, &Limits::DEFAULT).unwrap_err();
        assert_eq!(error.to_string(), "too big inline request");
    }
}
