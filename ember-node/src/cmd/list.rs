//! The list family. (Scaffold: the commands are added with the list type.)

use super::table::CommandSpec;

pub const COMMANDS: &[CommandSpec] = &[];
