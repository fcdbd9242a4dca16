//! Result capture: a completed RunScript or GetFile command's result is downloaded at once
//! (its link lasts 30 minutes), streamed to the artifact directory under a sanitised name,
//! hashed, and summarised (a transcript's exit code and output preview).

use std::path::{Path, PathBuf};

use fleetlr_defender::models::ScriptTranscript;
use fleetlr_defender::{DefenderClient, ResultEncoding};
use fleetlr_playbook::Command;

use crate::budget::ApiBudget;

/// Characters of script output kept in the outcome record (the whole transcript is the artifact).
pub const OUTPUT_PREVIEW_CHARS: usize = 2000;
/// Transcripts larger than this are stored but not parsed for an exit code.
const MAX_TRANSCRIPT_PARSE_BYTES: u64 = 16 * 1024 * 1024;
const DOWNLOAD_ATTEMPTS: u32 = 3;

/// What a captured result adds to its command's outcome.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Evidence {
    /// Relative to the artifact directory, `/`-separated.
    pub path: String,
    pub sha256: String,
    pub bytes: u64,
    pub exit_code: Option<i64>,
    pub output_preview: Option<String>,
}

/// Where a result is stored, relative to the artifact root: nothing a device or playbook
/// supplies can leave `<run>/<device>/`.
pub fn relative_path(run_id: &str, device_id: &str, call: u32, index: u32, name: &str) -> String {
    format!(
        "{}/{}/c{call}-{index}-{}",
        sanitise(run_id),
        sanitise(device_id),
        sanitise(name)
    )
}

/// A file name made of `[A-Za-z0-9._-]` only, never starting with a dot, at most 100 chars.
pub fn sanitise(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let mut clean: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    while clean.starts_with('.') {
        clean.remove(0);
    }
    if clean.len() > 100 {
        let cut = clean.len() - 100;
        clean.drain(..cut);
    }
    if clean.is_empty() {
        "result".into()
    } else {
        clean
    }
}

/// Why a result was not captured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaptureError {
    /// fleetlr could not write it (directory read-only or full): worth fetching again later.
    #[error("{0}")]
    Local(String),
    /// The service gave no link; `lasting` when asking again would get the same answer.
    #[error("getting the result link: {message}")]
    Link { message: String, lasting: bool },
    /// The download itself failed.
    #[error("{0}")]
    Download(String),
}

impl CaptureError {
    /// Whether the failure was fleetlr's own storage, so the result can be fetched again.
    pub fn is_local(&self) -> bool {
        matches!(self, Self::Local(_))
    }
}

/// The artifact file name of a command's result; `None` for PutFile, which has none.
pub fn artifact_name(command: &Command) -> Option<String> {
    match command {
        Command::RunScript { script_name, .. } => Some(format!("{script_name}.transcript.json")),
        Command::GetFile { path } => Some(format!("{}.gz", sanitise(path))),
        Command::PutFile { .. } => None,
    }
}

/// Where one result goes and how it is read.
#[derive(Debug, Clone, Copy)]
pub struct ResultSpot<'a> {
    pub run_id: &'a str,
    pub device_id: &'a str,
    pub action_id: &'a str,
    pub call: u32,
    pub index: u32,
    /// From [`artifact_name`].
    pub name: &'a str,
    /// A RunScript transcript, parsed for the exit code and an output preview.
    pub transcript: bool,
}

/// Downloads the result of command `index` of `action_id` into `root`.
#[allow(clippy::too_many_arguments)] // reason: each is one coordinate of the artifact; a struct would only rename them
pub async fn capture(
    client: &DefenderClient,
    budget: &ApiBudget,
    root: &Path,
    run_id: &str,
    device_id: &str,
    action_id: &str,
    call: u32,
    index: u32,
    command: &Command,
) -> Result<Evidence, CaptureError> {
    let Some(name) = artifact_name(command) else {
        return Ok(Evidence::default());
    };
    let spot = ResultSpot {
        run_id,
        device_id,
        action_id,
        call,
        index,
        name: &name,
        transcript: matches!(command, Command::RunScript { .. }),
    };
    fetch(client, budget, root, &spot).await
}

/// Downloads one result (a fresh link each attempt) to its place under `root`.
pub async fn fetch(
    client: &DefenderClient,
    budget: &ApiBudget,
    root: &Path,
    spot: &ResultSpot<'_>,
) -> Result<Evidence, CaptureError> {
    let relative = relative_path(
        spot.run_id,
        spot.device_id,
        spot.call,
        spot.index,
        spot.name,
    );
    let target = root.join(&relative);
    let dir = target
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| root.to_path_buf());
    // Messages name the file inside the artifact directory: they are recorded and shown to
    // API callers, who have no business knowing where the daemon keeps its data.
    let shown = format!("artifacts/{relative}");
    tokio::fs::create_dir_all(&dir).await.map_err(|err| {
        let shown_dir = shown.rsplit_once('/').map_or(shown.as_str(), |(d, _)| d);
        CaptureError::Local(format!("creating artifact directory {shown_dir}: {err}"))
    })?;
    let mut last_error = CaptureError::Download(String::new());
    for _ in 0..DOWNLOAD_ATTEMPTS {
        // A fresh link each attempt: an old one may have expired.
        let link = budget
            .call("machineactions.resultlink", || {
                client.live_response_result_link(spot.action_id, spot.index)
            })
            .await
            .map_err(|err| CaptureError::Link {
                message: err.to_string(),
                lasting: !err.is_transient() && !err.is_rate_limited(),
            })?;
        match download(client, &link, &target, &shown).await {
            Ok((bytes, sha256)) => {
                crate::metrics::result_bytes(budget.tenant(), bytes);
                let mut evidence = Evidence {
                    path: relative,
                    sha256,
                    bytes,
                    ..Evidence::default()
                };
                if spot.transcript && bytes <= MAX_TRANSCRIPT_PARSE_BYTES {
                    summarise_transcript(&target, &mut evidence).await;
                }
                return Ok(evidence);
            }
            // The disk does not get better by downloading again at once.
            Err(err @ CaptureError::Local(_)) => return Err(err),
            Err(err) => last_error = err,
        }
    }
    Err(last_error)
}

/// Streams to a temporary file beside `target`, then renames: a crash never leaves a partial
/// file under the final name.
async fn download(
    client: &DefenderClient,
    link: &str,
    target: &PathBuf,
    shown: &str,
) -> Result<(u64, String), CaptureError> {
    let partial = target.with_extension("partial");
    let file = tokio::fs::File::create(&partial)
        .await
        .map_err(|err| CaptureError::Local(format!("creating {shown} (partial): {err}")))?;
    let result = client
        .download_result(link, tokio::io::BufWriter::new(file), ResultEncoding::AsIs)
        .await;
    match result {
        Ok(download) => {
            tokio::fs::rename(&partial, target)
                .await
                .map_err(|err| CaptureError::Local(format!("storing {shown}: {err}")))?;
            Ok((download.bytes, download.sha256))
        }
        Err(err) => {
            let _ = tokio::fs::remove_file(&partial).await;
            if matches!(err.kind(), fleetlr_defender::ErrorKind::Write(_)) {
                Err(CaptureError::Local(format!("writing {shown}: {err}")))
            } else {
                Err(CaptureError::Download(format!(
                    "downloading the result: {err}"
                )))
            }
        }
    }
}

async fn summarise_transcript(path: &Path, evidence: &mut Evidence) {
    let Ok(bytes) = tokio::fs::read(path).await else {
        return;
    };
    let Ok(transcript) = serde_json::from_slice::<ScriptTranscript>(&bytes) else {
        evidence.output_preview = Some("(the transcript is not the JSON the API documents)".into());
        return;
    };
    evidence.exit_code = transcript.exit_code;
    let mut preview = transcript.script_output.unwrap_or_default();
    if let Some(errors) = transcript.script_errors.filter(|e| !e.is_empty()) {
        preview.push_str("\n[stderr]\n");
        preview.push_str(&errors);
    }
    evidence.output_preview = Some(preview.chars().take(OUTPUT_PREVIEW_CHARS).collect());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_paths_never_leave_the_run_directory() {
        for hostile in [
            "../../etc/passwd",
            "C:\\Windows\\..\\..\\x",
            "..",
            "/",
            "....//a",
            ".hidden",
        ] {
            let relative = relative_path("run", "dev", 0, 1, hostile);
            assert!(!relative.contains(".."), "{hostile} -> {relative}");
            assert!(
                relative.starts_with("run/dev/c0-1-"),
                "{hostile} -> {relative}"
            );
            assert_eq!(relative.matches('/').count(), 2, "{hostile} -> {relative}");
        }
        assert_eq!(sanitise("C:\\triage\\out put.zip"), "out_put.zip");
        assert_eq!(sanitise(""), "result");
    }
}
