//! Checkers: one property per file, each judging what clients observed.
//!
//! - `linearizable`: every reply of a single node is the reference model's reply for the
//!   command applied at some instant between its send and its receipt.

//! - `replies`: exact replies of the types scenario, shaped per protocol.
//! - `delivery`: every queued item delivered once or still queued, in producer order.
//! - `pubsub`: every subscriber gets exactly its messages, in order; PUBLISH counts them.
//!
//! The persist world's, one property each:
//! - `recovered_prefix`: after a restart every key holds a prefix of its writes (no
//!   corrupt, foreign or reordered data), under every fsync policy.
//! - `acknowledged`: under `always`, no acknowledged write is lost, faults or not.
//! - `everysec_window`: under `everysec`, a crash loses at most about a second of writes.
//! - `node_stops`: the node stops only on an injected disk failure, and never refuses to
//!   start after a plain crash (a torn tail is cut, not fatal).
//! - `lost_connections`: connections are lost only when the node crashes or stops.
//! - `corruption_refused`: a flipped bit in the middle of an AOF stops start-up with an
//!   error naming the file and offset, and no data is served from it.

//!
//! The cluster world's, one property each:
//! - `log_matching`: every node applies the same topology entry at each log index.
//! - `slot_owners`: at most one owner per slot per config epoch, across all nodes' views.
//! - `converged`: after faults heal, one topology, everyone alive, Raft voters as the
//!   topology says, every node in the majority.
//! - `redirects`: MOVED/ASK name cluster nodes and chains of them end (within a few hops
//!   once the cluster is calm).
//! - `key_census`: after migrations complete or roll back, every key on exactly one node,
//!   its slot's owner, holding what its client's model admits.

pub mod acknowledged;
pub mod converged;
pub mod corruption_refused;
pub mod delivery;
pub mod everysec_window;
pub mod key_census;
pub mod linearizable;
pub mod log_matching;
pub mod lost_connections;
pub mod node_stops;
pub mod pubsub;
pub mod recovered_prefix;
pub mod redirects;
pub mod replies;
pub mod slot_owners;
