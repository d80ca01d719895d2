//! The publish/subscribe registry every shard shares: channels and patterns to subscribers.
//!
//! A subscriber is its connection's queue of messages plus a count of bytes queued but not
//! yet taken by the connection. PUBLISH never waits for a subscriber: a subscriber whose
//! queued bytes pass `PUBSUB_QUEUE_MAX_BYTES` (the output buffer limit) is cut off instead,
//! so one slow reader can neither block publishers nor grow the server's memory without
//! bound.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use ember_proto::Frame;
use tokio::sync::{mpsc, Notify};

use crate::limits::PUBSUB_QUEUE_MAX_BYTES;

/// What a subscribed connection receives.
#[derive(Debug)]
pub enum Delivery {
    Message(Frame, usize),
    /// The output buffer limit was passed: the connection must close.
    CutOff,
}

#[derive(Clone)]
pub struct Subscriber {
    queue: mpsc::UnboundedSender<Delivery>,
    queued_bytes: Arc<AtomicUsize>,
    cut_off: Arc<AtomicBool>,
    /// Wakes a connection that is stuck writing to a peer that stopped reading.
    cut_off_signal: Arc<Notify>,
}

impl Subscriber {
    /// A subscriber and the receiving end its connection reads.
    pub fn new() -> (Subscriber, Inbox) {
        let (queue, receiver) = mpsc::unbounded_channel();
        let queued_bytes = Arc::new(AtomicUsize::new(0));
        let cut_off_signal = Arc::new(Notify::new());
        let subscriber = Subscriber {
            queue,
            queued_bytes: queued_bytes.clone(),
            cut_off: Arc::new(AtomicBool::new(false)),
            cut_off_signal: cut_off_signal.clone(),
        };
        (
            subscriber,
            Inbox {
                receiver,
                queued_bytes,
                cut_off_signal,
            },
        )
    }

    /// Queues a message unless the subscriber is over its limit; true when it was queued.
    fn deliver(&self, frame: Frame, size: usize) -> bool {
        if self.cut_off.load(Ordering::Relaxed) {
            return false;
        }
        let queued = self.queued_bytes.fetch_add(size, Ordering::Relaxed) + size;
        if queued > PUBSUB_QUEUE_MAX_BYTES {
            self.cut_off.store(true, Ordering::Relaxed);
            let _ = self.queue.send(Delivery::CutOff);
            self.cut_off_signal.notify_one();
            return false;
        }
        self.queue.send(Delivery::Message(frame, size)).is_ok()
    }
}

/// The connection's side of its subscription queue.
pub struct Inbox {
    receiver: mpsc::UnboundedReceiver<Delivery>,
    queued_bytes: Arc<AtomicUsize>,
    cut_off_signal: Arc<Notify>,
}

impl Inbox {
    /// Completes once the subscriber has been cut off.
    pub async fn cut_off(&self) {
        self.cut_off_signal.notified().await;
    }

    pub async fn recv(&mut self) -> Option<Delivery> {
        let delivery = self.receiver.recv().await;
        self.taken(&delivery);
        delivery
    }

    pub fn try_recv(&mut self) -> Option<Delivery> {
        let delivery = self.receiver.try_recv().ok();
        self.taken(&delivery);
        delivery
    }

    fn taken(&self, delivery: &Option<Delivery>) {
        if let Some(Delivery::Message(_, size)) = delivery {
            self.queued_bytes.fetch_sub(*size, Ordering::Relaxed);
        }
    }
}

#[derive(Default)]
struct Registry {
    channels: BTreeMap<Bytes, BTreeMap<u64, Subscriber>>,
    patterns: BTreeMap<Bytes, BTreeMap<u64, Subscriber>>,
}

#[derive(Default)]
pub struct PubSub {
    registry: Mutex<Registry>,
}

fn bulk(bytes: &Bytes) -> Frame {
    Frame::Bulk(bytes.clone())
}

impl PubSub {
    fn lock(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.registry.lock().expect("pubsub registry lock")
    }

    pub fn subscribe(&self, channel: &Bytes, client: u64, subscriber: &Subscriber) {
        self.lock()
            .channels
            .entry(channel.clone())
            .or_default()
            .insert(client, subscriber.clone());
    }

    pub fn psubscribe(&self, pattern: &Bytes, client: u64, subscriber: &Subscriber) {
        self.lock()
            .patterns
            .entry(pattern.clone())
            .or_default()
            .insert(client, subscriber.clone());
    }

    pub fn unsubscribe(&self, channel: &[u8], client: u64) {
        remove(&mut self.lock().channels, channel, client);
    }

    pub fn punsubscribe(&self, pattern: &[u8], client: u64) {
        remove(&mut self.lock().patterns, pattern, client);
    }

    /// Delivers to every subscriber of the channel and of every matching pattern; returns how
    /// many received it.
    pub fn publish(&self, channel: &Bytes, payload: &Bytes) -> usize {
        let mut guard = self.lock();
        let registry = &mut *guard;
        let (received, cut_off) = deliver_all(registry, channel, payload);
        if !cut_off {
            return received;
        }
        // A subscriber cut off by this message stops counting at once, before its
        // connection gets round to closing.
        for map in [&mut registry.channels, &mut registry.patterns] {
            map.retain(|_, subscribers| {
                subscribers.retain(|_, s| !s.cut_off.load(Ordering::Relaxed));
                !subscribers.is_empty()
            });
        }
        received
    }

    /// Channels with at least one subscriber, optionally matching a glob pattern.
    pub fn channels(&self, pattern: Option<&[u8]>) -> Vec<Bytes> {
        let registry = self.lock();
        registry
            .channels
            .keys()
            .filter(|c| pattern.is_none_or(|p| crate::cmd::keys::glob_match(p, c)))
            .cloned()
            .collect()
    }

    pub fn subscriber_count(&self, channel: &[u8]) -> usize {
        self.lock().channels.get(channel).map_or(0, |s| s.len())
    }

    /// Distinct patterns subscribed to by anyone (PUBSUB NUMPAT).
    pub fn pattern_count(&self) -> usize {
        self.lock().patterns.len()
    }
}

/// Queues the message for the channel's subscribers and every matching pattern's. Returns
/// how many received it and whether any subscriber was cut off by it.
fn deliver_all(registry: &Registry, channel: &Bytes, payload: &Bytes) -> (usize, bool) {
    let size = channel.len() + payload.len() + 32;
    let (mut received, mut cut_off) = (0, false);
    let mut send = |subscribers: &BTreeMap<u64, Subscriber>, frame: Frame, size: usize| {
        for subscriber in subscribers.values() {
            let was_cut_off = subscriber.cut_off.load(Ordering::Relaxed);
            if subscriber.deliver(frame.clone(), size) {
                received += 1;
            } else if !was_cut_off {
                cut_off = true;
            }
        }
    };
    if let Some(subscribers) = registry.channels.get(channel) {
        let frame = Frame::Push(vec![
            Frame::Bulk(Bytes::from_static(b"message")),
            bulk(channel),
            bulk(payload),
        ]);
        send(subscribers, frame, size);
    }
    for (pattern, subscribers) in &registry.patterns {
        if !crate::cmd::keys::glob_match(pattern, channel) {
            continue;
        }
        let frame = Frame::Push(vec![
            Frame::Bulk(Bytes::from_static(b"pmessage")),
            bulk(pattern),
            bulk(channel),
            bulk(payload),
        ]);
        send(subscribers, frame, size + pattern.len());
    }
    (received, cut_off)
}

fn remove(map: &mut BTreeMap<Bytes, BTreeMap<u64, Subscriber>>, name: &[u8], client: u64) {
    if let Some(subscribers) = map.get_mut(name) {
        subscribers.remove(&client);
        if subscribers.is_empty() {
            map.remove(name);
        }
    }
}

/// A connection's subscriptions.
#[derive(Default)]
pub struct Subscriptions {
    pub channels: BTreeSet<Bytes>,
    pub patterns: BTreeSet<Bytes>,
    pub subscriber: Option<Subscriber>,
    pub inbox: Option<Inbox>,
}

impl std::fmt::Debug for Subscriptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Subscriptions({} channels, {} patterns)",
            self.channels.len(),
            self.patterns.len()
        )
    }
}

impl Subscriptions {
    pub fn count(&self) -> usize {
        self.channels.len() + self.patterns.len()
    }

    /// The subscriber handle, created at the first subscription.
    pub fn subscriber(&mut self) -> Subscriber {
        if self.subscriber.is_none() {
            let (subscriber, inbox) = Subscriber::new();
            self.subscriber = Some(subscriber);
            self.inbox = Some(inbox);
        }
        self.subscriber.clone().expect("created above")
    }

    /// Removes every subscription from the registry (RESET, disconnect).
    pub fn clear(&mut self, registry: &PubSub, client: u64) {
        for channel in std::mem::take(&mut self.channels) {
            registry.unsubscribe(&channel, client);
        }
        for pattern in std::mem::take(&mut self.patterns) {
            registry.punsubscribe(&pattern, client);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_reaches_channel_and_pattern_subscribers() {
        let registry = PubSub::default();
        let (first, mut first_inbox) = Subscriber::new();
        let (second, mut second_inbox) = Subscriber::new();
        let news = Bytes::from_static(b"news.tech");
        registry.subscribe(&news, 1, &first);
        registry.psubscribe(&Bytes::from_static(b"news.*"), 2, &second);
        assert_eq!(registry.publish(&news, &Bytes::from_static(b"hi")), 2);
        assert!(matches!(
            first_inbox.try_recv(),
            Some(Delivery::Message(..))
        ));
        assert!(matches!(
            second_inbox.try_recv(),
            Some(Delivery::Message(..))
        ));
        assert_eq!(
            registry.publish(&Bytes::from_static(b"sports"), &Bytes::new()),
            0
        );
        registry.unsubscribe(&news, 1);
        assert!(registry.channels(None).is_empty());
        assert_eq!(registry.pattern_count(), 1);
    }

    #[test]
    fn a_slow_subscriber_is_cut_off_at_the_limit() {
        let registry = PubSub::default();
        let (subscriber, mut inbox) = Subscriber::new();
        let channel = Bytes::from_static(b"c");
        registry.subscribe(&channel, 1, &subscriber);
        let payload = Bytes::from(vec![b'x'; 1024 * 1024]);
        let mut delivered = 0;
        for _ in 0..64 {
            delivered += registry.publish(&channel, &payload);
        }
        assert!(delivered < 33, "delivery stops near the limit: {delivered}");
        let mut saw_cut_off = false;
        while let Some(delivery) = inbox.try_recv() {
            saw_cut_off |= matches!(delivery, Delivery::CutOff);
        }
        assert!(saw_cut_off);
    }
}
