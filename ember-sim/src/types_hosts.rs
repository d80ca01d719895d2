//! The types world's hosts: which there are, what they share (`Actor`), and the data
//! clients. Queue hosts live in `queue_hosts.rs`, pub/sub hosts in `pubsub_hosts.rs`.
//!
//! A data client sets the small encoding thresholds, then sends its seeded batches: plain
//! pipelines, each reply checked against its `Store`, and transactions, where every queued
//! command must answer QUEUED and EXEC must answer the model's replies in order, or nil
//! when the client broke its own WATCH, or EXECABORT after a command failed to queue.

use std::cell::RefCell;
use std::rc::Rc;

use bytes::Bytes;
use ember_proto::Frame;

use crate::checkers::replies::{check, show_any, Want};
use crate::collections::Store;
use crate::collections_workload::{words, Batch, CollectionsWorkload, Transaction};
use crate::session::Session;
use crate::types_world::{Board, Params, THRESHOLD_NAMES};
use crate::world::{self, NODE_HOST, NODE_PORT};
use crate::{pubsub_hosts, queue_hosts};

/// How long an ordinary reply may take; latencies are a few milliseconds.
pub const REPLY_TIMEOUT_MS: u64 = 2_000;

/// One host of the types world.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Host {
    Data(usize),
    Producer(usize),
    Consumer(usize),
    /// The two consumers of the FIFO probes.
    Waiter(usize),
    /// The FIFO probes' producer.
    Pusher,
    Subscriber(usize),
    Publisher,
    /// Reads what is left in the queues once producers and consumers are done.
    Auditor,
}

impl Host {
    pub fn name(&self) -> String {
        match self {
            Host::Data(index) => format!("data{index}"),
            Host::Producer(index) => format!("producer{index}"),
            Host::Consumer(index) => format!("consumer{index}"),
            Host::Waiter(index) => format!("waiter{index}"),
            Host::Pusher => "pusher".to_string(),
            Host::Subscriber(index) => format!("subscriber{index}"),
            Host::Publisher => "publisher".to_string(),
            Host::Auditor => "auditor".to_string(),
        }
    }
}

/// Every host `params` asks for.
pub fn hosts(params: &Params) -> Vec<Host> {
    let spec = &params.spec;
    let mut hosts: Vec<Host> = (0..spec.data).map(Host::Data).collect();
    hosts.extend((0..spec.producers).map(Host::Producer));
    hosts.extend((0..spec.consumers).map(Host::Consumer));
    if spec.fifo > 0 {
        hosts.extend([Host::Waiter(0), Host::Waiter(1), Host::Pusher]);
    }
    hosts.extend((0..spec.subscribers).map(Host::Subscriber));
    hosts.extend([Host::Publisher, Host::Auditor]);
    hosts
}

/// A connected host: its name, its session and the board it reports to.
pub struct Actor {
    pub name: String,
    pub session: Session,
    pub board: Rc<RefCell<Board>>,
}

/// Runs one host to its end; failures go to the board.
pub async fn run(host: Host, params: Params, board: Rc<RefCell<Board>>) {
    let name = host.name();
    let resp3 = match host {
        Host::Data(index) => params.data_resp3[index],
        Host::Consumer(index) => params.consumer_resp3[index],
        Host::Subscriber(index) => params.subscriber_resp3[index],
        Host::Waiter(index) => index == 1,
        _ => false,
    };
    let session = match Session::open(params.seed, &name, NODE_HOST, NODE_PORT, resp3).await {
        Ok(session) => session,
        Err(error) => {
            board
                .borrow_mut()
                .fail(&name, 0, format!("could not connect: {error}"));
            return;
        }
    };
    let mut actor = Actor {
        name,
        session,
        board: board.clone(),
    };
    match host {
        Host::Data(index) => data(&mut actor, &params, index).await,
        Host::Producer(index) => queue_hosts::producer(&mut actor, &params, index).await,
        Host::Consumer(index) => queue_hosts::consumer(&mut actor, &params, index).await,
        Host::Waiter(index) => queue_hosts::waiter(&mut actor, &params, index).await,
        Host::Pusher => queue_hosts::pusher(&mut actor, &params).await,
        Host::Auditor => queue_hosts::auditor(&mut actor, &params).await,
        Host::Subscriber(index) => pubsub_hosts::subscriber(&mut actor, &params, index).await,
        Host::Publisher => pubsub_hosts::publisher(&mut actor, &params).await,
    }
    if matches!(host, Host::Producer(_) | Host::Consumer(_)) {
        board.borrow_mut().queue_hosts_left -= 1;
    }
}

impl Actor {
    pub fn failed(&self) -> bool {
        self.board.borrow().failure.is_some()
    }

    pub fn fail(&self, detail: String) {
        let at_ms = self.session.now_ms();
        self.board.borrow_mut().fail(&self.name, at_ms, detail);
    }

    pub fn record(&self, args: &[Bytes], frame: &Frame) {
        let at_ms = self.session.now_ms();
        self.board
            .borrow_mut()
            .record(&self.name, at_ms, args, &show_any(frame));
    }

    /// Sends `args`, waits for the reply and records it; None (and a failure) if none came.
    pub async fn call(&mut self, args: &[Bytes], timeout_ms: u64) -> Option<Frame> {
        match self.session.call(args, timeout_ms).await {
            Ok(frame) => {
                self.record(args, &frame);
                Some(frame)
            }
            Err(error) => {
                self.fail(format!("{}: {error}", render(args)));
                None
            }
        }
    }

    /// Reads the reply to `args`, already sent, and records it.
    pub async fn read(&mut self, args: &[Bytes], timeout_ms: u64) -> Option<Frame> {
        match self.session.read(timeout_ms).await {
            Ok(frame) => {
                self.record(args, &frame);
                Some(frame)
            }
            Err(error) => {
                self.fail(format!("{}: {error}", render(args)));
                None
            }
        }
    }

    /// Checks `got` against `want`; false (and a failure) if they differ.
    pub fn expect(&self, args: &[Bytes], want: &Want, got: &Frame) -> bool {
        match check(want, got, self.session.resp3) {
            Ok(()) => true,
            Err(detail) => {
                let protocol = if self.session.resp3 { 3 } else { 2 };
                self.fail(format!(
                    "mismatch (resp{protocol}) {}: {detail}",
                    render(args)
                ));
                false
            }
        }
    }

    /// Sends `args` and checks the reply is `want`.
    pub async fn call_expect(&mut self, args: &[Bytes], want: &Want) -> bool {
        match self.call(args, REPLY_TIMEOUT_MS).await {
            Some(got) => self.expect(args, want, &got),
            None => false,
        }
    }

    /// Sends `commands` in one write; false (and a failure) if the write failed.
    pub async fn send(&mut self, commands: &[Vec<Bytes>]) -> bool {
        match self.session.send(commands).await {
            Ok(()) => true,
            Err(error) => {
                self.fail(format!("{}: {error}", render(&commands[0])));
                false
            }
        }
    }
}

/// A data client: encoding thresholds first, then `ops` commands.
async fn data(actor: &mut Actor, params: &Params, index: usize) {
    for (name, value) in THRESHOLD_NAMES.iter().zip(params.thresholds) {
        let args = args(&["CONFIG", "SET", name, &value.to_string()]);
        if !actor.call_expect(&args, &Want::Status("OK")).await {
            return;
        }
    }
    let stream = world::stream(params.seed, &format!("data-{index}"));
    let mut workload = CollectionsWorkload::new(stream, index);
    let mut store = Store::default();
    let mut sent = 0;
    while sent < params.spec.ops && !actor.failed() {
        actor.session.sleep_ms(workload.think_ms()).await;
        let batch = workload.next_batch(&store);
        sent += CollectionsWorkload::sent(&batch);
        let done = match batch {
            Batch::Plain(commands) => plain(actor, &mut store, &commands).await,
            Batch::Transaction(tx) => transaction(actor, &mut store, &tx).await,
        };
        if !done {
            return;
        }
    }
}

async fn plain(actor: &mut Actor, store: &mut Store, commands: &[Vec<Bytes>]) -> bool {
    if !actor.send(commands).await {
        return false;
    }
    for command in commands {
        let Some(got) = actor.read(command, REPLY_TIMEOUT_MS).await else {
            return false;
        };
        let want = store.apply(command);
        if !actor.expect(command, &want, &got) {
            return false;
        }
    }
    true
}

/// WATCH? touch? MULTI commands... bad? EXEC|DISCARD, sent as one pipeline.
async fn transaction(actor: &mut Actor, store: &mut Store, tx: &Transaction) -> bool {
    let mut commands: Vec<Vec<Bytes>> = Vec::new();
    commands.extend(tx.watch.iter().map(|key| words("WATCH", [key.clone()])));
    commands.extend(tx.touch.iter().cloned());
    commands.push(words("MULTI", []));
    commands.extend(tx.commands.iter().cloned());
    let bad = words("LPUSH", [Bytes::from_static(b"d:arity")]);
    if tx.bad_arity {
        commands.push(bad.clone());
    }
    commands.push(words(if tx.discard { "DISCARD" } else { "EXEC" }, []));
    if !actor.send(&commands).await {
        return false;
    }
    let mut replies = Vec::with_capacity(commands.len());
    for command in &commands {
        match actor.read(command, REPLY_TIMEOUT_MS).await {
            Some(frame) => replies.push(frame),
            None => return false,
        }
    }
    let mut replies = commands.iter().zip(&replies);
    let mut next = || replies.next().expect("one reply per command");
    let mut snapshot = None;
    if let Some(key) = &tx.watch {
        let (command, got) = next();
        if !actor.expect(command, &Want::Status("OK"), got) {
            return false;
        }
        snapshot = Some(store.get(key).cloned());
    }
    if let Some(touch) = &tx.touch {
        let (command, got) = next();
        if !actor.expect(touch, &store.apply(command), got) {
            return false;
        }
    }
    let (command, got) = next();
    if !actor.expect(command, &Want::Status("OK"), got) {
        return false;
    }
    for _ in 0..tx.commands.len() {
        let (command, got) = next();
        if !actor.expect(command, &Want::Status("QUEUED"), got) {
            return false;
        }
    }
    if tx.bad_arity {
        let (command, got) = next();
        let want = Want::Error("ERR wrong number of arguments for 'lpush' command".into());
        if !actor.expect(command, &want, got) {
            return false;
        }
    }
    let (command, got) = next();
    let broken = match (&tx.watch, snapshot) {
        (Some(key), Some(before)) => store.get(key).cloned() != before,
        _ => false,
    };
    let want = if tx.discard {
        Want::Status("OK")
    } else if tx.bad_arity {
        Want::Error("EXECABORT Transaction discarded because of previous errors.".into())
    } else if broken {
        actor.board.borrow_mut().aborted += 1;
        Want::NilArray
    } else {
        actor.board.borrow_mut().committed += 1;
        Want::Array(tx.commands.iter().map(|c| store.apply(c)).collect())
    };
    actor.expect(command, &want, got)
}

/// Arguments from text.
pub fn args(words: &[&str]) -> Vec<Bytes> {
    words
        .iter()
        .map(|word| Bytes::copy_from_slice(word.as_bytes()))
        .collect()
}

/// A command as a readable line.
pub fn render(args: &[Bytes]) -> String {
    crate::client::render_args(args)
}
