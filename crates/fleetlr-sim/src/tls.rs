//! The simulator's own certificate authority and server certificate.
//!
//! Clients must trust `ca.pem` explicitly; nothing here is added to a system trust store.

use anyhow::Context;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use std::path::Path;
use std::sync::Arc;

const CA_CERT: &str = "ca.pem";
const CA_KEY: &str = "ca-key.pem";
const SERVER_CERT: &str = "server.pem";
const SERVER_KEY: &str = "server-key.pem";

/// PEM material of the simulator: the CA clients trust and the server's certificate chain.
pub struct TlsMaterial {
    pub ca_pem: String,
    server_cert_pem: String,
    server_key_pem: String,
}

impl TlsMaterial {
    /// Loads the CA and server certificate from `dir`, generating (and saving) them when absent.
    pub fn load_or_generate(dir: &Path) -> anyhow::Result<Self> {
        let paths = [CA_CERT, SERVER_CERT, SERVER_KEY].map(|name| dir.join(name));
        if paths.iter().all(|path| path.exists()) {
            let read = |path: &Path| {
                std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
            };
            return Ok(Self {
                ca_pem: read(&paths[0])?,
                server_cert_pem: read(&paths[1])?,
                server_key_pem: read(&paths[2])?,
            });
        }
        let (material, ca_key_pem) = Self::generate()?;
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        for (name, contents) in [
            (CA_CERT, material.ca_pem.as_str()),
            (CA_KEY, ca_key_pem.as_str()),
            (SERVER_CERT, material.server_cert_pem.as_str()),
            (SERVER_KEY, material.server_key_pem.as_str()),
        ] {
            let path = dir.join(name);
            std::fs::write(&path, contents)
                .with_context(|| format!("writing {}", path.display()))?;
        }
        Ok(material)
    }

    /// Generates a fresh CA and a server certificate for localhost names, kept in memory.
    pub fn generate() -> anyhow::Result<(Self, String)> {
        let ca_key = KeyPair::generate().context("generating the CA key")?;
        let mut ca_params = CertificateParams::default();
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "fleetlr simulator CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca_params
            .self_signed(&ca_key)
            .context("self-signing the CA")?;

        let server_key = KeyPair::generate().context("generating the server key")?;
        let mut server_params = CertificateParams::new(vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
            "::1".to_owned(),
        ])
        .context("building server certificate parameters")?;
        server_params
            .distinguished_name
            .push(DnType::CommonName, "fleetlr simulator");
        let issuer = Issuer::from_params(&ca_params, &ca_key);
        let server_cert = server_params
            .signed_by(&server_key, &issuer)
            .context("signing the server certificate")?;
        Ok((
            Self {
                ca_pem: ca_cert.pem(),
                server_cert_pem: server_cert.pem(),
                server_key_pem: server_key.serialize_pem(),
            },
            ca_key.serialize_pem(),
        ))
    }

    /// A rustls server configuration (ring provider, HTTP/1.1 and HTTP/2) for this material.
    pub fn server_config(&self) -> anyhow::Result<Arc<rustls::ServerConfig>> {
        let chain = CertificateDer::pem_slice_iter(self.server_cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .context("parsing the server certificate")?;
        let key = PrivateKeyDer::from_pem_slice(self.server_key_pem.as_bytes())
            .context("parsing the server key")?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("choosing TLS versions")?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .context("loading the server certificate")?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}
