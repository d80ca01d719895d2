//! The slow log: commands whose execution took at least `slowlog-log-slower-than`
//! microseconds, newest first, at most `slowlog-max-len` of them.
//!
//! Measuring is one clock read before and after each command; the log's lock is taken only
//! when a command was slow, so the hot path takes none.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use bytes::Bytes;
use ember_proto::Frame;

/// Arguments kept per entry, and bytes kept per argument, as Redis does.
const ARGUMENTS_MAX: usize = 32;
const ARGUMENT_BYTES_MAX: usize = 128;

pub struct Entry {
    id: u64,
    unix_s: u64,
    duration_us: u64,
    argv: Vec<Bytes>,
    addr: SocketAddr,
    name: Bytes,
}

#[derive(Default)]
pub struct SlowLog {
    entries: Mutex<VecDeque<Entry>>,
    next_id: AtomicU64,
}

impl SlowLog {
    /// Records a slow command, trimming its arguments the way Redis does.
    pub fn record(
        &self,
        argv: &[Bytes],
        duration_us: u64,
        now_ms: u64,
        addr: SocketAddr,
        name: Option<Bytes>,
        len_max: usize,
    ) {
        if len_max == 0 {
            return;
        }
        let entry = Entry {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            unix_s: now_ms / 1000,
            duration_us,
            argv: trimmed(argv),
            addr,
            name: name.unwrap_or_default(),
        };
        let mut entries = self.entries.lock().expect("slowlog lock");
        entries.push_front(entry);
        entries.truncate(len_max);
    }

    pub fn len(&self) -> usize {
        self.entries.lock().expect("slowlog lock").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn reset(&self) {
        self.entries.lock().expect("slowlog lock").clear();
    }

    /// The newest `count` entries (all of them for `None`) as SLOWLOG GET replies them.
    pub fn get(&self, count: Option<usize>) -> Frame {
        let entries = self.entries.lock().expect("slowlog lock");
        let count = count.unwrap_or(entries.len());
        let frames = entries.iter().take(count).map(|entry| {
            Frame::Array(vec![
                Frame::Integer(entry.id as i64),
                Frame::Integer(entry.unix_s as i64),
                Frame::Integer(entry.duration_us as i64),
                Frame::Array(entry.argv.iter().cloned().map(Frame::Bulk).collect()),
                Frame::Bulk(Bytes::from(entry.addr.to_string())),
                Frame::Bulk(entry.name.clone()),
            ])
        });
        Frame::Array(frames.collect())
    }
}

/// At most 32 arguments (the last saying how many more there were), each at most 128 bytes
/// (with a note of how many more bytes there were).
fn trimmed(argv: &[Bytes]) -> Vec<Bytes> {
    let shown = argv.len().min(ARGUMENTS_MAX);
    let mut out = Vec::with_capacity(shown);
    for (index, arg) in argv.iter().enumerate().take(shown) {
        if index == ARGUMENTS_MAX - 1 && argv.len() > ARGUMENTS_MAX {
            out.push(Bytes::from(format!(
                "... ({} more arguments)",
                argv.len() - ARGUMENTS_MAX + 1
            )));
            break;
        }
        if arg.len() > ARGUMENT_BYTES_MAX {
            let mut text = arg[..ARGUMENT_BYTES_MAX].to_vec();
            text.extend_from_slice(
                format!("... ({} more bytes)", arg.len() - ARGUMENT_BYTES_MAX).as_bytes(),
            );
            out.push(Bytes::from(text));
        } else {
            out.push(arg.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr() -> SocketAddr {
        "127.0.0.1:1".parse().unwrap()
    }

    #[test]
    fn keeps_the_newest_entries_up_to_the_limit() {
        let log = SlowLog::default();
        for i in 0..5 {
            log.record(&[Bytes::from(format!("cmd{i}"))], 10, 5000, addr(), None, 3);
        }
        assert_eq!(log.len(), 3);
        let Frame::Array(entries) = log.get(Some(1)) else {
            panic!()
        };
        let Frame::Array(fields) = &entries[0] else {
            panic!()
        };
        assert_eq!(fields[0], Frame::Integer(4), "newest first");
        assert_eq!(fields[1], Frame::Integer(5));
        log.reset();
        assert!(log.is_empty());
    }

    #[test]
    fn long_commands_are_trimmed_like_redis() {
        let argv: Vec<Bytes> = (0..40).map(|i| Bytes::from(format!("a{i}"))).collect();
        let out = trimmed(&argv);
        assert_eq!(out.len(), 32);
        assert_eq!(out[31], Bytes::from("... (9 more arguments)"));
        let long = trimmed(&[Bytes::from(vec![b'x'; 200])]);
        assert_eq!(long[0].len(), 128 + "... (72 more bytes)".len());
    }
}
