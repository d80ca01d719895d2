//! The persist world: one node with the AOF on (`appendfsync` as the scenario says) over
//! the world's `SimDisk`, writer clients that append sequenced writes to keys they own and
//! read every key back after each restart, and an admin host that sends the BGSAVE,
//! BGREWRITEAOF and SHUTDOWN requests the episodes ask for.
//!
//! The world crashes the node at the episodes' instants: turmoil's `crash` drops its tasks
//! and sockets, and `SimDisk::crash` keeps, drops, tears or garbles each page written since
//! the last fsync. With `faults=disk` it also turns EIO, ENOSPC and failed fsyncs on; a
//! node whose write or fsync fails must stop. A stop, and a clean exit after SHUTDOWN, are
//! then treated as a crash of the machine (the disk crashes too), and the node restarts,
//! faults healed, after the down time. Each node end is judged by `checkers::node_stops`, each lost
//! connection by `checkers::lost_connections`, and each read-back by the policy's checkers
//! in `persist_client`.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;

use ember_net::{Env, FaultConfig, SimDisk};
use ember_node::ServerConfig;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::checkers::lost_connections::{self, Loss};
use crate::checkers::node_stops::{self, NodeEnd};
use crate::persist_client::{self, WriterSetup};
use crate::persist_faults::{AdminOrder, Episode, Event, Timeline, DOWN_MS_MAX};
use crate::scenario::{PersistSpec, Policy, ShutdownCheck};
use crate::trace::Trace;
use crate::world::{
    self, EPOCH_UNIX_MS, LATENCY_MS_MAX_HIGH, LATENCY_MS_MAX_LOW, LATENCY_MS_MIN, NODE_HOST,
    NODE_PORT,
};

/// Where the node keeps its files on the simulated disk.
pub const DATA_DIR: &str = "/data";
/// The save schedules the seed picks from: none, or a snapshot every second with writes.
const SAVE_SCHEDULES: [&str; 2] = ["", "1 20"];
/// The chance that a page a crash tears is garbled past the tear, in runs that garble.
const GARBLE_PROBABILITY: f64 = 0.5;
/// The range the seed draws the disk's latency from, in milliseconds per operation.
const DISK_LATENCY_MS_MAX: u64 = 2;
/// How long a client may take to get a connection, beyond the longest outage.
pub const RECONNECT_SLACK_MS: u64 = 2_000;

/// Everything the seed decides about a persist world.
#[derive(Clone, Debug)]
pub struct Params {
    pub seed: u64,
    /// What the checkers hold the node to (`spec.policy`).
    pub spec: PersistSpec,
    /// The policy the node runs: the spec's, except in the tests that show the checkers
    /// catch a node that fsyncs less than it promises.
    pub node_policy: Policy,
    pub shards: usize,
    pub latency_ms_max: u64,
    pub save: &'static str,
    pub garble_probability: f64,
    /// Every disk operation first waits up to this long, faults or not, so that crashes
    /// also land between an append and its fsync.
    pub disk_latency_ms_max: u64,
    pub episodes: Vec<Episode>,
}

/// What the hosts and the step loop share, single-threaded as turmoil is.
#[derive(Debug, Default)]
pub struct Board {
    /// Bumped when the node crashes or stops; a generation is one run of its host.
    pub generation: u64,
    /// How each generation ended, by generation.
    pub ends: Vec<GenerationEnd>,
    /// Every episode is over and the node is up.
    pub healed: bool,
    pub failure: Option<String>,
    pub trace: Trace,
    /// Requests for the admin host, each for the generation it was made in.
    pub admin_orders: VecDeque<(u64, AdminOrder)>,
    /// When the admin sent a generation its SHUTDOWN, by generation.
    pub shutdown_sent_ms: BTreeMap<u64, u64>,
    pub losses: Vec<Loss>,
    pub stats: Stats,
}

/// Counts for the run's summary line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub sent: u64,
    pub acked: u64,
    /// Writes whose acknowledgement never came; of those, how many a read-back found.
    pub unacked: u64,
    pub unacked_kept: u64,
    /// Acknowledged writes a crash lost (allowed only under everysec and no).
    pub lost_acked: u64,
    /// The longest a lost write had been acknowledged before its crash.
    pub lost_window_ms_max: u64,
    pub read_backs: u64,
    pub crashes: u64,
    /// Crashes and stops that found a snapshot being written or an AOF being rotated.
    pub mid_save: u64,
    pub stops: u64,
    /// Generations that ended with a SHUTDOWN and a clean exit.
    pub shutdowns: u64,
    pub saves: u64,
    pub connects: u64,
}

/// How a generation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GenerationEnd {
    pub at_ms: u64,
    /// The node exited cleanly after a SHUTDOWN, sent at `shutdown_sent_ms`.
    pub clean: bool,
    pub shutdown_sent_ms: Option<u64>,
}

/// A finished run.
#[derive(Debug)]
pub struct Outcome {
    pub trace: Trace,
    pub summary: String,
    pub failure: Option<String>,
}

impl Board {
    /// Records the first failure; later ones are consequences.
    pub fn fail(&mut self, who: &str, at_ms: u64, detail: String) {
        if self.failure.is_none() {
            self.failure = Some(format!("{who} at_ms={at_ms}: {detail}"));
        }
    }
}

impl Params {
    pub fn derive(seed: u64, spec: &PersistSpec) -> Params {
        let mut rng = world::stream(seed, "persist-params");
        let shards = rng.gen_range(spec.shards.clone());
        let latency_ms_max = rng.gen_range(LATENCY_MS_MAX_LOW..=LATENCY_MS_MAX_HIGH);
        let save = SAVE_SCHEDULES[rng.gen_range(0..SAVE_SCHEDULES.len())];
        let garble_probability = if rng.gen_bool(0.5) {
            GARBLE_PROBABILITY
        } else {
            0.0
        };
        let disk_latency_ms_max = rng.gen_range(0..=DISK_LATENCY_MS_MAX);
        let episodes = Episode::draw(
            &mut world::stream(seed, "persist-faults"),
            spec.crashes,
            spec.faults,
            spec.startup_eio,
            spec.shutdown != ShutdownCheck::None,
        );
        assert!(spec.shards.contains(&shards));
        assert_eq!(episodes.len(), spec.crashes);
        Params {
            seed,
            spec: spec.clone(),
            node_policy: spec.policy,
            shards,
            latency_ms_max,
            save,
            garble_probability,
            disk_latency_ms_max,
            episodes,
        }
    }

    /// One line with every derived parameter, printed before the run.
    pub fn describe(&self) -> String {
        let episodes: Vec<String> = self.episodes.iter().map(Episode::describe).collect();
        format!(
            "seed={} shards={} policy={} clients={} writes={} latency_ms={}..{} save=\"{}\" garble={} disk_latency_ms=0..{} episodes=[{}]",
            self.seed,
            self.shards,
            self.spec.policy.name(),
            self.spec.clients,
            self.spec.writes,
            LATENCY_MS_MIN,
            self.latency_ms_max,
            self.save,
            self.garble_probability,
            self.disk_latency_ms_max,
            episodes.join(", ")
        )
    }

    fn node_config(&self) -> ServerConfig {
        node_config(self.shards, self.node_policy, self.save)
    }
}

/// Runs the world `params` describes to its end.
pub fn run(params: &Params) -> Outcome {
    let board = Rc::new(RefCell::new(Board::default()));
    let disk = SimDisk::new(params.seed);
    let healthy = FaultConfig {
        latency_ms_max: params.disk_latency_ms_max,
        ..FaultConfig::default()
    };
    disk.set_faults(healthy);
    let config = Rc::new(RefCell::new(params.node_config()));
    let ended: EndCell = Rc::new(RefCell::new(None));
    let mut sim = world::build_sim(params.seed, params.latency_ms_max);
    add_node(&mut sim, params.seed, &disk, &config, &ended);
    add_hosts(&mut sim, params, &board);
    let mut world = World {
        timeline: Timeline::new(params.episodes.clone()),
        disk,
        healthy,
        crash_rng: world::stream(params.seed, "disk-crash"),
        garble_probability: params.garble_probability,
        board: board.clone(),
        shutdown_generation: None,
    };
    let elapsed_ms = world.step_to_end(&mut sim, &ended);
    drop(sim);
    let mut board = board.borrow_mut();
    if board.failure.is_none() {
        check_losses(&mut board, elapsed_ms);
    }
    let stats = board.stats;
    let summary = format!(
        "sent={} acked={} unacked={} unacked_kept={} lost_acked={} lost_window_ms_max={} read_backs={} crashes={} mid_save={} stops={} shutdowns={} saves={} connects={} events={} virtual_ms={elapsed_ms}",
        stats.sent,
        stats.acked,
        stats.unacked,
        stats.unacked_kept,
        stats.lost_acked,
        stats.lost_window_ms_max,
        stats.read_backs,
        stats.crashes,
        stats.mid_save,
        stats.stops,
        stats.shutdowns,
        stats.saves,
        stats.connects,
        board.trace.events(),
    );
    Outcome {
        trace: board.trace.clone(),
        summary,
        failure: board.failure.clone(),
    }
}

/// The node's configuration: the AOF on in `DATA_DIR` with `policy`.
pub fn node_config(shards: usize, policy: Policy, save: &str) -> ServerConfig {
    ServerConfig {
        host: "0.0.0.0".into(),
        port: NODE_PORT,
        shards: Some(shards),
        data_dir: DATA_DIR.into(),
        appendonly: true,
        appendfsync: policy.name().into(),
        save: save.into(),
        ..ServerConfig::default()
    }
}

/// How the node's host last ended, taken by the step loop.
pub type EndCell = Rc<RefCell<Option<Result<(), String>>>>;

/// The node host over `disk`, started with whatever `config` holds at each (re)start. When
/// its start or accept loop ends, the result goes to `ended` and the host finishes quietly
/// (an `Err` would stop turmoil), leaving the world to judge it.
pub fn add_node(
    sim: &mut turmoil::Sim<'static>,
    seed: u64,
    disk: &SimDisk,
    config: &Rc<RefCell<ServerConfig>>,
    ended: &EndCell,
) {
    let (disk, config, ended) = (disk.clone(), config.clone(), ended.clone());
    sim.host(NODE_HOST, move || {
        let (disk, config, ended) = (disk.clone(), config.borrow().clone(), ended.clone());
        async move {
            let cores = config.shards.expect("the world sets the shard count");
            let env = Env::simulation(seed, NODE_HOST, disk, cores, EPOCH_UNIX_MS);
            let result = match ember_node::server::start(env, config).await {
                Ok((_started, accept)) => accept.await,
                Err(error) => Err(error),
            };
            *ended.borrow_mut() = Some(result.map_err(|error| error.to_string()));
            Ok(())
        }
    });
}

/// Crashes the node's machine: its tasks, and the pages its disk had not made durable.
/// The disk is `healthy` again afterwards, so the restart finds no injected faults.
pub fn crash_machine(
    sim: &mut turmoil::Sim<'static>,
    disk: &SimDisk,
    healthy: FaultConfig,
    garble_probability: f64,
    rng: &mut ChaCha8Rng,
) {
    assert!(!injecting(&healthy));
    sim.crash(NODE_HOST);
    disk.set_faults(FaultConfig {
        garble_probability,
        ..healthy
    });
    disk.crash(NODE_HOST, rng);
    disk.set_faults(healthy);
}

/// Whether `config` injects failures (latency and garbling are not failures).
pub fn injecting(config: &FaultConfig) -> bool {
    config.eio_probability > 0.0
        || config.enospc_probability > 0.0
        || config.fsync_fail_probability > 0.0
}

fn add_hosts(sim: &mut turmoil::Sim<'static>, params: &Params, board: &Rc<RefCell<Board>>) {
    let reconnect_deadline_ms = DOWN_MS_MAX + RECONNECT_SLACK_MS;
    for index in 0..params.spec.clients {
        let setup = WriterSetup {
            index,
            seed: params.seed,
            policy: params.spec.policy,
            writes: params.spec.writes,
            rng: world::stream(params.seed, &format!("writer-{index}")),
            reconnect_deadline_ms,
            shutdown: params.spec.shutdown,
            board: board.clone(),
        };
        sim.client(format!("writer{index}"), persist_client::run(setup));
    }
    let (seed, board) = (params.seed, board.clone());
    sim.client("admin", persist_client::admin(seed, board));
}

/// The step loop's state: the episodes, the disk, and what crashes draw from.
struct World {
    timeline: Timeline,
    disk: SimDisk,
    healthy: FaultConfig,
    crash_rng: ChaCha8Rng,
    garble_probability: f64,
    board: Rc<RefCell<Board>>,
    /// The generation the last SHUTDOWN was sent to.
    shutdown_generation: Option<u64>,
}

impl World {
    /// Steps until every client is done or one failed; the virtual time it ended at.
    fn step_to_end(&mut self, sim: &mut turmoil::Sim<'static>, ended: &EndCell) -> u64 {
        loop {
            let finished = match sim.step() {
                Ok(finished) => finished,
                Err(error) => {
                    let now_ms = world::duration_ms(sim.elapsed());
                    let detail = format!("the simulation stopped: {error}");
                    self.board.borrow_mut().fail("world", now_ms, detail);
                    break;
                }
            };
            let now_ms = world::duration_ms(sim.elapsed());
            let end = ended.borrow_mut().take();
            if let Some(result) = end {
                self.node_ended(sim, now_ms, result);
            }
            if let Some(event) = self.timeline.due(now_ms) {
                self.apply(sim, now_ms, event);
            }
            self.board.borrow_mut().healed = self.timeline.healed();
            if finished || self.board.borrow().failure.is_some() {
                break;
            }
        }
        world::duration_ms(sim.elapsed())
    }

    /// The node stopped by itself: judge why, then crash its machine as at a crash.
    fn node_ended(
        &mut self,
        sim: &mut turmoil::Sim<'static>,
        now_ms: u64,
        result: Result<(), String>,
    ) {
        let generation = self.board.borrow().generation;
        let reason = match &result {
            Ok(()) => "exited".to_string(),
            Err(reason) => reason.clone(),
        };
        let end = NodeEnd {
            at_ms: now_ms,
            generation,
            faults_on: injecting(&self.disk.faults()),
            shutdown_requested: self.shutdown_generation == Some(generation),
            result,
        };
        let clean = end.shutdown_requested && end.result.is_ok();
        let mut board = self.board.borrow_mut();
        if let Err(detail) = node_stops::check(&end) {
            board.fail("node", now_ms, detail);
        }
        if clean {
            board.stats.shutdowns += 1;
        } else {
            board.stats.stops += 1;
        }
        board
            .trace
            .record(now_ms, &[b"world", b"stopped", reason.as_bytes()]);
        drop(board);
        self.timeline.node_ended(now_ms);
        self.end_generation(sim, now_ms, clean);
    }

    fn apply(&mut self, sim: &mut turmoil::Sim<'static>, now_ms: u64, event: Event) {
        let mut board = self.board.borrow_mut();
        match event {
            Event::FaultsOn(config) => {
                let latency_ms_max = config.latency_ms_max.max(self.healthy.latency_ms_max);
                self.disk.set_faults(FaultConfig {
                    latency_ms_max,
                    ..config
                });
                board.trace.record(now_ms, &[b"world", b"faults on"]);
            }
            Event::Admin(order) => {
                if order == AdminOrder::Shutdown {
                    self.shutdown_generation = Some(board.generation);
                }
                let generation = board.generation;
                board.admin_orders.push_back((generation, order));
            }
            Event::Crash => {
                board.stats.crashes += 1;
                drop(board);
                self.end_generation(sim, now_ms, false);
            }
            Event::Restart => {
                sim.bounce(NODE_HOST);
                board.trace.record(now_ms, &[b"world", b"restart"]);
            }
        }
    }

    /// Crashes the machine (the node's tasks may already have ended) and opens the next
    /// generation; `clean` if the node exited after a SHUTDOWN.
    fn end_generation(&mut self, sim: &mut turmoil::Sim<'static>, now_ms: u64, clean: bool) {
        let mid_save = self.disk.list(NODE_HOST).iter().any(|path| saving(path));
        crash_machine(
            sim,
            &self.disk,
            self.healthy,
            self.garble_probability,
            &mut self.crash_rng,
        );
        let mut board = self.board.borrow_mut();
        board.stats.mid_save += u64::from(mid_save);
        let generation = board.generation;
        let shutdown_sent_ms = board.shutdown_sent_ms.get(&generation).copied();
        board.ends.push(GenerationEnd {
            at_ms: now_ms,
            clean,
            shutdown_sent_ms,
        });
        board.generation += 1;
        assert_eq!(board.ends.len() as u64, board.generation);
        board.trace.record(now_ms, &[b"world", b"crash"]);
    }
}

/// Whether `path` exists only while a save runs: a snapshot's temporary file, or an AOF
/// rotated away and not yet covered by a snapshot (`shard-i.aof.E`).
fn saving(path: &std::path::Path) -> bool {
    let name = path
        .file_name()
        .and_then(|name| name.to_str())
        .unwrap_or("");
    let rotated = name
        .rsplit_once(".aof.")
        .is_some_and(|(_, epoch)| epoch.parse::<u64>().is_ok());
    name.ends_with(".tmp") || rotated
}

/// Every lost connection must be excused by the end of its generation.
fn check_losses(board: &mut Board, elapsed_ms: u64) {
    let verdicts: Vec<String> = board
        .losses
        .iter()
        .filter_map(|loss| {
            let generation = usize::try_from(loss.generation).expect("small");
            let ended_ms = board.ends.get(generation).map(|end| end.at_ms);
            lost_connections::check(loss, ended_ms).err()
        })
        .collect();
    if let Some(first) = verdicts.into_iter().next() {
        board.fail("connections", elapsed_ms, first);
    }
}
