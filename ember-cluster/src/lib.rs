//! ember-cluster: the distributed half of a node, sans-IO where it can be.
//!
//! Module map:
//! - `topology`: the replicated state (nodes, slot owners, migrations, epochs) and the
//!   commands that change it, pure and deterministic.

pub mod topology;
