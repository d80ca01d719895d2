//! The node stops only for a reason: a failed write or fsync (an injected EIO, ENOSPC or
//! fsync failure) stops it, a SHUTDOWN makes it exit cleanly, and nothing else does. In particular it never refuses to start
//! after a plain crash: a torn tail is cut back with a warning, so start-up after a crash
//! on a healthy disk must succeed.
//!
//! The node's host records how `ember_node::server::start` and its accept future ended;
//! the world judges each end here, with whether disk faults were on at that moment.

/// How one run of the node's host ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeEnd {
    pub at_ms: u64,
    pub generation: u64,
    /// The accept future's result (or start's error).
    pub result: Result<(), String>,
    /// Whether injected disk faults were on when it ended.
    pub faults_on: bool,
    /// Whether the admin had sent this generation a SHUTDOWN.
    pub shutdown_requested: bool,
}

/// The text every error injected by ember-net's SimDisk carries.
const INJECTED: &str = "injected";

/// Whether this end is one the node may come to.
pub fn check(end: &NodeEnd) -> Result<(), String> {
    let reason = match &end.result {
        Ok(()) if end.shutdown_requested => return Ok(()),
        Ok(()) => return Err("the node exited without SHUTDOWN or a failure".to_string()),
        Err(reason) => reason,
    };
    if end.faults_on && reason.contains(INJECTED) {
        return Ok(());
    }
    if reason.contains("corrupt") {
        return Err(format!(
            "the node refused to start after a crash on a healthy disk: {reason}"
        ));
    }
    Err(format!(
        "the node stopped without an injected disk fault (faults on: {}): {reason}",
        end.faults_on
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn end(result: Result<(), String>, faults_on: bool) -> NodeEnd {
        NodeEnd {
            at_ms: 10,
            generation: 1,
            result,
            faults_on,
            shutdown_requested: false,
        }
    }

    #[test]
    fn only_injected_failures_while_faults_are_on_may_stop_the_node() {
        let injected = Err("fsync of /data/shard-0.aof: injected EIO by SimDisk".to_string());
        assert!(check(&end(injected.clone(), true)).is_ok());
        assert!(check(&end(injected, false)).is_err());
        let torn = Err("/data/shard-1.aof: corrupt record at byte 40: crc".to_string());
        assert!(check(&end(torn, false))
            .unwrap_err()
            .contains("refused to start"));
        assert!(check(&end(Ok(()), true)).is_err());
        let shut = NodeEnd {
            shutdown_requested: true,
            ..end(Ok(()), false)
        };
        assert!(check(&shut).is_ok());
    }
}
