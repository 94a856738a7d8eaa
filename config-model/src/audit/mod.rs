//! What both planes must read the same way about the audit trail: a server's
//! opt-in recording of tool-call arguments and results (`advanced_config.audit`,
//! validated strictly by the control plane, compiled by the edge), and the one
//! rule for what is a secret, which the control plane applies to admin
//! before/after snapshots and the edge to the arguments and results it records.

pub mod capture;
pub mod redaction;
