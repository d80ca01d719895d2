//! ember-cli: the operator's one-shot client for ember.
//!
//! It connects, optionally authenticates, switches to RESP3 and selects a database, then
//! either runs the command given on the command line or runs one command per line of
//! stdin, printing each reply (see `output.rs` for the formats). The exit code is 1 when
//! the connection fails or any reply is an error, so scripts can test it.
//!
//! Module map:
//! - `options`: the flags.
//! - `connection`: the blocking TCP connection and reply reading.
//! - `output`: raw and human reply rendering.
//! - `words`: shell-like splitting of stdin lines.

mod connection;
mod options;
mod output;
mod words;

use std::io::{self, BufRead, Read, Write};
use std::process::ExitCode;

use anyhow::{bail, Context};
use bytes::Bytes;
use clap::Parser;

use connection::Connection;
use options::Options;
use output::Style;

/// The longest stdin line accepted as one command. It matches the largest bulk string
/// ember accepts, so any value the server could store can be typed.
const STDIN_LINE_LEN_MAX_BYTES: u64 = 512 * 1024 * 1024;

/// Whether every command succeeded, which decides the exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Success,
    Failure,
}

fn main() -> ExitCode {
    let options = Options::parse();
    match run(&options) {
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        Ok(Outcome::Failure) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("{error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Connects, prepares the session, and runs the command line's command or stdin's.
fn run(options: &Options) -> anyhow::Result<Outcome> {
    let mut connection = Connection::connect(&options.host, options.port)?;
    prepare_session(&mut connection, options)?;
    let style = options.style();
    let mut stdout = io::stdout().lock();
    if options.command.is_empty() {
        return run_stdin(&mut connection, style, &mut stdout);
    }
    let args: Vec<Bytes> = options
        .command
        .iter()
        .map(|arg| Bytes::from(arg.clone().into_bytes()))
        .collect();
    run_command(&mut connection, &args, style, &mut stdout)
}

/// Sends AUTH, HELLO 3 and SELECT as the flags ask. AUTH comes first because the server
/// refuses everything else before it.
fn prepare_session(connection: &mut Connection, options: &Options) -> anyhow::Result<()> {
    if let Some(password) = &options.password {
        let mut args = vec![Bytes::from_static(b"AUTH")];
        if let Some(user) = &options.user {
            args.push(Bytes::from(user.clone()));
        }
        args.push(Bytes::from(password.clone()));
        expect_success(connection, &args, "AUTH failed")?;
    }
    if options.resp3 {
        let args = [Bytes::from_static(b"HELLO"), Bytes::from_static(b"3")];
        expect_success(connection, &args, "HELLO 3 failed")?;
    }
    if let Some(db) = options.db {
        let args = [Bytes::from_static(b"SELECT"), Bytes::from(db.to_string())];
        expect_success(connection, &args, "SELECT failed")?;
    }
    Ok(())
}

/// Runs a setup command whose reply is not printed, failing with `what` if it errs.
fn expect_success(connection: &mut Connection, args: &[Bytes], what: &str) -> anyhow::Result<()> {
    let reply = connection.request(args)?;
    if let Some(text) = output::error_text(&reply) {
        bail!("{what}: {}", String::from_utf8_lossy(text));
    }
    Ok(())
}

/// Runs one command and prints its reply.
fn run_command(
    connection: &mut Connection,
    args: &[Bytes],
    style: Style,
    stdout: &mut impl Write,
) -> anyhow::Result<Outcome> {
    assert!(!args.is_empty());
    let reply = connection.request(args)?;
    stdout
        .write_all(&output::render(&reply, style))
        .and_then(|()| stdout.flush())
        .context("Error writing to stdout")?;
    if output::is_error(&reply) {
        return Ok(Outcome::Failure);
    }
    Ok(Outcome::Success)
}

/// Runs each non-blank line of stdin as a command, in order. A failed command does not
/// stop the rest, as a script piped in expects, but it does make the exit code 1.
fn run_stdin(
    connection: &mut Connection,
    style: Style,
    stdout: &mut impl Write,
) -> anyhow::Result<Outcome> {
    let mut stdin = io::stdin().lock();
    let mut outcome = Outcome::Success;
    let mut line_number: u64 = 0;
    // Each pass consumes one line of stdin; the loop ends at end of input.
    while let Some(line) = read_line(&mut stdin)? {
        line_number += 1;
        let words = match words::split_words(&line) {
            Ok(words) => words,
            Err(error) => {
                eprintln!("Invalid argument(s) on line {line_number}: {error}");
                outcome = Outcome::Failure;
                continue;
            }
        };
        if words.is_empty() {
            continue;
        }
        let args: Vec<Bytes> = words.into_iter().map(Bytes::from).collect();
        if run_command(connection, &args, style, stdout)? == Outcome::Failure {
            outcome = Outcome::Failure;
        }
    }
    Ok(outcome)
}

/// Reads one line without its LF or CRLF, or `None` at end of input. Lines are bytes, not
/// text, so values need not be UTF-8.
fn read_line(stdin: &mut impl BufRead) -> anyhow::Result<Option<Vec<u8>>> {
    let mut line = Vec::new();
    let count = stdin
        .by_ref()
        .take(STDIN_LINE_LEN_MAX_BYTES)
        .read_until(b'\n', &mut line)
        .context("Error reading stdin")?;
    if count == 0 {
        return Ok(None);
    }
    assert!(count == line.len());
    if line.last() == Some(&b'\n') {
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
    } else if count as u64 == STDIN_LINE_LEN_MAX_BYTES {
        bail!("stdin line longer than {STDIN_LINE_LEN_MAX_BYTES} bytes");
    }
    Ok(Some(line))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_line_strips_line_endings() {
        let mut input: &[u8] = b"PING\r\nGET k\n\nlast";
        assert_eq!(read_line(&mut input).unwrap(), Some(b"PING".to_vec()));
        assert_eq!(read_line(&mut input).unwrap(), Some(b"GET k".to_vec()));
        assert_eq!(read_line(&mut input).unwrap(), Some(Vec::new()));
        assert_eq!(read_line(&mut input).unwrap(), Some(b"last".to_vec()));
        assert_eq!(read_line(&mut input).unwrap(), None);
    }
}
