//! Tool allow/deny glob evaluation.
//!
//! A tool `t` may be listed or called iff (`allow` is empty or an `allow` glob
//! matches `t`), no `deny` glob matches `t`, and (the token's tool globs are
//! empty or one matches `t`). Globs: `*` any run, `?` one character,
//! everything else literal, matched against the whole name
//! ([`gatehouse_config::tool_glob`], which the control plane's previews use too).

use std::sync::Arc;

use crate::config_view::ToolRules;
use crate::identity::TokenGrant;

pub use gatehouse_config::tool_glob::glob_match;

fn any_match(globs: &[String], name: &str) -> bool {
    globs.iter().any(|g| glob_match(g, name))
}

/// The tool policy for one request: the provision's rules plus the token's tool globs.
#[derive(Debug, Clone)]
pub struct ToolPolicy {
    rules: Arc<ToolRules>,
    grant: Arc<TokenGrant>,
}

impl ToolPolicy {
    /// Combines a provision's rules with a token's tool permissions.
    pub fn new(rules: Arc<ToolRules>, grant: Arc<TokenGrant>) -> Self {
        Self { rules, grant }
    }

    /// True when every tool is allowed, so no tool needs checking or filtering.
    pub fn is_unrestricted(&self) -> bool {
        self.rules.allow.is_empty() && self.rules.deny.is_empty() && self.grant.tool_permissions.is_empty()
    }

    /// Whether the tool `name` may be listed and called.
    pub fn allows(&self, name: &str) -> bool {
        (self.rules.allow.is_empty() || any_match(&self.rules.allow, name))
            && !any_match(&self.rules.deny, name)
            && (self.grant.tool_permissions.is_empty() || any_match(&self.grant.tool_permissions, name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn policy(allow: &[&str], deny: &[&str], token: &[&str]) -> ToolPolicy {
        let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let rules = ToolRules { allow: strings(allow), deny: strings(deny) };
        let grant = TokenGrant {
            id: "t".into(),
            org_id: "o".into(),
            user: "u".into(),
            workspace_id: "w".into(),
            scopes: vec![],
            server_permissions: vec![],
            tool_permissions: strings(token),
            expires_at: None,
        };
        ToolPolicy::new(Arc::new(rules), Arc::new(grant))
    }

    #[test]
    fn glob_basics() {
        assert!(glob_match("get_*", "get_weather"));
        assert!(glob_match("get_*", "get_"));
        assert!(!glob_match("get_*", "set_weather"));
        assert!(glob_match("*", ""));
        assert!(glob_match("", ""));
        assert!(!glob_match("", "a"));
        assert!(glob_match("?", "é"), "? is one character, not one byte");
        assert!(!glob_match("??", "é"));
        assert!(glob_match("a?c", "abc"));
        assert!(!glob_match("a?c", "ac"));
        assert!(glob_match("*_admin_*", "db_admin_drop"));
        assert!(glob_match("a*b*c", "axxbyybzzc"));
        assert!(!glob_match("a*b*c", "axxbyybzz"));
        assert!(glob_match("**x", "x"));
        assert!(!glob_match("delete", "delete_all"), "matches the whole name");
        assert!(glob_match("[x].+", "[x].+"), "regex characters are literal");
    }

    #[test]
    fn deny_wins_over_allow() {
        let p = policy(&["*"], &["delete_*"], &[]);
        assert!(p.allows("read"));
        assert!(!p.allows("delete_all"));
    }

    #[test]
    fn empty_allow_allows_everything_not_denied() {
        let p = policy(&[], &["drop"], &[]);
        assert!(p.allows("anything"));
        assert!(!p.allows("drop"));
        assert!(!p.is_unrestricted());
    }

    #[test]
    fn allow_list_restricts() {
        let p = policy(&["get_*", "list"], &[], &[]);
        assert!(p.allows("get_x") && p.allows("list"));
        assert!(!p.allows("set_x"));
    }

    #[test]
    fn token_tools_narrow_further() {
        let p = policy(&["get_*"], &[], &["get_weather"]);
        assert!(p.allows("get_weather"));
        assert!(!p.allows("get_secret"));
        let p = policy(&[], &[], &["read_*"]);
        assert!(p.allows("read_file") && !p.allows("write_file"));
    }

    #[test]
    fn unrestricted_fast_path() {
        assert!(policy(&[], &[], &[]).is_unrestricted());
        assert!(policy(&[], &[], &[]).allows("x"));
        assert!(!policy(&["*"], &[], &[]).is_unrestricted());
    }

    /// Reference matcher: straightforward recursion over characters.
    fn reference(p: &[char], n: &[char]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some(('*', rest)) => (0..=n.len()).any(|i| reference(rest, &n[i..])),
            Some(('?', rest)) => !n.is_empty() && reference(rest, &n[1..]),
            Some((c, rest)) => n.first() == Some(c) && reference(rest, &n[1..]),
        }
    }

    proptest! {
        #[test]
        fn glob_agrees_with_reference(pattern in "[ab*?é]{0,8}", name in "[abé]{0,10}") {
            let p: Vec<char> = pattern.chars().collect();
            let n: Vec<char> = name.chars().collect();
            prop_assert_eq!(glob_match(&pattern, &name), reference(&p, &n));
        }

        #[test]
        fn literal_pattern_matches_only_itself(a in "[^*?]{0,12}", b in "[^*?]{0,12}") {
            prop_assert!(glob_match(&a, &a));
            prop_assert_eq!(glob_match(&a, &b), a == b);
        }

        #[test]
        fn star_matches_everything(name in "\\PC*") {
            prop_assert!(glob_match("*", &name));
            let pattern = format!("*{name}");
            prop_assert!(glob_match(&pattern, &name));
        }

        #[test]
        fn deny_always_wins(name in "[a-z_]{1,12}", token in proptest::collection::vec("[a-z_*?]{0,6}", 0..3)) {
            let token: Vec<&str> = token.iter().map(String::as_str).collect();
            prop_assert!(!policy(&["*"], &[name.as_str()], &token).allows(&name));
        }
    }
}
