//! The Raft group that commits topology changes, on openraft 0.9 with `storage-v2`.
//!
//! Module map:
//! - `runtime`: openraft's runtime with randomness seeded from `Env`.
//! - `log_store`: the log, vote and committed id, journaled through `Env` files.
//! - `state_machine`: the applied [`Topology`](crate::topology::Topology) and its snapshots.
//! - `network`: the RPC messages, the [`RaftTransport`] trait that carries them, openraft's
//!   network over any transport, and the receiving side's dispatch ([`RaftService`]).
//! - `tcp`: a transport over ember-net TCP, until the cluster bus carries Raft.
//!
//! A node's Raft id is the first 64 bits of its 40-hex name
//! ([`NodeName::raft_id`](crate::topology::NodeName::raft_id)); its openraft `Node` is a
//! `BasicNode` whose `addr` is where its Raft RPCs go, `host:port`.

pub mod log_store;
pub mod network;
pub mod runtime;
pub mod state_machine;
pub mod tcp;

use std::io::Cursor;
use std::sync::Arc;

use crate::topology::{Applied, TopologyCommand, TopologyError};

pub use log_store::{LogReader, LogStore, LogStoreError};
pub use network::{
    Network, NetworkFactory, RaftRequest, RaftResponse, RaftService, RaftTransport, TransportError,
};
pub use runtime::{seed_runtime_rng, SeededRuntime};
pub use state_machine::{AppliedEntry, ApplyHook, StateMachine, TopologyHandle};
pub use tcp::{serve_tcp, TcpTransport};

/// What applying one command returned; the reply to its proposer.
pub type ApplyResult = Result<Applied, TopologyError>;

/// A node's id in the Raft group.
pub type RaftNodeId = u64;

openraft::declare_raft_types!(
    /// openraft's types for ember's topology group.
    pub TypeConfig:
        D = TopologyCommand,
        R = ApplyResult,
        NodeId = RaftNodeId,
        Node = openraft::BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = SeededRuntime,
);

/// The Raft handle for the topology group.
pub type TopologyRaft = openraft::Raft<TypeConfig>;

/// Timings for the topology group: elections within a second or so, heartbeats well
/// inside the election timeout, a snapshot every few thousand entries, and batches and
/// snapshot chunks that fit one RPC frame.
pub fn default_config() -> Arc<openraft::Config> {
    let config = openraft::Config {
        cluster_name: "ember-topology".to_string(),
        heartbeat_interval: 100,
        election_timeout_min: 400,
        election_timeout_max: 800,
        install_snapshot_timeout: 2_000,
        snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(5_000),
        max_in_snapshot_log_to_keep: 500,
        max_payload_entries: 8,
        snapshot_max_chunk_size: 1 << 20,
        ..Default::default()
    };
    assert!(config.heartbeat_interval * 3 <= config.election_timeout_min);
    // An AppendEntries batch of whole log records, or one snapshot chunk, fits one frame.
    let batch_max_bytes = config.max_payload_entries as usize * log_store::LOG_RECORD_MAX_BYTES;
    assert!(batch_max_bytes < network::RAFT_RPC_MAX_BYTES);
    assert!((config.snapshot_max_chunk_size as usize) < network::RAFT_RPC_MAX_BYTES);
    // validate() only fails on inconsistent timings, which the assertion above rules out.
    Arc::new(config.validate().expect("a valid Raft config"))
}
