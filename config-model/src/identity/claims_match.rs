//! `claimValues` rules of `jwt_validation`: a claim must match given values.
//!
//! Two spellings mean the same rules: the list form
//! `[{"claim": "iss", "value": "…", "matchType": "exact"}]` and the map form of the
//! hosted gateway's documentation, `{"iss": {"values": "…", "matchType": "exact"}}`.
//! The control plane stores whichever was sent; both compile to the same rules.

use regex::Regex;
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

/// Largest compiled regex (bytes of the compiled program) a rule may use.
const REGEX_SIZE_LIMIT: usize = 64 * 1024;
/// Longest regex source accepted.
const MAX_PATTERN_LEN: usize = 512;

/// How a claim is compared with the configured values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum MatchType {
    /// The claim (a scalar) equals one of the values.
    #[default]
    Exact,
    /// The claim (an array or space-separated string) contains at least one of the values.
    Contains,
    /// The claim contains every one of the values.
    ContainsAll,
    /// The claim (or an element of it) fully matches one of the values as a regex.
    Regex,
}

impl MatchType {
    /// The configured spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            MatchType::Exact => "exact",
            MatchType::Contains => "contains",
            MatchType::ContainsAll => "containsAll",
            MatchType::Regex => "regex",
        }
    }

    /// The match type spelled `s`.
    pub fn parse(s: &str) -> Option<Self> {
        [MatchType::Exact, MatchType::Contains, MatchType::ContainsAll, MatchType::Regex]
            .into_iter()
            .find(|m| m.as_str() == s)
    }
}

/// One `claimValues` entry as configured.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClaimValueSpec {
    /// Claim name; dots descend into objects (`realm_access.roles`).
    pub claim: String,
    /// A value or a list of values.
    pub value: OneOrMany,
    /// Comparison, default `exact`.
    #[serde(default)]
    pub match_type: MatchType,
}

/// One entry of the map form: the claim is the key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClaimMapEntry {
    /// A value or a list of values.
    pub values: OneOrMany,
    /// Comparison, default `exact`.
    #[serde(default)]
    pub match_type: MatchType,
}

/// `claimValues` in either spelling.
#[derive(Debug, Clone)]
pub enum ClaimValues {
    /// `[{"claim", "value", "matchType"}]`.
    List(Vec<ClaimValueSpec>),
    /// `{"<claim>": {"values", "matchType"}}` (all rules must hold, so their order is immaterial).
    Map(Vec<(String, ClaimMapEntry)>),
}

impl Default for ClaimValues {
    fn default() -> Self {
        ClaimValues::List(Vec::new())
    }
}

impl<'de> Deserialize<'de> for ClaimValues {
    // By hand rather than `untagged`, so a mistake inside either form is reported
    // as that form's error instead of "matched no variant".
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        match Value::deserialize(deserializer)? {
            Value::Array(items) => items
                .into_iter()
                .enumerate()
                .map(|(i, v)| serde_json::from_value(v).map_err(|e| D::Error::custom(format!("[{i}]: {e}"))))
                .collect::<Result<_, _>>()
                .map(ClaimValues::List),
            Value::Object(entries) => entries
                .into_iter()
                .map(|(claim, v)| {
                    serde_json::from_value(v)
                        .map(|entry| (claim.clone(), entry))
                        .map_err(|e| D::Error::custom(format!("{claim}: {e}")))
                })
                .collect::<Result<_, _>>()
                .map(ClaimValues::Map),
            _ => Err(D::Error::custom(
                "claimValues must be a list of {claim, value, matchType} or a map of claim → {values, matchType}",
            )),
        }
    }
}

impl ClaimValues {
    /// The rules in the list form, each with its field path relative to `claimValues`
    /// (`[i]` in the list form, `.<claim>` in the map form).
    pub fn into_specs(self) -> Vec<(String, ClaimValueSpec)> {
        match self {
            ClaimValues::List(list) => {
                list.into_iter().enumerate().map(|(i, spec)| (format!("[{i}]"), spec)).collect()
            }
            ClaimValues::Map(map) => map
                .into_iter()
                .map(|(claim, entry)| {
                    let field = format!(".{claim}");
                    (field, ClaimValueSpec { claim, value: entry.values, match_type: entry.match_type })
                })
                .collect(),
        }
    }
}

/// A string or a list of strings.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    /// A single string.
    One(String),
    /// Several strings.
    Many(Vec<String>),
}

impl OneOrMany {
    /// The values as a list.
    pub fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

/// A compiled `claimValues` rule.
#[derive(Debug, Clone)]
pub struct ClaimRule {
    claim: String,
    values: Vec<String>,
    match_type: MatchType,
    regexes: Vec<Regex>,
}

impl ClaimRule {
    /// Compiles a rule; regexes are anchored to the whole value and size-limited.
    pub fn compile(spec: ClaimValueSpec) -> Result<Self, String> {
        if spec.claim.trim().is_empty() {
            return Err("claim must not be empty".into());
        }
        let values = spec.value.into_vec();
        if values.is_empty() {
            return Err("value must not be empty".into());
        }
        let mut regexes = Vec::new();
        if spec.match_type == MatchType::Regex {
            for pattern in &values {
                if pattern.len() > MAX_PATTERN_LEN {
                    return Err(format!("regex longer than {MAX_PATTERN_LEN} characters"));
                }
                let regex = regex::RegexBuilder::new(&format!("^(?:{pattern})$"))
                    .size_limit(REGEX_SIZE_LIMIT)
                    .build()
                    .map_err(|e| format!("invalid regex: {e}"))?;
                regexes.push(regex);
            }
        }
        Ok(Self { claim: spec.claim, values, match_type: spec.match_type, regexes })
    }

    /// The claim the rule checks.
    pub fn claim(&self) -> &str {
        &self.claim
    }

    /// Whether `claims` satisfy the rule.
    pub fn matches(&self, claims: &Map<String, Value>) -> bool {
        let Some(value) = lookup(claims, &self.claim) else { return false };
        match self.match_type {
            MatchType::Exact => scalar(value).is_some_and(|s| self.values.contains(&s)),
            MatchType::Contains => {
                let items = elements(value);
                self.values.iter().any(|v| items.iter().any(|i| i == v))
            }
            MatchType::ContainsAll => {
                let items = elements(value);
                self.values.iter().all(|v| items.iter().any(|i| i == v))
            }
            MatchType::Regex => {
                let items = match value {
                    Value::Array(_) => elements(value),
                    other => scalar(other).into_iter().collect(),
                };
                items.iter().any(|i| self.regexes.iter().any(|r| r.is_match(i)))
            }
        }
    }
}

/// Looks a claim up by name, descending into objects on `.` when the full name is absent.
pub fn lookup<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    if let Some(v) = claims.get(name) {
        return Some(v);
    }
    let mut parts = name.split('.');
    let mut current = claims.get(parts.next()?)?;
    for part in parts {
        current = current.as_object()?.get(part)?;
    }
    Some(current)
}

fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn elements(value: &Value) -> Vec<String> {
    match value {
        Value::Array(items) => items.iter().filter_map(scalar).collect(),
        Value::String(s) => s.split_whitespace().map(str::to_owned).collect(),
        other => scalar(other).into_iter().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(v: Value) -> ClaimRule {
        ClaimRule::compile(serde_json::from_value(v).unwrap()).unwrap()
    }

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn match_types() {
        let c = claims(json!({"tier":"gold","groups":["eng","ops"],"scope":"read write","n":7,
            "realm_access":{"roles":["admin"]}}));
        assert!(rule(json!({"claim":"tier","value":"gold"})).matches(&c));
        assert!(rule(json!({"claim":"n","value":["7"]})).matches(&c));
        assert!(!rule(json!({"claim":"groups","value":"eng"})).matches(&c), "exact needs a scalar");
        assert!(rule(json!({"claim":"groups","value":["x","ops"],"matchType":"contains"})).matches(&c));
        assert!(rule(json!({"claim":"scope","value":"write","matchType":"contains"})).matches(&c));
        assert!(rule(json!({"claim":"groups","value":["eng","ops"],"matchType":"containsAll"})).matches(&c));
        assert!(!rule(json!({"claim":"groups","value":["eng","hr"],"matchType":"containsAll"})).matches(&c));
        assert!(rule(json!({"claim":"tier","value":"g.*","matchType":"regex"})).matches(&c));
        assert!(!rule(json!({"claim":"tier","value":"old","matchType":"regex"})).matches(&c), "anchored");
        assert!(
            rule(json!({"claim":"realm_access.roles","value":"admin","matchType":"contains"})).matches(&c)
        );
        assert!(!rule(json!({"claim":"missing","value":"x"})).matches(&c));
    }

    #[test]
    fn the_map_form_compiles_to_the_same_rules_as_the_list_form() {
        let map: ClaimValues = serde_json::from_value(json!({
            "iss": {"values": "https://auth.example.com", "matchType": "exact"},
            "groups": {"values": ["eng"], "matchType": "contains"}}))
        .unwrap();
        let list: ClaimValues = serde_json::from_value(json!([
            {"claim": "iss", "value": "https://auth.example.com", "matchType": "exact"},
            {"claim": "groups", "value": ["eng"], "matchType": "contains"}]))
        .unwrap();
        let compiled = |v: ClaimValues| -> Vec<ClaimRule> {
            v.into_specs().into_iter().map(|(_, s)| ClaimRule::compile(s).unwrap()).collect()
        };
        let (map, list) = (compiled(map), compiled(list));
        let good = claims(json!({"iss": "https://auth.example.com", "groups": ["ops", "eng"]}));
        let bad = claims(json!({"iss": "https://auth.example.com", "groups": ["ops"]}));
        for rules in [&map, &list] {
            assert!(rules.iter().all(|r| r.matches(&good)));
            assert!(!rules.iter().all(|r| r.matches(&bad)));
        }
        let mut claims_of_map = map.iter().map(ClaimRule::claim).collect::<Vec<_>>();
        claims_of_map.sort_unstable();
        assert_eq!(claims_of_map, ["groups", "iss"]);
    }

    #[test]
    fn a_mistake_in_either_form_names_the_entry() {
        let e = serde_json::from_value::<ClaimValues>(json!({"iss": {"value": "x"}})).unwrap_err();
        assert!(e.to_string().starts_with("iss: unknown field `value`"), "{e}");
        let e = serde_json::from_value::<ClaimValues>(
            json!([{"claim": "a", "value": "x", "matchType": "fuzzy"}]),
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("[0]: unknown variant `fuzzy`"), "{e}");
        assert!(serde_json::from_value::<ClaimValues>(json!("iss")).is_err());
    }

    #[test]
    fn bad_rules_are_refused() {
        let compile = |v: Value| ClaimRule::compile(serde_json::from_value(v).unwrap());
        assert!(compile(json!({"claim":"a","value":"(","matchType":"regex"})).is_err());
        assert!(compile(json!({"claim":"a","value":"x{1000}{1000}","matchType":"regex"})).is_err());
        assert!(compile(json!({"claim":"","value":"x"})).is_err());
        assert!(compile(json!({"claim":"a","value":[]})).is_err());
    }
}
