//! The admin API answers as its OpenAPI document says, over real HTTP: every
//! extractor rejection is the JSON error envelope (query strings, paths and
//! bodies, on a route and on its `/v1/orgs/{org}/…` copy), bodies are JSON
//! objects, nullable fields are documented as nullable, and the document's
//! operation ids are unique and its links point at operations that exist.
//! `scripts/api-contract` holds the whole API to the document with schemathesis.

use std::collections::BTreeSet;

use gatehouse_tests::control_plane::TestControlPlane;
use gatehouse_tests::db::TestDb;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

fn assert_json_error(status: StatusCode, headers: &reqwest::header::HeaderMap, body: &str, code: &str) {
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let content_type = headers.get(reqwest::header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    assert_eq!(content_type, Some("application/json"), "{body}");
    let body: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"));
    assert_eq!(body["error"]["code"], code, "{body}");
}

#[tokio::test]
async fn api_contract_extractor_rejections_are_json_errors() {
    let cp = TestControlPlane::start(TestDb::sqlite().await).await;
    let admin = cp.admin();
    for prefix in ["/v1", "/v1/orgs/default"] {
        // An unknown query parameter: axum's own `Query` answered in plain text.
        let (status, headers, body) =
            admin.request_raw(Method::GET, &format!("{prefix}/connections?bogus=1"), None, "").await;
        assert_json_error(status, &headers, &body, "invalid_query");
        // A path segment that is not UTF-8 once percent-decoded.
        let (status, headers, body) =
            admin.request_raw(Method::GET, &format!("{prefix}/servers/%FF"), None, "").await;
        assert_json_error(status, &headers, &body, "invalid_path");
        // A JSON array where an object belongs: serde would read the struct's fields by position.
        let (status, headers, body) = admin
            .request_raw(
                Method::POST,
                &format!("{prefix}/workspaces"),
                Some("application/json"),
                r#"["ws", "WS"]"#,
            )
            .await;
        assert_json_error(status, &headers, &body, "invalid_json");
    }
    let (status, body) = admin.request(Method::GET, "/v1/workspaces", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["workspaces"], json!([]), "the array body created nothing");
    // A provision's body is optional: JSON `null` is no body, like an empty one.
    admin.create_workspace("ws").await;
    admin.create_server_json(json!({"slug": "s", "url": "https://mcp.example.com/mcp"})).await;
    let (status, _, body) =
        admin.request_raw(Method::PUT, "/v1/workspaces/ws/servers/s", Some("application/json"), "null").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    cp.stop().await;
}

#[tokio::test]
async fn api_contract_document_is_exact() {
    let cp = TestControlPlane::start(TestDb::sqlite().await).await;
    let admin = cp.admin();
    let (status, doc) = admin.with_token(None).request(Method::GET, "/v1/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);

    // `GET /v1/org` answers `null` for unset settings; the document allows it.
    let (_, org) = admin.request(Method::GET, "/v1/org", None).await;
    assert_eq!(org["jwt_validation"], Value::Null);
    let settings = &doc["components"]["schemas"]["OrgSettingsView"]["properties"];
    for field in ["jwt_validation", "external_auth_config"] {
        let types =
            settings[field]["type"].as_array().unwrap_or_else(|| panic!("{field}: {}", settings[field]));
        assert!(types.contains(&json!("null")) && types.contains(&json!("object")), "{field}");
    }

    let mut ids = BTreeSet::new();
    let mut links = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap_or_else(|| panic!("{method} {path} has no id"));
            assert!(ids.insert(id.to_owned()), "operation id {id} is used twice");
            let responses = op["responses"].as_object().unwrap();
            if op.get("security").is_some_and(|s| s.as_array().is_some_and(|s| !s.is_empty())) {
                for status in ["401", "403", "404"] {
                    assert!(responses.contains_key(status), "{method} {path} does not document {status}");
                }
            }
            if op.get("requestBody").is_some() {
                for status in ["400", "413", "415"] {
                    assert!(responses.contains_key(status), "{method} {path} does not document {status}");
                }
            }
            for response in responses.values() {
                for (name, link) in response["links"].as_object().into_iter().flatten() {
                    links.push((format!("{method} {path} {name}"), link.clone()));
                }
            }
        }
    }
    assert!(links.len() >= 20, "create operations link to what they created: {}", links.len());
    for (at, link) in links {
        let target = link["operationId"].as_str().unwrap_or_else(|| panic!("{at}: {link}"));
        assert!(ids.contains(target), "{at} links to {target}, which does not exist");
    }
    let slug = &doc["components"]["schemas"]["CreateServer"]["properties"]["slug"];
    assert_eq!(slug["pattern"], "^[a-z0-9][a-z0-9-]{0,62}$");
    cp.stop().await;
}
