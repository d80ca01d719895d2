//! The server family: DBSIZE, FLUSHDB, FLUSHALL, INFO, TIME, CONFIG and COMMAND.

use bytes::Bytes;
use ember_proto::Frame;

use super::connection::help_reply;
use super::table::{self, flag::*, CommandSpec, Handler, Route, NO_KEYS};
use super::{bulk, int_len, ok, verbatim, Args, CmdError, Ctx, DataFn, SessionCtx, SessionFn};
use crate::limits::DATABASES_MAX;

const fn data(
    name: &'static str,
    arity: i32,
    flags: u32,
    since: &'static str,
    summary: &'static str,
    complexity: &'static str,
    handler: DataFn,
) -> CommandSpec {
    CommandSpec {
        name,
        group: "server",
        arity,
        flags,
        keys: NO_KEYS,
        route: Route::AllShards,
        summary,
        complexity,
        since,
        handler: Handler::Data(handler),
        subcommands: &[],
    }
}

const fn session(
    name: &'static str,
    arity: i32,
    flags: u32,
    since: &'static str,
    summary: &'static str,
    handler: SessionFn,
) -> CommandSpec {
    CommandSpec {
        name,
        group: "server",
        arity,
        flags,
        keys: NO_KEYS,
        route: Route::None,
        summary,
        complexity: "O(1)",
        since,
        handler: Handler::Session(handler),
        subcommands: &[],
    }
}

pub const COMMANDS: &[CommandSpec] = &[
    data(
        "dbsize",
        1,
        READONLY | FAST,
        "1.0.0",
        "Returns the number of keys in the database.",
        "O(1)",
        dbsize,
    ),
    data(
        "flushdb",
        -1,
        WRITE | DANGEROUS,
        "1.0.0",
        "Removes all keys from the current database.",
        "O(N) where N is the number of keys in the selected database",
        flushdb,
    ),
    data(
        "flushall",
        -1,
        WRITE | DANGEROUS,
        "1.0.0",
        "Removes all keys from all databases.",
        "O(N) where N is the total number of keys in all databases",
        flushall,
    ),
    data(
        "info",
        -1,
        LOADING | STALE | DANGEROUS,
        "1.0.0",
        "Returns information and statistics about the server.",
        "O(1)",
        info,
    ),
    session(
        "time",
        1,
        LOADING | STALE | FAST,
        "2.6.0",
        "Returns the server time.",
        time,
    ),
    CommandSpec {
        name: "config",
        group: "server",
        arity: -2,
        flags: 0,
        keys: NO_KEYS,
        route: Route::None,
        summary: "A container for server configuration commands.",
        complexity: "Depends on subcommand.",
        since: "2.0.0",
        handler: Handler::Container,
        subcommands: CONFIG_SUBCOMMANDS,
    },
    CommandSpec {
        name: "slowlog",
        group: "server",
        arity: -2,
        flags: 0,
        keys: NO_KEYS,
        route: Route::None,
        summary: "A container for slow log commands.",
        complexity: "Depends on subcommand.",
        since: "2.2.12",
        handler: Handler::Container,
        subcommands: SLOWLOG_SUBCOMMANDS,
    },
    CommandSpec {
        name: "command",
        group: "server",
        arity: -1,
        flags: LOADING | STALE,
        keys: NO_KEYS,
        route: Route::None,
        summary: "Returns detailed information about all commands.",
        complexity: "O(N) where N is the total number of Redis commands",
        since: "2.8.13",
        handler: Handler::Session(command_all),
        subcommands: COMMAND_SUBCOMMANDS,
    },
];

const SLOWLOG_SUBCOMMANDS: &[CommandSpec] = &[
    session(
        "slowlog|get",
        -2,
        ADMIN | LOADING | STALE,
        "2.2.12",
        "Returns the slow log's entries.",
        slowlog_get,
    ),
    session(
        "slowlog|len",
        2,
        ADMIN | LOADING | STALE,
        "2.2.12",
        "Returns the number of entries in the slow log.",
        slowlog_len,
    ),
    session(
        "slowlog|reset",
        2,
        ADMIN | LOADING | STALE,
        "2.2.12",
        "Clears all entries from the slow log.",
        slowlog_reset,
    ),
    session(
        "slowlog|help",
        2,
        LOADING | STALE,
        "6.2.0",
        "Show helpful text about the different subcommands",
        slowlog_help,
    ),
];

const CONFIG_SUBCOMMANDS: &[CommandSpec] = &[
    session(
        "config|get",
        -3,
        ADMIN | NOSCRIPT | LOADING | STALE,
        "2.0.0",
        "Returns the effective values of configuration parameters.",
        config_get,
    ),
    session(
        "config|set",
        -4,
        ADMIN | NOSCRIPT | LOADING | STALE,
        "2.0.0",
        "Sets configuration parameters in-flight.",
        config_set,
    ),
    data(
        "config|resetstat",
        2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        "2.0.0",
        "Resets the server's statistics.",
        "O(1)",
        config_resetstat,
    ),
    session(
        "config|rewrite",
        2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        "2.8.0",
        "Persists the effective configuration to file.",
        config_rewrite,
    ),
    session(
        "config|help",
        2,
        LOADING | STALE,
        "5.0.0",
        "Returns helpful text about the different subcommands.",
        config_help,
    ),
];

const COMMAND_SUBCOMMANDS: &[CommandSpec] = &[
    session(
        "command|count",
        2,
        LOADING | STALE,
        "2.8.13",
        "Returns a count of commands.",
        command_count,
    ),
    session(
        "command|info",
        -2,
        LOADING | STALE,
        "2.8.13",
        "Returns information about one, multiple or all commands.",
        command_info,
    ),
    session(
        "command|docs",
        -2,
        LOADING | STALE,
        "7.0.0",
        "Returns documentary information about one, multiple or all commands.",
        command_docs,
    ),
    session(
        "command|list",
        -2,
        LOADING | STALE,
        "7.0.0",
        "Returns a list of command names.",
        command_list,
    ),
    session(
        "command|getkeys",
        -3,
        LOADING | STALE,
        "2.8.13",
        "Extracts the key names from an arbitrary command.",
        command_getkeys,
    ),
    session(
        "command|help",
        2,
        LOADING | STALE,
        "5.0.0",
        "Returns helpful text about the different subcommands.",
        command_help,
    ),
];

/// DBSIZE: keys in the selected database over all shards.
fn dbsize(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    args.finish()?;
    let db = ctx.db;
    Ok(int_len(ctx.stores().map(|s| s.len(db)).sum()))
}

/// `[ASYNC | SYNC]`, the only argument FLUSHDB and FLUSHALL take.
fn parse_flush_mode(args: &mut Args) -> Result<(), CmdError> {
    if !args.flag("ASYNC") {
        args.flag("SYNC");
    }
    args.finish()
}

/// FLUSHDB [ASYNC | SYNC]
fn flushdb(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    parse_flush_mode(args)?;
    let db = ctx.db;
    for store in ctx.stores() {
        store.flush_db(db);
    }
    Ok(ok())
}

/// FLUSHALL [ASYNC | SYNC]
fn flushall(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    parse_flush_mode(args)?;
    for store in ctx.stores() {
        for db in 0..DATABASES_MAX {
            store.flush_db(db);
        }
    }
    Ok(ok())
}

/// TIME: unix seconds and microseconds, as two bulk strings.
fn time(ctx: &mut SessionCtx, _args: &mut Args) -> Result<Frame, CmdError> {
    let seconds = ctx.now_ms / 1000;
    let micros = (ctx.now_ms % 1000) * 1000;
    Ok(Frame::Array(vec![
        bulk(Bytes::from(seconds.to_string())),
        bulk(Bytes::from(micros.to_string())),
    ]))
}

const DEFAULT_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "cluster",
    "keyspace",
];

/// INFO [section [section ...]]: `default`, `all` and `everything` select the known sections;
/// unknown section names add nothing, as in Redis.
fn info(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let mut wanted: Vec<String> = Vec::new();
    for arg in args.rest() {
        let name = String::from_utf8_lossy(arg).to_ascii_lowercase();
        match name.as_str() {
            "default" | "all" | "everything" => {
                wanted.extend(DEFAULT_SECTIONS.iter().map(|s| s.to_string()))
            }
            _ => wanted.push(name),
        }
    }
    if wanted.is_empty() {
        wanted.extend(DEFAULT_SECTIONS.iter().map(|s| s.to_string()));
    }
    let mut text = String::new();
    for section in DEFAULT_SECTIONS {
        if !wanted.iter().any(|w| w == section) {
            continue;
        }
        if !text.is_empty() {
            text.push_str("\r\n");
        }
        crate::info::write_section(ctx, section, &mut text);
    }
    Ok(verbatim(text))
}

/// CONFIG GET parameter [parameter ...]: glob patterns over parameter names; RESP3 gets a map.
fn config_get(ctx: &mut SessionCtx, args: &mut Args) -> Result<Frame, CmdError> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    for pattern in args.rest() {
        let pattern = pattern.to_ascii_lowercase();
        for (name, value) in ctx.shared.config.matching(&pattern) {
            if !pairs.iter().any(|(n, _)| *n == name) {
                pairs.push((name, value));
            }
        }
    }
    let frames = pairs
        .into_iter()
        .map(|(n, v)| (bulk(Bytes::from(n)), bulk(Bytes::from(v))))
        .collect();
    Ok(Frame::Map(frames))
}

/// CONFIG SET parameter value [parameter value ...]: validates every pair, then applies all.
fn config_set(ctx: &mut SessionCtx, args: &mut Args) -> Result<Frame, CmdError> {
    let rest = args.rest();
    if !rest.len().is_multiple_of(2) {
        return Err(CmdError::WrongArity {
            command: "config|set".into(),
        });
    }
    let pairs: Vec<(String, Bytes)> = rest
        .chunks_exact(2)
        .map(|p| {
            (
                String::from_utf8_lossy(&p[0]).to_ascii_lowercase(),
                p[1].clone(),
            )
        })
        .collect();
    ctx.shared.config.set_many(&pairs).map_err(CmdError::Err)?;
    Ok(ok())
}

/// CONFIG RESETSTAT: the server's counters and every store's hit, miss and expiry counts.
fn config_resetstat(ctx: &mut Ctx, _args: &mut Args) -> Result<Frame, CmdError> {
    ctx.shared.stats.reset();
    for store in ctx.stores() {
        store.stats = Default::default();
    }
    Ok(ok())
}

/// CONFIG REWRITE: ember takes its configuration from flags, so there is no file to rewrite.
fn config_rewrite(_ctx: &mut SessionCtx, _args: &mut Args) -> Result<Frame, CmdError> {
    Err(CmdError::Err(
        "The server is running without a config file".into(),
    ))
}

/// CONFIG HELP
fn config_help(_ctx: &mut SessionCtx, _args: &mut Args) -> Result<Frame, CmdError> {
    Ok(help_reply(
        "CONFIG",
        &[
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
            "REWRITE",
            "    Rewrite the configuration file.",
        ],
    ))
}

/// SLOWLOG GET [count]: the newest `count` entries (10 by default, all for -1).
fn slowlog_get(ctx: &mut SessionCtx, args: &mut Args) -> Result<Frame, CmdError> {
    let count = if args.is_empty() { 10 } else { args.i64()? };
    args.finish()?;
    if count < -1 {
        return Err(CmdError::Err(
            "count should be greater than or equal to -1".into(),
        ));
    }
    let count = (count >= 0).then_some(count as usize);
    Ok(ctx.shared.slowlog.get(count))
}

/// SLOWLOG LEN
fn slowlog_len(ctx: &mut SessionCtx, _args: &mut Args) -> Result<Frame, CmdError> {
    Ok(int_len(ctx.shared.slowlog.len()))
}

/// SLOWLOG RESET
fn slowlog_reset(ctx: &mut SessionCtx, _args: &mut Args) -> Result<Frame, CmdError> {
    ctx.shared.slowlog.reset();
    Ok(ok())
}

/// SLOWLOG HELP
fn slowlog_help(_ctx: &mut SessionCtx, _args: &mut Args) -> Result<Frame, CmdError> {
    Ok(help_reply(
        "SLOWLOG",
        &[
            "GET [<count>]",
            "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
            "    Entries are made of:",
            "    id, timestamp, time in microseconds, arguments array, client IP and port,",
            "    client name",
            "LEN",
            "    Return the length of the slowlog.",
            "RESET",
            "    Reset the slowlog.",
        ],
    ))
}

/// COMMAND: every command's description.
fn command_all(_ctx: &mut SessionCtx, args: &mut Args) -> Result<Frame, CmdError> {
    args.finish()?;
    Ok(Frame::Array(
        table::all().iter().map(|s| table::info_frame(s)).collect(),
    ))
}

/// COMMAND COUNT
fn command_count(_ctx: &mut SessionCtx, _args: &mut Args) -> Result<Frame, CmdError> {
    Ok(int_len(table::all().len()))
}

/// Finds a command or a "container|sub" subcommand by name.
fn find_spec(name: &[u8]) -> Option<&'static CommandSpec> {
    let lower = name.to_ascii_lowercase();
    let mut parts = lower.splitn(2, |&b| b == b'|');
    let top = table::lookup(parts.next()?)?;
    match parts.next() {
        None => Some(top),
        Some(sub) => top.subcommand(sub),
    }
}

/// COMMAND INFO [command-name ...]: nil for unknown names.
fn command_info(_ctx: &mut SessionCtx, args: &mut Args) -> Result<Frame, CmdError> {
    if args.is_empty() {
        return Ok(Frame::Array(
            table::all().iter().map(|s| table::info_frame(s)).collect(),
        ));
    }
    let frames = args
        .rest()
        .iter()
        .map(|name| find_spec(name).map_or(Frame::Null, table::info_frame))
        .collect();
    Ok(Frame::Array(frames))
}

/// COMMAND DOCS [command-name ...]: a map from name to docs; unknown names are left out.
fn command_docs(_ctx: &mut SessionCtx, args: &mut Args) -> Result<Frame, CmdError> {
    let specs: Vec<&'static CommandSpec> = if args.is_empty() {
        table::all().to_vec()
    } else {
        args.rest()
            .iter()
            .filter_map(|name| find_spec(name))
            .collect()
    };
    let frames = specs
        .into_iter()
        .map(|s| {
            (
                bulk(Bytes::from_static(s.name.as_bytes())),
                table::docs_frame(s),
            )
        })
        .collect();
    Ok(Frame::Map(frames))
}

/// COMMAND LIST [FILTERBY MODULE module-name | ACLCAT category | PATTERN pattern]
fn command_list(_ctx: &mut SessionCtx, args: &mut Args) -> Result<Frame, CmdError> {
    let mut keep: Box<dyn Fn(&CommandSpec) -> bool> = Box::new(|_| true);
    if args.flag("FILTERBY") {
        if args.flag("MODULE") {
            args.bytes()?;
            keep = Box::new(|_| false);
        } else if args.flag("ACLCAT") {
            let category = format!(
                "@{}",
                String::from_utf8_lossy(&args.bytes()?).to_ascii_lowercase()
            );
            keep = Box::new(move |s| s.acl_categories().contains(&category.as_str()));
        } else if args.flag("PATTERN") {
            let pattern = args.bytes()?.to_ascii_lowercase();
            keep = Box::new(move |s| super::keys::glob_match(&pattern, s.name.as_bytes()));
        } else {
            return Err(CmdError::Syntax);
        }
    }
    args.finish()?;
    let mut names = Vec::new();
    for spec in table::all() {
        let subs = spec.subcommands.iter();
        for s in std::iter::once(*spec).chain(subs) {
            if keep(s) {
                names.push(bulk(Bytes::from_static(s.name.as_bytes())));
            }
        }
    }
    Ok(Frame::Array(names))
}

/// COMMAND GETKEYS command [arg ...]
fn command_getkeys(_ctx: &mut SessionCtx, args: &mut Args) -> Result<Frame, CmdError> {
    let argv = args.rest();
    let spec =
        table::lookup(&argv[0]).ok_or_else(|| CmdError::Err("Invalid command specified".into()))?;
    let spec = match (spec.subcommands.is_empty(), argv.get(1)) {
        (false, Some(sub)) => spec.subcommand(sub).unwrap_or(spec),
        _ => spec,
    };
    if !spec.arity_ok(argv.len()) {
        return Err(CmdError::Err(
            "Invalid number of arguments specified for command".into(),
        ));
    }
    let keys: Vec<Frame> = spec
        .key_positions(argv)
        .into_iter()
        .map(|i| bulk(argv[i].clone()))
        .collect();
    if keys.is_empty() {
        return Err(CmdError::Err("The command has no key arguments".into()));
    }
    Ok(Frame::Array(keys))
}

/// COMMAND HELP
fn command_help(_ctx: &mut SessionCtx, _args: &mut Args) -> Result<Frame, CmdError> {
    Ok(help_reply(
        "COMMAND",
        &[
            "(no subcommand)",
            "    Return details about all commands.",
            "COUNT",
            "    Return the total number of commands in this server.",
            "LIST",
            "    Return a list of all commands in this server.",
            "INFO [<command-name> ...]",
            "    Return details about multiple commands.",
            "DOCS [<command-name> ...]",
            "    Return documentation details about multiple commands.",
            "GETKEYS <full-command>",
            "    Return the keys from a full command.",
        ],
    ))
}
