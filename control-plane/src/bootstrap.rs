//! First-start and every-start set-up: default org, sealed secrets checked
//! (and re-wrapped after a key rotation), session-binding key, admin token.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use rand::distributions::{Alphanumeric, DistString};
use rand::rngs::OsRng;
use secrecy::{ExposeSecret, SecretString};

use crate::config::ControlPlaneConfig;
use crate::store::{Org, Store};
use crate::tokens;

/// Slug of the org created at start.
pub const DEFAULT_ORG: &str = gatehouse_config::mcp_path::DEFAULT_ORG_SLUG;

/// What the rest of the control plane needs from bootstrap.
pub(crate) struct Bootstrapped {
    pub org: Org,
    /// SHA-256 of every accepted admin token.
    pub admin_token_hashes: Vec<[u8; 32]>,
}

pub(crate) async fn bootstrap(store: &Store, config: &ControlPlaneConfig) -> anyhow::Result<Bootstrapped> {
    let rewrapped = store.rewrap_all().await.context(
        "opening stored secrets failed: is GATEHOUSE_MASTER_KEY the key this database was sealed with?",
    )?;
    if rewrapped > 0 {
        tracing::info!(
            rewrapped,
            key_id = config.keyring.primary().id(),
            "re-wrapped stored secrets under the primary master key"
        );
    }
    let org = store.ensure_org(DEFAULT_ORG, "Default").await.context("creating the default org")?;
    if store.ensure_session_binding_key().await.context("creating the session-binding key")? {
        tracing::info!("generated the session-binding key");
    }
    let admin_token_hashes = admin_tokens(store, config).await?;
    Ok(Bootstrapped { org, admin_token_hashes })
}

/// The configured admin token, else the stored ones, else a newly generated one.
async fn admin_tokens(store: &Store, config: &ControlPlaneConfig) -> anyhow::Result<Vec<[u8; 32]>> {
    if let Some(token) = &config.admin_token {
        return Ok(vec![tokens::hash_secret(token)]);
    }
    let stored = store.admin_token_hashes().await.context("reading admin tokens")?;
    if !stored.is_empty() {
        return Ok(stored);
    }
    // Without a file there is nowhere to put the token but the log, which outlives the
    // terminal (collected, shipped, kept): refuse to start rather than print a secret.
    let Some(path) = &config.admin_token_file else {
        anyhow::bail!(
            "no admin token: set GATEHOUSE_ADMIN_TOKEN, or GATEHOUSE_ADMIN_TOKEN_FILE for a generated one to be written to"
        );
    };
    let token = SecretString::from(format!(
        "{}{}",
        gatehouse_config::token_hash::ADMIN_TOKEN_PREFIX,
        Alphanumeric.sample_string(&mut OsRng, 43)
    ));
    let hash = tokens::hash_secret(&token);
    write_private_file(path, token.expose_secret())
        .with_context(|| format!("writing the admin token to {}", path.display()))?;
    store.add_admin_token(hash).await.context("storing the admin token hash")?;
    tracing::warn!(
        admin_token_file = %path.display(),
        "generated the bootstrap admin token and wrote it to the token file (mode 0600); it is not shown anywhere else"
    );
    Ok(vec![hash])
}

/// Writes `contents` to `path` readable by the owner only.
fn write_private_file(path: &Path, contents: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    #[cfg(unix)]
    {
        // `mode` only applies when the file is created; tighten an existing one too.
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(contents.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}
