//! The `ember-sim` command: `ember-sim run <scenario> --seed N [--seeds K]` runs a scenario
//! file for seeds N..N+K and prints, per seed, the derived parameters first and
//! `seed=N trace=<hex>` last. It exits with status 1 if any seed failed; each failure prints
//! the command that replays it. `REWRITE=1` writes the actual output back into the file.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ember_sim::runner;

/// The most seeds one invocation runs.
const SEEDS_MAX: u64 = 1_000_000;

#[derive(Parser)]
#[command(name = "ember-sim", about = "ember's deterministic simulator")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs a scenario file.
    Run {
        scenario: PathBuf,
        /// The first seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// How many seeds to run, from --seed on.
        #[arg(long, default_value_t = 1)]
        seeds: u64,
    },
}

fn main() -> ExitCode {
    let Command::Run {
        scenario,
        seed,
        seeds,
    } = Cli::parse().command;
    if seeds == 0 || seeds > SEEDS_MAX {
        eprintln!("--seeds must be in 1..={SEEDS_MAX}");
        return ExitCode::FAILURE;
    }
    let blocks = match runner::load(&scenario) {
        Ok(blocks) => blocks,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::FAILURE;
        }
    };
    let mut failed = 0u64;
    for offset in 0..seeds {
        let run = runner::run_seed(&scenario, &blocks, seed.wrapping_add(offset));
        for line in &run.lines {
            println!("{line}");
        }
        if offset == 0 && std::env::var("REWRITE").as_deref() == Ok("1") {
            match runner::rewrite(&scenario, &blocks, &run.reports) {
                Ok(()) => eprintln!("rewrote {}", scenario.display()),
                Err(error) => eprintln!("{error}"),
            }
        }
        if run.failure.is_some() {
            failed += 1;
        }
    }
    if failed > 0 {
        eprintln!("{failed} of {seeds} seeds failed");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
