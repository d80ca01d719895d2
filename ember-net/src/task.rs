//! Tasks: local tasks, shards, and the production entry point.
//!
//! Node code runs inside a `LocalSet` on both backends (turmoil runs each host's software
//! on one), so tasks may be `!Send`. Shards differ by backend: production gives each shard
//! an OS thread with its own current-thread runtime, while simulation makes each shard a
//! local task on the host, so cross-shard paths run deterministically on one thread.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::oneshot;
use tokio::task::{JoinHandle, LocalSet};

use crate::env::{Backend, Env};

/// Builds a shard's future from its id and its `Env`. The future is created on the thread
/// that runs it, so it may hold `!Send` state.
pub type ShardFactory = Arc<dyn Fn(usize, Env) -> Pin<Box<dyn Future<Output = ()>>> + Send + Sync>;

/// The process's freeing thread, started on first use.
fn freer() -> &'static std::sync::mpsc::Sender<Box<dyn Send>> {
    static FREER: std::sync::OnceLock<std::sync::mpsc::Sender<Box<dyn Send>>> =
        std::sync::OnceLock::new();
    FREER.get_or_init(|| {
        let (sender, receiver) = std::sync::mpsc::channel::<Box<dyn Send>>();
        let spawned = std::thread::Builder::new()
            .name("ember-free".into())
            .spawn(move || {
                for garbage in receiver {
                    drop(garbage);
                }
            });
        if let Err(error) = spawned {
            // Without the thread, sends fail and callers drop in place.
            eprintln!("ember: cannot start the freeing thread ({error}); freeing in place");
        }
        sender
    })
}

/// Handles to running shards; [`Shards::join`] waits for all of them.
pub struct Shards {
    handles: ShardHandles,
}

enum ShardHandles {
    Threads(Vec<ShardThread>),
    #[cfg(feature = "sim")]
    Tasks(Vec<JoinHandle<()>>),
}

struct ShardThread {
    /// Completes (or is dropped, if the shard panicked) when the shard's future returns,
    /// so waiting on it does not block the caller's runtime.
    done: oneshot::Receiver<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Env {
    /// Spawns `future` on the current thread's `LocalSet`.
    ///
    /// # Panics
    /// Outside a `LocalSet`, as `tokio::task::spawn_local` does.
    pub fn spawn<F: Future<Output = ()> + 'static>(&self, future: F) -> JoinHandle<()> {
        tokio::task::spawn_local(future)
    }

    /// Drops `garbage` away from the calling thread: on a background thread in production
    /// (so freeing a huge value never stalls a shard), at once in simulation (where the
    /// time it takes is not simulated anyway).
    pub fn drop_later(&self, garbage: Box<dyn Send>) {
        match &self.inner.backend {
            Backend::Tokio => match freer().send(garbage) {
                Ok(()) => {}
                // The freeing thread is gone (it never exits by itself): drop here.
                Err(std::sync::mpsc::SendError(garbage)) => drop(garbage),
            },
            #[cfg(feature = "sim")]
            Backend::Sim(_) => drop(garbage),
        }
    }

    /// Starts `count` shards, each running `factory(id, env)`.
    pub fn spawn_shards(&self, count: usize, factory: ShardFactory) -> Shards {
        assert!(count >= 1, "a node needs at least one shard");
        let handles = match &self.inner.backend {
            Backend::Tokio => ShardHandles::Threads(spawn_threads(self, count, &factory)),
            #[cfg(feature = "sim")]
            Backend::Sim(_) => ShardHandles::Tasks(
                (0..count)
                    .map(|id| tokio::task::spawn_local(factory(id, self.clone())))
                    .collect(),
            ),
        };
        Shards { handles }
    }
}

impl Shards {
    /// How many shards were started.
    pub fn len(&self) -> usize {
        match &self.handles {
            ShardHandles::Threads(threads) => threads.len(),
            #[cfg(feature = "sim")]
            ShardHandles::Tasks(tasks) => tasks.len(),
        }
    }

    /// Always false: at least one shard is started.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Waits until every shard's future has returned. A panic in a shard is resumed here,
    /// so a broken shard takes the node down rather than vanishing.
    pub async fn join(self) {
        match self.handles {
            ShardHandles::Threads(threads) => {
                for shard in threads {
                    // An error means the shard panicked before signalling; join reports it.
                    let _ = shard.done.await;
                    if let Err(panic) = shard.thread.join() {
                        std::panic::resume_unwind(panic);
                    }
                }
            }
            #[cfg(feature = "sim")]
            ShardHandles::Tasks(tasks) => {
                for task in tasks {
                    match task.await {
                        Ok(()) => {}
                        Err(error) if error.is_panic() => {
                            std::panic::resume_unwind(error.into_panic())
                        }
                        // Cancelled: the host is being torn down, which is not a shard's fault.
                        Err(_) => {}
                    }
                }
            }
        }
    }
}

/// Runs a production node on the calling thread: a current-thread runtime with all drivers
/// enabled and a `LocalSet`, blocking until `f(env)` completes.
pub fn run_production<F, Fut>(env: Env, f: F) -> Fut::Output
where
    F: FnOnce(Env) -> Fut,
    Fut: Future,
{
    assert!(!env.is_simulated(), "run_production needs a production Env");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("building a current-thread tokio runtime");
    LocalSet::new().block_on(&runtime, f(env))
}

fn spawn_threads(env: &Env, count: usize, factory: &ShardFactory) -> Vec<ShardThread> {
    (0..count)
        .map(|id| {
            let (done_sender, done) = oneshot::channel();
            let env = env.clone();
            let factory = factory.clone();
            let thread = std::thread::Builder::new()
                .name(format!("ember-shard-{id}"))
                .spawn(move || {
                    run_production(env, |env| factory(id, env));
                    // The receiver may be gone if nobody joins; that is fine.
                    let _ = done_sender.send(());
                })
                .expect("spawning a shard thread");
            ShardThread { done, thread }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn production_shards_run_on_their_own_threads() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        let factory: ShardFactory = Arc::new(move |id, env: Env| {
            let record = record.clone();
            Box::pin(async move {
                // An Rc proves the future may be !Send.
                let local = std::rc::Rc::new(id);
                env.spawn(async {}).await.unwrap();
                env.sleep(std::time::Duration::from_millis(1)).await;
                let name = std::thread::current().name().unwrap().to_string();
                record.lock().unwrap().push((*local, name));
            })
        });
        run_production(Env::production(Some(3)), |env| async move {
            let shards = env.spawn_shards(3, factory);
            assert_eq!(shards.len(), 3);
            shards.join().await;
        });
        let mut seen = seen.lock().unwrap().clone();
        seen.sort();
        let expected: Vec<(usize, String)> =
            (0..3).map(|id| (id, format!("ember-shard-{id}"))).collect();
        assert_eq!(seen, expected);
    }

    #[test]
    #[should_panic(expected = "shard exploded")]
    fn production_shard_panic_reaches_join() {
        let factory: ShardFactory = Arc::new(|_, _| Box::pin(async { panic!("shard exploded") }));
        run_production(Env::production(Some(3)), |env| async move {
            env.spawn_shards(1, factory).join().await;
        });
    }

    #[cfg(feature = "sim")]
    #[test]
    fn simulated_shards_are_local_tasks() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        let mut sim = turmoil::Builder::new()
            .epoch(std::time::UNIX_EPOCH)
            .rng_seed(1)
            .build();
        sim.client("node", async move {
            let env = Env::simulation(1, "node", crate::SimDisk::new(1), 3, 0);
            let factory: ShardFactory = Arc::new(move |id, env: Env| {
                let record = record.clone();
                Box::pin(async move {
                    env.sleep(std::time::Duration::from_millis(10 * (3 - id as u64)))
                        .await;
                    record.lock().unwrap().push((id, env.unix_ms()));
                })
            });
            env.spawn_shards(3, factory).join().await;
            Ok(())
        });
        sim.run().unwrap();
        let seen = seen.lock().unwrap().clone();
        let ids: Vec<usize> = seen.iter().map(|(id, _)| *id).collect();
        // Shorter sleeps finish first on the virtual clock.
        assert_eq!(ids, vec![2, 1, 0]);
    }
}
