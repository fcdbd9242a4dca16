//! The API calls.

use crate::auth::{AzureTokenSource, Credential, TokenSource};
use crate::cloud::Cloud;
use crate::error::{Error, ErrorKind, classify};
use crate::models::{LibraryFile, LiveResponseRequest, Machine, MachineAction, Page};
use crate::odata::{self, ODataQuery};
use futures::TryStreamExt;
use reqwest::{Method, StatusCode};
use secrecy::ExposeSecret;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Scope of app tokens for the Defender API (the legacy resource works for every host).
pub const DEFAULT_SCOPE: &str = "https://api.securitycenter.microsoft.com/.default";

/// Everything needed to reach a tenant.
#[derive(Debug)]
pub struct ClientConfig {
    pub cloud: Cloud,
    pub tenant_id: String,
    pub client_id: String,
    pub credential: Credential,
    pub scope: String,
    /// PEM of an extra CA to trust besides the system's (a TLS-inspecting proxy, or the simulator).
    pub extra_ca_pem: Option<String>,
    pub timeout: Duration,
}

/// A library file to upload.
#[derive(Debug, Clone, Default)]
pub struct LibraryUpload {
    pub file_name: String,
    pub content: Vec<u8>,
    pub description: Option<String>,
    pub parameters_description: Option<String>,
    pub has_parameters: bool,
    pub override_if_exists: bool,
}

/// What a download wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Download {
    pub bytes: u64,
    /// SHA-256 of the bytes written (after gunzip, when asked for).
    pub sha256: String,
    /// The name from `Content-Disposition`, without a `.gz` when gunzipped.
    pub file_name: Option<String>,
}

#[derive(Clone)]
pub struct DefenderClient {
    http: reqwest::Client,
    api_base: String,
    tokens: Arc<dyn TokenSource>,
}

/// Ids per `id in (...)` poll: keeps URLs well under common length limits.
const IDS_PER_POLL: usize = 50;

impl DefenderClient {
    pub fn new(config: ClientConfig) -> Result<Self, Error> {
        let http = https_client(config.extra_ca_pem.as_deref(), config.timeout)?;
        let tokens = AzureTokenSource::new(
            &config.tenant_id,
            &config.client_id,
            config.credential,
            &config.cloud.authority_host(),
            &config.scope,
            http.clone(),
        )?;
        Ok(Self::with_token_source(
            http,
            config.cloud.api_base(),
            Arc::new(tokens),
        ))
    }

    pub fn with_token_source(
        http: reqwest::Client,
        api_base: String,
        tokens: Arc<dyn TokenSource>,
    ) -> Self {
        Self {
            http,
            api_base,
            tokens,
        }
    }

    /// `POST /api/machines/{id}/runliveresponse`.
    pub async fn run_live_response(
        &self,
        machine_id: &str,
        request: &LiveResponseRequest,
    ) -> Result<MachineAction, Error> {
        let path = format!("/api/machines/{}/runliveresponse", segment(machine_id));
        self.json(Method::POST, "runliveresponse", &path, &[], Some(request))
            .await
    }

    pub async fn machine_action(&self, id: &str) -> Result<MachineAction, Error> {
        self.json::<_, ()>(
            Method::GET,
            "machineactions.get",
            &format!("/api/machineactions/{}", segment(id)),
            &[],
            None,
        )
        .await
    }

    /// Every action the query selects, following `@odata.nextLink`.
    pub async fn machine_actions(&self, query: &ODataQuery) -> Result<Vec<MachineAction>, Error> {
        self.collect("machineactions.list", "/api/machineactions", query)
            .await
    }

    /// The actions with these ids, polled in batches with `id in (...)`.
    pub async fn machine_actions_by_ids(&self, ids: &[&str]) -> Result<Vec<MachineAction>, Error> {
        let mut actions = Vec::with_capacity(ids.len());
        for batch in ids.chunks(IDS_PER_POLL) {
            let query = ODataQuery::filter(odata::is_in("id", batch.iter().copied()));
            actions.extend(self.machine_actions(&query).await?);
        }
        Ok(actions)
    }

    /// A short-lived (30 minute) link to a command's result.
    pub async fn result_link(&self, action_id: &str, index: u32) -> Result<String, Error> {
        #[derive(serde::Deserialize)]
        struct Link {
            value: String,
        }
        let path = format!(
            "/api/machineactions/{}/GetLiveResponseResultDownloadLink(index={index})",
            segment(action_id)
        );
        let link: Link = self
            .json::<_, ()>(Method::GET, "machineactions.resultlink", &path, &[], None)
            .await?;
        Ok(link.value)
    }

    /// Streams a result link to `writer` (no bearer token: the link carries its own signature),
    /// gunzipping on the way when `gunzip` (GetFile results are gzip). Memory stays flat.
    pub async fn download(
        &self,
        url: &str,
        writer: &mut (impl AsyncWrite + Unpin),
        gunzip: bool,
    ) -> Result<Download, Error> {
        let endpoint = "download";
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|err| network(endpoint, &err))?;
        let response = check(endpoint, response).await?;
        let file_name = response
            .headers()
            .get(reqwest::header::CONTENT_DISPOSITION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split("filename=").nth(1))
            .map(|name| name.trim_matches('"').to_owned())
            .map(|name| {
                if gunzip {
                    name.strip_suffix(".gz").map(str::to_owned).unwrap_or(name)
                } else {
                    name
                }
            });
        let body = tokio_util::io::StreamReader::new(
            response.bytes_stream().map_err(std::io::Error::other),
        );
        let mut reader: Box<dyn AsyncRead + Unpin + Send> = if gunzip {
            Box::new(async_compression::tokio::bufread::GzipDecoder::new(body))
        } else {
            Box::new(body)
        };
        let mut hasher = Sha256::new();
        let mut buffer = vec![0u8; 64 * 1024];
        let mut bytes = 0u64;
        loop {
            let n = reader.read(&mut buffer).await.map_err(|err| {
                Error::new(
                    endpoint,
                    ErrorKind::Transient {
                        status: None,
                        message: format!("reading the result: {err}"),
                    },
                )
            })?;
            if n == 0 {
                break;
            }
            hasher.update(&buffer[..n]);
            writer
                .write_all(&buffer[..n])
                .await
                .map_err(|err| Error::new(endpoint, ErrorKind::Write(err)))?;
            bytes += n as u64;
        }
        writer
            .flush()
            .await
            .map_err(|err| Error::new(endpoint, ErrorKind::Write(err)))?;
        let sha256 = hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(Download {
            bytes,
            sha256,
            file_name,
        })
    }

    pub async fn cancel(&self, action_id: &str, comment: &str) -> Result<MachineAction, Error> {
        let path = format!("/api/machineactions/{}/cancel", segment(action_id));
        let body = serde_json::json!({ "Comment": comment });
        self.json(
            Method::POST,
            "machineactions.cancel",
            &path,
            &[],
            Some(&body),
        )
        .await
    }

    /// Devices the query selects; none at all is an empty list (the API answers 404 then).
    pub async fn machines(&self, query: &ODataQuery) -> Result<Vec<Machine>, Error> {
        match self.collect("machines.list", "/api/machines", query).await {
            Err(err) if err.is_not_found() => Ok(Vec::new()),
            other => other,
        }
    }

    /// A device by id or computer name.
    pub async fn machine(&self, id_or_name: &str) -> Result<Machine, Error> {
        self.json::<_, ()>(
            Method::GET,
            "machines.get",
            &format!("/api/machines/{}", segment(id_or_name)),
            &[],
            None,
        )
        .await
    }

    pub async fn isolate(
        &self,
        machine_id: &str,
        comment: &str,
        isolation_type: &str,
    ) -> Result<MachineAction, Error> {
        let body = serde_json::json!({ "Comment": comment, "IsolationType": isolation_type });
        self.json(
            Method::POST,
            "isolate",
            &format!("/api/machines/{}/isolate", segment(machine_id)),
            &[],
            Some(&body),
        )
        .await
    }

    pub async fn unisolate(&self, machine_id: &str, comment: &str) -> Result<MachineAction, Error> {
        let body = serde_json::json!({ "Comment": comment });
        self.json(
            Method::POST,
            "unisolate",
            &format!("/api/machines/{}/unisolate", segment(machine_id)),
            &[],
            Some(&body),
        )
        .await
    }

    pub async fn library_files(&self) -> Result<Vec<LibraryFile>, Error> {
        self.collect(
            "libraryfiles.list",
            "/api/libraryfiles",
            &ODataQuery::default(),
        )
        .await
    }

    /// Multipart upload as real clients send it: a `file` part named by its file name.
    pub async fn upload_library_file(&self, upload: &LibraryUpload) -> Result<LibraryFile, Error> {
        let endpoint = "libraryfiles.upload";
        let url = format!("{}/api/libraryfiles", self.api_base);
        let form = || {
            let part = reqwest::multipart::Part::bytes(upload.content.clone())
                .file_name(upload.file_name.clone());
            let mut form = reqwest::multipart::Form::new()
                .part("file", part)
                .text("HasParameters", upload.has_parameters.to_string())
                .text("OverrideIfExists", upload.override_if_exists.to_string());
            if let Some(description) = &upload.description {
                form = form.text("Description", description.clone());
            }
            if let Some(description) = &upload.parameters_description {
                form = form.text("ParametersDescription", description.clone());
            }
            form
        };
        let response = self
            .send(endpoint, |http| http.post(&url).multipart(form()))
            .await?;
        decode(endpoint, response).await
    }

    pub async fn delete_library_file(&self, file_name: &str) -> Result<(), Error> {
        let endpoint = "libraryfiles.delete";
        let url = format!("{}/api/libraryfiles/{}", self.api_base, segment(file_name));
        self.send(endpoint, |http| http.delete(&url))
            .await
            .map(drop)
    }

    /// Sends with a bearer token; on 401 once more with a fresh token; errors classified.
    async fn send(
        &self,
        endpoint: &str,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, Error> {
        for fresh in [false, true] {
            let token = self.tokens.token(fresh).await?;
            let response = build(&self.http)
                .bearer_auth(token.expose_secret())
                .send()
                .await
                .map_err(|err| network(endpoint, &err))?;
            if response.status() == StatusCode::UNAUTHORIZED && !fresh {
                tracing::debug!(
                    endpoint,
                    "API answered 401; retrying once with a fresh token."
                );
                continue;
            }
            return check(endpoint, response).await;
        }
        unreachable!("the loop returns on its second pass")
    }

    async fn json<T: DeserializeOwned, B: serde::Serialize>(
        &self,
        method: Method,
        endpoint: &str,
        path: &str,
        query: &[(&str, String)],
        body: Option<&B>,
    ) -> Result<T, Error> {
        let url = format!("{}{path}", self.api_base);
        let response = self
            .send(endpoint, |http| {
                let request = http.request(method.clone(), &url).query(query);
                match body {
                    Some(body) => request.json(body),
                    None => request,
                }
            })
            .await?;
        decode(endpoint, response).await
    }

    async fn collect<T: DeserializeOwned>(
        &self,
        endpoint: &str,
        path: &str,
        query: &ODataQuery,
    ) -> Result<Vec<T>, Error> {
        let mut items = Vec::new();
        let mut page: Page<T> = self
            .json::<_, ()>(Method::GET, endpoint, path, &query.pairs(), None)
            .await?;
        loop {
            items.append(&mut page.value);
            let Some(next) = page.next_link.take() else {
                return Ok(items);
            };
            let response = self.send(endpoint, |http| http.get(&next)).await?;
            page = decode(endpoint, response).await?;
        }
    }
}

/// Escapes a value used as one path segment.
fn segment(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

fn network(endpoint: &str, err: &reqwest::Error) -> Error {
    Error::new(
        endpoint,
        ErrorKind::Transient {
            status: None,
            message: format!("{err}"),
        },
    )
}

async fn check(endpoint: &str, response: reqwest::Response) -> Result<reqwest::Response, Error> {
    if response.status().is_success() {
        return Ok(response);
    }
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = response.bytes().await.unwrap_or_default();
    Err(Error::new(
        endpoint,
        classify(status, retry_after.as_deref(), &body),
    ))
}

async fn decode<T: DeserializeOwned>(
    endpoint: &str,
    response: reqwest::Response,
) -> Result<T, Error> {
    let status = response.status().as_u16();
    let body = response
        .bytes()
        .await
        .map_err(|err| network(endpoint, &err))?;
    serde_json::from_slice(&body).map_err(|err| {
        let snippet = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
        Error::new(
            endpoint,
            ErrorKind::Decode {
                status,
                message: err.to_string(),
                snippet,
            },
        )
    })
}

/// One HTTPS client (rustls with ring) trusting the system roots plus an optional extra CA.
fn https_client(extra_ca_pem: Option<&str>, timeout: Duration) -> Result<reqwest::Client, Error> {
    use rustls::pki_types::{CertificateDer, pem::PemObject};
    let config_error = |message: String| Error::new("client", ErrorKind::Config(message));
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        // A malformed system certificate should not stop fleetlr trusting the others.
        let _ = roots.add(cert);
    }
    if let Some(pem) = extra_ca_pem {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem.as_bytes())
            .collect::<Result<_, _>>()
            .map_err(|err| config_error(format!("extra CA is not PEM: {err}")))?;
        if certs.is_empty() {
            return Err(config_error("extra CA PEM holds no certificate".into()));
        }
        for cert in certs {
            roots
                .add(cert)
                .map_err(|err| config_error(format!("extra CA certificate rejected: {err}")))?;
        }
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|err| config_error(format!("TLS versions: {err}")))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(10))
        .build()
        .map_err(|err| config_error(format!("building the HTTPS client: {err}")))
}
