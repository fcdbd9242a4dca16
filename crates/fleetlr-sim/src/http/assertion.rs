//! Client assertions (certificate credentials): an RS256 JWT signed with the app's private key,
//! naming its certificate by SHA-1 thumbprint (`x5t`), checked as Entra ID checks them.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde::Deserialize;

/// Why an assertion was refused, with Entra ID's AADSTS code.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    Malformed,
    UnknownCertificate,
    BadSignature,
    WrongAudience,
    WrongIssuer,
    Expired,
}

impl Refusal {
    pub fn aadsts(&self) -> (u32, &'static str) {
        match self {
            Self::Malformed => (50027, "JWT token is invalid or malformed"),
            Self::UnknownCertificate => (
                700027,
                "The certificate with the identifier used to sign the client assertion is not registered on the application",
            ),
            Self::BadSignature => (700027, "Client assertion failed signature validation"),
            Self::WrongAudience => (
                700212,
                "No matching federated identity record found for presented assertion audience",
            ),
            Self::WrongIssuer => (
                700021,
                "Client assertion application identifier doesn't match 'client_id' parameter",
            ),
            Self::Expired => (
                700024,
                "Client assertion is not within its valid time range",
            ),
        }
    }
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    x5t: Option<String>,
}

#[derive(Deserialize)]
struct Claims {
    aud: String,
    iss: String,
    sub: String,
    exp: i64,
    nbf: Option<i64>,
}

/// The DER of the first certificate in a PEM text.
pub fn pem_to_der(pem: &str) -> Option<Vec<u8>> {
    use rustls::pki_types::{CertificateDer, pem::PemObject};
    CertificateDer::from_pem_slice(pem.as_bytes())
        .ok()
        .map(|der| der.to_vec())
}

/// Verifies `assertion` against the app's certificate; `audience_path` is the token URL's path.
pub fn verify(
    assertion: &str,
    certificate_der: &[u8],
    client_id: &str,
    audience_path: &str,
) -> Result<(), Refusal> {
    let mut parts = assertion.split('.');
    let (Some(header), Some(claims), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Refusal::Malformed);
    };
    let decode = |part: &str| {
        URL_SAFE_NO_PAD
            .decode(part.trim_end_matches('='))
            .map_err(|_| Refusal::Malformed)
    };
    let parsed: Header =
        serde_json::from_slice(&decode(header)?).map_err(|_| Refusal::Malformed)?;
    let claims_parsed: Claims =
        serde_json::from_slice(&decode(claims)?).map_err(|_| Refusal::Malformed)?;
    if parsed.alg != "RS256" {
        return Err(Refusal::Malformed);
    }
    let thumbprint = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, certificate_der);
    // Clients send the thumbprint base64 or base64url encoded; both name the same certificate.
    let known = [
        STANDARD.encode(thumbprint.as_ref()),
        URL_SAFE_NO_PAD.encode(thumbprint.as_ref()),
    ];
    if !parsed.x5t.is_some_and(|x5t| known.contains(&x5t)) {
        return Err(Refusal::UnknownCertificate);
    }
    let (_, certificate) = x509_parser::parse_x509_certificate(certificate_der)
        .map_err(|_| Refusal::UnknownCertificate)?;
    let public_key = certificate.public_key().subject_public_key.data.to_vec();
    let signed = format!("{header}.{claims}");
    ring::signature::UnparsedPublicKey::new(
        &ring::signature::RSA_PKCS1_2048_8192_SHA256,
        public_key,
    )
    .verify(signed.as_bytes(), &decode(signature)?)
    .map_err(|_| Refusal::BadSignature)?;
    if !claims_parsed.aud.ends_with(audience_path) {
        return Err(Refusal::WrongAudience);
    }
    if claims_parsed.iss != client_id || claims_parsed.sub != client_id {
        return Err(Refusal::WrongIssuer);
    }
    let now = chrono::Utc::now().timestamp();
    // Entra ID allows a few minutes of clock skew on both ends.
    let skew = 300;
    if claims_parsed.exp + skew < now || claims_parsed.nbf.is_some_and(|nbf| nbf - skew > now) {
        return Err(Refusal::Expired);
    }
    Ok(())
}
