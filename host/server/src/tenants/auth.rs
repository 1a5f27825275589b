//! The layer that finds who calls: with a tenants file, the bearer token's
//! tenant (401 without a valid token, 403 for a change with a read-only
//! one); without, the open tenant. Every answer carries the request's id
//! (`x-request-id`: the caller's, if sane, or a fresh one).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::quota::{NewHandler, QuotaRefused, ReaderPermit, RunPermit};
use super::{Access, Bearer, Tenant, audit};
use crate::error::ApiError;
use crate::runs::random_id;

/// The header carrying a request's id.
pub(crate) const REQUEST_ID: &str = "x-request-id";

/// Paths anyone may ask for: a load balancer's probe, the API's shape.
const PUBLIC_PATHS: &[&str] = &["/health", "/openapi.json", "/", "/ui/app.js", "/ui/app.css"];

/// The tenant a request acts for.
#[derive(Clone)]
pub(crate) struct Caller {
    /// Its tenant.
    pub(crate) tenant: Arc<Tenant>,
    /// The request's id, for the audit log.
    pub(crate) request_id: Arc<str>,
}

impl Caller {
    /// A run counted against the tenant's quotas, or the refusal (logged).
    pub(crate) fn begin_run(&self) -> Result<RunPermit, ApiError> {
        let tenant = &self.tenant;
        tenant
            .usage()
            .begin_run(tenant.name(), &tenant.quotas())
            .map_err(|refused| self.refused(refused))
    }

    /// A stream reader counted against the tenant's quota, or the refusal
    /// (logged).
    pub(crate) fn begin_reading(&self) -> Result<ReaderPermit, ApiError> {
        let tenant = &self.tenant;
        tenant
            .usage()
            .begin_reading(tenant.name(), &tenant.quotas())
            .map_err(|refused| self.refused(refused))
    }

    /// A new stored handler counted against the tenant's quota, or the
    /// refusal (logged).
    pub(crate) fn add_handler(&self) -> Result<NewHandler, ApiError> {
        let tenant = &self.tenant;
        tenant
            .usage()
            .add_handler(tenant.name(), &tenant.quotas())
            .map_err(|refused| self.refused(refused))
    }

    /// `refused` logged in the audit log, as the answer to give.
    pub(crate) fn refused(&self, refused: QuotaRefused) -> ApiError {
        audit::quota_refused(
            &self.request_id,
            self.tenant.name(),
            refused.quota(),
            &refused.to_string(),
        );
        refused.into()
    }
}

/// A request made with an admin token.
#[derive(Clone)]
pub(crate) struct Admin {
    /// The request's id, for the audit log.
    pub(crate) request_id: Arc<str>,
}

/// Finds the caller and records it in the request's extensions.
pub(crate) async fn authenticate(
    State(access): State<Arc<Access>>,
    mut request: Request,
    next: Next,
) -> Response {
    let request_id: Arc<str> = request_id(request.headers()).into();
    let public = PUBLIC_PATHS.contains(&request.uri().path());
    let refusal = match &*access {
        Access::Open(open) => {
            request.extensions_mut().insert(Caller {
                tenant: open.clone(),
                request_id: request_id.clone(),
            });
            None
        }
        Access::Tokens(_) if public => None,
        Access::Tokens(_) => match bearer(request.headers()) {
            None => Some((
                StatusCode::UNAUTHORIZED,
                "this server needs a token: send `Authorization: Bearer TOKEN`".to_string(),
            )),
            Some(token) => match access.find(token) {
                None => Some((
                    StatusCode::UNAUTHORIZED,
                    "the token is not valid (unknown or revoked)".to_string(),
                )),
                Some(Bearer::Admin) => {
                    request.extensions_mut().insert(Admin {
                        request_id: request_id.clone(),
                    });
                    None
                }
                Some(Bearer::Tenant {
                    name,
                    read_only: true,
                    tenant,
                }) if changes(request.method()) => Some((
                    StatusCode::FORBIDDEN,
                    format!(
                        "token `{}` of tenant `{}` is read-only: it cannot {} {}",
                        name,
                        tenant.name(),
                        request.method(),
                        request.uri().path()
                    ),
                )),
                Some(Bearer::Tenant { tenant, .. }) => {
                    request.extensions_mut().insert(Caller {
                        tenant,
                        request_id: request_id.clone(),
                    });
                    None
                }
            },
        },
    };
    let mut response = match refusal {
        Some((status, detail)) => refuse_token(request, &request_id, status, &detail).await,
        None => next.run(request).await,
    };
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

/// How much of a refused request's body is read before the answer, and
/// for how long: a body left unread when the connection closes makes the
/// kernel reset it, and the client may lose the answer.
const DRAINED_BODY: usize = 64 * 1024;
const DRAIN_TIME: Duration = Duration::from_secs(1);

/// A refusal for the request's token, logged.
async fn refuse_token(
    request: Request,
    request_id: &str,
    status: StatusCode,
    detail: &str,
) -> Response {
    audit::token_refused(
        request_id,
        request.method().as_str(),
        request.uri().path(),
        detail,
    );
    let body = axum::body::to_bytes(request.into_body(), DRAINED_BODY);
    let _ = tokio::time::timeout(DRAIN_TIME, body).await;
    let mut response = ApiError::new(status, detail).into_response();
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"wflow\""),
        );
    }
    response
}

/// Whether `method` changes something (a read-only token may not).
fn changes(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The token of `Authorization: Bearer TOKEN`, if any.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The caller's `x-request-id` when it is 1 to 64 of `[A-Za-z0-9._-]`,
/// else a fresh one.
fn request_id(headers: &HeaderMap) -> String {
    let sane = |id: &&str| {
        !id.is_empty()
            && id.len() <= 64
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    };
    headers
        .get(REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .filter(sane)
        .map_or_else(|| random_id(16), str::to_string)
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        if let Some(caller) = parts.extensions.get::<Caller>() {
            return Ok(caller.clone());
        }
        if parts.extensions.get::<Admin>().is_some() {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "an admin token acts for no tenant: use one of the tenant's tokens",
            ));
        }
        Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "this server needs a token: send `Authorization: Bearer TOKEN`",
        ))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Admin>().cloned().ok_or_else(|| {
            ApiError::new(
                StatusCode::FORBIDDEN,
                format!(
                    "only an admin token may {} {}",
                    parts.method,
                    parts.uri.path()
                ),
            )
        })
    }
}
