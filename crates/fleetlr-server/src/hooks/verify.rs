//! Who may deliver to a hook: each hook has its own credential, separate from API tokens. Either
//! an HMAC-SHA256 signature over `timestamp + "." + body` with the timestamp in a header (a stale
//! timestamp is refused, so a captured delivery cannot be replayed later), or a bearer secret.
//! Every comparison is constant-time.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderName, header};
use ring::hmac;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Default header carrying the signature, as `sha256=<hex>`.
pub const SIGNATURE_HEADER: &str = "x-fleetlr-signature";
/// Default header carrying the signing time, in Unix seconds.
pub const TIMESTAMP_HEADER: &str = "x-fleetlr-timestamp";
/// Default largest difference between the signing time and the daemon's clock.
pub const MAX_SKEW: Duration = Duration::from_secs(300);

/// A hook's credential.
#[derive(Debug, Clone)]
pub enum Credential {
    Hmac(HmacCredential),
    /// `Authorization: Bearer <secret>`.
    Bearer(SecretString),
}

#[derive(Debug, Clone)]
pub struct HmacCredential {
    pub secret: SecretString,
    pub signature_header: HeaderName,
    pub timestamp_header: HeaderName,
    pub max_skew: Duration,
}

impl HmacCredential {
    /// The default headers and skew.
    pub fn new(secret: SecretString) -> Self {
        Self {
            secret,
            signature_header: HeaderName::from_static(SIGNATURE_HEADER),
            timestamp_header: HeaderName::from_static(TIMESTAMP_HEADER),
            max_skew: MAX_SKEW,
        }
    }
}

/// Why a delivery was not accepted as coming from the hook's sender. Messages go back to the
/// sender: they say what is wrong, never anything about the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("header `{0}` is missing")]
    Missing(String),
    #[error("header `{header}` is malformed: {expected}")]
    Malformed {
        header: String,
        expected: &'static str,
    },
    #[error(
        "the timestamp is {skew_seconds}s away from the daemon's clock (at most {max_seconds}s allowed): sign with the current time"
    )]
    Stale { skew_seconds: u64, max_seconds: u64 },
    #[error("the signature does not match the body and timestamp")]
    BadSignature,
    #[error("the bearer secret is wrong")]
    BadSecret,
}

/// Checks a delivery's headers and body against `credential`; `now` is Unix seconds.
pub fn verify(
    credential: &Credential,
    headers: &HeaderMap,
    body: &[u8],
    now: i64,
) -> Result<(), VerifyError> {
    match credential {
        Credential::Hmac(hmac) => verify_hmac(hmac, headers, body, now),
        Credential::Bearer(secret) => verify_bearer(secret, headers),
    }
}

fn verify_hmac(
    credential: &HmacCredential,
    headers: &HeaderMap,
    body: &[u8],
    now: i64,
) -> Result<(), VerifyError> {
    let text = |name: &HeaderName| {
        headers
            .get(name)
            .ok_or_else(|| VerifyError::Missing(name.to_string()))?
            .to_str()
            .map(str::trim)
            .map_err(|_| VerifyError::Malformed {
                header: name.to_string(),
                expected: "not text",
            })
    };
    let timestamp = text(&credential.timestamp_header)?;
    let seconds: i64 = timestamp.parse().map_err(|_| VerifyError::Malformed {
        header: credential.timestamp_header.to_string(),
        expected: "give the signing time in Unix seconds",
    })?;
    let skew = now.abs_diff(seconds);
    if skew > credential.max_skew.as_secs() {
        return Err(VerifyError::Stale {
            skew_seconds: skew,
            max_seconds: credential.max_skew.as_secs(),
        });
    }
    let signature = text(&credential.signature_header)?;
    let hex = signature.strip_prefix("sha256=").unwrap_or(signature);
    let tag = decode_hex(hex).ok_or_else(|| VerifyError::Malformed {
        header: credential.signature_header.to_string(),
        expected: "give sha256= and the 64 hex digits of the HMAC-SHA256",
    })?;
    let key = hmac::Key::new(
        hmac::HMAC_SHA256,
        credential.secret.expose_secret().as_bytes(),
    );
    let mut signed = Vec::with_capacity(timestamp.len() + 1 + body.len());
    signed.extend_from_slice(timestamp.as_bytes());
    signed.push(b'.');
    signed.extend_from_slice(body);
    // ring compares the tags in constant time.
    hmac::verify(&key, &signed, &tag).map_err(|_| VerifyError::BadSignature)
}

fn verify_bearer(secret: &SecretString, headers: &HeaderMap) -> Result<(), VerifyError> {
    let presented = headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| VerifyError::Missing(header::AUTHORIZATION.to_string()))?
        .to_str()
        .ok()
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or_else(|| VerifyError::Malformed {
            header: header::AUTHORIZATION.to_string(),
            expected: "give `Bearer <secret>`",
        })?;
    // Digests first, so the comparison takes the same time whatever the lengths.
    let presented = Sha256::digest(presented.as_bytes());
    let expected = Sha256::digest(secret.expose_secret().as_bytes());
    if bool::from(presented.ct_eq(&expected)) {
        Ok(())
    } else {
        Err(VerifyError::BadSecret)
    }
}

/// The 32 bytes of a SHA-256 tag written as 64 hex digits.
fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

/// The signature header value for `body` signed at `timestamp`, as a sender computes it.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let mut context = hmac::Context::with_key(&key);
    context.update(timestamp.to_string().as_bytes());
    context.update(b".");
    context.update(body);
    let tag = context.sign();
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    const NOW: i64 = 1_764_600_000;
    const BODY: &[u8] = br#"{"id":"da1","machineId":"m1"}"#;

    fn hmac_credential() -> Credential {
        Credential::Hmac(HmacCredential::new(SecretString::from("s3cret")))
    }

    fn signed(timestamp: i64, signature: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            TIMESTAMP_HEADER,
            HeaderValue::from_str(&timestamp.to_string()).expect("header"),
        );
        headers.insert(
            SIGNATURE_HEADER,
            HeaderValue::from_str(signature).expect("header"),
        );
        headers
    }

    #[test]
    fn a_signature_over_timestamp_and_body_is_accepted_within_the_skew() {
        let credential = hmac_credential();
        let headers = signed(NOW - 200, &sign("s3cret", NOW - 200, BODY));
        assert_eq!(verify(&credential, &headers, BODY, NOW), Ok(()));
        // Without the prefix too (some senders write only the hex digits).
        let bare = sign("s3cret", NOW, BODY).replace("sha256=", "");
        assert_eq!(verify(&credential, &signed(NOW, &bare), BODY, NOW), Ok(()));
    }

    #[test]
    fn a_changed_body_timestamp_or_secret_is_refused() {
        let credential = hmac_credential();
        let good = sign("s3cret", NOW, BODY);
        let other_body = br#"{"id":"da2","machineId":"m1"}"#;
        assert_eq!(
            verify(&credential, &signed(NOW, &good), other_body, NOW),
            Err(VerifyError::BadSignature)
        );
        // The timestamp is signed: moving it (to get past the skew check) breaks the signature.
        assert_eq!(
            verify(&credential, &signed(NOW - 1, &good), BODY, NOW),
            Err(VerifyError::BadSignature)
        );
        assert_eq!(
            verify(
                &credential,
                &signed(NOW, &sign("other", NOW, BODY)),
                BODY,
                NOW
            ),
            Err(VerifyError::BadSignature)
        );
    }

    #[test]
    fn a_stale_or_future_timestamp_is_refused_before_the_signature_is_looked_at() {
        let credential = hmac_credential();
        let old = NOW - 301;
        assert_eq!(
            verify(
                &credential,
                &signed(old, &sign("s3cret", old, BODY)),
                BODY,
                NOW
            ),
            Err(VerifyError::Stale {
                skew_seconds: 301,
                max_seconds: 300
            })
        );
        let future = NOW + 3600;
        assert!(matches!(
            verify(&credential, &signed(future, "sha256=00"), BODY, NOW),
            Err(VerifyError::Stale { .. })
        ));
    }

    #[test]
    fn missing_and_malformed_headers_are_named() {
        let credential = hmac_credential();
        assert_eq!(
            verify(&credential, &HeaderMap::new(), BODY, NOW),
            Err(VerifyError::Missing(TIMESTAMP_HEADER.into()))
        );
        let mut headers = signed(NOW, "sha256=zz");
        assert!(matches!(
            verify(&credential, &headers, BODY, NOW),
            Err(VerifyError::Malformed { header, .. }) if header == SIGNATURE_HEADER
        ));
        headers.insert(TIMESTAMP_HEADER, HeaderValue::from_static("yesterday"));
        assert!(matches!(
            verify(&credential, &headers, BODY, NOW),
            Err(VerifyError::Malformed { header, .. }) if header == TIMESTAMP_HEADER
        ));
    }

    #[test]
    fn a_bearer_secret_must_match_exactly() {
        let credential = Credential::Bearer(SecretString::from("hook-secret"));
        let with = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::AUTHORIZATION, HeaderValue::from_static(value));
            headers
        };
        assert_eq!(
            verify(&credential, &with("Bearer hook-secret"), BODY, NOW),
            Ok(())
        );
        assert_eq!(
            verify(&credential, &with("Bearer hook-secre"), BODY, NOW),
            Err(VerifyError::BadSecret)
        );
        assert!(matches!(
            verify(&credential, &with("Basic aG9vaw=="), BODY, NOW),
            Err(VerifyError::Malformed { .. })
        ));
        assert!(matches!(
            verify(&credential, &HeaderMap::new(), BODY, NOW),
            Err(VerifyError::Missing(_))
        ));
    }
}
