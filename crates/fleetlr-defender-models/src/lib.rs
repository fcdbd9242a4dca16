//! The Microsoft Defender for Endpoint API's wire format: the models of what it sends and
//! takes, where each cloud's endpoints are (`Cloud`), and its error answers classified
//! (`classify`). No IO, no async, no sign-in: the client (`fleetlr-defender`) does the calls,
//! and fuzz targets read answers and configurations through this crate alone without building
//! the client's dependency tree. It must never know about
//! playbooks, storage or scheduling.
//!
//! The service adds fields and values over time and its documentation has been wrong before,
//! so parsing is tolerant: enums keep values they do not know (`Other`), fields may be missing
//! or null, and timestamps may carry 0 to 7 fractional digits. Only identifiers the caller
//! cannot do without (an action's `id`, a command's `index`, …) are required.

mod cloud;
mod error;
mod error_body;
mod library;
mod live_response;
mod machine;
mod machine_action;
mod odata_page;
mod wire;

pub use cloud::{Cloud, Region};
pub use error::{ApiError, ErrorKind, SNIPPET_BYTES, TokenError, classify, snippet};
pub use error_body::{ErrorDetail, ErrorResponse};
pub use library::{LibraryFile, LibraryUpload};
pub use live_response::{Command, CommandType, LiveResponseRequest, Param, ScriptTranscript};
pub use machine::{
    DeviceValue, ExposureLevel, HealthStatus, IpAddress, IsolationType, Machine, OnboardingStatus,
    RiskScore,
};
pub use machine_action::{
    ActionStatus, ActionType, CommandEntry, CommandStatus, MachineAction, RelatedFileInfo,
};
pub use odata_page::{ODataPage, ODataValue};
