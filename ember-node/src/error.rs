//! `CmdError`: every error a command can answer with. Its one `impl` owns the wire prefixes
//! (`ERR`, `WRONGTYPE`, `NOPROTO` ...) and the message texts, which follow Redis word for word
//! because client libraries and test suites match on them.

use bytes::Bytes;
use ember_proto::Frame;

#[derive(Debug, Clone, PartialEq)]
pub enum CmdError {
    Syntax,
    NotInteger,
    NotFloat,
    WrongType,
    WrongArity {
        command: String,
    },
    UnknownCommand {
        name: Bytes,
        args: Vec<Bytes>,
    },
    UnknownSubcommand {
        command: String,
        sub: Bytes,
    },
    NoSuchKey,
    Overflow,
    DecrementOverflow,
    NanOrInfinity,
    StringTooLong,
    InvalidExpire {
        command: &'static str,
    },
    OffsetOutOfRange,
    DbIndexOutOfRange,
    InvalidCursor,
    NoProto,
    NoAuth,
    /// Over maxmemory with nothing to evict, for a command that may add memory.
    OutOfMemory,
    WrongPass,
    /// Any other `ERR ...` text, without the prefix.
    Err(String),
    /// A whole error line with its own prefix (`NOAUTH ...`, `EXECABORT ...`).
    Raw(String),
    /// Not an error reply: a blocking command found nothing and its connection now waits.
    Blocked(Box<crate::cmd::blocking::Blocking>),
}

impl CmdError {
    /// The error line without the leading '-' and trailing CRLF.
    pub fn message(&self) -> String {
        match self {
            CmdError::Syntax => "ERR syntax error".into(),
            CmdError::NotInteger => "ERR value is not an integer or out of range".into(),
            CmdError::NotFloat => "ERR value is not a valid float".into(),
            CmdError::WrongType => {
                "WRONGTYPE Operation against a key holding the wrong kind of value".into()
            }
            CmdError::WrongArity { command } => {
                format!("ERR wrong number of arguments for '{command}' command")
            }
            CmdError::UnknownCommand { name, args } => unknown_command(name, args),
            CmdError::UnknownSubcommand { command, sub } => format!(
                "ERR unknown subcommand '{}'. Try {} HELP.",
                printable(sub, 128),
                command.to_uppercase()
            ),
            CmdError::NoSuchKey => "ERR no such key".into(),
            CmdError::Overflow => "ERR increment or decrement would overflow".into(),
            CmdError::DecrementOverflow => "ERR decrement would overflow".into(),
            CmdError::NanOrInfinity => "ERR increment would produce NaN or Infinity".into(),
            CmdError::StringTooLong => {
                "ERR string exceeds maximum allowed size (proto-max-bulk-len)".into()
            }
            CmdError::InvalidExpire { command } => {
                format!("ERR invalid expire time in '{command}' command")
            }
            CmdError::OffsetOutOfRange => "ERR offset is out of range".into(),
            CmdError::DbIndexOutOfRange => "ERR DB index is out of range".into(),
            CmdError::InvalidCursor => "ERR invalid cursor".into(),
            CmdError::NoProto => "NOPROTO unsupported protocol version".into(),
            CmdError::NoAuth => "NOAUTH Authentication required.".into(),
            CmdError::OutOfMemory => {
                "OOM command not allowed when used memory > 'maxmemory'.".into()
            }
            CmdError::WrongPass => {
                "WRONGPASS invalid username-password pair or user is disabled.".into()
            }
            CmdError::Err(text) => format!("ERR {text}"),
            CmdError::Raw(line) => line.clone(),
            CmdError::Blocked(_) => unreachable!("a blocked command is never answered as an error"),
        }
    }

    /// The error reply. Messages may quote the client's arguments, so CR and LF become
    /// spaces here, once for every error, as Redis does: an error line cannot contain them.
    pub fn to_frame(&self) -> Frame {
        let line: String = self
            .message()
            .chars()
            .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
            .collect();
        Frame::Error(Bytes::from(line))
    }
}

impl std::fmt::Display for CmdError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for CmdError {}

/// Redis lists up to the first few arguments, each quoted and followed by a space.
fn unknown_command(name: &Bytes, args: &[Bytes]) -> String {
    let mut text = format!(
        "ERR unknown command '{}', with args beginning with: ",
        printable(name, 128)
    );
    let mut budget = 128usize;
    for arg in args {
        if budget == 0 {
            break;
        }
        let shown = printable(arg, budget);
        budget = budget.saturating_sub(shown.len());
        text.push_str(&format!("'{shown}' "));
    }
    text
}

/// Error lines must not contain CR or LF, so such bytes become spaces, as Redis does.
fn printable(bytes: &[u8], len_max: usize) -> String {
    let cut = &bytes[..bytes.len().min(len_max)];
    String::from_utf8_lossy(cut)
        .chars()
        .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_command_lists_arguments_like_redis() {
        let error = CmdError::UnknownCommand {
            name: Bytes::from_static(b"foo"),
            args: vec![Bytes::from_static(b"a"), Bytes::from_static(b"b")],
        };
        assert_eq!(
            error.message(),
            "ERR unknown command 'foo', with args beginning with: 'a' 'b' "
        );
    }

    #[test]
    fn quoted_arguments_cannot_break_the_error_line() {
        let error = CmdError::Err("Unsupported option a\r\nb".into());
        assert_eq!(
            error.to_frame(),
            Frame::Error(Bytes::from("ERR Unsupported option a  b"))
        );
    }

    #[test]
    fn messages_never_contain_line_breaks() {
        let error = CmdError::UnknownSubcommand {
            command: "client".into(),
            sub: Bytes::from_static(b"x\r\ny"),
        };
        let text = error.message();
        assert!(!text.contains('\r') && !text.contains('\n'));
        assert_eq!(text, "ERR unknown subcommand 'x  y'. Try CLIENT HELP.");
    }
}
