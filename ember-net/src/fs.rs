//! Files and directories, on tokio's file system or on the simulated disk.
//!
//! Both backends promise the same durability contract, which persistence code relies on:
//! appended and written bytes are readable at once but durable only after
//! [`File::fsync`]; a created, renamed or removed file is durable only after
//! [`Env::sync_dir`] of its directory; [`Env::truncate`] is durable when it returns.
//! In simulation each host sees its own namespace on the world's [`crate::SimDisk`],
//! and every operation may first wait for injected latency and then fail by injection.

use std::io;
use std::path::{Path, PathBuf};

use tokio::io::AsyncWriteExt;

use crate::env::{Backend, Env};
#[cfg(feature = "sim")]
use crate::sim_disk::{HostDisk, InodeId, Op, SimDisk};

/// A file open for appending.
#[derive(Debug)]
pub struct File {
    inner: FileInner,
    /// Bytes in the file as written through this handle.
    len: u64,
}

enum FileInner {
    /// A std file shared with the blocking pool, so an append and its fsync run as one
    /// blocking call (`append_sync`) instead of a round trip each.
    Tokio(std::sync::Arc<std::fs::File>),
    #[cfg(feature = "sim")]
    Sim {
        disk: SimDisk,
        host: std::sync::Arc<str>,
        inode: InodeId,
    },
}

impl Env {
    /// Creates `path` and its missing parents.
    pub async fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        match &self.inner.backend {
            Backend::Tokio => tokio::fs::create_dir_all(path).await,
            #[cfg(feature = "sim")]
            Backend::Sim(_) => {
                self.sim_op(Op::Meta, |disk| disk.create_dir_all(path))
                    .await
            }
        }
    }

    /// Opens `path` for appending, creating it if missing.
    pub async fn open_append(&self, path: &Path) -> io::Result<File> {
        match &self.inner.backend {
            Backend::Tokio => {
                let file = tokio::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .await?;
                let len = file.metadata().await?.len();
                Ok(File::tokio(file.into_std().await, len))
            }
            #[cfg(feature = "sim")]
            Backend::Sim(_) => {
                let (inode, len) = self
                    .sim_op(Op::Write, |disk| disk.open_append(path))
                    .await?;
                Ok(self.sim_file(inode, len))
            }
        }
    }

    /// Reads all of `path`.
    pub async fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        match &self.inner.backend {
            Backend::Tokio => tokio::fs::read(path).await,
            #[cfg(feature = "sim")]
            Backend::Sim(_) => self.sim_op(Op::Read, |disk| disk.read(path)).await,
        }
    }

    /// Creates or truncates `path` and writes `data`, not yet durably; the returned handle
    /// appends after `data` and fsyncs it.
    pub async fn write_new(&self, path: &Path, data: &[u8]) -> io::Result<File> {
        match &self.inner.backend {
            Backend::Tokio => {
                let options = tokio::fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .clone();
                let mut file = options.open(path).await?;
                file.write_all(data).await?;
                // tokio writes in the background; flushing makes the bytes readable.
                file.flush().await?;
                Ok(File::tokio(file.into_std().await, data.len() as u64))
            }
            #[cfg(feature = "sim")]
            Backend::Sim(_) => {
                let inode = self
                    .sim_op(Op::Write, |disk| disk.write_new(path, data))
                    .await?;
                Ok(self.sim_file(inode, data.len() as u64))
            }
        }
    }

    /// Renames `from` to `to`, replacing `to` if it exists; durable after `sync_dir`.
    pub async fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        match &self.inner.backend {
            Backend::Tokio => tokio::fs::rename(from, to).await,
            #[cfg(feature = "sim")]
            Backend::Sim(_) => self.sim_op(Op::Meta, |disk| disk.rename(from, to)).await,
        }
    }

    /// Makes the creations, renames and removals of entries in `dir` durable.
    pub async fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        match &self.inner.backend {
            Backend::Tokio => tokio::fs::File::open(dir).await?.sync_all().await,
            #[cfg(feature = "sim")]
            Backend::Sim(_) => self.sim_op(Op::Sync, |disk| disk.sync_dir(dir)).await,
        }
    }

    /// The paths of the entries of `dir`, sorted.
    pub async fn list_dir(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        match &self.inner.backend {
            Backend::Tokio => {
                let mut entries = tokio::fs::read_dir(dir).await?;
                let mut paths = Vec::new();
                while let Some(entry) = entries.next_entry().await? {
                    paths.push(entry.path());
                }
                paths.sort();
                Ok(paths)
            }
            #[cfg(feature = "sim")]
            Backend::Sim(_) => self.sim_op(Op::Read, |disk| disk.list_dir(dir)).await,
        }
    }

    /// Removes the file `path`; durable after `sync_dir`.
    pub async fn remove(&self, path: &Path) -> io::Result<()> {
        match &self.inner.backend {
            Backend::Tokio => tokio::fs::remove_file(path).await,
            #[cfg(feature = "sim")]
            Backend::Sim(_) => self.sim_op(Op::Meta, |disk| disk.remove(path)).await,
        }
    }

    /// Cuts (or zero-extends) `path` to `len` bytes and makes the file durable, so that
    /// recovery can trim a torn tail and rely on the trim.
    pub async fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        match &self.inner.backend {
            Backend::Tokio => {
                let file = tokio::fs::OpenOptions::new().write(true).open(path).await?;
                file.set_len(len).await?;
                file.sync_all().await
            }
            #[cfg(feature = "sim")]
            Backend::Sim(_) => {
                self.sim_op(Op::Write, |disk| disk.truncate(path, len))
                    .await
            }
        }
    }

    /// Whether a file or directory exists at `path`. Never fails by injection.
    pub async fn exists(&self, path: &Path) -> bool {
        match &self.inner.backend {
            Backend::Tokio => tokio::fs::try_exists(path).await.unwrap_or(false),
            #[cfg(feature = "sim")]
            Backend::Sim(sim) => sim
                .disk
                .inspect(&self.inner.host, |disk| disk.exists(path))
                .unwrap_or(false),
        }
    }

    /// Runs one operation on this host's simulated files after the injected latency.
    #[cfg(feature = "sim")]
    async fn sim_op<R>(
        &self,
        op: Op,
        operation: impl FnOnce(&mut HostDisk) -> io::Result<R>,
    ) -> io::Result<R> {
        let Backend::Sim(sim) = &self.inner.backend else {
            unreachable!("sim_op is only called on the simulation backend");
        };
        sim_latency(&sim.disk).await;
        sim.disk.with_host(&self.inner.host, op, operation)
    }

    #[cfg(feature = "sim")]
    fn sim_file(&self, inode: InodeId, len: u64) -> File {
        let Backend::Sim(sim) = &self.inner.backend else {
            unreachable!("sim_file is only called on the simulation backend");
        };
        File {
            inner: FileInner::Sim {
                disk: sim.disk.clone(),
                host: self.inner.host.clone(),
                inode,
            },
            len,
        }
    }
}

impl File {
    /// Appends `data` at the end; readable at once, durable after [`File::fsync`].
    pub async fn append(&mut self, data: &[u8]) -> io::Result<()> {
        match &self.inner {
            FileInner::Tokio(_) => {
                self.append_sync(bytes::Bytes::copy_from_slice(data), false)
                    .await
            }
            #[cfg(feature = "sim")]
            FileInner::Sim { .. } => self.append_sim(data).await,
        }
    }

    /// Appends `data`, then (with `sync`) makes the file durable, as one operation: on
    /// tokio, one trip to the blocking pool.
    pub async fn append_sync(&mut self, data: bytes::Bytes, sync: bool) -> io::Result<()> {
        match &mut self.inner {
            FileInner::Tokio(file) => {
                let file = file.clone();
                let len = data.len() as u64;
                blocking(move || {
                    use std::io::Write;
                    (&*file).write_all(&data)?;
                    if sync {
                        file.sync_data()?;
                    }
                    Ok(())
                })
                .await?;
                self.len += len;
                Ok(())
            }
            #[cfg(feature = "sim")]
            FileInner::Sim { .. } => {
                self.append_sim(&data).await?;
                if sync {
                    self.fsync().await?;
                }
                Ok(())
            }
        }
    }

    #[cfg(feature = "sim")]
    async fn append_sim(&mut self, data: &[u8]) -> io::Result<()> {
        let FileInner::Sim { disk, host, inode } = &mut self.inner else {
            unreachable!("a simulated file");
        };
        sim_latency(disk).await;
        disk.with_host(host, Op::Write, |files| {
            files.append(*inode, data);
            Ok(())
        })?;
        self.len += data.len() as u64;
        Ok(())
    }

    /// Makes everything written to this file durable. A failure leaves the file's state
    /// unknown: the caller should stop rather than retry.
    pub async fn fsync(&mut self) -> io::Result<()> {
        match &mut self.inner {
            FileInner::Tokio(file) => {
                let file = file.clone();
                blocking(move || file.sync_data()).await
            }
            #[cfg(feature = "sim")]
            FileInner::Sim { disk, host, inode } => {
                sim_latency(disk).await;
                disk.with_host(host, Op::Sync, |files| {
                    files.fsync(*inode);
                    Ok(())
                })
            }
        }
    }

    /// The file's length in bytes, as written through this handle.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the file is empty, as written through this handle.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn tokio(file: std::fs::File, len: u64) -> File {
        File {
            inner: FileInner::Tokio(std::sync::Arc::new(file)),
            len,
        }
    }
}

impl std::fmt::Debug for FileInner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FileInner::Tokio(file) => file.fmt(f),
            #[cfg(feature = "sim")]
            FileInner::Sim { host, inode, .. } => write!(f, "SimFile({host}, inode {inode})"),
        }
    }
}

/// Runs blocking file work on tokio's blocking pool.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| io::Error::other(format!("file task failed: {e}")))?
}

#[cfg(feature = "sim")]
async fn sim_latency(disk: &SimDisk) {
    let latency = disk.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::run_production;

    /// Runs the same file scenario on any backend, so both keep one contract.
    async fn round_trip(env: &Env, root: &Path) {
        let dir = root.join("shard-0");
        env.create_dir_all(&dir).await.unwrap();
        let aof = dir.join("appendonly.aof");
        assert!(!env.exists(&aof).await);
        let mut file = env.open_append(&aof).await.unwrap();
        file.append(b"set a 1\n").await.unwrap();
        file.append(b"set b 2\n").await.unwrap();
        file.fsync().await.unwrap();
        assert_eq!(file.len(), 16);
        assert_eq!(env.read(&aof).await.unwrap(), b"set a 1\nset b 2\n");
        drop(file);
        let reopened = env.open_append(&aof).await.unwrap();
        assert_eq!(reopened.len(), 16);

        let tmp = dir.join("snapshot.tmp");
        let mut snapshot = env.write_new(&tmp, b"snap").await.unwrap();
        snapshot.append(b"shot").await.unwrap();
        snapshot.fsync().await.unwrap();
        let target = dir.join("snapshot");
        env.rename(&tmp, &target).await.unwrap();
        env.sync_dir(&dir).await.unwrap();
        assert_eq!(env.read(&target).await.unwrap(), b"snapshot");
        assert_eq!(
            env.list_dir(&dir).await.unwrap(),
            vec![aof.clone(), target.clone()]
        );

        env.truncate(&aof, 8).await.unwrap();
        assert_eq!(env.read(&aof).await.unwrap(), b"set a 1\n");
        env.remove(&target).await.unwrap();
        assert!(!env.exists(&target).await);
        assert!(env.exists(&dir).await);
        let missing = env.read(&target).await.unwrap_err();
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn production_files_round_trip() {
        let root = std::env::temp_dir().join(format!(
            "ember-net-fs-{}-{}",
            std::process::id(),
            crate::random::os_seed()
        ));
        let env = Env::production(None);
        run_production(env, |env| {
            let root = root.clone();
            async move { round_trip(&env, &root).await }
        });
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[cfg(feature = "sim")]
    #[test]
    fn simulated_files_round_trip() {
        let disk = SimDisk::new(9);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let env = Env::simulation(9, "node-a", disk.clone(), 1, 0);
        runtime.block_on(round_trip(&env, Path::new("/data")));
        assert_eq!(
            disk.durable_contents("node-a", Path::new("/data/shard-0/appendonly.aof"))
                .unwrap(),
            b"set a 1\n"
        );
        assert!(disk.list("node-b").is_empty());
    }

    #[cfg(feature = "sim")]
    #[test]
    fn simulated_faults_reach_the_caller_and_latency_uses_virtual_time() {
        let disk = SimDisk::new(9);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        let env = Env::simulation(9, "node-a", disk.clone(), 1, 0);
        runtime.block_on(async {
            env.create_dir_all(Path::new("/d")).await.unwrap();
            disk.set_faults(crate::FaultConfig {
                enospc_probability: 1.0,
                latency_ms_max: 50,
                ..Default::default()
            });
            let start = env.now();
            let error = env.write_new(Path::new("/d/f"), b"x").await.unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::StorageFull);
            assert!(env.now() - start <= std::time::Duration::from_millis(50));
            disk.set_faults(crate::FaultConfig {
                fsync_fail_probability: 1.0,
                ..Default::default()
            });
            let mut file = env.write_new(Path::new("/d/f"), b"x").await.unwrap();
            assert!(file.fsync().await.is_err());
            assert!(env.exists(Path::new("/d/f")).await);
            assert!(env.sync_dir(Path::new("/d")).await.is_err());
            assert_eq!(disk.durable_contents("node-a", Path::new("/d/f")), None);
        });
    }
}
