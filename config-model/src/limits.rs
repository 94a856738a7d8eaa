//! Time limits the control plane and the edges must agree on. Each pair is
//! ordered (a retention outlives what it guards), and the tests below check
//! the order so changing one side alone fails the build.

use std::time::Duration;

/// Longest an edge caches an upstream access token (its own expiry permitting).
pub const MAX_CACHED_TOKEN_TTL: Duration = Duration::from_secs(3600);

/// How long the control plane publishes the id of a deleted upstream grant
/// (its tombstone). Longer than [`MAX_CACHED_TOKEN_TTL`], so an edge always
/// recognises a cached token of a deleted grant.
pub const GRANT_REVOCATION_RETENTION: Duration = Duration::from_secs(2 * 3600);

/// Longest lifetime of an access token issued by Gatehouse's authorization
/// server (the upper bound of `GATEHOUSE_OAUTH_ACCESS_TOKEN_TTL_SECS`).
pub const MAX_GATEHOUSE_ACCESS_TOKEN_TTL: Duration = Duration::from_secs(3600);

/// Leeway the edge allows on `exp`/`nbf` of a Gatehouse access token.
pub const GATEHOUSE_JWT_LEEWAY: Duration = Duration::from_secs(30);

/// How long a deactivated user stays on the list edges refuse access tokens of:
/// longer than any Gatehouse access token is accepted
/// ([`MAX_GATEHOUSE_ACCESS_TOKEN_TTL`] plus [`GATEHOUSE_JWT_LEEWAY`]).
pub const DEACTIVATED_LIST_WINDOW: Duration = Duration::from_secs(2 * 3600);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grant_tombstone_outlives_every_cached_upstream_token() {
        assert!(MAX_CACHED_TOKEN_TTL < GRANT_REVOCATION_RETENTION);
    }

    #[test]
    fn the_deactivated_list_outlives_every_gatehouse_access_token() {
        assert!(MAX_GATEHOUSE_ACCESS_TOKEN_TTL + GATEHOUSE_JWT_LEEWAY < DEACTIVATED_LIST_WINDOW);
    }
}
