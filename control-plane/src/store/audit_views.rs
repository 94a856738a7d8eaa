//! What an admin audit row's `before`/`after` shows of a record: each kind of
//! record says it next to its own definition (`impl AuditView for …`), with the
//! fields an admin would recognise and never a secret (token texts, hashes and
//! sealed values are in no view). Every view also passes through the shared
//! redaction rule when it is recorded ([`super::WriteTxn::audit_before`]), so a
//! secret pasted into a free-text field is caught too.

use serde_json::Value;

/// A record as its audit rows show it.
pub(crate) trait AuditView {
    /// The view (before redaction).
    fn audit_view(&self) -> Value;
}

impl AuditView for Value {
    fn audit_view(&self) -> Value {
        self.clone()
    }
}
