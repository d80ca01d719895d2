//! The command-line flags.
//!
//! They follow redis-cli's spelling where one exists (`-h`, `-p`, `-a`, `--user`, `-3`,
//! `-n`), so an operator's habits and scripts carry over. `-h` is the host, not help:
//! help is `--help` only.

use std::io::IsTerminal;

use clap::{ArgAction, Parser};

use crate::output::Style;

/// `ember-cli [OPTIONS] [COMMAND [ARGS...]]`. Without a command, commands are read from
/// stdin, one per line.
#[derive(Debug, Parser)]
#[command(
    name = "ember-cli",
    version,
    about = "The operator's client for ember. Without a COMMAND, runs one command per line of stdin.",
    disable_help_flag = true
)]
pub struct Options {
    /// Print help.
    #[arg(long, action = ArgAction::Help)]
    help: Option<bool>,

    /// Server hostname.
    #[arg(short = 'h', long, default_value = "127.0.0.1")]
    pub host: String,

    /// Server port.
    #[arg(short = 'p', long, default_value_t = 6379)]
    pub port: u16,

    /// Password to AUTH with after connecting.
    #[arg(short = 'a', long = "pass", value_name = "PASSWORD")]
    pub password: Option<String>,

    /// ACL user to AUTH as (needs -a).
    #[arg(long, value_name = "NAME", requires = "password")]
    pub user: Option<String>,

    /// Switch to RESP3 with HELLO 3.
    #[arg(short = '3', long = "resp3")]
    pub resp3: bool,

    /// Database number to SELECT.
    #[arg(short = 'n', long = "db", value_name = "DB")]
    pub db: Option<u32>,

    /// Print replies raw, as for a pipe (the default when stdout is not a terminal).
    #[arg(long, conflicts_with = "human")]
    pub raw: bool,

    /// Print replies with types and quotes, as for a terminal (the default on a terminal).
    #[arg(long, visible_alias = "no-raw")]
    pub human: bool,

    /// The command and its arguments. Everything from here on goes to the server as is.
    #[arg(
        value_name = "COMMAND",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub command: Vec<String>,
}

impl Options {
    /// The output style: the flag if one was given, else what suits where stdout goes.
    pub fn style(&self) -> Style {
        assert!(!(self.raw && self.human));
        if self.raw {
            return Style::Raw;
        }
        if self.human || std::io::stdout().is_terminal() {
            return Style::Human;
        }
        Style::Raw
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Options {
        Options::try_parse_from(std::iter::once("ember-cli").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn definition_is_consistent() {
        Options::command().debug_assert();
    }

    #[test]
    fn defaults() {
        let options = parse(&["PING"]);
        assert_eq!(options.host, "127.0.0.1");
        assert_eq!(options.port, 6379);
        assert_eq!(options.password, None);
        assert!(!options.resp3);
        assert_eq!(options.db, None);
        assert_eq!(options.command, ["PING"]);
    }

    #[test]
    fn flags_then_command_with_hyphen_arguments() {
        let options = parse(&[
            "-h", "db1", "-p", "7000", "-a", "secret", "--user", "ops", "-3", "-n", "2", "--human",
            "INCRBY", "k", "-5",
        ]);
        assert_eq!(options.host, "db1");
        assert_eq!(options.port, 7000);
        assert_eq!(options.password.as_deref(), Some("secret"));
        assert_eq!(options.user.as_deref(), Some("ops"));
        assert!(options.resp3);
        assert_eq!(options.db, Some(2));
        assert_eq!(options.style(), Style::Human);
        assert_eq!(options.command, ["INCRBY", "k", "-5"]);
    }

    #[test]
    fn flags_after_the_command_belong_to_it() {
        let options = parse(&["SET", "k", "-h"]);
        assert_eq!(options.host, "127.0.0.1");
        assert_eq!(options.command, ["SET", "k", "-h"]);
    }

    #[test]
    fn raw_wins_and_conflicts_with_human() {
        assert_eq!(parse(&["--raw"]).style(), Style::Raw);
        assert_eq!(parse(&["--no-raw"]).style(), Style::Human);
        let both = ["ember-cli", "--raw", "--human"];
        assert!(Options::try_parse_from(both).is_err());
    }

    #[test]
    fn user_needs_password() {
        assert!(Options::try_parse_from(["ember-cli", "--user", "ops", "PING"]).is_err());
    }
}
