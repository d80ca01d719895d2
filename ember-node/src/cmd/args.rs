//! `Args`: a cursor over a request's arguments with typed readers. Handlers parse into an
//! options struct with it, then apply; anything left over is `ERR syntax error`.
//!
//! Number parsing follows Redis exactly, because clients rely on the same strings being
//! accepted or refused: integers as `string2ll` (no '+', no leading zeros, no spaces, at
//! most 20 bytes), floats as `strtold` would (no spaces, no NaN).

use bytes::Bytes;

use crate::error::CmdError;

pub struct Args<'a> {
    argv: &'a [Bytes],
    next: usize,
}

impl<'a> Args<'a> {
    /// `argv[0]` is the command name; the cursor starts after it (and after a subcommand
    /// name when `skip` is 2).
    pub fn new(argv: &'a [Bytes], skip: usize) -> Args<'a> {
        assert!(skip <= argv.len());
        Args { argv, next: skip }
    }

    pub fn argv(&self) -> &'a [Bytes] {
        self.argv
    }

    pub fn remaining(&self) -> usize {
        self.argv.len() - self.next
    }

    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    pub fn rest(&mut self) -> &'a [Bytes] {
        let rest = &self.argv[self.next..];
        self.next = self.argv.len();
        rest
    }

    pub fn peek(&self) -> Option<&'a Bytes> {
        self.argv.get(self.next)
    }

    /// The next argument; a missing one is a syntax error (arity is checked before handlers run,
    /// so this only happens for options that take a value).
    pub fn bytes(&mut self) -> Result<Bytes, CmdError> {
        let arg = self.argv.get(self.next).ok_or(CmdError::Syntax)?;
        self.next += 1;
        Ok(arg.clone())
    }

    pub fn key(&mut self) -> Result<Bytes, CmdError> {
        self.bytes()
    }

    pub fn i64(&mut self) -> Result<i64, CmdError> {
        parse_i64(&self.bytes()?).ok_or(CmdError::NotInteger)
    }

    pub fn f64(&mut self) -> Result<f64, CmdError> {
        parse_f64(&self.bytes()?).ok_or(CmdError::NotFloat)
    }

    /// Consumes the next argument if it equals `word`, ignoring ASCII case.
    pub fn flag(&mut self, word: &str) -> bool {
        match self.peek() {
            Some(arg) if arg.eq_ignore_ascii_case(word.as_bytes()) => {
                self.next += 1;
                true
            }
            _ => false,
        }
    }

    /// Fails with a syntax error if arguments are left over.
    pub fn finish(&self) -> Result<(), CmdError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(CmdError::Syntax)
        }
    }
}

/// Redis's `string2ll`: an optional '-', then digits with no leading zero (except "0").
pub fn parse_i64(bytes: &[u8]) -> Option<i64> {
    if bytes.is_empty() || bytes.len() > 20 {
        return None;
    }
    let (negative, digits) = match bytes[0] {
        b'-' => (true, &bytes[1..]),
        _ => (false, bytes),
    };
    if digits.is_empty() || (digits[0] == b'0' && (digits.len() > 1 || negative)) {
        return None;
    }
    // Accumulate as a negative number so i64::MIN parses without overflow.
    let mut value: i64 = 0;
    for &byte in digits {
        if !byte.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_sub((byte - b'0') as i64)?;
    }
    if negative {
        Some(value)
    } else {
        value.checked_neg()
    }
}

/// A float as Redis accepts it: decimal or exponent syntax and "inf"/"-inf"; no spaces, no NaN.
pub fn parse_f64(bytes: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(bytes).ok()?;
    if text.is_empty()
        || text.starts_with(char::is_whitespace)
        || text.ends_with(char::is_whitespace)
    {
        return None;
    }
    let value: f64 = text.parse().ok()?;
    if value.is_nan() {
        return None;
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_parse_like_redis() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"-12"), Some(-12));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            &b""[..],
            b"+1",
            b"01",
            b"-0",
            b" 1",
            b"1 ",
            b"1.0",
            b"9223372036854775808",
            b"-",
            b"abc",
        ] {
            assert_eq!(parse_i64(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn floats_parse_like_redis() {
        assert_eq!(parse_f64(b"1.5"), Some(1.5));
        assert_eq!(parse_f64(b"5.0e3"), Some(5000.0));
        assert_eq!(parse_f64(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_f64(b"nan"), None);
        assert_eq!(parse_f64(b" 1"), None);
        assert_eq!(parse_f64(b"1x"), None);
    }

    #[test]
    fn cursor_reads_flags_and_reports_leftovers() {
        let argv: Vec<Bytes> = ["SET", "k", "v", "nx", "EX", "10"]
            .iter()
            .map(|s| Bytes::from(s.to_string()))
            .collect();
        let mut args = Args::new(&argv, 1);
        assert_eq!(args.key().unwrap(), "k");
        assert_eq!(args.bytes().unwrap(), "v");
        assert!(args.flag("NX"));
        assert!(!args.flag("XX"));
        assert!(args.flag("ex"));
        assert_eq!(args.i64().unwrap(), 10);
        assert!(args.finish().is_ok());
    }
}
