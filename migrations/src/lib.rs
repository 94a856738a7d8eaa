//! Database schema migrations for the Gatehouse control plane.
