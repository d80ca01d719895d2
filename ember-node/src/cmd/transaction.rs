//! Transactions: MULTI, EXEC, DISCARD, WATCH and UNWATCH.
//!
//! MULTI only switches the connection to queueing; the connection (conn.rs) queues commands
//! and runs EXEC, because EXEC must borrow every store its queued commands and watched keys
//! need before it checks the watches and runs the queue: that borrow is what makes the whole
//! transaction atomic across shards.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use bytes::Bytes;
use ember_proto::Frame;

use super::table::{flag::*, CommandSpec, Handler, Route, ALL_KEYS, NO_KEYS};
use super::{ok, Args, CmdError, Ctx, SessionCtx, SessionFn};

/// A command queued between MULTI and EXEC.
#[derive(Debug)]
pub struct Queued {
    pub spec: &'static CommandSpec,
    pub skip: usize,
    pub argv: Vec<Bytes>,
}

/// A connection's transaction state.
#[derive(Debug)]
pub struct Transaction {
    /// `Some` between MULTI and EXEC/DISCARD.
    pub queue: Option<Vec<Queued>>,
    /// A command failed to queue (unknown, wrong arity ...): EXEC must abort.
    pub failed: bool,
    /// Set by any shard when a watched key is modified.
    pub watch_flag: Arc<AtomicBool>,
    /// The (db, key) pairs watched since the last EXEC, DISCARD or UNWATCH.
    pub watched: Vec<(usize, Bytes)>,
}

impl Default for Transaction {
    fn default() -> Transaction {
        Transaction {
            queue: None,
            failed: false,
            watch_flag: Arc::new(AtomicBool::new(false)),
            watched: Vec::new(),
        }
    }
}

impl Transaction {
    /// Forgets every watch. Shards drop the stale registrations on their next tick.
    pub fn unwatch(&mut self) {
        self.watch_flag = Arc::new(AtomicBool::new(false));
        self.watched.clear();
    }

    /// Ends the transaction (EXEC, DISCARD, RESET): no queue, no error, no watches.
    pub fn end(&mut self) {
        self.queue = None;
        self.failed = false;
        self.unwatch();
    }

    /// A command failed to queue; EXEC will answer EXECABORT.
    pub fn flag_error(&mut self) {
        if self.queue.is_some() {
            self.failed = true;
        }
    }
}

const fn session(
    name: &'static str,
    flags: u32,
    summary: &'static str,
    handler: SessionFn,
) -> CommandSpec {
    CommandSpec {
        name,
        group: "transactions",
        arity: 1,
        flags,
        keys: NO_KEYS,
        route: Route::None,
        summary,
        complexity: "O(1)",
        since: "1.2.0",
        handler: Handler::Session(handler),
        subcommands: &[],
    }
}

pub const COMMANDS: &[CommandSpec] = &[
    session(
        "multi",
        NOSCRIPT | LOADING | STALE | FAST,
        "Starts a transaction.",
        multi,
    ),
    CommandSpec {
        name: "exec",
        group: "transactions",
        arity: 1,
        flags: NOSCRIPT | LOADING | STALE,
        keys: NO_KEYS,
        route: Route::None,
        summary: "Executes all commands in a transaction.",
        complexity: "Depends on commands in the transaction",
        since: "1.2.0",
        handler: Handler::Exec,
        subcommands: &[],
    },
    session(
        "discard",
        NOSCRIPT | LOADING | STALE | FAST,
        "Discards a transaction.",
        discard,
    ),
    CommandSpec {
        name: "watch",
        group: "transactions",
        arity: -2,
        flags: NOSCRIPT | LOADING | STALE | FAST,
        keys: ALL_KEYS,
        route: Route::Keys,
        summary: "Monitors changes to keys to determine the execution of a transaction.",
        complexity: "O(1) for every key.",
        since: "2.2.0",
        handler: Handler::Data(watch),
        subcommands: &[],
    },
    session(
        "unwatch",
        NOSCRIPT | LOADING | STALE | FAST,
        "Forgets about watched keys of a transaction.",
        unwatch,
    ),
];

/// MULTI
fn multi(ctx: &mut SessionCtx, _args: &mut Args) -> Result<Frame, CmdError> {
    let transaction = &mut ctx.session.transaction;
    if transaction.queue.is_some() {
        return Err(CmdError::Err("MULTI calls can not be nested".into()));
    }
    transaction.queue = Some(Vec::new());
    Ok(ok())
}

/// DISCARD
fn discard(ctx: &mut SessionCtx, _args: &mut Args) -> Result<Frame, CmdError> {
    let transaction = &mut ctx.session.transaction;
    if transaction.queue.is_none() {
        return Err(CmdError::Err("DISCARD without MULTI".into()));
    }
    transaction.end();
    Ok(ok())
}

/// UNWATCH
fn unwatch(ctx: &mut SessionCtx, _args: &mut Args) -> Result<Frame, CmdError> {
    ctx.session.transaction.unwatch();
    Ok(ok())
}

/// WATCH key [key ...]: registers the connection's flag on each key's shard. The connection
/// records the keys itself once this succeeds (it refuses WATCH inside MULTI before this runs).
fn watch(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let flag = ctx
        .watch
        .clone()
        .expect("the connection passes its watch flag with WATCH");
    let (db, now) = (ctx.db, ctx.now_ms);
    for key in args.rest() {
        ctx.store(key).watch(db, key, now, &flag);
    }
    Ok(ok())
}
