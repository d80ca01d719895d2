//! Fuzzes the DUMP payload decoder: arbitrary bytes as a payload, and as the kind and value
//! of a payload whose version and checksum are made to verify, checking that whatever
//! decodes re-encodes to the same bytes and value and is refused with one bit changed. The
//! check lives in `ember_proto::dump::check_dump` so that
//! `ember-proto/tests/fuzz_corpus.rs` replays the corpus with exactly the same code.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ember_proto::dump::check_dump(data);
});
