//! A running cluster member: identity, the bus, SWIM, the Raft group and the
//! reconciliation between the committed topology and Raft's membership.
//!
//! # Using it from ember-node
//!
//! ```ignore
//! // Inside a LocalSet (Env::spawn's requirement), on the thread that will drive the
//! // cluster: its bus, SWIM and Raft tasks all run there.
//! let mut config = ClusterConfig::new(data_dir.join("cluster"), announce_ip, data_port);
//! config.bind_ip = bind_ip;                       // default: 0.0.0.0
//! config.bus_port_offset = cluster_port_offset;   // default: 10000
//! config.node_timeout = Duration::from_millis(cluster_node_timeout_ms);
//! config.secret = cluster_secret;                 // Option<Vec<u8>>: HMAC on the bus
//! let cluster: ClusterNode = ClusterNode::start(env.clone(), config).await?;
//! if cluster_bootstrap { cluster.bootstrap().await?; }   // idempotent across restarts
//!
//! // Anywhere, any thread (ClusterNode is Clone + Send + Sync):
//! let topology: Arc<Topology> = cluster.topology();      // per request; a clone of an Arc
//! let me: NodeName = cluster.myself();                   // CLUSTER MYID
//! cluster.meet(ip, port, None).await?;                   // CLUSTER MEET ip port [bus-port]
//! cluster.propose(TopologyCommand::AddSlots { node: me, ranges }).await?;  // ADDSLOTS etc.
//! let health = cluster.membership();   // BTreeMap<NodeName, MemberState>: Suspect is
//!                                      // CLUSTER NODES' `fail?`, Dead is `fail`
//! let mut changes = cluster.watch();   // watch::Receiver<Arc<Topology>>
//! cluster.shutdown().await;
//! ```
//!
//! The async methods (`bootstrap`, `meet`, `propose`, `shutdown`) hand their work to the
//! cluster's thread over a channel and await the answer, so they may be called from shard
//! threads with their own runtimes; the read methods touch only shared state.
//!
//! # What each piece does
//!
//! - Identity: `identity` keeps the node id in `data_dir/cluster-node.conf`; Raft's log,
//!   vote and snapshot live in `data_dir/raft`. A restart reloads both, rejoins as the same
//!   node and catches up from the leader.
//! - The bus (`bus`): one listener on `data_port + bus_port_offset`; SWIM gossip and RPCs
//!   (Raft, forwarded proposals) over ember-proto's frames.
//! - SWIM: driven by a ticker at a tenth of the probe interval and by inbound gossip; it
//!   joins through the bus address of every topology member it does not know, so a node
//!   that enters the topology soon enters everyone's membership.
//! - Proposals: `propose` writes through the local Raft when this node leads; otherwise it
//!   sends the command to the leader Raft names (`Service::Propose`), following "not the
//!   leader" hints and retrying after failures until `propose_timeout`. A proposal that
//!   times out may still commit later (the usual Raft ambiguity): callers that retry
//!   should expect `SlotBusy`-style refusals of a change that already happened.
//! - Reconciliation (leader only, on every topology change and every
//!   `RECONCILE_PERIOD`): every topology node becomes a Raft learner, then the voters are
//!   set to the topology's voter flags (the topology admits up to five) once each new
//!   voter's replication has caught up, then learners the topology forgot are removed. One
//!   membership change per pass; openraft serializes them anyway.
//! - Meet: connect to the target's bus and exchange `Hello`s to learn its id; a member
//!   proposes `Meet(target)`, while a node in no cluster yet asks the target to propose
//!   `Meet(itself)` (the target forwards it to its leader).

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use ember_net::Env;
use ember_proto::cluster_bus::{
    self, BusMessage, Hello, MemberState, NodeId, BUS_PROTOCOL_VERSION,
};
use openraft::error::{ClientWriteError, RaftError};
use openraft::{BasicNode, ChangeMembers, Raft, RaftMetrics, ServerState};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::bus::{self, BusClient, BusHandler, BusIdentity, BusTimings, Gossip, Service};
use crate::identity::{self, IdentityError};
use crate::raft::{
    default_config, seed_runtime_rng, AppliedEntry, ApplyResult, LogStore, LogStoreError,
    NetworkFactory, RaftNodeId, RaftService, StateMachine, TopologyHandle, TopologyRaft,
};
use crate::swim::{Swim, SwimConfig, SwimEvent, SwimOutput};
use crate::topology::{
    Applied, NodeAddress, NodeName, SlotRange, Topology, TopologyCommand, TopologyError, SLOT_COUNT,
};

/// How often the leader compares the topology with Raft's membership, besides on every
/// topology change.
pub const RECONCILE_PERIOD: Duration = Duration::from_millis(200);

/// A new voter is promoted once its log is within this many entries of the leader's.
pub const PROMOTE_LAG_MAX: u64 = 8;

/// How long a proposal may take, forwarding and retries included, by default.
pub const PROPOSE_TIMEOUT_DEFAULT: Duration = Duration::from_secs(5);

/// The most attempts (local writes and forwards) one proposal makes.
const PROPOSE_ATTEMPTS_MAX: usize = 200;

/// The pause before retrying a proposal that found no leader.
const PROPOSE_RETRY_DELAY: Duration = Duration::from_millis(50);

/// Requests from the handle queued for the cluster's thread.
const REQUESTS_MAX: usize = 1024;

/// Inbound gossip queued for SWIM; more is dropped, as the network might have.
const GOSSIP_INBOX_MAX: usize = 1024;

/// AppendEntries carries at most this many entries, so a batch of the largest records
/// fits one bus frame.
const RAFT_BATCH_ENTRIES_MAX: u64 = 3;

const _: () = assert!(
    (RAFT_BATCH_ENTRIES_MAX as usize) * crate::raft::log_store::LOG_RECORD_MAX_BYTES + 4096
        <= bus::RPC_PAYLOAD_MAX_BYTES
);

/// How a node joins the cluster: where it keeps its state, what it announces, timings.
#[derive(Clone)]
pub struct ClusterConfig {
    /// Where the identity file and the Raft state live.
    pub data_dir: PathBuf,
    /// The address the bus listener binds.
    pub bind_ip: IpAddr,
    /// The address other nodes and clients reach this node at (CLUSTER NODES, MOVED).
    pub announce_ip: IpAddr,
    /// The client port.
    pub data_port: u16,
    /// `--cluster-port-offset`: the bus port is `data_port` plus this.
    pub bus_port_offset: u16,
    /// `--cluster-node-timeout`: SWIM's failure detection and the bus's connection ages.
    pub node_timeout: Duration,
    /// The shared secret that authenticates bus frames, if any.
    pub secret: Option<Vec<u8>>,
    /// How long `propose` and `meet` may take.
    pub propose_timeout: Duration,
    /// Told about every applied entry and membership change, in order (for traces,
    /// checkers and logs). Runs on the cluster's tasks: keep it short.
    pub observer: Option<Observer>,
}

/// What the observer is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterEvent {
    /// A committed log entry was applied to the topology.
    Applied(AppliedEntry),
    /// SWIM changed its view of a member.
    Member(SwimEvent),
}

/// A callback for [`ClusterEvent`]s.
pub type Observer = Arc<dyn Fn(&ClusterEvent) + Send + Sync>;

/// Why a cluster operation failed. The `Display` text is a Redis error reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClusterError {
    /// The command was committed and refused by the topology, the same way on every node.
    #[error(transparent)]
    Refused(#[from] TopologyError),
    #[error("CLUSTERDOWN no leader committed the change within {0:?}")]
    Timeout(Duration),
    #[error("ERR cannot reach {address}: {reason}")]
    Unreachable { address: SocketAddr, reason: String },
    #[error("ERR this node already belongs to a cluster")]
    AlreadyInCluster,
    #[error("ERR invalid port: the bus port would be past 65535")]
    BadPort,
    #[error("ERR raft: {0}")]
    Raft(String),
    #[error("ERR the cluster node is shut down")]
    Stopped,
    #[error("CLUSTERDOWN no Raft leader is known or reachable")]
    NoLeader,
}

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error("raft storage: {0}")]
    LogStore(#[from] LogStoreError),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("raft: {0}")]
    Raft(String),
    #[error("invalid configuration: {0}")]
    Config(String),
}

/// The handle ember-node holds: cheap to clone, usable from any thread.
#[derive(Clone)]
pub struct ClusterNode {
    shared: Arc<Shared>,
}

/// What the handle reads directly.
struct Shared {
    myself: NodeName,
    address: NodeAddress,
    topology: TopologyHandle,
    membership: Mutex<BTreeMap<NodeName, MemberState>>,
    raft: TopologyRaft,
    requests: mpsc::Sender<Request>,
}

/// Work for the cluster's thread.
enum Request {
    Bootstrap(oneshot::Sender<Result<(), ClusterError>>),
    Meet {
        ip: IpAddr,
        port: u16,
        bus_port: Option<u16>,
        reply: oneshot::Sender<Result<Applied, ClusterError>>,
    },
    Propose {
        command: TopologyCommand,
        reply: oneshot::Sender<Result<Applied, ClusterError>>,
    },
    Sync(oneshot::Sender<Result<(), ClusterError>>),
    Shutdown(oneshot::Sender<()>),
}

/// The node's working state, on its own thread.
struct Core {
    env: Env,
    shared: Arc<Shared>,
    raft_id: RaftNodeId,
    bus_address: SocketAddr,
    bus_port_offset: u16,
    propose_timeout: Duration,
    client: Arc<BusClient>,
    /// The index of the joint membership the last reconcile pass saw, if any.
    joint_seen: std::cell::Cell<Option<u64>>,
}

/// A proposal sent to another node.
#[derive(Debug, Serialize, Deserialize)]
struct ProposeRequest {
    command: TopologyCommand,
    /// How long the receiver may wait for the commit.
    timeout_ms: u64,
}

/// The answer to a [`ProposeRequest`], or the outcome of a local write.
#[derive(Debug, Serialize, Deserialize)]
enum ProposeReply {
    /// Committed at this log index, with what applying it did.
    Applied(ApplyResult, u64),
    /// Not the leader; the leader's bus address if known.
    NotLeader(Option<String>),
    /// The write did not commit in time (it still may).
    TimedOut,
    Failed(String),
}

/// What the bus listener calls.
struct NodeHandler {
    core: Rc<Core>,
    raft: RaftService,
    gossip: mpsc::Sender<BusMessage>,
}

impl ClusterConfig {
    /// Defaults for a node serving clients on `announce_ip:data_port`.
    pub fn new(data_dir: PathBuf, announce_ip: IpAddr, data_port: u16) -> ClusterConfig {
        ClusterConfig {
            data_dir,
            bind_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            announce_ip,
            data_port,
            bus_port_offset: bus::BUS_PORT_OFFSET_DEFAULT,
            node_timeout: Duration::from_millis(crate::swim::NODE_TIMEOUT_DEFAULT_MS),
            secret: None,
            propose_timeout: PROPOSE_TIMEOUT_DEFAULT,
            observer: None,
        }
    }

    /// `data_port + bus_port_offset`, if it is a port.
    pub fn bus_port(&self) -> Option<u16> {
        self.data_port.checked_add(self.bus_port_offset)
    }
}

impl ClusterNode {
    /// Starts the node: loads or creates its identity, opens Raft's storage, binds the bus
    /// and starts the bus, SWIM, reconciliation and request tasks. Must run inside a
    /// `LocalSet` on the thread that will drive the cluster.
    pub async fn start(env: Env, config: ClusterConfig) -> Result<ClusterNode, StartError> {
        let bus_port = config
            .bus_port()
            .ok_or_else(|| StartError::Config("data port + bus port offset > 65535".into()))?;
        if config.data_port == 0 || config.announce_ip.is_unspecified() {
            return Err(StartError::Config(
                "a node needs a data port and an announce ip".into(),
            ));
        }
        let (myself, _new) = identity::load_or_create(&env, &config.data_dir).await?;
        let address = NodeAddress {
            name: myself,
            ip: config.announce_ip,
            port: config.data_port,
            bus_port,
        };
        let bus_identity = bus_identity(&config, &address)?;
        let client = Arc::new(BusClient::new(env.clone(), bus_identity.clone()));
        let (raft, topology) = open_raft(&env, &config, myself, client.clone()).await?;
        let listener = env.bind(SocketAddr::new(config.bind_ip, bus_port)).await?;
        let (requests, request_queue) = mpsc::channel(REQUESTS_MAX);
        let shared = Arc::new(Shared {
            myself,
            address: address.clone(),
            topology,
            membership: Mutex::new(BTreeMap::new()),
            raft: raft.clone(),
            requests,
        });
        let core = Rc::new(Core {
            env: env.clone(),
            shared: shared.clone(),
            raft_id: myself.raft_id(),
            bus_address: SocketAddr::new(config.announce_ip, bus_port),
            bus_port_offset: config.bus_port_offset,
            propose_timeout: config.propose_timeout,
            client,
            joint_seen: std::cell::Cell::new(None),
        });
        let swim = new_swim(&env, &config, &address)?;
        let (gossip_inbox, gossip_queue) = mpsc::channel(GOSSIP_INBOX_MAX);
        let handler = Rc::new(NodeHandler {
            core: core.clone(),
            raft: RaftService::new(raft),
            gossip: gossip_inbox,
        });
        let tasks = vec![
            env.spawn(bus::serve(
                env.clone(),
                listener,
                bus_identity.clone(),
                handler,
            )),
            env.spawn(run_swim(
                core.clone(),
                swim,
                Gossip::new(env.clone(), bus_identity),
                gossip_queue,
                config.observer.clone(),
            )),
            env.spawn(run_reconcile(core.clone())),
        ];
        drop(env.spawn(serve_requests(core, request_queue, tasks)));
        Ok(ClusterNode { shared })
    }

    /// This node's id (CLUSTER MYID).
    pub fn myself(&self) -> NodeName {
        self.shared.myself
    }

    /// This node's id and the addresses it announces.
    pub fn address(&self) -> &NodeAddress {
        &self.shared.address
    }

    /// The topology as last applied here: cheap, for every request.
    pub fn topology(&self) -> Arc<Topology> {
        self.shared.topology.current()
    }

    /// Wakes on every change of the applied topology.
    pub fn watch(&self) -> watch::Receiver<Arc<Topology>> {
        self.shared.topology.subscribe()
    }

    /// SWIM's view of every other member it knows: `Alive`, `Suspect` (CLUSTER NODES'
    /// `fail?`), `Dead` (`fail`) or `Left`. This node itself is not listed.
    pub fn membership(&self) -> BTreeMap<NodeName, MemberState> {
        self.shared
            .membership
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The Raft leader this node knows of, if it is in the topology.
    pub fn leader(&self) -> Option<NodeName> {
        let leader = self.shared.raft.metrics().borrow().current_leader?;
        let topology = self.topology();
        let name = topology
            .nodes()
            .map(|node| node.name)
            .find(|name| name.raft_id() == leader);
        name
    }

    /// Whether this node leads the Raft group.
    pub fn is_leader(&self) -> bool {
        let metrics = self.shared.raft.metrics();
        let metrics = metrics.borrow();
        metrics.state == ServerState::Leader && metrics.current_leader == Some(metrics.id)
    }

    /// openraft's metrics, for INFO and tests.
    pub fn raft_metrics(&self) -> RaftMetrics<RaftNodeId, BasicNode> {
        self.shared.raft.metrics().borrow().clone()
    }

    /// Makes this node a new cluster of one that owns all 16384 slots
    /// (`--cluster-bootstrap`). Does nothing if this node already owns a topology with
    /// itself in it; fails if it belongs to another cluster.
    pub async fn bootstrap(&self) -> Result<(), ClusterError> {
        let (reply, answer) = oneshot::channel();
        self.request(Request::Bootstrap(reply), answer).await
    }

    /// CLUSTER MEET `ip port [bus_port]`: brings that node into this node's cluster, or,
    /// if this node belongs to none yet, this node into that node's cluster.
    pub async fn meet(
        &self,
        ip: IpAddr,
        port: u16,
        bus_port: Option<u16>,
    ) -> Result<Applied, ClusterError> {
        let (reply, answer) = oneshot::channel();
        let request = Request::Meet {
            ip,
            port,
            bus_port,
            reply,
        };
        self.request(request, answer).await
    }

    /// Commits `command` through the leader and returns what applying it did.
    pub async fn propose(&self, command: TopologyCommand) -> Result<Applied, ClusterError> {
        let (reply, answer) = oneshot::channel();
        self.request(Request::Propose { command, reply }, answer)
            .await
    }

    /// Catches up with the leader: asks it for its applied log index and waits until this
    /// node has applied as much. Every change acknowledged to anyone was applied on the
    /// leader first, so afterwards this node's topology holds every change acknowledged
    /// before the call. A node that restarted, or comes back from a partition, must do
    /// this before it serves keys: its own log may stop short of changes that moved its
    /// slots away. Err when no leader is known or reachable, or within `propose_timeout`.
    pub async fn sync(&self) -> Result<(), ClusterError> {
        let (reply, answer) = oneshot::channel();
        self.request(Request::Sync(reply), answer).await
    }

    /// Stops the node's tasks and its Raft. Later calls fail with `Stopped`.
    pub async fn shutdown(&self) {
        let (reply, answer) = oneshot::channel();
        if self
            .shared
            .requests
            .send(Request::Shutdown(reply))
            .await
            .is_ok()
        {
            let _ = answer.await;
        }
    }

    async fn request<T>(
        &self,
        request: Request,
        answer: oneshot::Receiver<Result<T, ClusterError>>,
    ) -> Result<T, ClusterError> {
        self.shared
            .requests
            .send(request)
            .await
            .map_err(|_| ClusterError::Stopped)?;
        answer.await.map_err(|_| ClusterError::Stopped)?
    }
}

/// The Hello this node sends and the codec and timings of its bus.
fn bus_identity(config: &ClusterConfig, address: &NodeAddress) -> Result<BusIdentity, StartError> {
    let hello = Hello {
        sender: node_id(&address.name)
            .ok_or_else(|| StartError::Config("the node name is not hex".into()))?,
        address: cluster_bus::NodeAddress {
            ip: address.ip,
            data_port: address.port,
            bus_port: address.bus_port,
        },
        protocol_version: BUS_PROTOCOL_VERSION,
    };
    let timings = BusTimings::from_node_timeout(config.node_timeout);
    Ok(BusIdentity::new(hello, config.secret.as_deref(), timings))
}

/// Opens the log store and state machine under `data_dir/raft` and starts Raft.
async fn open_raft(
    env: &Env,
    config: &ClusterConfig,
    myself: NodeName,
    client: Arc<BusClient>,
) -> Result<(TopologyRaft, TopologyHandle), StartError> {
    let dir = config.data_dir.join("raft");
    seed_runtime_rng(env);
    let log_store = LogStore::open(env.clone(), &dir).await?;
    let hook = config.observer.clone().map(|observer| {
        let hook: crate::raft::ApplyHook =
            Arc::new(move |entry: &AppliedEntry| observer(&ClusterEvent::Applied(entry.clone())));
        hook
    });
    let state_machine = StateMachine::open(env.clone(), &dir, hook).await?;
    let topology = state_machine.handle();
    let raft = Raft::new(
        myself.raft_id(),
        raft_config()?,
        NetworkFactory::new(client),
        log_store,
        state_machine,
    )
    .await
    .map_err(|error| StartError::Raft(error.to_string()))?;
    Ok((raft, topology))
}

/// The topology group's config with AppendEntries batches that fit one bus frame.
fn raft_config() -> Result<Arc<openraft::Config>, StartError> {
    let mut config = (*default_config()).clone();
    config.max_payload_entries = RAFT_BATCH_ENTRIES_MAX;
    let config = config
        .validate()
        .map_err(|error| StartError::Raft(error.to_string()))?;
    Ok(Arc::new(config))
}

fn new_swim(env: &Env, config: &ClusterConfig, address: &NodeAddress) -> Result<Swim, StartError> {
    let node_timeout_ms = u64::try_from(config.node_timeout.as_millis())
        .map_err(|_| StartError::Config("node timeout out of range".into()))?;
    let swim_address = cluster_bus::NodeAddress {
        ip: address.ip,
        data_port: address.port,
        bus_port: address.bus_port,
    };
    let id = node_id(&address.name)
        .ok_or_else(|| StartError::Config("the node name is not hex".into()))?;
    Ok(Swim::new(
        SwimConfig::from_node_timeout(node_timeout_ms),
        id,
        swim_address,
        0,
        env.rng("swim"),
        0,
    ))
}

/// The bus's node id for a topology name: the same 160 bits.
pub fn node_id(name: &NodeName) -> Option<NodeId> {
    name.as_str().parse().ok()
}

/// The topology's name for a bus node id.
pub fn node_name(id: &NodeId) -> NodeName {
    NodeName::from_bytes(*id.as_bytes())
}

/// Runs the handle's requests, each on its own local task, until shutdown.
async fn serve_requests(
    core: Rc<Core>,
    mut queue: mpsc::Receiver<Request>,
    tasks: Vec<JoinHandle<()>>,
) {
    // Bounded by the handle: each pass takes one request or ends.
    while let Some(request) = queue.recv().await {
        let core_for_task = core.clone();
        match request {
            Request::Bootstrap(reply) => {
                drop(core.env.spawn(async move {
                    let _ = reply.send(core_for_task.bootstrap().await);
                }));
            }
            Request::Meet {
                ip,
                port,
                bus_port,
                reply,
            } => {
                drop(core.env.spawn(async move {
                    let _ = reply.send(core_for_task.meet(ip, port, bus_port).await);
                }));
            }
            Request::Propose { command, reply } => {
                drop(core.env.spawn(async move {
                    let _ = reply.send(core_for_task.propose(command, None).await);
                }));
            }
            Request::Sync(reply) => {
                drop(core.env.spawn(async move {
                    let _ = reply.send(core_for_task.sync().await);
                }));
            }
            Request::Shutdown(reply) => {
                for task in &tasks {
                    task.abort();
                }
                if let Err(error) = core.shared.raft.shutdown().await {
                    tracing::warn!(%error, "raft did not shut down cleanly");
                }
                let _ = reply.send(());
                return;
            }
        }
    }
}

impl Core {
    async fn bootstrap(&self) -> Result<(), ClusterError> {
        let myself = self.shared.myself;
        let topology = self.shared.topology.current();
        if topology.node(&myself).is_some() {
            let alone = topology.nodes().count() == 1;
            if alone && topology.slots_assigned() == 0 {
                self.propose(all_slots(myself), None).await?;
            }
            return Ok(());
        }
        if topology.nodes().next().is_some() {
            return Err(ClusterError::AlreadyInCluster);
        }
        let raft = &self.shared.raft;
        let metrics = raft.metrics().borrow().clone();
        let members: BTreeSet<RaftNodeId> = metrics
            .membership_config
            .nodes()
            .map(|(id, _)| *id)
            .collect();
        if members.iter().any(|id| *id != self.raft_id) {
            return Err(ClusterError::AlreadyInCluster);
        }
        if members.is_empty() {
            let node = BasicNode::new(self.bus_address.to_string());
            let initial = BTreeMap::from([(self.raft_id, node)]);
            if let Err(error) = raft.initialize(initial).await {
                // Another bootstrap call may have initialized it meanwhile.
                tracing::info!(%error, "raft initialize");
            }
        }
        self.propose(TopologyCommand::Meet(self.shared.address.clone()), None)
            .await?;
        self.propose(all_slots(myself), None).await?;
        Ok(())
    }

    async fn meet(
        &self,
        ip: IpAddr,
        port: u16,
        bus_port: Option<u16>,
    ) -> Result<Applied, ClusterError> {
        let bus_port = match bus_port {
            Some(bus_port) => bus_port,
            None => port
                .checked_add(self.bus_port_offset)
                .ok_or(ClusterError::BadPort)?,
        };
        let to = SocketAddr::new(ip, bus_port);
        let hello = self
            .client
            .hello(to)
            .await
            .map_err(|error| ClusterError::Unreachable {
                address: to,
                reason: error.to_string(),
            })?;
        let name = node_name(&hello.sender);
        let member = self
            .shared
            .topology
            .current()
            .node(&self.shared.myself)
            .is_some();
        if !member {
            // No cluster here: ask the met node's cluster to take this node in.
            let command = TopologyCommand::Meet(self.shared.address.clone());
            return self.propose(command, Some(to)).await;
        }
        if name == self.shared.myself {
            return Ok(Applied::AlreadyKnown);
        }
        let address = NodeAddress {
            name,
            ip,
            port,
            bus_port,
        };
        self.propose(TopologyCommand::Meet(address), None).await
    }

    /// Commits `command`, starting at `first` (a remote bus address) or at the local Raft,
    /// and following leader hints until it commits or the proposal times out.
    async fn propose(
        &self,
        command: TopologyCommand,
        first: Option<SocketAddr>,
    ) -> Result<Applied, ClusterError> {
        let deadline = self.env.now() + self.propose_timeout;
        let mut target = first;
        // Bounded by PROPOSE_ATTEMPTS_MAX and by the deadline.
        for attempt in 0..PROPOSE_ATTEMPTS_MAX {
            let remaining = deadline.saturating_duration_since(self.env.now());
            if remaining.is_zero() {
                break;
            }
            let outcome = match target {
                None => self.propose_local(command.clone(), remaining).await,
                Some(to) => self.forward(to, &command, remaining).await,
            };
            match outcome {
                ProposeReply::Applied(result, index) => {
                    // Redis applies SETSLOT, ADDSLOTS ... on the node that received them
                    // before it answers; so does ember: the caller's next command here
                    // must see the change (a MIGRATE after SETSLOT MIGRATING, say).
                    let remaining = deadline.saturating_duration_since(self.env.now());
                    if !self.wait_applied(index, remaining).await {
                        break;
                    }
                    return result.map_err(ClusterError::Refused);
                }
                ProposeReply::TimedOut => break,
                ProposeReply::Failed(reason) => return Err(ClusterError::Raft(reason)),
                ProposeReply::NotLeader(Some(leader)) => {
                    target = leader
                        .parse::<SocketAddr>()
                        .ok()
                        .filter(|leader| *leader != self.bus_address);
                }
                ProposeReply::NotLeader(None) => target = first,
            }
            if attempt > 0 {
                self.env.sleep(PROPOSE_RETRY_DELAY.min(remaining)).await;
            }
        }
        Err(ClusterError::Timeout(self.propose_timeout))
    }

    /// See [`ClusterNode::sync`].
    async fn sync(&self) -> Result<(), ClusterError> {
        let deadline = self.env.now() + self.propose_timeout;
        let metrics = self.shared.raft.metrics().borrow().clone();
        let Some(leader) = metrics.current_leader else {
            return Err(ClusterError::NoLeader);
        };
        if leader == self.raft_id {
            return Ok(());
        }
        let address = metrics
            .membership_config
            .membership()
            .get_node(&leader)
            .and_then(|node| node.addr.parse::<SocketAddr>().ok())
            .ok_or(ClusterError::NoLeader)?;
        let index = self
            .client
            .call(address, Service::Applied, &[], self.propose_timeout)
            .await
            .ok()
            .and_then(|reply| <[u8; 8]>::try_from(reply.as_slice()).ok())
            .map(u64::from_le_bytes)
            .ok_or(ClusterError::NoLeader)?;
        let remaining = deadline.saturating_duration_since(self.env.now());
        match self.wait_applied(index, remaining).await {
            true => Ok(()),
            false => Err(ClusterError::Timeout(self.propose_timeout)),
        }
    }

    /// This node's applied log index (0 before anything applied).
    fn applied_index(&self) -> u64 {
        let metrics = self.shared.raft.metrics();
        let applied = metrics.borrow().last_applied.map_or(0, |id| id.index);
        applied
    }

    /// Waits until this node has applied the log up to `index`; false after `timeout`.
    async fn wait_applied(&self, index: u64, timeout: Duration) -> bool {
        let mut metrics = self.shared.raft.metrics();
        let waiting = async move {
            loop {
                let applied = metrics.borrow().last_applied.map(|id| id.index);
                if applied.is_some_and(|applied| applied >= index) {
                    return true;
                }
                if metrics.changed().await.is_err() {
                    return false;
                }
            }
        };
        matches!(self.env.timeout(timeout, waiting).await, Ok(true))
    }

    /// One write through the local Raft.
    async fn propose_local(&self, command: TopologyCommand, timeout: Duration) -> ProposeReply {
        let write = self.shared.raft.client_write(command);
        match self.env.timeout(timeout, write).await {
            Err(_) => ProposeReply::TimedOut,
            Ok(Ok(response)) => ProposeReply::Applied(response.data, response.log_id.index),
            Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(forward)))) => {
                ProposeReply::NotLeader(forward.leader_node.map(|node| node.addr))
            }
            Ok(Err(error)) => ProposeReply::Failed(error.to_string()),
        }
    }

    /// One forward to another node; a transport failure counts as "no leader known".
    async fn forward(
        &self,
        to: SocketAddr,
        command: &TopologyCommand,
        timeout: Duration,
    ) -> ProposeReply {
        let request = ProposeRequest {
            command: command.clone(),
            timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
        };
        let Ok(payload) = postcard::to_allocvec(&request) else {
            return ProposeReply::Failed("the proposal does not serialize".into());
        };
        match self
            .client
            .call(to, Service::Propose, &payload, timeout)
            .await
        {
            Ok(reply) => postcard::from_bytes(&reply).unwrap_or_else(|error| {
                ProposeReply::Failed(format!("unreadable reply from {to}: {error}"))
            }),
            Err(error) => {
                tracing::debug!(%to, %error, "forwarding a proposal failed");
                ProposeReply::NotLeader(None)
            }
        }
    }

    /// Answers a proposal forwarded by another node: a local write only, never a second
    /// forward, so a proposal makes at most one hop per attempt.
    async fn handle_propose(&self, payload: &[u8]) -> Vec<u8> {
        let reply = match postcard::from_bytes::<ProposeRequest>(payload) {
            Ok(request) => {
                let timeout = Duration::from_millis(request.timeout_ms).min(self.propose_timeout);
                self.propose_local(request.command, timeout).await
            }
            Err(error) => ProposeReply::Failed(format!("unreadable proposal: {error}")),
        };
        postcard::to_allocvec(&reply).unwrap_or_else(|error| {
            let failed = ProposeReply::Failed(format!("reply does not serialize: {error}"));
            postcard::to_allocvec(&failed).unwrap_or_default()
        })
    }
}

fn all_slots(node: NodeName) -> TopologyCommand {
    TopologyCommand::AddSlots {
        node,
        ranges: vec![SlotRange::new(0, SLOT_COUNT - 1)],
    }
}

impl BusHandler for NodeHandler {
    async fn rpc(&self, _from: Hello, service: u8, payload: Vec<u8>) -> Option<Vec<u8>> {
        if service == Service::Raft as u8 {
            Some(self.raft.handle(&payload).await)
        } else if service == Service::Propose as u8 {
            Some(self.core.handle_propose(&payload).await)
        } else if service == Service::Applied as u8 {
            Some(self.core.applied_index().to_le_bytes().to_vec())
        } else {
            None
        }
    }

    fn gossip(&self, message: BusMessage) {
        // A full inbox drops the message, as a lossy network would.
        let _ = self.gossip.try_send(message);
    }
}

/// Drives SWIM: its ticker, inbound gossip, and joins toward topology members it does not
/// know yet.
async fn run_swim(
    core: Rc<Core>,
    mut swim: Swim,
    gossip: Gossip,
    mut inbox: mpsc::Receiver<BusMessage>,
    observer: Option<Observer>,
) {
    let env = core.env.clone();
    let origin = env.now();
    let now_ms = || u64::try_from((env.now() - origin).as_millis()).unwrap_or(u64::MAX);
    let tick_ms = (swim.config().probe_interval_ms / 10).max(5);
    let mut ticker = env.interval(Duration::from_millis(tick_ms));
    let mut topology = core.shared.topology.subscribe();
    let joined = RefCell::new(BTreeSet::new());
    let output = join_unknown(
        &mut swim,
        &topology.borrow_and_update(),
        &core,
        &joined,
        now_ms(),
    );
    dispatch(&core, &swim, &gossip, output, observer.as_ref());
    // Runs until the node shuts down (the task is aborted) or its inputs close.
    loop {
        let output = tokio::select! {
            biased;
            _ = ticker.tick() => swim.tick(now_ms()),
            changed = topology.changed() => {
                if changed.is_err() {
                    return;
                }
                let current = topology.borrow_and_update().clone();
                join_unknown(&mut swim, &current, &core, &joined, now_ms())
            }
            message = inbox.recv() => match message {
                Some(message) => swim.receive(&message, now_ms()),
                None => return,
            },
        };
        dispatch(&core, &swim, &gossip, output, observer.as_ref());
    }
}

/// Joins SWIM through every topology member it does not know, and forgets dead members
/// the topology no longer has.
fn join_unknown(
    swim: &mut Swim,
    topology: &Topology,
    core: &Core,
    joined: &RefCell<BTreeSet<SocketAddr>>,
    now_ms: u64,
) -> SwimOutput {
    let myself = core.shared.myself;
    let seeds: BTreeSet<SocketAddr> = topology
        .nodes()
        .filter(|node| node.name != myself)
        .filter(|node| node_id(&node.name).is_some_and(|id| swim.member(&id).is_none()))
        .map(|node| SocketAddr::new(node.ip, node.bus_port))
        .collect();
    if topology.node(&myself).is_some() {
        let gone: Vec<NodeId> = swim
            .members()
            .map(|member| member.node)
            .filter(|id| topology.node(&node_name(id)).is_none())
            .collect();
        for id in gone {
            swim.forget(id);
        }
    }
    let mut joined = joined.borrow_mut();
    if seeds.is_empty() || *joined == seeds {
        return SwimOutput::default();
    }
    *joined = seeds;
    let seeds: Vec<SocketAddr> = joined.iter().copied().collect();
    swim.join(&seeds, now_ms)
}

/// Sends SWIM's messages, tells the observer its events and republishes the membership.
fn dispatch(
    core: &Core,
    swim: &Swim,
    gossip: &Gossip,
    output: SwimOutput,
    observer: Option<&Observer>,
) {
    for outgoing in output.messages {
        gossip.send(outgoing.to, outgoing.message);
    }
    if output.events.is_empty() {
        return;
    }
    if let Some(observer) = observer {
        for event in &output.events {
            observer(&ClusterEvent::Member(*event));
        }
    }
    let membership: BTreeMap<NodeName, MemberState> = swim
        .members()
        .map(|member| (node_name(&member.node), member.state))
        .collect();
    *core
        .shared
        .membership
        .lock()
        .unwrap_or_else(PoisonError::into_inner) = membership;
}

/// The leader's loop that makes Raft's membership follow the topology.
async fn run_reconcile(core: Rc<Core>) {
    let mut ticker = core.env.interval(RECONCILE_PERIOD);
    let mut topology = core.shared.topology.subscribe();
    // Runs until the node shuts down (the task is aborted).
    loop {
        tokio::select! {
            biased;
            changed = topology.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            _ = ticker.tick() => {}
        }
        core.reconcile().await;
    }
}

impl Core {
    /// One step toward Raft's membership matching the topology, if this node leads.
    async fn reconcile(&self) {
        let metrics = self.shared.raft.metrics().borrow().clone();
        if metrics.state != ServerState::Leader || metrics.current_leader != Some(self.raft_id) {
            return;
        }
        let membership = metrics.membership_config.membership().clone();
        let topology = self.shared.topology.current();
        let joint_since = metrics
            .membership_config
            .log_id()
            .as_ref()
            .map(|id| id.index);
        let change = match membership.get_joint_config().as_slice() {
            // A joint config still there one pass later was left by a leader that failed
            // between the two steps of a change (openraft 0.9 drives the second step from
            // the caller's future, and this node never abandons its own): finish it.
            [_, .., goal] if self.joint_seen.replace(joint_since) == joint_since => Some((
                MembershipChange::Change(ChangeMembers::ReplaceAllVoters(goal.clone())),
                "finish a joint change",
            )),
            [_, _, ..] => None,
            _ => {
                self.joint_seen.set(None);
                plan_membership(&topology, &membership, &metrics)
            }
        };
        let Some((change, what)) = change else {
            return;
        };
        tracing::info!(
            ?change,
            what,
            "reconciling raft membership with the topology"
        );
        let raft = &self.shared.raft;
        // Never cancelled: dropping a change between its joint and final steps would leave
        // the group joint. A leader cut off from its quorum waits here until it heals or
        // loses leadership, when openraft fails the call.
        let result = match change {
            MembershipChange::AddLearner(id, node) => raft.add_learner(id, node, false).await,
            MembershipChange::Change(changes) => raft.change_membership(changes, false).await,
        };
        if let Err(error) = result {
            tracing::info!(%error, what, "membership change failed");
        }
    }
}

/// One membership step for Raft to take.
#[derive(Debug)]
enum MembershipChange {
    AddLearner(RaftNodeId, BasicNode),
    Change(ChangeMembers<RaftNodeId, BasicNode>),
}

/// The next step from `membership` toward `topology`: add missing nodes as learners, then
/// set the voters once the new ones have caught up, then drop forgotten learners.
fn plan_membership(
    topology: &Topology,
    membership: &openraft::Membership<RaftNodeId, BasicNode>,
    metrics: &RaftMetrics<RaftNodeId, BasicNode>,
) -> Option<(MembershipChange, &'static str)> {
    for node in topology.nodes() {
        let id = node.name.raft_id();
        if membership.get_node(&id).is_none() {
            let address = SocketAddr::new(node.ip, node.bus_port).to_string();
            let change = MembershipChange::AddLearner(id, BasicNode::new(address));
            return Some((change, "add learner"));
        }
    }
    let desired: BTreeSet<RaftNodeId> = topology.voters().map(|n| n.name.raft_id()).collect();
    let current: BTreeSet<RaftNodeId> = membership.voter_ids().collect();
    if !desired.is_empty() && desired != current {
        let last_index = metrics.last_log_index.unwrap_or(0);
        let replication = metrics.replication.as_ref();
        let caught_up = desired.difference(&current).all(|id| {
            let matched = replication.and_then(|r| r.get(id).copied().flatten());
            matched.is_some_and(|log_id| log_id.index + PROMOTE_LAG_MAX >= last_index)
        });
        if !caught_up {
            return None;
        }
        let change = MembershipChange::Change(ChangeMembers::ReplaceAllVoters(desired));
        return Some((change, "set voters"));
    }
    let known: BTreeSet<RaftNodeId> = topology.nodes().map(|n| n.name.raft_id()).collect();
    let stale: BTreeSet<RaftNodeId> = membership
        .learner_ids()
        .filter(|id| !known.contains(id))
        .collect();
    if stale.is_empty() || known.is_empty() {
        return None;
    }
    let change = MembershipChange::Change(ChangeMembers::RemoveNodes(stale));
    Some((change, "remove forgotten learners"))
}
