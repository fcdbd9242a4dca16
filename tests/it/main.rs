//! End-to-end tests: the real binaries and crates over real HTTPS.
