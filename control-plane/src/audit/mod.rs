//! The audit trail beyond a single transaction: the `AuditSink` gRPC service
//! the edges ship their events to ([`sink`]), failed-authentication bursts
//! ([`burst`]), the retention job ([`retention`]) and usage aggregated from the
//! stored events ([`usage`]). Admin mutations are audited by the store itself,
//! inside each mutation's transaction (`store::audit_events`).

pub mod burst;
pub mod export;
pub mod retention;
pub mod sink;
pub mod usage;

pub use burst::{record_auth_failures, BurstSource};
pub use export::run_exports;
pub use retention::{enforce_retention, run_retention};
pub use sink::AuditSinkService;
