//! The external services some tests need (PostgreSQL, Redis), found through one
//! environment variable each. Locally a missing service skips what needs it, with a
//! line saying so; under CI (`CI=true`) it fails the test, so a suite can never pass
//! green while its backend was silently absent.

/// Env var naming an admin connection to a PostgreSQL server for tests.
pub const POSTGRES_URL_VAR: &str = "GATEHOUSE_TEST_DATABASE_URL";
/// Env var naming a Redis server for tests.
pub const REDIS_URL_VAR: &str = "GATEHOUSE_TEST_REDIS_URL";
/// Env var naming a file each skip is appended to as `<service>\t<test>` (`scripts/test`
/// sets it and lists the skipped tests at the end of its run).
pub const SKIPPED_FILE_VAR: &str = "GATEHOUSE_TEST_SKIPPED_FILE";

/// The PostgreSQL server URL, `None` (after printing "skipped") locally when unset;
/// panics when unset under CI.
pub fn postgres_url() -> Option<String> {
    required(POSTGRES_URL_VAR, "PostgreSQL")
}

/// The Redis server URL, `None` (after printing "skipped") locally when unset;
/// panics when unset under CI.
pub fn redis_url() -> Option<String> {
    required(REDIS_URL_VAR, "Redis")
}

fn required(var: &str, service: &str) -> Option<String> {
    let value = std::env::var(var).ok();
    let ci = std::env::var("CI").ok();
    match decide(var, service, value.as_deref(), ci.as_deref()) {
        Decision::Use(url) => Some(url),
        Decision::Skip(line) => {
            // Printed, not logged: nextest shows it with the test's output.
            println!("{line}");
            record_skip(service);
            None
        }
        Decision::Fail(message) => panic!("{message}"),
    }
}

/// Appends `<service>\t<test>` to the file [`SKIPPED_FILE_VAR`] names, if it is set.
fn record_skip(service: &str) {
    use std::io::Write as _;
    let Some(path) = std::env::var_os(SKIPPED_FILE_VAR) else { return };
    // nextest runs one test per process and names it; under libtest the thread has its name.
    let test = std::env::var("NEXTEST_TEST_NAME")
        .ok()
        .or_else(|| std::thread::current().name().map(str::to_owned))
        .unwrap_or_else(|| "(unnamed test)".to_owned());
    let file = std::fs::OpenOptions::new().create(true).append(true).open(&path);
    // One append of one short line: lines from parallel test processes never interleave.
    if let Ok(mut file) = file {
        let _ = file.write_all(format!("{service}\t{test}\n").as_bytes());
    }
}

/// What a test does about one backend.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    /// Run against this URL.
    Use(String),
    /// Skip the part that needs the backend; the line to print.
    Skip(String),
    /// Fail the test with this message.
    Fail(String),
}

/// The decision for a backend variable's value and the `CI` variable's value.
pub fn decide(var: &str, service: &str, value: Option<&str>, ci: Option<&str>) -> Decision {
    if let Some(url) = value.map(str::trim).filter(|v| !v.is_empty()) {
        return Decision::Use(url.to_owned());
    }
    let under_ci = ci.is_some_and(|v| {
        let v = v.trim();
        !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false")
    });
    if under_ci {
        Decision::Fail(format!("{var} is not set but CI is: the {service} tests must run in CI"))
    } else {
        Decision::Skip(format!("skipped: {service} part of this test ({var} is not set)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_url_is_used_with_or_without_ci() {
        for ci in [None, Some("true")] {
            assert_eq!(
                decide(POSTGRES_URL_VAR, "PostgreSQL", Some(" postgres://h/db "), ci),
                Decision::Use("postgres://h/db".into())
            );
        }
    }

    #[test]
    fn a_missing_url_fails_under_ci_and_skips_elsewhere() {
        for value in [None, Some(""), Some("  ")] {
            assert!(
                matches!(decide(REDIS_URL_VAR, "Redis", value, Some("true")), Decision::Fail(m) if m.contains(REDIS_URL_VAR))
            );
            assert!(matches!(decide(REDIS_URL_VAR, "Redis", value, Some("1")), Decision::Fail(_)));
            for ci in [None, Some(""), Some("false"), Some("0")] {
                assert!(
                    matches!(decide(REDIS_URL_VAR, "Redis", value, ci), Decision::Skip(l) if l.starts_with("skipped"))
                );
            }
        }
    }
}
