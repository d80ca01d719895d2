//! Replays every fuzz corpus file through the same check the fuzz target runs, so inputs
//! the fuzzer found interesting stay covered by `cargo test` without cargo-fuzz.

use std::fs;
use std::path::{Path, PathBuf};

use ember_proto::fuzzing::check_decoders;

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
    assert!(!dirs.is_empty(), "no corpus directory under fuzz/corpus");
    for dir in dirs {
        let mut files = 0;
        for entry in fs::read_dir(&dir).expect("a readable corpus directory") {
            let path = entry.expect("a readable corpus entry").path();
            if !path.is_file() {
                continue;
            }
            let data = fs::read(&path).expect("a readable corpus file");
            check_decoders(&data);
            files += 1;
        }
        assert!(files > 0, "the corpus {} is empty", dir.display());
    }
}
