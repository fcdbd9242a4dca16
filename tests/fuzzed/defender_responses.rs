//! The API client's parsing of whatever a server answers: machine actions, machines, OData
//! pages of both, RunScript transcripts, library files, and error bodies with any status and
//! `Retry-After`. Nothing may panic, and an error always has a message.
//! Shared by the fuzz target (`fuzz/fuzz_targets/defender_responses.rs`) and the mutation test
//! in `tests/it/fuzz_corpus.rs`.

use fleetlr_defender_models::{LibraryFile, Machine, MachineAction, ODataPage, ScriptTranscript};

pub fn defender_responses(data: &[u8]) {
    if let Ok(action) = serde_json::from_slice::<MachineAction>(data) {
        let _ = action.status.is_final();
    }
    let _ = serde_json::from_slice::<Machine>(data);
    let _ = serde_json::from_slice::<ODataPage<MachineAction>>(data);
    let _ = serde_json::from_slice::<ODataPage<Machine>>(data);
    if let Ok(transcript) = serde_json::from_slice::<ScriptTranscript>(data) {
        let _ = transcript.errors();
    }
    let _ = serde_json::from_slice::<LibraryFile>(data);
    // The first bytes double as a Retry-After value, which servers may send in any form.
    let retry_after = std::str::from_utf8(&data[..data.len().min(32)]).ok();
    for status in [400, 401, 403, 404, 409, 429, 500, 503] {
        let kind = fleetlr_defender_models::classify(status, retry_after, data);
        assert!(!kind.to_string().is_empty());
    }
}
