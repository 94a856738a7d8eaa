use serde_json::json;

use super::*;

/// Documented and edge-case `jwt_validation` shapes: what the edge compiles from
/// the wire must be what it would have compiled from the JSON.
#[test]
fn jwt_validation_survives_the_wire_unchanged() {
    for v in [
        json!({"jwksUri": "https://idp.example/.well-known/jwks.json", "workspace": "eng",
               "skipIssuerAndAudienceCheck": true}),
        json!({"jwksUri": "https://idp.example/jwks", "issuer": "https://idp.example", "audience": ["a", "b"],
               "algorithms": ["RS256", "PS256"], "clockTolerance": 5, "maxTokenAge": 600, "headerKey": "X-Token",
               "requiredClaims": ["sub", "email"], "userClaim": "uid", "emailClaim": "mail", "nameClaim": "cn",
               "rolesClaim": "groups", "scopeClaim": "scp", "workspaceClaim": "team", "cacheTtl": 60,
               "claimValues": [{"claim": "groups", "value": ["eng", "ops"], "matchType": "contains"},
                               {"claim": "iss", "value": "https://idp.example"},
                               {"claim": "sub", "value": "^svc-.*$", "matchType": "regex"}]}),
        json!({"jwksUri": "https://idp.example/jwks", "issuer": "https://idp.example", "audience": "a",
               "claimValues": {"iss": {"values": "https://idp.example", "matchType": "exact"},
                               "groups": {"values": ["eng"], "matchType": "contains"}}}),
        json!({"introspectEndpoint": "https://idp.example/introspect", "introspectClientId": "gatehouse",
               "workspace": "eng", "issuer": "https://idp.example", "audience": "gatehouse"}),
        json!({"jwks": {"keys": [{"kty": "EC", "crv": "P-256", "kid": "k1", "use": "sig", "alg": "ES256",
               "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
               "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}, "workspace": "eng",
               "issuer": "https://idp.example", "audience": "gatehouse"}),
    ] {
        let direct = JwtValidation::from_value(&v).unwrap_or_else(|e| panic!("{v}: {e}"));
        let wire = jwt_validation_to_wire(&v);
        assert!(wire.invalid.is_empty(), "{v}: {}", wire.invalid);
        let received = jwt_validation_from_wire(&wire).unwrap();
        assert_eq!(format!("{received:?}"), format!("{direct:?}"), "{v}");
    }
}

#[test]
fn an_invalid_jwt_validation_travels_as_invalid_and_is_refused() {
    let wire = jwt_validation_to_wire(&json!({"jwksUri": "https://idp.example/jwks", "algorithms": ["none"],
                                              "workspace": "eng"}));
    assert!(wire.invalid.contains("algorithms"), "{}", wire.invalid);
    assert!(jwt_validation_from_wire(&wire).is_err());
    let wire = jwt_validation_to_wire(&json!("not an object"));
    assert!(!wire.invalid.is_empty());
}

#[test]
fn forwarding_settings_survive_the_wire_unchanged() {
    for v in [
        json!({"method": "jwt_header", "include_claims": ["sub", "email"], "jwt": {"expires_in": 60,
               "audience": "https://api.internal"}, "identity_headers": ["email", "team"]}),
        json!({"method": "claims_header", "identity_headers": true}),
        json!({"method": "bearer", "allow_token_passthrough": true}),
        json!({}),
    ] {
        let direct = IdentityForwarding::from_value(&v).unwrap();
        let received = IdentityForwarding::from_wire(&direct.to_wire()).unwrap();
        assert_eq!(format!("{received:?}"), format!("{direct:?}"), "{v}");
    }
    for v in [
        json!(["x-tenant", {"from": "x-a", "to": "x-b"}]),
        json!({"mode": "all-except", "headers": ["cookie", "x-secret"], "rename": [{"from": "x-c", "to": "x-d"}]}),
    ] {
        let direct = ForwardHeaders::from_value(&v).unwrap();
        let received = ForwardHeaders::from_wire(&direct.to_wire()).unwrap();
        assert_eq!(format!("{received:?}"), format!("{direct:?}"), "{v}");
    }
}

#[test]
fn advanced_config_keeps_what_the_edge_acts_on() {
    let wire = advanced_config_to_wire(&json!({
        "jwt_validation": {"jwksUri": "https://idp.example/jwks", "workspace": "eng",
                           "issuer": "https://idp.example", "audience": "gatehouse"},
        "user_identity_forwarding": {"method": "claims_header"},
        "forward_headers": ["x-tenant"],
        "allowed_origins": ["HTTPS://App.Example"],
        "oauth_metadata": {"scopes": ["read"]},
        "external_auth_config": {"authorization_endpoint": "https://idp.example.com/authorize",
                                 "token_endpoint": "https://idp.example.com/token", "scope": "openid mcp"},
    }));
    let external = wire.external_auth_config.clone().unwrap();
    assert_eq!((external.issuer.as_str(), external.scopes_supported.len()), ("https://idp.example.com", 2));
    assert_eq!(wire.allowed_origins, vec!["https://app.example".to_owned()]);
    assert_eq!(wire.jwt_validation.unwrap().jwks_uri, "https://idp.example/jwks");
    assert_eq!(wire.user_identity_forwarding.unwrap().method, "claims_header");
    assert_eq!(wire.forward_headers.unwrap().names, vec!["x-tenant".to_owned()]);
    assert_eq!(advanced_config_to_wire(&json!({})), pb::AdvancedConfig::default());
}

#[test]
fn external_auth_config_is_revalidated_from_the_wire() {
    let ok = ExternalAuthConfig::from_value(
        "e",
        &json!({"issuer": "https://idp.example", "scopes_supported": ["mcp"]}),
    )
    .unwrap();
    let back = ExternalAuthConfig::from_wire(&ok.to_wire()).unwrap();
    assert_eq!((back.issuer, back.scopes_supported), (ok.issuer, ok.scopes_supported));
    let bad = pb::ExternalAuthConfig { issuer: "nope".into(), scopes_supported: vec![] };
    assert!(ExternalAuthConfig::from_wire(&bad).is_err());
}
