//! The ember server as a library, so the binary, the integration tests and the simulator all
//! run the same node code.
//!
//! - `server`: binding, starting shards, accepting connections; `Shared` state.
//! - `shard`: a shard's store, its inbox, and how commands reach the store that owns their keys.
//! - `conn`: one connection's read / execute / write loop.
//! - `cmd`: the command table and one file per command family.
//! - `keyspace`: a shard's databases, expiry, SCAN and sampling (synchronous, sans-IO).
//! - `config`, `clients`, `info`: CONFIG, CLIENT and INFO's state; `pubsub`: the channel registry.
//! - `slot`, `limits`, `error`: hash slots, named bounds, the error type.

pub mod alloc;
pub mod clients;
pub mod cluster;
pub mod cmd;
pub mod config;
pub mod conn;
pub mod error;
pub mod info;
pub mod keyspace;
pub mod limits;
pub mod persist;
pub mod pubsub;
pub mod server;
pub mod shard;
pub mod slot;
pub mod slowlog;

/// The Redis version whose behaviour ember follows, reported to clients so they enable the
/// right features.
pub const REDIS_VERSION: &str = "7.2.4";
pub const EMBER_VERSION: &str = env!("CARGO_PKG_VERSION");

pub use config::{ClusterObserver, ServerConfig};
