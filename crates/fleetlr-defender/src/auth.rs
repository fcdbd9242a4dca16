//! Bearer tokens through `azure_identity`, sent over fleetlr's own HTTPS client so the same
//! trust settings (an extra CA for a proxy, or the simulator's) apply to sign-in and API calls.

use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
use azure_core::credentials::{Secret, SecretBytes, TokenCredential};
use azure_core::http::{ClientOptions, RetryOptions, StatusCode, Transport};
use azure_identity::{
    ClientCertificateCredential, ClientCertificateCredentialOptions, ClientSecretCredential,
    ClientSecretCredentialOptions,
};
use fleetlr_defender_models::TokenError;
use secrecy::{ExposeSecret, SecretBox, SecretString};
use std::sync::{Arc, RwLock};

/// How the app proves who it is. `Debug` never shows the secret.
pub enum Credential {
    /// A client secret registered on the app.
    ClientSecret(SecretString),
    /// A PKCS#12 bundle holding the RSA key and the certificate registered on the app.
    Certificate {
        /// The DER bytes of the bundle.
        pkcs12: SecretBox<Vec<u8>>,
        /// The bundle's password, if it has one.
        password: Option<SecretString>,
    },
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::ClientSecret(_) => "ClientSecret(<redacted>)",
            Self::Certificate { .. } => "Certificate(<redacted>)",
        })
    }
}

/// Something that hands out bearer tokens for the API.
#[async_trait::async_trait]
pub trait TokenSource: Send + Sync {
    /// A token, from a cache when it holds a valid one.
    async fn token(&self) -> Result<SecretString, TokenError>;

    /// A token other than `rejected`, which the API refused (401). Many calls may refuse the
    /// same token at once; one new token serves them all.
    async fn fresh_token(&self, rejected: &SecretString) -> Result<SecretString, TokenError>;
}

type BuildCredential = dyn Fn() -> azure_core::Result<Arc<dyn TokenCredential>> + Send + Sync;

/// Tokens from Microsoft Entra ID (or a simulation of it) via `azure_identity`, which caches
/// them until five minutes before they expire.
pub struct AzureTokenSource {
    build: Box<BuildCredential>,
    credential: RwLock<Arc<dyn TokenCredential>>,
    /// Held while replacing the credential, so concurrent 401s rebuild it once.
    refreshing: tokio::sync::Mutex<()>,
    scope: String,
}

impl std::fmt::Debug for AzureTokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AzureTokenSource")
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl AzureTokenSource {
    /// Signs in as `client_id` of `tenant_id` at `authority_host` (https), for `scope`, over `http`.
    pub fn new(
        tenant_id: &str,
        client_id: &str,
        credential: Credential,
        authority_host: &str,
        scope: &str,
        http: reqwest::Client,
    ) -> Result<Self, TokenError> {
        let (tenant_id, client_id, authority_host) = (
            tenant_id.to_owned(),
            client_id.to_owned(),
            authority_host.to_owned(),
        );
        let options = move || {
            let mut cloud = CustomConfiguration::default();
            cloud.authority_host = authority_host.clone();
            ClientOptions {
                transport: Some(Transport::new(Arc::new(http.clone()))),
                cloud: Some(Arc::new(CloudConfiguration::Custom(cloud))),
                // A failing token endpoint is reported at once: waiting and retrying is the
                // engine's decision, as for every other call.
                retry: RetryOptions::none(),
                ..Default::default()
            }
        };
        let build: Box<BuildCredential> = match credential {
            Credential::ClientSecret(secret) => Box::new(move || {
                let options = ClientSecretCredentialOptions {
                    client_options: options(),
                };
                let secret = Secret::new(secret.expose_secret().to_owned());
                let credential: Arc<dyn TokenCredential> = ClientSecretCredential::new(
                    &tenant_id,
                    client_id.clone(),
                    secret,
                    Some(options),
                )?;
                Ok(credential)
            }),
            Credential::Certificate { pkcs12, password } => Box::new(move || {
                let options = ClientCertificateCredentialOptions {
                    client_options: options(),
                    password: password
                        .as_ref()
                        .map(|p| Secret::new(p.expose_secret().to_owned())),
                };
                let bytes = SecretBytes::new(pkcs12.expose_secret().clone());
                let credential: Arc<dyn TokenCredential> = ClientCertificateCredential::new(
                    tenant_id.clone(),
                    client_id.clone(),
                    bytes,
                    Some(options),
                )?;
                Ok(credential)
            }),
        };
        let first = build().map_err(|err| token_error(&err))?;
        Ok(Self {
            build,
            credential: RwLock::new(first),
            refreshing: tokio::sync::Mutex::new(()),
            scope: scope.to_owned(),
        })
    }

    fn current(&self) -> Arc<dyn TokenCredential> {
        // A poisoned lock still holds a usable credential: a panic elsewhere cannot corrupt an Arc.
        self.credential
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    async fn token_from(
        &self,
        credential: Arc<dyn TokenCredential>,
    ) -> Result<SecretString, TokenError> {
        let token = credential
            .get_token(&[self.scope.as_str()], None)
            .await
            .map_err(|err| token_error(&err))?;
        Ok(SecretString::from(token.token.secret().to_owned()))
    }
}

#[async_trait::async_trait]
impl TokenSource for AzureTokenSource {
    async fn token(&self) -> Result<SecretString, TokenError> {
        self.token_from(self.current()).await
    }

    async fn fresh_token(&self, rejected: &SecretString) -> Result<SecretString, TokenError> {
        let _refreshing = self.refreshing.lock().await;
        let current = self.token().await?;
        if current.expose_secret() != rejected.expose_secret() {
            // Another call replaced the credential while this one waited.
            return Ok(current);
        }
        // azure_identity 1.0 caches until near expiry and has no way to bypass the cache; a new
        // credential starts with an empty one.
        let rebuilt = (self.build)().map_err(|err| token_error(&err))?;
        *self.credential.write().unwrap_or_else(|p| p.into_inner()) = rebuilt.clone();
        self.token_from(rebuilt).await
    }
}

/// Describes an `azure_identity` failure, telling an unreachable or failing token endpoint
/// (transient) from a refusal of the credential.
fn token_error(err: &azure_core::Error) -> TokenError {
    TokenError {
        message: err.to_string(),
        transient: is_transient(err),
    }
}

/// Walks the chain of causes: azure_identity wraps the transport's error in its own.
fn is_transient(err: &azure_core::Error) -> bool {
    use azure_core::error::ErrorKind;
    let mut current = Some(err);
    while let Some(err) = current {
        match err.kind() {
            ErrorKind::Io | ErrorKind::Connection => return true,
            ErrorKind::HttpResponse { status, .. } => {
                return status.is_server_error() || *status == StatusCode::TooManyRequests;
            }
            // Entra ID answers refusals in JSON; a body that is not is a gateway's error page.
            ErrorKind::DataConversion => return true,
            _ => {}
        }
        current = err.downcast_ref::<azure_core::Error>();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use azure_core::error::ErrorKind;

    fn wrapped(inner: azure_core::Error) -> azure_core::Error {
        // How azure_identity reports every failure: a credential error around the cause.
        azure_core::Error::with_error(ErrorKind::Credential, inner, "authentication failed")
    }

    fn http(status: StatusCode) -> azure_core::Error {
        azure_core::Error::with_message(
            ErrorKind::HttpResponse {
                status,
                error_code: Some("7000215".into()),
                raw_response: None,
            },
            "AADSTS7000215: Invalid client secret provided",
        )
    }

    #[test]
    fn an_unreachable_or_failing_token_endpoint_is_transient() {
        let io = azure_core::Error::new(ErrorKind::Io, std::io::Error::other("refused"));
        assert!(token_error(&wrapped(io)).transient);
        assert!(token_error(&wrapped(http(StatusCode::ServiceUnavailable))).transient);
        assert!(token_error(&wrapped(http(StatusCode::TooManyRequests))).transient);
        let html = azure_core::Error::with_message(ErrorKind::DataConversion, "expected JSON");
        assert!(token_error(&wrapped(html)).transient);
    }

    #[test]
    fn a_refused_credential_is_not_transient() {
        let refused = token_error(&wrapped(http(StatusCode::Unauthorized)));
        assert!(!refused.transient);
        assert_eq!(refused.message, "authentication failed");
        let bad_config =
            azure_core::Error::with_message(ErrorKind::Credential, "no client ID specified");
        assert!(!token_error(&bad_config).transient);
    }

    #[test]
    fn credentials_never_show_secrets() {
        let secret = Credential::ClientSecret("hunter2".to_owned().into());
        let certificate = Credential::Certificate {
            pkcs12: SecretBox::new(Box::new(b"key".to_vec())),
            password: Some("pw".to_owned().into()),
        };
        assert_eq!(format!("{secret:?}"), "ClientSecret(<redacted>)");
        assert_eq!(format!("{certificate:?}"), "Certificate(<redacted>)");
    }

    #[test]
    fn an_http_authority_is_refused_up_front() {
        let err = AzureTokenSource::new(
            "tenant",
            "app",
            Credential::ClientSecret("s".to_owned().into()),
            "http://127.0.0.1:1",
            crate::DEFAULT_SCOPE,
            crate::https_client(None, std::time::Duration::from_secs(1)).expect("client"),
        )
        .expect_err("http authority");
        assert!(!err.transient, "{err}");
    }
}
