//! Splits one line of stdin into command arguments, the way a shell would.
//!
//! Words are separated by ASCII whitespace. A "double-quoted" part understands the escapes
//! `\n \r \t \a \b \\ \" \xHH`, so binary values can be typed; a 'single-quoted' part is
//! literal except for `\'`. Quoted and bare parts next to each other join into one word, as
//! in a shell, and `""` is an empty argument. A backslash outside quotes is an ordinary
//! byte, so paths and patterns need no doubling.

use std::fmt;

/// Why a line could not be split.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WordsError {
    /// A quote was opened and the line ended before it was closed.
    UnbalancedQuotes,
}

impl fmt::Display for WordsError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WordsError::UnbalancedQuotes => formatter.write_str("unbalanced quotes"),
        }
    }
}

impl std::error::Error for WordsError {}

/// Splits `line` into words. A blank line gives no words.
pub fn split_words(line: &[u8]) -> Result<Vec<Vec<u8>>, WordsError> {
    let mut words = Vec::new();
    let mut cursor = 0;
    // Each pass consumes at least one byte, so the loop is bounded by the line length.
    while cursor < line.len() {
        if line[cursor].is_ascii_whitespace() {
            cursor += 1;
            continue;
        }
        let (word, next) = read_word(line, cursor)?;
        assert!(next > cursor);
        assert!(next <= line.len());
        words.push(word);
        cursor = next;
    }
    Ok(words)
}

/// Reads the word starting at `start` (not whitespace) and returns it with the index just
/// past it.
fn read_word(line: &[u8], start: usize) -> Result<(Vec<u8>, usize), WordsError> {
    let mut word = Vec::new();
    let mut cursor = start;
    while let Some(&byte) = line.get(cursor) {
        if byte.is_ascii_whitespace() {
            break;
        }
        cursor = match byte {
            b'"' => read_double_quoted(line, cursor + 1, &mut word)?,
            b'\'' => read_single_quoted(line, cursor + 1, &mut word)?,
            _ => {
                word.push(byte);
                cursor + 1
            }
        };
    }
    Ok((word, cursor))
}

/// Appends the inside of a double-quoted part that begins at `start` (just after the
/// opening quote) and returns the index after the closing quote.
fn read_double_quoted(line: &[u8], start: usize, word: &mut Vec<u8>) -> Result<usize, WordsError> {
    let mut cursor = start;
    loop {
        match line.get(cursor) {
            None => return Err(WordsError::UnbalancedQuotes),
            Some(b'"') => return Ok(cursor + 1),
            Some(b'\\') => cursor = read_escape(line, cursor + 1, word)?,
            Some(&byte) => {
                word.push(byte);
                cursor += 1;
            }
        }
    }
}

/// Decodes the escape whose letter is at `start` and returns the index after it. An
/// unknown letter stands for itself, so `\q` is `q`, as Redis's own splitter does.
fn read_escape(line: &[u8], start: usize, word: &mut Vec<u8>) -> Result<usize, WordsError> {
    let Some(&letter) = line.get(start) else {
        return Err(WordsError::UnbalancedQuotes);
    };
    let byte = match letter {
        b'n' => b'\n',
        b'r' => b'\r',
        b't' => b'\t',
        b'a' => 0x07,
        b'b' => 0x08,
        b'x' => match hex_byte(line.get(start + 1..start + 3)) {
            Some(byte) => {
                word.push(byte);
                return Ok(start + 3);
            }
            None => b'x',
        },
        other => other,
    };
    word.push(byte);
    Ok(start + 1)
}

/// The byte two hex digits spell, if `digits` is exactly that.
fn hex_byte(digits: Option<&[u8]>) -> Option<u8> {
    let digits = digits?;
    assert!(digits.len() == 2);
    let high = (digits[0] as char).to_digit(16)?;
    let low = (digits[1] as char).to_digit(16)?;
    u8::try_from(high * 16 + low).ok()
}

/// Appends the inside of a single-quoted part that begins at `start` and returns the index
/// after the closing quote. Only `\'` is an escape, so the text is otherwise verbatim.
fn read_single_quoted(line: &[u8], start: usize, word: &mut Vec<u8>) -> Result<usize, WordsError> {
    let mut cursor = start;
    loop {
        match (line.get(cursor), line.get(cursor + 1)) {
            (None, _) => return Err(WordsError::UnbalancedQuotes),
            (Some(b'\''), _) => return Ok(cursor + 1),
            (Some(b'\\'), Some(b'\'')) => {
                word.push(b'\'');
                cursor += 2;
            }
            (Some(&byte), _) => {
                word.push(byte);
                cursor += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(line: &str) -> Vec<String> {
        split_words(line.as_bytes())
            .unwrap()
            .into_iter()
            .map(|word| String::from_utf8(word).unwrap())
            .collect()
    }

    #[test]
    fn whitespace_separates_words() {
        assert_eq!(split("SET  k\tv "), ["SET", "k", "v"]);
        assert!(split("").is_empty());
        assert!(split("   \t ").is_empty());
    }

    #[test]
    fn double_quotes_group_and_escape() {
        assert_eq!(split(r#"SET k "hello world""#), ["SET", "k", "hello world"]);
        assert_eq!(split(r#""a\"b\\c""#), ["a\"b\\c"]);
        assert_eq!(split(r#""\n\r\t\a\b""#), ["\n\r\t\u{7}\u{8}"]);
        assert_eq!(split(r#""\q""#), ["q"]);
        assert_eq!(split(r#""\x41\x6a""#), ["Aj"]);
        assert_eq!(split(r#""\xZZ""#), ["xZZ"]);
    }

    #[test]
    fn hex_escape_gives_any_byte() {
        let words = split_words(br#""\xff\x00""#).unwrap();
        assert_eq!(words, vec![vec![0xff, 0x00]]);
    }

    #[test]
    fn single_quotes_are_literal() {
        assert_eq!(split(r#"'a "b" \n'"#), [r#"a "b" \n"#]);
        assert_eq!(split(r"'it\'s'"), ["it's"]);
    }

    #[test]
    fn adjacent_parts_join_and_empty_quotes_count() {
        assert_eq!(split(r#"ab"c d"'e'"#), ["abc de"]);
        assert_eq!(split(r#"SET k """#), ["SET", "k", ""]);
        assert_eq!(split("''"), [""]);
    }

    #[test]
    fn backslash_outside_quotes_is_literal() {
        assert_eq!(split(r"KEYS a\*b"), ["KEYS", r"a\*b"]);
    }

    #[test]
    fn unbalanced_quotes_are_errors() {
        for line in [r#""abc"#, "'abc", r#""abc\"#, r#"ok "a\""#] {
            assert_eq!(
                split_words(line.as_bytes()),
                Err(WordsError::UnbalancedQuotes),
                "{line}"
            );
        }
    }
}
