//! Fuzzes the sealed snapshot reader under the fixed test key over arbitrary bytes and
//! over those bytes sealed as one entries block, checking that whatever loads writes and
//! loads back the same and is refused once a block changes, under another key, or
//! without a key. The check lives in `ember_proto::snapshot::check_load_sealed` so that
//! `ember-proto/tests/fuzz_corpus.rs` replays the corpus with exactly the same code.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ember_proto::snapshot::check_load_sealed(data);
});
