//! Bearer tokens through `azure_identity`, sent over fleetlr's own HTTPS client so the same
//! trust settings (an extra CA for a proxy, or the simulator's) apply to sign-in and API calls.

use crate::error::{Error, ErrorKind};
use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
use azure_core::credentials::{Secret, SecretBytes, TokenCredential};
use azure_core::http::{ClientOptions, Transport};
use azure_identity::{
    ClientCertificateCredential, ClientCertificateCredentialOptions, ClientSecretCredential,
    ClientSecretCredentialOptions,
};
use secrecy::{ExposeSecret, SecretBox, SecretString};
use std::sync::{Arc, RwLock};

/// How the app proves who it is.
pub enum Credential {
    ClientSecret(SecretString),
    /// A PKCS#12 bundle holding the RSA key and certificate registered on the app.
    Certificate {
        pkcs12: SecretBox<Vec<u8>>,
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
    /// A token; `fresh` skips any cache (after a 401).
    async fn token(&self, fresh: bool) -> Result<SecretString, Error>;
}

/// Tokens from Microsoft Entra ID (or a simulation of it) via `azure_identity`.
pub struct AzureTokenSource {
    build: Box<dyn Fn() -> azure_core::Result<Arc<dyn TokenCredential>> + Send + Sync>,
    credential: RwLock<Arc<dyn TokenCredential>>,
    scope: String,
}

impl AzureTokenSource {
    pub fn new(
        tenant_id: &str,
        client_id: &str,
        credential: Credential,
        authority_host: &str,
        scope: &str,
        http: reqwest::Client,
    ) -> Result<Self, Error> {
        let (tenant_id, client_id, authority_host) = (
            tenant_id.to_owned(),
            client_id.to_owned(),
            authority_host.to_owned(),
        );
        let options = move || ClientOptions {
            transport: Some(Transport::new(Arc::new(http.clone()))),
            cloud: Some(Arc::new(CloudConfiguration::Custom({
                let mut custom = CustomConfiguration::default();
                custom.authority_host = authority_host.clone();
                custom
            }))),
            ..Default::default()
        };
        let build: Box<dyn Fn() -> azure_core::Result<Arc<dyn TokenCredential>> + Send + Sync> =
            match credential {
                Credential::ClientSecret(secret) => Box::new(move || {
                    let options = ClientSecretCredentialOptions {
                        client_options: options(),
                    };
                    let secret = Secret::new(secret.expose_secret().to_owned());
                    Ok(ClientSecretCredential::new(
                        &tenant_id,
                        client_id.clone(),
                        secret,
                        Some(options),
                    )? as Arc<dyn TokenCredential>)
                }),
                Credential::Certificate { pkcs12, password } => Box::new(move || {
                    let options = ClientCertificateCredentialOptions {
                        client_options: options(),
                        password: password
                            .as_ref()
                            .map(|p| Secret::new(p.expose_secret().to_owned())),
                    };
                    let bytes = SecretBytes::new(pkcs12.expose_secret().clone());
                    Ok(ClientCertificateCredential::new(
                        tenant_id.clone(),
                        client_id.clone(),
                        bytes,
                        Some(options),
                    )? as Arc<dyn TokenCredential>)
                }),
            };
        let first = build().map_err(|err| token_error(&err))?;
        Ok(Self {
            build,
            credential: RwLock::new(first),
            scope: scope.to_owned(),
        })
    }
}

fn token_error(err: &azure_core::Error) -> Error {
    Error::new("token", ErrorKind::Token(format!("{err}")))
}

#[async_trait::async_trait]
impl TokenSource for AzureTokenSource {
    async fn token(&self, fresh: bool) -> Result<SecretString, Error> {
        if fresh {
            // azure_identity caches until expiry and has no bypass; a new credential has an empty cache.
            let rebuilt = (self.build)().map_err(|err| token_error(&err))?;
            *self.credential.write().unwrap_or_else(|p| p.into_inner()) = rebuilt;
        }
        let credential = self
            .credential
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let token = credential
            .get_token(&[self.scope.as_str()], None)
            .await
            .map_err(|err| token_error(&err))?;
        Ok(SecretString::from(token.token.secret().to_owned()))
    }
}
