//! Clients blocked on keys (BLPOP, BLMOVE, BZPOPMIN ...), per shard.
//!
//! A blocked connection owns an `Arc<Waiter>` and registers a `Weak` to it, in FIFO order, on
//! every key it waits for. When a key is written, only the first live waiter that has not
//! been served is woken: it retries its command. A waiter that finds data marks itself served
//! before it pops, so the write its own pop makes wakes the next waiter in line when data is
//! left. Waiters that time out or disconnect simply drop their `Arc`; dead entries are skipped
//! and pruned. The result is Redis's guarantee: clients blocked on a key are served in the
//! order they blocked.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};

use bytes::Bytes;
use tokio::sync::Notify;

use crate::limits::DATABASES_MAX;

/// One blocked connection.
#[derive(Debug, Default)]
pub struct Waiter {
    wake: Notify,
    served: AtomicBool,
}

impl Waiter {
    pub fn new() -> Arc<Waiter> {
        Arc::new(Waiter::default())
    }

    /// Completes when one of the keys was written since the last wake.
    pub async fn woken(&self) {
        self.wake.notified().await;
    }

    /// Called by a blocking command once it has found data: this waiter no longer takes turns.
    pub fn mark_served(&self) {
        self.served.store(true, Ordering::Relaxed);
    }

    fn in_line(&self) -> bool {
        !self.served.load(Ordering::Relaxed)
    }
}

#[derive(Default)]
pub struct Blocked {
    per_db: Vec<BTreeMap<Bytes, VecDeque<Weak<Waiter>>>>,
    count: usize,
}

impl Blocked {
    pub fn new() -> Blocked {
        Blocked {
            per_db: (0..DATABASES_MAX).map(|_| BTreeMap::new()).collect(),
            count: 0,
        }
    }

    /// Queues `waiter` on `key`, keeping its place if it is already queued there.
    pub fn block(&mut self, db: usize, key: &[u8], waiter: &Arc<Waiter>) {
        let queue = self.per_db[db]
            .entry(Bytes::copy_from_slice(key))
            .or_default();
        let target = Arc::downgrade(waiter);
        if !queue.iter().any(|w| w.ptr_eq(&target)) {
            queue.push_back(target);
            self.count += 1;
        }
    }

    /// A write to `key`: wakes the first waiter still in line, dropping dead and served ones
    /// from the front.
    pub fn written(&mut self, db: usize, key: &[u8]) {
        if self.count == 0 {
            return;
        }
        let Some(queue) = self.per_db[db].get_mut(key) else {
            return;
        };
        while let Some(front) = queue.front() {
            match front.upgrade() {
                Some(waiter) if waiter.in_line() => {
                    waiter.wake.notify_one();
                    return;
                }
                _ => {
                    queue.pop_front();
                    self.count -= 1;
                }
            }
        }
        self.per_db[db].remove(key);
    }

    pub fn count(&self) -> usize {
        self.count
    }

    /// Keys of `db` that have clients queued on them.
    pub fn keys(&self, db: usize) -> Vec<Bytes> {
        self.per_db[db].keys().cloned().collect()
    }

    /// Drops entries of waiters that are gone or served, anywhere in the queues.
    pub fn prune(&mut self) {
        if self.count == 0 {
            return;
        }
        let mut count = 0;
        for db in &mut self.per_db {
            db.retain(|_, queue| {
                queue.retain(|w| w.upgrade().is_some_and(|w| w.in_line()));
                count += queue.len();
                !queue.is_empty()
            });
        }
        self.count = count;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    fn is_woken(waiter: &Waiter) -> bool {
        let mut woken = pin!(waiter.woken());
        let mut cx = Context::from_waker(Waker::noop());
        matches!(woken.as_mut().poll(&mut cx), Poll::Ready(()))
    }

    #[test]
    fn waiters_are_woken_one_at_a_time_in_order() {
        let mut blocked = Blocked::new();
        let first = Waiter::new();
        let second = Waiter::new();
        blocked.block(0, b"k", &first);
        blocked.block(0, b"k", &second);
        blocked.block(0, b"k", &first);
        assert_eq!(blocked.count(), 2, "re-blocking keeps the place");
        blocked.written(0, b"k");
        assert!(is_woken(&first));
        assert!(!is_woken(&second));
        first.mark_served();
        blocked.written(0, b"k");
        assert!(
            is_woken(&second),
            "the next in line once the first was served"
        );
    }

    #[test]
    fn gone_waiters_are_skipped() {
        let mut blocked = Blocked::new();
        let gone = Waiter::new();
        let waiting = Waiter::new();
        blocked.block(3, b"k", &gone);
        blocked.block(3, b"k", &waiting);
        drop(gone);
        blocked.written(3, b"k");
        assert!(is_woken(&waiting));
        blocked.prune();
        assert_eq!(blocked.count(), 1);
        drop(waiting);
        blocked.prune();
        assert_eq!(blocked.count(), 0);
    }
}
