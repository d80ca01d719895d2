//! The world: one node and several clients on turmoil, every choice drawn from one seed.
//!
//! `Params::derive` turns (seed, run spec) into the world's parameters, which are printed
//! before anything runs. `run` builds the turmoil simulation (fixed 1 ms tick, the seed's
//! latency range, epoch and random seed always set), registers the node host and the client
//! hosts, then steps it, applying the fault schedule between steps, until every client is
//! done or one reports a failure.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, UNIX_EPOCH};

use ember_net::{Env, SimDisk};
use ember_node::ServerConfig;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::client::{self, ClientSetup};
use crate::faults::{Action, Crash, Schedule};
use crate::oracle::Model;
use crate::scenario::RunSpec;
use crate::trace::{fnv1a, Trace};
use crate::workload::{Workload, KEYS_PER_CLIENT, SHARED_DBS};

/// The simulated wall clock at time zero: fixed, so that a seed replays on any day.
pub const EPOCH_UNIX_MS: u64 = 1_700_000_000_000;
/// The node's host name and port.
pub const NODE_HOST: &str = "node";
pub const NODE_PORT: u16 = 6379;
/// One step of virtual time.
const TICK_MS: u64 = 1;
/// The smallest one-way latency, and the range the seed draws the largest from.
pub(crate) const LATENCY_MS_MIN: u64 = 1;
pub(crate) const LATENCY_MS_MAX_LOW: u64 = 2;
pub(crate) const LATENCY_MS_MAX_HIGH: u64 = 8;
/// A run that has not finished after this much virtual time is stuck.
const DURATION_MS_MAX: u64 = 120_000;

/// Everything the seed decides about a world.
#[derive(Clone, Debug)]
pub struct Params {
    pub seed: u64,
    pub shards: usize,
    pub clients: usize,
    pub ops_per_client: usize,
    /// Which clients speak RESP3.
    pub resp3: Vec<bool>,
    pub latency_ms_max: u64,
    pub crashes: Vec<Crash>,
}

/// What the node and clients share with the step loop: all single-threaded, as turmoil is.
#[derive(Debug, Default)]
pub struct Shared {
    /// Bumped at each crash; a client's model is reset when it reaches a newer node.
    pub generation: u64,
    /// Every crash so far has been followed by its restart.
    pub healed: bool,
    pub failure: Option<String>,
    pub trace: Trace,
    pub stats: Stats,
}

/// Counts for the run's summary line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub replies: u64,
    /// Replies the model could not predict (an expiry inside the window, an Unknown key).
    pub unchecked: u64,
    pub lost: u64,
    pub connects: u64,
}

/// A finished run.
#[derive(Debug)]
pub struct Outcome {
    pub trace: Trace,
    pub stats: Stats,
    pub elapsed_ms: u64,
    pub failure: Option<String>,
}

impl Params {
    /// The world for `seed` under `spec`.
    pub fn derive(seed: u64, spec: &RunSpec) -> Params {
        let mut rng = stream(seed, "params");
        let shards = rng.gen_range(spec.shards.clone());
        let latency_ms_max = rng.gen_range(LATENCY_MS_MAX_LOW..=LATENCY_MS_MAX_HIGH);
        // Client 0 speaks RESP2 and client 1 RESP3, so both are always covered.
        let resp3 = (0..spec.clients)
            .map(|index| match index {
                0 => false,
                1 => true,
                _ => rng.gen_bool(0.5),
            })
            .collect();
        let schedule = Schedule::draw(&mut stream(seed, "faults"), spec.crashes);
        let params = Params {
            seed,
            shards,
            clients: spec.clients,
            ops_per_client: spec.ops,
            resp3,
            latency_ms_max,
            crashes: schedule.crashes().to_vec(),
        };
        assert!(spec.shards.contains(&params.shards));
        assert!(params.latency_ms_max > LATENCY_MS_MIN);
        params
    }

    /// One line with every derived parameter, printed before the run.
    pub fn describe(&self) -> String {
        let resp: Vec<&str> = self
            .resp3
            .iter()
            .map(|resp3| if *resp3 { "3" } else { "2" })
            .collect();
        let crashes: Vec<String> = self
            .crashes
            .iter()
            .map(|c| format!("{}+{}", c.at_ms, c.down_ms))
            .collect();
        format!(
            "seed={} shards={} clients={} resp=[{}] ops_per_client={} latency_ms={}..{} tick_ms={TICK_MS} crashes_ms=[{}]",
            self.seed,
            self.shards,
            self.clients,
            resp.join(","),
            self.ops_per_client,
            LATENCY_MS_MIN,
            self.latency_ms_max,
            crashes.join(",")
        )
    }
}

/// Runs the world `params` describes to its end.
pub fn run(params: &Params) -> Outcome {
    let shared = Rc::new(RefCell::new(Shared {
        healed: params.crashes.is_empty(),
        ..Shared::default()
    }));
    let mut sim = build(params);
    add_node(&mut sim, params.seed, params.shards);
    add_clients(&mut sim, params, &shared);
    let mut schedule = Schedule::draw(&mut stream(params.seed, "faults"), params.crashes.len());
    assert_eq!(schedule.crashes(), &params.crashes[..]);
    loop {
        let finished = match sim.step() {
            Ok(finished) => finished,
            Err(error) => {
                shared
                    .borrow_mut()
                    .failure
                    .get_or_insert(format!("the simulation stopped: {error}"));
                break;
            }
        };
        let elapsed_ms = duration_ms(sim.elapsed());
        if let Some(action) = schedule.due(elapsed_ms) {
            apply(&mut sim, action, elapsed_ms, &mut shared.borrow_mut());
            shared.borrow_mut().healed = schedule.healed();
        }
        if finished || shared.borrow().failure.is_some() {
            break;
        }
    }
    let elapsed_ms = duration_ms(sim.elapsed());
    drop(sim);
    let shared = shared.borrow();
    Outcome {
        trace: shared.trace.clone(),
        stats: shared.stats,
        elapsed_ms,
        failure: shared.failure.clone(),
    }
}

fn build(params: &Params) -> turmoil::Sim<'static> {
    build_sim(params.seed, params.latency_ms_max)
}

/// A turmoil simulation with the epoch, random seed, tick and latencies always set.
pub(crate) fn build_sim(seed: u64, latency_ms_max: u64) -> turmoil::Sim<'static> {
    turmoil::Builder::new()
        .epoch(UNIX_EPOCH + Duration::from_millis(EPOCH_UNIX_MS))
        .rng_seed(seed)
        .tick_duration(Duration::from_millis(TICK_MS))
        .min_message_latency(Duration::from_millis(LATENCY_MS_MIN))
        .max_message_latency(Duration::from_millis(latency_ms_max))
        .simulation_duration(Duration::from_millis(DURATION_MS_MAX))
        .build()
}

/// The node host. Its start-up runs again at each restart, with a fresh `Env` over the
/// world's disk (unused until persistence exists, but it is what survives a crash).
pub(crate) fn add_node(sim: &mut turmoil::Sim<'static>, seed: u64, shards: usize) {
    let disk = SimDisk::new(seed);
    sim.host(NODE_HOST, move || {
        let disk = disk.clone();
        async move {
            let env = Env::simulation(seed, NODE_HOST, disk, shards, EPOCH_UNIX_MS);
            let config = ServerConfig {
                host: "0.0.0.0".into(),
                port: NODE_PORT,
                shards: Some(shards),
                ..ServerConfig::default()
            };
            let (_started, accept) = ember_node::server::start(env, config).await?;
            accept.await?;
            Ok(())
        }
    });
}

fn add_clients(sim: &mut turmoil::Sim<'static>, params: &Params, shared: &Rc<RefCell<Shared>>) {
    let keys_max = i64::try_from(params.clients * KEYS_PER_CLIENT).expect("small");
    let reconnect_deadline_ms = Schedule::down_ms_max() + client::RECONNECT_SLACK_MS;
    for index in 0..params.clients {
        let workload = Workload::new(
            stream(params.seed, &format!("workload-{index}")),
            index,
            index == 0,
        );
        let setup = ClientSetup {
            index,
            seed: params.seed,
            ops: params.ops_per_client,
            resp3: params.resp3[index],
            workload,
            model: Model::new(keys_max * SHARED_DBS as i64),
            node: NODE_HOST,
            port: NODE_PORT,
            reconnect_deadline_ms,
            shared: shared.clone(),
        };
        sim.client(format!("client{index}"), client::run(setup));
    }
}

fn apply(sim: &mut turmoil::Sim<'static>, action: Action, elapsed_ms: u64, shared: &mut Shared) {
    let event: &[u8] = match action {
        Action::Crash => {
            sim.crash(NODE_HOST);
            shared.generation += 1;
            b"crash"
        }
        Action::Restart => {
            sim.bounce(NODE_HOST);
            b"restart"
        }
    };
    shared.trace.record(elapsed_ms, &[b"world", event]);
}

/// A random stream for `name`, derived from the seed alone, stable across processes.
pub fn stream(seed: u64, name: &str) -> ChaCha8Rng {
    let hash = fnv1a(
        fnv1a(0xcbf2_9ce4_8422_2325, &seed.to_le_bytes()),
        name.as_bytes(),
    );
    ChaCha8Rng::seed_from_u64(hash)
}

pub(crate) fn duration_ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).expect("virtual time fits in u64")
}
