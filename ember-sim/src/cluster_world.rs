//! The cluster world: several ember-server nodes in cluster mode (`--cluster-enabled`, the
//! AOF on with `appendfsync always`, each over the world's `SimDisk`), cluster-aware
//! clients running a checked workload, and an operator host that does what a person with
//! redis-cli would: MEET, ADDSLOTS, SETSLOT, MIGRATE, CLUSTER INFO.
//!
//! A cluster scenario file is a script (`cluster_script`): the world runs its steps in
//! order. Steps that act on the network or the machines (partitions, crashes, the passing
//! of time) run here, between turmoil steps; steps that talk to the nodes are orders the
//! operator host carries out, and it may ask the world for a fault at a precise moment
//! (a crash in the middle of a migration).
//!
//! After every turmoil step the world runs the safety checkers that watch the nodes
//! directly: `log_matching` over every applied topology entry, `slot_owners` over every
//! node's current topology. The clients check their replies as they get them; the operator
//! checks convergence, availability under partitions and, at the end, the key census.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use ember_cluster::raft::AppliedEntry;
use ember_cluster::{ClusterEvent, ClusterNode};
use ember_net::{Env, FaultConfig, SimDisk};
use ember_node::{ClusterObserver, ServerConfig};
use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::checkers::log_matching::LogMatching;
use crate::checkers::slot_owners::SlotOwners;
use crate::cluster_client::{self, ClientSetup};
use crate::cluster_model::Model;
use crate::cluster_operator::{self, OperatorSetup};
use crate::cluster_script::{ClusterSpec, LeaderSide, Partition, Step, Who};
use crate::scenario::Block;
use crate::trace::Trace;
use crate::world::{self, EPOCH_UNIX_MS, LATENCY_MS_MAX_HIGH, LATENCY_MS_MAX_LOW, LATENCY_MS_MIN};

/// Every node's client port; the bus is on the port plus the default offset.
pub const NODE_PORT: u16 = 6379;
/// Where a node keeps its AOF and cluster state on the simulated disk.
const DATA_DIR: &str = "/data";
/// Where a node keeps the cluster's shared secret.
const SECRET_DIR: &str = "/etc/ember";
/// `--cluster-node-timeout` in the world: failures are detected within a few seconds of
/// virtual time.
pub const NODE_TIMEOUT_MS: u64 = 1_000;
/// The range the seed draws the disk's latency from, in milliseconds per operation.
const DISK_LATENCY_MS_MAX: u64 = 2;
/// How long the client stop may take (a command retried to its deadline, then the model
/// handed over).
const CLIENTS_STOP_MS_MAX: u64 = 40_000;

/// Everything the seed decides about a cluster world.
#[derive(Clone, Debug)]
pub struct Params {
    pub seed: u64,
    pub spec: ClusterSpec,
    pub shards: usize,
    pub latency_ms_max: u64,
    pub disk_latency_ms_max: u64,
    /// Whether the nodes authenticate bus frames with a shared secret.
    pub secret: bool,
}

/// Where the clients are in their life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientPhase {
    Waiting,
    Running,
    Stopping,
}

/// A node as the checkers and the operator see it while it runs.
#[derive(Clone)]
pub struct NodeHandle {
    pub cluster: ClusterNode,
    pub shared: Arc<ember_node::server::Shared>,
}

/// A fault the operator asks for at a moment of its choosing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultRequest {
    /// Crash node `node` (and its disk); restart it `down_ms` later.
    Crash { node: usize, down_ms: u64 },
    /// Crash whichever node leads Raft `after_ms` from now; restart it `down_ms` later.
    CrashLeader { after_ms: u64, down_ms: u64 },
    /// Cut node `node` off from every other node for `ms`.
    Isolate { node: usize, ms: u64 },
}

/// What the hosts and the world share; single-threaded, as turmoil is.
pub struct Board {
    pub trace: Trace,
    pub failure: Option<String>,
    pub stats: Stats,
    /// Each node's handle while it runs.
    pub nodes: Vec<Option<NodeHandle>>,
    pub clients: ClientPhase,
    /// Converged with no fault since: clients hold the cluster to the strict bounds.
    pub calm: bool,
    /// Each client's model, handed over when it stops.
    pub models: BTreeMap<usize, Model>,
    /// The step the operator is to carry out, and its answer.
    pub order: Option<Step>,
    pub answer: Option<Result<Vec<String>, String>>,
    pub requests: VecDeque<FaultRequest>,
    /// Which node pairs are cut, as (lower, higher) indexes.
    pub cuts: BTreeSet<(usize, usize)>,
    /// Print every traced event to stderr (`EMBER_SIM_VERBOSE=1`), to read a failing seed.
    pub verbose: bool,
}

/// Counts for the run's summary lines.
#[derive(Clone, Copy, Debug, Default)]
pub struct Stats {
    pub served: u64,
    pub in_doubt: u64,
    pub given_up: u64,
    pub moved: u64,
    pub asks: u64,
    pub tryagain: u64,
    pub clusterdown: u64,
    pub migrated_keys: u64,
    pub crashes: u64,
    pub entries: u64,
}

/// What the world schedules for later.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Later {
    Restart(usize),
    Reconnect(usize),
    CrashLeader { down_ms: u64 },
}

type Observed = Arc<Mutex<Vec<(usize, AppliedEntry)>>>;

/// A running world.
struct World {
    params: Params,
    sim: turmoil::Sim<'static>,
    board: Rc<RefCell<Board>>,
    disk: SimDisk,
    crash_rng: ChaCha8Rng,
    rng: ChaCha8Rng,
    observed: Observed,
    log: LogMatching,
    owners: SlotOwners,
    scheduled: Vec<(u64, Later)>,
}

impl Params {
    pub fn derive(seed: u64, spec: &ClusterSpec) -> Params {
        let mut rng = world::stream(seed, "cluster-params");
        let shards = rng.gen_range(spec.shards.clone());
        let latency_ms_max = rng.gen_range(LATENCY_MS_MAX_LOW..=LATENCY_MS_MAX_HIGH);
        let disk_latency_ms_max = rng.gen_range(0..=DISK_LATENCY_MS_MAX);
        let secret = rng.gen_bool(0.5);
        Params {
            seed,
            spec: spec.clone(),
            shards,
            latency_ms_max,
            disk_latency_ms_max,
            secret,
        }
    }

    pub fn describe(&self) -> String {
        format!(
            "seed={} shards={} nodes={} clients={} keys={} latency_ms={}..{} disk_latency_ms=0..{} node_timeout_ms={NODE_TIMEOUT_MS} secret={}",
            self.seed,
            self.shards,
            self.spec.nodes,
            self.spec.clients,
            self.spec.keys,
            LATENCY_MS_MIN,
            self.latency_ms_max,
            self.disk_latency_ms_max,
            if self.secret { "yes" } else { "no" }
        )
    }
}

impl Board {
    /// Records the first failure; later ones are consequences.
    pub fn fail(&mut self, who: &str, at_ms: u64, detail: String) {
        if self.failure.is_none() {
            self.failure = Some(format!("{who} at_ms={at_ms}: {detail}"));
        }
    }

    /// Adds an event to the trace (and prints it when verbose).
    pub fn note(&mut self, now_ms: u64, fields: &[&[u8]]) {
        self.trace.record(now_ms, fields);
        if self.verbose {
            let words: Vec<String> = fields
                .iter()
                .map(|field| String::from_utf8_lossy(field).into_owned())
                .collect();
            eprintln!("{now_ms:>7} {}", words.join(" "));
        }
    }

    /// The indexes of the running nodes.
    pub fn up(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|index| self.nodes[*index].is_some())
            .collect()
    }

    /// The running node Raft names leader, if every running node that names one agrees
    /// and it is running.
    pub fn leader(&self) -> Option<usize> {
        let handles: Vec<&NodeHandle> = self.nodes.iter().flatten().collect();
        let leader = handles
            .iter()
            .find_map(|handle| handle.cluster.is_leader().then(|| handle.cluster.myself()))?;
        self.nodes.iter().position(|node| {
            node.as_ref()
                .is_some_and(|handle| handle.cluster.myself() == leader)
        })
    }

    /// Whether nodes `a` and `b` can reach each other.
    pub fn linked(&self, a: usize, b: usize) -> bool {
        a == b || !self.cuts.contains(&(a.min(b), a.max(b)))
    }
}

/// Host names of the nodes.
pub fn node_host(index: usize) -> String {
    format!("node{}", index + 1)
}

/// Runs a cluster file's blocks with `seed`: the first is the world, the rest its steps.
/// Returns each block's report (up to the first failure) and the run's trace hash.
pub fn run_script(
    blocks: &[Block],
    seed: u64,
    lines: &mut Vec<String>,
) -> (Vec<Result<Vec<String>, String>>, u64) {
    let spec = match ClusterSpec::parse(&blocks[0].command) {
        Ok(spec) => spec,
        Err(error) => return (vec![Err(format!("bad command: {error}"))], 0),
    };
    let mut steps = Vec::new();
    for block in &blocks[1..] {
        match Step::parse(&block.command) {
            Ok(step) => steps.push(step),
            Err(error) => {
                return (
                    vec![Err(format!("bad step `{}`: {error}", block.command))],
                    0,
                )
            }
        }
    }
    let params = Params::derive(seed, &spec);
    lines.push(format!("block 1: {}", blocks[0].command));
    lines.push(params.describe());
    let mut world = World::build(params);
    let mut reports = vec![Ok(vec![format!(
        "ok nodes={} clients={}",
        spec.nodes, spec.clients
    )])];
    for (step, block) in steps.iter().zip(&blocks[1..]) {
        let started_ms = world.now_ms();
        let report = world.step(step);
        lines.push(format!(
            "step `{}` {}..{} ms: {}",
            block.command,
            started_ms,
            world.now_ms(),
            match &report {
                Ok(report) => report.join(" | "),
                Err(_) => "FAILED".to_string(),
            }
        ));
        let failed = report.is_err();
        reports.push(report);
        if failed {
            break;
        }
    }
    lines.push(world.summary());
    let hash = world.board.borrow().trace.hash();
    (reports, hash)
}

impl World {
    fn build(params: Params) -> World {
        let seed = params.seed;
        let disk = SimDisk::new(seed);
        disk.set_faults(FaultConfig {
            latency_ms_max: params.disk_latency_ms_max,
            ..FaultConfig::default()
        });
        let nodes = params.spec.nodes;
        let board = Rc::new(RefCell::new(Board {
            trace: Trace::new(),
            failure: None,
            stats: Stats::default(),
            nodes: vec![None; nodes],
            clients: ClientPhase::Waiting,
            calm: false,
            models: BTreeMap::new(),
            order: None,
            answer: None,
            requests: VecDeque::new(),
            cuts: BTreeSet::new(),
            verbose: std::env::var_os("EMBER_SIM_VERBOSE").is_some(),
        }));
        let mut sim = world::build_sim(seed, params.latency_ms_max);
        let observed: Observed = Arc::new(Mutex::new(Vec::new()));
        for index in 0..nodes {
            add_node(&mut sim, &params, index, &disk, &board, &observed);
        }
        let addresses: Vec<SocketAddr> = (0..nodes)
            .map(|index| SocketAddr::new(sim.lookup(node_host(index)), NODE_PORT))
            .collect();
        for index in 0..params.spec.clients {
            let setup = ClientSetup {
                index,
                seed,
                keys: params.spec.keys,
                rng: world::stream(seed, &format!("cluster-client-{index}")),
                nodes: addresses.clone(),
                board: board.clone(),
            };
            sim.client(format!("client{index}"), cluster_client::run(setup));
        }
        let operator = OperatorSetup {
            seed,
            rng: world::stream(seed, "cluster-operator"),
            nodes: addresses,
            clients: params.spec.clients,
            keys: params.spec.keys,
            board: board.clone(),
        };
        sim.client("operator", cluster_operator::run(operator));
        World {
            crash_rng: world::stream(seed, "cluster-disk-crash"),
            rng: world::stream(seed, "cluster-world"),
            params,
            sim,
            board,
            disk,
            observed,
            log: LogMatching::default(),
            owners: SlotOwners::default(),
            scheduled: Vec::new(),
        }
    }

    fn now_ms(&self) -> u64 {
        world::duration_ms(self.sim.elapsed())
    }

    /// Runs one step to its end; its report, or why it failed.
    fn step(&mut self, step: &Step) -> Result<Vec<String>, String> {
        let result = match step {
            Step::Run { ms } => self.run_for(*ms).map(|()| vec!["ok".to_string()]),
            Step::ClientsStart => {
                self.board.borrow_mut().clients = ClientPhase::Running;
                Ok(vec![format!("ok clients={}", self.params.spec.clients)])
            }
            Step::ClientsStop => self.stop_clients(),
            Step::Partition(partition) => self.partition(*partition),
            Step::Heal => {
                self.heal();
                Ok(vec!["ok".to_string()])
            }
            Step::Crash { who, down_ms } => self.crash_step(*who, *down_ms),
            Step::Join
            | Step::Spread
            | Step::Converge { .. }
            | Step::ExpectDown { .. }
            | Step::LeaderCrash
            | Step::Migrate { .. }
            | Step::Census => self.order(step.clone()),
        };
        let failure = self.board.borrow().failure.clone();
        match (failure, result) {
            (Some(failure), _) => Err(failure),
            (None, result) => result,
        }
    }

    /// Steps turmoil once and runs everything due after it; Err once anything failed.
    fn tick(&mut self) -> Result<(), String> {
        if let Err(error) = self.sim.step() {
            let now_ms = self.now_ms();
            let detail = format!("the simulation stopped: {error}");
            self.board.borrow_mut().fail("world", now_ms, detail);
        }
        let now_ms = self.now_ms();
        self.check_safety(now_ms);
        self.run_scheduled(now_ms);
        let requests: Vec<FaultRequest> = self.board.borrow_mut().requests.drain(..).collect();
        for request in requests {
            self.fault(request, now_ms);
        }
        match &self.board.borrow().failure {
            Some(failure) => Err(failure.clone()),
            None => Ok(()),
        }
    }

    fn run_for(&mut self, ms: u64) -> Result<(), String> {
        let until_ms = self.now_ms() + ms;
        while self.now_ms() < until_ms {
            self.tick()?;
        }
        Ok(())
    }

    /// Hands `step` to the operator and steps until it answers.
    fn order(&mut self, step: Step) -> Result<Vec<String>, String> {
        {
            let mut board = self.board.borrow_mut();
            assert!(board.order.is_none() && board.answer.is_none());
            if !matches!(
                step,
                Step::Converge { .. } | Step::Census | Step::Join | Step::Spread
            ) {
                board.calm = false;
            }
            board.order = Some(step);
        }
        loop {
            self.tick()?;
            if let Some(answer) = self.board.borrow_mut().answer.take() {
                return answer;
            }
        }
    }

    fn stop_clients(&mut self) -> Result<Vec<String>, String> {
        self.board.borrow_mut().clients = ClientPhase::Stopping;
        let deadline_ms = self.now_ms() + CLIENTS_STOP_MS_MAX;
        while self.board.borrow().models.len() < self.params.spec.clients {
            if self.now_ms() > deadline_ms {
                return Err(format!(
                    "clients did not stop within {CLIENTS_STOP_MS_MAX} ms"
                ));
            }
            self.tick()?;
        }
        Ok(vec!["ok".to_string()])
    }

    /// The checkers that watch the nodes themselves, after every turmoil step.
    fn check_safety(&mut self, now_ms: u64) {
        let observed: Vec<(usize, AppliedEntry)> =
            std::mem::take(&mut *self.observed.lock().expect("not poisoned"));
        let mut board = self.board.borrow_mut();
        for (node, entry) in observed {
            board.stats.entries += 1;
            let command = format!("{:?} {:?}", entry.command, entry.result);
            let node_text = node.to_string();
            let fields: [&[u8]; 4] = [
                b"applied",
                node_text.as_bytes(),
                &entry.log_id.index.to_le_bytes(),
                command.as_bytes(),
            ];
            board.note(now_ms, &fields);
            if let Err(detail) = self.log.observe(node, &entry) {
                board.fail("log_matching", now_ms, detail);
            }
        }
        let topologies: Vec<(usize, Arc<ember_cluster::topology::Topology>)> = board
            .nodes
            .iter()
            .enumerate()
            .filter_map(|(index, node)| Some((index, node.as_ref()?.cluster.topology())))
            .collect();
        for (index, topology) in topologies {
            if let Err(detail) = self.owners.observe(index, &topology) {
                board.fail("slot_owners", now_ms, detail);
            }
        }
    }

    fn run_scheduled(&mut self, now_ms: u64) {
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.scheduled)
            .into_iter()
            .partition(|(at_ms, _)| *at_ms <= now_ms);
        self.scheduled = later;
        for (_, event) in due {
            match event {
                Later::Restart(node) => {
                    self.sim.bounce(node_host(node));
                    self.record(now_ms, &format!("restart node{}", node + 1));
                }
                Later::Reconnect(node) => {
                    self.reconnect(node);
                    self.record(now_ms, &format!("reconnect node{}", node + 1));
                }
                Later::CrashLeader { down_ms } => {
                    let leader = self.board.borrow().leader();
                    // With no agreed leader at that instant, any node will do.
                    let node = leader.unwrap_or_else(|| self.any_up());
                    self.crash(node, down_ms, now_ms);
                }
            }
        }
    }

    fn fault(&mut self, request: FaultRequest, now_ms: u64) {
        self.board.borrow_mut().calm = false;
        match request {
            FaultRequest::Crash { node, down_ms } => self.crash(node, down_ms, now_ms),
            FaultRequest::CrashLeader { after_ms, down_ms } => self
                .scheduled
                .push((now_ms + after_ms, Later::CrashLeader { down_ms })),
            FaultRequest::Isolate { node, ms } => {
                self.isolate(node);
                self.record(now_ms, &format!("isolate node{} for {ms} ms", node + 1));
                self.scheduled.push((now_ms + ms, Later::Reconnect(node)));
            }
        }
    }

    fn any_up(&mut self) -> usize {
        let up = self.board.borrow().up();
        *up.choose(&mut self.rng).expect("a node is up")
    }

    /// Crashes node `node`'s host and disk; it restarts `down_ms` later.
    fn crash(&mut self, node: usize, down_ms: u64, now_ms: u64) {
        let host = node_host(node);
        self.sim.crash(host.as_str());
        self.disk.crash(&host, &mut self.crash_rng);
        {
            let mut board = self.board.borrow_mut();
            board.nodes[node] = None;
            board.stats.crashes += 1;
            board.calm = false;
        }
        self.record(now_ms, &format!("crash node{} for {down_ms} ms", node + 1));
        self.scheduled
            .push((now_ms + down_ms, Later::Restart(node)));
    }

    fn crash_step(&mut self, who: Who, down_ms: u64) -> Result<Vec<String>, String> {
        let up = self.board.borrow().up();
        let leader = self.board.borrow().leader();
        let candidates: Vec<usize> = match who {
            Who::Leader => leader.into_iter().collect(),
            Who::Follower => up.into_iter().filter(|n| Some(*n) != leader).collect(),
            Who::Any => up,
        };
        let Some(&node) = candidates.choose(&mut self.rng) else {
            return Err(format!("no {who:?} node to crash"));
        };
        let now_ms = self.now_ms();
        self.crash(node, down_ms, now_ms);
        let who = match who {
            Who::Leader => "leader",
            Who::Follower => "follower",
            Who::Any => "any",
        };
        Ok(vec![format!("ok crashed={who}")])
    }

    fn partition(&mut self, partition: Partition) -> Result<Vec<String>, String> {
        let nodes = self.params.spec.nodes;
        let mut all: Vec<usize> = (0..nodes).collect();
        let (cut_off, report) = match partition {
            Partition::All => (all.clone(), "ok isolated=all".to_string()),
            Partition::Minority(side) => {
                let size = (nodes - 1) / 2;
                if size == 0 {
                    return Err("a single node has no minority".to_string());
                }
                let leader = self.board.borrow().leader();
                let mut minority: Vec<usize> = Vec::new();
                match (side, leader) {
                    (LeaderSide::In, Some(leader)) => minority.push(leader),
                    (LeaderSide::In, None) => return Err("no agreed leader".to_string()),
                    (LeaderSide::Out, Some(leader)) => all.retain(|n| *n != leader),
                    _ => {}
                }
                all.retain(|n| !minority.contains(n));
                all.shuffle(&mut self.rng);
                minority.extend(all.iter().take(size - minority.len()));
                (minority, format!("ok minority={size}"))
            }
        };
        for &a in &cut_off {
            for b in 0..nodes {
                let cut = match partition {
                    Partition::All => a != b,
                    Partition::Minority(_) => !cut_off.contains(&b),
                };
                if cut {
                    self.cut(a, b);
                }
            }
        }
        let now_ms = self.now_ms();
        let shown: Vec<String> = cut_off.iter().map(|n| format!("node{}", n + 1)).collect();
        self.record(now_ms, &format!("partition {}", shown.join(",")));
        self.board.borrow_mut().calm = false;
        Ok(vec![report])
    }

    fn cut(&mut self, a: usize, b: usize) {
        let key = (a.min(b), a.max(b));
        if a != b && self.board.borrow_mut().cuts.insert(key) {
            self.sim.partition(node_host(a), node_host(b));
        }
    }

    fn isolate(&mut self, node: usize) {
        for other in 0..self.params.spec.nodes {
            self.cut(node, other);
        }
    }

    /// Repairs every cut link of `node`.
    fn reconnect(&mut self, node: usize) {
        let cuts: Vec<(usize, usize)> = self
            .board
            .borrow()
            .cuts
            .iter()
            .filter(|(a, b)| *a == node || *b == node)
            .copied()
            .collect();
        for (a, b) in cuts {
            self.sim.repair(node_host(a), node_host(b));
            self.board.borrow_mut().cuts.remove(&(a, b));
        }
    }

    fn heal(&mut self) {
        for node in 0..self.params.spec.nodes {
            self.reconnect(node);
        }
        let now_ms = self.now_ms();
        self.record(now_ms, "heal");
    }

    fn record(&self, now_ms: u64, event: &str) {
        self.board
            .borrow_mut()
            .note(now_ms, &[b"world", event.as_bytes()]);
    }

    fn summary(&self) -> String {
        let board = self.board.borrow();
        let stats = board.stats;
        format!(
            "served={} in_doubt={} given_up={} moved={} asks={} tryagain={} clusterdown={} migrated_keys={} crashes={} applied_entries={} log_indexes={} events={} virtual_ms={}",
            stats.served,
            stats.in_doubt,
            stats.given_up,
            stats.moved,
            stats.asks,
            stats.tryagain,
            stats.clusterdown,
            stats.migrated_keys,
            stats.crashes,
            stats.entries,
            self.log.len(),
            board.trace.events(),
            self.now_ms()
        )
    }
}

/// Node `index`'s host: an ember-server in cluster mode over the world's disk, node 1
/// bootstrapping the cluster. Its start-up runs again at every restart.
fn add_node(
    sim: &mut turmoil::Sim<'static>,
    params: &Params,
    index: usize,
    disk: &SimDisk,
    board: &Rc<RefCell<Board>>,
    observed: &Observed,
) {
    let (seed, shards, secret) = (params.seed, params.shards, params.secret);
    let (disk, board, observed) = (disk.clone(), board.clone(), observed.clone());
    let host = node_host(index);
    let name = host.clone();
    sim.host(name.as_str(), move || {
        let (disk, board, observed, host) =
            (disk.clone(), board.clone(), observed.clone(), host.clone());
        async move {
            let ip = turmoil::lookup(host.as_str());
            let env = Env::simulation(seed, &host, disk, shards, EPOCH_UNIX_MS);
            let secret_file = match secret {
                true => Some(write_secret(&env).await?),
                false => None,
            };
            let observer: ember_cluster::Observer = Arc::new(move |event: &ClusterEvent| {
                if let ClusterEvent::Applied(entry) = event {
                    let mut observed = observed.lock().expect("not poisoned");
                    observed.push((index, entry.clone()));
                }
            });
            let config = ServerConfig {
                host: "0.0.0.0".into(),
                port: NODE_PORT,
                shards: Some(shards),
                data_dir: DATA_DIR.into(),
                appendonly: true,
                appendfsync: "always".into(),
                cluster_enabled: true,
                cluster_bootstrap: index == 0,
                cluster_node_timeout: NODE_TIMEOUT_MS,
                cluster_announce_ip: Some(ip.to_string()),
                cluster_secret_file: secret_file,
                cluster_observer: Some(ClusterObserver(observer)),
                ..ServerConfig::default()
            };
            let (started, accept) = match ember_node::server::start(env, config).await {
                Ok(started) => started,
                Err(error) => {
                    let at_ms = turmoil::sim_elapsed().unwrap_or_default().as_millis() as u64;
                    let detail = format!("could not start: {error}");
                    board.borrow_mut().fail(&host, at_ms, detail);
                    return Ok(());
                }
            };
            let cluster = started.shared.cluster.clone().expect("cluster mode");
            board.borrow_mut().nodes[index] = Some(NodeHandle {
                cluster,
                shared: started.shared.clone(),
            });
            if let Err(error) = accept.await {
                let at_ms = turmoil::sim_elapsed().unwrap_or_default().as_millis() as u64;
                let detail = format!("stopped: {error}");
                board.borrow_mut().fail(&host, at_ms, detail);
            }
            Ok(())
        }
    });
}

/// Writes the cluster's shared secret where `--cluster-secret-file` will read it (once: it
/// survives restarts, fsynced with its directory).
async fn write_secret(env: &Env) -> std::io::Result<String> {
    let dir = std::path::Path::new(SECRET_DIR);
    let path = dir.join("cluster.secret");
    if !env.exists(&path).await {
        env.create_dir_all(dir).await?;
        let mut file = env
            .write_new(&path, b"the cluster world's shared secret\n")
            .await?;
        file.fsync().await?;
        env.sync_dir(dir).await?;
    }
    Ok(path.to_string_lossy().into_owned())
}
