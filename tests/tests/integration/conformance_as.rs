//! The official MCP conformance suite's authorization-server scenarios
//! (`conformance authorization`: `authorization-server-metadata-endpoint` and
//! `authorization-code-grant`) against Gatehouse's own OAuth 2.1 authorization
//! server, on a real control plane and edge with the org's SSO at the test
//! OpenID provider.
//!
//! The code-grant scenario prints an authorization URL and waits for a browser
//! to come back to its loopback callback; the test plays that browser: SSO
//! login at the provider, Gatehouse's consent screen, then the redirect to the
//! suite's callback.

use std::time::Duration;

use gatehouse_tests::conformance_suite;
use gatehouse_tests::control_plane::SsoBrowser;
use gatehouse_tests::oauth_browser::{location, register_public_client, start_org_sso};
use gatehouse_tests::oidc::{OidcUser, TestOidcProvider};
use gatehouse_tests::upstream::McpUpstream;
use gatehouse_tests::TestStack;
use reqwest::StatusCode;
use serde_json::Value;

/// Time allowed for the suite to print its authorization URL, and to finish after the callback.
const SUITE_STEP: Duration = Duration::from_secs(20);

/// A stack whose edge is the AS's resource base, SSO at the test OP (alice maps
/// to the `platform` workspace) and a `tools` server provisioned there.
struct Env {
    stack: TestStack,
    _op: TestOidcProvider,
    _upstream: McpUpstream,
}

async fn env() -> Env {
    let stack = TestStack::start_with_public_edge().await;
    let op = start_org_sso(
        &stack.cp,
        vec![OidcUser::new("alice").email("alice@example.com").name("Alice").groups(&["eng"])],
    )
    .await;
    let upstream = stack.cp.admin().platform_with_tools().await;
    stack.sync().await;
    Env { stack, _op: op, _upstream: upstream }
}

/// A loopback port nothing listens on right now (the suite's callback server takes it).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Env {
    /// Runs every authorization-server scenario of the suite, completing the
    /// browser part as alice in `browser`; `resource` is passed as `--resource`.
    /// Returns the suite's checks after asserting it exited 0.
    async fn run_suite(&self, browser: &SsoBrowser, resource: Option<&str>) -> Vec<Value> {
        let issuer = &self.stack.cp.api_url;
        let port = free_port();
        let callback = format!("http://127.0.0.1:{port}/callback");
        // A public client: the suite authenticates with `none` whenever the server
        // supports it, even when given a secret.
        let client_id = register_public_client(issuer, "MCP conformance suite", &callback).await;

        let node = conformance_suite::node22().await;
        let results = tempfile::tempdir().unwrap();
        // A file, not a pipe: a pipe would keep `wait` from returning while
        // any process the suite started still holds it.
        let log_path = results.path().join("suite.log");
        let log = std::fs::File::create(&log_path).unwrap();
        let mut command = tokio::process::Command::new(&node);
        command
            .arg(conformance_suite::entry_point())
            .args(["authorization", "--url", issuer, "--client-id", &client_id, "-p", &port.to_string()])
            .arg("-o")
            .arg(results.path().join("checks"))
            .current_dir(conformance_suite::dir())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .kill_on_drop(true);
        if let Some(resource) = resource {
            command.args(["--resource", resource]);
        }
        let mut suite = command.spawn().expect("run the conformance suite");

        // The suite prints the authorization URL a person would open.
        let prefix = format!("{issuer}/oauth/authorize?");
        let deadline = tokio::time::Instant::now() + SUITE_STEP;
        let auth_url = loop {
            let output = std::fs::read_to_string(&log_path).unwrap_or_default();
            if let Some(line) = output.lines().find(|l| l.starts_with(&prefix)) {
                break line.to_owned();
            }
            if let Ok(Some(status)) = suite.try_wait() {
                panic!("the suite exited ({status}) before asking for authorization:\n{output}");
            }
            assert!(tokio::time::Instant::now() < deadline, "no authorization url from the suite:\n{output}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };

        let page = browser.oauth_consent(browser.oauth_authorize("alice", &auth_url).await).await;
        let pick = match resource {
            Some(resource) => {
                assert!(page.choices.is_empty(), "the client named its resource: {}", page.html);
                assert!(page.html.contains(&format!("<code>{resource}</code>")), "{}", page.html);
                None
            }
            None => {
                // No resource in the request: the user picks the server.
                let tools = self.stack.edge.mcp_url("tools");
                assert_eq!(page.choices, vec![tools.clone()], "{}", page.html);
                Some(tools)
            }
        };
        let back = browser.oauth_decide(&page, "approve", pick.as_deref()).await;
        assert_eq!(back.status(), StatusCode::FOUND);
        let redirect = location(&back);
        assert!(redirect.starts_with(&format!("{callback}?")), "{redirect}");
        // The browser lands on the suite's callback; the suite then redeems the code.
        let landed = reqwest::get(&redirect).await.expect("the suite's callback answers");
        assert_eq!(landed.status(), StatusCode::OK);

        let status = tokio::time::timeout(SUITE_STEP, suite.wait()).await;
        let output = std::fs::read_to_string(&log_path).unwrap_or_default();
        let status = status.unwrap_or_else(|_| panic!("the suite did not finish:\n{output}")).unwrap();
        assert!(status.success(), "the suite failed ({status}):\n{output}");
        let checks = conformance_suite::read_checks(&results.path().join("checks"));
        assert_checks_pass(&checks, &output);
        checks
    }
}

/// No check failed, and both scenarios' main checks succeeded.
fn assert_checks_pass(checks: &[Value], output: &str) {
    let failed: Vec<&Value> = checks.iter().filter(|c| c["status"] == "FAILURE").collect();
    assert!(failed.is_empty(), "failed checks {failed:#?}\n{output}");
    for id in
        ["authorization-server-metadata", "authorization-server-metadata-cimd", "authorization-code-grant"]
    {
        let check =
            checks.iter().find(|c| c["id"] == id).unwrap_or_else(|| panic!("no {id} check:\n{output}"));
        assert_eq!(check["status"], "SUCCESS", "{id}: {check:#}");
    }
}

/// The suite's code-grant check: what it sent and got (tokens redacted by the suite).
fn code_grant(checks: &[Value]) -> &Value {
    &checks.iter().find(|c| c["id"] == "authorization-code-grant").expect("the code-grant check")["details"]
}

#[tokio::test]
async fn gatehouse_authorization_server_passes_the_conformance_scenarios() {
    let env = env().await;
    let browser = env.stack.cp.sso_browser();

    // As the suite runs by default: no resource, so alice picks the server on the consent screen.
    let checks = env.run_suite(&browser, None).await;
    let details = code_grant(&checks);
    assert!(!details["authorizationRequest"].as_str().unwrap().contains("resource="));
    assert_eq!(details["body"]["token_type"], "Bearer");
    assert!(details["body"]["refresh_token"].is_string(), "{details:#}");

    // With `--resource` the edge's MCP URL: the token is bound to that audience from the request on.
    let mcp = env.stack.edge.mcp_url("tools");
    let checks = env.run_suite(&browser, Some(&mcp)).await;
    let details = code_grant(&checks);
    let request = url::Url::parse(details["authorizationRequest"].as_str().unwrap()).unwrap();
    assert!(request.query_pairs().any(|(k, v)| k == "resource" && v == mcp), "{request}");
    assert_eq!(details["body"]["scope"], "mcp");
}
