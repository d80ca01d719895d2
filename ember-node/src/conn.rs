//! One client connection: read, decode every complete request in the buffer, execute each in
//! order, encode the replies into one buffer and write them with one write.
//!
//! A malformed request gets `-ERR Protocol error: ...` after the replies of the requests that
//! preceded it, and the connection closes, as Redis does. A bad command only gets an error
//! reply. Nothing the peer declares sizes an allocation: the decoder checks limits first, and
//! the unparsed input may not grow past `QUERY_BUFFER_MAX_BYTES`.

use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use ember_net::Conn;
use ember_proto::{decode_request, encode, Frame, Limits};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;

use crate::clients::ClientEntry;
use crate::cmd::table::{flag, Handler, Route};
use crate::cmd::transaction::Queued;
use crate::cmd::{lookup, simple, CmdError, CommandSpec, Session, SessionCtx};
use crate::keyspace::blocking::Waiter;
use crate::keyspace::{Prefetch, Store};
use crate::limits::{
    PIPELINE_BATCH_MAX, QUERY_BUFFER_MAX_BYTES, READ_CHUNK_BYTES, REPLY_BUFFER_FLUSH_BYTES,
};
use crate::pubsub::Delivery;
use crate::shard::{DataRequest, Job, Outcome, ShardLocal, ShardMsg};
use crate::slot::shard_of_key;

/// A pipeline's commands in flight: per other shard, the requests for it in order, and
/// per command (in the order sent) where its reply comes from.
#[derive(Default)]
struct Batch {
    remote: std::collections::BTreeMap<usize, Vec<DataRequest>>,
    slots: Vec<Slot>,
}

enum Slot {
    /// Ran here already.
    Ready(crate::shard::Done),
    /// For this shard, whose store was lent out: runs when the batch finishes.
    Local(DataRequest),
    /// The next request sent to this shard (replies come back in the order sent).
    Remote(usize),
}

/// How a blocked connection's wait ended.
enum Wake {
    Woken,
    TimedOut,
    Disconnected,
}

/// One command's replies: almost always one frame; SUBSCRIBE and friends send several.
enum Replies {
    One(Frame),
    Many(Vec<Frame>),
}

impl From<Frame> for Replies {
    fn from(frame: Frame) -> Replies {
        Replies::One(frame)
    }
}

/// Commands kept out of the slow log: their arguments carry passwords.
const UNLOGGED: &[&str] = &["auth", "hello"];

/// How many pipelined commands ahead a key's bucket, and then its entry, are fetched into
/// the cache: far enough for memory to answer before the command runs.
const PREFETCH_BUCKET_AHEAD: usize = 8;
const PREFETCH_ENTRY_AHEAD: usize = 4;

/// What a RESP2 connection may run while subscribed.
const ALLOWED_WHILE_SUBSCRIBED: &[&str] = &[
    "subscribe",
    "unsubscribe",
    "psubscribe",
    "punsubscribe",
    "ping",
    "quit",
    "reset",
];

/// Commands that run at once inside MULTI instead of being queued.
const RUN_INSIDE_MULTI: &[&str] = &["exec", "discard", "multi", "watch", "quit", "reset"];

pub async fn serve(local: Rc<ShardLocal>, conn: Conn) {
    let shared = local.shared.clone();
    let (Ok(peer), Ok(local_addr)) = (conn.peer_addr(), conn.local_addr()) else {
        return;
    };
    let now_ms = local.env.unix_ms();
    let Some(client) =
        shared
            .clients
            .register(peer, local_addr, now_ms, shared.config.maxclients())
    else {
        shared
            .stats
            .rejected_connections
            .fetch_add(1, Ordering::Relaxed);
        let mut conn = conn;
        let _ = conn
            .write_all(b"-ERR max number of clients reached\r\n")
            .await;
        return;
    };
    shared
        .stats
        .connections_received
        .fetch_add(1, Ordering::Relaxed);
    let _ = conn.set_nodelay(true);
    let id = client.id;
    let mut session = Session::new(id, shared.config.requirepass().is_none());
    let (reader, writer) = conn.into_split();
    let mut connection = Connection {
        stash: BytesMut::new(),
        wrote: false,
        local: local.clone(),
        pending_ask: None,
        client,
        reader,
        writer,
    };
    if let Err(reason) = connection.run(&mut session).await {
        tracing::debug!(client = id, %reason, "connection closed");
    }
    session.pubsub.clear(&shared.pubsub, id);
    shared.clients.unregister(id);
}

/// The time a round of pipelined commands runs at: one wall-clock reading (for expiry and
/// CLIENT LIST) for the round, and the end of the last command, where the next one's
/// duration starts (the slow log), so each command costs one clock reading, not three.
struct RoundClock {
    now_ms: u64,
    mark: tokio::time::Instant,
}

struct Connection {
    /// Input that arrived while a blocking command waited; parsed after it answers.
    stash: BytesMut,
    /// A write ran since the replies were last flushed: with `appendfsync always` they wait
    /// for its records to be durable.
    wrote: bool,
    local: Rc<ShardLocal>,
    /// The ASK check `route` found for the command about to run (a migrating slot).
    pending_ask: Option<Box<crate::cluster::Ask>>,
    client: std::sync::Arc<ClientEntry>,
    reader: ember_net::ConnReader,
    writer: ember_net::ConnWriter,
}

impl Connection {
    async fn run(&mut self, session: &mut Session) -> Result<(), String> {
        let mut input = BytesMut::with_capacity(READ_CHUNK_BYTES);
        let mut output = BytesMut::with_capacity(READ_CHUNK_BYTES);
        loop {
            if input.capacity() - input.len() < READ_CHUNK_BYTES / 2 {
                input.reserve(READ_CHUNK_BYTES);
            }
            let read = match session.pubsub.inbox.as_mut() {
                None => self.read(&mut input).await?,
                Some(inbox) => {
                    // Published messages first, so a busy publisher cannot be starved by input.
                    tokio::select! {
                        biased;
                        delivery = inbox.recv() => {
                            deliver(session, delivery, &mut output)?;
                            self.flush_subscribed(session, &mut output).await?;
                            continue;
                        }
                        read = self.reader.read_buf(&mut input) => read.map_err(|e| e.to_string())?,
                    }
                }
            };
            if read == 0 {
                return Ok(());
            }
            let counters = &self.local.shared.stats.shards[self.local.id];
            counters
                .net_input_bytes
                .fetch_add(read as u64, Ordering::Relaxed);
            let outcome = self
                .execute_buffered(session, &mut input, &mut output)
                .await;
            self.sync_writes().await?;
            if !output.is_empty() {
                // Let the shard's other ready connections run their commands first, so the
                // replies of a round go out back to back, as Redis writes them after its
                // event loop pass: a client then wakes once for many replies, not once
                // each (redis-benchmark -P 16 with one shard: kernel time per command
                // 0.73 -> 0.53 us).
                tokio::task::yield_now().await;
            }
            self.flush(&mut output).await?;
            outcome?;
            if input.len() > QUERY_BUFFER_MAX_BYTES {
                return Err("query buffer limit exceeded".into());
            }
        }
    }

    /// Reads more input, honouring the idle `timeout` setting.
    async fn read(&mut self, input: &mut BytesMut) -> Result<usize, String> {
        let timeout_s = self.local.shared.config.timeout_s();
        let read = self.reader.read_buf(input);
        let result = if timeout_s == 0 {
            read.await
        } else {
            match self
                .local
                .env
                .timeout(Duration::from_secs(timeout_s), read)
                .await
            {
                Ok(result) => result,
                Err(_) => return Err("idle timeout".into()),
            }
        };
        result.map_err(|e| e.to_string())
    }

    async fn flush(&mut self, output: &mut BytesMut) -> Result<(), String> {
        if output.is_empty() {
            return Ok(());
        }
        let counters = &self.local.shared.stats.shards[self.local.id];
        counters
            .net_output_bytes
            .fetch_add(output.len() as u64, Ordering::Relaxed);
        self.writer
            .write_all(output)
            .await
            .map_err(|e| e.to_string())?;
        output.clear();
        Ok(())
    }

    /// Writes a subscribed connection's output, unless its subscription is cut off while the
    /// peer is not reading: then the connection closes instead of waiting for ever.
    async fn flush_subscribed(
        &mut self,
        session: &Session,
        output: &mut BytesMut,
    ) -> Result<(), String> {
        let inbox = session.pubsub.inbox.as_ref().expect("subscribed");
        tokio::select! {
            biased;
            _ = inbox.cut_off() => Err("pubsub output buffer limit exceeded".into()),
            written = self.flush(output) => written,
        }
    }

    /// Executes every complete request in `input`. Err ends the connection after the replies
    /// gathered so far (and the protocol error, if that was the reason) are written.
    async fn execute_buffered(
        &mut self,
        session: &mut Session,
        input: &mut BytesMut,
        output: &mut BytesMut,
    ) -> Result<(), String> {
        let limits = Limits {
            bulk_len_max_bytes: self.local.shared.config.proto_max_bulk_len(),
            ..Limits::default()
        };
        // Input a blocked command stashed is appended while a round runs; it makes another.
        loop {
            let done = self.execute_round(session, input, output, &limits).await?;
            if done {
                return Ok(());
            }
        }
    }

    /// Parses and runs what `input` holds; true when nothing more was there to parse.
    async fn execute_round(
        &mut self,
        session: &mut Session,
        input: &mut BytesMut,
        output: &mut BytesMut,
        limits: &Limits,
    ) -> Result<bool, String> {
        let mut batch = Batch::default();
        // Everything that arrived is parsed first, so the keys of the commands a few places
        // ahead can be fetched into the cache while earlier ones run.
        let mut requests = Vec::new();
        let mut malformed = None;
        while requests.len() < PIPELINE_BATCH_MAX {
            match decode_request(input, limits) {
                Ok(Some(argv)) if argv.is_empty() => {}
                Ok(Some(argv)) => requests.push(argv),
                Ok(None) => break,
                Err(error) => {
                    malformed = Some(error);
                    break;
                }
            }
        }
        if requests.is_empty() && malformed.is_none() {
            return Ok(true);
        }
        let mut requests: Vec<Option<Vec<Bytes>>> = requests.into_iter().map(Some).collect();
        let mut clock = RoundClock {
            now_ms: self.local.env.unix_ms(),
            mark: self.local.env.now(),
        };
        for index in 0..PREFETCH_BUCKET_AHEAD {
            self.prefetch(session, &requests, index, Prefetch::Bucket);
        }
        for index in 0..PREFETCH_ENTRY_AHEAD {
            self.prefetch(session, &requests, index, Prefetch::Entry);
        }
        for index in 0..requests.len() {
            self.prefetch(
                session,
                &requests,
                index + PREFETCH_BUCKET_AHEAD,
                Prefetch::Bucket,
            );
            self.prefetch(
                session,
                &requests,
                index + PREFETCH_ENTRY_AHEAD,
                Prefetch::Entry,
            );
            let argv = requests[index].take().expect("each request runs once");
            let argv = match self.try_batch(session, argv, &mut batch, &mut clock) {
                None => continue,
                Some(argv) => argv,
            };
            self.finish_batch(session, &mut batch, output).await;
            let replies = self.dispatch(session, argv).await;
            // Whatever ran meanwhile (a blocked command's wait) is no batched command's time.
            clock = RoundClock {
                now_ms: self.local.env.unix_ms(),
                mark: self.local.env.now(),
            };
            match replies {
                Replies::One(frame) => encode(&frame, session.protocol, output),
                Replies::Many(frames) => {
                    for frame in &frames {
                        encode(frame, session.protocol, output);
                    }
                }
            }
            if session.closing {
                return Err("client quit".into());
            }
            if !self.stash.is_empty() {
                // Bytes that arrived while a command was blocked follow what was unparsed.
                input.extend_from_slice(&self.stash);
                self.stash.clear();
            }
            if output.len() >= REPLY_BUFFER_FLUSH_BYTES {
                self.sync_writes().await?;
                self.flush(output).await?;
            }
        }
        self.finish_batch(session, &mut batch, output).await;
        if let Some(error) = malformed {
            let line = format!("-ERR Protocol error: {error}\r\n");
            output.extend_from_slice(line.as_bytes());
            return Err(format!("protocol error: {error}"));
        }
        Ok(false)
    }

    /// Warms the cache for the key of the `index`th request, if it has one on this shard
    /// and the store is here (a guess: the first argument after the name; a wrong guess
    /// only wastes a prefetch).
    fn prefetch(
        &self,
        session: &Session,
        requests: &[Option<Vec<Bytes>>],
        index: usize,
        stage: Prefetch,
    ) {
        let Some(Some(argv)) = requests.get(index) else {
            return;
        };
        let Some(key) = argv.get(1) else {
            return;
        };
        if shard_of_key(key, self.local.shared.shard_count) != self.local.id {
            return;
        }
        self.local
            .with_store(|store| store.prefetch(session.db, key, stage));
    }

    /// A pipelined data command with all its keys on one shard joins the batch: run now if
    /// the shard is this one, else queued for one visit to its shard with the others for it.
    /// Anything else (transactions, blocking, session commands, several shards ...) comes
    /// back to run alone, after the batch. Per shard, commands run in the order sent.
    fn try_batch(
        &mut self,
        session: &mut Session,
        argv: Vec<Bytes>,
        batch: &mut Batch,
        clock: &mut RoundClock,
    ) -> Option<Vec<Bytes>> {
        let shared = &self.local.shared;
        let Ok((spec, skip)) = resolve(&argv) else {
            return Some(argv);
        };
        let Handler::Data(handler) = spec.handler else {
            return Some(argv);
        };
        let plain = session.authenticated
            && session.transaction.queue.is_none()
            && session.pubsub.count() == 0
            && !spec.has(flag::BLOCKING)
            && spec.name != "watch"
            && !shared.persist.is_loading();
        if !plain {
            return Some(argv);
        }
        if let Some(node) = &shared.cluster {
            // Anything but a plain local command (redirects, ASK checks) takes the long way.
            if session.asking || !self.routes_here(node, spec, &argv) {
                return Some(argv);
            }
        }
        let Some(shard) = one_shard(spec, &argv, shared.shard_count, self.local.id) else {
            return Some(argv);
        };
        let now_ms = clock.now_ms;
        self.count(spec, now_ms);
        if spec.has(flag::WRITE) {
            self.wrote = true;
        }
        let request = DataRequest {
            handler,
            argv,
            skip,
            db: session.db,
            protocol: session.protocol,
            watch: None,
            waiter: None,
            denyoom: spec.has(flag::DENYOOM),
            ask: None,
        };
        if shard != self.local.id {
            let requests = batch.remote.entry(shard).or_default();
            batch.slots.push(Slot::Remote(shard));
            requests.push(request);
            return None;
        }
        // This shard's store is here; a borrower elsewhere makes try_acquire fail.
        let Some(mut store) = self.local.try_acquire() else {
            batch.slots.push(Slot::Local(request));
            return None;
        };
        let (done, ended) =
            request.run_timed(&self.local.env, shared, &mut store, now_ms, clock.mark);
        clock.mark = ended;
        self.local.put_back(store);
        batch.slots.push(Slot::Ready(done));
        None
    }

    /// Sends each shard its queued commands, waits for them all, and writes every reply of
    /// the batch in the order the commands came.
    async fn finish_batch(&mut self, session: &Session, batch: &mut Batch, output: &mut BytesMut) {
        if batch.slots.is_empty() {
            return;
        }
        let local = self.local.clone();
        let mut waiting = Vec::with_capacity(batch.remote.len());
        for (shard, requests) in std::mem::take(&mut batch.remote) {
            let (reply, receive) = oneshot::channel();
            let job = crate::shard::BatchJob { requests, reply };
            let sent = local.peers[shard].messages.send(ShardMsg::Batch(job)).await;
            assert!(sent.is_ok(), "shard {shard} stopped");
            waiting.push((shard, receive));
        }
        let mut results: Vec<(usize, std::vec::IntoIter<crate::shard::Done>)> = Vec::new();
        for (shard, receive) in waiting {
            let done = receive.await.expect("a batching shard always answers");
            results.push((shard, done.into_iter()));
        }
        for slot in std::mem::take(&mut batch.slots) {
            let done = match slot {
                Slot::Ready(done) => done,
                Slot::Local(request) => {
                    let mut store = local.acquire().await;
                    let (now_ms, started) = (local.env.unix_ms(), local.env.now());
                    let (done, _) =
                        request.run_timed(&local.env, &local.shared, &mut store, now_ms, started);
                    local.put_back(store);
                    done
                }
                Slot::Remote(shard) => {
                    let (_, done) = results
                        .iter_mut()
                        .find(|(s, _)| *s == shard)
                        .expect("every shard with requests answered");
                    done.next().expect("one outcome per request")
                }
            };
            let crate::shard::Done {
                outcome,
                duration_us,
                argv,
            } = done;
            let Outcome::Reply(frame) = outcome else {
                unreachable!("blocking commands are never batched");
            };
            encode(&frame, session.protocol, output);
            self.log_duration(session, &argv, duration_us);
        }
    }

    /// With `appendfsync always`, waits until the writes whose replies are about to go out
    /// are durable. Err (the connection closes unanswered) when the node is stopping.
    async fn sync_writes(&mut self) -> Result<(), String> {
        let persist = &self.local.shared.persist;
        // Once the node stops, its AOF writers make a last pass: a write applied after it
        // must not be acknowledged (its record may not be on disk). Records queued before
        // the stop was seen here are in that pass.
        if persist.appendonly && persist.is_stopping() {
            return Err("the node is stopping".into());
        }
        if !std::mem::take(&mut self.wrote) {
            return Ok(());
        }
        if !persist.appendonly || persist.fsync != crate::persist::FsyncPolicy::Always {
            return Ok(());
        }
        persist.wait_durable().await
    }

    /// Looks the command up, checks arity and authentication, then queues it (inside MULTI)
    /// or runs it. Errors found before running flag an open transaction, as Redis does.
    async fn dispatch(&mut self, session: &mut Session, argv: Vec<Bytes>) -> Replies {
        let (spec, skip) = match resolve(&argv) {
            Ok(found) => found,
            Err(error) => {
                session.transaction.flag_error();
                return error.to_frame().into();
            }
        };
        if !session.authenticated && !spec.has(flag::NO_AUTH) {
            session.transaction.flag_error();
            return CmdError::NoAuth.to_frame().into();
        }
        if !spec.has(flag::LOADING) && self.local.shared.persist.is_loading() {
            session.transaction.flag_error();
            return CmdError::Raw("LOADING Redis is loading the dataset in memory".into())
                .to_frame()
                .into();
        }
        if let Some(redirect) = self.route(session, spec, &argv) {
            session.transaction.flag_error();
            return redirect.into();
        }
        if spec.has(flag::WRITE) || spec.has(flag::BLOCKING) || spec.name == "exec" {
            self.wrote = true;
        }
        let in_multi = session.transaction.queue.is_some();
        if in_multi {
            // Inside MULTI the keys are checked now; the ASK check is not kept for EXEC.
            self.pending_ask = None;
        }
        if in_multi && !RUN_INSIDE_MULTI.contains(&spec.name) {
            if spec.has(flag::NO_MULTI) {
                session.transaction.flag_error();
                return CmdError::Err("Command not allowed inside a transaction".into())
                    .to_frame()
                    .into();
            }
            let queue = session.transaction.queue.as_mut().expect("in MULTI");
            queue.push(Queued { spec, skip, argv });
            return simple("QUEUED").into();
        }
        let subscribed =
            session.protocol == ember_proto::Protocol::Resp2 && session.pubsub.count() > 0;
        if subscribed && !ALLOWED_WHILE_SUBSCRIBED.contains(&spec.name) {
            let message = format!(
                "Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
                spec.name
            );
            return CmdError::Err(message).to_frame().into();
        }
        if in_multi && spec.name == "watch" {
            return CmdError::Err("WATCH inside MULTI is not allowed".into())
                .to_frame()
                .into();
        }
        let started = self.local.env.now();
        let (replies, argv) = match spec.handler {
            Handler::Exec => (self.exec(session).await.into(), Some(argv)),
            _ => self.execute(session, spec, skip, argv).await,
        };
        let logged = !spec.has(flag::BLOCKING) && !UNLOGGED.contains(&spec.name);
        if let (true, Some(argv)) = (logged, argv) {
            self.log_if_slow(session, &argv, started);
        }
        replies
    }

    /// Runs one command now, outside a transaction. Gives the arguments back (for the slow
    /// log) unless they went to another shard.
    async fn execute(
        &mut self,
        session: &mut Session,
        spec: &'static CommandSpec,
        skip: usize,
        argv: Vec<Bytes>,
    ) -> (Replies, Option<Vec<Bytes>>) {
        let now_ms = self.local.env.unix_ms();
        self.count(spec, now_ms);
        match spec.handler {
            Handler::Session(handler) => {
                let mut ctx = SessionCtx {
                    session,
                    shared: &self.local.shared,
                    now_ms,
                };
                let frame = handler(&mut ctx, &mut crate::cmd::Args::new(&argv, skip))
                    .unwrap_or_else(|e| e.to_frame());
                (frame.into(), Some(argv))
            }
            Handler::Data(handler) => {
                let is_watch = spec.name == "watch";
                let watch = is_watch.then(|| session.transaction.watch_flag.clone());
                let watched: Vec<Bytes> = if is_watch {
                    argv[1..].to_vec()
                } else {
                    Vec::new()
                };
                let (db, protocol) = (session.db, session.protocol);
                if spec.has(flag::BLOCKING) {
                    let frame = self
                        .execute_blocking(session, spec, handler, argv, skip)
                        .await;
                    return (frame.into(), None);
                }
                let request = DataRequest {
                    handler,
                    argv,
                    skip,
                    db,
                    protocol,
                    watch,
                    waiter: None,
                    denyoom: spec.has(flag::DENYOOM),
                    ask: self.pending_ask.take(),
                };
                let (outcome, argv) = self.execute_data(spec, request, now_ms).await;
                let Outcome::Reply(frame) = outcome else {
                    unreachable!("only blocking commands block");
                };
                session
                    .transaction
                    .watched
                    .extend(watched.into_iter().map(|key| (db, key)));
                (frame.into(), argv)
            }
            Handler::Subscription(handler) => {
                let mut ctx = SessionCtx {
                    session,
                    shared: &self.local.shared,
                    now_ms,
                };
                let replies = match handler(&mut ctx, &mut crate::cmd::Args::new(&argv, skip)) {
                    Ok(frames) => Replies::Many(frames),
                    Err(error) => error.to_frame().into(),
                };
                (replies, Some(argv))
            }
            Handler::Persistence => (self.persistence(session, spec, &argv).await, Some(argv)),
            Handler::Cluster => (self.cluster(session, spec, &argv).await, Some(argv)),
            Handler::Migrate => {
                let cluster = self.local.shared.cluster.is_some();
                let frame = crate::cmd::migrate::execute(&self.local, cluster, &argv).await;
                (frame.into(), Some(argv))
            }
            Handler::Container | Handler::Exec => unreachable!("resolved or handled by dispatch"),
        }
    }

    /// A CLUSTER subcommand; COUNTKEYSINSLOT and GETKEYSINSLOT borrow the store of the shard
    /// that owns the slot.
    async fn cluster(
        &mut self,
        session: &Session,
        spec: &'static CommandSpec,
        argv: &[Bytes],
    ) -> Replies {
        use crate::cmd::cluster::{Call, KeysInSlot, Outcome};
        let shared = self.local.shared.clone();
        let call = shared.cluster.as_ref().map(|node| Call {
            node,
            quorum: shared.cluster_quorum.load(Ordering::Relaxed),
            protocol: session.protocol,
            now_ms: self.local.env.unix_ms(),
        });
        if let Some(refusal) = self.setslot_node_refusal(spec, argv).await {
            return refusal.into();
        }
        let work = match crate::cmd::cluster::execute(call, spec, argv).await {
            Ok(Outcome::Reply(frame)) => return frame.into(),
            Ok(Outcome::Keys(work)) => work,
            Err(error) => return error.to_frame().into(),
        };
        let slot = match work {
            KeysInSlot::Count(slot) | KeysInSlot::List(slot, _) => slot,
        };
        let shard = crate::slot::shard_of_slot(slot, shared.shard_count);
        let mut stores = self.local.borrow_many(&[shard]).await;
        let store = &mut stores[0];
        let frame = match work {
            KeysInSlot::Count(_) => {
                Frame::Integer(store.keys_in_slot(0, slot, usize::MAX).len() as i64)
            }
            KeysInSlot::List(_, count) => Frame::Array(
                store
                    .keys_in_slot(0, slot, count)
                    .into_iter()
                    .map(Frame::Bulk)
                    .collect(),
            ),
        };
        self.local.return_many(stores);
        frame.into()
    }

    /// Redis's check before CLUSTER SETSLOT <slot> NODE <other>: a node that owns the slot
    /// and still holds keys in it refuses to give it away (they would be stranded).
    async fn setslot_node_refusal(&self, spec: &CommandSpec, argv: &[Bytes]) -> Option<Frame> {
        let node = self.local.shared.cluster.as_ref()?;
        if spec.name != "cluster|setslot" || argv.len() != 5 {
            return None;
        }
        if !argv[3].eq_ignore_ascii_case(b"node") {
            return None;
        }
        let slot = crate::cmd::args::parse_i64(&argv[2])
            .and_then(|slot| u16::try_from(slot).ok())
            .filter(|slot| *slot < crate::slot::SLOT_COUNT)?;
        let me = node.myself();
        let topology = node.topology();
        let target = ember_cluster::topology::NodeName::parse(std::str::from_utf8(&argv[4]).ok()?)?;
        // An unknown target, or this node itself: the usual errors and replies follow.
        let owner = topology.slot_owner(slot).map(|info| info.name);
        if owner != Some(me) || target == me || topology.node(&target).is_none() {
            return None;
        }
        let shard = crate::slot::shard_of_slot(slot, self.local.shared.shard_count);
        let stores = self.local.borrow_many(&[shard]).await;
        let held = !stores[0].keys_in_slot(0, slot, 1).is_empty();
        self.local.return_many(stores);
        held.then(|| {
            CmdError::Err(format!(
                "Can't assign hashslot {slot} to a different node while I still hold keys for this hash slot."
            ))
            .to_frame()
        })
    }

    /// Whether a command's keys are all in a slot this node serves, with no migration.
    fn routes_here(
        &self,
        node: &ember_cluster::ClusterNode,
        spec: &CommandSpec,
        argv: &[Bytes],
    ) -> bool {
        let positions = spec.key_positions(argv);
        let view = crate::cluster::ClusterView {
            myself: node.myself(),
            topology: node.topology(),
            quorum: self.local.shared.cluster_quorum.load(Ordering::Relaxed),
        };
        view.route(positions.iter().map(|&i| &argv[i][..]), false) == crate::cluster::Route::Here
    }

    /// Where a command's keys are served, with `--cluster-enabled`: an error reply to send
    /// instead of running it here (MOVED, ASK ...), or `None` to run it. A slot being
    /// migrated away leaves an ASK check for the shard (`pending_ask`).
    fn route(
        &mut self,
        session: &mut Session,
        spec: &CommandSpec,
        argv: &[Bytes],
    ) -> Option<Frame> {
        let node = self.local.shared.cluster.as_ref()?;
        let asking = std::mem::take(&mut session.asking) || spec.name == "restore-asking";
        if matches!(spec.handler, Handler::Exec) {
            // Every queued command's keys must share one slot; if not, the transaction is
            // discarded, as in Redis.
            let queue = session.transaction.queue.as_ref()?;
            let mut slots = queue.iter().flat_map(|queued| {
                let positions = queued.spec.key_positions(&queued.argv);
                positions
                    .into_iter()
                    .map(|i| crate::slot::key_slot(&queued.argv[i]))
                    .collect::<Vec<_>>()
            });
            let first = slots.next()?;
            if slots.all(|slot| slot == first) {
                return None;
            }
            session.transaction.end();
            return Some(crate::cluster::Redirect::CrossSlot.to_frame());
        }
        if !matches!(spec.handler, Handler::Data(_)) || spec.route != Route::Keys {
            return None;
        }
        let positions = spec.key_positions(argv);
        if positions.is_empty() {
            return None;
        }
        let view = crate::cluster::ClusterView {
            myself: node.myself(),
            topology: node.topology(),
            quorum: self.local.shared.cluster_quorum.load(Ordering::Relaxed),
        };
        match view.route(positions.iter().map(|&i| &argv[i][..]), asking) {
            crate::cluster::Route::Here => None,
            crate::cluster::Route::Refuse(redirect) => Some(redirect.to_frame()),
            crate::cluster::Route::HereWhileMigrating { slot, to } => {
                self.pending_ask = Some(Box::new(crate::cluster::Ask {
                    slot,
                    to,
                    keys: positions.iter().map(|&i| argv[i].clone()).collect(),
                }));
                None
            }
        }
    }

    /// SAVE, BGSAVE, BGREWRITEAOF and SHUTDOWN.
    async fn persistence(
        &mut self,
        session: &mut Session,
        spec: &'static CommandSpec,
        argv: &[Bytes],
    ) -> Replies {
        let shared = self.local.shared.clone();
        let env = self.local.env.clone();
        match spec.name {
            "save" => match crate::persist::save::save_all(env, shared, false).await {
                Ok(()) => simple("OK").into(),
                Err(reason) => CmdError::Err(reason).to_frame().into(),
            },
            "bgsave" => self.start_background_save(argv, false).into(),
            "bgrewriteaof" => self.start_background_save(argv, true).into(),
            "shutdown" => {
                let options = match crate::cmd::persistence::parse_shutdown(argv) {
                    Ok(options) => options,
                    Err(error) => return error.to_frame().into(),
                };
                match crate::server::shutdown(env, shared, options).await {
                    Ok(()) => {
                        // The node is stopping; the client sees the connection close.
                        session.closing = true;
                        Replies::Many(Vec::new())
                    }
                    Err(reason) => {
                        tracing::warn!(%reason, "SHUTDOWN refused");
                        CmdError::Err("Errors trying to SHUTDOWN. Check logs.".into())
                            .to_frame()
                            .into()
                    }
                }
            }
            other => unreachable!("{other} is not a persistence command"),
        }
    }

    /// BGSAVE [SCHEDULE] and BGREWRITEAOF: start a snapshot of every shard and answer at once.
    fn start_background_save(&self, argv: &[Bytes], rewrite: bool) -> Frame {
        let shared = self.local.shared.clone();
        let schedule = match &argv[1..] {
            [] => false,
            [word] if !rewrite && word.eq_ignore_ascii_case(b"schedule") => true,
            _ => return CmdError::Syntax.to_frame(),
        };
        if shared.persist.saving.load(Ordering::Acquire) {
            if rewrite {
                shared.persist.save_scheduled.store(true, Ordering::Release);
                return simple("Background append only file rewriting scheduled");
            }
            if schedule {
                shared.persist.save_scheduled.store(true, Ordering::Release);
                return simple("Background saving scheduled");
            }
            return CmdError::Err("Background save already in progress".into()).to_frame();
        }
        let env = self.local.env.clone();
        self.local.env.spawn(async move {
            let _ = crate::persist::save::save_all(env, shared, rewrite).await;
        });
        if rewrite {
            simple("Background append only file rewriting started")
        } else {
            simple("Background saving started")
        }
    }

    /// Adds the command to the slow log when it took at least the configured threshold.
    fn log_if_slow(&self, session: &Session, argv: &[Bytes], started: tokio::time::Instant) {
        let duration_us = self.local.env.now().duration_since(started).as_micros() as u64;
        self.log_duration(session, argv, duration_us);
    }

    fn log_duration(&self, session: &Session, argv: &[Bytes], duration_us: u64) {
        let config = &self.local.shared.config;
        let threshold_us = config.slowlog_slower_than_us();
        if threshold_us < 0 || duration_us < threshold_us as u64 {
            return;
        }
        let now_ms = self.local.env.unix_ms();
        let slowlog = &self.local.shared.slowlog;
        slowlog.record(
            argv,
            duration_us,
            now_ms,
            self.client.addr,
            session.name.clone(),
            config.slowlog_max_len(),
        );
    }

    /// Records the command, running at `now_ms`, for CLIENT LIST and INFO.
    fn count(&self, spec: &'static CommandSpec, now_ms: u64) {
        self.client.touch(now_ms, spec.name);
        let counters = &self.local.shared.stats.shards[self.local.id];
        counters.commands.fetch_add(1, Ordering::Relaxed);
    }

    /// EXEC: borrows every store the queue and the watched keys need, checks the watches
    /// (touching each watched key so one that expired since WATCH counts as modified), then
    /// runs the whole queue while holding the stores, so no other client sees it half done.
    async fn exec(&mut self, session: &mut Session) -> Frame {
        let transaction = &mut session.transaction;
        let Some(queue) = transaction.queue.take() else {
            return CmdError::Err("EXEC without MULTI".into()).to_frame();
        };
        if transaction.failed {
            transaction.end();
            return CmdError::Raw(
                "EXECABORT Transaction discarded because of previous errors.".into(),
            )
            .to_frame();
        }
        let local = self.local.clone();
        let shard_count = local.shared.shard_count;
        let mut shards: Vec<usize> = transaction
            .watched
            .iter()
            .map(|(_, key)| shard_of_key(key, shard_count))
            .collect();
        for queued in &queue {
            if matches!(queued.spec.handler, Handler::Data(_)) {
                shards.extend(target_shards(
                    queued.spec,
                    &queued.argv,
                    shard_count,
                    local.id,
                ));
            }
        }
        shards.sort_unstable();
        shards.dedup();
        let mut stores = local.borrow_many(&shards).await;
        let mut refs: Vec<&mut Store> = stores.iter_mut().map(|s| &mut **s).collect();
        // The AOF replays the whole transaction or none of it.
        for store in refs.iter_mut() {
            store.journal.open_group();
        }
        let now_ms = local.env.unix_ms();
        for (db, key) in &transaction.watched {
            let shard = shard_of_key(key, shard_count);
            let store = refs
                .iter_mut()
                .find(|s| s.id == shard)
                .expect("watched shards borrowed");
            store.exists(*db, key, now_ms);
        }
        let reply = if transaction.watch_flag.load(Ordering::Relaxed) {
            Frame::NullArray
        } else {
            let mut replies = Vec::with_capacity(queue.len());
            // A queued SUBSCRIBE answers once per channel; Redis puts each of those replies in
            // EXEC's array, so this does too.
            for queued in queue {
                match self.run_queued(session, queued, &mut refs) {
                    Replies::One(frame) => replies.push(frame),
                    Replies::Many(frames) => replies.extend(frames),
                }
            }
            Frame::Array(replies)
        };
        for store in refs.iter_mut() {
            store.journal.close_group();
            crate::persist::log::hand_over(&local.shared, store);
        }
        drop(refs);
        local.return_many(stores);
        session.transaction.end();
        reply
    }

    /// One queued command inside EXEC, over the stores EXEC holds. The database is the
    /// session's at this point, so a queued SELECT applies to the commands after it.
    fn run_queued(
        &self,
        session: &mut Session,
        queued: Queued,
        stores: &mut [&mut Store],
    ) -> Replies {
        let now_ms = self.local.env.unix_ms();
        self.count(queued.spec, now_ms);
        match queued.spec.handler {
            Handler::Session(handler) => {
                let mut ctx = SessionCtx {
                    session,
                    shared: &self.local.shared,
                    now_ms,
                };
                handler(
                    &mut ctx,
                    &mut crate::cmd::Args::new(&queued.argv, queued.skip),
                )
                .unwrap_or_else(|e| e.to_frame())
                .into()
            }
            Handler::Subscription(handler) => {
                let mut ctx = SessionCtx {
                    session,
                    shared: &self.local.shared,
                    now_ms,
                };
                match handler(
                    &mut ctx,
                    &mut crate::cmd::Args::new(&queued.argv, queued.skip),
                ) {
                    Ok(frames) => Replies::Many(frames),
                    Err(error) => error.to_frame().into(),
                }
            }
            Handler::Data(handler) => {
                let (db, protocol) = (session.db, session.protocol);
                let request = DataRequest {
                    handler,
                    argv: queued.argv,
                    skip: queued.skip,
                    db,
                    protocol,
                    watch: None,
                    waiter: None,
                    denyoom: queued.spec.has(flag::DENYOOM),
                    ask: None,
                };
                // Without a waiter a blocking command answers at once, so nothing blocks here.
                match request.run(&self.local.shared, stores, now_ms) {
                    Outcome::Reply(frame) => frame.into(),
                    Outcome::Blocked(blocking) => blocking.timeout_reply.into(),
                }
            }
            Handler::Persistence => {
                // BGSAVE and BGREWRITEAOF may be queued; they start the save and answer.
                let reply = match queued.spec.name {
                    "bgsave" => self.start_background_save(&queued.argv, false),
                    _ => self.start_background_save(&queued.argv, true),
                };
                reply.into()
            }
            Handler::Container | Handler::Exec | Handler::Cluster | Handler::Migrate => {
                unreachable!("never queued")
            }
        }
    }

    /// A blocking command: try it; while it blocks, wait for a write to one of its keys or its
    /// deadline, then try again (keeping its place in line). A client that disconnects while
    /// blocked stops waiting; input it sends meanwhile is kept for after the reply.
    async fn execute_blocking(
        &mut self,
        session: &mut Session,
        spec: &'static CommandSpec,
        handler: crate::cmd::DataFn,
        argv: Vec<Bytes>,
        skip: usize,
    ) -> Frame {
        let waiter = Waiter::new();
        loop {
            let waiter_ref = Some(waiter.clone());
            let (db, protocol) = (session.db, session.protocol);
            let request = DataRequest {
                handler,
                argv: argv.clone(),
                skip,
                db,
                protocol,
                watch: None,
                waiter: waiter_ref,
                denyoom: spec.has(flag::DENYOOM),
                ask: None,
            };
            // Each attempt runs at its own time: a retry follows a wait.
            let now_ms = self.local.env.unix_ms();
            let blocking = match self.execute_data(spec, request, now_ms).await.0 {
                Outcome::Reply(frame) => return frame,
                Outcome::Blocked(blocking) => blocking,
            };
            let shared = self.local.shared.clone();
            let blocked = &shared.stats.blocked_clients;
            blocked.fetch_add(1, Ordering::Relaxed);
            let woken = self.wait_blocked(&waiter, blocking.deadline_ms).await;
            blocked.fetch_sub(1, Ordering::Relaxed);
            match woken {
                Wake::Woken => continue,
                Wake::TimedOut => return blocking.timeout_reply,
                Wake::Disconnected => {
                    session.closing = true;
                    return blocking.timeout_reply;
                }
            }
        }
    }

    /// Waits for a wake-up, the deadline, or the client going away.
    async fn wait_blocked(&mut self, waiter: &Waiter, deadline_ms: Option<u64>) -> Wake {
        let env = self.local.env.clone();
        loop {
            let remaining_ms = deadline_ms.map(|d| d.saturating_sub(env.unix_ms()));
            if remaining_ms == Some(0) {
                return Wake::TimedOut;
            }
            let timeout = async {
                match remaining_ms {
                    Some(ms) => env.sleep(Duration::from_millis(ms)).await,
                    None => std::future::pending::<()>().await,
                }
            };
            if self.stash.capacity() - self.stash.len() < READ_CHUNK_BYTES / 2 {
                self.stash.reserve(READ_CHUNK_BYTES);
            }
            tokio::select! {
                biased;
                _ = waiter.woken() => return Wake::Woken,
                _ = timeout => return Wake::TimedOut,
                read = self.reader.read_buf(&mut self.stash) => match read {
                    Ok(0) | Err(_) => return Wake::Disconnected,
                    Ok(_) if self.stash.len() > QUERY_BUFFER_MAX_BYTES => return Wake::Disconnected,
                    Ok(_) => continue,
                },
            }
        }
    }

    /// Runs a data command on the store(s) that own its keys, at `now_ms` (read once per
    /// command, as Redis does). Gives the arguments back when they stayed on this shard; a
    /// request sent to another shard keeps a copy only while the slow log is on.
    async fn execute_data(
        &mut self,
        spec: &'static CommandSpec,
        request: DataRequest,
        now_ms: u64,
    ) -> (Outcome, Option<Vec<Bytes>>) {
        let local = &self.local;
        let shards = target_shards(spec, &request.argv, local.shared.shard_count, local.id);
        if let [shard] = shards[..] {
            if shard == local.id {
                let mut store = local.acquire().await;
                let outcome = request.run(&local.shared, &mut [&mut *store], now_ms);
                local.put_back(store);
                return (outcome, Some(request.argv));
            }
            let kept =
                (local.shared.config.slowlog_slower_than_us() >= 0).then(|| request.argv.clone());
            let (reply, receive) = oneshot::channel();
            let outcome = local
                .exec_remote(shard, Job { request, reply }, receive)
                .await;
            return (outcome, kept);
        }
        let mut stores = local.borrow_many(&shards).await;
        let outcome = {
            let mut refs: Vec<&mut Store> = stores.iter_mut().map(|s| &mut **s).collect();
            request.run(&local.shared, &mut refs, now_ms)
        };
        local.return_many(stores);
        (outcome, Some(request.argv))
    }
}

/// Encodes a published message, and any others already queued, into `output`.
fn deliver(
    session: &mut Session,
    first: Option<Delivery>,
    output: &mut BytesMut,
) -> Result<(), String> {
    let protocol = session.protocol;
    let inbox = session.pubsub.inbox.as_mut().expect("subscribed");
    let mut next = first;
    for _ in 0..PIPELINE_BATCH_MAX {
        match next {
            Some(Delivery::Message(frame, _)) => encode(&frame, protocol, output),
            Some(Delivery::CutOff) => return Err("pubsub output buffer limit exceeded".into()),
            None => break,
        }
        if output.len() >= REPLY_BUFFER_FLUSH_BYTES {
            break;
        }
        next = inbox.try_recv();
    }
    Ok(())
}

/// Finds the command (and subcommand) and checks arity, with Redis's errors.
pub fn resolve(argv: &[Bytes]) -> Result<(&'static CommandSpec, usize), CmdError> {
    let Some(spec) = lookup(&argv[0]) else {
        return Err(CmdError::UnknownCommand {
            name: argv[0].clone(),
            args: argv[1..].to_vec(),
        });
    };
    let (spec, skip) = match (spec.subcommands.is_empty(), argv.get(1)) {
        (false, Some(sub)) => match spec.subcommand(sub) {
            Some(found) => (found, 2),
            None => {
                return Err(CmdError::UnknownSubcommand {
                    command: spec.name.to_string(),
                    sub: sub.clone(),
                });
            }
        },
        _ => (spec, 1),
    };
    if matches!(spec.handler, Handler::Container) || !spec.arity_ok(argv.len()) {
        return Err(CmdError::WrongArity {
            command: spec.name.to_string(),
        });
    }
    Ok((spec, skip))
}

/// The sorted, distinct shards a data command needs.
/// A command whose `numkeys` is invalid names no keys; it runs on the connection's own shard,
/// where its handler reports the error.
/// The one shard a command's keys live on, or None if they span several.
fn one_shard(spec: &CommandSpec, argv: &[Bytes], shard_count: usize, own: usize) -> Option<usize> {
    let keys = spec.keys;
    // The common case, one key at a fixed place (GET, SET, INCR ...), without allocating.
    if spec.route == Route::Keys && keys.keynum == 0 && keys.first > 0 && keys.first == keys.last {
        return Some(match argv.get(keys.first as usize) {
            Some(key) => shard_of_key(key, shard_count),
            None => own,
        });
    }
    match target_shards(spec, argv, shard_count, own)[..] {
        [shard] => Some(shard),
        _ => None,
    }
}

fn target_shards(spec: &CommandSpec, argv: &[Bytes], shard_count: usize, own: usize) -> Vec<usize> {
    let mut shards: Vec<usize> = match spec.route {
        Route::Keys => {
            let positions = spec.key_positions(argv);
            if positions.is_empty() {
                vec![own]
            } else {
                positions
                    .iter()
                    .map(|&i| shard_of_key(&argv[i], shard_count))
                    .collect()
            }
        }
        Route::AllShards => (0..shard_count).collect(),
        Route::None => unreachable!("session commands use no store"),
    };
    shards.sort_unstable();
    shards.dedup();
    assert!(!shards.is_empty(), "{} needs at least one shard", spec.name);
    shards
}
