//! The scenario runner: runs every block of a scenario file for one seed, compares each
//! block's seed-independent report with the file's expected output, and renders what the
//! binary prints: the derived parameters first, the `seed=N trace=<hex>` line last, and on
//! a failure the one-line command that replays it.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use crate::scenario::{self, BitrotSpec, Block, PersistSpec, RunSpec, ShutdownCheck, TypesSpec};
use crate::trace::fnv1a;
use crate::world::{self, Params};
use crate::{bitrot_world, cluster_world, persist_world, types_world};

/// One seed's run of a scenario file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeedRun {
    pub seed: u64,
    /// Everything to print, in order; the last line is `seed=N trace=<hex>`.
    pub lines: Vec<String>,
    pub trace_hex: String,
    /// The failure, with its replay line, if any block failed.
    pub failure: Option<String>,
    /// Each block's report, for REWRITE=1.
    pub reports: Vec<Vec<String>>,
}

/// Reads and parses a scenario file.
pub fn load(path: &Path) -> Result<Vec<Block>, String> {
    load_with_seeds(path).map(|(blocks, _)| blocks)
}

/// Reads and parses a scenario file, with the seed count its `# seeds: N` line asks for.
pub fn load_with_seeds(path: &Path) -> Result<(Vec<Block>, Option<u64>), String> {
    let text =
        std::fs::read_to_string(path).map_err(|error| format!("{}: {error}", path.display()))?;
    let blocks = scenario::parse(&text).map_err(|error| format!("{}: {error}", path.display()))?;
    let seeds =
        scenario::seed_count(&text).map_err(|error| format!("{}: {error}", path.display()))?;
    Ok((blocks, seeds))
}

/// Runs every block of `blocks` (read from `path`) with `seed`.
pub fn run_seed(path: &Path, blocks: &[Block], seed: u64) -> SeedRun {
    assert!(!blocks.is_empty());
    let replay = replay_line(path, seed);
    let mut run = SeedRun {
        seed,
        lines: Vec::new(),
        trace_hex: String::new(),
        failure: None,
        reports: Vec::new(),
    };
    let mut trace_hash = fnv1a(0xcbf2_9ce4_8422_2325, &seed.to_le_bytes());
    // A cluster file is one world run step by step: its blocks are reported together.
    let mut script = match is_cluster_script(blocks) {
        true => {
            let running = catch_unwind(AssertUnwindSafe(|| {
                cluster_world::run_script(blocks, seed, &mut run.lines)
            }));
            let (reports, hash) = running
                .unwrap_or_else(|panic| (vec![Err(format!("panic: {}", panic_text(&panic)))], 0));
            trace_hash = fnv1a(trace_hash, &hash.to_le_bytes());
            Some(reports.into_iter())
        }
        false => None,
    };
    for (index, block) in blocks.iter().enumerate() {
        let report = match script.as_mut() {
            Some(reports) => match reports.next() {
                Some(report) => report,
                None => break,
            },
            None => {
                run.lines
                    .push(format!("block {}: {}", index + 1, block.command));
                let (report, block_hash) = run_block(block, seed, &mut run.lines);
                trace_hash = fnv1a(trace_hash, &block_hash.to_le_bytes());
                report
            }
        };
        let (failure, fatal) = match &report {
            Err(failure) => (Some(failure.clone()), true),
            Ok(report) if *report != block.expected => {
                let differs = format!("output differs from the scenario file\n  expected: {:?}\n  got:      {report:?}", block.expected);
                (Some(differs), false)
            }
            Ok(_) => (None, false),
        };
        run.reports
            .push(report.unwrap_or_else(|_| vec!["FAIL".to_string()]));
        if let Some(failure) = failure {
            run.lines
                .push(format!("FAIL block {}: {failure}", index + 1));
            run.lines.push(replay.clone());
            run.failure.get_or_insert(format!(
                "seed={seed} block {}: {failure}\n{replay}",
                index + 1
            ));
        }
        if fatal {
            break;
        }
    }
    run.trace_hex = format!("{trace_hash:016x}");
    run.lines
        .push(format!("seed={seed} trace={}", run.trace_hex));
    run
}

/// Whether a file is a cluster script (its first block builds a cluster world).
fn is_cluster_script(blocks: &[Block]) -> bool {
    blocks[0].command.split_whitespace().next() == Some("cluster")
}

/// Runs one block; Ok holds its seed-independent report, which is compared with the file.
fn run_block(
    block: &Block,
    seed: u64,
    lines: &mut Vec<String>,
) -> (Result<Vec<String>, String>, u64) {
    match block.command.split_whitespace().next() {
        Some("types") => return run_types_block(block, seed, lines),
        Some("persist") => return run_persist_block(block, seed, lines),
        Some("bitrot") => return run_bitrot_block(block, seed, lines),
        _ => {}
    }
    let spec = match RunSpec::parse(&block.command) {
        Ok(spec) => spec,
        Err(error) => return (Err(format!("bad command: {error}")), 0),
    };
    let params = Params::derive(seed, &spec);
    lines.push(params.describe());
    let outcome = match catch_unwind(AssertUnwindSafe(|| world::run(&params))) {
        Ok(outcome) => outcome,
        Err(panic) => return (Err(format!("panic: {}", panic_text(&panic))), 0),
    };
    let stats = outcome.stats;
    lines.push(format!(
        "replies={} unchecked={} lost={} connects={} events={} virtual_ms={}",
        stats.replies,
        stats.unchecked,
        stats.lost,
        stats.connects,
        outcome.trace.events(),
        outcome.elapsed_ms
    ));
    if let Some(failure) = outcome.failure {
        return (Err(failure), outcome.trace.hash());
    }
    let report = format!(
        "ok clients={} ops={} crashes={}",
        spec.clients,
        spec.clients * spec.ops,
        spec.crashes
    );
    (Ok(vec![report]), outcome.trace.hash())
}

/// Runs one `types` block: the types-and-transactions world.
fn run_types_block(
    block: &Block,
    seed: u64,
    lines: &mut Vec<String>,
) -> (Result<Vec<String>, String>, u64) {
    let spec = match TypesSpec::parse(&block.command) {
        Ok(spec) => spec,
        Err(error) => return (Err(format!("bad command: {error}")), 0),
    };
    let params = types_world::Params::derive(seed, &spec);
    lines.push(params.describe());
    let outcome = match catch_unwind(AssertUnwindSafe(|| types_world::run(&params))) {
        Ok(outcome) => outcome,
        Err(panic) => return (Err(format!("panic: {}", panic_text(&panic))), 0),
    };
    lines.push(outcome.summary.clone());
    if let Some(failure) = outcome.failure {
        return (Err(failure), outcome.trace.hash());
    }
    let report = format!(
        "ok data={} ops={} items={} fifo={} subscribers={} messages={}",
        spec.data,
        spec.data * spec.ops,
        spec.producers * spec.items,
        spec.fifo,
        spec.subscribers,
        spec.messages
    );
    (Ok(vec![report]), outcome.trace.hash())
}

/// Runs one `persist` block: crashes and disk faults with the AOF on.
fn run_persist_block(
    block: &Block,
    seed: u64,
    lines: &mut Vec<String>,
) -> (Result<Vec<String>, String>, u64) {
    let spec = match PersistSpec::parse(&block.command) {
        Ok(spec) => spec,
        Err(error) => return (Err(format!("bad command: {error}")), 0),
    };
    let params = persist_world::Params::derive(seed, &spec);
    lines.push(params.describe());
    let outcome = match catch_unwind(AssertUnwindSafe(|| persist_world::run(&params))) {
        Ok(outcome) => outcome,
        Err(panic) => return (Err(format!("panic: {}", panic_text(&panic))), 0),
    };
    lines.push(outcome.summary.clone());
    if let Some(failure) = outcome.failure {
        return (Err(failure), outcome.trace.hash());
    }
    let shutdown = match spec.shutdown {
        ShutdownCheck::None => "none",
        ShutdownCheck::Before => "before",
        ShutdownCheck::Exit => "exit",
    };
    let report = format!(
        "ok policy={} clients={} writes_min={} episodes={} faults={} shutdown={shutdown}",
        spec.policy.name(),
        spec.clients,
        spec.clients * spec.writes,
        spec.crashes,
        if spec.faults { "disk" } else { "none" }
    );
    (Ok(vec![report]), outcome.trace.hash())
}

/// Runs one `bitrot` block: a flipped bit in the middle of an AOF.
fn run_bitrot_block(
    block: &Block,
    seed: u64,
    lines: &mut Vec<String>,
) -> (Result<Vec<String>, String>, u64) {
    let spec = match BitrotSpec::parse(&block.command) {
        Ok(spec) => spec,
        Err(error) => return (Err(format!("bad command: {error}")), 0),
    };
    let params = bitrot_world::Params::derive(seed, &spec);
    lines.push(params.describe());
    let outcome = match catch_unwind(AssertUnwindSafe(|| bitrot_world::run(&params))) {
        Ok(outcome) => outcome,
        Err(panic) => return (Err(format!("panic: {}", panic_text(&panic))), 0),
    };
    lines.push(outcome.summary.clone());
    if let Some(failure) = outcome.failure {
        return (Err(failure), outcome.trace.hash());
    }
    let report = format!(
        "ok clients={} writes_min={} refused=yes lenient=prefix",
        spec.clients,
        spec.clients * spec.writes
    );
    (Ok(vec![report]), outcome.trace.hash())
}

/// The command that replays `seed`, naming the file as it sits in the workspace.
pub fn replay_line(path: &Path, seed: u64) -> String {
    let dir = path.parent().and_then(|dir| dir.file_name());
    let shown = match (dir.and_then(|dir| dir.to_str()), path.file_name()) {
        (Some("scenarios"), Some(name)) => format!("scenarios/{}", name.to_string_lossy()),
        (Some("known-bugs"), Some(name)) => {
            format!("ember-sim/known-bugs/{}", name.to_string_lossy())
        }
        _ => path.display().to_string(),
    };
    format!("replay: cargo run -p ember-sim -- run {shown} --seed {seed}")
}

/// Writes `reports` back into the scenario file at `path` (REWRITE=1).
pub fn rewrite(path: &Path, blocks: &[Block], reports: &[Vec<String>]) -> Result<(), String> {
    if reports.len() != blocks.len() || reports.iter().any(|report| report == &["FAIL".to_string()])
    {
        return Err("not rewriting after a failed run".to_string());
    }
    let text = scenario::render(blocks, reports);
    std::fs::write(path, text).map_err(|error| format!("{}: {error}", path.display()))
}

fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(text) = panic.downcast_ref::<&str>() {
        (*text).to_string()
    } else if let Some(text) = panic.downcast_ref::<String>() {
        text.clone()
    } else {
        "(no message)".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_names_the_workspace_path() {
        let line = replay_line(Path::new("/somewhere/scenarios/single_node.scn"), 7);
        assert_eq!(
            line,
            "replay: cargo run -p ember-sim -- run scenarios/single_node.scn --seed 7"
        );
        let known = replay_line(Path::new("/w/ember-sim/known-bugs/a.scn"), 3);
        assert!(known.ends_with("run ember-sim/known-bugs/a.scn --seed 3"));
        let other = replay_line(Path::new("x.scn"), 1);
        assert!(other.ends_with("run x.scn --seed 1"));
    }
}
