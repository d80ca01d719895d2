//! Under `appendfsync always`, an acknowledged write is durable: after any crash, and
//! after the node stopped on a failed write or fsync, every write whose acknowledgement
//! the client received is still there. (That nothing unwritten appears is
//! `recovered_prefix`'s half of the check; this file is given its answer.)
//!
//! The same check applies under every policy where nothing excuses a loss: after a clean
//! exit on SHUTDOWN (which writes and fsyncs what is queued), even when the machine loses
//! power right after, and in the final read of every run, with no crash in between.

use crate::write_log::KeyLog;

/// Whether `applied` writes of `log` (as `recovered_prefix` counted them) cover every
/// acknowledged one.
pub fn check(log: &KeyLog, applied: usize) -> Result<(), String> {
    check_up_to(log, applied, log.acked_through())
}

/// Whether they cover every write acknowledged by `at_ms` (a SHUTDOWN's sending, when
/// writes acknowledged while the node shut down are not held to it).
pub fn check_acked_by(log: &KeyLog, applied: usize, at_ms: u64) -> Result<(), String> {
    check_up_to(log, applied, log.acked_by(at_ms))
}

fn check_up_to(log: &KeyLog, applied: usize, acked: usize) -> Result<(), String> {
    assert!(applied <= log.writes.len());
    assert!(acked <= log.writes.len());
    if applied >= acked {
        return Ok(());
    }
    let lost = &log.writes[applied];
    Err(format!(
        "{} lost acknowledged writes: it holds {applied} of the {acked} up to the last acknowledged; the first lost was sent at {} ms ({})",
        String::from_utf8_lossy(&log.key),
        lost.sent_ms,
        log.describe_writes(applied)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::write_log::KeyKind;
    use bytes::Bytes;

    #[test]
    fn unacknowledged_writes_may_go_but_acknowledged_ones_stay() {
        let mut log = KeyLog::new(Bytes::from_static(b"s"), KeyKind::Str);
        log.sent(Bytes::from_static(b"a"), 0);
        log.sent(Bytes::from_static(b"b"), 1);
        log.writes[0].acked_ms = Some(3);
        assert!(check(&log, 1).is_ok());
        assert!(check(&log, 2).is_ok());
        assert!(check(&log, 0).unwrap_err().contains("lost acknowledged"));
        assert!(check_acked_by(&log, 0, 2).is_ok());
        assert!(check_acked_by(&log, 0, 3).is_err());
    }
}
