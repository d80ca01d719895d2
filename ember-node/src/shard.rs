//! A shard: one thread (production) or one task (simulation) that owns a `Store` and serves
//! the connections assigned to it.
//!
//! Data commands run where their keys live:
//! - keys on this shard: inline, synchronously, with no channel and no extra allocation;
//! - keys on one other shard: the request goes to that shard's inbox, the reply comes back on
//!   a oneshot;
//! - keys on several shards (MSET, RENAME, DEL k1 k2 ...) or all shards (DBSIZE, KEYS): the
//!   connection borrows every needed store, in ascending shard order, runs the same handler
//!   over all of them, and gives them back. Owning every store at once makes the command
//!   atomic: no other command can observe a half-applied state. Borrowing in one global order
//!   makes it deadlock-free.
//!
//! A store is "lent" by moving its `Box` to the borrower; while it is away, everyone else who
//! needs it waits on `returned`. Returns arrive on a separate channel so that they are never
//! stuck behind a request that is itself waiting for the store.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use bytes::Bytes;
use ember_net::{DetachedConn, Env};
use ember_proto::{Frame, Protocol};
use tokio::sync::{mpsc, oneshot, Notify};

use crate::cmd::{Args, CmdError, Ctx, DataFn};
use crate::keyspace::Store;
use crate::limits::EXPIRE_TICK_BUDGET_PERCENT;
use crate::server::Shared;

/// Requests a shard's inbox holds before senders wait. Each connection has at most one
/// request in flight, so this only bounds bursts of new connections and borrows.
pub const INBOX_CAPACITY: usize = 4096;

/// A data command, ready to run against the stores that own its keys.
pub struct DataRequest {
    pub handler: DataFn,
    pub argv: Vec<Bytes>,
    /// Arguments before the handler's own: 1 for a command, 2 for a subcommand.
    pub skip: usize,
    pub db: usize,
    pub protocol: Protocol,
    /// The connection's WATCH flag, passed only with WATCH.
    pub watch: Option<Arc<std::sync::atomic::AtomicBool>>,
    /// The connection's waiter, passed only with blocking commands outside MULTI.
    pub waiter: Option<Arc<crate::keyspace::blocking::Waiter>>,
    /// The command may add memory (Redis's `denyoom`): refused while over maxmemory with
    /// nothing left to evict.
    pub denyoom: bool,
    /// Its slot is being migrated away: keys already gone get ASK or TRYAGAIN instead.
    pub ask: Option<Box<crate::cluster::Ask>>,
}

/// What running a data command gives: a reply, or the news that it blocks.
#[derive(Debug)]
pub enum Outcome {
    Reply(Frame),
    Blocked(Box<crate::cmd::blocking::Blocking>),
}

impl DataRequest {
    /// Runs the handler over `stores` and turns its error into an error reply.
    pub fn run(&self, shared: &Shared, stores: &mut [&mut Store], now_ms: u64) -> Outcome {
        let tracking = stores.len() > 1;
        let mut eviction = shared.config.eviction(shared.shard_count);
        if eviction.budget_bytes > 0 {
            eviction.overhead_bytes = overhead_share(shared, now_ms);
        }
        let mut out_of_memory = false;
        for store in stores.iter_mut() {
            store.journal.set_tracking(tracking);
            // As Redis does before every command: evict down to the limit first.
            store.set_eviction(eviction);
            if eviction.budget_bytes > 0 {
                out_of_memory |= store.evict(now_ms).is_err();
                shared.stats.shards[store.id]
                    .dataset_bytes
                    .store(store.memory_bytes() as u64, Ordering::Relaxed);
                // Evictions are logged as DELs of their own, ahead of the command.
                crate::persist::log::hand_over(shared, store);
            }
        }
        if out_of_memory && self.denyoom {
            return Outcome::Reply(CmdError::OutOfMemory.to_frame());
        }
        if let Some(ask) = &self.ask {
            let mut ctx = Ctx::new(now_ms, self.db, self.protocol, shared, stores);
            let missing = ask
                .keys
                .iter()
                .filter(|key| !ctx.store(key).exists(self.db, key, now_ms))
                .count();
            let redirect =
                crate::cluster::ask_if_missing(ask.slot, &ask.to, ask.keys.len(), missing);
            if let Some(redirect) = redirect {
                return Outcome::Reply(redirect.to_frame());
            }
        }
        let (result, propagate) = {
            let mut ctx = Ctx::new(now_ms, self.db, self.protocol, shared, stores);
            ctx.watch = self.watch.clone();
            ctx.waiter = self.waiter.clone();
            let mut args = Args::new(&self.argv, self.skip);
            let result = (self.handler)(&mut ctx, &mut args);
            (result, ctx.propagate.take())
        };
        crate::persist::log::after_command(shared, stores, self.db, &self.argv, propagate);
        match result {
            Ok(frame) => Outcome::Reply(frame),
            Err(CmdError::Blocked(blocking)) => Outcome::Blocked(blocking),
            Err(error) => Outcome::Reply(error.to_frame()),
        }
    }
}

/// One shard's share of what the process allocated beyond the shards' datasets (0 where
/// the counting allocator is not installed, as in the simulator, which keeps eviction
/// there a function of the keys alone). Summing it reads every thread's allocation
/// counter, so it is computed at most once a millisecond per thread (it moves slowly) and
/// not before every command.
fn overhead_share(shared: &Shared, now_ms: u64) -> usize {
    thread_local! {
        static LAST: std::cell::Cell<Option<(u64, usize)>> = const { std::cell::Cell::new(None) };
    }
    if let Some((at_ms, share)) = LAST.with(|last| last.get()) {
        if at_ms == now_ms {
            return share;
        }
    }
    let share = overhead_share_now(shared);
    LAST.with(|last| last.set(Some((now_ms, share))));
    share
}

fn overhead_share_now(shared: &Shared) -> usize {
    let Some(total) = crate::alloc::allocated_bytes() else {
        return 0;
    };
    let datasets: u64 = shared
        .stats
        .shards
        .iter()
        .map(|shard| shard.dataset_bytes.load(Ordering::Relaxed))
        .sum();
    total.saturating_sub(datasets as usize) / shared.shard_count.max(1)
}

impl DataRequest {
    /// Runs on one store at `now_ms` and measures how long it took since `started`, for
    /// the slow log; also returns when it ended, which the next command of a batch takes as
    /// its start (one clock read per command).
    pub fn run_timed(
        self,
        env: &Env,
        shared: &Shared,
        store: &mut Store,
        now_ms: u64,
        started: Instant,
    ) -> (Done, Instant) {
        let outcome = self.run(shared, &mut [store], now_ms);
        let ended = env.now();
        let duration_us = ended.duration_since(started).as_micros() as u64;
        let done = Done {
            outcome,
            duration_us,
            argv: self.argv,
        };
        (done, ended)
    }
}

/// A data command sent to the shard that owns its keys.
pub struct Job {
    pub request: DataRequest,
    pub reply: oneshot::Sender<Outcome>,
}

/// A connection's pipelined commands for this shard, run in order in one visit.
pub struct BatchJob {
    pub requests: Vec<DataRequest>,
    pub reply: oneshot::Sender<Vec<Done>>,
}

/// One batched command's outcome, how long it ran (for the slow log), and its arguments.
pub struct Done {
    pub outcome: Outcome,
    pub duration_us: u64,
    pub argv: Vec<Bytes>,
}

pub enum ShardMsg {
    /// A new client connection assigned to this shard.
    Connection(DetachedConn),
    /// Run a data command on this shard's store.
    Exec(Job),
    /// Run a connection's pipelined commands for this shard.
    Batch(BatchJob),
    /// Hand this shard's store to a borrower; it comes back on the returns channel.
    Lend(oneshot::Sender<Box<Store>>),
}

/// How other shards reach this one.
pub struct ShardPeer {
    pub messages: mpsc::Sender<ShardMsg>,
    pub returns: mpsc::UnboundedSender<Box<Store>>,
}

/// What a shard's tasks share on its own thread.
pub struct ShardLocal {
    pub id: usize,
    pub env: Env,
    pub shared: Arc<Shared>,
    pub peers: Arc<Vec<ShardPeer>>,
    store: RefCell<Option<Box<Store>>>,
    returned: Notify,
}

impl ShardLocal {
    pub(crate) fn new(
        id: usize,
        env: Env,
        shared: Arc<Shared>,
        peers: Arc<Vec<ShardPeer>>,
        store: RefCell<Option<Box<Store>>>,
    ) -> ShardLocal {
        ShardLocal {
            id,
            env,
            shared,
            peers,
            store,
            returned: Notify::new(),
        }
    }

    /// Takes the store for good (a standalone local used for loading).
    pub fn take_store(&self) -> Store {
        *self.store.borrow_mut().take().expect("the store is here")
    }

    /// Runs `f` on this shard's store if it is here now (not lent out).
    pub fn with_store(&self, f: impl FnOnce(&Store)) {
        if let Some(store) = self.store.borrow().as_deref() {
            f(store);
        }
    }

    /// Takes this shard's store if it is here now.
    pub fn try_acquire(&self) -> Option<Box<Store>> {
        self.store.borrow_mut().take()
    }

    /// Takes this shard's store, waiting while it is lent out.
    pub async fn acquire(&self) -> Box<Store> {
        loop {
            if let Some(store) = self.store.borrow_mut().take() {
                return store;
            }
            let notified = self.returned.notified();
            tokio::pin!(notified);
            // Register before re-checking, so a return between the check and the wait is seen.
            notified.as_mut().enable();
            if let Some(store) = self.store.borrow_mut().take() {
                return store;
            }
            notified.await;
        }
    }

    pub fn put_back(&self, store: Box<Store>) {
        assert_eq!(store.id, self.id, "a store returns to its own shard");
        let previous = self.store.borrow_mut().replace(store);
        assert!(previous.is_none(), "store {} returned twice", self.id);
        self.returned.notify_waiters();
    }

    /// Borrows the stores of `shards` (sorted, distinct) in ascending order.
    pub async fn borrow_many(&self, shards: &[usize]) -> Vec<Box<Store>> {
        debug_assert!(shards.windows(2).all(|w| w[0] < w[1]));
        let mut stores = Vec::with_capacity(shards.len());
        for &shard in shards {
            let store = if shard == self.id {
                self.acquire().await
            } else {
                let (reply, receive) = oneshot::channel();
                let sent = self.peers[shard].messages.send(ShardMsg::Lend(reply)).await;
                assert!(sent.is_ok(), "shard {shard} stopped");
                receive.await.expect("a lending shard always answers")
            };
            assert_eq!(store.id, shard);
            stores.push(store);
        }
        stores
    }

    pub fn return_many(&self, stores: Vec<Box<Store>>) {
        for store in stores {
            if store.id == self.id {
                self.put_back(store);
            } else {
                let shard = store.id;
                let sent = self.peers[shard].returns.send(store);
                assert!(sent.is_ok(), "shard {shard} stopped");
            }
        }
    }

    /// Sends a data command to the shard that owns its keys and waits for the reply.
    pub async fn exec_remote(
        &self,
        shard: usize,
        job: Job,
        reply: oneshot::Receiver<Outcome>,
    ) -> Outcome {
        assert_ne!(shard, self.id);
        let sent = self.peers[shard].messages.send(ShardMsg::Exec(job)).await;
        assert!(sent.is_ok(), "shard {shard} stopped");
        reply.await.expect("an executing shard always answers")
    }
}

type Inbox = (
    mpsc::Receiver<ShardMsg>,
    mpsc::UnboundedReceiver<Box<Store>>,
);

/// A shard's life: create its store, start its background tasks, then serve its inbox.
pub async fn run(
    id: usize,
    env: Env,
    shared: Arc<Shared>,
    peers: Arc<Vec<ShardPeer>>,
    inbox: Inbox,
) {
    let (mut messages, mut returns) = inbox;
    let mut store = Store::new(
        id,
        env.hash_state(&format!("store-{id}")),
        env.rng(&format!("store-{id}")),
    );
    store.journal.set_on(shared.persist.appendonly);
    let freeing = env.clone();
    store.set_dropper(Box::new(move |values| freeing.drop_later(Box::new(values))));
    let local = Rc::new(ShardLocal::new(
        id,
        env.clone(),
        shared,
        peers,
        RefCell::new(Some(Box::new(store))),
    ));
    let pump = local.clone();
    env.spawn(async move {
        while let Some(store) = returns.recv().await {
            pump.put_back(store);
        }
    });
    env.spawn(start(local.clone()));
    while let Some(message) = messages.recv().await {
        handle(&local, message).await;
    }
}

async fn handle(local: &Rc<ShardLocal>, message: ShardMsg) {
    match message {
        ShardMsg::Connection(detached) => match detached.attach() {
            Ok(conn) => {
                local.env.spawn(crate::conn::serve(local.clone(), conn));
            }
            Err(error) => tracing::warn!(%error, "could not attach a connection"),
        },
        ShardMsg::Exec(job) => {
            let mut store = local.acquire().await;
            let now_ms = local.env.unix_ms();
            let frame = job.request.run(&local.shared, &mut [&mut *store], now_ms);
            local.put_back(store);
            // The requester may have gone away (connection closed); that is fine.
            let _ = job.reply.send(frame);
        }
        ShardMsg::Batch(batch) => {
            let mut store = local.acquire().await;
            let mut done = Vec::with_capacity(batch.requests.len());
            // One wall-clock reading for the batch, as for the connection's own round.
            let now_ms = local.env.unix_ms();
            let mut mark = local.env.now();
            for request in batch.requests {
                let (outcome, ended) =
                    request.run_timed(&local.env, &local.shared, &mut store, now_ms, mark);
                done.push(outcome);
                mark = ended;
            }
            local.put_back(store);
            let _ = batch.reply.send(done);
        }
        ShardMsg::Lend(reply) => {
            let store = local.acquire().await;
            if let Err(store) = reply.send(store) {
                local.put_back(store);
            }
        }
    }
}

/// Loads the shard's data, then starts its AOF writer, its snapshot service and active
/// expiry. A load that fails stops the node with the reason.
async fn start(local: Rc<ShardLocal>) {
    let env = local.env.clone();
    let persist = &local.shared.persist;
    if let Err(reason) = reshard_first(&local).await {
        persist.writer_done();
        persist.fail(reason);
        return;
    }
    match crate::persist::recover::start_shard(&local).await {
        Ok(Some(aof)) => {
            let writer =
                crate::persist::writer::run(env.clone(), local.shared.clone(), local.id, aof);
            env.spawn(writer);
        }
        Ok(None) => persist.writer_done(),
        Err(reason) => {
            persist.writer_done();
            persist.fail(reason);
            return;
        }
    }
    persist.shard_loaded();
    let inbox = persist.save_inboxes[local.id]
        .lock()
        .expect("inbox lock")
        .take();
    if let Some(mut requests) = inbox {
        let saver = local.clone();
        env.spawn(async move {
            while let Some(reply) = requests.recv().await {
                let _ = reply.send(crate::persist::save::save_shard(&saver).await);
            }
        });
    }
    expire_loop(local).await;
}

/// When the data directory was written with another shard count, shard 0 moves every key
/// to its new shard; the others wait for it.
async fn reshard_first(local: &ShardLocal) -> Result<(), String> {
    let persist = &local.shared.persist;
    if local.id == 0 {
        let old = persist.reshard_from.lock().expect("reshard lock").take();
        if let Some(old) = old {
            crate::persist::reshard::reshard(&local.env, &local.shared, old).await?;
        }
        persist.reshard_done.send_replace(true);
        return Ok(());
    }
    let mut done = persist.reshard_done.subscribe();
    let _ = done.wait_for(|done| *done || persist.is_stopping()).await;
    if persist.is_stopping() {
        return Err(persist
            .failure()
            .unwrap_or_else(|| "stopped while resharding".into()));
    }
    Ok(())
}

/// Active expiry: every 1/hz seconds, sample keys with a TTL and delete the dead ones, within
/// a share of the tick (by the Env clock). With no TTLs the tick does no work.
async fn expire_loop(local: Rc<ShardLocal>) {
    loop {
        let hz = local.shared.config.hz().max(1) as u64;
        let tick = Duration::from_millis(1000 / hz);
        local.env.sleep(tick).await;
        let mut store = local.acquire().await;
        let started = local.env.now();
        let budget = tick * EXPIRE_TICK_BUDGET_PERCENT as u32 / 100;
        let env = local.env.clone();
        let now_ms = env.unix_ms();
        store.active_expire(now_ms, &mut || env.now().duration_since(started) >= budget);
        store.prune_watchers();
        crate::persist::log::hand_over(&local.shared, &mut store);
        local.put_back(store);
    }
}
