//! Scenario files: blocks of a command line, a `----` line, then the output the command
//! must print, up to a blank line. Lines starting with `#` before a command are comments.
//!
//! The expected output holds only what does not depend on the seed, so one file serves
//! every seed; seed-dependent lines (parameters, counts, the trace) are printed around it.
//! With `REWRITE=1` the runner writes the actual output back into the file.
//!
//! ```text
//! # One node, four clients, a crash and restart.
//! run clients=4 ops=150 shards=2..4 crash=1
//! ----
//! ok clients=4 ops=600 crashes=1
//! ```

use std::ops::RangeInclusive;

use crate::faults::CRASHES_MAX;

/// The most clients, ops per client and shards a `run` may ask for.
pub const CLIENTS_MAX: usize = 16;
pub const OPS_PER_CLIENT_MAX: usize = 100_000;
pub const SHARDS_MAX: usize = 4;
/// The most blocks, and lines in one block, a scenario file may hold.
const BLOCKS_MAX: usize = 64;
const EXPECTED_LINES_MAX: usize = 256;

/// One block: the comments before it, its command, and its expected output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    pub comments: Vec<String>,
    pub command: String,
    pub expected: Vec<String>,
}

/// The `run` command: a world and its workload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunSpec {
    pub clients: usize,
    pub ops: usize,
    pub shards: RangeInclusive<usize>,
    pub crashes: usize,
}

/// The `types` command: the types-and-transactions world (no crashes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TypesSpec {
    /// Data clients, and commands each sends.
    pub data: usize,
    pub ops: usize,
    /// Queue producers, consumers, and items each producer pushes.
    pub producers: usize,
    pub consumers: usize,
    pub items: usize,
    /// FIFO probes: two consumers block on one key in a known order, then one push serves both.
    pub fifo: usize,
    pub subscribers: usize,
    /// Messages the publisher publishes.
    pub messages: usize,
    pub shards: RangeInclusive<usize>,
}

/// The most queue producers, consumers, subscribers, FIFO probes, items and messages.
pub const QUEUE_HOSTS_MAX: usize = 8;
pub const SUBSCRIBERS_MAX: usize = 8;
pub const FIFO_PROBES_MAX: usize = 8;
pub const ITEMS_MAX: usize = 10_000;

/// Parses a scenario file.
pub fn parse(text: &str) -> Result<Vec<Block>, String> {
    let mut blocks = Vec::new();
    let mut lines = text.lines().enumerate().peekable();
    let mut comments = Vec::new();
    while let Some((number, line)) = lines.next() {
        let line = line.trim_end();
        if line.is_empty() {
            continue;
        }
        if line.starts_with('#') {
            comments.push(line.to_string());
            continue;
        }
        match lines.next() {
            Some((_, "----")) => {}
            _ => {
                return Err(format!(
                    "line {}: `{line}` must be followed by `----`",
                    number + 1
                ))
            }
        }
        let mut expected = Vec::new();
        while let Some((_, next)) = lines.next_if(|(_, next)| !next.trim_end().is_empty()) {
            if expected.len() == EXPECTED_LINES_MAX {
                return Err(format!(
                    "line {}: more than {EXPECTED_LINES_MAX} expected lines",
                    number + 1
                ));
            }
            expected.push(next.trim_end().to_string());
        }
        blocks.push(Block {
            comments: std::mem::take(&mut comments),
            command: line.to_string(),
            expected,
        });
        if blocks.len() > BLOCKS_MAX {
            return Err(format!("more than {BLOCKS_MAX} blocks"));
        }
    }
    if blocks.is_empty() {
        return Err("no blocks".to_string());
    }
    Ok(blocks)
}

/// The file again, with each block's expected output replaced by `outputs`.
pub fn render(blocks: &[Block], outputs: &[Vec<String>]) -> String {
    assert_eq!(blocks.len(), outputs.len());
    let mut text = String::new();
    for (index, (block, output)) in blocks.iter().zip(outputs).enumerate() {
        if index > 0 {
            text.push('\n');
        }
        for line in block.comments.iter().chain([&block.command]) {
            text.push_str(line);
            text.push('\n');
        }
        text.push_str("----\n");
        for line in output {
            text.push_str(line);
            text.push('\n');
        }
    }
    text
}

impl RunSpec {
    /// Parses `run clients=4 ops=150 shards=2..4 crash=1`.
    pub fn parse(command: &str) -> Result<RunSpec, String> {
        let mut words = command.split_whitespace();
        if words.next() != Some("run") {
            return Err(format!("unknown command `{command}`"));
        }
        let mut spec = RunSpec {
            clients: 4,
            ops: 150,
            shards: 2..=4,
            crashes: 1,
        };
        for word in words {
            let (name, value) = word
                .split_once('=')
                .ok_or_else(|| format!("`{word}` is not name=value"))?;
            match name {
                "clients" => spec.clients = number(value, 1..=CLIENTS_MAX)?,
                "ops" => spec.ops = number(value, 1..=OPS_PER_CLIENT_MAX)?,
                "shards" => spec.shards = range(value)?,
                "crash" => spec.crashes = number(value, 0..=CRASHES_MAX)?,
                _ => return Err(format!("unknown setting `{name}`")),
            }
        }
        // The admin client (0) and a RESP3 client (1) are both always there.
        if spec.clients < 2 {
            return Err("a run needs at least 2 clients".to_string());
        }
        Ok(spec)
    }
}

impl TypesSpec {
    /// Parses `types data=3 ops=100 producers=2 consumers=3 items=40 fifo=3 subscribers=3
    /// messages=40 shards=2..4`.
    pub fn parse(command: &str) -> Result<TypesSpec, String> {
        let mut words = command.split_whitespace();
        if words.next() != Some("types") {
            return Err(format!("unknown command `{command}`"));
        }
        let mut spec = TypesSpec {
            data: 3,
            ops: 100,
            producers: 2,
            consumers: 3,
            items: 40,
            fifo: 3,
            subscribers: 3,
            messages: 40,
            shards: 2..=4,
        };
        for word in words {
            let (name, value) = word
                .split_once('=')
                .ok_or_else(|| format!("`{word}` is not name=value"))?;
            match name {
                "data" => spec.data = number(value, 1..=CLIENTS_MAX)?,
                "ops" => spec.ops = number(value, 1..=OPS_PER_CLIENT_MAX)?,
                "producers" => spec.producers = number(value, 1..=QUEUE_HOSTS_MAX)?,
                "consumers" => spec.consumers = number(value, 1..=QUEUE_HOSTS_MAX)?,
                "items" => spec.items = number(value, 1..=ITEMS_MAX)?,
                "fifo" => spec.fifo = number(value, 0..=FIFO_PROBES_MAX)?,
                "subscribers" => spec.subscribers = number(value, 1..=SUBSCRIBERS_MAX)?,
                "messages" => spec.messages = number(value, 1..=ITEMS_MAX)?,
                "shards" => spec.shards = range(value)?,
                _ => return Err(format!("unknown setting `{name}`")),
            }
        }
        Ok(spec)
    }
}

fn number(text: &str, bounds: RangeInclusive<usize>) -> Result<usize, String> {
    let value: usize = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number"))?;
    if !bounds.contains(&value) {
        return Err(format!(
            "{value} is outside {}..={}",
            bounds.start(),
            bounds.end()
        ));
    }
    Ok(value)
}

fn range(text: &str) -> Result<RangeInclusive<usize>, String> {
    let (low, high) = text.split_once("..").unwrap_or((text, text));
    let low = number(low, 1..=SHARDS_MAX)?;
    let high = number(high, 1..=SHARDS_MAX)?;
    if low > high {
        return Err(format!("empty range `{text}`"));
    }
    Ok(low..=high)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "# first\nrun clients=3 ops=10 shards=2 crash=0\n----\nok\nmore\n\n# second\nrun\n----\nok\n";

    #[test]
    fn parses_blocks_and_round_trips() {
        let blocks = parse(FILE).unwrap();
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0].comments, vec!["# first".to_string()]);
        assert_eq!(
            blocks[0].expected,
            vec!["ok".to_string(), "more".to_string()]
        );
        let outputs: Vec<Vec<String>> = blocks.iter().map(|b| b.expected.clone()).collect();
        assert_eq!(render(&blocks, &outputs), FILE);
    }

    #[test]
    fn run_spec_settings_and_limits() {
        let spec = RunSpec::parse("run clients=3 ops=10 shards=2 crash=0").unwrap();
        assert_eq!(
            spec,
            RunSpec {
                clients: 3,
                ops: 10,
                shards: 2..=2,
                crashes: 0
            }
        );
        assert_eq!(RunSpec::parse("run shards=2..4").unwrap().shards, 2..=4);
        assert!(RunSpec::parse("run shards=4..2").is_err());
        assert!(RunSpec::parse("run clients=1").is_err());
        assert!(RunSpec::parse("run crash=99").is_err());
        assert!(RunSpec::parse("run bogus=1").is_err());
        assert!(RunSpec::parse("walk").is_err());
    }

    #[test]
    fn types_spec_settings_and_limits() {
        let spec = TypesSpec::parse("types data=2 ops=5 fifo=0 shards=3").unwrap();
        assert_eq!((spec.data, spec.ops, spec.fifo), (2, 5, 0));
        assert_eq!(spec.shards, 3..=3);
        assert_eq!(TypesSpec::parse("types").unwrap().consumers, 3);
        assert!(TypesSpec::parse("types consumers=0").is_err());
        assert!(TypesSpec::parse("types crash=1").is_err());
        assert!(TypesSpec::parse("run").is_err());
    }

    #[test]
    fn a_command_needs_its_separator() {
        assert!(parse("run\nok\n").is_err());
        assert!(parse("# only a comment\n").is_err());
    }
}
