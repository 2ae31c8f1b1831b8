//! The admin UI: one HTML page, one script, one stylesheet, embedded with `include_str!`
//! (no front-end build step; edit `bin/assets/ui.*` and rebuild).

use crate::daemon::listener::Response;

const INDEX: &str = include_str!("../../assets/ui.html");
const SCRIPT: &str = include_str!("../../assets/ui.js");
const STYLE: &str = include_str!("../../assets/ui.css");

/// Scripts and styles only from this origin; no inline script; no framing.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

pub fn index() -> Response {
    Response::new(200, "text/html; charset=utf-8", INDEX)
        .with_header("Content-Security-Policy", CSP)
}

pub fn asset(path: &str) -> Option<Response> {
    let (body, kind) = match path {
        "/assets/app.js" => (SCRIPT, "text/javascript; charset=utf-8"),
        "/assets/styles.css" => (STYLE, "text/css; charset=utf-8"),
        _ => return None,
    };
    Some(Response::new(200, kind, body))
}
