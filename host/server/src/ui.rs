//! The web debugger: one page, its script and its style, compiled into the
//! binary so that it works with no network. The page talks to the API of
//! the server that served it (and, by its Content-Security-Policy, to
//! nothing else); it sends the token the user gives it as a bearer token,
//! so it sees what that token may see.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

/// What the page may load and where it may connect: its own files and
/// this server's API, nothing inline, nothing from elsewhere.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// `GET /`: the debugger's page.
pub(crate) async fn page() -> Response {
    asset("text/html; charset=utf-8", include_str!("../ui/index.html"))
}

/// `GET /ui/app.js`: the page's script.
pub(crate) async fn script() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("../ui/app.js"),
    )
}

/// `GET /ui/app.css`: the page's style.
pub(crate) async fn style() -> Response {
    asset("text/css; charset=utf-8", include_str!("../ui/app.css"))
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CONTENT_SECURITY_POLICY),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
            // A new binary serves a new page: never keep an old one.
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        body,
    )
        .into_response()
}
