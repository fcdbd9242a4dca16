//! The body lives in `tests/fuzzed/defender_responses.rs`, shared with the mutation test that
//! `cargo test` runs (`tests/it/fuzz_corpus.rs`).

#![no_main]

#[path = "../../tests/fuzzed/defender_responses.rs"]
mod body;

libfuzzer_sys::fuzz_target!(|data: &[u8]| body::defender_responses(data));
