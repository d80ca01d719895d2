//! Three nodes commit topology changes through Raft under turmoil: bootstrap, an election,
//! MEET and ADDSLOTS, a partition of the leader, a new leader and more commits, then the
//! heal. Every node must end with the same topology, and a seed run twice must give the
//! same trace (applied entries per node and leader changes, with virtual times).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use ember_cluster::raft::{
    default_config, seed_runtime_rng, serve_tcp, AppliedEntry, LogStore, NetworkFactory,
    RaftService, StateMachine, TcpTransport, TopologyHandle, TopologyRaft,
};
use ember_cluster::topology::{
    Applied, NodeAddress, NodeName, SlotAction, SlotRange, Topology, TopologyCommand, TopologyError,
};
use ember_net::{Env, SimDisk};
use openraft::{BasicNode, Raft};

const NODES: u8 = 3;
const RAFT_PORT: u16 = 7000;
const EPOCH_MS: u64 = 1_700_000_000_000;
const POLL: Duration = Duration::from_millis(20);
const WAIT_MAX: Duration = Duration::from_secs(20);

type Trace = Arc<Mutex<Vec<String>>>;
type Registry = Arc<Mutex<BTreeMap<u8, (TopologyRaft, TopologyHandle)>>>;

/// The seeds to run: `default`, or `EMBER_RAFT_SEEDS=first..end` to search wider.
fn seeds(default: std::ops::Range<u64>) -> std::ops::Range<u64> {
    let Ok(text) = std::env::var("EMBER_RAFT_SEEDS") else {
        return default;
    };
    let (first, end) = text
        .split_once("..")
        .expect("EMBER_RAFT_SEEDS is first..end");
    first.parse().expect("a first seed")..end.parse().expect("an end seed")
}

fn host(n: u8) -> String {
    format!("node-{n}")
}

fn name(n: u8) -> NodeName {
    NodeName::from_bytes([n; 20])
}

fn elapsed_ms() -> u128 {
    turmoil::sim_elapsed().unwrap_or_default().as_millis()
}

/// One node's software: open storage on the world's disk, start Raft, serve RPCs.
async fn run_node(
    n: u8,
    seed: u64,
    disk: SimDisk,
    trace: Trace,
    registry: Registry,
) -> Result<(), Box<dyn std::error::Error>> {
    let env = Env::simulation(seed, &host(n), disk, 1, EPOCH_MS);
    seed_runtime_rng(&env);
    let dir = Path::new("/data/raft");
    let log_store = LogStore::open(env.clone(), dir).await?;
    let hook = Arc::new(move |applied: &AppliedEntry| {
        let line = format!(
            "{}ms node-{n} applied {} {:?} -> {:?}",
            elapsed_ms(),
            applied.log_id,
            applied.command,
            applied.result
        );
        trace.lock().unwrap().push(line);
    });
    let state_machine = StateMachine::open(env.clone(), dir, Some(hook)).await?;
    let handle = state_machine.handle();
    let network = NetworkFactory::new(Arc::new(TcpTransport::new(env.clone())));
    let raft = Raft::new(
        name(n).raft_id(),
        default_config(),
        network,
        log_store,
        state_machine,
    )
    .await?;
    let listener = env
        .bind((IpAddr::from([0, 0, 0, 0]), RAFT_PORT).into())
        .await?;
    registry.lock().unwrap().insert(n, (raft.clone(), handle));
    if n == 1 {
        let members: BTreeMap<u64, BasicNode> = (1..=NODES)
            .map(|m| {
                (
                    name(m).raft_id(),
                    BasicNode::new(format!("{}:{RAFT_PORT}", host(m))),
                )
            })
            .collect();
        raft.initialize(members).await?;
    }
    serve_tcp(env, listener, RaftService::new(raft)).await;
    Ok(())
}

/// The node (1..=NODES) that every node in `among` names as leader, once they agree on a
/// leader outside `exclude`.
async fn agreed_leader(env: &Env, registry: &Registry, among: &[u8], exclude: Option<u8>) -> u8 {
    let deadline = env.now() + WAIT_MAX;
    loop {
        let leaders: Vec<Option<u64>> = {
            let registry = registry.lock().unwrap();
            among
                .iter()
                .map(|n| {
                    registry
                        .get(n)
                        .and_then(|(raft, _)| raft.metrics().borrow().current_leader)
                })
                .collect()
        };
        let first = leaders[0];
        if let Some(leader) = first.filter(|_| leaders.iter().all(|l| *l == first)) {
            let n = (1..=NODES).find(|n| name(*n).raft_id() == leader).unwrap();
            if Some(n) != exclude {
                return n;
            }
        }
        assert!(env.now() < deadline, "no agreed leader among {among:?}");
        env.sleep(POLL).await;
    }
}

fn raft_of(registry: &Registry, n: u8) -> TopologyRaft {
    registry.lock().unwrap()[&n].0.clone()
}

async fn propose(raft: &TopologyRaft, command: TopologyCommand) -> Result<Applied, TopologyError> {
    raft.client_write(command)
        .await
        .expect("a committed write")
        .data
}

fn meet(n: u8) -> TopologyCommand {
    TopologyCommand::Meet(NodeAddress {
        name: name(n),
        ip: IpAddr::from([192, 168, 0, n]),
        port: 6379,
        bus_port: 16379,
    })
}

fn add_slots(n: u8, start: u16, end: u16) -> TopologyCommand {
    TopologyCommand::AddSlots {
        node: name(n),
        ranges: vec![SlotRange::new(start, end)],
    }
}

/// The test's script, run as a turmoil client.
async fn drive(
    seed: u64,
    trace: Trace,
    registry: Registry,
) -> Result<(), Box<dyn std::error::Error>> {
    let env = Env::simulation(seed, "driver", SimDisk::new(seed), 1, EPOCH_MS);
    while registry.lock().unwrap().len() < usize::from(NODES) {
        env.sleep(POLL).await;
    }
    let all: Vec<u8> = (1..=NODES).collect();
    let first = agreed_leader(&env, &registry, &all, None).await;
    trace
        .lock()
        .unwrap()
        .push(format!("{}ms leader node-{first}", elapsed_ms()));
    let leader = raft_of(&registry, first);
    for n in 1..=NODES {
        assert_eq!(
            propose(&leader, meet(n)).await,
            Ok(Applied::Met { voter: true })
        );
    }
    assert_eq!(
        propose(&leader, add_slots(1, 0, 5460)).await,
        Ok(Applied::SlotsAdded { count: 5461 })
    );
    assert_eq!(
        propose(&leader, add_slots(2, 5461, 10922)).await,
        Ok(Applied::SlotsAdded { count: 5462 })
    );

    // Cut the leader off; the other two elect one of themselves and go on.
    let others: Vec<u8> = all.iter().copied().filter(|n| *n != first).collect();
    for other in &others {
        turmoil::partition(host(first), host(*other));
    }
    trace
        .lock()
        .unwrap()
        .push(format!("{}ms partition node-{first}", elapsed_ms()));
    let second = agreed_leader(&env, &registry, &others, Some(first)).await;
    trace
        .lock()
        .unwrap()
        .push(format!("{}ms leader node-{second}", elapsed_ms()));
    let leader = raft_of(&registry, second);
    assert_eq!(
        propose(&leader, add_slots(3, 10923, 16383)).await,
        Ok(Applied::SlotsAdded { count: 5461 })
    );
    // A refused command is committed too, and refused the same way everywhere.
    assert_eq!(
        propose(&leader, add_slots(3, 5, 5)).await,
        Err(TopologyError::SlotBusy(5))
    );
    let migrate = TopologyCommand::SetSlot {
        node: name(1),
        slot: 42,
        action: SlotAction::Migrating { to: name(2) },
    };
    let import = TopologyCommand::SetSlot {
        node: name(2),
        slot: 42,
        action: SlotAction::Importing { from: name(1) },
    };
    let switch = TopologyCommand::SetSlot {
        node: name(2),
        slot: 42,
        action: SlotAction::Node { owner: name(2) },
    };
    for command in [migrate, import, switch] {
        assert_eq!(propose(&leader, command).await, Ok(Applied::SlotSet));
    }

    for other in &others {
        turmoil::repair(host(first), host(*other));
    }
    trace
        .lock()
        .unwrap()
        .push(format!("{}ms repair node-{first}", elapsed_ms()));
    wait_converged(&env, &registry, &leader).await;
    Ok(())
}

/// Waits until every node has applied the leader's last log entry.
async fn wait_converged(env: &Env, registry: &Registry, leader: &TopologyRaft) {
    let target = leader.metrics().borrow().last_applied;
    let deadline = env.now() + WAIT_MAX;
    loop {
        let done = registry
            .lock()
            .unwrap()
            .values()
            .all(|(raft, _)| raft.metrics().borrow().last_applied >= target);
        if done {
            return;
        }
        assert!(env.now() < deadline, "the nodes did not converge");
        env.sleep(POLL).await;
    }
}

/// Runs the scenario for `seed`; returns the trace and each node's final topology.
fn run_scenario(seed: u64) -> (Vec<String>, Vec<Topology>) {
    let mut sim = turmoil::Builder::new()
        .epoch(UNIX_EPOCH + Duration::from_millis(EPOCH_MS))
        .rng_seed(seed)
        .simulation_duration(Duration::from_secs(120))
        .build();
    let disk = SimDisk::new(seed);
    let trace: Trace = Arc::default();
    let registry: Registry = Arc::default();
    for n in 1..=NODES {
        let (disk, trace, registry) = (disk.clone(), trace.clone(), registry.clone());
        sim.host(host(n), move || {
            run_node(n, seed, disk.clone(), trace.clone(), registry.clone())
        });
    }
    sim.client("driver", drive(seed, trace.clone(), registry.clone()));
    sim.run().unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    let topologies = registry
        .lock()
        .unwrap()
        .values()
        .map(|(_, handle)| (*handle.current()).clone())
        .collect();
    let trace = trace.lock().unwrap().clone();
    (trace, topologies)
}

#[test]
fn three_nodes_commit_through_a_leader_partition_and_replay_per_seed() {
    for seed in seeds(1..5) {
        let (trace, topologies) = run_scenario(seed);
        if std::env::var_os("EMBER_TRACE").is_some() {
            eprintln!("seed {seed}:\n{}", trace.join("\n"));
        }
        let first = &topologies[0];
        assert_eq!(first.slots_assigned(), 16384, "seed {seed}");
        assert_eq!(first.slot_owner(42).unwrap().name, name(2));
        assert_eq!(first.nodes().count(), usize::from(NODES));
        for other in &topologies[1..] {
            assert_eq!(other, first, "seed {seed}: nodes disagree");
        }
        // Each node applied the same commands in the same order.
        let per_node = |n: u8| -> Vec<String> {
            let tag = format!("node-{n} applied ");
            trace
                .iter()
                .filter_map(|line| line.split_once(&tag).map(|(_, rest)| rest.to_string()))
                .collect()
        };
        let reference = per_node(1);
        assert!(reference.len() >= 10, "seed {seed}: {reference:?}");
        for n in 2..=NODES {
            assert_eq!(
                per_node(n),
                reference,
                "seed {seed}: node-{n} applied another sequence"
            );
        }
        let (again, _) = run_scenario(seed);
        assert_eq!(trace, again, "seed {seed} did not replay");
    }
}

/// Phases of the crash scenario, shared between the driver and the step loop.
const PHASE_RUNNING: u8 = 0;
const PHASE_CRASH_REQUESTED: u8 = 1;
const PHASE_CRASHED: u8 = 2;
const PHASE_RESTART_REQUESTED: u8 = 3;
const PHASE_RESTARTED: u8 = 4;

type Phase = Arc<std::sync::atomic::AtomicU8>;

async fn wait_phase(env: &Env, phase: &Phase, wanted: u8) {
    while phase.load(std::sync::atomic::Ordering::SeqCst) != wanted {
        env.sleep(POLL).await;
    }
}

/// Commits, crashes a follower (its disk loses what was not fsynced), commits without it,
/// restarts it from its disk, commits again and waits for it to catch up.
async fn drive_crash(
    seed: u64,
    trace: Trace,
    registry: Registry,
    phase: Phase,
    victim: Phase,
) -> Result<(), Box<dyn std::error::Error>> {
    use std::sync::atomic::Ordering::SeqCst;
    let env = Env::simulation(seed, "driver", SimDisk::new(seed), 1, EPOCH_MS);
    while registry.lock().unwrap().len() < usize::from(NODES) {
        env.sleep(POLL).await;
    }
    let all: Vec<u8> = (1..=NODES).collect();
    let first = agreed_leader(&env, &registry, &all, None).await;
    let leader = raft_of(&registry, first);
    for n in 1..=NODES {
        propose(&leader, meet(n)).await.unwrap();
    }
    propose(&leader, add_slots(1, 0, 5460)).await.unwrap();
    let down = all.iter().copied().find(|n| *n != first).unwrap();
    trace
        .lock()
        .unwrap()
        .push(format!("{}ms crash node-{down}", elapsed_ms()));
    victim.store(down, SeqCst);
    phase.store(PHASE_CRASH_REQUESTED, SeqCst);
    wait_phase(&env, &phase, PHASE_CRASHED).await;
    registry.lock().unwrap().remove(&down);
    propose(&leader, add_slots(2, 5461, 10922)).await.unwrap();
    phase.store(PHASE_RESTART_REQUESTED, SeqCst);
    wait_phase(&env, &phase, PHASE_RESTARTED).await;
    while registry.lock().unwrap().len() < usize::from(NODES) {
        env.sleep(POLL).await;
    }
    trace
        .lock()
        .unwrap()
        .push(format!("{}ms restarted node-{down}", elapsed_ms()));
    propose(&leader, add_slots(3, 10923, 16383)).await.unwrap();
    wait_converged(&env, &registry, &leader).await;
    Ok(())
}

fn run_crash_scenario(seed: u64) -> (Vec<String>, Vec<Topology>) {
    use rand::SeedableRng;
    use std::sync::atomic::Ordering::SeqCst;
    let mut sim = turmoil::Builder::new()
        .epoch(UNIX_EPOCH + Duration::from_millis(EPOCH_MS))
        .rng_seed(seed)
        .simulation_duration(Duration::from_secs(120))
        .build();
    let disk = SimDisk::new(seed);
    let trace: Trace = Arc::default();
    let registry: Registry = Arc::default();
    let (phase, victim): (Phase, Phase) = (Arc::default(), Arc::default());
    for n in 1..=NODES {
        let (disk, trace, registry) = (disk.clone(), trace.clone(), registry.clone());
        sim.host(host(n), move || {
            run_node(n, seed, disk.clone(), trace.clone(), registry.clone())
        });
    }
    let driver = drive_crash(
        seed,
        trace.clone(),
        registry.clone(),
        phase.clone(),
        victim.clone(),
    );
    sim.client("driver", driver);
    let mut crash_rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    // Bounded by the simulation duration, after which step fails.
    loop {
        let finished = sim.step().unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        let down = host(victim.load(SeqCst));
        match phase.load(SeqCst) {
            PHASE_CRASH_REQUESTED => {
                sim.crash(down.as_str());
                disk.crash(&down, &mut crash_rng);
                phase.store(PHASE_CRASHED, SeqCst);
            }
            PHASE_RESTART_REQUESTED => {
                sim.bounce(down.as_str());
                phase.store(PHASE_RESTARTED, SeqCst);
            }
            PHASE_RUNNING | PHASE_CRASHED | PHASE_RESTARTED => {}
            other => unreachable!("phase {other}"),
        }
        if finished {
            break;
        }
    }
    let topologies = registry
        .lock()
        .unwrap()
        .values()
        .map(|(_, handle)| (*handle.current()).clone())
        .collect();
    let trace = trace.lock().unwrap().clone();
    (trace, topologies)
}

#[test]
fn a_crashed_follower_recovers_its_log_from_disk_and_catches_up() {
    for seed in seeds(11..14) {
        let (trace, topologies) = run_crash_scenario(seed);
        if std::env::var_os("EMBER_TRACE").is_some() {
            eprintln!("seed {seed}:\n{}", trace.join("\n"));
        }
        assert_eq!(topologies.len(), usize::from(NODES));
        assert_eq!(topologies[0].slots_assigned(), 16384, "seed {seed}");
        for other in &topologies[1..] {
            assert_eq!(other, &topologies[0], "seed {seed}: nodes disagree");
        }
        let crash_at = trace.iter().position(|l| l.contains(" crash ")).unwrap();
        let crashed = trace[crash_at].split_once("crash ").unwrap().1;
        // The restarted node applied its recovered entries again, from its own log.
        let reapplied = trace[crash_at..]
            .iter()
            .any(|l| l.contains(&format!("{crashed} applied")) && l.contains("Meet"));
        assert!(reapplied, "seed {seed}: {trace:#?}");
        let (again, _) = run_crash_scenario(seed);
        assert_eq!(trace, again, "seed {seed} did not replay");
    }
}
