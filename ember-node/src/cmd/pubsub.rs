//! Publish/subscribe: SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE, PUBLISH and PUBSUB.
//!
//! Subscription commands answer once per channel, so they return several frames. Each is a
//! push frame: RESP3 sends it as a push, RESP2 as the array Redis sends.

use bytes::Bytes;
use ember_proto::Frame;

use super::connection::help_reply;
use super::table::{flag::*, CommandSpec, Handler, Route, NO_KEYS};
use super::{int_len, Args, CmdError, SessionCtx, SessionFn, SubscriptionFn};

const fn spec(
    name: &'static str,
    arity: i32,
    flags: u32,
    since: &'static str,
    summary: &'static str,
    handler: Handler,
) -> CommandSpec {
    CommandSpec {
        name,
        group: "pubsub",
        arity,
        flags,
        keys: NO_KEYS,
        route: Route::None,
        summary,
        complexity: "O(N) where N is the number of channels or patterns",
        since,
        handler,
        subcommands: &[],
    }
}

const fn session(
    name: &'static str,
    arity: i32,
    since: &'static str,
    summary: &'static str,
    handler: SessionFn,
) -> CommandSpec {
    spec(
        name,
        arity,
        PUBSUB | LOADING | STALE,
        since,
        summary,
        Handler::Session(handler),
    )
}

const fn subscription(
    name: &'static str,
    arity: i32,
    summary: &'static str,
    handler: SubscriptionFn,
) -> CommandSpec {
    spec(
        name,
        arity,
        PUBSUB | NOSCRIPT | LOADING | STALE,
        "2.0.0",
        summary,
        Handler::Subscription(handler),
    )
}

pub const COMMANDS: &[CommandSpec] = &[
    subscription(
        "subscribe",
        -2,
        "Listens for messages published to channels.",
        subscribe,
    ),
    subscription(
        "unsubscribe",
        -1,
        "Stops listening to messages posted to channels.",
        unsubscribe,
    ),
    subscription(
        "psubscribe",
        -2,
        "Listens for messages published to channels that match one or more patterns.",
        psubscribe,
    ),
    subscription(
        "punsubscribe",
        -1,
        "Stops listening to messages published to channels that match one or more patterns.",
        punsubscribe,
    ),
    spec(
        "publish",
        3,
        PUBSUB | LOADING | STALE | FAST,
        "2.0.0",
        "Posts a message to a channel.",
        Handler::Session(publish),
    ),
    CommandSpec {
        subcommands: PUBSUB_SUBCOMMANDS,
        ..spec(
            "pubsub",
            -2,
            0,
            "2.8.0",
            "A container for Pub/Sub commands.",
            Handler::Container,
        )
    },
];

const PUBSUB_SUBCOMMANDS: &[CommandSpec] = &[
    session(
        "pubsub|channels",
        -2,
        "2.8.0",
        "Returns the active channels.",
        pubsub_channels,
    ),
    session(
        "pubsub|numsub",
        -2,
        "2.8.0",
        "Returns a count of subscribers to channels.",
        pubsub_numsub,
    ),
    session(
        "pubsub|numpat",
        2,
        "2.8.0",
        "Returns a count of unique pattern subscriptions.",
        pubsub_numpat,
    ),
    session(
        "pubsub|help",
        2,
        "6.2.0",
        "Returns helpful text about the different subcommands.",
        pubsub_help,
    ),
];

fn push(kind: &'static str, name: Option<&Bytes>, count: usize) -> Frame {
    Frame::Push(vec![
        Frame::Bulk(Bytes::from_static(kind.as_bytes())),
        name.map_or(Frame::Null, |n| Frame::Bulk(n.clone())),
        int_len(count),
    ])
}

/// SUBSCRIBE channel [channel ...]
fn subscribe(ctx: &mut SessionCtx, args: &mut Args) -> Result<Vec<Frame>, CmdError> {
    let id = ctx.session.id;
    let subscriber = ctx.session.pubsub.subscriber();
    let mut replies = Vec::new();
    for channel in args.rest() {
        if ctx.session.pubsub.channels.insert(channel.clone()) {
            ctx.shared.pubsub.subscribe(channel, id, &subscriber);
        }
        replies.push(push("subscribe", Some(channel), ctx.session.pubsub.count()));
    }
    Ok(replies)
}

/// PSUBSCRIBE pattern [pattern ...]
fn psubscribe(ctx: &mut SessionCtx, args: &mut Args) -> Result<Vec<Frame>, CmdError> {
    let id = ctx.session.id;
    let subscriber = ctx.session.pubsub.subscriber();
    let mut replies = Vec::new();
    for pattern in args.rest() {
        if ctx.session.pubsub.patterns.insert(pattern.clone()) {
            ctx.shared.pubsub.psubscribe(pattern, id, &subscriber);
        }
        replies.push(push(
            "psubscribe",
            Some(pattern),
            ctx.session.pubsub.count(),
        ));
    }
    Ok(replies)
}

/// UNSUBSCRIBE [channel ...]: no channel means all of them; with none subscribed, one reply
/// with a nil channel.
fn unsubscribe(ctx: &mut SessionCtx, args: &mut Args) -> Result<Vec<Frame>, CmdError> {
    let named = args.rest().to_vec();
    let channels = if named.is_empty() {
        ctx.session.pubsub.channels.iter().cloned().collect()
    } else {
        named
    };
    if channels.is_empty() {
        return Ok(vec![push("unsubscribe", None, ctx.session.pubsub.count())]);
    }
    let mut replies = Vec::new();
    for channel in channels {
        if ctx.session.pubsub.channels.remove(&channel) {
            ctx.shared.pubsub.unsubscribe(&channel, ctx.session.id);
        }
        replies.push(push(
            "unsubscribe",
            Some(&channel),
            ctx.session.pubsub.count(),
        ));
    }
    Ok(replies)
}

/// PUNSUBSCRIBE [pattern ...]
fn punsubscribe(ctx: &mut SessionCtx, args: &mut Args) -> Result<Vec<Frame>, CmdError> {
    let named = args.rest().to_vec();
    let patterns = if named.is_empty() {
        ctx.session.pubsub.patterns.iter().cloned().collect()
    } else {
        named
    };
    if patterns.is_empty() {
        return Ok(vec![push("punsubscribe", None, ctx.session.pubsub.count())]);
    }
    let mut replies = Vec::new();
    for pattern in patterns {
        if ctx.session.pubsub.patterns.remove(&pattern) {
            ctx.shared.pubsub.punsubscribe(&pattern, ctx.session.id);
        }
        replies.push(push(
            "punsubscribe",
            Some(&pattern),
            ctx.session.pubsub.count(),
        ));
    }
    Ok(replies)
}

/// PUBLISH channel message: the number of clients that received it.
fn publish(ctx: &mut SessionCtx, args: &mut Args) -> Result<Frame, CmdError> {
    let channel = args.bytes()?;
    let message = args.bytes()?;
    Ok(int_len(ctx.shared.pubsub.publish(&channel, &message)))
}

/// PUBSUB CHANNELS [pattern]
fn pubsub_channels(ctx: &mut SessionCtx, args: &mut Args) -> Result<Frame, CmdError> {
    let pattern = if args.is_empty() {
        None
    } else {
        Some(args.bytes()?)
    };
    args.finish()?;
    let channels = ctx.shared.pubsub.channels(pattern.as_deref());
    Ok(Frame::Array(
        channels.into_iter().map(Frame::Bulk).collect(),
    ))
}

/// PUBSUB NUMSUB [channel ...]: channel, count, channel, count ... (a flat array in both
/// protocols, as Redis sends it).
fn pubsub_numsub(ctx: &mut SessionCtx, args: &mut Args) -> Result<Frame, CmdError> {
    let mut counts = Vec::new();
    for channel in args.rest() {
        counts.push(Frame::Bulk(channel.clone()));
        counts.push(int_len(ctx.shared.pubsub.subscriber_count(channel)));
    }
    Ok(Frame::Array(counts))
}

/// PUBSUB NUMPAT
fn pubsub_numpat(ctx: &mut SessionCtx, _args: &mut Args) -> Result<Frame, CmdError> {
    Ok(int_len(ctx.shared.pubsub.pattern_count()))
}

/// PUBSUB HELP
fn pubsub_help(_ctx: &mut SessionCtx, _args: &mut Args) -> Result<Frame, CmdError> {
    Ok(help_reply(
        "PUBSUB",
        &[
            "CHANNELS [<pattern>]",
            "    Return the currently active channels matching a <pattern> (default: '*').",
            "NUMPAT",
            "    Return number of subscriptions to patterns.",
            "NUMSUB [<channel> ...]",
            "    Return the number of subscribers for the specified channels, excluding",
            "    pattern subscriptions(default: no channels).",
        ],
    ))
}
