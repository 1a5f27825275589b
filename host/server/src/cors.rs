//! CORS: which web origins' pages may call the API from a browser.

use std::time::Duration;

use axum::http::HeaderValue;
use tower_http::cors::{AllowHeaders, AllowMethods, AllowOrigin, CorsLayer};

use wflow_core::WorkflowError;

/// Which web origins may call the API from a browser (CORS).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum AllowedOrigins {
    /// None: no CORS headers are sent, so browsers keep other origins'
    /// pages from reading answers or sending JSON.
    #[default]
    None,
    /// These origins (`https://ui.example`), with credentials.
    Only(Vec<String>),
    /// Every origin, echoed back with credentials: the reference server's
    /// default.
    Any,
}

impl AllowedOrigins {
    /// The origins `--allow-origin` values name: `*` allows every origin.
    pub fn from_args(origins: &[String]) -> Self {
        if origins.is_empty() {
            Self::None
        } else if origins.iter().any(|origin| origin == "*") {
            Self::Any
        } else {
            Self::Only(origins.to_vec())
        }
    }

    /// The CORS layer for these origins, as the reference configures it:
    /// any method and header, credentials, preflight answers cached 600 s.
    pub(crate) fn layer(&self) -> Result<Option<CorsLayer>, WorkflowError> {
        let origin = match self {
            Self::None => return Ok(None),
            Self::Any => AllowOrigin::mirror_request(),
            Self::Only(origins) => {
                let values = origins
                    .iter()
                    .map(|origin| {
                        HeaderValue::from_str(origin).map_err(|_| {
                            WorkflowError::Configuration(format!(
                                "`{origin}` is not a valid origin for --allow-origin"
                            ))
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                AllowOrigin::list(values)
            }
        };
        Ok(Some(
            CorsLayer::new()
                .allow_origin(origin)
                .allow_methods(AllowMethods::mirror_request())
                .allow_headers(AllowHeaders::mirror_request())
                .allow_credentials(true)
                .max_age(Duration::from_secs(600)),
        ))
    }
}
