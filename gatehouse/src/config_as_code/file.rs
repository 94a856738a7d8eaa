//! The config file: what `gatehouse apply` reads and `gatehouse export`
//! writes, with its JSON Schema (`docs/gatehouse-file.schema.json`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// An org's desired workspaces, servers, provisioning and rate limits.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GatehouseFile {
    /// The org the file describes (its slug); `--org` overrides it. Omitted: the
    /// credential's own org (the default org for the platform admin token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    /// Workspaces (teams), each with the servers provisioned to it.
    #[serde(default)]
    pub workspaces: Vec<WorkspaceSpec>,
    /// Upstream MCP servers.
    #[serde(default)]
    pub servers: Vec<ServerSpec>,
    /// Rate limits and budgets, keyed by their name (unique in the org).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub rate_limits: BTreeMap<String, RateLimitSpec>,
}

/// A workspace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkspaceSpec {
    /// `^[a-z0-9][a-z0-9-]{0,62}$`, unique in the org.
    pub slug: String,
    /// Display name (defaults to the slug; set at creation only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The servers provisioned to it.
    #[serde(default)]
    pub servers: Vec<ProvisionSpec>,
}

/// One server provisioned to a workspace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProvisionSpec {
    /// The server's slug.
    pub server: String,
    /// Which tools the workspace may call (omitted: all).
    #[serde(default, skip_serializing_if = "ToolsSpec::is_empty")]
    pub tools: ToolsSpec,
}

/// Tool globs (`*` any run, `?` one character).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ToolsSpec {
    /// A tool must match one of these (empty: every tool).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<String>,
    /// A tool matching one of these is always denied.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deny: Vec<String>,
}

impl ToolsSpec {
    /// No rules: every tool.
    pub fn is_empty(&self) -> bool {
        self.allow.is_empty() && self.deny.is_empty()
    }
}

/// An upstream MCP server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerSpec {
    /// `^[a-z0-9][a-z0-9-]{0,62}$`, unique in the org.
    pub slug: String,
    /// Display name (defaults to the slug).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Absolute http(s) URL of the upstream MCP endpoint.
    pub url: String,
    /// `none`, `headers`, `oauth2` or `client_credentials`; defaults to `headers` when headers are given, else `none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_type: Option<String>,
    /// Static headers injected upstream, each a reference to where its value is kept.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, SecretRef>,
    /// The server's advanced configuration (as the admin API takes it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advanced_config: Option<serde_json::Value>,
    /// Provision it to every workspace created from now on.
    #[serde(default, skip_serializing_if = "is_false")]
    pub auto_provision: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A rate limit (`limit`) or budget (`budget`), with the fields of `POST /v1/rate-limits`
/// but its name: exactly one of `limit` and `budget`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSpec {
    /// Which requests count (omitted: all of the org's).
    #[serde(default, rename = "match", skip_serializing_if = "RateLimitMatchSpec::is_empty")]
    pub matches: RateLimitMatchSpec,
    /// A request rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<LimitRateSpec>,
    /// A tool-call quota.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<BudgetSpec>,
    /// Requests a limit lets through at once (omitted: `limit.requests`); limits only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst: Option<u64>,
    /// One counter per caller (user) instead of one shared by everyone matched.
    #[serde(default, skip_serializing_if = "is_false")]
    pub per_caller: bool,
}

/// Which requests a limit counts; an omitted field matches every value.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimitMatchSpec {
    /// Slug of the workspace the request is routed through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace: Option<String>,
    /// The caller's user, as tokens name it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Server slug.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// Tool-name glob; when set, only `tools/call` requests of matching tools count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
}

impl RateLimitMatchSpec {
    /// Matches the whole org.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// `requests` per `second`, `minute`, `hour` or `day`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitRateSpec {
    /// Requests per period.
    pub requests: u64,
    /// `second`, `minute`, `hour` or `day`.
    pub per: String,
}

/// `calls` (tool calls) per UTC `day` or calendar `month`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BudgetSpec {
    /// Tool calls per period.
    pub calls: u64,
    /// `day` or `month`.
    pub per: String,
}

impl RateLimitSpec {
    /// The admin API body of the limit named `name` (`POST /v1/rate-limits`).
    pub fn api_body(&self, name: &str) -> serde_json::Value {
        let mut body = serde_json::to_value(self).expect("a rate limit serialises");
        let object = body.as_object_mut().expect("a rate limit is an object");
        object.insert("name".to_owned(), name.into());
        object.entry("match").or_insert_with(|| serde_json::json!({}));
        body
    }
}

/// Where a secret's value is: an environment variable or a file (relative
/// paths are relative to the config file). Never the value itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretRef {
    /// Name of the environment variable holding the value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    /// Path of a file holding the value (trailing newline ignored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
}

/// Why a file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The file cannot be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Not valid YAML or JSON of the expected shape.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// What is wrong, with its location.
        message: String,
    },
}

impl GatehouseFile {
    /// Reads a YAML or JSON file (JSON is YAML, so both parse the same way; the
    /// extension only picks the error messages' wording).
    pub fn read(path: &Path) -> Result<Self, FileError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| FileError::Read { path: path.display().to_string(), source })?;
        Self::parse(&text).map_err(|message| FileError::Parse { path: path.display().to_string(), message })
    }

    /// Parses YAML or JSON text.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.trim_start().starts_with('{') {
            let de = &mut serde_json::Deserializer::from_str(text);
            return serde_path_to_error::deserialize(de)
                .map_err(|e| format!("{} (at {})", e.inner(), e.path()));
        }
        serde_norway::from_str(text).map_err(|e| e.to_string())
    }

    /// The file as YAML.
    pub fn to_yaml(&self) -> String {
        serde_norway::to_string(self).expect("the file types serialise")
    }

    /// The JSON Schema of the file format.
    pub fn json_schema() -> serde_json::Value {
        serde_json::to_value(schemars::schema_for!(GatehouseFile)).expect("a schema is JSON")
    }
}

impl SecretRef {
    /// The value, read from the environment map or the file (relative to `base`).
    pub fn resolve(
        &self,
        field: &str,
        env: &BTreeMap<String, String>,
        base: &Path,
    ) -> Result<secrecy::SecretString, String> {
        match (&self.env, &self.file) {
            (Some(var), None) => env
                .get(var)
                .filter(|v| !v.is_empty())
                .map(|v| secrecy::SecretString::from(v.clone()))
                .ok_or_else(|| format!("{field}: environment variable {var} is not set")),
            (None, Some(path)) => {
                let path = if path.is_absolute() { path.clone() } else { base.join(path) };
                std::fs::read_to_string(&path)
                    .map(|v| secrecy::SecretString::from(v.trim_end_matches(['\n', '\r']).to_owned()))
                    .map_err(|e| format!("{field}: reading {}: {e}", path.display()))
            }
            _ => Err(format!("{field}: give exactly one of `env` or `file`, never the secret itself")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_and_json_mean_the_same() {
        let yaml = "org: acme\nworkspaces:\n  - slug: eng\n    servers:\n      - server: github\n        tools: {deny: [\"delete_*\"]}\nservers:\n  - slug: github\n    url: https://example.com/mcp\n    headers:\n      Authorization: {env: GITHUB_TOKEN}\n";
        let json = r#"{"org": "acme", "workspaces": [{"slug": "eng", "servers": [{"server": "github", "tools": {"deny": ["delete_*"]}}]}],
            "servers": [{"slug": "github", "url": "https://example.com/mcp", "headers": {"Authorization": {"env": "GITHUB_TOKEN"}}}]}"#;
        let a = GatehouseFile::parse(yaml).unwrap();
        assert_eq!(a, GatehouseFile::parse(json).unwrap());
        assert_eq!(GatehouseFile::parse(&a.to_yaml()).unwrap(), a, "export's format reads back");
    }

    #[test]
    fn rate_limits_are_keyed_by_name_with_the_api_fields() {
        let yaml = "rate_limits:\n  search per user:\n    match: {server: github, tool: \"search_*\"}\n    limit: {requests: 100, per: minute}\n    burst: 10\n    per_caller: true\n  ci quota:\n    budget: {calls: 5000, per: day}\n";
        let file = GatehouseFile::parse(yaml).unwrap();
        let body = file.rate_limits["search per user"].api_body("search per user");
        assert_eq!(
            body,
            serde_json::json!({"name": "search per user", "match": {"server": "github", "tool": "search_*"},
                "limit": {"requests": 100, "per": "minute"}, "burst": 10, "per_caller": true})
        );
        let quota = file.rate_limits["ci quota"].api_body("ci quota");
        assert_eq!(
            quota,
            serde_json::json!({"name": "ci quota", "match": {}, "budget": {"calls": 5000, "per": "day"}})
        );
        assert_eq!(GatehouseFile::parse(&file.to_yaml()).unwrap(), file, "export's format reads back");
        let err = GatehouseFile::parse(
            "rate_limits:\n  x:\n    limit: {requests: 1, per: minute}\n    window: 3\n",
        )
        .unwrap_err();
        assert!(err.contains("window"), "{err}");
    }

    #[test]
    fn literal_secrets_and_unknown_keys_are_refused() {
        let literal = "servers:\n  - slug: s\n    url: https://x\n    headers: {Authorization: Bearer abc}\n";
        assert!(GatehouseFile::parse(literal).is_err());
        let err = GatehouseFile::parse(r#"{"servers": [{"slug": "s", "url": "https://x", "colour": 1}]}"#)
            .unwrap_err();
        assert!(err.contains("colour") && err.contains("servers[0]"), "{err}");
    }

    #[test]
    fn secret_refs_resolve_from_env_or_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("token.txt"), "from-file\n").unwrap();
        let env = BTreeMap::from([("T".to_owned(), "from-env".to_owned())]);
        let by_env = SecretRef { env: Some("T".into()), file: None };
        let by_file = SecretRef { env: None, file: Some("token.txt".into()) };
        use secrecy::ExposeSecret as _;
        assert_eq!(by_env.resolve("h", &env, dir.path()).unwrap().expose_secret(), "from-env");
        assert_eq!(by_file.resolve("h", &env, dir.path()).unwrap().expose_secret(), "from-file");
        let missing = SecretRef { env: Some("NOPE".into()), file: None };
        assert!(missing.resolve("servers[0].headers.x", &env, dir.path()).unwrap_err().contains("NOPE"));
        let both = SecretRef { env: Some("T".into()), file: Some("token.txt".into()) };
        assert!(both.resolve("h", &env, dir.path()).is_err());
    }

    #[test]
    fn the_schema_names_every_section() {
        let schema = GatehouseFile::json_schema().to_string();
        for key in ["workspaces", "servers", "headers", "env", "file", "tools", "rate_limits", "budget"] {
            assert!(schema.contains(key), "{key}");
        }
    }
}

#[cfg(test)]
mod schema_file {
    use super::GatehouseFile;

    /// `docs/gatehouse-file.schema.json` is the schema of these types: regenerate it with
    /// `GATEHOUSE_WRITE_SCHEMA=1 cargo test -p gatehouse schema_file`.
    #[test]
    fn the_published_schema_is_current() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/gatehouse-file.schema.json");
        let mut generated = serde_json::to_string_pretty(&GatehouseFile::json_schema()).unwrap();
        generated.push('\n');
        if std::env::var_os("GATEHOUSE_WRITE_SCHEMA").is_some() {
            std::fs::write(&path, &generated).unwrap();
        }
        let published = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(published == generated, "{} is stale: regenerate it (see this test's doc)", path.display());
    }
}
