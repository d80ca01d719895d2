//! Pub/sub hosts: subscribers that (un)subscribe to channels and patterns over time, and
//! one publisher that publishes numbered messages. Subscribers check each reply in
//! order (confirmations with their exact counts, PING's subscribed-mode reply, RESP2's
//! refusal of other commands) and hand every message to `checkers/pubsub.rs`, which at the
//! end holds them against the publisher's PUBLISH replies and the subscription windows.

use std::collections::{BTreeSet, VecDeque};

use bytes::Bytes;
use ember_proto::Frame;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::checkers::pubsub::Via;
use crate::checkers::replies::{check, show_any, Want};
use crate::collections_workload::words;
use crate::types_hosts::{render, Actor, REPLY_TIMEOUT_MS};
use crate::types_world::Params;
use crate::world;

/// Channels subscribers choose from; the publisher also uses one nobody subscribes to by
/// name, which only patterns can match.
const CHANNELS: [&str; 4] = ["ch:0", "ch:1", "ch:2", "ch:3"];
const PUBLISH_CHANNELS: [&str; 5] = ["ch:0", "ch:1", "ch:2", "ch:3", "ch:4"];
const PATTERNS: [&str; 3] = ["ch:*", "ch:[02]", "ch:[134]"];
/// Subscribers start within this window; the publisher starts in the middle of it.
const SUBSCRIBE_START_MS_MAX: u64 = 300;
const PUBLISH_START_MS: u64 = 150;
/// How long subscribers keep reading after the last PUBLISH replied.
const DRAIN_MS: u64 = 100;
/// RESP2's refusal of a regular command on a subscribed connection.
const REFUSED: &str = "ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context";

/// A reply a subscriber waits for.
enum Pending {
    /// `[kind, name, count]`, as an array in RESP2 and a push in RESP3.
    Confirm {
        kind: &'static str,
        via: Via,
        count: i64,
    },
    Reply {
        command: Vec<Bytes>,
        want: Want,
    },
}

struct Listener {
    index: usize,
    rng: ChaCha8Rng,
    subscribed: BTreeSet<Via>,
    pending: VecDeque<Pending>,
    /// When the oldest pending reply was asked for.
    waiting_since_ms: u64,
}

/// A subscriber: subscribes, then acts and reads until the publisher is done.
pub async fn subscriber(actor: &mut Actor, params: &Params, index: usize) {
    let mut rng = world::stream(params.seed, &format!("subscriber-{index}"));
    actor
        .session
        .sleep_ms(rng.gen_range(0..SUBSCRIBE_START_MS_MAX))
        .await;
    let mut listener = Listener {
        index,
        rng,
        subscribed: BTreeSet::new(),
        pending: VecDeque::new(),
        waiting_since_ms: 0,
    };
    let channels = listener.rng.gen_range(1..=3);
    for _ in 0..channels {
        subscribe(actor, &mut listener, false).await;
    }
    if listener.rng.gen_bool(0.4) {
        subscribe(actor, &mut listener, true).await;
    }
    while !actor.failed() {
        let now_ms = actor.session.now_ms();
        let done_ms = actor.board.borrow().publisher_done_ms;
        if done_ms.is_some_and(|done_ms| now_ms >= done_ms + DRAIN_MS)
            && listener.pending.is_empty()
        {
            return;
        }
        if !listener.pending.is_empty() && now_ms > listener.waiting_since_ms + REPLY_TIMEOUT_MS {
            return actor.fail("a subscriber's reply never came".to_string());
        }
        let until_ms = now_ms + listener.rng.gen_range(10..80);
        if !listen(actor, &mut listener, until_ms).await {
            return;
        }
        if done_ms.is_none() {
            act(actor, &mut listener).await;
        }
    }
}

/// Reads and handles frames until `until_ms`.
async fn listen(actor: &mut Actor, listener: &mut Listener, until_ms: u64) -> bool {
    loop {
        let now_ms = actor.session.now_ms();
        if now_ms >= until_ms || actor.failed() {
            return !actor.failed();
        }
        match actor.session.read_within(until_ms - now_ms).await {
            Ok(Some(frame)) => {
                actor.record(&[], &frame);
                if !handle(actor, listener, &frame) {
                    return false;
                }
            }
            Ok(None) => {}
            Err(error) => {
                actor.fail(format!("reading: {error}"));
                return false;
            }
        }
    }
}

/// One incoming frame: a message, or the reply the oldest pending command waits for.
fn handle(actor: &Actor, listener: &mut Listener, frame: &Frame) -> bool {
    let resp3 = actor.session.resp3;
    let parts = match (frame, resp3) {
        (Frame::Push(parts), true) | (Frame::Array(parts), false) => Some(parts),
        _ => None,
    };
    let kind = parts.and_then(|parts| match parts.first() {
        Some(Frame::Bulk(kind)) => Some(&kind[..]),
        _ => None,
    });
    if let (Some(parts), Some(b"message" | b"pmessage")) = (parts, kind) {
        return message(actor, listener, parts);
    }
    let now_ms = actor.session.now_ms();
    let Some(pending) = listener.pending.pop_front() else {
        actor.fail(format!("an unexpected frame: {}", show_any(frame)));
        return false;
    };
    listener.waiting_since_ms = now_ms;
    match pending {
        Pending::Reply { command, want } => actor.expect(&command, &want, frame),
        Pending::Confirm { kind, via, count } => {
            let name = match &via {
                Via::Channel(name) | Via::Pattern(name) => name.clone(),
            };
            let fits = parts.is_some_and(|parts| {
                parts.len() == 3
                    && parts[0] == Frame::bulk(kind.as_bytes())
                    && parts[1] == Frame::Bulk(name.clone())
                    && parts[2] == Frame::Integer(count)
            });
            if !fits {
                actor.fail(format!(
                    "expected [{kind}, {name:?}, {count}], got {}",
                    show_any(frame)
                ));
                return false;
            }
            let mut board = actor.board.borrow_mut();
            if kind.ends_with("unsubscribe") {
                board
                    .pubsub
                    .unsubscribe_confirmed(listener.index, via, now_ms);
            } else {
                board
                    .pubsub
                    .subscribe_confirmed(listener.index, via, now_ms);
            }
            true
        }
    }
}

/// `[message, channel, payload]` or `[pmessage, pattern, channel, payload]`, where the
/// payload is `{seq}:{channel}`.
fn message(actor: &Actor, listener: &Listener, parts: &[Frame]) -> bool {
    let fields: Option<Vec<&Bytes>> = parts
        .iter()
        .map(|part| match part {
            Frame::Bulk(bytes) => Some(bytes),
            _ => None,
        })
        .collect();
    let parsed = fields.and_then(|fields| {
        let (via, channel, payload) = match fields[..] {
            [_, channel, payload] => (Via::Channel(channel.clone()), channel, payload),
            [_, pattern, channel, payload] => (Via::Pattern(pattern.clone()), channel, payload),
            _ => return None,
        };
        let text = std::str::from_utf8(payload).ok()?;
        let (seq, named) = text.split_once(':')?;
        (named.as_bytes() == &channel[..]).then_some(())?;
        Some((seq.parse::<u64>().ok()?, via))
    });
    let Some((seq, via)) = parsed else {
        actor.fail(format!("a malformed message: {parts:?}"));
        return false;
    };
    let received = actor
        .board
        .borrow_mut()
        .pubsub
        .received(listener.index, seq, via);
    if let Err(detail) = received {
        actor.fail(format!("subscriber {}: {detail}", listener.index));
        return false;
    }
    true
}

/// One seeded action while the publisher runs.
async fn act(actor: &mut Actor, listener: &mut Listener) {
    match listener.rng.gen_range(0..100) {
        0..=29 => subscribe(actor, listener, false).await,
        30..=44 => subscribe(actor, listener, true).await,
        45..=69 => unsubscribe(actor, listener).await,
        70..=84 => {
            let want = if actor.session.resp3 {
                Want::Status("PONG")
            } else {
                Want::Array(vec![
                    Want::Bulk(Bytes::from_static(b"pong")),
                    Want::Bulk(Bytes::new()),
                ])
            };
            ask(actor, listener, words("PING", []), want).await;
        }
        _ => {
            // RESP3 connections may run any command while subscribed; RESP2 ones may not.
            let want = if actor.session.resp3 {
                Want::Nil
            } else {
                Want::Error(REFUSED.to_string())
            };
            ask(
                actor,
                listener,
                words("GET", [Bytes::from_static(b"sub:none")]),
                want,
            )
            .await;
        }
    }
}

async fn subscribe(actor: &mut Actor, listener: &mut Listener, pattern: bool) {
    let names: &[&str] = if pattern { &PATTERNS } else { &CHANNELS };
    let name = Bytes::from_static(names[listener.rng.gen_range(0..names.len())].as_bytes());
    let via = if pattern {
        Via::Pattern(name.clone())
    } else {
        Via::Channel(name.clone())
    };
    if listener.subscribed.contains(&via) {
        return;
    }
    listener.subscribed.insert(via.clone());
    let count = listener.subscribed.len() as i64;
    let kind = if pattern { "psubscribe" } else { "subscribe" };
    let command = vec![Bytes::from(kind.to_ascii_uppercase()), name];
    let sent_ms = actor.session.now_ms();
    actor
        .board
        .borrow_mut()
        .pubsub
        .subscribe_sent(listener.index, via.clone(), sent_ms);
    send(
        actor,
        listener,
        &command,
        Pending::Confirm { kind, via, count },
    )
    .await;
}

/// Unsubscribes from one subscription, never the last, so a RESP2 connection stays in
/// subscribed mode and the refusal of other commands stays certain.
async fn unsubscribe(actor: &mut Actor, listener: &mut Listener) {
    if listener.subscribed.len() < 2 {
        return;
    }
    let chosen = listener.rng.gen_range(0..listener.subscribed.len());
    let via = listener
        .subscribed
        .iter()
        .nth(chosen)
        .expect("in range")
        .clone();
    listener.subscribed.remove(&via);
    let count = listener.subscribed.len() as i64;
    let (kind, name) = match &via {
        Via::Channel(name) => ("unsubscribe", name.clone()),
        Via::Pattern(name) => ("punsubscribe", name.clone()),
    };
    let command = vec![Bytes::from(kind.to_ascii_uppercase()), name];
    let sent_ms = actor.session.now_ms();
    actor
        .board
        .borrow_mut()
        .pubsub
        .unsubscribe_sent(listener.index, via.clone(), sent_ms);
    send(
        actor,
        listener,
        &command,
        Pending::Confirm { kind, via, count },
    )
    .await;
}

async fn ask(actor: &mut Actor, listener: &mut Listener, command: Vec<Bytes>, want: Want) {
    let pending = Pending::Reply {
        command: command.clone(),
        want,
    };
    send(actor, listener, &command, pending).await;
}

async fn send(actor: &mut Actor, listener: &mut Listener, command: &[Bytes], pending: Pending) {
    if listener.pending.is_empty() {
        listener.waiting_since_ms = actor.session.now_ms();
    }
    listener.pending.push_back(pending);
    actor.send(&[command.to_vec()]).await;
}

/// The publisher: numbered messages to seeded channels, one at a time.
pub async fn publisher(actor: &mut Actor, params: &Params) {
    let mut rng = world::stream(params.seed, "publisher");
    actor.session.sleep_until_ms(PUBLISH_START_MS).await;
    for seq in 1..=params.spec.messages as u64 {
        actor.session.sleep_ms(rng.gen_range(2..25)).await;
        let channel = PUBLISH_CHANNELS[rng.gen_range(0..PUBLISH_CHANNELS.len())];
        let payload = Bytes::from(format!("{seq}:{channel}"));
        let command = words("PUBLISH", [Bytes::from_static(channel.as_bytes()), payload]);
        let sent_ms = actor.session.now_ms();
        let Some(got) = actor.call(&command, REPLY_TIMEOUT_MS).await else {
            return;
        };
        let Frame::Integer(receivers) = got else {
            let detail = check(&Want::Int(0), &got, actor.session.resp3).unwrap_err();
            return actor.fail(format!("{}: {detail}", render(&command)));
        };
        let received_ms = actor.session.now_ms();
        let channel = Bytes::from_static(channel.as_bytes());
        actor
            .board
            .borrow_mut()
            .pubsub
            .published(seq, channel, sent_ms, received_ms, receivers);
    }
    let done_ms = actor.session.now_ms();
    actor.board.borrow_mut().publisher_done_ms = Some(done_ms);
}
