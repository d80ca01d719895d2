//! What blocking commands (BLPOP, BLMOVE, BZPOPMIN ...) share: the timeout argument, and
//! `block`, which queues the connection on its keys when there is nothing to pop.
//!
//! A blocking handler first tries the non-blocking form. If that finds data it calls
//! `served` before popping (so its own pop wakes the next client in line) and answers. If
//! not, it calls `block`, which registers the connection on every key's shard in the same
//! store borrow as the failed attempt, so no write can slip in between, and returns
//! `CmdError::Blocked`. The connection then waits for a wake-up or the deadline and retries.
//! Inside MULTI there is no waiter and a blocking command answers its timeout reply at once,
//! as Redis does.

use bytes::Bytes;
use ember_proto::Frame;

use super::{CmdError, Ctx};

/// Why a command did not answer: it waits until `deadline_ms` (unix ms; `None`: for ever),
/// then answers `timeout_reply`.
#[derive(Debug, Clone, PartialEq)]
pub struct Blocking {
    pub deadline_ms: Option<u64>,
    pub timeout_reply: Frame,
}

/// A blocking timeout in seconds (a float, as since Redis 6) as milliseconds; 0 means for ever.
pub fn parse_timeout(bytes: &[u8]) -> Result<Option<u64>, CmdError> {
    let seconds = super::args::parse_f64(bytes)
        .filter(|s| s.is_finite())
        .ok_or_else(|| CmdError::Err("timeout is not a float or out of range".into()))?;
    if seconds < 0.0 {
        return Err(CmdError::Err("timeout is negative".into()));
    }
    let ms = (seconds * 1000.0).round();
    if ms > crate::limits::EXPIRE_AT_MAX_MS as f64 {
        return Err(CmdError::Err("timeout is out of range".into()));
    }
    Ok((ms > 0.0).then_some(ms as u64))
}

/// Queues the connection on `keys` and reports that it blocks, or answers `timeout_reply`
/// right away when it cannot block (inside MULTI).
pub fn block(
    ctx: &mut Ctx,
    keys: &[Bytes],
    timeout_ms: Option<u64>,
    timeout_reply: Frame,
) -> Result<Frame, CmdError> {
    let Some(waiter) = ctx.waiter.clone() else {
        return Ok(timeout_reply);
    };
    let (db, now) = (ctx.db, ctx.now_ms);
    for key in keys {
        ctx.store(key).block(db, key, &waiter);
    }
    let deadline_ms = timeout_ms.map(|t| now.saturating_add(t));
    Err(CmdError::Blocked(Box::new(Blocking {
        deadline_ms,
        timeout_reply,
    })))
}

/// The first of `keys` that holds a value of type `type_name`, in order; WRONGTYPE at the first
/// key of another type before it, as Redis's blocking pops check. Only looks, so a blocking
/// attempt that finds nothing writes nothing.
pub fn first_holding(
    ctx: &mut Ctx,
    keys: &[Bytes],
    type_name: &str,
) -> Result<Option<Bytes>, CmdError> {
    let (db, now) = (ctx.db, ctx.now_ms);
    for key in keys {
        match ctx.store(key).peek(db, key, now) {
            None => continue,
            Some(value) if value.type_name() == type_name => return Ok(Some(key.clone())),
            Some(_) => return Err(CmdError::WrongType),
        }
    }
    Ok(None)
}

/// The command found data: take this connection out of the line before popping.
pub fn served(ctx: &Ctx) {
    if let Some(waiter) = &ctx.waiter {
        waiter.mark_served();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_parse_like_redis() {
        assert_eq!(parse_timeout(b"0"), Ok(None));
        assert_eq!(parse_timeout(b"1.5"), Ok(Some(1500)));
        assert_eq!(parse_timeout(b"0.01"), Ok(Some(10)));
        assert_eq!(
            parse_timeout(b"-1"),
            Err(CmdError::Err("timeout is negative".into()))
        );
        assert_eq!(
            parse_timeout(b"x"),
            Err(CmdError::Err(
                "timeout is not a float or out of range".into()
            ))
        );
        assert_eq!(
            parse_timeout(b"inf"),
            Err(CmdError::Err(
                "timeout is not a float or out of range".into()
            ))
        );
    }
}
