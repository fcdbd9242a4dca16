//! The client and its API calls. Every call goes through `send`: a bearer token, one retry
//! with a fresh token on 401, and errors classified. Nothing else is retried.

use crate::Cloud;
use crate::auth::{AzureTokenSource, Credential, TokenSource};
use crate::chunked::Chunks;
use crate::error::Error;
use crate::models::{
    ErrorKind, IsolationType, LibraryFile, LibraryUpload, LiveResponseRequest, Machine,
    MachineAction, ODataPage, ODataValue, SNIPPET_BYTES, TokenError, classify, snippet,
};
use crate::odata::{Filter, ODataQuery};
use crate::tls::https_client;
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// Scope of app tokens for the Defender API. The legacy resource is what the docs use for
/// every host; whether `https://api.security.microsoft.com/.default` works is unconfirmed.
pub const DEFAULT_SCOPE: &str = "https://api.securitycenter.microsoft.com/.default";

/// How long an API call (not a result download) may take in total, by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Ids per `id in (...)` poll: keeps URLs well under common length limits.
const IDS_PER_POLL: usize = 50;

/// Everything needed to reach a tenant. `Debug` never shows the credential.
#[derive(Debug)]
pub struct ClientConfig {
    /// Where the API and the sign-in endpoint are.
    pub cloud: Cloud,
    /// The Entra ID tenant (directory) id.
    pub tenant_id: String,
    /// The app (client) id.
    pub client_id: String,
    /// The app's secret or certificate.
    pub credential: Credential,
    /// The token scope; [`DEFAULT_SCOPE`] unless the tenant needs another (government clouds
    /// may: Microsoft does not document theirs).
    pub scope: String,
    /// PEM of extra CA certificates to trust besides the system's (a TLS-inspecting proxy, or
    /// the simulator's CA).
    pub extra_ca_pem: Option<String>,
    /// How long an API call may take in total, and a result download may wait for data.
    pub timeout: Duration,
}

impl ClientConfig {
    /// A configuration with the default scope and timeout and no extra CA.
    pub fn new(
        cloud: Cloud,
        tenant_id: impl Into<String>,
        client_id: impl Into<String>,
        credential: Credential,
    ) -> Self {
        Self {
            cloud,
            tenant_id: tenant_id.into(),
            client_id: client_id.into(),
            credential,
            scope: DEFAULT_SCOPE.to_owned(),
            extra_ca_pem: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// The Defender for Endpoint API client. Cheap to clone; clones share the HTTPS connections
/// and the token cache.
#[derive(Clone)]
pub struct DefenderClient {
    pub(crate) http: reqwest::Client,
    /// The API base without a trailing slash, for building URLs.
    api_base: String,
    /// The same, parsed, to compare origins of `@odata.nextLink`.
    api_origin: url::Origin,
    tokens: Arc<dyn TokenSource>,
    timeout: Duration,
}

impl std::fmt::Debug for DefenderClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DefenderClient")
            .field("api_base", &self.api_base)
            .finish_non_exhaustive()
    }
}

impl DefenderClient {
    /// A client signing in through `azure_identity` with the configured credential, over one
    /// HTTPS client that trusts the system roots plus `extra_ca_pem`.
    pub fn new(config: ClientConfig) -> Result<Self, Error> {
        let http = https_client(config.extra_ca_pem.as_deref(), config.timeout)?;
        let tokens = AzureTokenSource::new(
            &config.tenant_id,
            &config.client_id,
            config.credential,
            &config.cloud.authority_host(),
            &config.scope,
            http.clone(),
        )
        .map_err(|err| Error::new("credential", ErrorKind::Token(err)))?;
        Self::with_token_source(
            http,
            &config.cloud.api_base(),
            Arc::new(tokens),
            config.timeout,
        )
    }

    /// A client with its own token source (another identity flow, or tests), over `http`
    /// (see [`crate::https_client`]).
    pub fn with_token_source(
        http: reqwest::Client,
        api_base: &str,
        tokens: Arc<dyn TokenSource>,
        timeout: Duration,
    ) -> Result<Self, Error> {
        let api_base = api_base.trim_end_matches('/').to_owned();
        let parsed = Url::parse(&api_base).map_err(|err| {
            Error::new(
                "api base",
                ErrorKind::Config(format!("`{api_base}` is not a URL: {err}")),
            )
        })?;
        if !matches!(parsed.scheme(), "https" | "http") || parsed.query().is_some() {
            return Err(Error::new(
                "api base",
                ErrorKind::Config(format!("`{api_base}` is not an http(s) base URL")),
            ));
        }
        Ok(Self {
            http,
            api_origin: parsed.origin(),
            api_base,
            tokens,
            timeout,
        })
    }

    /// The API base URL the client calls.
    pub fn api_base(&self) -> &str {
        &self.api_base
    }

    /// Starts a live response action (`POST /api/machines/{id}/runliveresponse`). The service
    /// answers 201 (older docs: 200); both are success.
    pub async fn run_live_response(
        &self,
        machine_id: &str,
        request: &LiveResponseRequest,
    ) -> Result<MachineAction, Error> {
        let context = format!("machine {machine_id}: live response");
        let path = format!("/api/machines/{}/runliveresponse", segment(machine_id));
        self.post_json(&context, &path, request).await
    }

    /// One machine action (`GET /api/machineactions/{id}`).
    pub async fn get_machine_action(&self, action_id: &str) -> Result<MachineAction, Error> {
        let context = format!("machine action {action_id}");
        let path = format!("/api/machineactions/{}", segment(action_id));
        self.get_json(&context, &path, &[]).await
    }

    /// One page of machine actions (`GET /api/machineactions`); see [`Self::next_page`].
    pub async fn list_machine_actions(
        &self,
        query: &ODataQuery,
    ) -> Result<ODataPage<MachineAction>, Error> {
        self.get_json("machine actions", "/api/machineactions", &query.pairs())
            .await
    }

    /// Every machine action the query selects, following `@odata.nextLink`.
    pub async fn list_all_machine_actions(
        &self,
        query: &ODataQuery,
    ) -> Result<Vec<MachineAction>, Error> {
        let first = self.list_machine_actions(query).await?;
        self.collect_pages("machine actions", first, std::convert::identity)
            .await
    }

    /// The actions with these ids, polled with `id in (...)` in batches (one call per batch
    /// and page). Ids the service does not know are simply absent from the result.
    pub async fn machine_actions_by_ids<S: AsRef<str>>(
        &self,
        ids: &[S],
    ) -> Result<Vec<MachineAction>, Error> {
        let mut actions = Vec::with_capacity(ids.len());
        for batch in ids.chunks(IDS_PER_POLL) {
            let filter = Filter::is_in("id", batch.iter().map(AsRef::as_ref));
            let query = ODataQuery::new().filter(filter);
            actions.extend(self.list_all_machine_actions(&query).await?);
        }
        Ok(actions)
    }

    /// A link to the result of command `index` of a live response action, valid for 30
    /// minutes; ask again for a fresh one. The link is a signed URL: treat it as a secret.
    pub async fn live_response_result_link(
        &self,
        action_id: &str,
        index: u32,
    ) -> Result<String, Error> {
        let context = format!("machine action {action_id}: result link of command {index}");
        let path = format!(
            "/api/machineactions/{}/GetLiveResponseResultDownloadLink(index={index})",
            segment(action_id)
        );
        let link: ODataValue<String> = self.get_json(&context, &path, &[]).await?;
        Ok(link.value)
    }

    /// Cancels an action that is not final yet (`POST /api/machineactions/{id}/cancel`). The
    /// service answers 400 for an action it can no longer cancel.
    pub async fn cancel_machine_action(
        &self,
        action_id: &str,
        comment: &str,
    ) -> Result<MachineAction, Error> {
        let context = format!("machine action {action_id}: cancel");
        let path = format!("/api/machineactions/{}/cancel", segment(action_id));
        self.post_json(&context, &path, &CommentBody { comment })
            .await
    }

    /// One page of devices (`GET /api/machines`). The service answers 404 when it has no
    /// devices at all; that is an empty page here.
    pub async fn list_machines(&self, query: &ODataQuery) -> Result<ODataPage<Machine>, Error> {
        self.machines_page(query).await
    }

    async fn machines_page<T: DeserializeOwned>(
        &self,
        query: &ODataQuery,
    ) -> Result<ODataPage<T>, Error> {
        match self
            .get_json("machines", "/api/machines", &query.pairs())
            .await
        {
            Err(err) if err.is_not_found() => Ok(ODataPage::default()),
            other => other,
        }
    }

    /// Every device the query selects, following `@odata.nextLink`; none is an empty list.
    pub async fn list_all_machines(&self, query: &ODataQuery) -> Result<Vec<Machine>, Error> {
        self.list_all_machines_as(query, std::convert::identity)
            .await
    }

    /// [`DefenderClient::list_all_machines`], each device read as `T` and kept as `keep` makes
    /// it, page by page: a caller that needs a few fields of a whole fleet (100,000 devices)
    /// reads only those, and holds nothing larger than its own record beyond one page.
    pub async fn list_all_machines_as<T: DeserializeOwned, U>(
        &self,
        query: &ODataQuery,
        keep: impl FnMut(T) -> U,
    ) -> Result<Vec<U>, Error> {
        let first = self.machines_page(query).await?;
        self.collect_pages("machines", first, keep).await
    }

    /// A device by id or computer name (`GET /api/machines/{id}`).
    pub async fn get_machine(&self, id_or_name: &str) -> Result<Machine, Error> {
        let context = format!("machine {id_or_name}");
        let path = format!("/api/machines/{}", segment(id_or_name));
        self.get_json(&context, &path, &[]).await
    }

    /// Isolates a device from the network (`POST /api/machines/{id}/isolate`).
    pub async fn isolate(
        &self,
        machine_id: &str,
        comment: &str,
        isolation_type: IsolationType,
    ) -> Result<MachineAction, Error> {
        #[derive(Serialize)]
        struct Body<'a> {
            #[serde(rename = "Comment")]
            comment: &'a str,
            #[serde(rename = "IsolationType")]
            isolation_type: IsolationType,
        }
        let context = format!("machine {machine_id}: isolate");
        let path = format!("/api/machines/{}/isolate", segment(machine_id));
        let body = Body {
            comment,
            isolation_type,
        };
        self.post_json(&context, &path, &body).await
    }

    /// Releases a device from isolation (`POST /api/machines/{id}/unisolate`).
    pub async fn unisolate(&self, machine_id: &str, comment: &str) -> Result<MachineAction, Error> {
        let context = format!("machine {machine_id}: unisolate");
        let path = format!("/api/machines/{}/unisolate", segment(machine_id));
        self.post_json(&context, &path, &CommentBody { comment })
            .await
    }

    /// The live response library (`GET /api/libraryfiles`), every page.
    pub async fn list_library_files(&self) -> Result<Vec<LibraryFile>, Error> {
        let first = self
            .get_json("library files", "/api/libraryfiles", &[])
            .await?;
        self.collect_pages("library files", first, std::convert::identity)
            .await
    }

    /// Uploads a library file (`POST /api/libraryfiles`) as real clients do: a `file` part
    /// carrying the library name as its file name, and the booleans as `"true"`/`"false"`.
    pub async fn upload_library_file(&self, upload: &LibraryUpload) -> Result<LibraryFile, Error> {
        let context = format!("library file {}: upload", upload.file_name);
        let url = format!("{}/api/libraryfiles", self.api_base);
        let form = || {
            let content = upload.content.clone();
            let length = content.len() as u64;
            let part = reqwest::multipart::Part::stream_with_length(content, length)
                .file_name(upload.file_name.clone());
            let mut form = reqwest::multipart::Form::new()
                .part("file", part)
                .text("HasParameters", upload.has_parameters.to_string())
                .text("OverrideIfExists", upload.override_if_exists.to_string());
            // Absent descriptions are left out: the documented default is an empty value.
            if let Some(description) = &upload.description {
                form = form.text("Description", description.clone());
            }
            if let Some(description) = &upload.parameters_description {
                form = form.text("ParametersDescription", description.clone());
            }
            form
        };
        let response = self
            .send(&context, |http| http.post(&url).multipart(form()))
            .await?;
        decode(&context, response).await
    }

    /// Deletes a library file (`DELETE /api/libraryfiles/{name}`; 404 when there is none).
    pub async fn delete_library_file(&self, file_name: &str) -> Result<(), Error> {
        let context = format!("library file {file_name}: delete");
        let url = format!("{}/api/libraryfiles/{}", self.api_base, segment(file_name));
        self.send(&context, |http| http.delete(&url)).await?;
        Ok(())
    }

    /// The page after `page`, if there is one. The bearer token only ever goes to the
    /// configured API host: a `nextLink` naming another host (the service echoes the host it
    /// thinks it is, which behind a proxy is not ours) is rebased onto the API base.
    pub async fn next_page<T: DeserializeOwned>(
        &self,
        page: &ODataPage<T>,
    ) -> Result<Option<ODataPage<T>>, Error> {
        let Some(next) = page.next_link.as_deref() else {
            return Ok(None);
        };
        let url = self.rebase(next);
        let response = self
            .send("next page", |http| http.get(&url).timeout(self.timeout))
            .await?;
        decode("next page", response).await.map(Some)
    }

    async fn collect_pages<T: DeserializeOwned, U>(
        &self,
        context: &str,
        mut page: ODataPage<T>,
        mut keep: impl FnMut(T) -> U,
    ) -> Result<Vec<U>, Error> {
        let mut items = Vec::new();
        loop {
            // Taken before the next page is fetched, so two pages are never held at once.
            items.extend(page.value.drain(..).map(&mut keep));
            let next = self
                .next_page(&page)
                .await
                .map_err(|err| err.within(context))?;
            match next {
                Some(next) => page = next,
                None => return Ok(items),
            }
        }
    }

    fn rebase(&self, link: &str) -> String {
        match Url::parse(link) {
            Ok(url) if url.origin() == self.api_origin => link.to_owned(),
            Ok(url) => {
                tracing::debug!(host = ?url.host_str(), "rebasing @odata.nextLink onto the API base");
                let query = url.query().map(|q| format!("?{q}")).unwrap_or_default();
                format!("{}{}{query}", self.api_base, url.path())
            }
            // A relative link: relative to the API base.
            Err(_) => format!("{}/{}", self.api_base, link.trim_start_matches('/')),
        }
    }

    async fn get_json<T: DeserializeOwned>(
        &self,
        context: &str,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, Error> {
        let url = format!("{}{path}", self.api_base);
        let response = self
            .send(context, |http| {
                http.get(&url).query(query).timeout(self.timeout)
            })
            .await?;
        decode(context, response).await
    }

    async fn post_json<T: DeserializeOwned, B: Serialize + ?Sized>(
        &self,
        context: &str,
        path: &str,
        body: &B,
    ) -> Result<T, Error> {
        let url = format!("{}{path}", self.api_base);
        let response = self
            .send(context, |http| {
                http.post(&url).json(body).timeout(self.timeout)
            })
            .await?;
        decode(context, response).await
    }

    /// Sends with a bearer token; on 401 once more with a fresh one (safe even for POSTs: a
    /// 401 means the service did nothing). Non-success statuses become classified errors.
    async fn send(
        &self,
        context: &str,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, Error> {
        let token_failed = |err: TokenError| Error::new(context, ErrorKind::Token(err));
        let token = self.tokens.token().await.map_err(token_failed)?;
        let mut response = self.attempt(context, &build, &token).await?;
        if response.status() == StatusCode::UNAUTHORIZED {
            tracing::debug!(
                context,
                "the API answered 401; retrying once with a fresh token"
            );
            let token = self
                .tokens
                .fresh_token(&token)
                .await
                .map_err(token_failed)?;
            response = self.attempt(context, &build, &token).await?;
        }
        check(context, response).await
    }

    async fn attempt(
        &self,
        context: &str,
        build: &impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
        token: &SecretString,
    ) -> Result<reqwest::Response, Error> {
        let response = build(&self.http)
            .bearer_auth(token.expose_secret())
            .send()
            .await
            .map_err(|err| network(context, err))?;
        tracing::debug!(
            context,
            status = response.status().as_u16(),
            "API call answered"
        );
        Ok(response)
    }
}

impl Error {
    /// The same failure, described as part of a larger operation (paging a collection).
    fn within(self, context: &str) -> Self {
        let context = format!("{context}: {}", self.context());
        Self::new(context, self.into_kind())
    }
}

/// `{"Comment": "..."}`, the body of cancel and unisolate.
#[derive(Serialize)]
struct CommentBody<'a> {
    #[serde(rename = "Comment")]
    comment: &'a str,
}

/// Escapes a value used as one path segment (ids, names), so it cannot add segments or a query.
fn segment(value: &str) -> String {
    // form_urlencoded escapes `+` itself first, so the `+` left are the spaces it wrote.
    url::form_urlencoded::byte_serialize(value.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// A request that got no response. The URL is left out: a result link carries a signature.
pub(crate) fn network(context: &str, err: reqwest::Error) -> Error {
    let err = err.without_url();
    if err.is_builder() {
        return Error::new(context, ErrorKind::Config(err.to_string()));
    }
    Error::new(context, ErrorKind::Network(describe_chain(&err)))
}

/// An error and its causes on one line ("error sending request: connection refused").
pub(crate) fn describe_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Passes success through; classifies anything else from its status, headers and body.
pub(crate) async fn check(
    context: &str,
    response: reqwest::Response,
) -> Result<reqwest::Response, Error> {
    if response.status().is_success() {
        return Ok(response);
    }
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    // An error body cut off by a dropped connection is still an error of this status.
    let body = response.bytes().await.unwrap_or_default();
    Err(Error::new(
        context,
        classify(status, retry_after.as_deref(), &body),
    ))
}

async fn decode<T: DeserializeOwned>(
    context: &str,
    response: reqwest::Response,
) -> Result<T, Error> {
    let status = response.status().as_u16();
    let body = Chunks::read(response)
        .await
        .map_err(|err| network(context, err))?;
    let head = body.head(SNIPPET_BYTES);
    serde_json::from_reader(std::io::BufReader::new(body)).map_err(|err| {
        Error::new(
            context,
            ErrorKind::Decode {
                status,
                message: err.to_string(),
                snippet: snippet(&head),
            },
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct NoTokens;

    #[async_trait::async_trait]
    impl TokenSource for NoTokens {
        async fn token(&self) -> Result<SecretString, TokenError> {
            Err(TokenError {
                message: "unused".into(),
                transient: false,
            })
        }

        async fn fresh_token(&self, _: &SecretString) -> Result<SecretString, TokenError> {
            self.token().await
        }
    }

    fn client(api_base: &str) -> Result<DefenderClient, Error> {
        DefenderClient::with_token_source(
            https_client(None, DEFAULT_TIMEOUT)?,
            api_base,
            Arc::new(NoTokens),
            DEFAULT_TIMEOUT,
        )
    }

    #[test]
    fn path_segments_cannot_escape() {
        assert_eq!(segment("abc123"), "abc123");
        assert_eq!(segment("a/b?c#d"), "a%2Fb%3Fc%23d");
        assert_eq!(segment("my host+1"), "my%20host%2B1");
        assert_eq!(segment("script_1-a.ps1"), "script_1-a.ps1");
    }

    #[test]
    fn next_links_stay_on_the_api_host() {
        let client = client("https://proxy.corp:8443/mde/").expect("client");
        assert_eq!(client.api_base(), "https://proxy.corp:8443/mde");
        assert_eq!(
            client.rebase("https://proxy.corp:8443/mde/api/machines?$skip=10"),
            "https://proxy.corp:8443/mde/api/machines?$skip=10"
        );
        assert_eq!(
            client.rebase("https://api.security.microsoft.com/api/machines?$skip=10&$top=10"),
            "https://proxy.corp:8443/mde/api/machines?$skip=10&$top=10"
        );
        assert_eq!(
            client.rebase("/api/machineactions?$skip=2"),
            "https://proxy.corp:8443/mde/api/machineactions?$skip=2"
        );
    }

    #[test]
    fn a_bad_api_base_is_a_configuration_error() {
        for base in ["not a url", "ftp://host", "https://host/?x=1"] {
            let err = client(base).expect_err(base);
            assert!(matches!(err.kind(), ErrorKind::Config(_)), "{base}: {err}");
        }
    }

    #[tokio::test]
    async fn a_token_failure_names_the_call() {
        let err = client("https://127.0.0.1:9")
            .expect("client")
            .get_machine("m1")
            .await
            .expect_err("no token");
        assert!(err.is_token_failure() && !err.is_transient());
        assert_eq!(
            err.to_string(),
            "machine m1: token acquisition failed: unused"
        );
    }

    #[test]
    fn configs_never_show_secrets() {
        let config = ClientConfig::new(
            Cloud::Public,
            "tenant",
            "app",
            Credential::ClientSecret("hunter2".to_owned().into()),
        );
        let shown = format!("{config:?}");
        assert!(
            !shown.contains("hunter2") && shown.contains("<redacted>"),
            "{shown}"
        );
        assert_eq!(config.scope, DEFAULT_SCOPE);
    }
}
