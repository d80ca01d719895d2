//! The hash family. (Scaffold: the commands are added with the hash type.)

use super::table::CommandSpec;

pub const COMMANDS: &[CommandSpec] = &[];
