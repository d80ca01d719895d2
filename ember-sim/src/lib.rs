//! ember-sim: ember's deterministic simulator. A world of one node and several clients runs
//! on turmoil from one `u64` seed; clients send a seeded workload over the real RESP path
//! and check every reply against a reference model, while the node is crashed and
//! restarted. The same seed replays the same run, event for event.
//!
//! Module map:
//! - `world`: derives a world's parameters from the seed, builds and steps the simulation.
//! - `client`: a simulated client host: connections, pipelines, deadlines, reconnects.
//! - `workload`: the seeded command generator.
//! - `oracle`: the reference model of a client's keys, with time as a window.
//! - `checkers`: properties judged from what clients observed (`linearizable`).
//! - `faults`: the crash and restart schedule.
//! - `trace`: the run's stable hash (FNV-1a over every event).
//! - `scenario`: the scenario file format; `runner`: runs a file for a seed.
//!
//! The types-and-transactions world (`types` blocks), with no crashes:
//! - `types_world`: its parameters, its run and the checks that need every record.
//! - `types_hosts`: its hosts and the data clients; `queue_hosts`: producers, consumers,
//!   FIFO probes and the auditor; `pubsub_hosts`: subscribers and the publisher.
//! - `collections`: the reference model of lists, hashes, sets and sorted sets;
//!   `collections_workload`: the data clients' seeded commands and transactions.
//! - `session`: a connection with deadlines for those hosts.
//!
//! The persist world (`persist` blocks): the AOF on, crashes and disk faults.
//! - `persist_world`: its parameters, the node over the world's `SimDisk`, the step loop.
//! - `persist_faults`: its episodes (disk faults, saves, a crash, the down time).
//! - `persist_client`: the writer clients, which read back and judge after each restart,
//!   and the admin host; `write_log`: what each writer wrote to each key.
//! - `bitrot_world`: the `bitrot` block, a flipped bit in the middle of a durable AOF.
//!
//! The cluster world (files whose first block is `cluster`): ember-server nodes in cluster
//! mode, scripted step by step.
//! - `cluster_script`: the steps; `cluster_world`: the nodes, faults and the step loop.
//! - `cluster_client`: cluster-aware clients (MOVED, ASK, retries) checking replies
//!   against `cluster_model`; `cluster_operator`: joins, spreads and migrates slots, checks
//!   convergence and takes the key census; `cluster_link`: their connections.

// tokio seeds its scheduler and `select!` from turmoil's generator only under this cfg;
// without it two runs of one seed may differ. rustdoc is exempt: cargo passes it
// `rustdocflags`, not the `rustflags` that set the cfg, and documentation runs nothing.
#[cfg(not(any(tokio_unstable, doc, doctest)))]
compile_error!(
    "ember-sim needs --cfg tokio_unstable (set in .cargo/config.toml) for deterministic runs"
);

pub mod bitrot_world;
pub mod checkers;
pub mod client;
pub mod cluster_client;
pub mod cluster_link;
pub mod cluster_model;
pub mod cluster_operator;
pub mod cluster_script;
pub mod cluster_world;
pub mod collections;
pub mod collections_workload;
pub mod faults;
pub mod oracle;
pub mod persist_client;
pub mod persist_faults;
pub mod persist_world;
pub mod pubsub_hosts;
pub mod queue_hosts;
pub mod runner;
pub mod scenario;
pub mod session;
pub mod trace;
pub mod types_hosts;
pub mod types_world;
pub mod workload;
pub mod world;
pub mod write_log;
