//! Fuzzes the AOF reader: `read_records` and the streaming `AofDecoder` over arbitrary
//! bytes, checking that every record returned re-encodes to exactly the bytes it came
//! from and that the end is classified consistently. The check lives in
//! `ember_proto::aof::check_replay` so that `ember-proto/tests/fuzz_corpus.rs` replays the
//! corpus with exactly the same code.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ember_proto::aof::check_replay(data);
});
