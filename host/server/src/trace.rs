//! A span per HTTP request (`http`), continuing the caller's trace: the
//! W3C `traceparent` header, read with the propagator the process set up
//! (`wflow serve` sets the Trace Context one when it exports traces; with
//! none, the span starts a trace of its own). A run started by the request
//! is a child of its span; the request's `traceparent` is kept with the
//! handler, so that the run resumed later (after a restart, or on another
//! host) continues the same trace, under the same request.

use std::collections::HashMap;

use axum::extract::Request;
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use opentelemetry::propagation::Extractor;
use opentelemetry::trace::TraceContextExt as _;
use tracing::Instrument as _;
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// A request's headers, as the propagator reads them.
struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|name| name.as_str()).collect()
    }
}

/// The W3C `traceparent` of `span`, if it is part of a trace (only when
/// traces are exported).
pub(crate) fn traceparent(span: &tracing::Span) -> Option<String> {
    let context = span.context();
    let span = context.span();
    let ids = span.span_context();
    ids.is_valid().then(|| {
        format!(
            "00-{}-{}-{:02x}",
            ids.trace_id(),
            ids.span_id(),
            ids.trace_flags().to_u8()
        )
    })
}

/// The span a run of `workflow` under handler `handler_id` goes on in,
/// in the trace `traceparent` names (the request that started it, kept
/// with the handler), if any. To `tracing` it is a root: the request's
/// span closes once the request is answered, not when the run ends.
pub(crate) fn run_span(
    workflow: &str,
    handler_id: &str,
    traceparent: Option<&str>,
) -> tracing::Span {
    let span = tracing::info_span!(
        parent: None,
        "run",
        run_id = Empty,
        workflow = %workflow,
        handler_id = %handler_id,
    );
    if let Some(traceparent) = traceparent {
        let carrier = HashMap::from([("traceparent".to_string(), traceparent.to_string())]);
        let caller = opentelemetry::global::get_text_map_propagator(|propagator| {
            propagator.extract(&carrier)
        });
        let _ = span.set_parent(caller);
    }
    span
}

/// Middleware: runs the request in its `http` span.
pub(crate) async fn http_span(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let span = tracing::info_span!(
        "http",
        otel.name = %format!("{method} {path}"),
        otel.kind = "server",
        http.request.method = %method,
        url.path = %path,
        http.response.status_code = Empty,
        otel.status_code = Empty,
    );
    let caller = opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.extract(&Headers(request.headers()))
    });
    // A context without a remote span leaves the span a root.
    let _ = span.set_parent(caller);
    let response = next.run(request).instrument(span.clone()).await;
    let status = response.status();
    span.record("http.response.status_code", status.as_u16());
    if status.is_server_error() {
        span.record("otel.status_code", "ERROR");
    }
    response
}
