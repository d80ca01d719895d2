//! The set family. (Scaffold: the commands are added with the set type.)

use super::table::CommandSpec;

pub const COMMANDS: &[CommandSpec] = &[];
