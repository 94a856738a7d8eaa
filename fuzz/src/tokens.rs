//! The control plane's gateway token format, compiled from its own source file:
//! the control-plane crate would bring the database drivers into every fuzz
//! build, while this file needs only chrono, rand and secrecy.

#![allow(dead_code)]

#[path = "../../control-plane/src/tokens.rs"]
mod format;

pub use format::*;
