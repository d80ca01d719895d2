//! Starting a node: bind the listener, start the shards, accept connections and hand each
//! to a shard in turn. `Shared` is the little state every shard can read: configuration, the
//! client registry and counters. Everything else is owned by a shard.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ember_net::{Env, ShardFactory};
use rand::Rng;
use tokio::sync::mpsc;

use crate::clients::ClientRegistry;
use crate::config::{RuntimeConfig, ServerConfig};
use crate::limits::SHARDS_MAX;
use crate::shard::{self, ShardMsg, ShardPeer};

/// Counters one shard writes and anyone reads; padded so shards never share a cache line.
#[repr(align(128))]
#[derive(Default)]
pub struct ShardCounters {
    pub commands: AtomicU64,
    /// The shard's keys, values and tables, as of its last command under a memory limit.
    pub dataset_bytes: AtomicU64,
    pub net_input_bytes: AtomicU64,
    pub net_output_bytes: AtomicU64,
}

#[derive(Default)]
pub struct Stats {
    pub shards: Vec<ShardCounters>,
    pub connections_received: AtomicU64,
    pub rejected_connections: AtomicU64,
    /// Connections waiting in a blocking command (INFO blocked_clients).
    pub blocked_clients: AtomicU64,
}

impl Stats {
    pub fn total(&self, field: impl Fn(&ShardCounters) -> &AtomicU64) -> u64 {
        self.shards
            .iter()
            .map(|s| field(s).load(Ordering::Relaxed))
            .sum()
    }

    pub fn reset(&self) {
        for shard in &self.shards {
            shard.commands.store(0, Ordering::Relaxed);
            shard.net_input_bytes.store(0, Ordering::Relaxed);
            shard.net_output_bytes.store(0, Ordering::Relaxed);
        }
        self.connections_received.store(0, Ordering::Relaxed);
        self.rejected_connections.store(0, Ordering::Relaxed);
    }
}

pub struct Shared {
    pub shard_count: usize,
    pub config: RuntimeConfig,
    pub clients: ClientRegistry,
    pub pubsub: crate::pubsub::PubSub,
    pub slowlog: crate::slowlog::SlowLog,
    pub stats: Stats,
    pub started_unix_ms: u64,
    pub process_id: u32,
    pub run_id: String,
    pub simulated: bool,
    pub persist: crate::persist::Persist,
    /// This node's cluster membership, with `--cluster-enabled`.
    pub cluster: Option<ember_cluster::ClusterNode>,
    /// Whether this node reaches a majority of the masters that serve slots (always true
    /// outside cluster mode); without it, it serves no keys (`CLUSTERDOWN`), as a Redis
    /// master cut off from the majority does.
    pub cluster_quorum: Arc<std::sync::atomic::AtomicBool>,
}

impl Shared {
    /// Shared state for in-process tests of command families: default config, no clients.
    pub fn for_tests(shard_count: usize) -> Shared {
        Shared {
            shard_count,
            config: RuntimeConfig::new(&ServerConfig::default(), 0),
            clients: ClientRegistry::default(),
            pubsub: crate::pubsub::PubSub::default(),
            slowlog: crate::slowlog::SlowLog::default(),
            stats: Stats {
                shards: (0..shard_count).map(|_| ShardCounters::default()).collect(),
                ..Stats::default()
            },
            started_unix_ms: 0,
            process_id: 0,
            run_id: "0".repeat(40),
            simulated: true,
            persist: crate::persist::Persist::disabled(shard_count),
            cluster: None,
            cluster_quorum: Arc::new(std::sync::atomic::AtomicBool::new(true)),
        }
    }
}

impl Shared {
    /// The state an old shard's files replay against when the shard count changed: the
    /// old count (so keys route as they did) and the node's data directory settings.
    pub fn for_replay(old_shard_count: usize, node: &Shared) -> Shared {
        let mut shared = Shared::for_tests(old_shard_count);
        shared.persist.dir = node.persist.dir.clone();
        shared.persist.appendonly = node.persist.appendonly;
        shared.persist.load_corrupt = node.persist.load_corrupt;
        shared.persist.key = node.persist.key.clone();
        shared
    }
}

/// A node that is listening: where, and the task running it.
pub struct Started {
    pub addr: SocketAddr,
    pub shared: Arc<Shared>,
}

/// Binds, starts the shards and serves until the process (or simulated host) ends.
pub async fn run(env: Env, config: ServerConfig) -> io::Result<()> {
    let (started, accept) = start(env, config).await?;
    tracing::info!(addr = %started.addr, "ember listening");
    accept.await
}

/// Binds and starts the shards; returns the bound address and the accept loop to drive.
pub async fn start(
    env: Env,
    config: ServerConfig,
) -> io::Result<(Started, impl std::future::Future<Output = io::Result<()>>)> {
    let shard_count = config
        .shards
        .unwrap_or_else(|| env.cores())
        .clamp(1, SHARDS_MAX);
    let host: std::net::IpAddr = config.host.parse().map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("--host '{}' is not an IP address", config.host),
        )
    })?;
    let key = crate::persist::seal::load_key(&env, config.encryption_key_file.as_deref())
        .await
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let persist = crate::persist::Persist::new(&config, shard_count, key)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    persist
        .last_save_unix_ms
        .store(env.unix_ms(), Ordering::Relaxed);
    let listener = bind_client_port(&env, &config, host).await?;
    let addr = listener.local_addr()?;
    let cluster = start_cluster(&env, &config, host, addr.port()).await?;
    let mut run_id_rng = env.rng("run-id");
    let run_id: String = (0..40)
        .map(|_| char::from_digit(run_id_rng.gen_range(0..16), 16).expect("hex digit"))
        .collect();
    let shared = Arc::new(Shared {
        shard_count,
        config: RuntimeConfig::new(&config, addr.port()),
        clients: ClientRegistry::default(),
        pubsub: crate::pubsub::PubSub::default(),
        slowlog: crate::slowlog::SlowLog::default(),
        stats: Stats {
            shards: (0..shard_count).map(|_| ShardCounters::default()).collect(),
            ..Stats::default()
        },
        started_unix_ms: env.unix_ms(),
        process_id: std::process::id(),
        run_id,
        simulated: env.is_simulated(),
        persist,
        // A cluster node serves keys only once `watch_quorum` has seen a majority and
        // caught up with the leader.
        cluster_quorum: Arc::new(std::sync::atomic::AtomicBool::new(cluster.is_none())),
        cluster,
    });
    if let Some(node) = shared.cluster.clone() {
        env.spawn(watch_quorum(env.clone(), node, shared.clone()));
    }
    crate::persist::recover::prepare_dir(&env, &shared)
        .await
        .map_err(io::Error::other)?;
    let peers = start_shards(&env, &shared);
    env.spawn(crate::persist::save::schedule(env.clone(), shared.clone()));
    let accept = accept_loop(env, listener, peers, shared.clone());
    Ok((Started { addr, shared }, accept))
}

/// Binds the client port. `--port 0` picks a free port; in cluster mode it must leave the
/// bus port (the client port plus `--cluster-port-offset`) free too, so a port whose bus
/// port is taken is given back and another drawn (a few tries, then the last error).
async fn bind_client_port(
    env: &Env,
    config: &ServerConfig,
    host: std::net::IpAddr,
) -> io::Result<ember_net::Listener> {
    const TRIES_MAX: usize = 16;
    let mut tries = 0;
    loop {
        let listener = env.bind(SocketAddr::new(host, config.port)).await?;
        if config.port != 0 || !config.cluster_enabled {
            return Ok(listener);
        }
        let port = listener.local_addr()?.port();
        let bus_port = port.checked_add(config.cluster_port_offset);
        let probe = match bus_port {
            Some(bus_port) => env.bind(SocketAddr::new(host, bus_port)).await,
            None => Err(io::Error::new(io::ErrorKind::AddrInUse, "no bus port")),
        };
        tries += 1;
        match probe {
            // Freed right away: the cluster's bus binds it next.
            Ok(_probe) => return Ok(listener),
            Err(error) if tries == TRIES_MAX => return Err(error),
            Err(_) => continue,
        }
    }
}

/// With `--cluster-enabled`, starts this node's cluster membership (its bus on the data
/// port plus `--cluster-port-offset`, its Raft log under the data directory) and, with
/// `--cluster-bootstrap`, makes it a cluster of one owning every slot.
async fn start_cluster(
    env: &Env,
    config: &ServerConfig,
    host: std::net::IpAddr,
    port: u16,
) -> io::Result<Option<ember_cluster::ClusterNode>> {
    if !config.cluster_enabled {
        if config.cluster_bootstrap {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "--cluster-bootstrap needs --cluster-enabled",
            ));
        }
        return Ok(None);
    }
    let announce_ip = match &config.cluster_announce_ip {
        None => host,
        Some(text) => text.parse().map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("--cluster-announce-ip '{text}' is not an IP address"),
            )
        })?,
    };
    if announce_ip.is_unspecified() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "cluster mode needs an address other nodes and clients can reach: set --cluster-announce-ip when --host is 0.0.0.0",
        ));
    }
    let data_dir = std::path::PathBuf::from(&config.data_dir).join("cluster");
    let mut cluster = ember_cluster::ClusterConfig::new(data_dir, announce_ip, port);
    cluster.bind_ip = host;
    cluster.bus_port_offset = config.cluster_port_offset;
    cluster.node_timeout = Duration::from_millis(config.cluster_node_timeout);
    cluster.observer = config.cluster_observer.as_ref().map(|o| o.0.clone());
    cluster.secret = match &config.cluster_secret_file {
        None => None,
        Some(path) => Some(read_cluster_secret(env, path).await?),
    };
    let node = ember_cluster::ClusterNode::start(env.clone(), cluster)
        .await
        .map_err(|e| io::Error::other(format!("cluster: {e}")))?;
    if config.cluster_bootstrap {
        node.bootstrap()
            .await
            .map_err(|e| io::Error::other(format!("cluster bootstrap: {e}")))?;
    }
    tracing::info!(node = %node.myself(), "cluster node started");
    Ok(Some(node))
}

/// The shared cluster-bus secret: the file's bytes without a trailing newline, at least
/// `CLUSTER_SECRET_MIN_BYTES` of them.
async fn read_cluster_secret(env: &Env, path: &str) -> io::Result<Vec<u8>> {
    let mut secret = env
        .read(std::path::Path::new(path))
        .await
        .map_err(|e| io::Error::new(e.kind(), format!("--cluster-secret-file {path}: {e}")))?;
    while secret
        .last()
        .is_some_and(|byte| *byte == b'\n' || *byte == b'\r')
    {
        secret.pop();
    }
    if secret.len() < crate::limits::CLUSTER_SECRET_MIN_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "--cluster-secret-file {path}: the secret must hold at least {} bytes",
                crate::limits::CLUSTER_SECRET_MIN_BYTES
            ),
        ));
    }
    Ok(secret)
}

/// Every tenth of a second, whether this node may serve keys: it reaches a majority of the
/// masters that serve slots (itself included; SWIM's suspected and failed members are
/// unreachable), and since it last did not (or since it started) it has caught up with the
/// leader's log (`ClusterNode::sync`), so a node back from a crash or a partition never
/// serves a slot that moved away meanwhile.
async fn watch_quorum(env: Env, node: ember_cluster::ClusterNode, shared: Arc<Shared>) {
    let mut tick = env.interval(Duration::from_millis(100));
    let mut synced = false;
    loop {
        tick.tick().await;
        let topology = node.topology();
        let membership = node.membership();
        let me = node.myself();
        let serving: Vec<_> = topology
            .nodes()
            .filter(|info| !topology.slot_ranges(&info.name).is_empty())
            .map(|info| info.name)
            .collect();
        let reachable = serving
            .iter()
            .filter(|name| {
                **name == me
                    || !matches!(
                        membership.get(*name),
                        Some(
                            ember_proto::cluster_bus::MemberState::Suspect
                                | ember_proto::cluster_bus::MemberState::Dead
                                | ember_proto::cluster_bus::MemberState::Left
                        )
                    )
            })
            .count();
        let majority = reachable > serving.len() / 2;
        if serving.is_empty() {
            shared.cluster_quorum.store(true, Ordering::Relaxed);
            continue;
        }
        if !majority {
            synced = false;
        } else if !synced {
            synced = node.sync().await.is_ok();
        }
        shared
            .cluster_quorum
            .store(majority && synced, Ordering::Relaxed);
    }
}

/// Builds every shard's channels first (each shard needs all peers' senders), then starts them.
fn start_shards(env: &Env, shared: &Arc<Shared>) -> Arc<Vec<ShardPeer>> {
    let count = shared.shard_count;
    let mut peers = Vec::with_capacity(count);
    let mut inboxes = Vec::with_capacity(count);
    for _ in 0..count {
        let (messages, messages_rx) = mpsc::channel(shard::INBOX_CAPACITY);
        let (returns, returns_rx) = mpsc::unbounded_channel();
        peers.push(ShardPeer { messages, returns });
        inboxes.push(Some((messages_rx, returns_rx)));
    }
    let peers = Arc::new(peers);
    let inboxes = Arc::new(Mutex::new(inboxes));
    let factory: ShardFactory = {
        let (shared, peers) = (shared.clone(), peers.clone());
        Arc::new(move |id, env| {
            let inbox = inboxes.lock().expect("inbox lock")[id]
                .take()
                .expect("each shard starts once");
            Box::pin(shard::run(id, env, shared.clone(), peers.clone(), inbox))
        })
    };
    // The shards live as long as the node; their handles are not joined.
    let _shards = env.spawn_shards(count, factory);
    peers
}

/// Accepts connections until the node stops: Ok after SHUTDOWN or a signal, Err when a
/// persistence failure (or a start-up error) stopped it.
async fn accept_loop(
    env: Env,
    listener: ember_net::Listener,
    peers: Arc<Vec<ShardPeer>>,
    shared: Arc<Shared>,
) -> io::Result<()> {
    let mut next = 0usize;
    loop {
        let accepted = tokio::select! {
            biased;
            _ = stopped(&shared) => {
                shared.persist.drain(&env).await;
                return match shared.persist.failure() {
                    Some(reason) => Err(io::Error::other(reason)),
                    None => Ok(()),
                };
            }
            accepted = listener.accept() => accepted,
        };
        let (conn, _addr) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Running out of descriptors must not end the server; back off and retry.
                tracing::warn!(%error, "accept failed");
                env.sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let detached = match conn.detach() {
            Ok(detached) => detached,
            Err(error) => {
                tracing::warn!(%error, "could not hand a connection to a shard");
                continue;
            }
        };
        let shard = next % peers.len();
        next = next.wrapping_add(1);
        if peers[shard]
            .messages
            .send(ShardMsg::Connection(detached))
            .await
            .is_err()
        {
            return Err(io::Error::other(format!("shard {shard} stopped")));
        }
    }
}

/// Resolves once the node has been asked to stop.
async fn stopped(shared: &Shared) {
    loop {
        let notified = shared.persist.stop.notified();
        if shared.persist.is_stopping() {
            return;
        }
        notified.await;
    }
}

/// Stops the node gracefully: snapshot first when asked (or when a save schedule is set
/// and SHUTDOWN did not say NOSAVE), then stop accepting; the accept loop waits for the
/// AOF writers to write and fsync what is queued. Err when the snapshot failed and FORCE
/// was not given: the node keeps running.
pub async fn shutdown(
    env: Env,
    shared: Arc<Shared>,
    options: crate::cmd::persistence::ShutdownOptions,
) -> Result<(), String> {
    let save = options
        .save
        .unwrap_or_else(|| !shared.config.save_points().is_empty());
    if save && !shared.persist.is_loading() {
        // A save already running finishes first; then this one runs.
        while shared.persist.saving.load(Ordering::Acquire) {
            env.sleep(std::time::Duration::from_millis(10)).await;
        }
        let saved = crate::persist::save::save_all(env, shared.clone(), false).await;
        if let Err(reason) = saved {
            if !options.force {
                return Err(reason);
            }
        }
    }
    tracing::info!("shutting down");
    shared
        .persist
        .shutdown_requested
        .store(true, Ordering::Release);
    shared.persist.request_stop();
    Ok(())
}
