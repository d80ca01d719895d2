//! The connection family: PING, ECHO, HELLO, AUTH, SELECT, QUIT, RESET and CLIENT. These run
//! in the connection (`SessionCtx`) and touch no store.

use bytes::Bytes;
use ember_proto::{Frame, Protocol};

use super::table::{flag::*, CommandSpec, Handler, Route, NO_KEYS};
use super::{int, ok, simple, verbatim, Args, CmdError, SessionCtx, SessionFn};
use crate::limits::{CLIENT_NAME_MAX_BYTES, DATABASES_MAX};

const fn cmd(
    name: &'static str,
    arity: i32,
    flags: u32,
    since: &'static str,
    summary: &'static str,
    handler: SessionFn,
) -> CommandSpec {
    CommandSpec {
        name,
        group: "connection",
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
    cmd(
        "ping",
        -1,
        FAST,
        "1.0.0",
        "Returns the server's liveliness response.",
        ping,
    ),
    cmd("echo", 2, FAST, "1.0.0", "Returns the given string.", echo),
    cmd(
        "hello",
        -1,
        FAST | NO_AUTH,
        "6.0.0",
        "Handshakes with the Redis server.",
        hello,
    ),
    cmd(
        "auth",
        -2,
        FAST | NO_AUTH,
        "1.0.0",
        "Authenticates the connection.",
        auth,
    ),
    cmd(
        "select",
        2,
        FAST | LOADING | STALE,
        "1.0.0",
        "Changes the selected database.",
        select,
    ),
    cmd(
        "quit",
        -1,
        FAST | NO_AUTH | LOADING | STALE,
        "1.0.0",
        "Closes the connection.",
        quit,
    ),
    cmd(
        "reset",
        1,
        FAST | NO_AUTH | LOADING | STALE,
        "6.2.0",
        "Resets the connection.",
        reset,
    ),
    CommandSpec {
        name: "client",
        group: "connection",
        arity: -2,
        flags: 0,
        keys: NO_KEYS,
        route: Route::None,
        summary: "A container for client connection commands.",
        complexity: "Depends on subcommand.",
        since: "2.4.0",
        handler: Handler::Container,
        subcommands: CLIENT_SUBCOMMANDS,
    },
];

const CLIENT_SUBCOMMANDS: &[CommandSpec] = &[
    cmd(
        "client|id",
        2,
        FAST,
        "5.0.0",
        "Returns the unique client ID of the connection.",
        client_id,
    ),
    cmd(
        "client|setname",
        3,
        FAST,
        "2.6.9",
        "Sets the connection name.",
        client_setname,
    ),
    cmd(
        "client|getname",
        2,
        FAST,
        "2.6.9",
        "Returns the name of the connection.",
        client_getname,
    ),
    cmd(
        "client|list",
        -2,
        ADMIN,
        "2.4.0",
        "Lists open connections.",
        client_list,
    ),
    cmd(
        "client|info",
        2,
        FAST,
        "6.2.0",
        "Returns information about the connection.",
        client_info,
    ),
    cmd(
        "client|setinfo",
        4,
        FAST,
        "7.2.0",
        "Sets information specific to the client or connection.",
        client_setinfo,
    ),
    cmd(
        "client|help",
        2,
        LOADING | STALE,
        "5.0.0",
        "Returns helpful text about the different subcommands.",
        client_help,
    ),
];

/// PING [message]. A RESP2 connection in subscribe mode answers ["pong", message], as Redis.
fn ping(ctx: &mut SessionCtx, args: &mut Args) -> Result<Frame, CmdError> {
    if args.remaining() > 1 {
        return Err(CmdError::WrongArity {
            command: "ping".into(),
        });
    }
    let message = if args.is_empty() {
        None
    } else {
        Some(args.bytes()?)
    };
    if ctx.session.protocol == Protocol::Resp2 && ctx.session.pubsub.count() > 0 {
        let pong = Frame::Bulk(Bytes::from_static(b"pong"));
        return Ok(Frame::Array(vec![
            pong,
            Frame::Bulk(message.unwrap_or_default()),
        ]));
    }
    Ok(message.map_or(simple("PONG"), Frame::Bulk))
}

/// ECHO message
fn echo(_ctx: &mut SessionCtx, args: &mut Args) -> Result<Frame, CmdError> {
    Ok(Frame::Bulk(args.bytes()?))
}

/// Checks a password for `user` against `requirepass`. With no password configured the
/// default user accepts any password, as Redis's `nopass` default user does.
fn check_password(ctx: &SessionCtx, user: &[u8], password: &[u8]) -> Result<(), CmdError> {
    if user != b"default" {
        return Err(CmdError::WrongPass);
    }
    match ctx.shared.config.requirepass() {
        None => Ok(()),
        Some(expected) if expected[..] == *password => Ok(()),
        Some(_) => Err(CmdError::WrongPass),
    }
}

/// HELLO [protover [AUTH username password] [SETNAME clientname]]: switches protocol and
/// replies with the server description, in the new protocol.
fn hello(ctx: &mut SessionCtx, args: &mut Args) -> Result<Frame, CmdError> {
    let mut protocol = ctx.session.protocol;
    if !args.is_empty() {
        let version = super::args::parse_i64(&args.bytes()?).ok_or_else(|| {
            CmdError::Err("Protocol version is not an integer or out of range".into())
        })?;
        protocol = match version {
            2 => Protocol::Resp2,
            3 => Protocol::Resp3,
            _ => return Err(CmdError::NoProto),
        };
    }
    let mut credentials = None;
    let mut name = None;
    while let Some(word) = args.peek().cloned() {
        if args.flag("AUTH") && args.remaining() >= 2 {
            credentials = Some((args.bytes()?, args.bytes()?));
        } else if args.flag("SETNAME") && !args.is_empty() {
            name = Some(validate_name(&args.bytes()?)?);
        } else {
            let word = String::from_utf8_lossy(&word).into_owned();
            return Err(CmdError::Err(format!(
                "Syntax error in HELLO option '{word}'"
            )));
        }
    }
    match &credentials {
        Some((user, password)) => check_password(ctx, user, password)?,
        None if !ctx.session.authenticated => return Err(noauth_hello()),
        None => {}
    }
    if credentials.is_some() {
        ctx.session.authenticated = true;
    }
    if let Some(name) = name {
        set_name(ctx, name);
    }
    ctx.session.protocol = protocol;
    ctx.shared.clients.set_protocol(ctx.session.id, protocol);
    Ok(server_description(ctx, protocol))
}

fn noauth_hello() -> CmdError {
    CmdError::Raw(
        "NOAUTH HELLO must be called with the client already authenticated, otherwise the \
         HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and \
         select the RESP protocol version at the same time"
            .into(),
    )
}

fn server_description(ctx: &SessionCtx, protocol: Protocol) -> Frame {
    let b = |s: &'static str| Frame::Bulk(Bytes::from_static(s.as_bytes()));
    let proto = if protocol == Protocol::Resp3 { 3 } else { 2 };
    Frame::Map(vec![
        (b("server"), b("redis")),
        (b("version"), b(crate::REDIS_VERSION)),
        (b("proto"), int(proto)),
        (b("id"), Frame::Integer(ctx.session.id as i64)),
        (b("mode"), b("standalone")),
        (b("role"), b("master")),
        (b("modules"), Frame::Array(Vec::new())),
    ])
}

/// AUTH [username] password
fn auth(ctx: &mut SessionCtx, args: &mut Args) -> Result<Frame, CmdError> {
    let (user, password) = match args.remaining() {
        1 => (Bytes::from_static(b"default"), args.bytes()?),
        2 => (args.bytes()?, args.bytes()?),
        _ => return Err(CmdError::Syntax),
    };
    if args.argv().len() == 2 && ctx.shared.config.requirepass().is_none() {
        return Err(CmdError::Err(
            "AUTH <password> called without any password configured for the default user. \
             Are you sure your configuration is correct?"
                .into(),
        ));
    }
    check_password(ctx, &user, &password)?;
    ctx.session.authenticated = true;
    Ok(ok())
}

/// SELECT index
fn select(ctx: &mut SessionCtx, args: &mut Args) -> Result<Frame, CmdError> {
    let index = args.i64()?;
    if ctx.shared.cluster.is_some() && index != 0 {
        return Err(CmdError::Err(
            "SELECT is not allowed in cluster mode".into(),
        ));
    }
    if index < 0 || index >= DATABASES_MAX as i64 {
        return Err(CmdError::DbIndexOutOfRange);
    }
    ctx.session.db = index as usize;
    ctx.shared.clients.set_db(ctx.session.id, ctx.session.db);
    Ok(ok())
}

/// QUIT: replies OK, then the connection closes once the reply is written.
fn quit(ctx: &mut SessionCtx, _args: &mut Args) -> Result<Frame, CmdError> {
    ctx.session.closing = true;
    Ok(ok())
}

/// RESET: back to a fresh connection's state (RESP2, db 0, no name; unauthenticated when a
/// password is required).
fn reset(ctx: &mut SessionCtx, _args: &mut Args) -> Result<Frame, CmdError> {
    let session = &mut *ctx.session;
    session.protocol = Protocol::Resp2;
    session.db = 0;
    session.name = None;
    session.authenticated = ctx.shared.config.requirepass().is_none();
    session.transaction.end();
    session.pubsub.clear(&ctx.shared.pubsub, session.id);
    ctx.shared.clients.set_protocol(session.id, Protocol::Resp2);
    ctx.shared.clients.set_db(session.id, 0);
    ctx.shared.clients.set_name(session.id, None);
    Ok(simple("RESET"))
}

/// CLIENT ID
fn client_id(ctx: &mut SessionCtx, _args: &mut Args) -> Result<Frame, CmdError> {
    Ok(Frame::Integer(ctx.session.id as i64))
}

/// Client names may not contain spaces, newlines or other special characters.
fn validate_name(name: &Bytes) -> Result<Bytes, CmdError> {
    let printable = name.iter().all(|&b| (b'!'..=b'~').contains(&b));
    if !printable || name.len() > CLIENT_NAME_MAX_BYTES {
        return Err(CmdError::Err(
            "Client names cannot contain spaces, newlines or special characters.".into(),
        ));
    }
    Ok(name.clone())
}

fn set_name(ctx: &mut SessionCtx, name: Bytes) {
    let name = (!name.is_empty()).then_some(name);
    ctx.session.name = name.clone();
    ctx.shared.clients.set_name(ctx.session.id, name);
}

/// CLIENT SETNAME connection-name: an empty name clears it.
fn client_setname(ctx: &mut SessionCtx, args: &mut Args) -> Result<Frame, CmdError> {
    let name = validate_name(&args.bytes()?)?;
    set_name(ctx, name);
    Ok(ok())
}

/// CLIENT GETNAME
fn client_getname(ctx: &mut SessionCtx, _args: &mut Args) -> Result<Frame, CmdError> {
    Ok(ctx.session.name.clone().map_or(Frame::Null, Frame::Bulk))
}

/// CLIENT LIST [TYPE normal | master | replica | pubsub] [ID client-id [client-id ...]]
fn client_list(ctx: &mut SessionCtx, args: &mut Args) -> Result<Frame, CmdError> {
    let mut ids: Option<Vec<u64>> = None;
    let mut kind_ok = true;
    while !args.is_empty() {
        if args.flag("TYPE") {
            let kind = args.bytes()?.to_ascii_lowercase();
            kind_ok = match kind.as_slice() {
                b"normal" => true,
                b"master" | b"replica" | b"slave" | b"pubsub" => false,
                _ => {
                    let kind = String::from_utf8_lossy(&kind).into_owned();
                    return Err(CmdError::Err(format!("Unknown client type '{kind}'")));
                }
            };
        } else if args.flag("ID") {
            let mut list = Vec::new();
            while let Some(arg) = args.peek() {
                let id = super::args::parse_i64(arg)
                    .filter(|&id| id > 0)
                    .ok_or_else(|| CmdError::Err("Invalid client ID".into()))?;
                list.push(id as u64);
                args.bytes()?;
            }
            if list.is_empty() {
                return Err(CmdError::Syntax);
            }
            ids = Some(list);
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let mut text = String::new();
    if kind_ok {
        for line in ctx.shared.clients.lines(ctx.now_ms, ids.as_deref()) {
            text.push_str(&line);
            text.push('\n');
        }
    }
    Ok(verbatim(text))
}

/// CLIENT INFO: this connection's CLIENT LIST line.
fn client_info(ctx: &mut SessionCtx, _args: &mut Args) -> Result<Frame, CmdError> {
    let id = ctx.session.id;
    let mut lines = ctx.shared.clients.lines(ctx.now_ms, Some(&[id]));
    let mut line = lines.pop().expect("the calling client is registered");
    line.push('\n');
    Ok(verbatim(line))
}

/// CLIENT SETINFO LIB-NAME name | LIB-VER version
fn client_setinfo(ctx: &mut SessionCtx, args: &mut Args) -> Result<Frame, CmdError> {
    let attribute = args.bytes()?.to_ascii_lowercase();
    let value = args.bytes()?;
    let field = match attribute.as_slice() {
        b"lib-name" => "lib-name",
        b"lib-ver" => "lib-ver",
        _ => {
            let attribute = String::from_utf8_lossy(&attribute).into_owned();
            return Err(CmdError::Err(format!("Unrecognized option '{attribute}'")));
        }
    };
    if !value.iter().all(|&b| (b'!'..=b'~').contains(&b)) {
        return Err(CmdError::Err(format!(
            "{field} cannot contain spaces, newlines or special characters."
        )));
    }
    ctx.shared.clients.set_library(ctx.session.id, field, value);
    Ok(ok())
}

/// CLIENT HELP
fn client_help(_ctx: &mut SessionCtx, _args: &mut Args) -> Result<Frame, CmdError> {
    Ok(help_reply(
        "CLIENT",
        &[
            "ID",
            "    Return the ID of the current connection.",
            "GETNAME",
            "    Return the name of the current connection.",
            "INFO",
            "    Return information about the current client connection.",
            "LIST [options ...]",
            "    Return information about client connections. Options:",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Return clients of specified type.",
            "    * ID <client-id> [<client-id> ...]",
            "      Return clients of specified IDs only.",
            "SETNAME <name>",
            "    Assign the name <name> to the current connection.",
            "SETINFO <option> <value>",
            "    Set client meta attr. Options are:",
            "    * LIB-NAME: the client lib name.",
            "    * LIB-VER: the client lib version.",
        ],
    ))
}

/// The HELP reply shape every container shares: a title line, the lines, and a closing line.
pub fn help_reply(command: &str, lines: &[&str]) -> Frame {
    let mut out = vec![Frame::Simple(Bytes::from(format!(
        "{command} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    )))];
    out.extend(
        lines
            .iter()
            .map(|l| Frame::Simple(Bytes::copy_from_slice(l.as_bytes()))),
    );
    out.push(Frame::Simple(Bytes::from_static(b"HELP")));
    out.push(Frame::Simple(Bytes::from_static(b"    Print this help.")));
    Frame::Array(out)
}
