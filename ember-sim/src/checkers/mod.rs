//! Checkers: one property per file, each judging what clients observed.
//!
//! - `linearizable`: every reply of a single node is the reference model's reply for the
//!   command applied at some instant between its send and its receipt.

pub mod linearizable;
