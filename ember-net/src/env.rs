//! The [`Env`] value: one handle to everything that can make two runs differ.
//!
//! An `Env` is an `Arc` around a backend enum, so it is cheap to clone and can be handed to
//! every task and shard. Node code never sees which backend it runs on except through
//! [`Env::is_simulated`], which exists for logging and assertions only.

use std::sync::Arc;

#[cfg(feature = "sim")]
use crate::sim_disk::SimDisk;

/// The seam: network, clock, tasks, files and randomness for one node.
#[derive(Clone)]
pub struct Env {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    /// The seed every named random stream is derived from.
    pub(crate) seed: u64,
    /// The host name mixed into the random streams; empty in production.
    pub(crate) host: Arc<str>,
    pub(crate) cores: usize,
    pub(crate) backend: Backend,
}

pub(crate) enum Backend {
    Tokio,
    #[cfg(feature = "sim")]
    Sim(SimBackend),
}

#[cfg(feature = "sim")]
pub(crate) struct SimBackend {
    pub(crate) disk: SimDisk,
    /// The simulated wall clock, in Unix milliseconds, when the simulation started.
    pub(crate) epoch_unix_ms: u64,
    /// Used for the wall clock only when turmoil cannot report its elapsed time, which
    /// happens when a simulated `Env` is driven by a plain tokio runtime in unit tests.
    pub(crate) start: tokio::time::Instant,
    /// `Env::secure_random`'s stream: from the seed, so a run replays. A restarted host
    /// gets a new `Env` and draws the same bytes again, which is harmless in a simulation
    /// (nothing there is secret) and keeps replays exact.
    /// Boxed: the generator's state would make every `Backend` value large.
    pub(crate) secure_random: Box<std::sync::Mutex<rand_chacha::ChaCha8Rng>>,
}

impl Env {
    /// Production backend: real sockets, clock and files. Randomness derives from `seed`
    /// when given, so a production run can be made repeatable, and from the OS otherwise.
    pub fn production(seed: Option<u64>) -> Env {
        let seed = seed.unwrap_or_else(crate::random::os_seed);
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert!(cores >= 1);
        Env::from_inner(Inner {
            seed,
            host: Arc::from(""),
            cores,
            backend: Backend::Tokio,
        })
    }

    /// Simulation backend, built inside a turmoil host's future so that each host (and each
    /// restart of a host) gets its own `Env`. `host` names the host: it derives the host's
    /// random streams and its directory namespace on `disk`, which belongs to the world and
    /// so survives crashes. `epoch_unix_ms` is the simulated wall clock at time zero of the
    /// simulation; pass the same instant that was given to `turmoil::Builder::epoch`.
    #[cfg(feature = "sim")]
    pub fn simulation(
        seed: u64,
        host: &str,
        disk: SimDisk,
        cores: usize,
        epoch_unix_ms: u64,
    ) -> Env {
        assert!(cores >= 1, "a simulated host needs at least one core");
        assert!(!host.is_empty(), "a simulated host needs a name");
        Env::from_inner(Inner {
            seed,
            host: Arc::from(host),
            cores,
            backend: Backend::Sim(SimBackend {
                disk,
                epoch_unix_ms,
                start: tokio::time::Instant::now(),
                secure_random: Box::new(std::sync::Mutex::new(crate::random::stream(
                    seed,
                    host,
                    "secure-random",
                ))),
            }),
        })
    }

    /// Whether this is the simulation backend.
    pub fn is_simulated(&self) -> bool {
        match &self.inner.backend {
            Backend::Tokio => false,
            #[cfg(feature = "sim")]
            Backend::Sim(_) => true,
        }
    }

    /// How many cores the node may use: the machine's in production, the configured
    /// number in simulation. Node code asks here and never the OS.
    pub fn cores(&self) -> usize {
        self.inner.cores
    }

    /// The seed all of this `Env`'s random streams derive from.
    pub fn seed(&self) -> u64 {
        self.inner.seed
    }

    /// The host name given to [`Env::simulation`]; empty in production.
    pub fn host(&self) -> &str {
        &self.inner.host
    }

    /// The simulated disk behind this `Env`, if it is simulated.
    #[cfg(feature = "sim")]
    pub fn sim_disk(&self) -> Option<&SimDisk> {
        match &self.inner.backend {
            Backend::Tokio => None,
            Backend::Sim(sim) => Some(&sim.disk),
        }
    }

    fn from_inner(inner: Inner) -> Env {
        Env {
            inner: Arc::new(inner),
        }
    }
}

impl std::fmt::Debug for Env {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Env")
            .field("simulated", &self.is_simulated())
            .field("host", &self.inner.host)
            .field("seed", &self.inner.seed)
            .field("cores", &self.inner.cores)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync + Clone + 'static>() {}

    #[test]
    fn env_is_send_sync_and_clone() {
        assert_send_sync::<Env>();
    }

    #[test]
    fn production_reports_seed_and_cores() {
        let env = Env::production(Some(7));
        assert_eq!(env.seed(), 7);
        assert!(env.cores() >= 1);
        assert!(!env.is_simulated());
        assert_eq!(env.host(), "");
    }

    #[test]
    fn production_without_seed_draws_one() {
        // Two draws from the OS colliding would mean the OS generator is broken.
        let first = Env::production(None).seed();
        let second = Env::production(None).seed();
        assert_ne!(first, second);
    }

    #[cfg(feature = "sim")]
    #[test]
    fn simulation_reports_what_it_was_given() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let _guard = runtime.enter();
        let env = Env::simulation(3, "node-1", SimDisk::new(1), 4, 1_000);
        assert!(env.is_simulated());
        assert_eq!(env.cores(), 4);
        assert_eq!(env.seed(), 3);
        assert_eq!(env.host(), "node-1");
        assert!(env.sim_disk().is_some());
        // Secure random bytes follow the seed in simulation, and differ call to call.
        let again = Env::simulation(3, "node-1", SimDisk::new(1), 4, 1_000);
        let (mut a, mut b, mut c) = ([0u8; 8], [0u8; 8], [0u8; 8]);
        env.secure_random(&mut a);
        again.secure_random(&mut b);
        env.secure_random(&mut c);
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}
