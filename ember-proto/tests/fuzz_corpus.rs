//! Replays every fuzz corpus file through the same check its fuzz target runs, so inputs
//! the fuzzer found interesting stay covered by `cargo test` without cargo-fuzz.

use std::fs;
use std::path::{Path, PathBuf};

use ember_proto::aof::{check_replay, check_replay_sealed};
use ember_proto::cluster_bus::check_bus_decode;
use ember_proto::dump::check_dump;
use ember_proto::fuzzing::check_decoders;
use ember_proto::snapshot::{check_load, check_load_sealed};

/// The check a fuzz target runs on one input; it panics if a property fails.
type Check = fn(&[u8]);

/// Each fuzz target and the check it runs; every one must have a non-empty corpus. The
/// sealed checks exist because this crate's tests always enable `encryption`.
const TARGETS: [(&str, Check); 7] = [
    ("resp3_decode", check_decoders),
    ("aof_replay", check_replay),
    ("snapshot_load", check_load),
    ("aof_replay_sealed", check_replay_sealed),
    ("snapshot_load_sealed", check_load_sealed),
    ("cluster_bus_decode", check_bus_decode),
    ("dump_payload", check_dump),
];

/// The corpus directories, one per fuzz target.
fn corpus_dirs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    let entries = fs::read_dir(&root)
        .unwrap_or_else(|error| panic!("the fuzz corpus {} is missing: {error}", root.display()));
    let mut dirs: Vec<PathBuf> = entries
        .map(|entry| entry.expect("a readable corpus entry").path())
        .filter(|path| path.is_dir())
        .collect();
    dirs.sort();
    dirs
}

#[test]
fn corpus_inputs_never_panic() {
    let dirs = corpus_dirs();
    for (target, _) in TARGETS {
        let present = dirs.iter().any(|dir| dir.ends_with(target));
        assert!(present, "no corpus directory fuzz/corpus/{target}");
    }
    for dir in dirs {
        let name = dir.file_name().and_then(|name| name.to_str()).unwrap_or("");
        let Some((_, check)) = TARGETS.iter().find(|(target, _)| *target == name) else {
            panic!(
                "the corpus {} belongs to no known fuzz target",
                dir.display()
            );
        };
        let mut files = 0;
        for entry in fs::read_dir(&dir).expect("a readable corpus directory") {
            let path = entry.expect("a readable corpus entry").path();
            if !path.is_file() {
                continue;
            }
            let data = fs::read(&path).expect("a readable corpus file");
            check(&data);
            files += 1;
        }
        assert!(files > 0, "the corpus {} is empty", dir.display());
    }
}
