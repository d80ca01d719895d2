//! ember-cluster: the distributed half of a node, sans-IO where it can be.
//!
//! Module map:
//! - `topology`: the replicated state (nodes, slot owners, migrations, epochs) and the
//!   commands that change it, pure and deterministic.
//! - `raft`: openraft wiring that commits topology commands: type config, a seeded runtime,
//!   log and state-machine storage through Env files, and the network over a transport.

pub mod raft;
pub mod topology;
