//! What a store writes down for the append-only file while commands run on it.
//!
//! Every write reaches a key through one of the store's write paths, which call
//! `Journal::touch`. When the command ends, `persist::log_command` looks at what was
//! touched and appends the command's records (the command itself, rewritten to be
//! replayable, or the touched keys' new contents) with `append`. The finished records wait
//! in `records` until the store's shard hands them to its AOF writer.

use bytes::{Bytes, BytesMut};

/// The record that opens and the record that closes an atomic group of records.
pub const GROUP_OPEN: &[u8] = b"MULTI";
pub const GROUP_CLOSE: &[u8] = b"EXEC";

#[derive(Debug, Default)]
pub struct Journal {
    /// Whether records are kept (the AOF is on). Touches are counted either way.
    on: bool,
    /// Whether the command now running wrote anything.
    wrote: bool,
    /// Keep the keys written, not only the fact (a command over several stores).
    tracking: bool,
    /// Keys written by the command now running, as (db, key), when tracking.
    touched: Vec<(usize, Bytes)>,
    /// The running command replaced whole databases (FLUSHDB, FLUSHALL, SWAPDB).
    whole: bool,
    /// Writes since the store was created, for the save schedule.
    pub changes: u64,
    /// Encoded records not yet handed to the writer.
    records: BytesMut,
    /// An open group: where its records start and how many it holds.
    group: Option<(usize, usize)>,
    /// Groups opened inside the open one (a cross-shard command inside EXEC) join it.
    depth: usize,
}

impl Journal {
    pub fn set_on(&mut self, on: bool) {
        self.on = on;
    }

    pub fn is_on(&self) -> bool {
        self.on
    }

    pub fn touch(&mut self, db: usize, key: &[u8]) {
        self.changes += 1;
        self.wrote = true;
        if self.on && self.tracking {
            self.touched.push((db, Bytes::copy_from_slice(key)));
        }
    }

    pub fn touch_whole(&mut self) {
        self.changes += 1;
        self.wrote = true;
        self.whole = true;
    }

    /// Whether to keep the keys the next commands write (they run over several stores).
    pub fn set_tracking(&mut self, tracking: bool) {
        self.tracking = tracking;
    }

    /// Writes since the last call.
    pub fn take_changes(&mut self) -> u64 {
        std::mem::take(&mut self.changes)
    }

    /// What the running command wrote: the keys (when tracking), whether it wrote at all,
    /// and whether it replaced whole databases; clears them for the next command.
    pub fn take_touched(&mut self) -> (Vec<(usize, Bytes)>, bool, bool) {
        let whole = std::mem::take(&mut self.whole);
        let wrote = std::mem::take(&mut self.wrote);
        (std::mem::take(&mut self.touched), wrote, whole)
    }

    /// Appends one record of `argv` in `db`.
    pub fn append<A: AsRef<[u8]>>(&mut self, db: usize, argv: &[A]) {
        if !self.on {
            return;
        }
        let db = u8::try_from(db).expect("db index below 256");
        ember_proto::aof::encode_command(db, argv, &mut self.records);
        if let Some((_, count)) = &mut self.group {
            *count += 1;
        }
    }

    /// Opens a group: the records appended until `close_group` replay all or not at all.
    pub fn open_group(&mut self) {
        self.depth += 1;
        if self.depth == 1 {
            self.group = Some((self.records.len(), 0));
        }
    }

    /// Closes the open group, wrapping it in MULTI and EXEC records when it holds more
    /// than one record (one record is atomic on its own).
    pub fn close_group(&mut self) {
        assert!(self.depth > 0, "a group is open");
        self.depth -= 1;
        if self.depth > 0 {
            return;
        }
        let (start, count) = self.group.take().expect("a group is open");
        if count < 2 || !self.on {
            return;
        }
        let body = self.records.split_off(start);
        ember_proto::aof::encode_command(0, &[GROUP_OPEN], &mut self.records);
        self.records.extend_from_slice(&body);
        ember_proto::aof::encode_command(0, &[GROUP_CLOSE], &mut self.records);
    }

    /// Hands the finished records to `take` and clears them, unless a group is still open.
    pub fn drain_records(&mut self, take: impl FnOnce(&[u8])) {
        if self.records.is_empty() || self.group.is_some() {
            return;
        }
        take(&self.records);
        self.records.clear();
    }

    /// The finished records, unless a group is still open.
    #[cfg(test)]
    fn take_records(&mut self) -> Option<BytesMut> {
        if self.records.is_empty() || self.group.is_some() {
            return None;
        }
        Some(self.records.split())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ember_proto::aof::{read_records, AofEnd};

    fn names(records: BytesMut) -> Vec<String> {
        let scan = read_records(&records.freeze());
        assert_eq!(scan.end, AofEnd::Clean);
        scan.records
            .iter()
            .map(|r| String::from_utf8_lossy(&r.argv[0]).into_owned())
            .collect()
    }

    #[test]
    fn groups_of_several_records_are_wrapped() {
        let mut journal = Journal::default();
        journal.set_on(true);
        journal.append(0, &[&b"SET"[..], b"a", b"1"]);
        journal.open_group();
        journal.append(0, &[&b"INCR"[..], b"a"]);
        assert!(
            journal.take_records().is_none(),
            "held while the group is open"
        );
        journal.append(1, &[&b"DEL"[..], b"b"]);
        journal.close_group();
        journal.open_group();
        journal.append(0, &[&b"DEL"[..], b"c"]);
        journal.close_group();
        let records = journal.take_records().expect("records");
        assert_eq!(
            names(records),
            ["SET", "MULTI", "INCR", "DEL", "EXEC", "DEL"]
        );
    }

    #[test]
    fn off_keeps_no_records_but_counts_changes() {
        let mut journal = Journal::default();
        journal.set_tracking(true);
        journal.touch(0, b"k");
        journal.append(0, &[&b"SET"[..], b"k", b"v"]);
        assert_eq!(journal.changes, 1);
        assert!(journal.take_records().is_none());
        assert!(journal.take_touched().0.is_empty());
    }
}
