//! `gatehouse export`: the org's workspaces, servers, provisioning and rate limits in the
//! format `apply` reads. Header values are write-only, so each becomes an
//! environment-variable reference (`GATEHOUSE_SECRET_<SERVER>_<HEADER>`) to
//! fill in before applying elsewhere.

use std::collections::BTreeMap;

use super::admin_client::{AdminApi, ApiTarget};
use super::file::{GatehouseFile, ProvisionSpec, RateLimitSpec, SecretRef, ServerSpec, WorkspaceSpec};
use super::plan::Current;

/// The current state of the org of `target` as a file.
pub async fn export(target: ApiTarget) -> anyhow::Result<GatehouseFile> {
    let org = target.org.clone();
    let api = AdminApi::new(target);
    let current = Current::fetch(&api).await?;
    let workspaces = current
        .workspaces
        .iter()
        .map(|(slug, ws)| WorkspaceSpec {
            slug: slug.clone(),
            name: ws["name"].as_str().filter(|n| n != slug).map(str::to_owned),
            servers: current
                .provisions
                .iter()
                .filter(|((w, _), _)| w == slug)
                .map(|((_, server), tools)| ProvisionSpec { server: server.clone(), tools: tools.clone() })
                .collect(),
        })
        .collect();
    let servers = current
        .servers
        .iter()
        .map(|(slug, s)| {
            let headers: BTreeMap<String, SecretRef> = s["headers"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|h| h.as_str())
                .map(|h| (h.to_owned(), SecretRef { env: Some(secret_var(slug, h)), file: None }))
                .collect();
            let advanced = s["advanced_config"].clone();
            ServerSpec {
                slug: slug.clone(),
                name: s["name"].as_str().filter(|n| n != slug).map(str::to_owned),
                url: s["url"].as_str().unwrap_or_default().to_owned(),
                auth_type: s["auth_type"].as_str().map(str::to_owned),
                headers,
                advanced_config: advanced.as_object().is_some_and(|o| !o.is_empty()).then_some(advanced),
                auto_provision: s["auto_provision"].as_bool().unwrap_or(false),
            }
        })
        .collect();
    let rate_limits = current
        .rate_limits
        .iter()
        .map(|(name, view)| Ok((name.clone(), rate_limit_spec(view)?)))
        .collect::<anyhow::Result<_>>()?;
    Ok(GatehouseFile { org, workspaces, servers, rate_limits })
}

/// A listed rate limit (`GET /v1/rate-limits`) as the file writes it: its fields but
/// `id`, `name` (the key) and the timestamps.
fn rate_limit_spec(view: &serde_json::Value) -> anyhow::Result<RateLimitSpec> {
    let mut fields = view.clone();
    if let Some(object) = fields.as_object_mut() {
        for key in ["id", "name", "created_at", "updated_at"] {
            object.remove(key);
        }
    }
    serde_json::from_value(fields)
        .map_err(|e| anyhow::anyhow!("rate limit {}: unexpected shape from the API: {e}", view["name"]))
}

/// `GATEHOUSE_SECRET_<SERVER>_<HEADER>`, upper-cased, other characters as `_`.
pub fn secret_var(server: &str, header: &str) -> String {
    let clean = |s: &str| {
        s.chars()
            .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' })
            .collect::<String>()
    };
    format!("GATEHOUSE_SECRET_{}_{}", clean(server), clean(header))
}

#[cfg(test)]
mod tests {
    #[test]
    fn secret_variables_are_shell_names() {
        assert_eq!(super::secret_var("github-mcp", "x-api-key"), "GATEHOUSE_SECRET_GITHUB_MCP_X_API_KEY");
    }
}
