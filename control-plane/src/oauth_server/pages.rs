//! Server-rendered pages of the authorization endpoint: the consent screen
//! and the error page shown when the client cannot be redirected to.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};

/// The MCP server a consent is for.
pub(crate) enum ResourceChoice {
    /// The client named the resource: server `server_name` of org `org_name`.
    Fixed { resource: String, server_name: String, org_name: String },
    /// The client named none: the user picks one of `(resource, server name)` of org `org_name`.
    Pick { org_name: String, servers: Vec<(String, String)> },
}

/// What the consent screen shows.
pub(crate) struct Consent<'a> {
    pub client_name: &'a str,
    pub client_id: &'a str,
    pub logo_uri: Option<&'a str>,
    pub redirect_host: &'a str,
    pub resource: &'a ResourceChoice,
    pub scope: &'a str,
    pub user: &'a str,
    pub request_id: &'a str,
}

/// Escapes text for HTML content and attribute values.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// The consent screen: Approve / Deny as a POST form carrying the request id (its CSRF token).
pub(crate) fn consent(c: &Consent<'_>) -> Response {
    let logo = c
        .logo_uri
        .filter(|l| l.starts_with("https://"))
        .map(|l| format!(r#"<img src="{}" alt="" width="48" height="48">"#, esc(l)))
        .unwrap_or_default();
    let scopes: String = c.scope.split(' ').map(|s| format!("<li><code>{}</code></li>", esc(s))).collect();
    let (wants, target) = match c.resource {
        ResourceChoice::Fixed { resource, server_name, org_name } => (
            format!(
                "wants to use the MCP server <strong>{}</strong> of the organisation <strong>{}</strong>",
                esc(server_name),
                esc(org_name)
            ),
            format!("<p>Resource: <code>{}</code></p>", esc(resource)),
        ),
        ResourceChoice::Pick { org_name, servers } => {
            let options: String = servers
                .iter()
                .enumerate()
                .map(|(i, (resource, name))| {
                    format!(
                        r#"<p><label><input type="radio" name="resource" value="{}"{}> {} (<code>{}</code>)</label></p>"#,
                        esc(resource),
                        if i == 0 { " checked" } else { "" },
                        esc(name),
                        esc(resource),
                    )
                })
                .collect();
            (
                format!(
                    "wants to use one of your MCP servers of the organisation <strong>{}</strong>",
                    esc(org_name)
                ),
                format!("<fieldset><legend>MCP server</legend>{options}</fieldset>"),
            )
        }
    };
    let body = format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Authorize {name} · Gatehouse</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><main>
{logo}<h1>Authorize {name}</h1>
<p><strong>{name}</strong> (<code>{client_id}</code>) {wants} as <strong>{user}</strong>.</p>
<form method="post" action="/oauth/authorize/decision">
{target}
<p>Scopes:</p><ul>{scopes}</ul>
<p>You will be sent back to <strong>{host}</strong>.</p>
<input type="hidden" name="request_id" value="{request_id}">
<button type="submit" name="decision" value="approve">Approve</button>
<button type="submit" name="decision" value="deny">Deny</button>
</form>
</main></body></html>"#,
        name = esc(c.client_name),
        client_id = esc(c.client_id),
        user = esc(c.user),
        host = esc(c.redirect_host),
        request_id = esc(c.request_id),
    );
    protect(Html(body).into_response())
}

/// An error page for requests whose client or redirect URI cannot be trusted.
pub(crate) fn error(status: StatusCode, message: &str) -> Response {
    let body = format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Authorization error · Gatehouse</title></head>
<body><main><h1>Authorization error</h1><p>{}</p></main></body></html>"#,
        esc(message)
    );
    protect((status, Html(body)).into_response())
}

/// No framing (clickjacking), no caching, no inline scripts.
fn protect(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; img-src https:; style-src 'unsafe-inline'; frame-ancestors 'none'",
        ),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(esc(r#"<a href="x">'&'</a>"#), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
    }

    #[tokio::test]
    async fn the_consent_screen_names_the_org_and_the_server() {
        let resource = ResourceChoice::Fixed {
            resource: "https://mcp.example.com/mcp/acme/files".into(),
            server_name: "Files".into(),
            org_name: "Acme <Corp>".into(),
        };
        let page = consent(&Consent {
            client_name: "Inspector",
            client_id: "c1",
            logo_uri: None,
            redirect_host: "localhost",
            resource: &resource,
            scope: "mcp",
            user: "ada@example.com",
            request_id: "r1",
        });
        let body = axum::body::to_bytes(page.into_body(), usize::MAX).await.unwrap();
        let html = String::from_utf8(body.to_vec()).unwrap();
        assert!(
            html.contains("<strong>Files</strong> of the organisation <strong>Acme &lt;Corp&gt;</strong>")
        );
        assert!(html.contains("<code>https://mcp.example.com/mcp/acme/files</code>"));
    }
}
