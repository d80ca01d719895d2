//! A cluster-aware client, as redis-py's RedisCluster or `redis-cli -c` behave: it keeps a
//! slot map from CLUSTER SLOTS, follows MOVED (updating the map) and ASK (ASKING, then the
//! command, at the named node), backs off on TRYAGAIN, CLUSTERDOWN and LOADING, and finds
//! another node when one is down. It runs a seeded mix of commands over keys only it
//! touches, one at a time, and checks every reply against its model (`cluster_model`).
//!
//! What it holds the cluster to (`checkers::redirects` judges the hops):
//! - every reply is one the model admits, whichever node served it;
//! - a redirection names a node of the cluster, and chains of them end: a command is
//!   served within a few hops once the cluster is calm (converged, no faults), and never
//!   bounces without end in between;
//! - once calm, every command is served, and no reply is lost.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use ember_net::Env;
use ember_node::slot::key_slot;
use ember_proto::Frame;
use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::checkers::linearizable::show;
use crate::checkers::redirects::{Hops, Redirect};
use crate::cluster_link::{args, error_text, render, Link, LinkError};
use crate::cluster_model::{pair_matches, show_value, Model};
use crate::cluster_world::{Board, ClientPhase};
use crate::world::EPOCH_UNIX_MS;

/// How long one exchange may take; longer than a MIGRATE holds a key.
const REQUEST_TIMEOUT_MS: u64 = 2_000;
/// How long a command may be retried before it is given up.
const OP_DEADLINE_MS: u64 = 30_000;
/// Backoff after a refusal (TRYAGAIN, CLUSTERDOWN, LOADING) or an unreachable node.
const BACKOFF_MS_MIN: u64 = 5;
const BACKOFF_MS_MAX: u64 = 200;
/// Think time between commands.
const THINK_MS_MAX: u64 = 4;
/// Recent exchanges kept to explain a failure.
const HISTORY_LEN_MAX: usize = 64;

/// Everything a client host needs, fixed before the run.
pub struct ClientSetup {
    pub index: usize,
    pub seed: u64,
    /// How many keys of each kind the client owns.
    pub keys: usize,
    pub rng: ChaCha8Rng,
    /// Every node's client address, to start from and to fall back on.
    pub nodes: Vec<SocketAddr>,
    pub board: Rc<RefCell<Board>>,
}

/// The keys of client `index`: strings, counters and pairs (two keys of one hash tag).
pub struct Keys {
    pub strings: Vec<Bytes>,
    pub counters: Vec<Bytes>,
    pub pairs: Vec<(Bytes, Bytes)>,
}

/// What became of one command.
enum Outcome {
    Served(Frame),
    /// Sent, but no reply came: it may have run.
    InDoubt(String),
    /// Never run: every attempt was refused or could not be sent.
    GivenUp(String),
    /// The run has already failed.
    Failed,
}

/// What a command does to the model.
#[derive(Clone, Debug)]
enum Op {
    Set(Bytes, Bytes),
    Get(Bytes),
    Del(Bytes),
    Incr(Bytes),
    GetCounter(Bytes),
    SetPair(Bytes, Bytes, Bytes),
    GetPair(Bytes, Bytes),
    DelPair(Bytes, Bytes),
}

struct Client {
    setup: ClientSetup,
    env: Env,
    keys: Keys,
    model: Model,
    /// Slot -> the node serving it, as far as this client knows.
    slots: Vec<Option<SocketAddr>>,
    links: BTreeMap<SocketAddr, Link>,
    sequence: u64,
    history: VecDeque<String>,
}

impl Keys {
    pub fn of(index: usize, count: usize) -> Keys {
        let name = |text: String| Bytes::from(text);
        Keys {
            strings: (0..count).map(|j| name(format!("s{index}:{j}"))).collect(),
            counters: (0..count).map(|j| name(format!("n{index}:{j}"))).collect(),
            pairs: (0..count)
                .map(|j| {
                    let tag = format!("{{p{index}:{j}}}");
                    (name(format!("{tag}a")), name(format!("{tag}b")))
                })
                .collect(),
        }
    }

    /// Every key, pairs as two.
    pub fn all(&self) -> impl Iterator<Item = &Bytes> {
        self.strings
            .iter()
            .chain(&self.counters)
            .chain(self.pairs.iter().flat_map(|(a, b)| [a, b]))
    }
}

/// The client host's life: wait for the start, run commands until told to stop, then
/// hand the model over for the census.
pub async fn run(setup: ClientSetup) -> turmoil::Result {
    let host = format!("client{}", setup.index);
    let env = Env::simulation(
        setup.seed,
        &host,
        ember_net::SimDisk::new(setup.seed),
        1,
        EPOCH_UNIX_MS,
    );
    let keys = Keys::of(setup.index, setup.keys);
    let pair_keys = keys.pairs.iter().flat_map(|(a, b)| [a.clone(), b.clone()]);
    let strings: Vec<Bytes> = keys.strings.iter().cloned().chain(pair_keys).collect();
    let model = Model::new(&strings, &keys.counters);
    let mut client = Client {
        setup,
        env,
        keys,
        model,
        slots: vec![None; usize::from(ember_node::slot::SLOT_COUNT)],
        links: BTreeMap::new(),
        sequence: 0,
        history: VecDeque::new(),
    };
    loop {
        let phase = client.setup.board.borrow().clients;
        match phase {
            ClientPhase::Waiting => client.sleep_ms(10).await,
            ClientPhase::Running if !client.failed() => client.one_op().await,
            ClientPhase::Running | ClientPhase::Stopping => break,
        }
    }
    let mut board = client.setup.board.borrow_mut();
    board
        .models
        .insert(client.setup.index, client.model.clone());
    Ok(())
}

impl Client {
    fn now_ms(&self) -> u64 {
        self.env.unix_ms() - EPOCH_UNIX_MS
    }

    fn failed(&self) -> bool {
        self.setup.board.borrow().failure.is_some()
    }

    fn calm(&self) -> bool {
        self.setup.board.borrow().calm
    }

    async fn sleep_ms(&self, ms: u64) {
        self.env.sleep(Duration::from_millis(ms)).await;
    }

    fn fail(&self, detail: String) {
        let at_ms = self.now_ms();
        let who = format!("client{}", self.setup.index);
        self.setup.board.borrow_mut().fail(&who, at_ms, detail);
    }

    fn remember(&mut self, line: String) {
        if self.history.len() == HISTORY_LEN_MAX {
            self.history.pop_front();
        }
        self.history.push_back(line);
    }

    /// The recent exchanges that name `key`, for a failure report.
    fn explain(&self, key: &Bytes) -> String {
        let needle = String::from_utf8_lossy(key).into_owned();
        let lines: Vec<&str> = self
            .history
            .iter()
            .filter(|line| line.contains(&needle))
            .map(String::as_str)
            .collect();
        format!("  history of {needle}:\n    {}", lines.join("\n    "))
    }

    fn next_value(&mut self) -> Bytes {
        self.sequence += 1;
        Bytes::from(format!("c{}-{}", self.setup.index, self.sequence))
    }

    fn pick_string(&mut self) -> Bytes {
        let index = self.setup.rng.gen_range(0..self.keys.strings.len());
        self.keys.strings[index].clone()
    }

    fn pick_counter(&mut self) -> Bytes {
        let index = self.setup.rng.gen_range(0..self.keys.counters.len());
        self.keys.counters[index].clone()
    }

    fn pick_pair(&mut self) -> (Bytes, Bytes) {
        let index = self.setup.rng.gen_range(0..self.keys.pairs.len());
        self.keys.pairs[index].clone()
    }

    fn draw(&mut self) -> Op {
        match self.setup.rng.gen_range(0..100) {
            0..=29 => {
                let key = self.pick_string();
                Op::Set(key, self.next_value())
            }
            30..=51 => Op::Get(self.pick_string()),
            52..=57 => Op::Del(self.pick_string()),
            58..=70 => Op::Incr(self.pick_counter()),
            71..=77 => Op::GetCounter(self.pick_counter()),
            78..=87 => {
                let (a, b) = self.pick_pair();
                Op::SetPair(a, b, self.next_value())
            }
            88..=96 => {
                let (a, b) = self.pick_pair();
                Op::GetPair(a, b)
            }
            _ => {
                let (a, b) = self.pick_pair();
                Op::DelPair(a, b)
            }
        }
    }

    /// Draws one command, runs it and checks the outcome against the model.
    async fn one_op(&mut self) {
        let think_ms = self.setup.rng.gen_range(0..=THINK_MS_MAX);
        self.sleep_ms(think_ms).await;
        let op = self.draw();
        let (command, key) = command(&op);
        let sent_ms = self.now_ms();
        let calm_before = self.calm();
        let outcome = self.request(command.clone(), key_slot(&key)).await;
        let now_ms = self.now_ms();
        let calm = calm_before && self.calm();
        let shown = match &outcome {
            Outcome::Served(frame) => show(frame),
            Outcome::InDoubt(why) => format!("(in doubt: {why})"),
            Outcome::GivenUp(why) => format!("(given up: {why})"),
            Outcome::Failed => return,
        };
        let line = format!("{sent_ms}..{now_ms} ms {} -> {shown}", render(&command));
        self.record(&command, &shown);
        self.remember(line.clone());
        let verdict = match outcome {
            Outcome::Served(frame) => self.served(&op, &frame, now_ms),
            Outcome::InDoubt(why) if calm => Err(format!("a reply was lost while calm: {why}")),
            Outcome::GivenUp(why) if calm => Err(format!("not served while calm: {why}")),
            Outcome::InDoubt(_) => {
                self.in_doubt(&op, sent_ms, now_ms);
                self.setup.board.borrow_mut().stats.in_doubt += 1;
                Ok(())
            }
            Outcome::GivenUp(_) => {
                self.setup.board.borrow_mut().stats.given_up += 1;
                Ok(())
            }
            Outcome::Failed => unreachable!("returned above"),
        };
        if let Err(detail) = verdict {
            let history = self.explain(&key);
            self.fail(format!("{line}\n  {detail}\n{history}"));
        }
    }

    fn record(&self, command: &[Bytes], shown: &str) {
        let client = self.setup.index.to_string();
        let mut fields: Vec<&[u8]> = vec![b"client", client.as_bytes()];
        fields.extend(command.iter().map(|arg| &arg[..]));
        fields.push(shown.as_bytes());
        let now_ms = self.now_ms();
        let mut board = self.setup.board.borrow_mut();
        board.note(now_ms, &fields);
        board.stats.served += 1;
    }

    /// Checks a served reply and moves the model on.
    fn served(&mut self, op: &Op, frame: &Frame, now_ms: u64) -> Result<(), String> {
        let model = &mut self.model;
        match (op, frame) {
            (Op::Set(key, value), Frame::Simple(ok)) if &ok[..] == b"OK" => {
                model.string(key).acknowledged(Some(value.clone()), now_ms);
                Ok(())
            }
            (Op::Get(key), reply) => model.string(key).read(bulk_or_nil(reply)?, now_ms),
            (Op::Del(key), Frame::Integer(removed)) => model.string(key).deleted(*removed, now_ms),
            (Op::Incr(key), Frame::Integer(value)) => {
                model.counter(key).incremented(*value, now_ms)
            }
            (Op::GetCounter(key), reply) => {
                let value = match bulk_or_nil(reply)? {
                    None => 0,
                    Some(text) => parse_i64(&text)?,
                };
                model.counter(key).read(value, now_ms)
            }
            (Op::SetPair(a, b, value), Frame::Simple(ok)) if &ok[..] == b"OK" => {
                let (va, vb) = halves(value);
                model.string(a).acknowledged(Some(va), now_ms);
                model.string(b).acknowledged(Some(vb), now_ms);
                Ok(())
            }
            (Op::GetPair(a, b), Frame::Array(items)) if items.len() == 2 => {
                let got_a = bulk_or_nil(&items[0])?;
                let got_b = bulk_or_nil(&items[1])?;
                if !pair_matches(&got_a, &got_b) {
                    return Err(format!(
                        "MGET saw halves of different writes: {} and {}",
                        show_value(&got_a),
                        show_value(&got_b)
                    ));
                }
                model.string(a).read(got_a, now_ms)?;
                model.string(b).read(got_b, now_ms)
            }
            (Op::DelPair(a, b), Frame::Integer(removed)) if *removed == 0 || *removed == 2 => {
                model.string(a).deleted(removed / 2, now_ms)?;
                model.string(b).deleted(removed / 2, now_ms)
            }
            (_, other) => Err(format!("unexpected reply {}", show(other))),
        }
    }

    /// A write whose reply was lost may have run.
    fn in_doubt(&mut self, op: &Op, sent_ms: u64, now_ms: u64) {
        let model = &mut self.model;
        match op {
            Op::Set(key, value) => model
                .string(key)
                .in_doubt(Some(value.clone()), sent_ms, now_ms),
            Op::Del(key) => model.string(key).in_doubt(None, sent_ms, now_ms),
            Op::Incr(key) => model.counter(key).in_doubt(sent_ms, now_ms),
            Op::SetPair(a, b, value) => {
                let (va, vb) = halves(value);
                model.string(a).in_doubt(Some(va), sent_ms, now_ms);
                model.string(b).in_doubt(Some(vb), sent_ms, now_ms);
            }
            Op::DelPair(a, b) => {
                model.string(a).in_doubt(None, sent_ms, now_ms);
                model.string(b).in_doubt(None, sent_ms, now_ms);
            }
            Op::Get(_) | Op::GetCounter(_) | Op::GetPair(..) => {}
        }
    }

    /// Sends `command` for `slot` until a node serves it, following redirections.
    async fn request(&mut self, command: Vec<Bytes>, slot: u16) -> Outcome {
        let started_ms = self.now_ms();
        let mut hops = Hops::new(self.setup.nodes.clone());
        let mut target = self.target(slot);
        let mut asking = false;
        let mut backoff_ms = BACKOFF_MS_MIN;
        let mut last_refusal = String::from("no attempt");
        loop {
            if self.failed() {
                return Outcome::Failed;
            }
            if self.now_ms() - started_ms > OP_DEADLINE_MS {
                // Every attempt so far was refused or never sent: the command did not run.
                return Outcome::GivenUp(last_refusal);
            }
            let mut commands = Vec::with_capacity(2);
            if asking {
                commands.push(args(&["ASKING"]));
            }
            commands.push(command.clone());
            let replies = match self.exchange(target, &commands).await {
                Ok(replies) => replies,
                Err(LinkError::NotSent(why)) => {
                    last_refusal = why;
                    self.backoff(&mut backoff_ms).await;
                    self.refresh_slots().await;
                    target = self.target(slot);
                    asking = false;
                    continue;
                }
                Err(LinkError::Lost(why)) => {
                    // The command may have run, so it is not sent again.
                    return Outcome::InDoubt(why);
                }
            };
            let reply = replies.last().expect("one reply per command").clone();
            let Some(text) = error_text(&reply) else {
                return Outcome::Served(reply);
            };
            let redirect = Redirect::parse(&text);
            match redirect {
                Some(Redirect::Moved { slot: moved, .. })
                | Some(Redirect::Ask { slot: moved, .. })
                    if moved != slot =>
                {
                    self.fail(format!(
                        "{text}: redirected for slot {moved}, asked for {slot}"
                    ));
                    return Outcome::Failed;
                }
                Some(Redirect::Moved { to, .. }) => {
                    self.slots[usize::from(slot)] = Some(to);
                    target = to;
                    asking = false;
                }
                Some(Redirect::Ask { to, .. }) => {
                    target = to;
                    asking = true;
                }
                None if is_refusal(&text) => {
                    self.count_refusal(&text);
                    last_refusal = text;
                    asking = false;
                    self.backoff(&mut backoff_ms).await;
                    target = self.target(slot);
                    continue;
                }
                None => {
                    self.fail(format!("{} -> unexpected error {text}", render(&command)));
                    return Outcome::Failed;
                }
            }
            let calm = self.calm();
            if let Err(detail) = hops.follow(redirect.expect("a redirection"), calm) {
                self.fail(format!("{} -> {detail}", render(&command)));
                return Outcome::Failed;
            }
            self.count_redirect(asking);
            if hops.count() > 2 {
                self.backoff(&mut backoff_ms).await;
            }
        }
    }

    fn count_redirect(&self, ask: bool) {
        let mut board = self.setup.board.borrow_mut();
        if ask {
            board.stats.asks += 1;
        } else {
            board.stats.moved += 1;
        }
    }

    fn count_refusal(&self, text: &str) {
        let mut board = self.setup.board.borrow_mut();
        if text.starts_with("TRYAGAIN") {
            board.stats.tryagain += 1;
        } else {
            board.stats.clusterdown += 1;
        }
    }

    async fn backoff(&self, backoff_ms: &mut u64) {
        self.sleep_ms(*backoff_ms).await;
        *backoff_ms = (*backoff_ms * 2).min(BACKOFF_MS_MAX);
    }

    /// Where to send a command for `slot`: the map's node, or any node.
    fn target(&mut self, slot: u16) -> SocketAddr {
        match self.slots[usize::from(slot)] {
            Some(addr) => addr,
            None => *self
                .setup
                .nodes
                .choose(&mut self.setup.rng)
                .expect("a cluster has nodes"),
        }
    }

    /// One exchange with `addr` over a cached connection, opened if need be.
    async fn exchange(
        &mut self,
        addr: SocketAddr,
        commands: &[Vec<Bytes>],
    ) -> Result<Vec<Frame>, LinkError> {
        if !self.links.contains_key(&addr) {
            let link = Link::open(&self.env, addr)
                .await
                .map_err(LinkError::NotSent)?;
            self.links.insert(addr, link);
        }
        let link = self.links.get_mut(&addr).expect("just opened");
        let result = link.exchange(&self.env, commands, REQUEST_TIMEOUT_MS).await;
        if result.is_err() {
            self.links.remove(&addr);
        }
        result
    }

    /// Rebuilds the slot map from the first node that answers CLUSTER SLOTS.
    async fn refresh_slots(&mut self) {
        let mut nodes = self.setup.nodes.clone();
        nodes.shuffle(&mut self.setup.rng);
        for addr in nodes {
            let Ok(replies) = self.exchange(addr, &[args(&["CLUSTER", "SLOTS"])]).await else {
                continue;
            };
            if let Some(map) = parse_slots(&replies[0]) {
                self.slots = map;
                return;
            }
        }
    }
}

/// The command an op sends, and the key that decides its slot.
fn command(op: &Op) -> (Vec<Bytes>, Bytes) {
    let word = |text: &'static str| Bytes::from_static(text.as_bytes());
    match op {
        Op::Set(key, value) => (vec![word("SET"), key.clone(), value.clone()], key.clone()),
        Op::Get(key) | Op::GetCounter(key) => (vec![word("GET"), key.clone()], key.clone()),
        Op::Del(key) => (vec![word("DEL"), key.clone()], key.clone()),
        Op::Incr(key) => (vec![word("INCR"), key.clone()], key.clone()),
        Op::SetPair(a, b, value) => {
            let (va, vb) = halves(value);
            (vec![word("MSET"), a.clone(), va, b.clone(), vb], a.clone())
        }
        Op::GetPair(a, b) => (vec![word("MGET"), a.clone(), b.clone()], a.clone()),
        Op::DelPair(a, b) => (vec![word("DEL"), a.clone(), b.clone()], a.clone()),
    }
}

/// The two values one MSET of a pair writes.
fn halves(value: &Bytes) -> (Bytes, Bytes) {
    let half = |suffix: &str| Bytes::from([&value[..], suffix.as_bytes()].concat());
    (half("a"), half("b"))
}

/// Errors that say the command did not run and may be sent again.
fn is_refusal(text: &str) -> bool {
    ["TRYAGAIN", "CLUSTERDOWN", "LOADING"]
        .iter()
        .any(|prefix| text.starts_with(prefix))
}

fn bulk_or_nil(frame: &Frame) -> Result<Option<Bytes>, String> {
    match frame {
        Frame::Bulk(bytes) => Ok(Some(bytes.clone())),
        Frame::Null => Ok(None),
        other => Err(format!(
            "expected a bulk string or nil, got {}",
            show(other)
        )),
    }
}

fn parse_i64(bytes: &Bytes) -> Result<i64, String> {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| format!("{bytes:?} is not an integer"))
}

/// CLUSTER SLOTS as a slot -> node map; None if the reply is not well formed.
pub fn parse_slots(frame: &Frame) -> Option<Vec<Option<SocketAddr>>> {
    let Frame::Array(ranges) = frame else {
        return None;
    };
    let mut map = vec![None; usize::from(ember_node::slot::SLOT_COUNT)];
    for range in ranges {
        let Frame::Array(fields) = range else {
            return None;
        };
        let (Some(Frame::Integer(start)), Some(Frame::Integer(end)), Some(Frame::Array(master))) =
            (fields.first(), fields.get(1), fields.get(2))
        else {
            return None;
        };
        let (Some(Frame::Bulk(ip)), Some(Frame::Integer(port))) = (master.first(), master.get(1))
        else {
            return None;
        };
        let ip: IpAddr = std::str::from_utf8(ip).ok()?.parse().ok()?;
        let addr = SocketAddr::new(ip, u16::try_from(*port).ok()?);
        let start = usize::try_from(*start).ok()?;
        let end = usize::try_from(*end).ok()?;
        if start > end || end >= map.len() {
            return None;
        }
        map[start..=end].fill(Some(addr));
    }
    Some(map)
}
