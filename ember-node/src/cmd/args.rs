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

/// A float as Redis reads one with `strtod`: decimal or exponent syntax, hexadecimal
/// (`0x1p3`), and "inf"/"infinity"; no spaces, no NaN, and no value whose text overflows to
/// infinity or underflows to zero (strtod's ERANGE, which Redis refuses).
pub fn parse_f64(bytes: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(bytes).ok()?;
    if text.is_empty()
        || text.starts_with(char::is_whitespace)
        || text.ends_with(char::is_whitespace)
    {
        return None;
    }
    let unsigned = text.trim_start_matches(['+', '-']);
    if unsigned.len() + 1 < text.len() {
        return None;
    }
    let negative = text.starts_with('-');
    // Compare bytes: the text may start with a multi-byte character, where slicing the str
    // would panic.
    let magnitude = if unsigned.len() > 2 && unsigned.as_bytes()[..2].eq_ignore_ascii_case(b"0x") {
        parse_hex_float(&unsigned[2..])?
    } else {
        let value: f64 = unsigned.parse().ok()?;
        let literal_infinity =
            unsigned.eq_ignore_ascii_case("inf") || unsigned.eq_ignore_ascii_case("infinity");
        if value.is_nan() || (value.is_infinite() && !literal_infinity) {
            return None;
        }
        if value == 0.0 && has_nonzero_mantissa(unsigned) {
            return None;
        }
        value
    };
    Some(if negative { -magnitude } else { magnitude })
}

/// True when the digits before any exponent include a nonzero one: such a text that parses
/// to zero underflowed.
fn has_nonzero_mantissa(text: &str) -> bool {
    let mantissa = text.split(['e', 'E']).next().unwrap_or("");
    mantissa.bytes().any(|b| (b'1'..=b'9').contains(&b))
}

/// The part of a hexadecimal float after "0x": hex digits, an optional fraction, and an
/// optional binary exponent `p[+-]digits`.
fn parse_hex_float(text: &str) -> Option<f64> {
    let (digits, exponent) = match text.find(['p', 'P']) {
        Some(at) => (&text[..at], text[at + 1..].parse::<i32>().ok()?),
        None => (text, 0),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    let mut value = 0.0f64;
    for c in whole.chars() {
        value = value * 16.0 + c.to_digit(16)? as f64;
    }
    let mut scale = 1.0 / 16.0;
    for c in fraction.chars() {
        value += c.to_digit(16)? as f64 * scale;
        scale /= 16.0;
    }
    let value = value * 2f64.powi(exponent);
    (value.is_finite()
        && !(value == 0.0 && digits.bytes().any(|b| b.is_ascii_hexdigit() && b != b'0')))
    .then_some(value)
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
        assert_eq!(parse_f64(b"0x10"), Some(16.0));
        assert_eq!(parse_f64(b"-0x1p3"), Some(-8.0));
        assert_eq!(parse_f64(b"0x1.8"), Some(1.5));
        assert_eq!(parse_f64(b"+inf"), Some(f64::INFINITY));
        assert_eq!(parse_f64(b"1e309"), None, "overflow is ERANGE");
        assert_eq!(parse_f64(b"1e-400"), None, "underflow is ERANGE");
        assert_eq!(parse_f64(b"0e-400"), Some(0.0));
        assert_eq!(parse_f64(b"--1"), None);
        assert_eq!(
            parse_f64("é1".as_bytes()),
            None,
            "a multi-byte first character"
        );
        assert_eq!(parse_f64("0é".as_bytes()), None);
        assert_eq!(parse_f64("0xé".as_bytes()), None);
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
