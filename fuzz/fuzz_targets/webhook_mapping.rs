//! The body lives in `tests/fuzzed/webhook_mapping.rs`, shared with the mutation test that
//! `cargo test` runs (`tests/it/fuzz_corpus.rs`).

#![no_main]

#[path = "../../tests/fuzzed/webhook_mapping.rs"]
mod body;

libfuzzer_sys::fuzz_target!(|data: &[u8]| body::webhook_mapping(data));
