//! Pub/sub delivery: a subscriber receives exactly the messages published to its channels
//! (and the channels its patterns match) while it was subscribed, once per matching
//! subscription, in publish order; PUBLISH's reply is the number of those deliveries.
//!
//! A subscription starts at some instant between sending (P)SUBSCRIBE and reading its
//! confirmation, and ends between sending (P)UNSUBSCRIBE and reading that confirmation; a
//! PUBLISH runs between its send and its reply. Where those windows overlap the model
//! cannot tell whether the message was due, and accepts either, but the total number of
//! deliveries must still equal PUBLISH's reply.

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::oracle::SLACK_MS;

/// What a subscription names: a channel, or a glob pattern over channel names.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Via {
    Channel(Bytes),
    Pattern(Bytes),
}

/// One subscription's life, in virtual milliseconds.
#[derive(Clone, Copy, Debug, Default)]
struct Interval {
    on_sent_ms: u64,
    on_confirmed_ms: Option<u64>,
    off_sent_ms: Option<u64>,
    off_confirmed_ms: Option<u64>,
}

#[derive(Debug, Default)]
struct Subscriber {
    intervals: BTreeMap<Via, Vec<Interval>>,
    /// (publication sequence, subscription) in the order received.
    received: Vec<(u64, Via)>,
}

/// One PUBLISH and its reply.
#[derive(Clone, Debug)]
struct Publication {
    channel: Bytes,
    sent_ms: u64,
    received_ms: u64,
    receivers: i64,
}

/// Whether a subscription was active when a message was published.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Due {
    Surely,
    Perhaps,
    Not,
}

/// Everything subscribers and the publisher did.
#[derive(Debug, Default)]
pub struct PubSubLedger {
    subscribers: BTreeMap<usize, Subscriber>,
    /// By sequence number, from 1.
    publications: BTreeMap<u64, Publication>,
}

impl PubSubLedger {
    pub fn subscribe_sent(&mut self, subscriber: usize, via: Via, at_ms: u64) {
        let intervals = self.intervals(subscriber, via);
        assert!(intervals
            .last()
            .is_none_or(|last| last.off_sent_ms.is_some()));
        intervals.push(Interval {
            on_sent_ms: at_ms,
            ..Interval::default()
        });
    }

    pub fn subscribe_confirmed(&mut self, subscriber: usize, via: Via, at_ms: u64) {
        let last = self.intervals(subscriber, via).last_mut().expect("sent");
        assert!(last.on_confirmed_ms.is_none());
        last.on_confirmed_ms = Some(at_ms);
    }

    pub fn unsubscribe_sent(&mut self, subscriber: usize, via: Via, at_ms: u64) {
        let last = self
            .intervals(subscriber, via)
            .last_mut()
            .expect("subscribed");
        assert!(last.off_sent_ms.is_none());
        last.off_sent_ms = Some(at_ms);
    }

    pub fn unsubscribe_confirmed(&mut self, subscriber: usize, via: Via, at_ms: u64) {
        let last = self
            .intervals(subscriber, via)
            .last_mut()
            .expect("subscribed");
        assert!(last.off_sent_ms.is_some());
        last.off_confirmed_ms = Some(at_ms);
    }

    fn intervals(&mut self, subscriber: usize, via: Via) -> &mut Vec<Interval> {
        let subscriber = self.subscribers.entry(subscriber).or_default();
        subscriber.intervals.entry(via).or_default()
    }

    pub fn published(
        &mut self,
        seq: u64,
        channel: Bytes,
        sent_ms: u64,
        received_ms: u64,
        receivers: i64,
    ) {
        let publication = Publication {
            channel,
            sent_ms,
            received_ms,
            receivers,
        };
        let fresh = self.publications.insert(seq, publication).is_none();
        assert!(fresh, "sequence numbers are unique");
    }

    /// `subscriber` received message `seq` through `via`. Checked at once: the same message
    /// twice through one subscription, or messages out of publish order, are failures.
    pub fn received(&mut self, subscriber: usize, seq: u64, via: Via) -> Result<(), String> {
        let subscriber = self.subscribers.entry(subscriber).or_default();
        if let Some((last, _)) = subscriber.received.last() {
            if seq < *last {
                return Err(format!("message {seq} arrived after message {last}"));
            }
        }
        if subscriber
            .received
            .iter()
            .any(|(s, v)| *s == seq && *v == via)
        {
            return Err(format!("message {seq} arrived twice through {via:?}"));
        }
        subscriber.received.push((seq, via));
        Ok(())
    }

    pub fn messages(&self) -> usize {
        self.publications.len()
    }

    pub fn deliveries(&self) -> usize {
        self.subscribers.values().map(|s| s.received.len()).sum()
    }

    /// The end: every publication against every subscription.
    pub fn finish(&self) -> Result<(), String> {
        for (index, subscriber) in &self.subscribers {
            if let Some((seq, _)) = subscriber
                .received
                .iter()
                .find(|(seq, _)| !self.publications.contains_key(seq))
            {
                return Err(format!(
                    "subscriber {index} received message {seq}, which was never published"
                ));
            }
        }
        for (seq, publication) in &self.publications {
            self.check_publication(*seq, publication)?;
        }
        Ok(())
    }

    fn check_publication(&self, seq: u64, publication: &Publication) -> Result<(), String> {
        let mut delivered = 0;
        let mut surely = 0;
        let mut perhaps = 0;
        for (index, subscriber) in &self.subscribers {
            for (via, intervals) in &subscriber.intervals {
                let got = subscriber
                    .received
                    .iter()
                    .any(|(s, v)| *s == seq && v == via);
                delivered += i64::from(got);
                let due = if matches_via(via, &publication.channel) {
                    due(intervals, publication)
                } else {
                    Due::Not
                };
                match (due, got) {
                    (Due::Surely, false) => {
                        return Err(format!("subscriber {index} missed message {seq} through {via:?}"))
                    }
                    (Due::Not, true) => {
                        return Err(format!("subscriber {index} received message {seq} through {via:?}, which was not subscribed then"))
                    }
                    (Due::Surely, true) => surely += 1,
                    (Due::Perhaps, _) => perhaps += 1,
                    (Due::Not, false) => {}
                }
            }
        }
        let receivers = publication.receivers;
        if receivers < surely || receivers > surely + perhaps {
            return Err(format!(
                "PUBLISH {:?} (message {seq}) returned {receivers}, but {surely} subscriptions surely and {perhaps} perhaps matched",
                String::from_utf8_lossy(&publication.channel)
            ));
        }
        if receivers != delivered {
            return Err(format!(
                "PUBLISH {:?} (message {seq}) returned {receivers}, but {delivered} deliveries arrived",
                String::from_utf8_lossy(&publication.channel)
            ));
        }
        Ok(())
    }
}

/// Whether any of a subscription's intervals was active for `publication`.
fn due(intervals: &[Interval], publication: &Publication) -> Due {
    let earliest = publication.sent_ms.saturating_sub(SLACK_MS);
    let latest = publication.received_ms + SLACK_MS;
    let mut verdict = Due::Not;
    for interval in intervals {
        // The subscription started in on_lo..=on_hi and ended in off_lo..=off_hi.
        let on_lo = interval.on_sent_ms;
        let on_hi = interval
            .on_confirmed_ms
            .map_or(u64::MAX, |ms| ms + SLACK_MS);
        let off_lo = interval
            .off_sent_ms
            .map_or(u64::MAX, |ms| ms.saturating_sub(SLACK_MS));
        let off_hi = match (interval.off_sent_ms, interval.off_confirmed_ms) {
            (None, _) => u64::MAX,
            (Some(_), None) => u64::MAX,
            (Some(_), Some(ms)) => ms + SLACK_MS,
        };
        if on_hi < earliest && latest < off_lo {
            return Due::Surely;
        }
        let surely_not = latest < on_lo || off_hi < earliest;
        if !surely_not {
            verdict = Due::Perhaps;
        }
    }
    verdict
}

fn matches_via(via: &Via, channel: &[u8]) -> bool {
    match via {
        Via::Channel(name) => name == channel,
        Via::Pattern(pattern) => glob(pattern, channel),
    }
}

/// Redis's glob-style patterns, as far as the scenario uses them: `*`, `?` and `[...]`.
pub fn glob(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|skip| glob(rest, &text[skip..])),
        Some((b'?', rest)) => !text.is_empty() && glob(rest, &text[1..]),
        Some((b'[', rest)) => {
            let Some(close) = rest.iter().position(|byte| *byte == b']') else {
                return false;
            };
            !text.is_empty()
                && rest[..close].contains(&text[0])
                && glob(&rest[close + 1..], &text[1..])
        }
        Some((byte, rest)) => text.first() == Some(byte) && glob(rest, &text[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn channel(name: &'static str) -> Via {
        Via::Channel(Bytes::from_static(name.as_bytes()))
    }

    #[test]
    fn globs() {
        assert!(glob(b"ch:*", b"ch:1"));
        assert!(glob(b"ch:[02]", b"ch:2"));
        assert!(!glob(b"ch:[02]", b"ch:1"));
        assert!(glob(b"ch:?", b"ch:9"));
        assert!(!glob(b"ch:?", b"ch:10"));
    }

    #[test]
    fn sure_subscriptions_must_receive_and_counts_must_agree() {
        let mut ledger = PubSubLedger::default();
        ledger.subscribe_sent(0, channel("a"), 10);
        ledger.subscribe_confirmed(0, channel("a"), 14);
        ledger.published(1, Bytes::from_static(b"a"), 20, 24, 1);
        assert!(ledger.finish().is_err(), "message 1 was due");
        ledger.received(0, 1, channel("a")).unwrap();
        ledger.finish().unwrap();
        assert!(ledger.received(0, 1, channel("a")).is_err());
    }

    #[test]
    fn overlapping_windows_admit_either() {
        let mut ledger = PubSubLedger::default();
        ledger.subscribe_sent(0, channel("a"), 10);
        ledger.subscribe_confirmed(0, channel("a"), 20);
        ledger.published(1, Bytes::from_static(b"a"), 12, 16, 0);
        ledger.finish().unwrap();
        ledger.published(2, Bytes::from_static(b"a"), 13, 17, 2);
        assert!(
            ledger.finish().is_err(),
            "only one subscription could receive it"
        );
    }
}
