//! The options the SCAN family shares (SCAN, HSCAN, SSCAN, ZSCAN): `MATCH pattern` and
//! `COUNT count` in any order, plus one word per command: SCAN's `TYPE type`, HSCAN's
//! `NOVALUES` and ZSCAN's `NOSCORES` (which both leave out the second half of each pair).
//! Cursor parsing and the order of checks around it stay with each command, because Redis
//! orders them differently (the collection scans look the key up before the options).

use bytes::Bytes;

use super::keys::glob_match;
use super::{Args, CmdError};
use crate::limits::SCAN_COUNT_MAX;

/// COUNT when none is given, as in Redis.
const SCAN_COUNT_DEFAULT: usize = 10;

/// The word a command accepts beyond MATCH and COUNT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScanExtra {
    None,
    /// SCAN: `TYPE type`.
    Type,
    /// HSCAN's NOVALUES, ZSCAN's NOSCORES: answer the first half of each pair only.
    Omit(&'static str),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanArgs {
    pub pattern: Option<Bytes>,
    /// How much work one call does, at least 1, clamped to `SCAN_COUNT_MAX`.
    pub count: usize,
    /// Lowercased; Redis 7.2 matches nothing for an unknown type name rather than failing.
    pub type_name: Option<Vec<u8>>,
    pub omit_values: bool,
}

impl ScanArgs {
    /// Parses what follows the cursor; anything else, or a COUNT below 1, is a syntax error.
    pub fn parse(args: &mut Args, extra: ScanExtra) -> Result<ScanArgs, CmdError> {
        let mut options = ScanArgs {
            pattern: None,
            count: SCAN_COUNT_DEFAULT,
            type_name: None,
            omit_values: false,
        };
        while !args.is_empty() {
            if args.flag("MATCH") {
                options.pattern = Some(args.bytes()?);
            } else if args.flag("COUNT") {
                let count = args.i64()?;
                if count < 1 {
                    return Err(CmdError::Syntax);
                }
                options.count = (count as u64).min(SCAN_COUNT_MAX as u64) as usize;
            } else if extra == ScanExtra::Type && args.flag("TYPE") {
                options.type_name = Some(args.bytes()?.to_ascii_lowercase());
            } else if matches!(extra, ScanExtra::Omit(word) if args.flag(word)) {
                options.omit_values = true;
            } else {
                return Err(CmdError::Syntax);
            }
        }
        Ok(options)
    }

    /// Whether `name` passes MATCH.
    pub fn matches(&self, name: &[u8]) -> bool {
        self.pattern
            .as_ref()
            .is_none_or(|pattern| glob_match(pattern, name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(words: &[&str], extra: ScanExtra) -> Result<ScanArgs, CmdError> {
        let argv: Vec<Bytes> = words.iter().map(|w| Bytes::from(w.to_string())).collect();
        ScanArgs::parse(&mut Args::new(&argv, 0), extra)
    }

    #[test]
    fn options_parse_in_any_order_with_the_command_s_extra_word() {
        let options = parse(
            &["match", "f*", "COUNT", "5", "novalues"],
            ScanExtra::Omit("NOVALUES"),
        )
        .unwrap();
        assert_eq!(options.pattern.as_deref(), Some(&b"f*"[..]));
        assert_eq!(options.count, 5);
        assert!(options.omit_values);
        assert!(options.matches(b"field") && !options.matches(b"other"));
        let typed = parse(&["TYPE", "HASH"], ScanExtra::Type).unwrap();
        assert_eq!(typed.type_name.as_deref(), Some(&b"hash"[..]));
        assert_eq!(
            parse(&["COUNT", "999999999999"], ScanExtra::None)
                .unwrap()
                .count,
            SCAN_COUNT_MAX
        );
    }

    #[test]
    fn errors_follow_redis() {
        assert_eq!(
            parse(&["COUNT", "0"], ScanExtra::None),
            Err(CmdError::Syntax)
        );
        assert_eq!(
            parse(&["COUNT", "x"], ScanExtra::None),
            Err(CmdError::NotInteger)
        );
        assert_eq!(parse(&["MATCH"], ScanExtra::None), Err(CmdError::Syntax));
        assert_eq!(
            parse(&["NOVALUES"], ScanExtra::Omit("NOSCORES")),
            Err(CmdError::Syntax)
        );
        assert_eq!(
            parse(&["TYPE", "set"], ScanExtra::None),
            Err(CmdError::Syntax)
        );
    }
}
