//! `gatehouse apply`: validate the whole file with the admin API's own
//! validators and resolve its secrets (nothing is changed if anything is
//! wrong), read the org's current state, print the plan, then (unless
//! `--dry-run`) make the calls in order.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;

use gatehouse_control_plane::validation::{self, FieldError};
use secrecy::SecretString;

use super::admin_client::{AdminApi, ApiTarget};
use super::file::GatehouseFile;
use super::plan::{plan, Current, Desired};

/// How to apply.
#[derive(Debug, Clone, Default)]
pub struct ApplyOptions {
    /// Print the plan and change nothing.
    pub dry_run: bool,
    /// Delete workspaces, servers, provisions and rate limits the file does not name.
    pub prune: bool,
}

/// Applies `file` (read from `path`, whose directory anchors relative secret
/// files) to the org of `target`; writes the plan and the outcome to `out`.
/// Returns the number of changes made (or planned, with `--dry-run`).
pub async fn apply(
    file: &GatehouseFile,
    path: &Path,
    target: ApiTarget,
    env: &BTreeMap<String, String>,
    options: &ApplyOptions,
    out: &mut impl Write,
) -> anyhow::Result<usize> {
    let base = path.parent().unwrap_or(Path::new("."));
    let desired = validate(file, env, base).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let api = AdminApi::new(target);
    let current = Current::fetch(&api).await?;
    for (i, ws) in desired.workspaces.iter().enumerate() {
        for (j, prov) in ws.servers.iter().enumerate() {
            let known = current.servers.contains_key(&prov.server)
                || desired.servers.iter().any(|(s, _)| s.slug == prov.server);
            if !known {
                anyhow::bail!(
                    "{}: workspaces[{i}].servers[{j}].server: no server {:?} in the file or the org",
                    path.display(),
                    prov.server
                );
            }
        }
    }
    check_rate_limit_references(&desired, &current, options.prune)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    for ws in &desired.workspaces {
        if let (Some(name), Some(now)) = (&ws.name, current.workspaces.get(&ws.slug)) {
            if now["name"] != *name {
                writeln!(out, "! workspace {}: name {} in the file, {} in the org (workspaces are named at creation only)", ws.slug, name, now["name"])?;
            }
        }
    }
    let steps = plan(&desired, &current, options.prune);
    let changes: Vec<_> = steps.iter().filter(|s| s.reassert.is_none()).collect();
    if options.dry_run {
        for step in &changes {
            writeln!(out, "{}", step.summary)?;
        }
        if changes.is_empty() {
            writeln!(out, "no changes")?;
        } else {
            writeln!(out, "dry run: {} change(s), nothing applied", changes.len())?;
        }
        if steps.iter().any(|s| s.reassert.is_some()) {
            writeln!(out, "(header values are write-only: the control plane compares them when applying)")?;
        }
        return Ok(changes.len());
    }
    let mut applied = 0;
    for step in &steps {
        let result = api.call(step.method.clone(), &step.path, step.body.as_ref()).await;
        let response = match result {
            Ok(response) => response,
            Err(err) => {
                writeln!(out, "{applied} change(s) applied before the error")?;
                return Err(anyhow::anyhow!("{err}"));
            }
        };
        if let Some(before) = &step.reassert {
            // Unchanged values leave the server as it was (same `updated_at`).
            if *before == response["updated_at"] {
                continue;
            }
        }
        writeln!(out, "{}", step.summary)?;
        applied += 1;
    }
    if applied == 0 {
        writeln!(out, "no changes")?;
    } else {
        writeln!(out, "applied {applied} change(s)")?;
    }
    Ok(applied)
}

/// Checks every field with the admin API's validators (errors name the field in the
/// file, e.g. `servers[1].url`) and resolves the secret references.
fn validate(file: &GatehouseFile, env: &BTreeMap<String, String>, base: &Path) -> Result<Desired, String> {
    let at = |prefix: String| move |e: FieldError| format!("{prefix}.{}: {}", e.field, e.message);
    let field = |prefix: &str, e: FieldError| format!("{prefix}: {}", e.message);
    if let Some(org) = &file.org {
        validation::slug("org", org).map_err(|e| field("org", e))?;
    }
    let mut servers = Vec::new();
    let mut server_slugs = BTreeSet::new();
    for (i, spec) in file.servers.iter().enumerate() {
        let p = format!("servers[{i}]");
        validation::slug("slug", &spec.slug).map_err(at(p.clone()))?;
        if !server_slugs.insert(spec.slug.clone()) {
            return Err(format!("{p}.slug: server {:?} is named twice", spec.slug));
        }
        validation::name("name", spec.name.as_deref().unwrap_or(&spec.slug)).map_err(at(p.clone()))?;
        let mut spec = spec.clone();
        spec.url = validation::upstream_url("url", &spec.url).map_err(at(p.clone()))?;
        let mut raw: BTreeMap<String, SecretString> = BTreeMap::new();
        for (name, reference) in &spec.headers {
            raw.insert(name.clone(), reference.resolve(&format!("{p}.headers.{name}"), env, base)?);
        }
        let headers = validation::upstream_headers(&raw).map_err(at(p.clone()))?;
        if let Some(auth_type) = &spec.auth_type {
            validation::auth_type("auth_type", auth_type).map_err(at(p.clone()))?;
            match (auth_type.as_str(), headers.len()) {
                ("none", n) if n > 0 => {
                    return Err(format!("{p}.headers: must be empty when auth_type is \"none\""))
                }
                ("headers", 0) => {
                    return Err(format!(
                        "{p}.headers: needs at least one header when auth_type is \"headers\""
                    ))
                }
                _ => {}
            }
        }
        if let Some(config) = &spec.advanced_config {
            validation::advanced_config("advanced_config", config).map_err(at(p.clone()))?;
        }
        servers.push((spec, headers));
    }
    let mut workspace_slugs = BTreeSet::new();
    for (i, ws) in file.workspaces.iter().enumerate() {
        let p = format!("workspaces[{i}]");
        validation::slug("slug", &ws.slug).map_err(at(p.clone()))?;
        if !workspace_slugs.insert(ws.slug.clone()) {
            return Err(format!("{p}.slug: workspace {:?} is named twice", ws.slug));
        }
        if let Some(name) = &ws.name {
            validation::name("name", name).map_err(at(p.clone()))?;
        }
        let mut provisioned = BTreeSet::new();
        for (j, prov) in ws.servers.iter().enumerate() {
            let q = format!("{p}.servers[{j}]");
            validation::slug("server", &prov.server).map_err(at(q.clone()))?;
            if !provisioned.insert(prov.server.clone()) {
                return Err(format!("{q}.server: {:?} is provisioned twice", prov.server));
            }
            validation::tool_globs("tools.allow", &prov.tools.allow).map_err(at(q.clone()))?;
            validation::tool_globs("tools.deny", &prov.tools.deny).map_err(at(q.clone()))?;
        }
    }
    for (name, spec) in &file.rate_limits {
        gatehouse_control_plane::api::validate_rate_limit(&spec.api_body(name))
            .map_err(|e| format!("rate_limits[{name:?}].{}: {}", e.field, e.message))?;
    }
    Ok(Desired { workspaces: file.workspaces.clone(), servers, rate_limits: file.rate_limits.clone() })
}

/// A limit may match only a workspace or server that will exist when it is created: one
/// the file names, or (without `--prune`, which deletes the others) one the org has.
fn check_rate_limit_references(desired: &Desired, current: &Current, prune: bool) -> Result<(), String> {
    for (name, spec) in &desired.rate_limits {
        if let Some(ws) = &spec.matches.workspace {
            let known = desired.workspaces.iter().any(|w| w.slug == *ws)
                || (!prune && current.workspaces.contains_key(ws));
            if !known {
                return Err(format!(
                    "rate_limits[{name:?}].match.workspace: no workspace {ws:?} in the file or the org"
                ));
            }
        }
        if let Some(server) = &spec.matches.server {
            let known = desired.servers.iter().any(|(s, _)| s.slug == *server)
                || (!prune && current.servers.contains_key(server));
            if !known {
                return Err(format!(
                    "rate_limits[{name:?}].match.server: no server {server:?} in the file or the org"
                ));
            }
        }
    }
    Ok(())
}
