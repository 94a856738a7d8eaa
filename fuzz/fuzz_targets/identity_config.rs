//! The identity parts of `advanced_config` (`config-model/src/identity/`:
//! `forward_headers`, `user_identity_forwarding`, `jwt_validation`) on
//! arbitrary JSON: validation never panics; what the control plane accepts is
//! what the edge compiles from the config stream, unchanged; and no accepted
//! `forward_headers` lets a protected header (credentials, identity, hop-by-hop)
//! through from the client or renames one onto it.
#![no_main]

use gatehouse_config::identity::advanced_config::validate_advanced_config;
use gatehouse_config::identity::forward_headers::{is_protected, ForwardHeaders};
use gatehouse_config::identity::user_identity_forwarding::IdentityForwarding;
use gatehouse_config::identity::wire::{advanced_config_to_wire, jwt_validation_from_wire};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(config) = serde_json::from_slice::<Value>(data) else { return };
    let accepted = validate_advanced_config("advanced_config", &config).is_ok();
    let wire = advanced_config_to_wire(&config);
    if let Some(forward) = config.get("forward_headers") {
        if let Ok(parsed) = ForwardHeaders::from_value(forward) {
            for (from, to) in &parsed.renames {
                assert!(!is_protected(from) && !is_protected(to), "rename {from} -> {to}");
            }
            if !parsed.all_except {
                assert!(parsed.names.iter().all(|n| !is_protected(n)), "allowlist {:?}", parsed.names);
            }
            let edge = ForwardHeaders::from_wire(&parsed.to_wire()).expect("the edge reads what was sent");
            assert_eq!(
                (edge.all_except, &edge.names, &edge.renames),
                (parsed.all_except, &parsed.names, &parsed.renames)
            );
        }
    }
    if let Some(forwarding) = config.get("user_identity_forwarding") {
        if let Ok(parsed) = IdentityForwarding::from_value(forwarding) {
            let sent = parsed.to_wire();
            let edge = IdentityForwarding::from_wire(&sent).expect("the edge reads what was sent");
            assert_eq!(edge.to_wire(), sent);
        }
    }
    if accepted {
        if let Some(jwt) = &wire.jwt_validation {
            assert!(jwt.invalid.is_empty(), "accepted, but sent as invalid: {}", jwt.invalid);
            jwt_validation_from_wire(jwt).expect("the edge compiles an accepted jwt_validation");
        }
        let object = config.as_object();
        let has = |key: &str| object.and_then(|o| o.get(key)).is_some_and(|v| !v.is_null());
        assert_eq!(wire.forward_headers.is_some(), has("forward_headers"));
        assert_eq!(wire.user_identity_forwarding.is_some(), has("user_identity_forwarding"));
        assert_eq!(wire.external_auth_config.is_some(), has("external_auth_config"));
    }
});
