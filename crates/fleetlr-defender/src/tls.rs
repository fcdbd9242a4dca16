//! The one HTTPS client every request goes through (sign-in, API, result downloads): rustls
//! with the ring provider, trusting the system roots plus an optional extra CA.

use crate::error::Error;
use crate::models::ErrorKind;
use rustls::pki_types::{CertificateDer, pem::PemObject};
use std::sync::Arc;
use std::time::Duration;

/// How long a connection may take to establish.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Builds the HTTPS client. `extra_ca_pem` may hold several certificates (a TLS-inspecting
/// proxy's chain, or the simulator's CA). `read_timeout` bounds each wait for data rather than
/// the whole exchange, so a multi-GB download is not cut off while it is still moving.
pub fn https_client(
    extra_ca_pem: Option<&str>,
    read_timeout: Duration,
) -> Result<reqwest::Client, Error> {
    let mut tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|err| config_error(format!("TLS protocol versions: {err}")))?
    .with_root_certificates(root_store(extra_ca_pem)?)
    .with_no_client_auth();
    // reqwest sets ALPN only on configurations it builds itself; offer what it would.
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(read_timeout)
        .user_agent(concat!("fleetlr/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|err| config_error(format!("building the HTTPS client: {err}")))
}

fn root_store(extra_ca_pem: Option<&str>) -> Result<rustls::RootCertStore, Error> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for err in &native.errors {
        tracing::warn!(%err, "could not read some system CA certificates");
    }
    // A malformed system certificate should not stop fleetlr trusting the others.
    let (added, ignored) = roots.add_parsable_certificates(native.certs);
    if ignored > 0 {
        tracing::debug!(added, ignored, "skipped unparsable system CA certificates");
    }
    if let Some(pem) = extra_ca_pem {
        let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|err| config_error(format!("extra CA is not valid PEM: {err}")))?;
        if certs.is_empty() {
            return Err(config_error("extra CA PEM holds no certificate".into()));
        }
        for cert in certs {
            roots
                .add(cert)
                .map_err(|err| config_error(format!("extra CA certificate rejected: {err}")))?;
        }
    }
    Ok(roots)
}

fn config_error(message: String) -> Error {
    Error::new("https client", ErrorKind::Config(message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pem_without_certificates_is_refused() {
        let err =
            https_client(Some("not a certificate"), Duration::from_secs(1)).expect_err("refused");
        assert!(matches!(err.kind(), ErrorKind::Config(_)), "{err}");
        assert_eq!(
            err.to_string(),
            "https client: invalid configuration: extra CA PEM holds no certificate"
        );
    }

    #[test]
    fn a_garbled_certificate_is_refused() {
        let pem = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let err = https_client(Some(pem), Duration::from_secs(1)).expect_err("refused");
        assert!(
            err.to_string().contains("extra CA certificate rejected"),
            "{err}"
        );
    }

    #[test]
    fn no_extra_ca_is_fine() {
        https_client(None, Duration::from_secs(1)).expect("client builds");
    }
}
