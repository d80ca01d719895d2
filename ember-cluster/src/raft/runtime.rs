//! openraft's async runtime for ember: tokio's, except that the randomness openraft draws
//! (its election timeouts) comes from a `ChaCha8Rng` seeded from `Env`.
//!
//! openraft asks for randomness through a static `thread_rng()` with no context, so the
//! generator lives in a thread-local that [`seed_runtime_rng`] sets when a node starts its
//! Raft. That is enough for determinism because a turmoil simulation runs every host on
//! one thread in a replayable order, and a production node runs its Raft on its own
//! current-thread runtime. All hosts of one simulation draw from one shared stream, the
//! one seeded last; since the order of draws replays, so do the values. A thread that was
//! never seeded (a unit test, say) falls back to a generator seeded by the OS.

use std::cell::RefCell;
use std::future::Future;
use std::time::Duration;

use ember_net::Env;
use openraft::{AsyncRuntime, OptionalSend, TokioRuntime};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

thread_local! {
    static RUNTIME_RNG: RefCell<Option<ChaCha8Rng>> = const { RefCell::new(None) };
}

/// Seeds this thread's Raft randomness from `env`'s stream `raft-runtime`. Call it before
/// `Raft::new`, on the thread that runs the Raft.
pub fn seed_runtime_rng(env: &Env) {
    let rng = env.rng("raft-runtime");
    RUNTIME_RNG.with(|cell| *cell.borrow_mut() = Some(rng));
}

/// [`TokioRuntime`] with seeded randomness.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SeededRuntime;

/// A handle on the thread's seeded generator; each draw reads the thread-local.
#[derive(Debug, Default, Clone, Copy)]
pub struct SeededRng;

impl RngCore for SeededRng {
    fn next_u32(&mut self) -> u32 {
        with_rng(|rng| rng.next_u32())
    }

    fn next_u64(&mut self) -> u64 {
        with_rng(|rng| rng.next_u64())
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        with_rng(|rng| rng.fill_bytes(dest))
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand::Error> {
        with_rng(|rng| rng.try_fill_bytes(dest))
    }
}

fn with_rng<R>(draw: impl FnOnce(&mut ChaCha8Rng) -> R) -> R {
    RUNTIME_RNG.with(|cell| {
        let mut slot = cell.borrow_mut();
        let rng = slot.get_or_insert_with(ChaCha8Rng::from_entropy);
        draw(rng)
    })
}

impl AsyncRuntime for SeededRuntime {
    type JoinError = <TokioRuntime as AsyncRuntime>::JoinError;
    type JoinHandle<T: OptionalSend + 'static> = <TokioRuntime as AsyncRuntime>::JoinHandle<T>;
    type Sleep = <TokioRuntime as AsyncRuntime>::Sleep;
    type Instant = <TokioRuntime as AsyncRuntime>::Instant;
    type TimeoutError = <TokioRuntime as AsyncRuntime>::TimeoutError;
    type Timeout<R, T: Future<Output = R> + OptionalSend> =
        <TokioRuntime as AsyncRuntime>::Timeout<R, T>;
    type ThreadLocalRng = SeededRng;
    type OneshotSender<T: OptionalSend> = <TokioRuntime as AsyncRuntime>::OneshotSender<T>;
    type OneshotReceiverError = <TokioRuntime as AsyncRuntime>::OneshotReceiverError;
    type OneshotReceiver<T: OptionalSend> = <TokioRuntime as AsyncRuntime>::OneshotReceiver<T>;

    fn spawn<T>(future: T) -> Self::JoinHandle<T::Output>
    where
        T: Future + OptionalSend + 'static,
        T::Output: OptionalSend + 'static,
    {
        TokioRuntime::spawn(future)
    }

    fn sleep(duration: Duration) -> Self::Sleep {
        TokioRuntime::sleep(duration)
    }

    fn sleep_until(deadline: Self::Instant) -> Self::Sleep {
        TokioRuntime::sleep_until(deadline)
    }

    fn timeout<R, F: Future<Output = R> + OptionalSend>(
        duration: Duration,
        future: F,
    ) -> Self::Timeout<R, F> {
        TokioRuntime::timeout(duration, future)
    }

    fn timeout_at<R, F: Future<Output = R> + OptionalSend>(
        deadline: Self::Instant,
        future: F,
    ) -> Self::Timeout<R, F> {
        TokioRuntime::timeout_at(deadline, future)
    }

    fn is_panic(join_error: &Self::JoinError) -> bool {
        TokioRuntime::is_panic(join_error)
    }

    fn thread_rng() -> Self::ThreadLocalRng {
        SeededRng
    }

    fn oneshot<T>() -> (Self::OneshotSender<T>, Self::OneshotReceiver<T>)
    where
        T: OptionalSend,
    {
        TokioRuntime::oneshot()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    #[test]
    fn seeded_draws_replay() {
        let env = Env::production(Some(99));
        seed_runtime_rng(&env);
        let first: Vec<u64> = (0..4).map(|_| SeededRuntime::thread_rng().gen()).collect();
        seed_runtime_rng(&env);
        let second: Vec<u64> = (0..4).map(|_| SeededRuntime::thread_rng().gen()).collect();
        assert_eq!(first, second);
        seed_runtime_rng(&Env::production(Some(100)));
        let other: Vec<u64> = (0..4).map(|_| SeededRuntime::thread_rng().gen()).collect();
        assert_ne!(first, other);
    }
}
