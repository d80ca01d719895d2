//! Recovery never serves corrupt data: after a restart every key holds exactly the state
//! after some prefix of the writes sent to it. A value that was never written, a write
//! missing between two that survived, writes out of order, or a torn value all fail this.
//! It holds under every fsync policy.

use crate::write_log::{KeyLog, KeyState};

/// How many of `log`'s writes the state read back holds; Err if it is no prefix of them.
pub fn check(log: &KeyLog, recovered: &KeyState) -> Result<usize, String> {
    match log.applied(recovered) {
        Some(count) => {
            assert!(count <= log.writes.len());
            Ok(count)
        }
        None => Err(format!(
            "recovered {} holds {}, which no prefix of its writes leaves ({})",
            String::from_utf8_lossy(&log.key),
            KeyLog::describe(recovered),
            log.describe_writes(log.writes.len().saturating_sub(1))
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::write_log::KeyKind;
    use bytes::Bytes;

    #[test]
    fn a_gap_or_a_stranger_fails() {
        let mut log = KeyLog::new(Bytes::from_static(b"l"), KeyKind::List);
        log.sent(Bytes::from_static(b"1"), 0);
        log.sent(Bytes::from_static(b"2"), 1);
        let one = KeyState::List(vec![Bytes::from_static(b"1")]);
        assert_eq!(check(&log, &one), Ok(1));
        let gap = KeyState::List(vec![Bytes::from_static(b"2")]);
        assert!(check(&log, &gap).unwrap_err().contains("no prefix"));
    }
}
