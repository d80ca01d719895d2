//! ember-cluster: the distributed half of a node, sans-IO where it can be.
//!
//! Module map:
