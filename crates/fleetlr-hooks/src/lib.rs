//! What an alert webhook's payload means and what it starts: `mapping` reads a delivered JSON
//! payload (Defender, Graph, Sentinel or generic pointers) into an [`Alert`], and `rules`
//! decide which playbook runs on which alerted device, with parameters templated from the
//! alert. Pure functions over values: it must never do IO, check credentials, talk HTTP or
//! start runs (the server's `hooks` module verifies deliveries and hands firings to the
//! engine), so payload mapping can be built and fuzzed alone.

pub mod mapping;
pub mod rules;

pub use mapping::{Alert, AlertDevice, Format, Mapping, Pointer, Severity};
pub use rules::{FieldTemplate, Firing, Rule};
