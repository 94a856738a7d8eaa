//! The validation error every configuration parser of this crate returns: the
//! field it names and what is wrong with it (the control plane answers 400 with both).

/// A validation failure naming the field: a dotted path, relative to the key
/// being parsed, or from `advanced_config` / the org body once joined.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    /// Dotted path of the offending field.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl FieldError {
    /// An error for `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }

    /// The same error with its field path put under `prefix`
    /// (`prefix.field`, or `prefix[i]…` for a list index).
    pub fn under(self, prefix: &str) -> Self {
        let field = match (self.field.is_empty(), self.field.starts_with('[')) {
            (true, _) => prefix.to_owned(),
            (false, true) => format!("{prefix}{}", self.field),
            (false, false) => format!("{prefix}.{}", self.field),
        };
        Self { field, message: self.message }
    }
}
