//! ember-cluster: the distributed half of a node, sans-IO where it can be.
//!
//! Module map:
//! - `swim`: SWIM membership and failure detection (probes, indirect probes, Lifeguard
//!   suspicion, piggybacked dissemination, joins, leaves) as a sans-IO state machine.

pub mod swim;
