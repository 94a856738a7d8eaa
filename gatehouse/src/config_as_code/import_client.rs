//! `gatehouse import-client-config`: an MCP client's configuration file
//! (`{"mcpServers": {...}}` of Claude Desktop and Cursor, `{"servers": {...}}`
//! of VS Code) → registry entries for its remote servers, provisioned to a
//! workspace, plus one gateway token for them; and the client file to use
//! instead, pointing every imported entry at the edge. The upstream
//! credentials move into Gatehouse's encrypted store; the new client file
//! holds only the gateway token.
//!
//! Entries that start a local process (`command`) are stdio servers, which
//! Gatehouse does not proxy: they are kept as they are and reported.

use std::io::Write;

use reqwest::{Method, StatusCode};
use serde_json::{json, Map, Value};

use super::admin_client::{AdminApi, ApiCallError, ApiTarget};

/// What to import into.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Workspace the servers are provisioned to (created if missing).
    pub workspace: String,
    /// The Gatehouse user the new gateway token names.
    pub user: String,
    /// The edge's public URL, for the client file.
    pub edge_url: String,
}

/// Imports `client_file` (its text); writes the new client file to `out`
/// and a report of each entry to `report`.
pub async fn import_client_config(
    client_file: &str,
    target: ApiTarget,
    options: &ImportOptions,
    out: &mut impl Write,
    report: &mut impl Write,
) -> anyhow::Result<()> {
    let mut doc: Value =
        serde_json::from_str(client_file).map_err(|e| anyhow::anyhow!("the client file is not JSON: {e}"))?;
    let key = ["mcpServers", "servers"].into_iter().find(|k| doc[*k].is_object()).ok_or_else(|| {
        anyhow::anyhow!("no `mcpServers` (Claude Desktop, Cursor) or `servers` (VS Code) object")
    })?;
    let entries: Map<String, Value> = doc[key].as_object().cloned().unwrap_or_default();
    gatehouse_control_plane::validation::slug("--workspace", &options.workspace)
        .map_err(|e| anyhow::anyhow!("{}: {}", e.field, e.message))?;

    let api = AdminApi::new(target);
    let org = api.call(Method::GET, "/org", None).await?["slug"].as_str().unwrap_or("default").to_owned();
    let existing: Vec<String> = api
        .list_all("/servers", "servers")
        .await?
        .iter()
        .filter_map(|s| s["slug"].as_str().map(str::to_owned))
        .collect();
    let mut plan = Vec::new();
    for (name, entry) in &entries {
        let url = entry.get("url").or_else(|| entry.get("serverUrl")).and_then(Value::as_str);
        match url {
            Some(url) => {
                let slug = slug_of(name);
                if existing.contains(&slug)
                    || plan.iter().any(|(_, s, _): &(String, String, Value)| *s == slug)
                {
                    writeln!(report, "not imported {name}: a server with slug {slug} exists already")?;
                    continue;
                }
                let headers = entry.get("headers").cloned().unwrap_or_else(|| json!({}));
                let body = json!({"slug": slug, "name": name, "url": url, "headers": headers});
                plan.push((name.clone(), slug, body));
            }
            None if entry.get("command").is_some() => writeln!(
                report,
                "not imported {name}: a stdio server (`command`); Gatehouse proxies remote (HTTP) MCP servers"
            )?,
            None => writeln!(report, "not imported {name}: no `url`")?,
        }
    }
    if plan.is_empty() {
        anyhow::bail!("nothing to import: no remote servers in the file");
    }

    // The workspace, the servers, their provisions, then one token for all of them.
    match api.call(Method::GET, &format!("/workspaces/{}", options.workspace), None).await {
        Ok(_) => {}
        Err(ApiCallError::Refused { status: StatusCode::NOT_FOUND, .. }) => {
            api.call(Method::POST, "/workspaces", Some(&json!({"slug": options.workspace}))).await?;
            writeln!(report, "created workspace {}", options.workspace)?;
        }
        Err(e) => return Err(e.into()),
    }
    for (name, slug, body) in &plan {
        api.call(Method::POST, "/servers", Some(body)).await?;
        api.call(Method::PUT, &format!("/workspaces/{}/servers/{slug}", options.workspace), Some(&json!({})))
            .await?;
        writeln!(report, "imported {name} as server {slug}, provisioned to {}", options.workspace)?;
    }
    let slugs: Vec<&String> = plan.iter().map(|(_, s, _)| s).collect();
    let minted = api
        .call(
            Method::POST,
            "/auth/tokens",
            Some(
                &json!({"user": options.user, "team": options.workspace, "permissions": {"servers": slugs}}),
            ),
        )
        .await?;
    let token = minted["token"].as_str().ok_or_else(|| anyhow::anyhow!("the token response has no token"))?;
    writeln!(
        report,
        "minted gateway token {} for {}",
        minted["id"].as_str().unwrap_or_default(),
        options.user
    )?;

    let edge = options.edge_url.trim_end_matches('/');
    for (name, slug, _) in &plan {
        let mut replaced = json!({
            "url": format!("{edge}/mcp/{org}/{slug}"),
            "headers": {"Authorization": format!("Bearer {token}")},
        });
        if let Some(kind) = entries[name].get("type") {
            replaced["type"] = kind.clone();
        }
        doc[key][name] = replaced;
    }
    writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
    Ok(())
}

/// A server slug from a client's entry name: lower-case, other characters as `-`.
pub fn slug_of(name: &str) -> String {
    let mut slug: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
    slug = slug.trim_matches('-').to_owned();
    slug.truncate(63);
    if slug.is_empty() {
        slug.push_str("server");
    }
    slug
}

#[cfg(test)]
mod tests {
    #[test]
    fn slugs_follow_the_registry_rules() {
        assert_eq!(super::slug_of("GitHub Copilot"), "github-copilot");
        assert_eq!(super::slug_of("--x--"), "x");
        assert_eq!(super::slug_of("✨"), "server");
        assert!(gatehouse_control_plane::validation::slug("s", &super::slug_of("Linear (prod)")).is_ok());
    }
}
