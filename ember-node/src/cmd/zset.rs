//! The zset family. (Scaffold: the commands are added with the zset type.)

use super::table::CommandSpec;

pub const COMMANDS: &[CommandSpec] = &[];
