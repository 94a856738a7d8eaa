//! Tool-name globs as the edge's tool policy reads them: `*` any run, `?`
//! one character, everything else literal, matched against the whole name.
//! Here so the control plane (the console's preview of what a provisioning lets
//! through) judges tools exactly as the edges do; the console's
//! `web/src/lib/glob.ts` is checked against the same cases
//! (`tool_glob_cases.json`).

/// Whether `name` matches `pattern` as a whole (`*` any run, `?` one character).
///
/// Runs in O(|pattern| · |name|) worst case without allocating: on a mismatch
/// only the most recent `*` is retried, which is enough because a later `*`
/// can absorb anything an earlier one could.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let (p, n) = (pattern.as_bytes(), name.as_bytes());
    let (mut pi, mut ni) = (0, 0);
    // Position after the last `*` seen, and the name position it currently covers up to.
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        match p.get(pi) {
            Some(b'*') => {
                pi += 1;
                star = Some((pi, ni));
                continue;
            }
            Some(b'?') => {
                pi += 1;
                ni += char_len(n[ni]);
                continue;
            }
            Some(&c) if c == n[ni] => {
                pi += 1;
                ni += 1;
                continue;
            }
            _ => {}
        }
        match star {
            // Let the last `*` swallow one more character and retry from there.
            Some((sp, sn)) => {
                let next = sn + char_len(n[sn]);
                star = Some((sp, next));
                pi = sp;
                ni = next;
            }
            None => return false,
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// Length of the UTF-8 character starting with byte `lead`.
fn char_len(lead: u8) -> usize {
    match lead {
        0xF0.. => 4,
        0xE0.. => 3,
        0xC0.. => 2,
        _ => 1,
    }
}

/// Whether a provisioning's `allow` and `deny` globs let `name` through: `allow`
/// empty or one of its globs matching, and no `deny` glob matching.
pub fn rules_allow(allow: &[String], deny: &[String], name: &str) -> bool {
    (allow.is_empty() || allow.iter().any(|g| glob_match(g, name)))
        && !deny.iter().any(|g| glob_match(g, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct Cases {
        globs: Vec<(String, String, bool)>,
        rules: Vec<RuleCase>,
    }

    #[derive(serde::Deserialize)]
    struct RuleCase {
        allow: Vec<String>,
        deny: Vec<String>,
        tool: String,
        passes: bool,
    }

    /// The cases `web/src/lib/glob.test.ts` checks the console's matcher against.
    #[test]
    fn the_shared_cases_hold() {
        let cases: Cases = serde_json::from_str(include_str!("tool_glob_cases.json")).unwrap();
        for (pattern, name, expected) in &cases.globs {
            assert_eq!(glob_match(pattern, name), *expected, "{pattern:?} against {name:?}");
        }
        for case in &cases.rules {
            assert_eq!(rules_allow(&case.allow, &case.deny, &case.tool), case.passes, "{:?}", case.tool);
        }
    }
}
