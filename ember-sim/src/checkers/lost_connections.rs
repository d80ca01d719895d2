//! A connection is lost only when the node goes: a crash, or a stop after a failed write
//! or fsync. Under `appendfsync always` the node closes connections that wait for an
//! acknowledgement as it stops, a little before its accept loop ends, hence `GRACE_MS`.
//! A connection lost while the node kept running means the node dropped or stalled a live
//! client, which is a failure.

/// How long before its generation ended a connection may be lost.
pub const GRACE_MS: u64 = 200;

/// A connection a client lost.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Loss {
    pub client: usize,
    /// The node generation the connection was opened in.
    pub generation: u64,
    pub at_ms: u64,
    pub what: String,
}

/// Whether `loss` is excused by the end of its generation; `ended_ms` is when that
/// generation ended (crash or stop), `None` if it never did.
pub fn check(loss: &Loss, ended_ms: Option<u64>) -> Result<(), String> {
    match ended_ms {
        Some(ended_ms) if loss.at_ms + GRACE_MS >= ended_ms => Ok(()),
        Some(ended_ms) => Err(format!(
            "client {} lost its connection at {} ms while the node ran (generation {} ended at {ended_ms} ms): {}",
            loss.client, loss.at_ms, loss.generation, loss.what
        )),
        None => Err(format!(
            "client {} lost its connection at {} ms while the node ran (generation {} never ended): {}",
            loss.client, loss.at_ms, loss.generation, loss.what
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn losses_near_an_end_are_excused() {
        let loss = Loss {
            client: 1,
            generation: 2,
            at_ms: 1_000,
            what: "read: connection closed".to_string(),
        };
        assert!(check(&loss, Some(900)).is_ok());
        assert!(check(&loss, Some(1_150)).is_ok());
        assert!(check(&loss, Some(5_000)).is_err());
        assert!(check(&loss, None).is_err());
    }
}
