//! Bit rot in the middle of an AOF is corruption, not a torn tail: start-up must stop with
//! an error that names the file and the byte offset of the damaged record, and the node
//! must serve no data from its keyspace meanwhile (commands get `-LOADING`, or nothing).
//! Starting with `--aof-load-corrupt yes` then loads the records before the damage: that
//! every key holds a prefix of its writes is `recovered_prefix`'s to judge.

use std::path::PathBuf;

use ember_proto::Frame;

use crate::checkers::linearizable::show;

/// The damage the world did: one bit flipped inside the record that starts at `offset`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rot {
    pub path: PathBuf,
    pub offset: usize,
    pub bit: u64,
}

/// Whether the node's start ended with an error naming the file and the record's offset.
pub fn check_refusal(rot: &Rot, ended: &Result<(), String>) -> Result<(), String> {
    let reason = match ended {
        Ok(()) => return Err("the node exited cleanly on a corrupt AOF".to_string()),
        Err(reason) => reason,
    };
    let path = rot.path.display().to_string();
    if reason.contains(&path) && named_offset(reason) == Some(rot.offset) {
        return Ok(());
    }
    Err(format!(
        "start-up on {path} with bit {} flipped (record at byte {}) stopped, but the error does not name the file and that offset: {reason}",
        rot.bit, rot.offset
    ))
}

/// The number after "at byte " in an error message.
fn named_offset(reason: &str) -> Option<usize> {
    let (_, after) = reason.split_once("at byte ")?;
    let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Whether a reply to a read, sent while the node loads a corrupt AOF, serves no data.
pub fn check_no_service(frame: &Frame) -> Result<(), String> {
    match frame {
        Frame::Error(text) if text.starts_with(b"LOADING") => Ok(()),
        other => Err(format!(
            "the node served a read while loading a corrupt AOF: {}",
            show(other)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_must_name_file_and_offset() {
        let rot = Rot {
            path: PathBuf::from("/data/shard-1.aof"),
            offset: 120,
            bit: 1000,
        };
        let good = Err("/data/shard-1.aof: corrupt record at byte 120: checksum".to_string());
        assert!(check_refusal(&rot, &good).is_ok());
        let elsewhere = Err("/data/shard-1.aof: corrupt record at byte 12: checksum".to_string());
        assert!(check_refusal(&rot, &elsewhere).is_err());
        let longer = Err("/data/shard-1.aof: corrupt record at byte 1200: checksum".to_string());
        assert!(check_refusal(&rot, &longer).is_err());
        assert!(check_refusal(&rot, &Ok(())).is_err());
        assert!(check_no_service(&Frame::error("LOADING Redis is loading")).is_ok());
        assert!(check_no_service(&Frame::Null).is_err());
    }
}
