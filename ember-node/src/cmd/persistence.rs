//! SAVE, BGSAVE, BGREWRITEAOF, LASTSAVE and SHUTDOWN. The connection runs the first four
//! kinds itself (`conn::Connection::persistence`); LASTSAVE only reads a counter.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use ember_proto::Frame;

use super::table::flag::{ADMIN, LOADING, NOSCRIPT, NO_MULTI, STALE};
use super::table::{CommandSpec, Handler, Route, NO_KEYS};
use super::{Args, CmdError, SessionCtx};

const fn persistence(
    name: &'static str,
    arity: i32,
    flags: u32,
    since: &'static str,
    summary: &'static str,
) -> CommandSpec {
    CommandSpec {
        name,
        group: "server",
        arity,
        flags,
        keys: NO_KEYS,
        route: Route::None,
        summary,
        complexity: "O(N) where N is the total number of keys in all databases",
        since,
        handler: Handler::Persistence,
        subcommands: &[],
    }
}

pub const COMMANDS: &[CommandSpec] = &[
    persistence(
        "save",
        1,
        ADMIN | NOSCRIPT | NO_MULTI,
        "1.0.0",
        "Synchronously saves the database(s) to disk.",
    ),
    persistence(
        "bgsave",
        -1,
        ADMIN | NOSCRIPT,
        "1.0.0",
        "Asynchronously saves the database(s) to disk.",
    ),
    persistence(
        "bgrewriteaof",
        1,
        ADMIN | NOSCRIPT,
        "1.0.0",
        "Asynchronously rewrites the append-only file to disk.",
    ),
    persistence(
        "shutdown",
        -1,
        ADMIN | NOSCRIPT | LOADING | STALE | NO_MULTI,
        "1.0.0",
        "Synchronously saves the database(s) to disk and shuts down the server.",
    ),
    CommandSpec {
        name: "lastsave",
        group: "server",
        arity: 1,
        flags: LOADING | STALE,
        keys: NO_KEYS,
        route: Route::None,
        summary: "Returns the Unix timestamp of the last successful save to disk.",
        complexity: "O(1)",
        since: "1.0.0",
        handler: Handler::Session(lastsave),
        subcommands: &[],
    },
];

fn lastsave(ctx: &mut SessionCtx, _args: &mut Args) -> Result<Frame, CmdError> {
    let ms = ctx.shared.persist.last_save_unix_ms.load(Ordering::Relaxed);
    Ok(Frame::Integer((ms / 1000) as i64))
}

/// What SHUTDOWN was asked to do about saving.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShutdownOptions {
    /// `Some(true)` SAVE, `Some(false)` NOSAVE, `None` as the save schedule says.
    pub save: Option<bool>,
    /// Stop even if the save fails.
    pub force: bool,
}

/// SHUTDOWN [NOSAVE | SAVE] [NOW] [FORCE] [ABORT].
pub fn parse_shutdown(argv: &[Bytes]) -> Result<ShutdownOptions, CmdError> {
    let mut options = ShutdownOptions {
        save: None,
        force: false,
    };
    let mut abort = false;
    for word in &argv[1..] {
        match word.to_ascii_lowercase().as_slice() {
            b"nosave" if options.save != Some(true) => options.save = Some(false),
            b"save" if options.save != Some(false) => options.save = Some(true),
            b"now" => {}
            b"force" => options.force = true,
            b"abort" => abort = true,
            _ => return Err(CmdError::Syntax),
        }
    }
    if abort {
        if argv.len() > 2 {
            return Err(CmdError::Syntax);
        }
        return Err(CmdError::Err("No shutdown in progress.".into()));
    }
    Ok(options)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<Bytes> {
        text.split(' ')
            .map(|w| Bytes::from(w.to_string()))
            .collect()
    }

    #[test]
    fn shutdown_options_parse_like_redis() {
        assert_eq!(
            parse_shutdown(&words("SHUTDOWN")),
            Ok(ShutdownOptions {
                save: None,
                force: false
            })
        );
        assert_eq!(
            parse_shutdown(&words("shutdown nosave now force")),
            Ok(ShutdownOptions {
                save: Some(false),
                force: true
            })
        );
        assert_eq!(
            parse_shutdown(&words("SHUTDOWN SAVE NOSAVE")),
            Err(CmdError::Syntax)
        );
        assert_eq!(
            parse_shutdown(&words("SHUTDOWN bogus")),
            Err(CmdError::Syntax)
        );
        assert_eq!(
            parse_shutdown(&words("SHUTDOWN ABORT")),
            Err(CmdError::Err("No shutdown in progress.".into()))
        );
    }
}
