//! The simulated disk: every host's files, owned by the world so they outlive a crash.
//!
//! Each host has its own namespace, keyed by the host name given to `Env::simulation`, so
//! two hosts may use the same paths. Writes land in a page cache and become durable only
//! by fsync (file data) or `sync_dir` (directory entries); [`SimDisk::crash`] decides what
//! of the rest survives, as described in `crash.rs`. Faults (EIO, ENOSPC, failed fsync,
//! latency) are drawn from the disk's own seeded generator, so they replay with the seed.
//!
//! The lock is a std `Mutex`: the simulation runs on one thread, and no operation holds
//! it across an await.

mod crash;
mod host_disk;

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

pub(crate) use host_disk::{HostDisk, InodeId};

/// The unit in which a crash tears pending writes.
pub const PAGE_SIZE_BYTES: usize = 4096;

/// Fault injection settings; all zero (the default) means a perfect disk.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct FaultConfig {
    /// Chance that any operation but `exists` fails with an injected EIO.
    pub eio_probability: f64,
    /// Chance that an operation that writes data fails with an injected ENOSPC.
    pub enospc_probability: f64,
    /// Chance that `fsync` or `sync_dir` fails. Pending data stays pending.
    pub fsync_fail_probability: f64,
    /// Each operation first waits a uniform 0..=this many simulated milliseconds.
    pub latency_ms_max: u64,
    /// Chance that a page torn by a crash is garbled past the tear instead of cut.
    pub garble_probability: f64,
}

/// The world's simulated disk. Clones share the disk.
#[derive(Clone)]
pub struct SimDisk(Arc<Mutex<Disk>>);

struct Disk {
    rng: ChaCha8Rng,
    faults: FaultConfig,
    hosts: BTreeMap<String, HostDisk>,
}

/// What kind of operation a fault is drawn for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Read,
    Write,
    Meta,
    Sync,
}

impl SimDisk {
    /// An empty disk whose faults are drawn from a generator seeded by `seed`.
    pub fn new(seed: u64) -> SimDisk {
        SimDisk(Arc::new(Mutex::new(Disk {
            rng: crate::random::stream(seed, "", "sim-disk"),
            faults: FaultConfig::default(),
            hosts: BTreeMap::new(),
        })))
    }

    /// Replaces the fault settings; `FaultConfig::default()` heals the disk.
    pub fn set_faults(&self, faults: FaultConfig) {
        let probabilities = [
            faults.eio_probability,
            faults.enospc_probability,
            faults.fsync_fail_probability,
            faults.garble_probability,
        ];
        for probability in probabilities {
            assert!(
                (0.0..=1.0).contains(&probability),
                "a probability must be in 0..=1"
            );
        }
        self.lock().faults = faults;
    }

    pub fn faults(&self) -> FaultConfig {
        self.lock().faults
    }

    /// Crashes `host`'s disk: decides with `rng` what of its pending writes and entry
    /// changes survive, and leaves only durable state. Call it with turmoil's `crash`.
    pub fn crash(&self, host: &str, rng: &mut impl Rng) {
        let mut disk = self.lock();
        let garble_probability = disk.faults.garble_probability;
        if let Some(host_disk) = disk.hosts.get_mut(host) {
            host_disk.crash(rng, garble_probability);
        }
    }

    /// The bytes of `path` on `host` that would be found after a crash, if the file
    /// durably exists.
    pub fn durable_contents(&self, host: &str, path: &Path) -> Option<Vec<u8>> {
        self.lock().hosts.get(host)?.durable_contents(path)
    }

    /// The bytes of `path` on `host` as the running host reads them.
    pub fn contents(&self, host: &str, path: &Path) -> Option<Vec<u8>> {
        self.lock().hosts.get(host)?.visible_contents(path)
    }

    /// The files of `host` as the running host sees them, sorted.
    pub fn list(&self, host: &str) -> Vec<PathBuf> {
        let disk = self.lock();
        disk.hosts.get(host).map_or_else(Vec::new, |host_disk| {
            host_disk.names.keys().cloned().collect()
        })
    }

    /// The files of `host` that would be found after a crash, sorted.
    pub fn durable_list(&self, host: &str) -> Vec<PathBuf> {
        let disk = self.lock();
        disk.hosts.get(host).map_or_else(Vec::new, |host_disk| {
            host_disk.durable_names.keys().cloned().collect()
        })
    }

    /// Bit rot: flips one random bit of the durable bytes of `path` on `host`. Returns
    /// false if there is no such durable file or it is empty.
    pub fn rot(&self, host: &str, path: &Path, rng: &mut impl Rng) -> bool {
        let bit_index = rng.gen::<u64>();
        let mut disk = self.lock();
        disk.hosts
            .get_mut(host)
            .is_some_and(|host_disk| host_disk.flip_bit(path, bit_index))
    }

    /// How long the next operation waits, drawn from the latency setting.
    pub(crate) fn latency(&self) -> Duration {
        let mut disk = self.lock();
        let latency_ms_max = disk.faults.latency_ms_max;
        if latency_ms_max == 0 {
            return Duration::ZERO;
        }
        Duration::from_millis(disk.rng.gen_range(0..=latency_ms_max))
    }

    /// Runs `operation` on `host`'s files unless a fault is injected for it first.
    pub(crate) fn with_host<R>(
        &self,
        host: &str,
        op: Op,
        operation: impl FnOnce(&mut HostDisk) -> io::Result<R>,
    ) -> io::Result<R> {
        let mut disk = self.lock();
        disk.inject(op)?;
        operation(disk.hosts.entry(host.to_string()).or_default())
    }

    /// Reads `host`'s files with no latency and no injected fault.
    pub(crate) fn inspect<R>(
        &self,
        host: &str,
        inspection: impl FnOnce(&HostDisk) -> R,
    ) -> Option<R> {
        self.lock().hosts.get(host).map(inspection)
    }

    fn lock(&self) -> MutexGuard<'_, Disk> {
        // A panic elsewhere while holding the lock leaves the disk consistent: every
        // operation mutates it only after its checks.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Disk {
    fn inject(&mut self, op: Op) -> io::Result<()> {
        let faults = self.faults;
        if op != Op::Sync && self.roll(faults.eio_probability) {
            return Err(io::Error::other("injected EIO by SimDisk"));
        }
        if op == Op::Write && self.roll(faults.enospc_probability) {
            return Err(io::Error::new(
                io::ErrorKind::StorageFull,
                "injected ENOSPC by SimDisk",
            ));
        }
        if op == Op::Sync && self.roll(faults.fsync_fail_probability) {
            return Err(io::Error::other("injected fsync failure by SimDisk"));
        }
        Ok(())
    }

    /// Draws only for a nonzero probability, so a healthy disk consumes no randomness and
    /// turning one fault on does not shift the others' draws when it is off.
    fn roll(&mut self, probability: f64) -> bool {
        probability > 0.0 && self.rng.gen_bool(probability)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op_results(seed: u64, faults: FaultConfig, op: Op) -> Vec<Option<io::ErrorKind>> {
        let disk = SimDisk::new(seed);
        disk.set_faults(faults);
        (0..200)
            .map(|_| {
                disk.with_host("h", op, |_| Ok(()))
                    .err()
                    .map(|error| error.kind())
            })
            .collect()
    }

    #[test]
    fn injected_eio_and_enospc() {
        let faults = FaultConfig {
            eio_probability: 0.2,
            enospc_probability: 0.2,
            ..FaultConfig::default()
        };
        let results = op_results(1, faults, Op::Write);
        assert!(results.contains(&Some(io::ErrorKind::Other)));
        assert!(results.contains(&Some(io::ErrorKind::StorageFull)));
        assert!(results.contains(&None));
        // Reads never run out of space.
        assert!(!op_results(1, faults, Op::Read).contains(&Some(io::ErrorKind::StorageFull)));
        assert_eq!(results, op_results(1, faults, Op::Write));
    }

    #[test]
    fn injected_errors_say_so() {
        let disk = SimDisk::new(1);
        disk.set_faults(FaultConfig {
            fsync_fail_probability: 1.0,
            ..FaultConfig::default()
        });
        let error = disk.with_host("h", Op::Sync, |_| Ok(())).unwrap_err();
        assert!(error.to_string().contains("injected"));
        disk.set_faults(FaultConfig::default());
        assert!(disk.with_host("h", Op::Sync, |_| Ok(())).is_ok());
    }

    #[test]
    fn latency_stays_within_bounds() {
        let disk = SimDisk::new(2);
        assert_eq!(disk.latency(), Duration::ZERO);
        disk.set_faults(FaultConfig {
            latency_ms_max: 5,
            ..FaultConfig::default()
        });
        let latencies: Vec<Duration> = (0..100).map(|_| disk.latency()).collect();
        assert!(latencies
            .iter()
            .all(|latency| *latency <= Duration::from_millis(5)));
        assert!(latencies.iter().any(|latency| *latency > Duration::ZERO));
    }

    #[test]
    fn hosts_have_separate_namespaces() {
        let disk = SimDisk::new(3);
        let path = Path::new("/f");
        disk.with_host("a", Op::Write, |host| host.write_new(path, b"a"))
            .unwrap();
        disk.with_host("b", Op::Write, |host| host.write_new(path, b"b"))
            .unwrap();
        assert_eq!(disk.contents("a", path).unwrap(), b"a");
        assert_eq!(disk.contents("b", path).unwrap(), b"b");
        assert_eq!(disk.list("a"), vec![PathBuf::from("/f")]);
        assert!(disk.durable_list("a").is_empty());
        assert!(disk.list("c").is_empty());
    }

    #[test]
    fn rot_flips_a_durable_bit() {
        let disk = SimDisk::new(4);
        let path = Path::new("/f");
        disk.with_host("a", Op::Write, |host| {
            let inode = host.write_new(path, &[0u8; 64])?;
            host.fsync(inode);
            host.sync_dir(Path::new("/"))
        })
        .unwrap();
        let mut rng = crate::random::stream(4, "", "rot");
        assert!(disk.rot("a", path, &mut rng));
        let rotted = disk.durable_contents("a", path).unwrap();
        let ones: u32 = rotted.iter().map(|byte| byte.count_ones()).sum();
        assert_eq!(ones, 1);
        assert!(!disk.rot("a", Path::new("/missing"), &mut rng));
    }
}
