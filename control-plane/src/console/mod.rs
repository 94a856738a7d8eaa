//! The admin console: the single-page app built from `web/` and embedded in
//! the binary (`assets.rs`), served at `/` with a strict Content-Security-Policy,
//! and the console's own session routes (`session.rs`): sign-in with an org API
//! key or the platform admin token, exchanged here for the same kind of
//! cookie session SSO gives (the credential never stays in the browser), the
//! signed-in caller, sign-out, and the SSO buttons an org's sign-in page shows.
//!
//! It sits above SSO (whose cookie, CSRF token and sessions it shares) and
//! below the admin API, whose authentication accepts its key sessions through
//! [`key_session_principal`].

mod assets;
mod key_auth;
pub(crate) mod session;

use std::sync::Arc;

use axum::routing::get;
use axum::Router;

pub(crate) use assets::fallback;
pub(crate) use key_auth::key_session_principal;
pub use session::{
    ConsoleCaller, ConsoleCallerKind, ConsoleOrg, ConsoleSession, ConsoleUser, SignIn, SignInOptions,
    SsoButton,
};

use crate::sso::SsoContext;
use crate::store::Store;

/// State of the console routes.
#[derive(Clone)]
pub(crate) struct ConsoleState {
    /// API keys, orgs and key sessions.
    pub store: Store,
    /// Cookie settings, SSO sessions and CSRF tokens.
    pub sso: SsoContext,
    /// SHA-256 of every valid platform admin token.
    pub admin_token_hashes: Arc<[[u8; 32]]>,
    /// The edges' public base URL, for the client configuration the console shows.
    pub edge_public_url: Arc<str>,
}

/// Path of the console's session routes.
pub const SESSION_PATH: &str = "/v1/console/session";
/// Path of the sign-in options (an org's SSO buttons).
pub const SIGN_IN_OPTIONS_PATH: &str = "/v1/console/sign-in-options";

/// The console's routes: the app at `/` and its assets, and the session routes.
/// They authenticate their callers themselves (sign-in takes a credential in
/// its body), so they are not behind admin authentication.
pub(crate) fn routes(state: ConsoleState) -> Router {
    Router::new()
        .route("/", get(assets::index))
        .route("/assets/{*file}", get(assets::asset))
        .route(SESSION_PATH, get(session::current).post(session::sign_in).delete(session::sign_out))
        .route(SIGN_IN_OPTIONS_PATH, get(session::sign_in_options))
        .with_state(state)
}
