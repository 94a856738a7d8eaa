//! The gateway token hash: what the control plane stores for a token and what
//! the edge looks a presented token up by. Both call [`hash_token`], so the two
//! can never disagree.

use sha2::{Digest, Sha256};

/// SHA-256 of a gateway token, the key the edge looks tokens up by.
pub type TokenHash = [u8; 32];

/// SHA-256 of the token text: how a gateway token is stored and looked up.
pub fn hash_token(token: &str) -> TokenHash {
    Sha256::digest(token.as_bytes()).into()
}
