//! Fuzzes the cluster bus decoder: arbitrary bytes as a stream of frames under a plain, an
//! authenticated and a small-limit codec, whole and fed in pieces, and as one payload
//! behind a valid header and tag, checking that every message decoded encodes and decodes
//! back to itself. The check lives in `ember_proto::cluster_bus::check_bus_decode` so that
//! `ember-proto/tests/fuzz_corpus.rs` replays the corpus with exactly the same code.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ember_proto::cluster_bus::check_bus_decode(data);
});
