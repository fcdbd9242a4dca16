//! The blob store behind result links: no bearer token, a signature and an expiry instead, as
//! with an Azure Storage SAS URL. GetFile results are gzip; RunScript results are JSON.

use super::AppState;
use crate::actions::CommandResult;
use crate::scenario::mix;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use flate2::Compression;
use flate2::write::GzEncoder;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::HashMap;
use std::io::Write;

/// Generated file content is produced and compressed in chunks of this size.
const CHUNK: usize = 64 * 1024;

pub async fn download(
    State(state): State<AppState>,
    Path((action_id, index)): Path<(String, usize)>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let world = state.world();
    let (Some(se), Some(sig)) = (query.get("se"), query.get("sig")) else {
        return storage_error("AuthenticationFailed", "Signature fields not well formed");
    };
    if world.sign(&format!("{action_id}/{index}/{se}")) != *sig {
        return storage_error("AuthenticationFailed", "Signature did not match");
    }
    let expired =
        DateTime::parse_from_rfc3339(se).map_or(true, |se| world.now() > se.with_timezone(&Utc));
    if expired {
        return storage_error(
            "AuthenticationFailed",
            "Signed expiry time has passed: signature not valid in the specified time frame",
        );
    }
    let action = world.action_index(&action_id).map(|i| &world.actions[i]);
    let result = action
        .and_then(|a| a.commands.get(index))
        .and_then(|c| c.result.clone());
    // A file's bytes belong to the device and path, as on a real disk: collecting the same
    // file twice gives the same content, whichever action fetched it.
    let device = action.map_or("", |a| world.devices[a.device].id.as_str());
    let file_key = match &result {
        Some(CommandResult::File { path, .. }) => format!("{device}/{path}"),
        _ => format!("{action_id}/{index}"),
    };
    let seed = mix(world.seed, &file_key);
    drop(world);
    match result {
        Some(CommandResult::Transcript { script_name, exit_code, output, errors }) => (
            [(header::CONTENT_TYPE, "application/json")],
            axum::Json(serde_json::json!({
                "script_name": script_name,
                "exit_code": exit_code,
                "script_output": output,
                "script_errors": errors,
            })),
        )
            .into_response(),
        Some(CommandResult::File { path, size }) => {
            let base = path.rsplit(['\\', '/']).next().unwrap_or("file");
            let disposition = format!("attachment; filename=\"{}.gz\"", base.replace('"', ""));
            (
                [
                    (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
                    (header::CONTENT_DISPOSITION, disposition),
                ],
                Body::from_stream(gzip_stream(seed, size)),
            )
                .into_response()
        }
        None => (StatusCode::NOT_FOUND, "<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>BlobNotFound</Code><Message>The specified blob does not exist.</Message></Error>").into_response(),
    }
}

fn storage_error(code: &str, message: &str) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>{code}</Code><Message>{message}</Message></Error>"
    );
    (
        StatusCode::FORBIDDEN,
        [(header::CONTENT_TYPE, "application/xml")],
        body,
    )
        .into_response()
}

/// Deterministic pseudo-random content of `size` bytes, gzip-wrapped as it is produced, so memory
/// stays flat whatever the size.
pub fn gzip_stream(
    seed: u64,
    size: u64,
) -> impl futures::Stream<Item = Result<bytes::Bytes, std::io::Error>> {
    struct State {
        rng: ChaCha8Rng,
        encoder: Option<GzEncoder<Vec<u8>>>,
        remaining: u64,
        buffer: Vec<u8>,
    }
    let state = State {
        rng: ChaCha8Rng::seed_from_u64(seed),
        // Random bytes do not compress; storing them is honest gzip and costs no CPU.
        encoder: Some(GzEncoder::new(
            Vec::with_capacity(CHUNK * 2),
            Compression::none(),
        )),
        remaining: size,
        buffer: vec![0; CHUNK],
    };
    futures::stream::try_unfold(state, |mut state| async move {
        let Some(encoder) = state.encoder.as_mut() else {
            return Ok(None);
        };
        if state.remaining == 0 {
            let Some(encoder) = state.encoder.take() else {
                return Ok(None);
            };
            let tail = encoder.finish()?;
            return Ok(Some((bytes::Bytes::from(tail), state)));
        }
        let n = state.remaining.min(CHUNK as u64) as usize;
        state.rng.fill_bytes(&mut state.buffer[..n]);
        encoder.write_all(&state.buffer[..n])?;
        state.remaining -= n as u64;
        let out = std::mem::take(encoder.get_mut());
        Ok(Some((bytes::Bytes::from(out), state)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::TryStreamExt;
    use std::io::Read;

    #[tokio::test]
    async fn generated_files_are_valid_gzip_of_the_requested_size() {
        let chunks: Vec<bytes::Bytes> =
            gzip_stream(7, 200_000).try_collect().await.expect("stream");
        let compressed: Vec<u8> = chunks.concat();
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(&compressed[..])
            .read_to_end(&mut plain)
            .expect("valid gzip");
        assert_eq!(plain.len(), 200_000);
        let again: Vec<bytes::Bytes> = gzip_stream(7, 200_000).try_collect().await.expect("stream");
        assert_eq!(
            again.concat(),
            compressed,
            "content is deterministic for a seed"
        );
    }
}
