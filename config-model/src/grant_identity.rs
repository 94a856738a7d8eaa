//! Whose upstream grant: an identity as both planes key grants and the edge's
//! token cache, so a bring-your-own-JWT caller's `sub` is never taken for a
//! Gatehouse user of the same text.

/// Where an identity comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IdentitySource {
    /// Users Gatehouse knows: a gateway token's `user`, SSO users, Gatehouse
    /// access tokens, certificate identities. Their issuer is empty.
    Gatehouse,
    /// A bring-your-own JWT (or introspected token) of the org's own IdP; the
    /// issuer is its `iss`.
    Jwt,
}

impl IdentitySource {
    /// The stored and wire name: `gatehouse` or `jwt`.
    pub fn as_str(self) -> &'static str {
        match self {
            IdentitySource::Gatehouse => "gatehouse",
            IdentitySource::Jwt => "jwt",
        }
    }

    /// The source a stored or wire name denotes; empty is `gatehouse` (what
    /// edges that do not send a source mean).
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "" | "gatehouse" => Some(IdentitySource::Gatehouse),
            "jwt" => Some(IdentitySource::Jwt),
            _ => None,
        }
    }
}

/// One identity within an org: the key of its upstream grants, with the server.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GrantIdentity {
    /// Where the identity comes from.
    pub source: IdentitySource,
    /// The JWT issuer (`jwt`); empty for `gatehouse`.
    pub issuer: String,
    /// The user (`gatehouse`) or the JWT subject (`jwt`).
    pub subject: String,
}

impl GrantIdentity {
    /// The Gatehouse user `user`.
    pub fn gatehouse(user: impl Into<String>) -> Self {
        Self { source: IdentitySource::Gatehouse, issuer: String::new(), subject: user.into() }
    }

    /// The subject `subject` of JWTs issued by `issuer`.
    pub fn jwt(issuer: impl Into<String>, subject: impl Into<String>) -> Self {
        Self { source: IdentitySource::Jwt, issuer: issuer.into(), subject: subject.into() }
    }
}

/// A bare user name is a Gatehouse user.
impl From<&str> for GrantIdentity {
    fn from(user: &str) -> Self {
        Self::gatehouse(user)
    }
}

impl From<&GrantIdentity> for GrantIdentity {
    fn from(identity: &GrantIdentity) -> Self {
        identity.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_round_trip_and_empty_means_gatehouse() {
        for source in [IdentitySource::Gatehouse, IdentitySource::Jwt] {
            assert_eq!(IdentitySource::parse(source.as_str()), Some(source));
        }
        assert_eq!(IdentitySource::parse(""), Some(IdentitySource::Gatehouse));
        assert_eq!(IdentitySource::parse("saml"), None);
        assert_ne!(GrantIdentity::gatehouse("a"), GrantIdentity::jwt("", "a"));
    }
}
