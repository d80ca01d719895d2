//! What a persist client wrote to each of its keys: per key, the state its last read-back
//! confirmed and every write sent since, with when it was sent and when (if ever) its
//! acknowledgement arrived. After a crash a key must hold the state after some prefix of
//! those writes; the checkers judge which prefixes each fsync policy allows.
//!
//! Every key has one kind, and every write carries a value no other write of the run has,
//! so a state read back names exactly how many of the writes it holds:
//! - a list takes `RPUSH key v`: its items are the confirmed items, then the first k values;
//! - a string takes `SET key v` (or an `MSET` that names it): it holds the k-th value;
//! - a counter takes `INCRBY key d` with d >= 1: it holds the confirmed value plus the first
//!   k deltas, a strictly increasing sum.

use bytes::Bytes;
use ember_proto::Frame;

use crate::checkers::linearizable::show;

/// The most writes one key's log holds between two read-backs; a bound on every scan.
pub const WRITES_PER_KEY_MAX: usize = 100_000;

/// How many writes a failure report shows before and after the one it is about.
const DESCRIBED_BEFORE: usize = 3;
const DESCRIBED_AFTER: usize = 6;

/// The longest value a failure report shows whole.
const SHOWN_BYTES_MAX: usize = 24;

/// Which write command a key takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    List,
    Str,
    Counter,
}

/// A key's contents as read back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyState {
    List(Vec<Bytes>),
    Str(Option<Bytes>),
    Counter(i64),
}

/// One write to a key: its value (a counter's delta, as text), when it was sent, and when
/// its acknowledgement arrived, if it did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Write {
    pub value: Bytes,
    pub sent_ms: u64,
    pub acked_ms: Option<u64>,
}

/// One key's confirmed state and the writes sent to it since.
#[derive(Clone, Debug)]
pub struct KeyLog {
    pub key: Bytes,
    pub kind: KeyKind,
    pub confirmed: KeyState,
    pub writes: Vec<Write>,
}

impl KeyLog {
    /// A key that does not exist yet.
    pub fn new(key: Bytes, kind: KeyKind) -> KeyLog {
        let confirmed = match kind {
            KeyKind::List => KeyState::List(Vec::new()),
            KeyKind::Str => KeyState::Str(None),
            KeyKind::Counter => KeyState::Counter(0),
        };
        KeyLog {
            key,
            kind,
            confirmed,
            writes: Vec::new(),
        }
    }

    /// The command that writes `value` to this key alone.
    pub fn command(&self, value: &Bytes) -> Vec<Bytes> {
        let name: &'static [u8] = match self.kind {
            KeyKind::List => b"RPUSH",
            KeyKind::Str => b"SET",
            KeyKind::Counter => b"INCRBY",
        };
        vec![Bytes::from_static(name), self.key.clone(), value.clone()]
    }

    /// Notes a write as sent; its acknowledgement is filled in when it arrives.
    pub fn sent(&mut self, value: Bytes, sent_ms: u64) {
        assert!(self.writes.len() < WRITES_PER_KEY_MAX);
        if self.kind == KeyKind::Counter {
            assert!(delta(&value) >= 1, "counter deltas are positive");
        }
        self.writes.push(Write {
            value,
            sent_ms,
            acked_ms: None,
        });
    }

    /// The state after the first `count` writes applied to the confirmed state.
    pub fn state_after(&self, count: usize) -> KeyState {
        assert!(count <= self.writes.len());
        let applied = &self.writes[..count];
        match &self.confirmed {
            KeyState::List(items) => {
                let mut items = items.clone();
                items.extend(applied.iter().map(|write| write.value.clone()));
                KeyState::List(items)
            }
            KeyState::Str(value) => KeyState::Str(match applied.last() {
                Some(write) => Some(write.value.clone()),
                None => value.clone(),
            }),
            KeyState::Counter(value) => {
                KeyState::Counter(value + applied.iter().map(|w| delta(&w.value)).sum::<i64>())
            }
        }
    }

    /// How many writes `state` holds, if it is the state after some prefix of them.
    pub fn applied(&self, state: &KeyState) -> Option<usize> {
        // Each prefix gives a different state (values are unique, deltas positive), so at
        // most one count matches.
        let count = (0..=self.writes.len()).find(|&count| self.state_after(count) == *state);
        debug_assert!(count.is_none_or(|count| {
            (count + 1..=self.writes.len()).all(|later| self.state_after(later) != *state)
        }));
        count
    }

    /// How many writes up to and including the last acknowledged one.
    pub fn acked_through(&self) -> usize {
        self.writes
            .iter()
            .rposition(|write| write.acked_ms.is_some())
            .map_or(0, |index| index + 1)
    }

    /// How many writes up to and including the last one acknowledged at or before `at_ms`.
    pub fn acked_by(&self, at_ms: u64) -> usize {
        self.writes
            .iter()
            .rposition(|write| write.acked_ms.is_some_and(|acked_ms| acked_ms <= at_ms))
            .map_or(0, |index| index + 1)
    }

    /// Starts over from a state read back: it is confirmed, and the writes are settled.
    pub fn rebase(&mut self, state: KeyState) {
        assert_eq!(
            std::mem::discriminant(&state),
            std::mem::discriminant(&self.confirmed)
        );
        self.confirmed = state;
        self.writes.clear();
    }

    /// The command that reads the key back.
    pub fn read_command(&self) -> Vec<Bytes> {
        match self.kind {
            KeyKind::List => vec![
                Bytes::from_static(b"LRANGE"),
                self.key.clone(),
                Bytes::from_static(b"0"),
                Bytes::from_static(b"-1"),
            ],
            KeyKind::Str | KeyKind::Counter => vec![Bytes::from_static(b"GET"), self.key.clone()],
        }
    }

    /// The state a reply to `read_command` describes.
    pub fn parse_read(&self, frame: &Frame) -> Result<KeyState, String> {
        let unexpected = || {
            format!(
                "reading {} back replied {}",
                String::from_utf8_lossy(&self.key),
                show(frame)
            )
        };
        match (self.kind, frame) {
            (KeyKind::List, Frame::Array(items)) => items
                .iter()
                .map(|item| match item {
                    Frame::Bulk(bytes) => Ok(bytes.clone()),
                    _ => Err(unexpected()),
                })
                .collect::<Result<Vec<Bytes>, String>>()
                .map(KeyState::List),
            (KeyKind::Str, Frame::Null) => Ok(KeyState::Str(None)),
            (KeyKind::Str, Frame::Bulk(bytes)) => Ok(KeyState::Str(Some(bytes.clone()))),
            (KeyKind::Counter, Frame::Null) => Ok(KeyState::Counter(0)),
            (KeyKind::Counter, Frame::Bulk(bytes)) => std::str::from_utf8(bytes)
                .ok()
                .and_then(|text| text.parse().ok())
                .map(KeyState::Counter)
                .ok_or_else(unexpected),
            _ => Err(unexpected()),
        }
    }

    /// The reply the last write sent must get when every write so far was applied in order:
    /// RPUSH the list's length, INCRBY the counter's value, SET and MSET `+OK`.
    pub fn expected_reply(&self) -> Frame {
        match self.state_after(self.writes.len()) {
            KeyState::List(items) => Frame::Integer(items.len() as i64),
            KeyState::Counter(value) => Frame::Integer(value),
            KeyState::Str(_) => Frame::ok(),
        }
    }

    /// A state as a short line for failure reports.
    pub fn describe(state: &KeyState) -> String {
        let text = |bytes: &Bytes| short(bytes);
        match state {
            KeyState::List(items) if items.len() > DESCRIBED_AFTER * 2 => {
                let tail: Vec<String> = items[items.len() - DESCRIBED_AFTER..]
                    .iter()
                    .map(text)
                    .collect();
                format!("list of {} [... {}]", items.len(), tail.join(" "))
            }
            KeyState::List(items) => {
                let items: Vec<String> = items.iter().map(text).collect();
                format!("list [{}]", items.join(" "))
            }
            KeyState::Str(value) => format!("string {:?}", value.as_ref().map(text)),
            KeyState::Counter(value) => format!("counter {value}"),
        }
    }

    /// The confirmed state and the writes around write `index` (a few before it, more
    /// after), as a line for failure reports.
    pub fn describe_writes(&self, index: usize) -> String {
        let first = index.saturating_sub(DESCRIBED_BEFORE);
        let last = (index + DESCRIBED_AFTER).min(self.writes.len());
        let mut parts: Vec<String> = Vec::new();
        if first > 0 {
            parts.push(format!("({first} earlier)"));
        }
        for (number, write) in self.writes[first..last].iter().enumerate() {
            let acked = write
                .acked_ms
                .map_or_else(|| "unacked".to_string(), |at_ms| format!("acked@{at_ms}"));
            let value = short(&write.value);
            parts.push(format!(
                "#{} {value} sent@{} {acked}",
                first + number,
                write.sent_ms
            ));
        }
        if last < self.writes.len() {
            parts.push(format!("({} later)", self.writes.len() - last));
        }
        format!(
            "confirmed {}; writes since: {}",
            KeyLog::describe(&self.confirmed),
            parts.join(", ")
        )
    }
}

/// A value as report text, long ones cut to their start and length.
fn short(value: &Bytes) -> String {
    if value.len() <= SHOWN_BYTES_MAX {
        return String::from_utf8_lossy(value).into_owned();
    }
    let start = String::from_utf8_lossy(&value[..SHOWN_BYTES_MAX]);
    format!("{start}...({} bytes)", value.len())
}

/// A counter write's delta.
fn delta(value: &Bytes) -> i64 {
    std::str::from_utf8(value)
        .ok()
        .and_then(|text| text.parse().ok())
        .expect("a counter delta is a number")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(kind: KeyKind, values: &[&'static str], acked: &[Option<u64>]) -> KeyLog {
        let mut log = KeyLog::new(Bytes::from_static(b"k"), kind);
        for (index, value) in values.iter().enumerate() {
            log.sent(Bytes::from_static(value.as_bytes()), index as u64 * 10);
            log.writes[index].acked_ms = acked[index];
        }
        log
    }

    #[test]
    fn a_list_holds_a_prefix_and_nothing_else() {
        let log = log(KeyKind::List, &["a", "b", "c"], &[Some(5), None, None]);
        let list = |items: &[&'static str]| {
            KeyState::List(
                items
                    .iter()
                    .map(|i| Bytes::from_static(i.as_bytes()))
                    .collect(),
            )
        };
        assert_eq!(log.applied(&list(&[])), Some(0));
        assert_eq!(log.applied(&list(&["a", "b"])), Some(2));
        assert_eq!(log.applied(&list(&["a", "c"])), None);
        assert_eq!(log.applied(&list(&["b"])), None);
        assert_eq!(log.applied(&list(&["a", "b", "c", "d"])), None);
        assert_eq!(log.acked_through(), 1);
        assert_eq!(log.expected_reply(), Frame::Integer(3));
    }

    #[test]
    fn strings_and_counters_name_their_prefix() {
        let strings = log(KeyKind::Str, &["x1", "x2"], &[Some(1), Some(12)]);
        assert_eq!(strings.applied(&KeyState::Str(None)), Some(0));
        assert_eq!(
            strings.applied(&KeyState::Str(Some(Bytes::from_static(b"x2")))),
            Some(2)
        );
        assert_eq!(
            strings.applied(&KeyState::Str(Some(Bytes::from_static(b"zz")))),
            None
        );
        assert_eq!(strings.acked_by(5), 1);
        assert_eq!(strings.acked_by(20), 2);
        let mut counter = log(KeyKind::Counter, &["3", "4"], &[Some(1), None]);
        assert_eq!(counter.applied(&KeyState::Counter(3)), Some(1));
        assert_eq!(counter.applied(&KeyState::Counter(5)), None);
        assert_eq!(counter.expected_reply(), Frame::Integer(7));
        counter.rebase(KeyState::Counter(3));
        assert!(counter.writes.is_empty());
        assert_eq!(counter.state_after(0), KeyState::Counter(3));
    }

    #[test]
    fn reads_parse_by_kind() {
        let list = KeyLog::new(Bytes::from_static(b"l"), KeyKind::List);
        let items = Frame::Array(vec![Frame::bulk(&b"1"[..])]);
        assert_eq!(
            list.parse_read(&items),
            Ok(KeyState::List(vec![Bytes::from_static(b"1")]))
        );
        assert!(list.parse_read(&Frame::Null).is_err());
        let counter = KeyLog::new(Bytes::from_static(b"c"), KeyKind::Counter);
        assert_eq!(counter.parse_read(&Frame::Null), Ok(KeyState::Counter(0)));
        assert_eq!(
            counter.parse_read(&Frame::bulk(&b"12"[..])),
            Ok(KeyState::Counter(12))
        );
        assert!(counter.parse_read(&Frame::bulk(&b"x"[..])).is_err());
    }
}
