//! Under `appendfsync everysec` a crash loses at most the last second or so of writes:
//! every write acknowledged more than `SLACK_MS` before the crash is still there after it.
//!
//! The slack is one fsync interval (the writer fsyncs when a second has passed since the
//! last fsync) plus `MARGIN_MS` for what lies between a write being applied and its
//! fsync starting: the writer's wake-up, the tick, and one fsync's own duration. Time is
//! measured from the acknowledgement's arrival at the client, which comes after the write
//! was applied, so the bound errs on the node's side by one network latency.

use crate::write_log::KeyLog;

/// How often the node's everysec writer fsyncs.
pub const FSYNC_INTERVAL_MS: u64 = 1_000;
/// What the window allows beyond one interval; see the file's comment.
pub const MARGIN_MS: u64 = 25;
/// Writes acknowledged this long before a crash must survive it.
pub const SLACK_MS: u64 = FSYNC_INTERVAL_MS + MARGIN_MS;

/// Whether `applied` writes of `log` cover every write acknowledged `SLACK_MS` or more
/// before `crash_ms`.
pub fn check(log: &KeyLog, applied: usize, crash_ms: u64) -> Result<(), String> {
    assert!(applied <= log.writes.len());
    let required = log.acked_by(crash_ms.saturating_sub(SLACK_MS));
    if applied >= required {
        return Ok(());
    }
    let lost = &log.writes[applied];
    Err(format!(
        "{} lost a write acknowledged at {} ms, {} ms before the crash at {crash_ms} ms (allowed: {SLACK_MS} ms); it holds {applied} of {required} ({})",
        String::from_utf8_lossy(&log.key),
        lost.acked_ms.expect("a required write was acknowledged"),
        crash_ms - lost.acked_ms.expect("acknowledged"),
        log.describe_writes(applied)
    ))
}

/// How long before `crash_ms` the earliest acknowledged write that was lost was
/// acknowledged, if any was: the loss window this crash showed.
pub fn lost_window_ms(log: &KeyLog, applied: usize, crash_ms: u64) -> Option<u64> {
    log.writes[applied..]
        .iter()
        .filter_map(|write| write.acked_ms)
        .min()
        .map(|acked_ms| crash_ms.saturating_sub(acked_ms))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::write_log::KeyKind;
    use bytes::Bytes;

    #[test]
    fn only_the_last_second_may_be_lost() {
        let mut log = KeyLog::new(Bytes::from_static(b"c"), KeyKind::Counter);
        for (index, acked_ms) in [100, 2_000, 2_900].into_iter().enumerate() {
            log.sent(Bytes::from_static(b"1"), acked_ms - 2);
            log.writes[index].acked_ms = Some(acked_ms);
        }
        // A crash at 3 s may lose the writes of 2.0 s and 2.9 s, not the one of 0.1 s.
        assert!(check(&log, 1, 3_000).is_ok());
        assert!(check(&log, 0, 3_000).unwrap_err().contains("lost a write"));
        assert!(check(&log, 1, 3_100).unwrap_err().contains("2000"));
        assert_eq!(lost_window_ms(&log, 1, 3_000), Some(1_000));
        assert_eq!(lost_window_ms(&log, 3, 3_000), None);
    }
}
