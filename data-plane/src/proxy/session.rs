//! Binding `Mcp-Session-Id` to the caller.
//!
//! The id a client sees is `base64url(mac[..16]) "." base64url(upstream_id)`
//! where `mac = hmac_sha256(session_key, org|user|workspace|server|upstream_id)`.
//! Each field is length-prefixed in the MAC input (instead of joined with a
//! bare `|`), so a `|` inside a user name cannot make two bindings collide.
//! Any edge replica with the same key can verify it; no session state is kept.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use http::HeaderValue;
use sha2::Sha256;

/// Bytes of the truncated MAC carried in the wrapped id.
const TAG_LEN: usize = 16;

/// Who a session belongs to.
#[derive(Debug, Clone, Copy)]
pub struct SessionBinding<'a> {
    /// Organisation id of the caller's token.
    pub org: &'a str,
    /// User of the caller's token.
    pub user: &'a str,
    /// Workspace id of the caller's token.
    pub workspace: &'a str,
    /// Server id the session lives on.
    pub server: &'a str,
}

/// Why a presented session id was refused; all are answered as "session not found".
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SessionError {
    /// Not of the `tag.id` shape, or not base64url.
    #[error("malformed session id")]
    Malformed,
    /// The tag does not match this caller (tampered, or someone else's session).
    #[error("session id is not bound to this caller")]
    NotBound,
}

/// Rewrites `Mcp-Session-Id` for one caller, in both directions.
///
/// Without a key (the control plane hasn't sent one) ids pass through unbound.
#[derive(Debug, Clone, Copy)]
pub struct SessionBinder<'a> {
    /// The config's session binding key.
    pub key: Option<&'a [u8; 32]>,
    /// The caller.
    pub binding: SessionBinding<'a>,
}

impl SessionBinder<'_> {
    /// The upstream's id for a session id the client presented.
    pub fn inbound(&self, presented: &HeaderValue) -> Result<HeaderValue, SessionError> {
        let Some(key) = self.key else { return Ok(presented.clone()) };
        let raw = unwrap(key, &self.binding, presented.as_bytes())?;
        HeaderValue::from_bytes(&raw).map_err(|_| SessionError::Malformed)
    }

    /// The id the client sees for a session id the upstream issued.
    pub fn outbound(&self, upstream: &HeaderValue) -> HeaderValue {
        match self.key {
            // base64url and one `.`: always a valid header value.
            Some(key) => HeaderValue::try_from(wrap(key, &self.binding, upstream.as_bytes()))
                .expect("wrapped session ids are visible ascii"),
            None => upstream.clone(),
        }
    }
}

fn mac(key: &[u8; 32], binding: &SessionBinding<'_>, upstream_id: &[u8]) -> Hmac<Sha256> {
    // A 32-byte key is always a valid HMAC key.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("hmac accepts any key length");
    for field in [
        binding.org.as_bytes(),
        binding.user.as_bytes(),
        binding.workspace.as_bytes(),
        binding.server.as_bytes(),
        upstream_id,
    ] {
        mac.update(&(field.len() as u64).to_be_bytes());
        mac.update(field);
    }
    mac
}

/// Wraps an upstream session id for the caller described by `binding`.
///
/// The result is visible ASCII (base64url and one `.`), a valid header value.
pub fn wrap(key: &[u8; 32], binding: &SessionBinding<'_>, upstream_id: &[u8]) -> String {
    let tag = mac(key, binding, upstream_id).finalize().into_bytes();
    let mut out = String::with_capacity(23 + 1 + upstream_id.len().div_ceil(3) * 4);
    URL_SAFE_NO_PAD.encode_string(&tag[..TAG_LEN], &mut out);
    out.push('.');
    URL_SAFE_NO_PAD.encode_string(upstream_id, &mut out);
    out
}

/// Verifies a wrapped id against the caller and returns the upstream session id.
pub fn unwrap(
    key: &[u8; 32],
    binding: &SessionBinding<'_>,
    presented: &[u8],
) -> Result<Vec<u8>, SessionError> {
    let dot = presented.iter().position(|&b| b == b'.').ok_or(SessionError::Malformed)?;
    let (tag, id) = (&presented[..dot], &presented[dot + 1..]);
    let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| SessionError::Malformed)?;
    if tag.len() != TAG_LEN {
        return Err(SessionError::Malformed);
    }
    let upstream_id = URL_SAFE_NO_PAD.decode(id).map_err(|_| SessionError::Malformed)?;
    // Constant-time comparison of the truncated tag.
    mac(key, binding, &upstream_id).verify_truncated_left(&tag).map_err(|_| SessionError::NotBound)?;
    Ok(upstream_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const KEY: [u8; 32] = [7; 32];
    const ALICE: SessionBinding<'static> =
        SessionBinding { org: "o", user: "alice", workspace: "w", server: "s" };

    #[test]
    fn round_trip() {
        let wrapped = wrap(&KEY, &ALICE, b"upstream-123");
        assert!(wrapped.bytes().all(|b| (0x21..=0x7e).contains(&b)));
        assert_eq!(unwrap(&KEY, &ALICE, wrapped.as_bytes()).unwrap(), b"upstream-123");
    }

    #[test]
    fn another_caller_is_refused() {
        let wrapped = wrap(&KEY, &ALICE, b"sid");
        for other in [
            SessionBinding { user: "bob", ..ALICE },
            SessionBinding { org: "o2", ..ALICE },
            SessionBinding { workspace: "w2", ..ALICE },
            SessionBinding { server: "s2", ..ALICE },
        ] {
            assert_eq!(unwrap(&KEY, &other, wrapped.as_bytes()), Err(SessionError::NotBound));
        }
        assert_eq!(unwrap(&[8; 32], &ALICE, wrapped.as_bytes()), Err(SessionError::NotBound));
    }

    #[test]
    fn separators_inside_fields_do_not_collide() {
        let a = SessionBinding { user: "a|b", workspace: "c", ..ALICE };
        let b = SessionBinding { user: "a", workspace: "b|c", ..ALICE };
        assert_eq!(unwrap(&KEY, &b, wrap(&KEY, &a, b"x").as_bytes()), Err(SessionError::NotBound));
    }

    #[test]
    fn swapped_upstream_id_is_refused() {
        let wrapped = wrap(&KEY, &ALICE, b"mine");
        let (tag, _) = wrapped.split_once('.').unwrap();
        let forged = format!("{tag}.{}", URL_SAFE_NO_PAD.encode(b"theirs"));
        assert_eq!(unwrap(&KEY, &ALICE, forged.as_bytes()), Err(SessionError::NotBound));
    }

    #[test]
    fn binder_round_trips_header_values() {
        let binder = SessionBinder { key: Some(&KEY), binding: ALICE };
        let upstream = HeaderValue::from_static("abc-123");
        let client = binder.outbound(&upstream);
        assert_ne!(client, upstream);
        assert_eq!(binder.inbound(&client).unwrap(), upstream);
        let bob = SessionBinder { key: Some(&KEY), binding: SessionBinding { user: "bob", ..ALICE } };
        assert_eq!(bob.inbound(&client), Err(SessionError::NotBound));
        let unbound = SessionBinder { key: None, binding: ALICE };
        assert_eq!(unbound.outbound(&upstream), upstream);
        assert_eq!(unbound.inbound(&upstream).unwrap(), upstream);
    }

    #[test]
    fn malformed_ids_are_refused() {
        for bad in ["", "nodot", "!!!.abc", "AAAA.abc", ".abc"] {
            assert_eq!(unwrap(&KEY, &ALICE, bad.as_bytes()), Err(SessionError::Malformed), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn any_tampering_is_refused(id in "[!-~]{1,40}", pos in 0usize..200, bit in 0u8..8) {
            let wrapped = wrap(&KEY, &ALICE, id.as_bytes());
            let mut bytes = wrapped.into_bytes();
            let pos = pos % bytes.len();
            bytes[pos] ^= 1 << bit;
            // Either it no longer decodes, or it decodes to something the MAC rejects,
            // or the flip hit base64 padding bits that decode to the same bytes.
            if let Ok(got) = unwrap(&KEY, &ALICE, &bytes) {
                prop_assert_eq!(got, id.as_bytes());
            }
        }
    }
}
