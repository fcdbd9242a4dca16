//! Streaming result downloads: from the signed link straight to a writer, hashed on the way,
//! optionally gunzipped, so a multi-GB GetFile never sits in memory.

use crate::client::{DefenderClient, check, describe_chain, network};
use crate::error::Error;
use crate::models::ErrorKind;
use async_compression::tokio::bufread::GzipDecoder;
use futures::TryStreamExt;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_util::io::StreamReader;

/// How to write a result's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultEncoding {
    /// As downloaded (RunScript transcripts are plain JSON).
    AsIs,
    /// Gunzipped on the fly (GetFile results arrive gzipped, named `*.gz`).
    Gunzip,
}

/// What a download wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Download {
    /// Bytes written (after gunzip, when asked for).
    pub bytes: u64,
    /// SHA-256 of the bytes written, lower-case hex.
    pub sha256: String,
    /// The file name from `Content-Disposition`, without any directory part, and without
    /// `.gz` when gunzipped.
    pub file_name: Option<String>,
}

/// Read size: large enough for throughput, small enough that memory stays flat.
const CHUNK: usize = 64 * 1024;

const CONTEXT: &str = "result download";

impl DefenderClient {
    /// Streams a result link (from [`Self::live_response_result_link`]) to `writer`. The link
    /// carries its own signature, so no bearer token is sent, and the link is never logged or
    /// put in an error. Memory use does not grow with the result's size.
    pub async fn download_result<W: AsyncWrite + Unpin>(
        &self,
        url: &str,
        mut writer: W,
        encoding: ResultEncoding,
    ) -> Result<Download, Error> {
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|err| network(CONTEXT, err))?;
        let response = check(CONTEXT, response).await?;
        let status = response.status().as_u16();
        let file_name = response
            .headers()
            .get(reqwest::header::CONTENT_DISPOSITION)
            .and_then(|value| value.to_str().ok())
            .and_then(content_disposition_file_name)
            .map(|name| match encoding {
                ResultEncoding::Gunzip => strip_gz(name),
                ResultEncoding::AsIs => name,
            });
        let body = StreamReader::new(
            response
                .bytes_stream()
                .map_err(|err| std::io::Error::other(err.without_url())),
        );
        let reader: Box<dyn AsyncRead + Unpin + Send> = match encoding {
            ResultEncoding::AsIs => Box::new(body),
            ResultEncoding::Gunzip => {
                let mut decoder = GzipDecoder::new(body);
                // `gzip` tools accept concatenated members; so do we.
                decoder.multiple_members(true);
                Box::new(decoder)
            }
        };
        let (bytes, sha256) = copy_hashed(reader, &mut writer, status).await?;
        Ok(Download {
            bytes,
            sha256,
            file_name,
        })
    }
}

/// Copies `reader` to `writer`, hashing what passes. A failure of the connection is a network
/// error (transient); bytes that do not gunzip are a decode error; the writer's own failure is
/// a write error.
async fn copy_hashed(
    mut reader: impl AsyncRead + Unpin,
    writer: &mut (impl AsyncWrite + Unpin),
    status: u16,
) -> Result<(u64, String), Error> {
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; CHUNK];
    let mut bytes = 0u64;
    loop {
        let n = reader
            .read(&mut buffer)
            .await
            .map_err(|err| read_error(err, status))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        writer
            .write_all(&buffer[..n])
            .await
            .map_err(|err| Error::new(CONTEXT, ErrorKind::Write(err)))?;
        bytes += n as u64;
    }
    writer
        .flush()
        .await
        .map_err(|err| Error::new(CONTEXT, ErrorKind::Write(err)))?;
    Ok((bytes, format!("{:x}", hasher.finalize())))
}

fn read_error(err: std::io::Error, status: u16) -> Error {
    let from_network = err
        .get_ref()
        .is_some_and(|inner| inner.is::<reqwest::Error>());
    let kind = if from_network {
        ErrorKind::Network(describe_chain(&err))
    } else {
        ErrorKind::Decode {
            status,
            message: format!("the result is not valid gzip: {err}"),
            snippet: String::new(),
        }
    };
    Error::new(CONTEXT, kind)
}

/// The file name of a `Content-Disposition` value: `filename*=UTF-8''…` (RFC 6266) over
/// `filename=…`, quoted or not; any directory part removed so it is safe to use as a name.
fn content_disposition_file_name(value: &str) -> Option<String> {
    let mut plain = None;
    let mut extended = None;
    for param in value.split(';').map(str::trim) {
        let Some((key, raw)) = param.split_once('=') else {
            continue;
        };
        match key.trim().to_ascii_lowercase().as_str() {
            "filename" => plain = Some(raw.trim().trim_matches('"').to_owned()),
            "filename*" => {
                extended = raw.trim().split_once("''").map(|(_charset, encoded)| {
                    url::form_urlencoded::parse(format!("n={encoded}").as_bytes())
                        .map(|(_, v)| v.into_owned())
                        .next()
                        .unwrap_or_default()
                })
            }
            _ => {}
        }
    }
    let name = extended.or(plain)?;
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    (!base.is_empty() && base != "." && base != "..").then(|| base.to_owned())
}

fn strip_gz(name: String) -> String {
    let len = name.len();
    if len > 3 && name.is_char_boundary(len - 3) && name[len - 3..].eq_ignore_ascii_case(".gz") {
        name[..len - 3].to_owned()
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use std::io::Write;

    #[test]
    fn file_names_come_from_content_disposition() {
        let name = content_disposition_file_name;
        assert_eq!(
            name("attachment; filename=triage.zip.gz").as_deref(),
            Some("triage.zip.gz")
        );
        assert_eq!(
            name(r#"attachment; filename="a b.gz""#).as_deref(),
            Some("a b.gz")
        );
        assert_eq!(
            name(r#"attachment; filename="fallback.gz"; filename*=UTF-8''r%C3%A9sum%C3%A9.txt.gz"#)
                .as_deref(),
            Some("résumé.txt.gz")
        );
        assert_eq!(
            name(r#"attachment; filename="C:\\Temp\\x.dmp.gz""#).as_deref(),
            Some("x.dmp.gz")
        );
        assert_eq!(
            name("attachment; filename=../../etc/passwd").as_deref(),
            Some("passwd")
        );
        assert_eq!(name("attachment; filename=..").as_deref(), None);
        assert_eq!(name("attachment").as_deref(), None);
        assert_eq!(strip_gz("x.zip.gz".into()), "x.zip");
        assert_eq!(strip_gz("X.GZ".into()), "X");
        assert_eq!(strip_gz("plain.json".into()), "plain.json");
        assert_eq!(strip_gz(".gz".into()), ".gz");
    }

    #[tokio::test]
    async fn copies_are_hashed_and_gunzipped_in_chunks() {
        let content: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
        gz.write_all(&content).expect("compress");
        let compressed = gz.finish().expect("compress");

        let decoder = GzipDecoder::new(tokio::io::BufReader::new(compressed.as_slice()));
        let mut out = Vec::new();
        let (bytes, sha256) = copy_hashed(decoder, &mut out, 200).await.expect("copy");
        assert_eq!(
            (bytes, out.as_slice()),
            (content.len() as u64, content.as_slice())
        );
        assert_eq!(sha256, format!("{:x}", Sha256::digest(&content)));

        let not_gzip = GzipDecoder::new(tokio::io::BufReader::new(&b"plain text"[..]));
        let err = copy_hashed(not_gzip, &mut Vec::new(), 200)
            .await
            .expect_err("not gzip");
        assert!(
            matches!(err.kind(), ErrorKind::Decode { .. }) && !err.is_transient(),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_failing_writer_is_a_write_error() {
        struct Full;
        impl AsyncWrite for Full {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                _: &mut std::task::Context<'_>,
                _: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                std::task::Poll::Ready(Err(std::io::Error::other("disk full")))
            }
            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                _: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::task::Poll::Ready(Ok(()))
            }
            fn poll_shutdown(
                self: std::pin::Pin<&mut Self>,
                _: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::task::Poll::Ready(Ok(()))
            }
        }
        let err = copy_hashed(&b"data"[..], &mut Full, 200)
            .await
            .expect_err("disk full");
        assert_eq!(
            err.to_string(),
            "result download: writing the download: disk full"
        );
    }
}
