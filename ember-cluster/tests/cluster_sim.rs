//! Whole cluster members (`ClusterNode`: bus, SWIM, Raft, reconciliation) under turmoil.
//! Each scenario bootstraps one node and brings the others in with CLUSTER MEET, some
//! through non-leaders and some from the joining side; then it commits slot changes
//! through non-leaders, crashes and restarts a node, or cuts off a minority. Every node
//! must end with the same topology, having applied the same log, with the same SWIM view,
//! and a seed run twice must give the same trace byte for byte.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use ember_cluster::node::{ClusterConfig, ClusterError, ClusterEvent, ClusterNode};
use ember_cluster::topology::{
    Applied, NodeName, SlotAction, SlotRange, Topology, TopologyCommand,
};
use ember_net::{Env, SimDisk};
use ember_proto::cluster_bus::MemberState;

const DATA_PORT: u16 = 6379;
const EPOCH_MS: u64 = 1_700_000_000_000;
const POLL: Duration = Duration::from_millis(50);
const WAIT_MAX: Duration = Duration::from_secs(60);
const NODE_TIMEOUT: Duration = Duration::from_millis(1000);
const PROPOSE_TIMEOUT: Duration = Duration::from_secs(4);

type Trace = Arc<Mutex<Vec<String>>>;
type Registry = Arc<Mutex<BTreeMap<u8, ClusterNode>>>;

/// What the driver asks the step loop to do to the simulation.
#[derive(Debug, Clone, Copy)]
enum Action {
    Crash(u8),
    Restart(u8),
}
type Actions = Arc<Mutex<VecDeque<Action>>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    /// Bootstrap, MEET the rest, commit slot changes through non-leaders.
    Join,
    /// Join, then crash a node, commit without it, restart it and let it catch up.
    CrashRestart,
    /// Join, then cut off a minority with the leader in it: it cannot commit, the
    /// majority can; heal and converge.
    Partition,
}

struct World {
    seed: u64,
    nodes: u8,
    trace: Trace,
    registry: Registry,
    actions: Actions,
}

/// The seeds to run: `default`, or `EMBER_CLUSTER_SEEDS=first..end`.
fn seeds(default: std::ops::Range<u64>) -> std::ops::Range<u64> {
    let Ok(text) = std::env::var("EMBER_CLUSTER_SEEDS") else {
        return default;
    };
    let (first, end) = text.split_once("..").expect("first..end");
    first.parse().expect("a first seed")..end.parse().expect("an end seed")
}

fn host(n: u8) -> String {
    format!("node-{n}")
}

fn elapsed_ms() -> u128 {
    turmoil::sim_elapsed().unwrap_or_default().as_millis()
}

fn note(trace: &Trace, line: String) {
    trace
        .lock()
        .unwrap()
        .push(format!("{}ms {line}", elapsed_ms()));
}

/// One host's software: start the member and keep it running.
async fn run_node(
    n: u8,
    seed: u64,
    disk: SimDisk,
    trace: Trace,
    registry: Registry,
) -> Result<(), Box<dyn std::error::Error>> {
    let env = Env::simulation(seed, &host(n), disk, 1, EPOCH_MS);
    let ip = turmoil::lookup(host(n));
    let mut config = ClusterConfig::new(PathBuf::from("/data/cluster"), ip, DATA_PORT);
    config.node_timeout = NODE_TIMEOUT;
    config.propose_timeout = PROPOSE_TIMEOUT;
    config.secret = Some(b"cluster sim secret".to_vec());
    let observer_trace = trace.clone();
    config.observer = Some(Arc::new(move |event: &ClusterEvent| {
        let line = match event {
            ClusterEvent::Applied(entry) => format!(
                "node-{n} applied {} {:?} -> {:?}",
                entry.log_id, entry.command, entry.result
            ),
            ClusterEvent::Member(event) => format!("node-{n} swim {event:?}"),
        };
        note(&observer_trace, line);
    }));
    let node = ClusterNode::start(env, config).await?;
    note(&trace, format!("node-{n} started as {}", node.myself()));
    registry.lock().unwrap().insert(n, node);
    std::future::pending::<()>().await;
    Ok(())
}

fn node(registry: &Registry, n: u8) -> ClusterNode {
    registry.lock().unwrap()[&n].clone()
}

async fn wait_until(env: &Env, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = env.now() + WAIT_MAX;
    while !done() {
        assert!(env.now() < deadline, "timed out waiting until {what}");
        env.sleep(POLL).await;
    }
}

/// The node (among `among`) that they all name as leader.
async fn agreed_leader(env: &Env, registry: &Registry, among: &[u8]) -> u8 {
    let mut found = 0;
    wait_until(env, "the nodes agree on a leader", || {
        let registry = registry.lock().unwrap();
        let leaders: Vec<Option<NodeName>> = among
            .iter()
            .map(|n| registry.get(n).and_then(ClusterNode::leader))
            .collect();
        let Some(Some(leader)) = leaders.first().copied() else {
            return false;
        };
        if leaders.iter().any(|l| *l != Some(leader)) {
            return false;
        }
        match among.iter().find(|n| registry[n].myself() == leader) {
            Some(n) => {
                found = *n;
                true
            }
            None => false,
        }
    })
    .await;
    found
}

/// Whether every node in `among` has the same topology with `count` nodes and its SWIM
/// sees every other node alive.
fn converged(registry: &Registry, among: &[u8], count: usize) -> bool {
    let registry = registry.lock().unwrap();
    let Some(first) = registry.get(&among[0]).map(ClusterNode::topology) else {
        return false;
    };
    if first.nodes().count() != count {
        return false;
    }
    among.iter().all(|n| {
        let Some(node) = registry.get(n) else {
            return false;
        };
        let membership = node.membership();
        let alive = first
            .nodes()
            .filter(|info| info.name != node.myself())
            .all(|info| membership.get(&info.name) == Some(&MemberState::Alive));
        *node.topology() == *first && alive
    })
}

/// Whether the Raft voters of every node in `among` are the topology's.
fn raft_follows_topology(registry: &Registry, among: &[u8]) -> bool {
    let registry = registry.lock().unwrap();
    among.iter().all(|n| {
        let node = &registry[n];
        let topology = node.topology();
        let mut wanted: Vec<u64> = topology.voters().map(|v| v.name.raft_id()).collect();
        wanted.sort_unstable();
        let metrics = node.raft_metrics();
        let membership = metrics.membership_config.membership();
        let voters: Vec<u64> = membership.voter_ids().collect();
        voters == wanted && membership.get_joint_config().len() == 1
    })
}

/// Whether every node in `among` has applied the same last log entry.
fn applied_alike(registry: &Registry, among: &[u8]) -> bool {
    let registry = registry.lock().unwrap();
    let applied: Vec<_> = among
        .iter()
        .map(|n| registry[n].raft_metrics().last_applied)
        .collect();
    applied.iter().all(|a| *a == applied[0])
}

/// Bootstrap node 1; MEET node 2 from node 1, the odd ones from a member that is not
/// necessarily the leader, and the even ones from the joining side.
async fn join_all(env: &Env, world: &World) {
    let (registry, trace) = (&world.registry, &world.trace);
    wait_until(env, "every node started", || {
        registry.lock().unwrap().len() == usize::from(world.nodes)
    })
    .await;
    node(registry, 1).bootstrap().await.expect("bootstrap");
    note(trace, "bootstrapped node-1".into());
    for n in 2..=world.nodes {
        let target_ip = turmoil::lookup(host(n));
        let result = if n % 2 == 1 {
            // A member that is not the leader forwards the Meet to the leader.
            let via = n - 1;
            wait_until(env, "the previous node applied itself", || {
                let joined = node(registry, via);
                joined.topology().node(&joined.myself()).is_some()
            })
            .await;
            node(registry, via).meet(target_ip, DATA_PORT, None).await
        } else {
            // A node in no cluster yet asks a member to take it in.
            let member_ip = turmoil::lookup(host(1));
            node(registry, n).meet(member_ip, DATA_PORT, None).await
        };
        note(trace, format!("meet node-{n}: {result:?}"));
        assert!(
            matches!(result, Ok(Applied::Met { .. })),
            "meet node-{n}: {result:?}"
        );
    }
    let all: Vec<u8> = (1..=world.nodes).collect();
    wait_until(env, "topology and SWIM converge", || {
        converged(registry, &all, usize::from(world.nodes))
    })
    .await;
    wait_until(env, "raft voters follow the topology", || {
        raft_follows_topology(registry, &all)
    })
    .await;
    note(trace, "joined".into());
}

/// DELSLOTS, ADDSLOTS and a SETSLOT migration, each proposed on a non-leader.
async fn slots_through_followers(env: &Env, world: &World) {
    let registry = &world.registry;
    let all: Vec<u8> = (1..=world.nodes).collect();
    let leader = agreed_leader(env, registry, &all).await;
    let follower = all.iter().copied().find(|n| *n != leader).unwrap();
    let other = all.iter().copied().rfind(|n| *n != leader).unwrap();
    let (follower_node, other_node) = (node(registry, follower), node(registry, other));
    let owner = node(registry, 1).myself();
    let ranges = vec![SlotRange::new(8192, 16383)];
    let commands = [
        (
            TopologyCommand::DelSlots {
                ranges: ranges.clone(),
            },
            Applied::SlotsDeleted { count: 8192 },
        ),
        (
            TopologyCommand::AddSlots {
                node: follower_node.myself(),
                ranges,
            },
            Applied::SlotsAdded { count: 8192 },
        ),
        (
            TopologyCommand::SetSlot {
                node: follower_node.myself(),
                slot: 9000,
                action: SlotAction::Migrating {
                    to: other_node.myself(),
                },
            },
            Applied::SlotSet,
        ),
    ];
    for (command, expected) in commands {
        let result = follower_node.propose(command).await;
        note(
            &world.trace,
            format!("node-{follower} proposed: {result:?}"),
        );
        assert_eq!(result, Ok(expected));
    }
    // A refusal is committed and reported the same way.
    let busy = TopologyCommand::AddSlots {
        node: owner,
        ranges: vec![SlotRange::single(9000)],
    };
    let result = other_node.propose(busy).await;
    assert!(
        matches!(result, Err(ClusterError::Refused(_))),
        "{result:?}"
    );
    wait_until(env, "the slot changes converge", || {
        converged(registry, &all, usize::from(world.nodes))
    })
    .await;
    let topology = follower_node.topology();
    assert_eq!(
        topology.slot_owner(9000).unwrap().name,
        follower_node.myself()
    );
    assert_eq!(topology.migrating(9000), Some(&other_node.myself()));
}

/// Crash a follower (its unsynced writes may be lost), commit without it, restart it.
async fn crash_and_restart(env: &Env, world: &World) {
    let (registry, trace) = (&world.registry, &world.trace);
    let all: Vec<u8> = (1..=world.nodes).collect();
    let leader = agreed_leader(env, registry, &all).await;
    let down = all.iter().copied().rfind(|n| *n != leader).unwrap();
    let id_before = node(registry, down).myself();
    registry.lock().unwrap().remove(&down);
    world.actions.lock().unwrap().push_back(Action::Crash(down));
    note(trace, format!("crash node-{down}"));
    let up: Vec<u8> = all.iter().copied().filter(|n| *n != down).collect();
    wait_until(env, "the others see the crashed node fail", || {
        let registry = registry.lock().unwrap();
        up.iter()
            .all(|n| registry[n].membership().get(&id_before) == Some(&MemberState::Dead))
    })
    .await;
    let survivor = node(registry, up[0]);
    let result = survivor
        .propose(TopologyCommand::DelSlots {
            ranges: vec![SlotRange::new(0, 99)],
        })
        .await;
    note(trace, format!("committed while down: {result:?}"));
    assert_eq!(result, Ok(Applied::SlotsDeleted { count: 100 }));
    world
        .actions
        .lock()
        .unwrap()
        .push_back(Action::Restart(down));
    wait_until(env, "the node restarts", || {
        registry.lock().unwrap().contains_key(&down)
    })
    .await;
    let restarted = node(registry, down);
    assert_eq!(
        restarted.myself(),
        id_before,
        "the same node id after restart"
    );
    note(trace, format!("restarted node-{down}"));
    wait_until(env, "the restarted node catches up", || {
        converged(registry, &all, usize::from(world.nodes))
    })
    .await;
    assert!(restarted.topology().slot_owner(50).is_none());
    // It takes part again: a proposal through it commits.
    let result = restarted
        .propose(TopologyCommand::AddSlots {
            node: restarted.myself(),
            ranges: vec![SlotRange::new(0, 99)],
        })
        .await;
    assert_eq!(result, Ok(Applied::SlotsAdded { count: 100 }));
}

/// Cut the leader and one follower off from the rest.
async fn minority_partition(env: &Env, world: &World) {
    let (registry, trace) = (&world.registry, &world.trace);
    let all: Vec<u8> = (1..=world.nodes).collect();
    let leader = agreed_leader(env, registry, &all).await;
    let partner = all.iter().copied().find(|n| *n != leader).unwrap();
    let minority = [leader, partner];
    let majority: Vec<u8> = all
        .iter()
        .copied()
        .filter(|n| !minority.contains(n))
        .collect();
    for a in minority {
        for b in &majority {
            turmoil::partition(host(a), host(*b));
        }
    }
    note(trace, format!("partition {minority:?} from {majority:?}"));
    let new_leader = agreed_leader(env, registry, &majority).await;
    note(trace, format!("majority leader node-{new_leader}"));
    let delete = |start: u16, end: u16| TopologyCommand::DelSlots {
        ranges: vec![SlotRange::new(start, end)],
    };
    let (minority_node, partner_node) = (node(registry, leader), node(registry, partner));
    let majority_node = node(registry, majority[0]);
    // Both halves propose at once: the minority's old leader and its follower must fail,
    // the majority must commit.
    let (old, follower, committed) = tokio::join!(
        minority_node.propose(delete(0, 9)),
        partner_node.propose(delete(10, 19)),
        majority_node.propose(delete(20, 29)),
    );
    note(
        trace,
        format!("during partition: {old:?} {follower:?} {committed:?}"),
    );
    assert!(matches!(old, Err(ClusterError::Timeout(_))), "{old:?}");
    assert!(
        matches!(follower, Err(ClusterError::Timeout(_))),
        "{follower:?}"
    );
    assert_eq!(committed, Ok(Applied::SlotsDeleted { count: 10 }));
    let stale = minority_node.topology();
    assert!(stale.slot_owner(25).is_some(), "the minority saw no commit");
    for a in minority {
        for b in &majority {
            turmoil::repair(host(a), host(*b));
        }
    }
    note(trace, "repair".into());
    wait_until(env, "everyone converges after the heal", || {
        converged(registry, &all, usize::from(world.nodes))
    })
    .await;
    let healed = minority_node.topology();
    assert!(healed.slot_owner(25).is_none());
    assert!(
        healed.slot_owner(5).is_some(),
        "the minority's proposal did not commit"
    );
    let result = minority_node.propose(delete(0, 9)).await;
    assert_eq!(result, Ok(Applied::SlotsDeleted { count: 10 }));
}

async fn drive(world: Arc<World>, scenario: Scenario) -> Result<(), Box<dyn std::error::Error>> {
    let env = Env::simulation(world.seed, "driver", SimDisk::new(world.seed), 1, EPOCH_MS);
    join_all(&env, &world).await;
    match scenario {
        Scenario::Join => slots_through_followers(&env, &world).await,
        Scenario::CrashRestart => crash_and_restart(&env, &world).await,
        Scenario::Partition => minority_partition(&env, &world).await,
    }
    let all: Vec<u8> = (1..=world.nodes).collect();
    wait_until(&env, "the final state converges", || {
        converged(&world.registry, &all, usize::from(world.nodes))
            && raft_follows_topology(&world.registry, &all)
            && applied_alike(&world.registry, &all)
    })
    .await;
    note(&world.trace, "done".into());
    Ok(())
}

/// Runs `scenario` with `nodes` members for `seed`: the trace and every final topology.
fn run(scenario: Scenario, nodes: u8, seed: u64) -> (Vec<String>, Vec<Topology>) {
    use rand::SeedableRng;
    let mut sim = turmoil::Builder::new()
        .epoch(UNIX_EPOCH + Duration::from_millis(EPOCH_MS))
        .rng_seed(seed)
        .simulation_duration(Duration::from_secs(300))
        .build();
    let disk = SimDisk::new(seed);
    let world = Arc::new(World {
        seed,
        nodes,
        trace: Arc::default(),
        registry: Arc::default(),
        actions: Arc::default(),
    });
    for n in 1..=nodes {
        let (disk, trace, registry) = (disk.clone(), world.trace.clone(), world.registry.clone());
        sim.host(host(n), move || {
            run_node(n, seed, disk.clone(), trace.clone(), registry.clone())
        });
    }
    sim.client("driver", drive(world.clone(), scenario));
    let mut crash_rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let stepped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        step_all(&mut sim, &world, &disk, &mut crash_rng, scenario)
    }));
    if let Err(panic) = stepped {
        let trace = world.trace.lock().unwrap().clone();
        eprintln!(
            "{scenario:?} x{nodes} seed {seed} failed; trace:\n{}",
            trace.join("\n")
        );
        std::panic::resume_unwind(panic);
    }
    let topologies = world
        .registry
        .lock()
        .unwrap()
        .values()
        .map(|node| (*node.topology()).clone())
        .collect();
    let trace = world.trace.lock().unwrap().clone();
    (trace, topologies)
}

/// Steps the simulation to its end, carrying out the driver's crash and restart actions.
fn step_all(
    sim: &mut turmoil::Sim<'_>,
    world: &World,
    disk: &SimDisk,
    crash_rng: &mut rand_chacha::ChaCha8Rng,
    scenario: Scenario,
) {
    let (nodes, seed) = (world.nodes, world.seed);
    // Bounded by the simulation duration, after which step fails.
    loop {
        let finished = sim
            .step()
            .unwrap_or_else(|e| panic!("{scenario:?} with {nodes} nodes, seed {seed}: {e}"));
        let action = world.actions.lock().unwrap().pop_front();
        match action {
            Some(Action::Crash(n)) => {
                sim.crash(host(n));
                disk.crash(&host(n), crash_rng);
            }
            Some(Action::Restart(n)) => sim.bounce(host(n)),
            None => {}
        }
        if finished {
            return;
        }
    }
}

/// Each node's applied log, by index (a restarted node applies its recovered entries
/// again; the later application of an index replaces the earlier one).
fn applied_logs(trace: &[String], nodes: u8) -> Vec<BTreeMap<u64, String>> {
    (1..=nodes)
        .map(|n| {
            let tag = format!("node-{n} applied ");
            let mut log = BTreeMap::new();
            for line in trace {
                let Some((_, rest)) = line.split_once(&tag) else {
                    continue;
                };
                // "T-N-I rest": the log id's last field is the index.
                let (log_id, entry) = rest.split_once(' ').unwrap();
                let index: u64 = log_id.rsplit('-').next().unwrap().parse().unwrap();
                log.insert(index, entry.to_string());
            }
            log
        })
        .collect()
}

fn check(scenario: Scenario, nodes: u8, seeds: std::ops::Range<u64>) {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
    for seed in seeds {
        let (trace, topologies) = run(scenario, nodes, seed);
        if std::env::var_os("EMBER_TRACE").is_some() {
            eprintln!("{scenario:?} x{nodes} seed {seed}:\n{}", trace.join("\n"));
        }
        let context = format!("{scenario:?} with {nodes} nodes, seed {seed}");
        assert_eq!(topologies.len(), usize::from(nodes), "{context}");
        for other in &topologies[1..] {
            assert_eq!(other, &topologies[0], "{context}: topologies differ");
        }
        let logs = applied_logs(&trace, nodes);
        assert!(
            logs[0].len() >= usize::from(nodes) + 2,
            "{context}: {trace:#?}"
        );
        for (n, log) in logs.iter().enumerate().skip(1) {
            assert_eq!(
                log,
                &logs[0],
                "{context}: node-{} applied another log",
                n + 1
            );
        }
        let (again, _) = run(scenario, nodes, seed);
        assert_eq!(trace, again, "{context}: the seed did not replay");
    }
}

#[test]
fn three_nodes_join_and_commit_through_followers() {
    check(Scenario::Join, 3, seeds(1..4));
}

#[test]
fn five_nodes_join_and_commit_through_followers() {
    check(Scenario::Join, 5, seeds(1..3));
}

#[test]
fn a_crashed_node_restarts_as_itself_and_catches_up() {
    check(Scenario::CrashRestart, 3, seeds(11..14));
}

#[test]
fn a_minority_cannot_commit_and_everyone_converges_after_the_heal() {
    check(Scenario::Partition, 5, seeds(21..23));
}
