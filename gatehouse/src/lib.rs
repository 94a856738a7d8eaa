//! The gatehouse binary as a library: CLI, telemetry and dev-mode wiring.
