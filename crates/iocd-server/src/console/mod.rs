//! The web console: a page served at `/` with its script and style sheet, embedded in the
//! binary (no build step, no network). The page talks to the API with a bearer token the user
//! pastes or hands over in the `#token=` fragment; the responses carry a strict
//! Content-Security-Policy (scripts and styles from this server only, no inline code, no
//! framing). Where `[[auth.oidc]]` issuers name a console client, the page also signs users in
//! through them (authorisation code with PKCE, `GET /console/sign-in.json` lists them) and the
//! policy lets it reach those issuers.

use crate::auth::oidc::ConsoleSignIn;
use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::sync::Arc;

const INDEX: &str = include_str!("index.html");
const SCRIPT: &str = include_str!("app.js");
const STYLE: &str = include_str!("app.css");

/// The policy every console response carries, with `{connect}` the origins the page may
/// fetch from besides its own (the sign-in issuers').
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'{connect}; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The console's policy when it may also reach `origins`.
pub fn content_security_policy(origins: &[String]) -> String {
    let connect: String = origins.iter().map(|o| format!(" {o}")).collect();
    CONTENT_SECURITY_POLICY.replace("{connect}", &connect)
}

struct Console {
    policy: HeaderValue,
    sign_in: String,
}

impl Console {
    fn asset(&self, content_type: &'static str, body: impl IntoResponse) -> Response {
        let mut response = body.into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        headers.insert(header::CONTENT_SECURITY_POLICY, self.policy.clone());
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        response
    }
}

/// `/`, `/console/app.js`, `/console/app.css` and `/console/sign-in.json` (the issuers the
/// page offers to sign in through); no token needed (the page asks for one).
pub fn routes<S: Clone + Send + Sync + 'static>(sign_in: Vec<ConsoleSignIn>) -> Router<S> {
    let origins: Vec<String> = sign_in.iter().map(|s| s.origin.clone()).collect();
    let policy = content_security_policy(&origins);
    let console = Arc::new(Console {
        // Origins are checked to hold only URL authority characters (`origin_of`).
        policy: HeaderValue::from_str(&policy)
            .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'")),
        sign_in: serde_json::json!({ "issuers": sign_in }).to_string(),
    });
    let page = console.clone();
    let code = console.clone();
    let style = console.clone();
    Router::new()
        .route(
            "/",
            get(move || async move { page.asset("text/html; charset=utf-8", INDEX) }),
        )
        .route(
            "/console/app.js",
            get(move || async move { code.asset("text/javascript; charset=utf-8", SCRIPT) }),
        )
        .route(
            "/console/app.css",
            get(move || async move { style.asset("text/css; charset=utf-8", STYLE) }),
        )
        .route(
            "/console/sign-in.json",
            get(move || async move { console.asset("application/json", console.sign_in.clone()) }),
        )
}
