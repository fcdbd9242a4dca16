//! End-to-end tests: the real simulator (and, as they land, the client and daemon) over real HTTPS.

mod busy;
mod client;
mod clock;
mod crash_loop;
mod daemon;
mod disk;
mod doctor;
mod engine;
mod fuzz_corpus;
mod hooks;
mod library_sync;
mod prune;
mod schedules;
mod secrets;
mod simulator;
mod soak;
mod web;
