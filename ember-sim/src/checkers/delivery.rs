//! Queue delivery: every item a producer pushed onto a shared queue key is delivered to
//! exactly one consumer, or is still in a queue at the end; nothing else is ever delivered.
//! Within one queue, items of one producer leave in the order they were pushed, so a
//! consumer that pops from the head sees each producer's items on each key in increasing
//! sequence, and what is left in a queue is still in that order. Items a consumer moved
//! (BLMOVE, BRPOPLPUSH) into its own list must be there, in the order it received them.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use bytes::Bytes;

/// Everything the producers and consumers did, as they reported it.
#[derive(Debug, Default)]
pub struct QueueLedger {
    pushed: BTreeSet<Bytes>,
    /// Item to the consumer that received it.
    delivered: BTreeMap<Bytes, usize>,
    /// The last sequence a head-popping consumer saw per (consumer, key, producer).
    last_seen: BTreeMap<(usize, Bytes, usize), u64>,
    /// Each consumer's own list as its moves (BLMOVE, BRPOPLPUSH) built it, head first.
    moved: BTreeMap<usize, VecDeque<Bytes>>,
    pub timeouts: u64,
}

/// An item's name says where it was pushed, by whom, and its producer's sequence number.
pub fn item_name(key: &[u8], producer: usize, seq: u64) -> Bytes {
    Bytes::from(format!(
        "{}|p{producer}|{seq}",
        String::from_utf8_lossy(key)
    ))
}

/// (key, producer, seq) from an item's name.
pub fn parse_item(item: &[u8]) -> Option<(Bytes, usize, u64)> {
    let text = std::str::from_utf8(item).ok()?;
    let mut parts = text.rsplitn(3, '|');
    let seq = parts.next()?.parse().ok()?;
    let producer = parts.next()?.strip_prefix('p')?.parse().ok()?;
    let key = parts.next()?;
    Some((Bytes::copy_from_slice(key.as_bytes()), producer, seq))
}

impl QueueLedger {
    /// Recorded before the push is sent, so a consumer can never see an unrecorded item.
    pub fn push(&mut self, item: Bytes) {
        assert!(parse_item(&item).is_some());
        let fresh = self.pushed.insert(item);
        assert!(fresh, "producers name every item once");
    }

    /// `consumer` received `item` from `key`. `from_head` pops keep each producer's order;
    /// `moved` says whether the item also went into the consumer's own list, at its head
    /// (`Some(true)`) or its tail.
    pub fn deliver(
        &mut self,
        consumer: usize,
        key: &[u8],
        item: &Bytes,
        from_head: bool,
        moved: Option<bool>,
    ) -> Result<(), String> {
        let shown = String::from_utf8_lossy(item);
        let Some((item_key, producer, seq)) = parse_item(item) else {
            return Err(format!("received {shown:?}, which no producer pushed"));
        };
        if !self.pushed.contains(item) {
            return Err(format!("received {shown:?}, which was never pushed"));
        }
        if item_key != key {
            return Err(format!(
                "received {shown:?} from {:?}, but it was pushed onto another key",
                String::from_utf8_lossy(key)
            ));
        }
        if let Some(first) = self.delivered.insert(item.clone(), consumer) {
            return Err(format!(
                "{shown:?} delivered twice: to consumer {first} and to consumer {consumer}"
            ));
        }
        if from_head {
            let last = self
                .last_seen
                .entry((consumer, item_key, producer))
                .or_insert(0);
            if seq <= *last {
                return Err(format!(
                    "{shown:?} popped from the head after item {} of the same producer",
                    *last
                ));
            }
            *last = seq;
        }
        match moved {
            Some(true) => self
                .moved
                .entry(consumer)
                .or_default()
                .push_front(item.clone()),
            Some(false) => self
                .moved
                .entry(consumer)
                .or_default()
                .push_back(item.clone()),
            None => {}
        }
        Ok(())
    }

    pub fn pushed(&self) -> usize {
        self.pushed.len()
    }

    pub fn delivered(&self) -> usize {
        self.delivered.len()
    }

    /// The end: `queues` holds what is left on each queue key, head first, and `own` each
    /// consumer's own list.
    pub fn finish(
        &self,
        queues: &BTreeMap<Bytes, Vec<Bytes>>,
        own: &BTreeMap<usize, Vec<Bytes>>,
    ) -> Result<(), String> {
        let mut left: BTreeSet<Bytes> = BTreeSet::new();
        for (key, items) in queues {
            let mut last: BTreeMap<usize, u64> = BTreeMap::new();
            for item in items {
                let shown = String::from_utf8_lossy(item);
                let Some((item_key, producer, seq)) = parse_item(item) else {
                    return Err(format!("{key:?} holds {shown:?}, which nobody pushed"));
                };
                if item_key != key || !self.pushed.contains(item) {
                    return Err(format!(
                        "{key:?} holds {shown:?}, which was not pushed there"
                    ));
                }
                if self.delivered.contains_key(item) {
                    return Err(format!("{shown:?} was delivered and is still queued"));
                }
                if !left.insert(item.clone()) {
                    return Err(format!("{shown:?} is queued twice"));
                }
                let previous = last.insert(producer, seq).unwrap_or(0);
                if seq <= previous {
                    return Err(format!(
                        "{key:?} holds {shown:?} after item {previous} of its producer"
                    ));
                }
            }
        }
        let accounted = left.len() + self.delivered.len();
        if accounted != self.pushed.len() {
            let lost: Vec<String> = self
                .pushed
                .iter()
                .filter(|item| !left.contains(*item) && !self.delivered.contains_key(*item))
                .take(8)
                .map(|item| String::from_utf8_lossy(item).into_owned())
                .collect();
            return Err(format!(
                "{} items pushed, {} delivered, {} queued: lost {lost:?}",
                self.pushed.len(),
                self.delivered.len(),
                left.len()
            ));
        }
        for (consumer, items) in own {
            let expected: Vec<Bytes> = self
                .moved
                .get(consumer)
                .map(|list| list.iter().cloned().collect())
                .unwrap_or_default();
            if *items != expected {
                return Err(format!(
                    "consumer {consumer}'s own list holds {items:?}, but it moved {expected:?}"
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        let item = item_name(b"q:list0", 1, 7);
        assert_eq!(
            parse_item(&item),
            Some((Bytes::from_static(b"q:list0"), 1, 7))
        );
        assert_eq!(parse_item(b"junk"), None);
    }

    #[test]
    fn duplicates_losses_and_order_are_caught() {
        let mut ledger = QueueLedger::default();
        let (a1, a2) = (item_name(b"q", 0, 1), item_name(b"q", 0, 2));
        ledger.push(a1.clone());
        ledger.push(a2.clone());
        ledger.deliver(0, b"q", &a2, true, None).unwrap();
        assert!(ledger.deliver(1, b"q", &a2, true, None).is_err());
        let mut order = QueueLedger::default();
        order.push(a1.clone());
        order.push(a2.clone());
        order.deliver(0, b"q", &a2, true, None).unwrap();
        assert!(order.deliver(0, b"q", &a1, true, None).is_err());
        let queues = BTreeMap::new();
        assert!(
            ledger.finish(&queues, &BTreeMap::new()).is_err(),
            "a1 was lost"
        );
        let queues = BTreeMap::from([(Bytes::from_static(b"q"), vec![a1])]);
        ledger.finish(&queues, &BTreeMap::new()).unwrap();
    }
}
