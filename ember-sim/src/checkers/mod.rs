//! Checkers: one property per file, each judging what clients observed.
//!
//! - `linearizable`: every reply of a single node is the reference model's reply for the
//!   command applied at some instant between its send and its receipt.

//! - `replies`: exact replies of the types scenario, shaped per protocol.
//! - `delivery`: every queued item delivered once or still queued, in producer order.
//! - `pubsub`: every subscriber gets exactly its messages, in order; PUBLISH counts them.

pub mod delivery;
pub mod linearizable;
pub mod pubsub;
pub mod replies;
