//! The body lives in `tests/fuzzed/load_config.rs`, shared with the mutation test that
//! `cargo test` runs (`tests/it/fuzz_corpus.rs`).

#![no_main]

#[path = "../../tests/fuzzed/load_config.rs"]
mod body;

libfuzzer_sys::fuzz_target!(|data: &[u8]| body::load_config(data));
