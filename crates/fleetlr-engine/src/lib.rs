//! The scheduler that drives every target of every run to a recorded outcome inside the
//! platform's limits. So far it holds the limit policies, each deterministic and tested under
//! tokio's paused clock: the runliveresponse call pacer, the session-slot pool with its reserve,
//! priority-then-fair selection of runs, the crash reconciliation of open submissions, and the
//! library sync that puts a playbook's scripts in place by content hash before a run.
//!
//! It decides *when* and *what*; it never formats HTTP itself (that is `fleetlr-defender`) and
//! never writes SQL (that is `fleetlr-store`).

pub mod fairness;
pub mod library_sync;
pub mod pacer;
pub mod reconcile;
pub mod slots;

/// Response runs always go before collection runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Priority {
    Response,
    Collection,
}
