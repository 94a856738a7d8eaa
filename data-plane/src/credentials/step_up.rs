//! Reading an upstream's `WWW-Authenticate: Bearer error="insufficient_scope"`
//! challenge (RFC 6750 §3.1), which starts a step-up authorization.

use http::HeaderMap;

/// The scopes an `insufficient_scope` challenge asks for, if the response carries one.
pub fn insufficient_scope(headers: &HeaderMap) -> Option<Vec<String>> {
    for value in headers.get_all(http::header::WWW_AUTHENTICATE) {
        let Ok(value) = value.to_str() else { continue };
        let Some(params) = bearer_params(value) else { continue };
        if params.iter().any(|(k, v)| k.eq_ignore_ascii_case("error") && v == "insufficient_scope") {
            let scopes = params
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("scope"))
                .map(|(_, v)| v.split_ascii_whitespace().map(str::to_owned).collect())
                .unwrap_or_default();
            return Some(scopes);
        }
    }
    None
}

/// The auth-params of a `Bearer` challenge: `k=v` or `k="quoted \" v"`, comma separated.
fn bearer_params(value: &str) -> Option<Vec<(String, String)>> {
    let value = value.trim_start();
    let scheme_end = value.find(|c: char| c.is_ascii_whitespace()).unwrap_or(value.len());
    if !value[..scheme_end].eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut rest = value[scheme_end..].chars().peekable();
    let mut params = Vec::new();
    loop {
        while rest.peek().is_some_and(|c| c.is_ascii_whitespace() || *c == ',') {
            rest.next();
        }
        let key: String = std::iter::from_fn(|| rest.next_if(|c| *c != '=' && *c != ',')).collect();
        if key.trim().is_empty() {
            break;
        }
        if rest.next() != Some('=') {
            break;
        }
        while rest.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            rest.next();
        }
        let mut val = String::new();
        if rest.peek() == Some(&'"') {
            rest.next();
            while let Some(c) = rest.next() {
                match c {
                    '\\' => val.extend(rest.next()),
                    '"' => break,
                    c => val.push(c),
                }
            }
        } else {
            val.extend(std::iter::from_fn(|| rest.next_if(|c| *c != ',')));
            val = val.trim().to_owned();
        }
        params.push((key.trim().to_owned(), val));
    }
    Some(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(http::header::WWW_AUTHENTICATE, v.parse().unwrap());
        }
        map
    }

    #[test]
    fn reads_the_scopes_of_an_insufficient_scope_challenge() {
        let h = headers(&[
            r#"Bearer realm="x", error="insufficient_scope", scope="files:read files:write", resource_metadata="https://a/b""#,
        ]);
        assert_eq!(insufficient_scope(&h).unwrap(), ["files:read", "files:write"]);
        let h = headers(&[r#"Basic realm="x""#, r#"bearer error=insufficient_scope,scope=admin"#]);
        assert_eq!(insufficient_scope(&h).unwrap(), ["admin"]);
        let h = headers(&[r#"Bearer error="insufficient_scope""#]);
        assert_eq!(insufficient_scope(&h).unwrap(), Vec::<String>::new());
    }

    #[test]
    fn other_challenges_are_not_step_ups() {
        assert!(insufficient_scope(&headers(&[r#"Bearer error="invalid_token""#])).is_none());
        assert!(insufficient_scope(&headers(&[r#"Bearer realm="a \"quoted\" realm""#])).is_none());
        assert!(insufficient_scope(&HeaderMap::new()).is_none());
    }
}
