//! Requests a browser may have been tricked into sending.
//!
//! - A page of another origin can send a "simple" request (a `POST` with
//!   `Content-Type: text/plain`) without a CORS preflight: the browser
//!   only hides the answer. So every state-changing request that carries an
//!   `Origin` must come from an allowed origin (or the server's own).
//! - DNS rebinding points an attacker's host name at 127.0.0.1: the
//!   browser then talks to the server as that name. So the `Host` header
//!   must name the server: a loopback name, or one of the allowed hosts.
//!
//! Clients that are not browsers (curl, the reference's Python client)
//! send no `Origin` and a `Host` naming what they connected to.

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::cors::AllowedOrigins;
use crate::error::ApiError;

/// Which names the `Host` header may give the server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum AllowedHosts {
    /// Loopback names only (`localhost`, `127.0.0.1`, `[::1]`): the
    /// default on a loopback address.
    #[default]
    Loopback,
    /// Loopback names and these (`wflow.example.com`, `10.0.0.5`).
    Names(Vec<String>),
    /// Any name: the default on an address other machines can reach.
    Any,
}

impl AllowedHosts {
    /// The hosts `--allow-host` values name: `*` allows any.
    pub fn from_args(hosts: &[String]) -> Option<Self> {
        if hosts.is_empty() {
            None
        } else if hosts.iter().any(|host| host == "*") {
            Some(Self::Any)
        } else {
            Some(Self::Names(
                hosts.iter().map(|host| host.to_ascii_lowercase()).collect(),
            ))
        }
    }

    fn allows(&self, host: &str) -> bool {
        let name = host_name(host).to_ascii_lowercase();
        match self {
            Self::Any => true,
            Self::Loopback => is_loopback_name(&name),
            Self::Names(names) => is_loopback_name(&name) || names.contains(&name),
        }
    }
}

/// What the guard checks requests against.
#[derive(Debug, Clone)]
pub(crate) struct Guard {
    pub(crate) hosts: AllowedHosts,
    pub(crate) origins: AllowedOrigins,
}

/// The middleware: refuses a request whose `Host` is not allowed (421), or
/// a state-changing one from an origin that is not allowed (403).
pub(crate) async fn check(
    State(guard): State<Arc<Guard>>,
    request: Request,
    next: Next,
) -> Response {
    match guard.refusal(request.method(), request.headers()) {
        Some(refusal) => refusal.into_response(),
        None => next.run(request).await,
    }
}

impl Guard {
    fn refusal(&self, method: &Method, headers: &HeaderMap) -> Option<ApiError> {
        let host = headers
            .get(header::HOST)
            .and_then(|value| value.to_str().ok());
        if self.hosts != AllowedHosts::Any {
            match host {
                Some(host) if self.hosts.allows(host) => {}
                Some(host) => {
                    return Some(ApiError::new(
                        StatusCode::MISDIRECTED_REQUEST,
                        format!(
                            "this server does not answer to the host name `{host}` (wflow serve --allow-host NAME)"
                        ),
                    ));
                }
                None => {
                    return Some(ApiError::bad_request("the request has no Host header"));
                }
            }
        }
        let changes_state = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
        let origin = headers.get(header::ORIGIN)?;
        if !changes_state {
            return None;
        }
        let origin = origin.to_str().unwrap_or("");
        let allowed = match &self.origins {
            AllowedOrigins::Any => true,
            AllowedOrigins::Only(origins) => origins.iter().any(|o| o == origin),
            AllowedOrigins::None => false,
        } || host.is_some_and(|host| is_same_origin(origin, host));
        (!allowed).then(|| {
            ApiError::new(
                StatusCode::FORBIDDEN,
                format!(
                    "requests from pages of {origin} may not change anything here (wflow serve --allow-origin ORIGIN)"
                ),
            )
        })
    }
}

/// Whether `origin` (`http://127.0.0.1:8080`) is the server itself, as
/// `host` (`127.0.0.1:8080`) names it.
fn is_same_origin(origin: &str, host: &str) -> bool {
    origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .is_some_and(|authority| authority.eq_ignore_ascii_case(host))
}

/// The name part of a `Host` header: without its port, brackets kept off
/// an IPv6 address.
fn host_name(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

fn is_loopback_name(name: &str) -> bool {
    name == "localhost"
        || name.ends_with(".localhost")
        || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(host: Option<&str>, origin: Option<&str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(host) = host {
            headers.insert(header::HOST, HeaderValue::from_str(host).unwrap());
        }
        if let Some(origin) = origin {
            headers.insert(header::ORIGIN, HeaderValue::from_str(origin).unwrap());
        }
        headers
    }

    fn guard(hosts: AllowedHosts, origins: AllowedOrigins) -> Guard {
        Guard { hosts, origins }
    }

    #[test]
    fn host_names_that_are_not_the_server_are_refused() {
        let loopback = guard(AllowedHosts::Loopback, AllowedOrigins::None);
        for host in [
            "127.0.0.1:8080",
            "localhost:8080",
            "[::1]:8080",
            "LOCALHOST",
            "127.1.2.3",
        ] {
            assert!(
                loopback
                    .refusal(&Method::GET, &headers(Some(host), None))
                    .is_none(),
                "{host}"
            );
        }
        for host in ["evil.example:8080", "evil.example", "10.0.0.5:8080"] {
            assert!(
                loopback
                    .refusal(&Method::GET, &headers(Some(host), None))
                    .is_some(),
                "{host}"
            );
        }
        assert!(
            loopback
                .refusal(&Method::GET, &headers(None, None))
                .is_some()
        );
        let named = guard(
            AllowedHosts::Names(vec!["wflow.example".into()]),
            AllowedOrigins::None,
        );
        assert!(
            named
                .refusal(&Method::GET, &headers(Some("wflow.example:80"), None))
                .is_none()
        );
        assert!(
            named
                .refusal(&Method::GET, &headers(Some("localhost"), None))
                .is_none()
        );
        assert!(
            named
                .refusal(&Method::GET, &headers(Some("evil.example"), None))
                .is_some()
        );
        let any = guard(AllowedHosts::Any, AllowedOrigins::None);
        assert!(
            any.refusal(&Method::GET, &headers(Some("evil.example"), None))
                .is_none()
        );
    }

    #[test]
    fn only_allowed_origins_change_state() {
        let host = Some("127.0.0.1:8080");
        let closed = guard(AllowedHosts::Loopback, AllowedOrigins::None);
        let evil = Some("https://evil.example");
        assert!(
            closed
                .refusal(&Method::POST, &headers(host, evil))
                .is_some()
        );
        assert!(
            closed
                .refusal(&Method::POST, &headers(host, Some("null")))
                .is_some()
        );
        // Reading is left to CORS, which hides answers from other origins.
        assert!(closed.refusal(&Method::GET, &headers(host, evil)).is_none());
        // No Origin: not a browser.
        assert!(
            closed
                .refusal(&Method::POST, &headers(host, None))
                .is_none()
        );
        // The server's own pages.
        let own = Some("http://127.0.0.1:8080");
        assert!(closed.refusal(&Method::POST, &headers(host, own)).is_none());
        let listed = guard(
            AllowedHosts::Loopback,
            AllowedOrigins::Only(vec!["https://ui.example".into()]),
        );
        assert!(
            listed
                .refusal(&Method::POST, &headers(host, Some("https://ui.example")))
                .is_none()
        );
        assert!(
            listed
                .refusal(&Method::DELETE, &headers(host, evil))
                .is_some()
        );
        let open = guard(AllowedHosts::Loopback, AllowedOrigins::Any);
        assert!(open.refusal(&Method::POST, &headers(host, evil)).is_none());
    }
}
