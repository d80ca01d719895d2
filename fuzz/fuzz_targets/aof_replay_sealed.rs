//! Fuzzes the sealed AOF reader: `read_records_with` and the streaming `AofDecoder` with
//! an AES-256-GCM opener under the fixed test key, over arbitrary bytes, over those bytes
//! sealed as one payload, and over their records sealed and then damaged. The check lives
//! in `ember_proto::aof::check_replay_sealed` so that `ember-proto/tests/fuzz_corpus.rs`
//! replays the corpus with exactly the same code.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ember_proto::aof::check_replay_sealed(data);
});
