//! ember-cluster: the distributed half of a node, sans-IO where it can be.
//!
//! Module map:
//! - `swim`: SWIM membership and failure detection (probes, indirect probes, Lifeguard
//!   suspicion, piggybacked dissemination, joins, leaves) as a sans-IO state machine.
//! - `topology`: the replicated state (nodes, slot owners, migrations, epochs) and the
//!   commands that change it, pure and deterministic.
//! - `raft`: openraft wiring that commits topology commands: type config, a seeded runtime,
//!   log and state-machine storage through Env files, and the network over a transport.
//! - `bus`: the cluster bus over ember-net: SWIM gossip and request/response RPCs (Raft,
//!   forwarded proposals) in ember-proto's frames.
//! - `identity`: the node id, persisted in the data dir.
//! - `node`: [`ClusterNode`], a running member that ties the rest together; the API
//!   ember-node calls.

pub mod bus;
pub mod identity;
pub mod node;
pub mod raft;
pub mod swim;
pub mod topology;

pub use node::{ClusterConfig, ClusterError, ClusterEvent, ClusterNode, Observer, StartError};
