//! The gateway token hash: what the control plane stores for a token and what
//! the edge looks a presented token up by. Both call [`hash_token`], so the two
//! can never disagree.

use sha2::{Digest, Sha256};

/// Prefix of gateway tokens, the credentials agents present at the edges.
pub const GATEWAY_TOKEN_PREFIX: &str = "gth_";
/// Prefix of generated platform admin tokens (admin API only).
pub const ADMIN_TOKEN_PREFIX: &str = "gha_";
/// Prefix of org API keys (admin API only).
pub const API_KEY_PREFIX: &str = "gak_";
/// Prefix of edge tokens (an edge's credential at the control plane).
pub const EDGE_TOKEN_PREFIX: &str = "ghn_";

/// Whether `token` looks like a credential of the admin API or of an edge, not of an
/// agent: the edge then says which credential to use instead of only "invalid token".
pub fn is_admin_side_credential(token: &str) -> bool {
    [ADMIN_TOKEN_PREFIX, API_KEY_PREFIX, EDGE_TOKEN_PREFIX].iter().any(|p| token.starts_with(p))
}

/// SHA-256 of a gateway token, the key the edge looks tokens up by.
pub type TokenHash = [u8; 32];

/// SHA-256 of the token text: how a gateway token is stored and looked up.
pub fn hash_token(token: &str) -> TokenHash {
    Sha256::digest(token.as_bytes()).into()
}
