//! Who may see the web UI.
//!
//! The UI shows the namespace and every application, and reads the DFS with the master's
//! own credentials, so with a cluster secret set it asks for a login token derived from the
//! secret (`strata_net::auth::token(secret, "ui")`; the master prints the full URL at start,
//! and `strata ui-token` prints it anywhere the config is). The token is accepted as
//! `?token=` on any page, which also sets an HTTP-only cookie so that links work, as a
//! `strata_ui` cookie, or as `Authorization: Bearer <token>` (for tools reading
//! `/api/state`). Without a cluster secret the UI is open, as is every other port
//! (single-user development); the master then warns when the UI listens beyond loopback.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use strata_net::auth::{purpose, secrets_match, token};

/// The cookie that carries the token.
pub const COOKIE: &str = "strata_ui";

/// The UI token of a cluster (empty: no secret, no login).
pub fn ui_token(secret: &str) -> String {
    token(secret, purpose::UI)
}

fn given(headers: &HeaderMap, query: Option<&str>) -> (Option<String>, bool) {
    if let Some(q) = query {
        for pair in q.split('&') {
            if let Some(t) = pair.strip_prefix("token=") {
                return (Some(t.to_string()), true);
            }
        }
    }
    if let Some(b) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        return (Some(b.trim().to_string()), false);
    }
    let cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| {
            c.trim()
                .strip_prefix(&format!("{COOKIE}="))
                .map(str::to_string)
        })
        .next();
    (cookie, false)
}

/// Middleware: lets a request through with the right token, refuses it otherwise.
pub async fn guard(State(expected): State<String>, req: Request, next: Next) -> Response {
    if expected.is_empty() {
        return next.run(req).await;
    }
    let (t, from_query) = given(req.headers(), req.uri().query());
    match t {
        Some(t) if secrets_match(&expected, &t) => {
            let mut resp = next.run(req).await;
            if from_query {
                let c = format!("{COOKIE}={t}; HttpOnly; SameSite=Strict; Path=/");
                if let Ok(v) = c.parse() {
                    resp.headers_mut().insert(header::SET_COOKIE, v);
                }
            }
            resp
        }
        _ => (
            StatusCode::UNAUTHORIZED,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "This Strata cluster has a secret: open the web UI with the URL the master printed \
             at start (…/?token=…), or get it with `strata ui-token` on a machine with the \
             cluster's config.\n",
        )
            .into_response(),
    }
}
