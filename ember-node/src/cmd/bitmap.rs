//! Bit operations on strings. (Scaffold: the commands are added with the bitmap family.)

use super::table::CommandSpec;

pub const COMMANDS: &[CommandSpec] = &[];
