//! The webhook destination: a POST of `{"org_id", "events": [...]}` (each event as
//! the JSON export writes it) signed with the org's secret:
//! `Gatehouse-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`,
//! and `Gatehouse-Delivery: <batch id>` (the same on every retry of a batch).

use hmac::{Hmac, Mac};
use secrecy::ExposeSecret;
use sha2::Sha256;

use super::{delivery_id, SendError};
use crate::store::{AuditEvent, ExportCredential, ExportJob};

/// The signature header.
pub const SIGNATURE_HEADER: &str = "Gatehouse-Signature";
/// The batch id header.
pub const DELIVERY_HEADER: &str = "Gatehouse-Delivery";

/// The signature header's value for `body` sent at `timestamp` (unix seconds).
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("t={timestamp},v1={}", hex::encode(mac.finalize().into_bytes()))
}

#[derive(serde::Serialize)]
struct Batch<'a> {
    org_id: &'a str,
    events: &'a [AuditEvent],
}

/// `post` with one batch's body and signature.
pub(super) fn request(
    post: reqwest::RequestBuilder,
    job: &ExportJob,
    events: &[AuditEvent],
) -> Result<reqwest::RequestBuilder, SendError> {
    let ExportCredential::Secret(secret) = &job.credential else {
        return Err(SendError::Refused("the webhook has no signing secret".into()));
    };
    let body = serde_json::to_vec(&Batch { org_id: &job.org_id, events })
        .map_err(|e| SendError::Refused(format!("encoding the batch failed: {e}")))?;
    let signature = signature(secret.expose_secret().as_bytes(), chrono::Utc::now().timestamp(), &body);
    Ok(post
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(SIGNATURE_HEADER, signature)
        .header(DELIVERY_HEADER, delivery_id(job, events))
        .body(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_of_the_timestamp_a_dot_and_the_body() {
        // Computed independently: printf '1700000000.{"events":[]}' | openssl dgst -sha256 -hmac whsec-test
        assert_eq!(
            signature(b"whsec-test", 1_700_000_000, br#"{"events":[]}"#),
            "t=1700000000,v1=f6508d728f59e4a4c30a839747614dc39926dae93caf45c8e91908c852f5ce5d"
        );
    }
}
