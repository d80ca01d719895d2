//! ember-net is the seam between ember's node code and the world: network, clock, tasks,
//! files and randomness all go through one [`Env`], which runs either on tokio (production)
//! or on turmoil with a simulated disk (cargo feature `sim`).
//!
//! Module map, one concern per file with both backends side by side:
//! - `env`: the [`Env`] value, its backends and constructors.
//! - `random`: named, seeded random streams and hasher seeds.
//! - `clock`: monotonic and wall-clock time, sleeps, timeouts and intervals.
//! - `task`: local tasks, shards and the production entry point.
//! - `net`: listeners and connecting; `conn`: connections, their halves and detaching.
//! - `fs`: files and directories.
//! - `sim_disk` (feature `sim`): the world's simulated disk with crash and fault models.

mod clock;
mod conn;
mod env;
mod fs;
mod net;
mod random;
#[cfg(feature = "sim")]
mod sim_disk;
mod task;

pub use clock::Elapsed;
pub use conn::{Conn, ConnReader, ConnWriter, DetachedConn};
pub use env::Env;
pub use fs::File;
pub use net::Listener;
#[cfg(feature = "sim")]
pub use sim_disk::{FaultConfig, SimDisk, PAGE_SIZE_BYTES};
pub use task::{run_production, ShardFactory, Shards};
