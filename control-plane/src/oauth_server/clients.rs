//! Client resolution (registered or by metadata document), redirect URI
//! rules and client authentication at the token and revocation endpoints.

use axum::http::{header, HeaderMap};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use secrecy::SecretString;

use super::{secrets, AuthServer, OAuthError};
use crate::store::{AsClient, AsClientKind};

/// A client as the flows see it.
#[derive(Debug, Clone)]
pub(crate) struct Client {
    /// `client_id`.
    pub id: String,
    /// Display name for the consent screen.
    pub name: String,
    /// Logo for the consent screen.
    pub logo_uri: Option<String>,
    /// Exact redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Allowed grant types.
    pub grant_types: Vec<String>,
    /// The registered record, `None` for a metadata-document client.
    pub registered: Option<AsClient>,
}

impl Client {
    /// Whether the client may use `grant_type`.
    pub fn allows_grant(&self, grant_type: &str) -> bool {
        self.grant_types.iter().any(|g| g == grant_type)
    }

    /// Whether `presented` matches one of the registered redirect URIs exactly,
    /// except that the port of a loopback redirect may differ (RFC 8252 §7.3).
    pub fn redirect_uri_allowed(&self, presented: &str) -> bool {
        self.redirect_uris.iter().any(|registered| redirect_matches(registered, presented))
    }
}

fn redirect_matches(registered: &str, presented: &str) -> bool {
    if registered == presented {
        return true;
    }
    let (Ok(mut a), Ok(mut b)) = (url::Url::parse(registered), url::Url::parse(presented)) else {
        return false;
    };
    if a.scheme() != "http" || !is_loopback_host(a.host_str()) {
        return false;
    }
    let _ = a.set_port(None);
    let _ = b.set_port(None);
    a == b
}

/// Whether `host` names the loopback interface.
pub(crate) fn is_loopback_host(host: Option<&str>) -> bool {
    matches!(host, Some("127.0.0.1" | "[::1]" | "localhost"))
}

/// Checks a redirect URI a client registers (RFC 7591 / OAuth 2.1 §2.3.1):
/// absolute, no fragment, https, http only on loopback, or a private-use scheme of a native app.
pub(crate) fn validate_redirect_uri(uri: &str) -> Result<(), String> {
    let parsed = url::Url::parse(uri).map_err(|_| format!("{uri:?} is not an absolute URI"))?;
    if parsed.fragment().is_some() {
        return Err(format!("{uri:?} must not contain a fragment"));
    }
    match parsed.scheme() {
        "https" if parsed.host_str().is_some() => Ok(()),
        "http" if is_loopback_host(parsed.host_str()) => Ok(()),
        "http" => Err(format!(
            "{uri:?}: http redirect URIs are only allowed on loopback (127.0.0.1, [::1], localhost)"
        )),
        "javascript" | "data" | "file" | "vbscript" | "about" | "blob" | "ftp" | "ws" | "wss" | "https" => {
            Err(format!("{uri:?}: scheme {} is not allowed", parsed.scheme()))
        }
        // Private-use URI schemes of native apps (RFC 8252 §7.1), e.g. `cursor://…`.
        _ => Ok(()),
    }
}

/// The credentials a request presented.
pub(crate) struct Presented {
    pub client_id: String,
    pub secret: Option<SecretString>,
    pub basic: bool,
}

/// Reads client credentials from `Authorization: Basic` or the form (never both).
pub(crate) fn presented_credentials(
    headers: &HeaderMap,
    form_client_id: Option<&str>,
    form_secret: Option<&str>,
) -> Result<Presented, OAuthError> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"));
    if let Some((_, encoded)) = basic {
        if form_secret.is_some() {
            return Err(OAuthError::invalid_request("use one client authentication method"));
        }
        let bad =
            || OAuthError { basic_auth: true, ..OAuthError::invalid_client("malformed basic credentials") };
        let decoded = STANDARD.decode(encoded.trim()).map_err(|_| bad())?;
        let text = String::from_utf8(decoded).map_err(|_| bad())?;
        let (id, secret) = text.split_once(':').ok_or_else(bad)?;
        // RFC 6749 §2.3.1: both parts are form-urlencoded.
        let decode = |s: &str| {
            url::form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned())
        };
        let id = decode(id).ok_or_else(bad)?;
        let secret = decode(secret).ok_or_else(bad)?;
        if form_client_id.is_some_and(|f| f != id) {
            return Err(OAuthError::invalid_request("client_id does not match the authenticated client"));
        }
        return Ok(Presented { client_id: id, secret: Some(SecretString::from(secret)), basic: true });
    }
    let client_id =
        form_client_id.ok_or_else(|| OAuthError::invalid_client("client authentication is required"))?;
    Ok(Presented {
        client_id: client_id.to_owned(),
        secret: form_secret.map(SecretString::from),
        basic: false,
    })
}

impl AuthServer {
    /// The client with `client_id`: registered, or described by its metadata document.
    pub(crate) async fn resolve_client(&self, client_id: &str) -> Result<Option<Client>, OAuthError> {
        if let Some(registered) = self.store.get_as_client(client_id).await? {
            return Ok(Some(Client {
                id: registered.client_id.clone(),
                name: registered.name.clone(),
                logo_uri: registered.logo_uri.clone(),
                redirect_uris: registered.redirect_uris.clone(),
                grant_types: registered.grant_types.clone(),
                registered: Some(registered),
            }));
        }
        if !self.cimd.is_metadata_url(client_id) {
            return Ok(None);
        }
        match self.cimd.fetch(client_id).await {
            Ok(doc) => Ok(Some(Client {
                id: client_id.to_owned(),
                name: doc.client_name.unwrap_or_else(|| client_id.to_owned()),
                logo_uri: doc.logo_uri,
                redirect_uris: doc.redirect_uris,
                grant_types: vec!["authorization_code".to_owned(), "refresh_token".to_owned()],
                registered: None,
            })),
            Err(error) => {
                tracing::warn!(client_id, %error, "client metadata document refused");
                Ok(None)
            }
        }
    }

    /// Authenticates the client of a token or revocation request.
    pub(crate) async fn authenticate_client(&self, presented: Presented) -> Result<Client, OAuthError> {
        let fail = |msg: &str| OAuthError { basic_auth: presented.basic, ..OAuthError::invalid_client(msg) };
        let client =
            self.resolve_client(&presented.client_id).await?.ok_or_else(|| fail("unknown client"))?;
        let expected = client.registered.as_ref().and_then(|r| r.secret_hash.as_deref());
        match (expected, &presented.secret) {
            (None, None) => Ok(client),
            (Some(hash), Some(secret)) if secrets::matches(secret, hash) => {
                let method = client.registered.as_ref().map(|r| r.auth_method.as_str()).unwrap_or("none");
                let used = if presented.basic { "client_secret_basic" } else { "client_secret_post" };
                // A machine client created by an admin may use either form.
                let machine = client.registered.as_ref().is_some_and(|r| r.kind == AsClientKind::Machine);
                if method != used && !machine {
                    return Err(fail("wrong client authentication method"));
                }
                Ok(client)
            }
            (None, Some(_)) => Err(fail("public clients must not present a secret")),
            _ => Err(fail("client authentication failed")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uri_rules() {
        assert!(validate_redirect_uri("https://app.example.com/cb").is_ok());
        assert!(validate_redirect_uri("http://127.0.0.1:3000/cb").is_ok());
        assert!(validate_redirect_uri("http://localhost/cb").is_ok());
        assert!(validate_redirect_uri("cursor://anysphere.cursor-retrieval/oauth/callback").is_ok());
        assert!(validate_redirect_uri("http://evil.example.com/cb").is_err());
        assert!(validate_redirect_uri("https://app.example.com/cb#frag").is_err());
        assert!(validate_redirect_uri("javascript:alert(1)").is_err());
        assert!(validate_redirect_uri("/relative").is_err());
    }

    #[test]
    fn loopback_port_may_vary_but_nothing_else() {
        assert!(redirect_matches("http://127.0.0.1/cb", "http://127.0.0.1:51234/cb"));
        assert!(!redirect_matches("http://127.0.0.1/cb", "http://127.0.0.1:51234/other"));
        assert!(!redirect_matches("https://a.example/cb", "https://a.example:8443/cb"));
        assert!(!redirect_matches("https://a.example/cb", "https://a.example/cb?x=1"));
    }
}
