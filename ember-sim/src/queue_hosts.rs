//! Queue hosts: producers push named items onto shared queue keys (two lists and a sorted
//! set scored by the producer's sequence), consumers take them with blocking pops that
//! time out, and the auditor reads what is left once both are done. `checkers/delivery.rs`
//! judges the whole: no item lost, none delivered twice, each producer's order kept.
//!
//! The FIFO probes arrange the one case where the order among consumers is known: two
//! waiters block on a fresh key 40 ms apart (latencies are at most 8 ms), then the pusher
//! pushes two elements at once, and the waiter that blocked first must get the first.

use std::collections::BTreeMap;

use bytes::Bytes;
use ember_proto::Frame;
use rand::Rng;

use crate::checkers::delivery::item_name;
use crate::checkers::replies::{show_any, Want};
use crate::collections_workload::words;
use crate::types_hosts::{args, render, Actor, REPLY_TIMEOUT_MS};
use crate::types_world::{FifoKind, Params};
use crate::world;

/// The shared queue keys.
const LIST_QUEUES: [&str; 2] = ["q:list0", "q:list1"];
const ZSET_QUEUE: &str = "q:zset";
/// Blocking timeouts consumers use, in milliseconds.
const BLOCK_TIMEOUTS_MS: [u64; 4] = [50, 100, 150, 300];
/// The FIFO probes' timeline: the first probe's start, the gap between probes, the delay
/// of the second waiter, and of the push.
const FIFO_START_MS: u64 = 100;
const FIFO_GAP_MS: u64 = 250;
const FIFO_STAGGER_MS: u64 = 40;
const FIFO_PUSH_MS: u64 = 100;
/// How long FIFO waiters block: far longer than the probe takes.
const FIFO_BLOCK_S: u64 = 5;

/// A consumer's view of one pop: where each item came from, and its score if any.
struct Popped {
    key: Bytes,
    item: Bytes,
    score: Option<f64>,
}

/// A producer: `items` items, in small pushes onto random queues.
pub async fn producer(actor: &mut Actor, params: &Params, index: usize) {
    let mut rng = world::stream(params.seed, &format!("producer-{index}"));
    actor.session.sleep_ms(rng.gen_range(0..50)).await;
    let mut seq = 0u64;
    let items = params.spec.items as u64;
    while seq < items && !actor.failed() {
        actor.session.sleep_ms(rng.gen_range(0..30)).await;
        let on_zset = rng.gen_bool(0.3);
        let key: &[u8] = if on_zset {
            ZSET_QUEUE.as_bytes()
        } else {
            LIST_QUEUES[rng.gen_range(0..2)].as_bytes()
        };
        let count = if on_zset {
            1
        } else {
            rng.gen_range(1..=2).min(items - seq)
        };
        let mut command = words(
            if on_zset { "ZADD" } else { "RPUSH" },
            [Bytes::copy_from_slice(key)],
        );
        for _ in 0..count {
            seq += 1;
            let item = item_name(key, index, seq);
            // Recorded before it is sent, so a consumer never sees an unrecorded item.
            actor.board.borrow_mut().queues.push(item.clone());
            if on_zset {
                command.push(Bytes::from(seq.to_string()));
            }
            command.push(item);
        }
        let Some(got) = actor.call(&command, REPLY_TIMEOUT_MS).await else {
            return;
        };
        // A list's length depends on the consumers; it holds at least what was pushed.
        let admitted = match got {
            Frame::Integer(length) if !on_zset => length >= count as i64,
            Frame::Integer(added) => added == 1,
            _ => false,
        };
        if !admitted {
            actor.fail(format!("{} replied {}", render(&command), show_any(&got)));
            return;
        }
    }
}

/// A consumer: blocking pops of every kind, each with a timeout.
pub async fn consumer(actor: &mut Actor, params: &Params, index: usize) {
    let mut rng = world::stream(params.seed, &format!("consumer-{index}"));
    let spec = &params.spec;
    let rounds = spec.items * spec.producers / spec.consumers + 2;
    let own = Bytes::from(format!("own:{index}"));
    for _ in 0..rounds {
        if actor.failed() {
            return;
        }
        actor.session.sleep_ms(rng.gen_range(0..30)).await;
        let timeout_ms = BLOCK_TIMEOUTS_MS[rng.gen_range(0..BLOCK_TIMEOUTS_MS.len())];
        let (command, shape) = pop_command(&mut rng, &own, timeout_ms);
        let sent_ms = actor.session.now_ms();
        let Some(got) = actor.call(&command, timeout_ms + REPLY_TIMEOUT_MS).await else {
            return;
        };
        let elapsed_ms = actor.session.now_ms() - sent_ms;
        if !take(actor, index, &command, &shape, &got, timeout_ms, elapsed_ms) {
            return;
        }
    }
}

/// How a pop command replies, and what its pops mean for the ledger.
struct Shape {
    keys: Vec<Bytes>,
    /// BLMOVE and BRPOPLPUSH answer a bare item (on timeout, a null array like every
    /// blocking pop, as Redis answers).
    bare: bool,
    /// BLMPOP and BZMPOP answer [key, [elements]].
    nested: bool,
    scored: bool,
    from_head: bool,
    /// Where a move puts the item in the consumer's own list: at its head or not.
    moved: Option<bool>,
}

fn pop_command(
    rng: &mut rand_chacha::ChaCha8Rng,
    own: &Bytes,
    timeout_ms: u64,
) -> (Vec<Bytes>, Shape) {
    let timeout = Bytes::from(format!("{}", timeout_ms as f64 / 1000.0));
    let list_keys: Vec<Bytes> = if rng.gen_bool(0.5) {
        LIST_QUEUES
            .iter()
            .map(|k| Bytes::from_static(k.as_bytes()))
            .collect()
    } else {
        vec![Bytes::from_static(
            LIST_QUEUES[rng.gen_range(0..2)].as_bytes(),
        )]
    };
    let zset = Bytes::from_static(ZSET_QUEUE.as_bytes());
    let mut shape = Shape {
        keys: list_keys.clone(),
        bare: false,
        nested: false,
        scored: false,
        from_head: true,
        moved: None,
    };
    let side = |left: bool| Bytes::from_static(if left { b"LEFT" } else { b"RIGHT" });
    let command = match rng.gen_range(0..8) {
        0..=1 => words("BLPOP", list_keys.into_iter().chain([timeout])),
        2 => {
            shape.from_head = false;
            words("BRPOP", list_keys.into_iter().chain([timeout]))
        }
        3 => {
            let (from_left, to_left) = (rng.gen_bool(0.7), rng.gen_bool(0.5));
            shape.keys.truncate(1);
            shape.bare = true;
            shape.from_head = from_left;
            shape.moved = Some(to_left);
            let source = shape.keys[0].clone();
            words(
                "BLMOVE",
                [source, own.clone(), side(from_left), side(to_left), timeout],
            )
        }
        4 => {
            shape.keys.truncate(1);
            shape.bare = true;
            shape.from_head = false;
            shape.moved = Some(true);
            words("BRPOPLPUSH", [shape.keys[0].clone(), own.clone(), timeout])
        }
        5 => {
            let from_left = rng.gen_bool(0.7);
            shape.nested = true;
            shape.from_head = from_left;
            let mut command = words(
                "BLMPOP",
                [timeout, Bytes::from(list_keys.len().to_string())],
            );
            command.extend(list_keys);
            command.push(side(from_left));
            if rng.gen_bool(0.5) {
                command.extend(args(&["COUNT", &rng.gen_range(1..=3).to_string()]));
            }
            command
        }
        6 => {
            shape.keys = vec![zset.clone()];
            shape.scored = true;
            words("BZPOPMIN", [zset, timeout])
        }
        _ => {
            let min = rng.gen_bool(0.7);
            shape.keys = vec![zset.clone()];
            shape.scored = true;
            shape.nested = true;
            shape.from_head = min;
            let mut command = words("BZMPOP", [timeout, Bytes::from_static(b"1"), zset]);
            command.push(Bytes::from_static(if min { b"MIN" } else { b"MAX" }));
            if rng.gen_bool(0.5) {
                command.extend(args(&["COUNT", &rng.gen_range(1..=3).to_string()]));
            }
            command
        }
    };
    (command, shape)
}

/// Checks one pop's reply and hands its items to the ledger.
fn take(
    actor: &Actor,
    consumer: usize,
    command: &[Bytes],
    shape: &Shape,
    got: &Frame,
    timeout_ms: u64,
    elapsed_ms: u64,
) -> bool {
    let resp3 = actor.session.resp3;
    let popped = match parse_pop(shape, got, resp3) {
        Ok(popped) => popped,
        Err(detail) => {
            actor.fail(format!("{}: {detail}: {}", render(command), show_any(got)));
            return false;
        }
    };
    let Some(popped) = popped else {
        // A timeout: the reply cannot come before the timeout has run out.
        if elapsed_ms + 1 < timeout_ms {
            actor.fail(format!(
                "{} timed out after {elapsed_ms} ms",
                render(command)
            ));
            return false;
        }
        actor.board.borrow_mut().queues.timeouts += 1;
        return true;
    };
    for pop in popped {
        if !shape.keys.contains(&pop.key) {
            actor.fail(format!("{} popped from {:?}", render(command), pop.key));
            return false;
        }
        if let Some(score) = pop.score {
            let seq =
                crate::checkers::delivery::parse_item(&pop.item).map(|(_, _, seq)| seq as f64);
            if seq != Some(score) {
                actor.fail(format!(
                    "{}: {:?} has score {score}",
                    render(command),
                    pop.item
                ));
                return false;
            }
        }
        let delivered = actor.board.borrow_mut().queues.deliver(
            consumer,
            &pop.key,
            &pop.item,
            shape.from_head,
            shape.moved,
        );
        if let Err(detail) = delivered {
            actor.fail(format!("{}: {detail}", render(command)));
            return false;
        }
    }
    true
}

/// The items a pop reply holds, or None for a timeout's nil (of the right kind of nil).
fn parse_pop(shape: &Shape, got: &Frame, resp3: bool) -> Result<Option<Vec<Popped>>, String> {
    // Every blocking pop times out with a null array: `*-1` in RESP2, `_` in RESP3.
    let nil = match (resp3, got) {
        (false, Frame::NullArray) | (true, Frame::Null) => true,
        (_, Frame::Null | Frame::NullArray) => return Err("the wrong kind of nil".to_string()),
        _ => false,
    };
    if nil {
        return Ok(None);
    }
    if shape.bare {
        let Frame::Bulk(item) = got else {
            return Err("expected an item".to_string());
        };
        let key = shape.keys[0].clone();
        return Ok(Some(vec![Popped {
            key,
            item: item.clone(),
            score: None,
        }]));
    }
    let Frame::Array(parts) = got else {
        return Err("expected an array".to_string());
    };
    let Some(Frame::Bulk(key)) = parts.first() else {
        return Err("expected the key first".to_string());
    };
    let elements: Vec<&Frame> = match (shape.nested, &parts[1..]) {
        (true, [Frame::Array(elements)]) if !elements.is_empty() => elements.iter().collect(),
        (false, rest) if rest.len() == 1 + usize::from(shape.scored) => vec![got],
        _ => return Err("unexpected shape".to_string()),
    };
    elements
        .into_iter()
        .map(|element| element_of(shape, key, element, resp3, !shape.nested))
        .collect::<Result<Vec<Popped>, String>>()
        .map(Some)
}

/// One element: a bulk item, an [item, score] pair (BZMPOP), or, for the flat replies
/// (`whole`), the items after the key.
fn element_of(
    shape: &Shape,
    key: &Bytes,
    element: &Frame,
    resp3: bool,
    whole: bool,
) -> Result<Popped, String> {
    let (item, score) = match (element, whole, shape.scored) {
        (Frame::Array(parts), true, false) => (&parts[1], None),
        (Frame::Array(parts), true, true) => (&parts[1], Some(&parts[2])),
        (Frame::Array(pair), false, true) if pair.len() == 2 => (&pair[0], Some(&pair[1])),
        (bulk, false, false) => (bulk, None),
        _ => return Err("unexpected element".to_string()),
    };
    let Frame::Bulk(item) = item else {
        return Err("an element is not a bulk string".to_string());
    };
    let score = match score {
        None => None,
        Some(Frame::Double(value)) if resp3 => Some(*value),
        Some(Frame::Bulk(text)) if !resp3 => Some(
            std::str::from_utf8(text)
                .ok()
                .and_then(|t| t.parse().ok())
                .ok_or("a score is not a number")?,
        ),
        Some(_) => return Err("a score of the wrong type for the protocol".to_string()),
    };
    Ok(Popped {
        key: key.clone(),
        item: item.clone(),
        score,
    })
}

/// A FIFO waiter: in each probe, blocks first or second as the seed says.
pub async fn waiter(actor: &mut Actor, params: &Params, index: usize) {
    for (round, probe) in params.fifo.iter().enumerate() {
        let position = u64::from(probe.first != index);
        let start_ms = FIFO_START_MS + round as u64 * FIFO_GAP_MS;
        actor
            .session
            .sleep_until_ms(start_ms + position * FIFO_STAGGER_MS)
            .await;
        let key = format!("fifo:{round}");
        let timeout = FIFO_BLOCK_S.to_string();
        let own = format!("fifo:{round}:own{index}");
        let command = match probe.kind {
            FifoKind::Blpop => args(&["BLPOP", &key, &timeout]),
            FifoKind::Brpop => args(&["BRPOP", &key, &timeout]),
            FifoKind::Blmove => args(&["BLMOVE", &key, &own, "LEFT", "RIGHT", &timeout]),
            FifoKind::Bzpopmin => args(&["BZPOPMIN", &key, &timeout]),
        };
        // The first blocked gets the head (or, for BRPOP, the tail) of the two.
        let takes_first = (position == 0) != (probe.kind == FifoKind::Brpop);
        let (element, score) = if takes_first {
            ("e1", 1.0)
        } else {
            ("e2", 2.0)
        };
        let element = Bytes::from(format!("{key}:{element}"));
        let key = Bytes::from(key);
        let want = match probe.kind {
            FifoKind::Blpop | FifoKind::Brpop => {
                Want::Array(vec![Want::Bulk(key), Want::Bulk(element)])
            }
            FifoKind::Blmove => Want::Bulk(element),
            FifoKind::Bzpopmin => Want::Array(vec![
                Want::Bulk(key),
                Want::Bulk(element),
                Want::Score(score),
            ]),
        };
        let Some(got) = actor
            .call(&command, FIFO_BLOCK_S * 1000 + REPLY_TIMEOUT_MS)
            .await
        else {
            return;
        };
        if !actor.expect(&command, &want, &got) {
            return;
        }
    }
}

/// The FIFO probes' producer: two elements in one push, once both waiters are blocked.
pub async fn pusher(actor: &mut Actor, params: &Params) {
    for (round, probe) in params.fifo.iter().enumerate() {
        let start_ms = FIFO_START_MS + round as u64 * FIFO_GAP_MS;
        actor.session.sleep_until_ms(start_ms + FIFO_PUSH_MS).await;
        let key = format!("fifo:{round}");
        let (first, second) = (format!("{key}:e1"), format!("{key}:e2"));
        let command = match probe.kind {
            FifoKind::Bzpopmin => args(&["ZADD", &key, "1", &first, "2", &second]),
            _ => args(&["RPUSH", &key, &first, &second]),
        };
        if !actor.call_expect(&command, &Want::Int(2)).await {
            return;
        }
    }
}

/// Once producers and consumers are done: what is left in each queue and own list.
pub async fn auditor(actor: &mut Actor, params: &Params) {
    while actor.board.borrow().queue_hosts_left > 0 {
        if actor.failed() {
            return;
        }
        actor.session.sleep_ms(50).await;
    }
    let mut queues = BTreeMap::new();
    for key in LIST_QUEUES {
        let Some(items) = read_list(actor, &args(&["LRANGE", key, "0", "-1"])).await else {
            return;
        };
        queues.insert(Bytes::from_static(key.as_bytes()), items);
    }
    let Some(items) = read_list(actor, &args(&["ZRANGE", ZSET_QUEUE, "0", "-1"])).await else {
        return;
    };
    queues.insert(Bytes::from_static(ZSET_QUEUE.as_bytes()), items);
    let mut own = BTreeMap::new();
    for consumer in 0..params.spec.consumers {
        let key = format!("own:{consumer}");
        let Some(items) = read_list(actor, &args(&["LRANGE", &key, "0", "-1"])).await else {
            return;
        };
        own.insert(consumer, items);
    }
    let verdict = actor.board.borrow().queues.finish(&queues, &own);
    if let Err(detail) = verdict {
        actor.fail(detail);
    }
}

async fn read_list(actor: &mut Actor, command: &[Bytes]) -> Option<Vec<Bytes>> {
    let got = actor.call(command, REPLY_TIMEOUT_MS).await?;
    let items: Option<Vec<Bytes>> = match &got {
        Frame::Array(items) => items
            .iter()
            .map(|item| match item {
                Frame::Bulk(bytes) => Some(bytes.clone()),
                _ => None,
            })
            .collect(),
        _ => None,
    };
    if items.is_none() {
        actor.fail(format!("{} replied {}", render(command), show_any(&got)));
    }
    items
}
