//! Time: a monotonic clock, a wall clock, sleeps, timeouts and intervals.
//!
//! Monotonic time is tokio's on both backends, because inside a turmoil host tokio's clock
//! is virtual and advanced by the simulation. The wall clock differs: production reads
//! `SystemTime`, while simulation adds turmoil's simulated elapsed time to the epoch the
//! world was given, never reading the real clock (it would differ between runs). turmoil's
//! elapsed time is used rather than the host runtime's `Instant`, because turmoil rebuilds a
//! host's runtime on crash and bounce, and the wall clock must not jump back when it does.

use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::{Instant, Interval, MissedTickBehavior};

use crate::env::{Backend, Env};

/// The error of [`Env::timeout`]: the deadline passed before the future completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("deadline elapsed")]
pub struct Elapsed;

impl From<Elapsed> for std::io::Error {
    fn from(_: Elapsed) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::TimedOut, Elapsed)
    }
}

impl Env {
    /// The monotonic clock.
    pub fn now(&self) -> Instant {
        Instant::now()
    }

    /// Milliseconds since the Unix epoch by the wall clock. In simulation this is
    /// deterministic: the world's epoch plus simulated elapsed time.
    pub fn unix_ms(&self) -> u64 {
        match &self.inner.backend {
            Backend::Tokio => system_unix_ms(),
            #[cfg(feature = "sim")]
            Backend::Sim(sim) => {
                let elapsed = turmoil::sim_elapsed().unwrap_or_else(|| sim.start.elapsed());
                sim.epoch_unix_ms.saturating_add(duration_ms(elapsed))
            }
        }
    }

    /// Waits for `duration`.
    pub async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }

    /// Waits until `deadline`.
    pub async fn sleep_until(&self, deadline: Instant) {
        tokio::time::sleep_until(deadline).await;
    }

    /// Runs `future` for at most `duration`.
    pub async fn timeout<F: Future>(
        &self,
        duration: Duration,
        future: F,
    ) -> Result<F::Output, Elapsed> {
        tokio::time::timeout(duration, future)
            .await
            .map_err(|_| Elapsed)
    }

    /// An interval whose first tick completes at once. A late tick delays the following
    /// ones rather than firing a burst to catch up, so a stalled node does not storm.
    pub fn interval(&self, period: Duration) -> Interval {
        assert!(!period.is_zero(), "an interval needs a nonzero period");
        let mut interval = tokio::time::interval(period);
        interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
        interval
    }
}

fn system_unix_ms() -> u64 {
    // A clock set before 1970 is a broken machine; report the epoch rather than fail.
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    duration_ms(since_epoch)
}

fn duration_ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::run_production;

    #[test]
    fn production_sleep_and_timeout() {
        run_production(Env::production(Some(1)), |env| async move {
            let start = env.now();
            env.sleep(Duration::from_millis(5)).await;
            assert!(env.now() - start >= Duration::from_millis(5));
            let quick = env.timeout(Duration::from_secs(5), async { 7 }).await;
            assert_eq!(quick, Ok(7));
            let slow = env
                .timeout(Duration::from_millis(5), env.sleep(Duration::from_secs(60)))
                .await;
            assert_eq!(slow, Err(Elapsed));
            let error: std::io::Error = Elapsed.into();
            assert_eq!(error.kind(), std::io::ErrorKind::TimedOut);
        });
    }

    #[test]
    fn production_interval_ticks() {
        run_production(Env::production(Some(1)), |env| async move {
            let mut interval = env.interval(Duration::from_millis(2));
            let first = interval.tick().await;
            let second = interval.tick().await;
            assert!(second - first >= Duration::from_millis(2));
            env.sleep_until(env.now() + Duration::from_millis(1)).await;
        });
    }

    #[test]
    fn production_wall_clock_is_recent() {
        let env = Env::production(Some(1));
        // 2020-01-01 in Unix milliseconds: any working clock is later.
        assert!(env.unix_ms() > 1_577_836_800_000);
    }

    #[cfg(feature = "sim")]
    #[test]
    fn simulated_wall_clock_follows_virtual_time() {
        use std::cell::RefCell;
        use std::rc::Rc;

        let epoch_unix_ms = 1_700_000_000_000;
        let seen = Rc::new(RefCell::new(Vec::new()));
        let mut sim = turmoil::Builder::new()
            .epoch(UNIX_EPOCH + Duration::from_millis(epoch_unix_ms))
            .rng_seed(5)
            .build();
        let record = seen.clone();
        sim.client("clock", async move {
            let env = Env::simulation(5, "clock", crate::SimDisk::new(5), 1, epoch_unix_ms);
            record.borrow_mut().push(env.unix_ms());
            env.sleep(Duration::from_secs(3)).await;
            record.borrow_mut().push(env.unix_ms());
            Ok(())
        });
        sim.run().unwrap();
        let seen = seen.borrow();
        assert!(seen[0] >= epoch_unix_ms);
        assert!(seen[0] < epoch_unix_ms + 100);
        assert!(seen[1] - seen[0] >= 3_000);
        assert!(seen[1] - seen[0] < 3_100);
    }
}
