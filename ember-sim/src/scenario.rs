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
//!
//! A comment line `# seeds: N` anywhere in a file says how many seeds `cargo test` runs it
//! over (the default is the test's own).

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

/// How the `persist` world's node fsyncs its AOF (the node's `--appendfsync`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    Always,
    EverySec,
    No,
}

/// Which SHUTDOWNs a `persist` run sends, and what it holds a clean exit to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShutdownCheck {
    /// No episode ends with a SHUTDOWN.
    None,
    /// Every write acknowledged before the SHUTDOWN was sent survives the clean exit.
    Before,
    /// Every write acknowledged at all survives it: the node acknowledges nothing it will
    /// not have written and fsynced when it exits.
    Exit,
}

/// The `persist` command: one node with the AOF on, clients appending sequenced writes,
/// crashes at seeded points (and, with `faults=disk`, injected disk failures), and a
/// read-back after every restart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PersistSpec {
    pub policy: Policy,
    pub clients: usize,
    /// Write commands each client sends.
    pub writes: usize,
    pub shards: RangeInclusive<usize>,
    /// Crashes (or fault stops) before the run settles.
    pub crashes: usize,
    /// Whether EIO, ENOSPC and failed fsyncs are injected between crashes.
    pub faults: bool,
    /// Whether faults that are on from a restart may include EIO (an EIO while the node
    /// lists its data directory at start-up once made it serve before loading).
    pub startup_eio: bool,
    /// Whether some episodes end with a SHUTDOWN, and what a clean exit must keep.
    pub shutdown: ShutdownCheck,
}

/// The `bitrot` command: clients write under `appendfsync always`, then one durable bit in
/// the middle of an AOF is flipped; the node must refuse to start, and start with
/// `--aof-load-corrupt yes` serving only a prefix of what was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BitrotSpec {
    pub clients: usize,
    pub writes: usize,
    pub shards: RangeInclusive<usize>,
}

/// The most crashes a `persist` run may ask for.
pub const PERSIST_CRASHES_MAX: usize = 8;
/// The most seeds a scenario file may ask `cargo test` for.
pub const SEEDS_MAX: u64 = 10_000;

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

/// The seed count a `# seeds: N` comment asks for, if the file has one.
pub fn seed_count(text: &str) -> Result<Option<u64>, String> {
    let mut found = None;
    for line in text.lines() {
        let Some(value) = line.trim_end().strip_prefix("# seeds:") else {
            continue;
        };
        if found.is_some() {
            return Err("more than one `# seeds:` line".to_string());
        }
        let seeds: u64 = value
            .trim()
            .parse()
            .map_err(|_| format!("`{}` is not a seed count", value.trim()))?;
        if !(1..=SEEDS_MAX).contains(&seeds) {
            return Err(format!("{seeds} seeds is outside 1..={SEEDS_MAX}"));
        }
        found = Some(seeds);
    }
    Ok(found)
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

impl Policy {
    /// The node's `--appendfsync` value.
    pub fn name(self) -> &'static str {
        match self {
            Policy::Always => "always",
            Policy::EverySec => "everysec",
            Policy::No => "no",
        }
    }

    fn parse(text: &str) -> Result<Policy, String> {
        match text {
            "always" => Ok(Policy::Always),
            "everysec" => Ok(Policy::EverySec),
            "no" => Ok(Policy::No),
            _ => Err(format!("`{text}` is not always, everysec or no")),
        }
    }
}

impl PersistSpec {
    /// Parses `persist policy=always clients=3 writes=120 shards=2..4 crashes=3 faults=disk`.
    pub fn parse(command: &str) -> Result<PersistSpec, String> {
        let mut words = command.split_whitespace();
        if words.next() != Some("persist") {
            return Err(format!("unknown command `{command}`"));
        }
        let mut spec = PersistSpec {
            policy: Policy::Always,
            clients: 3,
            writes: 100,
            shards: 2..=4,
            crashes: 3,
            faults: false,
            startup_eio: false,
            shutdown: ShutdownCheck::None,
        };
        for word in words {
            let (name, value) = word
                .split_once('=')
                .ok_or_else(|| format!("`{word}` is not name=value"))?;
            match name {
                "policy" => spec.policy = Policy::parse(value)?,
                "clients" => spec.clients = number(value, 1..=CLIENTS_MAX)?,
                "writes" => spec.writes = number(value, 1..=OPS_PER_CLIENT_MAX)?,
                "shards" => spec.shards = range(value)?,
                "crashes" => spec.crashes = number(value, 0..=PERSIST_CRASHES_MAX)?,
                "faults" => {
                    spec.faults = match value {
                        "disk" => true,
                        "none" => false,
                        _ => return Err(format!("`{value}` is not disk or none")),
                    }
                }
                "startup_eio" => spec.startup_eio = yes_no(value)?,
                "shutdown" => {
                    spec.shutdown = match value {
                        "none" => ShutdownCheck::None,
                        "before" => ShutdownCheck::Before,
                        "exit" => ShutdownCheck::Exit,
                        _ => return Err(format!("`{value}` is not none, before or exit")),
                    }
                }
                _ => return Err(format!("unknown setting `{name}`")),
            }
        }
        Ok(spec)
    }
}

impl BitrotSpec {
    /// Parses `bitrot clients=2 writes=60 shards=2..4`.
    pub fn parse(command: &str) -> Result<BitrotSpec, String> {
        let mut words = command.split_whitespace();
        if words.next() != Some("bitrot") {
            return Err(format!("unknown command `{command}`"));
        }
        let mut spec = BitrotSpec {
            clients: 2,
            writes: 60,
            shards: 2..=4,
        };
        for word in words {
            let (name, value) = word
                .split_once('=')
                .ok_or_else(|| format!("`{word}` is not name=value"))?;
            match name {
                "clients" => spec.clients = number(value, 1..=CLIENTS_MAX)?,
                "writes" => spec.writes = number(value, 1..=OPS_PER_CLIENT_MAX)?,
                "shards" => spec.shards = range(value)?,
                _ => return Err(format!("unknown setting `{name}`")),
            }
        }
        Ok(spec)
    }
}

fn yes_no(text: &str) -> Result<bool, String> {
    match text {
        "yes" => Ok(true),
        "no" => Ok(false),
        _ => Err(format!("`{text}` is not yes or no")),
    }
}

pub(crate) fn number(text: &str, bounds: RangeInclusive<usize>) -> Result<usize, String> {
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

/// A shard range, `2..4` or `3`.
pub(crate) fn range(text: &str) -> Result<RangeInclusive<usize>, String> {
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
    fn persist_and_bitrot_specs() {
        let spec = PersistSpec::parse(
            "persist policy=everysec clients=2 writes=9 crashes=4 faults=disk shards=3",
        )
        .unwrap();
        assert_eq!(spec.policy, Policy::EverySec);
        assert_eq!((spec.clients, spec.writes, spec.crashes), (2, 9, 4));
        assert!(spec.faults);
        assert_eq!(spec.shards, 3..=3);
        assert_eq!(
            PersistSpec::parse("persist").unwrap().policy,
            Policy::Always
        );
        assert!(PersistSpec::parse("persist policy=sometimes").is_err());
        assert!(PersistSpec::parse("persist faults=maybe").is_err());
        assert!(
            PersistSpec::parse("persist startup_eio=yes")
                .unwrap()
                .startup_eio
        );
        assert!(PersistSpec::parse("persist startup_eio=1").is_err());
        let shutdown = PersistSpec::parse("persist shutdown=before")
            .unwrap()
            .shutdown;
        assert_eq!(shutdown, ShutdownCheck::Before);
        assert!(PersistSpec::parse("persist shutdown=maybe").is_err());
        assert!(PersistSpec::parse("persist crashes=99").is_err());
        assert!(PersistSpec::parse("run").is_err());
        let bitrot = BitrotSpec::parse("bitrot clients=1 writes=5").unwrap();
        assert_eq!((bitrot.clients, bitrot.writes), (1, 5));
        assert!(BitrotSpec::parse("bitrot crashes=1").is_err());
    }

    #[test]
    fn seed_counts() {
        assert_eq!(seed_count(FILE), Ok(None));
        assert_eq!(seed_count("# seeds: 200\nrun\n----\nok\n"), Ok(Some(200)));
        assert!(seed_count("# seeds: lots\n").is_err());
        assert!(seed_count("# seeds: 0\n").is_err());
        assert!(seed_count("# seeds: 2\n# seeds: 3\n").is_err());
    }

    #[test]
    fn a_command_needs_its_separator() {
        assert!(parse("run\nok\n").is_err());
        assert!(parse("# only a comment\n").is_err());
    }
}
