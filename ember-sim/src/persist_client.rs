//! The persist world's hosts: writer clients and the admin.
//!
//! A writer owns a few keys of each kind (`write_log`) and sends seeded pipelines of RPUSH,
//! SET, INCRBY and MSET, every value new, noting when each write was sent and when its
//! acknowledgement arrived; every reply must be the one its own earlier writes predict.
//! When it reaches a node of a newer generation (one that restarted) it first reads every
//! key back and judges the recovered state against what it wrote:
//! - `recovered_prefix`: under every policy, each key holds a prefix of its writes;
//! - `acknowledged`: under `always`, no acknowledged write is missing, and after a clean
//!   exit on SHUTDOWN none is under any policy (with `shutdown=before`, none acknowledged
//!   before the SHUTDOWN was sent);
//! - `everysec_window`: under `everysec`, none acknowledged a second or more before the
//!   crash is missing.
//!
//! Then the recovered state becomes the base for later writes. Once the world is healed
//! it reads everything back a last time with no crash in between, when every
//! acknowledged write must be there whatever the policy.
//!
//! The admin sends the BGSAVE, BGREWRITEAOF and SHUTDOWN requests the world queues.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use ember_net::{Env, SimDisk};
use ember_proto::Frame;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::checkers::linearizable::show;
use crate::checkers::lost_connections::Loss;
use crate::checkers::{acknowledged, everysec_window, recovered_prefix};
use crate::client::render_args;
use crate::persist_faults::AdminOrder;
use crate::persist_world::Board;
use crate::scenario::{Policy, ShutdownCheck};
use crate::session::Session;
use crate::world::{EPOCH_UNIX_MS, NODE_HOST, NODE_PORT};
use crate::write_log::{KeyKind, KeyLog, KeyState};

/// Keys of each kind a writer owns.
const LISTS: usize = 2;
const STRINGS: usize = 3;
const COUNTERS: usize = 1;
/// The most commands in one pipeline.
const PIPELINE_MAX: usize = 3;
/// Pause between a writer's pipelines.
const THINK_MS_MAX: u64 = 12;
/// How often a value is padded, and by how much at most.
const PADDED_PROBABILITY: f64 = 0.1;
const PADDING_BYTES_MAX: usize = 6_000;
/// How long a reply may take while the node is up.
const REPLY_TIMEOUT_MS: u64 = 1_000;
/// Backoff between connection attempts, and between read-backs answered -LOADING.
const BACKOFF_MS_MIN: u64 = 5;
const BACKOFF_MS_MAX: u64 = 80;
/// How often the admin looks for requests.
const ADMIN_POLL_MS: u64 = 5;
/// The most read-back attempts of the final check; each waits at least one backoff.
const FINAL_ATTEMPTS_MAX: usize = 200;

/// Everything a writer needs, fixed before the run starts.
pub struct WriterSetup {
    pub index: usize,
    pub seed: u64,
    pub policy: Policy,
    /// Write commands to send at least; a persist writer goes on until the world is healed.
    pub writes: usize,
    pub rng: ChaCha8Rng,
    pub reconnect_deadline_ms: u64,
    pub shutdown: ShutdownCheck,
    pub board: Rc<RefCell<Board>>,
}

/// How a read-back is judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Judge {
    /// The generation the logs describe ended (crash or stop) at this instant.
    AfterCrash(u64),
    /// It ended with a clean exit on SHUTDOWN (then a crash of the machine); writes
    /// acknowledged by this instant must be there, or all of them if None.
    AfterShutdown(Option<u64>),
    /// The node has not restarted since the logs' base was read.
    NoCrash,
}

/// What one read-back attempt came to.
enum ReadBack {
    Judged,
    /// The node answered -LOADING or the connection went; try again later.
    Retry,
    Failed,
}

/// One command of a pipeline: what it must reply, and the writes it acknowledges.
struct Sent {
    args: Vec<Bytes>,
    expected: Frame,
    writes: Vec<(usize, usize)>,
}

/// A writer's state: its keys' logs, its connection and the generation it was opened in.
/// The bit-rot world drives one through its own phases.
pub(crate) struct Writer {
    pub(crate) setup: WriterSetup,
    env: Env,
    host: String,
    pub(crate) keys: Vec<KeyLog>,
    session: Option<(Session, u64)>,
    /// The generation whose state the keys' confirmed states describe.
    verified: u64,
    pub(crate) sent: usize,
    next_value: u64,
}

/// A writer host's whole life: writes until it has sent its count and the world is healed
/// (so that every crash lands among writes), then the final read-back.
pub async fn run(setup: WriterSetup) -> turmoil::Result {
    let mut writer = Writer::new(setup);
    while !writer.failed() && (writer.sent < writer.setup.writes || !writer.healed()) {
        let think_ms = writer.setup.rng.gen_range(0..=THINK_MS_MAX);
        writer.sleep_ms(think_ms).await;
        if !writer.connect().await {
            return Ok(());
        }
        if writer.generation() != writer.verified {
            let judge = writer.judge_after_end();
            writer.read_back(judge).await;
            continue;
        }
        writer.write_batch().await;
    }
    writer.finish().await;
    Ok(())
}

/// The admin host: sends each queued BGSAVE, BGREWRITEAOF or SHUTDOWN on a fresh
/// connection, until the world is healed. Any reply will do (a save may already run, the
/// node may be loading, SHUTDOWN closes the connection); a connection that fails drops the
/// request, and so does a restart: a request is for the generation it was made in.
pub async fn admin(seed: u64, board: Rc<RefCell<Board>>) -> turmoil::Result {
    let env = Env::simulation(seed, "admin", SimDisk::new(seed), 1, EPOCH_UNIX_MS);
    loop {
        let order = board.borrow_mut().admin_orders.pop_front();
        let Some((generation, order)) = order else {
            if board.borrow().healed || board.borrow().failure.is_some() {
                return Ok(());
            }
            env.sleep(Duration::from_millis(ADMIN_POLL_MS)).await;
            continue;
        };
        if board.borrow().generation != generation {
            continue;
        }
        let name = order.name();
        let Ok(mut session) = Session::open(seed, "admin", NODE_HOST, NODE_PORT, false).await
        else {
            continue;
        };
        if order == AdminOrder::Shutdown {
            let sent_ms = session.now_ms();
            board
                .borrow_mut()
                .shutdown_sent_ms
                .insert(generation, sent_ms);
        }
        let reply = session.call(&[name], REPLY_TIMEOUT_MS).await;
        let shown = reply.as_ref().map_or_else(Clone::clone, show);
        let at_ms = session.now_ms();
        let mut board = board.borrow_mut();
        board
            .trace
            .record(at_ms, &[b"admin", name.as_bytes(), shown.as_bytes()]);
        match reply {
            Ok(Frame::Simple(_)) if order != AdminOrder::Shutdown => board.stats.saves += 1,
            Ok(Frame::Error(_)) | Err(_) => {}
            Ok(other) => board.fail("admin", at_ms, format!("{name} replied {}", show(&other))),
        }
    }
}

impl Writer {
    pub(crate) fn new(setup: WriterSetup) -> Writer {
        let host = format!("writer{}", setup.index);
        let env = Env::simulation(
            setup.seed,
            &host,
            SimDisk::new(setup.seed),
            1,
            EPOCH_UNIX_MS,
        );
        let mut keys = Vec::new();
        let kinds = [
            (KeyKind::List, "list", LISTS),
            (KeyKind::Str, "str", STRINGS),
            (KeyKind::Counter, "count", COUNTERS),
        ];
        for (kind, name, count) in kinds {
            for number in 0..count {
                let key = Bytes::from(format!("w{}:{name}:{number}", setup.index));
                keys.push(KeyLog::new(key, kind));
            }
        }
        Writer {
            setup,
            env,
            host,
            keys,
            session: None,
            verified: 0,
            sent: 0,
            next_value: 0,
        }
    }

    pub(crate) fn failed(&self) -> bool {
        self.setup.board.borrow().failure.is_some()
    }

    pub(crate) fn fail(&self, detail: String) {
        let at_ms = self.now_ms();
        self.setup
            .board
            .borrow_mut()
            .fail(&self.host, at_ms, detail);
    }

    pub(crate) fn now_ms(&self) -> u64 {
        self.env.unix_ms() - EPOCH_UNIX_MS
    }

    pub(crate) async fn sleep_ms(&self, ms: u64) {
        self.env.sleep(Duration::from_millis(ms)).await;
    }

    fn healed(&self) -> bool {
        self.setup.board.borrow().healed
    }

    /// The generation of the open connection.
    pub(crate) fn generation(&self) -> u64 {
        self.session.as_ref().expect("connected").1
    }

    /// How to judge the keys after the end of the generation they describe; a newer one
    /// exists, so it ended.
    fn judge_after_end(&self) -> Judge {
        let board = self.setup.board.borrow();
        let generation = usize::try_from(self.verified).expect("small");
        let end = board.ends[generation];
        match (end.clean, self.setup.shutdown) {
            (true, ShutdownCheck::Before) => Judge::AfterShutdown(end.shutdown_sent_ms),
            (true, _) => Judge::AfterShutdown(None),
            (false, _) => Judge::AfterCrash(end.at_ms),
        }
    }

    /// Connects unless connected, backing off between tries; false (a failure, unless one
    /// was already recorded) if no connection came within the deadline. A connection is
    /// tagged with the generation it opened in; one that spans a crash is dropped.
    pub(crate) async fn connect(&mut self) -> bool {
        if self.session.is_some() {
            return true;
        }
        let started_ms = self.now_ms();
        let mut backoff_ms = BACKOFF_MS_MIN;
        loop {
            let generation = self.setup.board.borrow().generation;
            let opened = Session::open(self.setup.seed, &self.host, NODE_HOST, NODE_PORT, false);
            if let Ok(session) = opened.await {
                if self.setup.board.borrow().generation == generation {
                    self.setup.board.borrow_mut().stats.connects += 1;
                    self.session = Some((session, generation));
                    return true;
                }
            }
            if self.failed() {
                return false;
            }
            if self.now_ms() - started_ms > self.setup.reconnect_deadline_ms {
                let deadline_ms = self.setup.reconnect_deadline_ms;
                self.fail(format!("could not connect within {deadline_ms} ms"));
                return false;
            }
            self.sleep_ms(backoff_ms).await;
            backoff_ms = (backoff_ms * 2).min(BACKOFF_MS_MAX);
        }
    }

    /// Closes the connection, if one is open.
    pub(crate) fn disconnect(&mut self) {
        self.session = None;
    }

    /// Reads one reply within `REPLY_TIMEOUT_MS`.
    async fn read_reply(&mut self) -> Result<Frame, String> {
        let (session, _) = self.session.as_mut().expect("connected");
        session.read(REPLY_TIMEOUT_MS).await
    }

    /// The connection failed: drop it and note the loss for `lost_connections`.
    fn lose(&mut self, what: String) {
        let (_, generation) = self.session.take().expect("connected");
        let loss = Loss {
            client: self.setup.index,
            generation,
            at_ms: self.now_ms(),
            what,
        };
        self.setup.board.borrow_mut().losses.push(loss);
    }

    /// Sends one seeded pipeline of writes and checks each reply as it comes.
    pub(crate) async fn write_batch(&mut self) {
        let size = self.setup.rng.gen_range(1..=PIPELINE_MAX);
        let sent_ms = self.now_ms();
        let batch: Vec<Sent> = (0..size).map(|_| self.next_write(sent_ms)).collect();
        self.sent += batch.len();
        self.setup.board.borrow_mut().stats.sent += batch.len() as u64;
        let commands: Vec<Vec<Bytes>> = batch.iter().map(|sent| sent.args.clone()).collect();
        let (session, _) = self.session.as_mut().expect("connected");
        if let Err(error) = session.send(&commands).await {
            return self.lose(format!("{}: {error}", render_args(&commands[0])));
        }
        for sent in &batch {
            let frame = match self.read_reply().await {
                Ok(frame) => frame,
                Err(error) => return self.lose(format!("{}: {error}", render_args(&sent.args))),
            };
            if !self.acknowledge(sent, &frame) {
                return;
            }
        }
    }

    /// Records a reply: the writes it acknowledges, or a failure if it is not the reply
    /// the key's own writes predict.
    fn acknowledge(&mut self, sent: &Sent, frame: &Frame) -> bool {
        let at_ms = self.now_ms();
        let shown = show(frame);
        let mut fields: Vec<&[u8]> = vec![self.host.as_bytes()];
        fields.extend(sent.args.iter().map(|arg| &arg[..]));
        fields.push(shown.as_bytes());
        self.setup.board.borrow_mut().trace.record(at_ms, &fields);
        if *frame != sent.expected {
            self.fail(format!(
                "{} replied {shown}, but its earlier writes say {}",
                render_args(&sent.args),
                show(&sent.expected)
            ));
            return false;
        }
        for &(key, write) in &sent.writes {
            self.keys[key].writes[write].acked_ms = Some(at_ms);
        }
        self.setup.board.borrow_mut().stats.acked += sent.writes.len() as u64;
        true
    }

    /// Draws the next write and notes it in the keys' logs.
    fn next_write(&mut self, sent_ms: u64) -> Sent {
        let value = self.next_value();
        let strings: Vec<usize> = self.indices(KeyKind::Str);
        let roll = self.setup.rng.gen_range(0..20);
        let kind = match roll {
            0..=7 => KeyKind::List,
            8..=12 => KeyKind::Str,
            13..=16 => KeyKind::Counter,
            _ => return self.next_mset(&strings, value, sent_ms),
        };
        let candidates = self.indices(kind);
        let key = candidates[self.setup.rng.gen_range(0..candidates.len())];
        let value = match kind {
            KeyKind::Counter => Bytes::from(self.setup.rng.gen_range(1..=9).to_string()),
            _ => value,
        };
        let args = self.keys[key].command(&value);
        self.keys[key].sent(value, sent_ms);
        Sent {
            args,
            expected: self.keys[key].expected_reply(),
            writes: vec![(key, self.keys[key].writes.len() - 1)],
        }
    }

    /// A value no other write has: `writer:number`, padded now and then so that records
    /// span pages and a crash tears them in the middle.
    fn next_value(&mut self) -> Bytes {
        let mut value = format!("{}:{}", self.setup.index, self.next_value);
        self.next_value += 1;
        if self.setup.rng.gen_bool(PADDED_PROBABILITY) {
            let padding = self.setup.rng.gen_range(1..=PADDING_BYTES_MAX);
            value.push(':');
            value.extend(std::iter::repeat_n('p', padding));
        }
        Bytes::from(value)
    }

    /// An MSET of two of the writer's strings, which may live on different shards.
    fn next_mset(&mut self, strings: &[usize], value: Bytes, sent_ms: u64) -> Sent {
        assert!(strings.len() >= 2);
        let first = self.setup.rng.gen_range(0..strings.len());
        let second = (first + self.setup.rng.gen_range(1..strings.len())) % strings.len();
        let mut args = vec![Bytes::from_static(b"MSET")];
        let mut writes = Vec::new();
        for key in [strings[first], strings[second]] {
            args.push(self.keys[key].key.clone());
            args.push(value.clone());
            self.keys[key].sent(value.clone(), sent_ms);
            writes.push((key, self.keys[key].writes.len() - 1));
        }
        Sent {
            args,
            expected: Frame::ok(),
            writes,
        }
    }

    fn indices(&self, kind: KeyKind) -> Vec<usize> {
        (0..self.keys.len())
            .filter(|&index| self.keys[index].kind == kind)
            .collect()
    }

    /// Once the world is healed: read back after any crash not yet seen, then a last time
    /// with no crash in between.
    async fn finish(&mut self) {
        for _ in 0..FINAL_ATTEMPTS_MAX {
            if self.failed() || !self.connect().await {
                return;
            }
            let judge = if self.generation() == self.verified {
                Judge::NoCrash
            } else {
                self.judge_after_end()
            };
            if let ReadBack::Judged = self.read_back(judge).await {
                if judge == Judge::NoCrash {
                    return;
                }
            }
            self.sleep_ms(BACKOFF_MS_MIN).await;
        }
        self.fail(format!(
            "no final read-back in {FINAL_ATTEMPTS_MAX} attempts"
        ));
    }

    /// Reads every key back and judges the states; on success they become the new base.
    async fn read_back(&mut self, judge: Judge) -> ReadBack {
        let states = match self.read_states().await {
            Ok(Some(states)) => states,
            Ok(None) => return ReadBack::Retry,
            Err(detail) => {
                self.fail(detail);
                return ReadBack::Failed;
            }
        };
        for (key, state) in states.iter().enumerate() {
            if let Err(detail) = self.judge_key(key, state, judge) {
                self.fail(format!("{detail} [read back after {judge:?}]"));
                return ReadBack::Failed;
            }
        }
        for (log, state) in self.keys.iter_mut().zip(states) {
            log.rebase(state);
        }
        self.verified = self.generation();
        self.setup.board.borrow_mut().stats.read_backs += 1;
        ReadBack::Judged
    }

    /// Every key's state, None if the node is still loading or the connection went.
    pub(crate) async fn read_states(&mut self) -> Result<Option<Vec<KeyState>>, String> {
        let commands: Vec<Vec<Bytes>> = self.keys.iter().map(KeyLog::read_command).collect();
        let (session, _) = self.session.as_mut().expect("connected");
        if let Err(error) = session.send(&commands).await {
            self.lose(format!("read-back: {error}"));
            return Ok(None);
        }
        let mut states = Vec::with_capacity(commands.len());
        let mut loading = false;
        for (index, command) in commands.iter().enumerate() {
            let frame = match self.read_reply().await {
                Ok(frame) => frame,
                Err(error) => {
                    self.lose(format!("read-back: {error}"));
                    return Ok(None);
                }
            };
            let shown = show(&frame);
            let at_ms = self.now_ms();
            let mut fields: Vec<&[u8]> = vec![self.host.as_bytes()];
            fields.extend(command.iter().map(|arg| &arg[..]));
            fields.push(shown.as_bytes());
            self.setup.board.borrow_mut().trace.record(at_ms, &fields);
            match &frame {
                Frame::Error(text) if text.starts_with(b"LOADING") => loading = true,
                _ if loading => {}
                _ => states.push(self.keys[index].parse_read(&frame)?),
            }
        }
        if loading {
            self.sleep_ms(BACKOFF_MS_MIN).await;
            return Ok(None);
        }
        Ok(Some(states))
    }

    /// Judges one key's state by the policy's checkers, and counts what it shows.
    fn judge_key(&self, key: usize, state: &KeyState, judge: Judge) -> Result<(), String> {
        let log = &self.keys[key];
        let applied = recovered_prefix::check(log, state)?;
        match (judge, self.setup.policy) {
            (Judge::NoCrash | Judge::AfterShutdown(None), _)
            | (Judge::AfterCrash(_), Policy::Always) => {
                acknowledged::check(log, applied)?;
            }
            (Judge::AfterShutdown(Some(sent_ms)), _) => {
                acknowledged::check_acked_by(log, applied, sent_ms)?;
            }
            (Judge::AfterCrash(crash_ms), Policy::EverySec) => {
                everysec_window::check(log, applied, crash_ms)?;
            }
            (Judge::AfterCrash(_), Policy::No) => {}
        }
        self.count(log, applied, judge);
        Ok(())
    }

    /// Adds what one key's read-back shows to the run's counts.
    fn count(&self, log: &KeyLog, applied: usize, judge: Judge) {
        let (kept, lost) = log.writes.split_at(applied);
        let unacked = log.writes.iter().filter(|w| w.acked_ms.is_none()).count();
        let unacked_kept = kept.iter().filter(|w| w.acked_ms.is_none()).count();
        let lost_acked = lost.iter().filter(|w| w.acked_ms.is_some()).count();
        let mut board = self.setup.board.borrow_mut();
        board.stats.unacked += unacked as u64;
        board.stats.unacked_kept += unacked_kept as u64;
        board.stats.lost_acked += lost_acked as u64;
        if let Judge::AfterCrash(crash_ms) = judge {
            if let Some(window_ms) = everysec_window::lost_window_ms(log, applied, crash_ms) {
                let max = &mut board.stats.lost_window_ms_max;
                *max = (*max).max(window_ms);
            }
        }
    }
}
