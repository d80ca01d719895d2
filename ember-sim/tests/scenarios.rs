//! Runs every scenario file in `scenarios/` over a range of seeds, and checks that one seed
//! replays exactly. A failing seed panics with the line that replays it. `REWRITE=1`
//! refreshes each file's expected output from its first seed.
//!
//! A file's `# seeds: N` line sets its seed count. The seeds of a file are shared among a
//! few threads: each run is a world of its own (one turmoil simulation on its thread), so
//! the split changes nothing but the wall time.

use std::path::{Path, PathBuf};

use ember_sim::persist_world;
use ember_sim::runner::{self, SeedRun};
use ember_sim::scenario::{Block, PersistSpec, Policy};

/// How many seeds a scenario without a `# seeds:` line runs under `cargo test`.
const SEEDS_DEFAULT: u64 = 100;
const FIRST_SEED: u64 = 1;
/// The most threads a file's seeds are shared among.
const WORKERS_MAX: usize = 4;

fn scenario_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("{}: {error}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "scn"))
        .collect();
    // read_dir's order is the file system's; sort so runs are in a stable order.
    files.sort();
    assert!(!files.is_empty(), "no scenario files in {}", dir.display());
    files
}

fn run(path: &Path, seed: u64) -> SeedRun {
    let blocks = runner::load(path).unwrap_or_else(|error| panic!("{error}"));
    runner::run_seed(path, &blocks, seed)
}

#[test]
fn every_scenario_passes_over_many_seeds() {
    for path in scenario_files() {
        let (blocks, _) = runner::load_with_seeds(&path).unwrap_or_else(|error| panic!("{error}"));
        if std::env::var("REWRITE").as_deref() == Ok("1") {
            let first = runner::run_seed(&path, &blocks, FIRST_SEED);
            runner::rewrite(&path, &blocks, &first.reports)
                .unwrap_or_else(|error| panic!("{error}"));
        }
        let (blocks, seeds) =
            runner::load_with_seeds(&path).unwrap_or_else(|error| panic!("{error}"));
        let seeds = seeds.unwrap_or(SEEDS_DEFAULT);
        let failures = failures(&path, &blocks, seeds);
        assert!(
            failures.is_empty(),
            "{}: {} of {seeds} seeds failed:\n{}",
            path.display(),
            failures.len(),
            failures.join("\n\n")
        );
    }
}

/// The failures of seeds `FIRST_SEED..FIRST_SEED + seeds`, in seed order.
fn failures(path: &Path, blocks: &[Block], seeds: u64) -> Vec<String> {
    let workers = std::thread::available_parallelism()
        .map_or(1, |count| count.get())
        .clamp(1, WORKERS_MAX) as u64;
    let mut failed: Vec<(u64, String)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|worker| {
                scope.spawn(move || {
                    (FIRST_SEED + worker..FIRST_SEED + seeds)
                        .step_by(workers as usize)
                        .filter_map(|seed| {
                            let run = runner::run_seed(path, blocks, seed);
                            run.failure.map(|failure| (seed, failure))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|handle| handle.join().expect("a worker panicked"))
            .collect()
    });
    failed.sort();
    failed.into_iter().map(|(_, failure)| failure).collect()
}

#[test]
fn one_seed_replays_exactly() {
    for path in scenario_files() {
        let first = run(&path, 7);
        let second = run(&path, 7);
        assert_eq!(first.lines, second.lines, "{}", path.display());
        assert_eq!(first.trace_hex, second.trace_hex);
        let last = first.lines.last().expect("a run prints lines");
        assert_eq!(*last, format!("seed=7 trace={}", first.trace_hex));
        assert!(
            first.lines[1].starts_with("seed=7 shards="),
            "parameters come first: {:?}",
            first.lines
        );
    }
}

#[test]
fn different_seeds_differ() {
    let path = &scenario_files()[0];
    assert_ne!(run(path, 1).trace_hex, run(path, 2).trace_hex);
}

/// The types-and-transactions world has many hosts on one turmoil thread; a second seed
/// must replay byte for byte as well, and its report must be the file's.
#[test]
fn types_scenario_replays_exactly() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/types_and_transactions.scn");
    let first = run(&path, 23);
    let second = run(&path, 23);
    assert_eq!(first.failure, None);
    assert_eq!(first.lines, second.lines);
    assert_eq!(first.trace_hex, second.trace_hex);
    assert_ne!(first.trace_hex, run(&path, 24).trace_hex);
}

/// The persist checkers have teeth: a node that fsyncs less than the policy it is judged
/// by loses acknowledged writes at some crash of some of the first 40 seeds, and that run
/// fails.
#[test]
fn persist_checkers_catch_a_weaker_node() {
    let cases = [
        (Policy::Always, Policy::EverySec),
        (Policy::Always, Policy::No),
        (Policy::EverySec, Policy::No),
    ];
    for (promised, runs) in cases {
        let spec = PersistSpec {
            policy: promised,
            ..PersistSpec::parse("persist clients=3 writes=120 crashes=3").unwrap()
        };
        let caught = (1..=40).any(|seed| {
            let mut params = persist_world::Params::derive(seed, &spec);
            params.node_policy = runs;
            persist_world::run(&params).failure.is_some()
        });
        assert!(caught, "a node running {runs:?} passed as {promised:?}");
    }
}
