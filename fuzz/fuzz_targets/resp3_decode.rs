//! Fuzzes the RESP decoders: `decode` and `decode_request` over arbitrary bytes until an
//! error or a need for more bytes, checking that every decoded frame and request encodes
//! and decodes back to itself. The check lives in `ember_proto::fuzzing` so that
//! `ember-proto/tests/fuzz_corpus.rs` replays the corpus with exactly the same code.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ember_proto::fuzzing::check_decoders(data);
});
