//! Fuzzes the snapshot reader over arbitrary bytes until an error or the end, checking
//! that whatever loads writes and loads back the same. The check lives in
//! `ember_proto::snapshot::check_load` so that `ember-proto/tests/fuzz_corpus.rs` replays
//! the corpus with exactly the same code.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ember_proto::snapshot::check_load(data);
});
