//! Wire models. The service adds fields and values over time and its documentation has been
//! wrong before, so parsing is tolerant: enums keep values they do not know (`Other`), fields may
//! be missing or null, and timestamps may carry 0 to 7 fractional digits. Only identifiers the
//! caller cannot do without (an action's `id`, a command's `index`, …) are required.

mod error_body;
mod library;
mod live_response;
mod machine;
mod machine_action;
mod odata_page;
mod wire;

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
pub use odata_page::ODataPage;
pub(crate) use odata_page::ODataValue;
