//! The routes, with the reference server's payloads, status codes and
//! messages (docs/SERVER-WIRE.md, section 5).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{Value, json};

use super::App;
use super::envelope;
use super::error::{ApiError, off_workers};
use super::follow::persist;
use super::graph;
use super::metrics::Reading;
use super::runs::{self, HandlerEntry, RunEnd};
use super::service::Found;
use super::stream::{self, StreamOptions};
use super::tenants::audit;
use super::tenants::auth::{Admin, Caller};
use super::tenants::{UsageReport, as_seen};
use wflow_api::{HandlerRecord, HandlerResult, Status};
use wflow_core::WorkflowError;
use wflow_core::{EventKind, names};

type Shared = State<Arc<App>>;

pub(crate) async fn health() -> Json<Value> {
    Json(json!({ "status": "healthy" }))
}

/// The API's OpenAPI document.
pub(crate) async fn openapi() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        include_str!("openapi.json"),
    )
        .into_response()
}

pub(crate) async fn list_workflows(caller: Caller) -> Json<Value> {
    Json(json!({ "workflows": caller.tenant.workflow_names() }))
}

/// `GET /usage`: the caller's tenant's counters, quotas and limits; with
/// an admin token, every tenant's.
pub(crate) async fn usage(
    State(app): Shared,
    admin: Option<Extension<Admin>>,
    caller: Result<Caller, ApiError>,
) -> Result<Json<Value>, ApiError> {
    if let Some(Extension(admin)) = admin {
        audit::admin_action(&admin.request_id, "read every tenant's usage");
        let tenants: Vec<UsageReport> = app
            .access
            .tenants()
            .iter()
            .map(|tenant| tenant.report())
            .collect();
        return Ok(Json(json!({ "tenants": tenants })));
    }
    Ok(Json(json!(caller?.tenant.report())))
}

/// The start and stop events' JSON Schemas.
pub(crate) async fn workflow_schema(
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let workflow = &caller.tenant.workflow(&name)?;
    let stop = workflow
        .events()
        .values()
        .find(|info| info.kind == EventKind::Stop)
        .map(|info| info.name.clone())
        .unwrap_or_else(|| names::STOP.to_string());
    Ok(Json(json!({
        "start": graph::event_schema(workflow, workflow.start_event()),
        "stop": graph::event_schema(workflow, &stop),
    })))
}

/// Every event type's JSON Schema.
pub(crate) async fn workflow_events(
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let workflow = &caller
        .tenant
        .workflow(&name)
        .map_err(|_| ApiError::not_found(format!("Workflow '{name}' not found")))?;
    let events: Vec<Value> = workflow
        .events()
        .keys()
        .map(|event| graph::event_schema(workflow, event))
        .collect();
    Ok(Json(json!({ "events": events })))
}

pub(crate) async fn workflow_representation(
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let workflow = &caller.tenant.workflow(&name)?;
    Ok(Json(json!({ "graph": graph::representation(workflow) })))
}

/// `GET /workflows/{name}/graph.svg`: the workflow's picture, as `wflow
/// draw --format svg` draws it; each step's node has `data-step`, each
/// event type's `data-event`, so that a page can mark them.
pub(crate) async fn workflow_graph(
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let workflow = &caller.tenant.workflow(&name)?;
    let svg = wflow_draw::html::svg(&wflow_draw::Graph::of(workflow));
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("image/svg+xml"),
        )],
        svg,
    )
        .into_response())
}

/// `POST /workflows/{name}/run`: waits for the run to end.
pub(crate) async fn run(
    State(app): Shared,
    caller: Caller,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let entry = start_run(&app, &caller, &name, &body).await?;
    wait_finished(&entry).await;
    Ok(handler_response(entry.record()))
}

/// `POST /workflows/{name}/run-nowait`: answers with the running handler.
pub(crate) async fn run_nowait(
    State(app): Shared,
    caller: Caller,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Json<HandlerRecord>, ApiError> {
    let entry = start_run(&app, &caller, &name, &body).await?;
    Ok(Json(as_seen(entry.record())))
}

/// Checks a run request and starts the run under its handler.
async fn start_run(
    app: &Arc<App>,
    caller: &Caller,
    name: &str,
    body: &[u8],
) -> Result<Arc<HandlerEntry>, ApiError> {
    let run_on = caller.tenant.start_on(name)?;
    let workflow = &run_on.workflow;
    let body: Value = serde_json::from_slice(body)
        .map_err(|err| ApiError::bad_request(format!("Invalid JSON body: {err}")))?;
    let Value::Object(body) = body else {
        return Err(ApiError::bad_request(
            "Error processing request body: the body must be a JSON object",
        ));
    };
    if body
        .get("context")
        .is_some_and(|context| !is_empty_json(context))
    {
        return Err(ApiError::bad_request(
            "Context API is disabled: wflow serve starts every run from its start event",
        ));
    }
    let start = match body.get("start_event").or_else(|| body.get("kwargs")) {
        None | Some(Value::Null) => json!({}),
        Some(start) => start.clone(),
    };
    let checked = workflow.clone();
    let start = off_workers(move || envelope::parse(&checked, &start, true))
        .await?
        .map_err(|err| {
            ApiError::bad_request(format!("Validation error for 'start_event': {err}"))
        })?;
    if start.name != workflow.start_event() {
        return Err(ApiError::bad_request(format!(
            "Start event must be an instance of {}",
            workflow.start_event()
        )));
    }
    let handler_id = match body.get("handler_id") {
        Some(Value::String(id)) if !id.is_empty() => {
            runs::check_chosen_id(id).map_err(ApiError::bad_request)?;
            Some(id.clone())
        }
        Some(Value::Null) | None => None,
        Some(_) => return Err(ApiError::bad_request("handler_id must be a string")),
    };
    app.start(caller, run_on, handler_id, start).await
}

fn is_empty_json(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Object(map) => map.is_empty(),
        Value::Array(items) => items.is_empty(),
        Value::String(text) => text.is_empty(),
        _ => false,
    }
}

/// Waits until the handler's run has ended.
async fn wait_finished(entry: &HandlerEntry) {
    loop {
        let changed = entry.changed();
        if entry.is_finished() {
            return;
        }
        changed.await;
    }
}

/// A handler with the reference's status code: 202 running, 200 completed,
/// 500 failed or cancelled.
fn handler_response(record: HandlerRecord) -> Response {
    let record = as_seen(record);
    let status = match record.status {
        Status::Running => StatusCode::ACCEPTED,
        Status::Completed => StatusCode::OK,
        Status::Failed | Status::Cancelled => StatusCode::INTERNAL_SERVER_ERROR,
    };
    (status, Json(record)).into_response()
}

pub(crate) async fn get_handler(
    State(app): Shared,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(handler_response(
        app.handler(&caller.tenant, &id).await?.record(),
    ))
}

/// `GET /handlers/{id}/state`: `{"state": ...}`, the run's state as it is
/// now while the run goes on here, else as its last checkpoint saved it
/// (or as the run ended with). 404 when there is none to show.
pub(crate) async fn get_state(
    State(app): Shared,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let saved = match app.handler(&caller.tenant, &id).await? {
        Found::Here(entry) => match entry.live() {
            Some(live) => Some(live.store().snapshot()),
            None => entry.final_state(),
        },
        Found::Elsewhere(_) => app.saved_state(&caller.tenant, &id).await?,
    };
    let state =
        saved.ok_or_else(|| ApiError::not_found(format!("handler `{id}` has no state saved")))?;
    Ok(Json(json!({ "state": *state })))
}

/// The deprecated `/results/{id}`: the handler with its result unwrapped.
pub(crate) async fn get_result(
    State(app): Shared,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let mut record = app.handler(&caller.tenant, &id).await?.record();
    record.result = record.result.map(|result| match result {
        HandlerResult::Event(envelope) if envelope.type_name == names::STOP => {
            HandlerResult::Value(envelope.value.get("result").cloned().unwrap_or(Value::Null))
        }
        HandlerResult::Event(envelope) => HandlerResult::Value(envelope.value),
        unwrapped => unwrapped,
    });
    Ok(handler_response(record))
}

/// `GET /handlers?status=..&workflow_name=..`: each filter repeatable;
/// empty values are ignored.
pub(crate) async fn list_handlers(
    State(app): Shared,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<Json<HandlersList>, ApiError> {
    let mut statuses: Option<Vec<Option<Status>>> = None;
    let mut names: Option<Vec<String>> = None;
    for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        let value = value.trim();
        if value.is_empty() {
            continue;
        }
        match key.as_ref() {
            "status" => statuses
                .get_or_insert_with(Vec::new)
                .push(Status::parse(value)),
            "workflow_name" => names.get_or_insert_with(Vec::new).push(value.to_string()),
            _ => {}
        }
    }
    let handlers: Vec<HandlerRecord> = app
        .handler_records(&caller.tenant)
        .await?
        .into_iter()
        .map(as_seen)
        .filter(|record| {
            statuses
                .as_ref()
                .is_none_or(|wanted| wanted.contains(&Some(record.status)))
                && names
                    .as_ref()
                    .is_none_or(|wanted| wanted.contains(&record.workflow_name))
        })
        .collect();
    Ok(Json(HandlersList { handlers }))
}

/// `GET /handlers`'s answer (a struct, so each handler keeps its key order).
#[derive(serde::Serialize)]
pub(crate) struct HandlersList {
    handlers: Vec<HandlerRecord>,
}

/// `POST /handlers/{id}/cancel[?purge=true]`.
pub(crate) async fn cancel_handler(
    State(app): Shared,
    caller: Caller,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let purge = query_flag(query.as_deref(), "purge").unwrap_or(false);
    let entry = match app.handler(&caller.tenant, &id).await? {
        Found::Here(entry) => entry,
        Found::Elsewhere(remote) => {
            app.cancel_elsewhere(&remote).await?;
            if purge {
                app.purge_stored(&caller, remote.record.handler_id).await;
                return Ok(Json(json!({ "status": "deleted" })));
            }
            return Ok(Json(json!({ "status": "cancelled" })));
        }
    };
    let running = !entry.is_finished();
    if running {
        match entry.live() {
            Some(live) => {
                live.cancel();
                wait_finished(&entry).await;
            }
            None => {
                // Stored as running, but not resumed (its workflow or
                // tenant is no longer served): nothing to wait for.
                let (record, _) = entry.finish(RunEnd::with_status(Status::Cancelled, None));
                persist(
                    app.store
                        .as_deref()
                        .map(|store| store.update_handler(&record)),
                )
                .await;
            }
        }
    } else if !purge {
        return Err(ApiError::handler_not_found());
    }
    if purge {
        // Kept under its tenant's key.
        let key = entry.id();
        app.handlers.remove(&key);
        app.purge_stored(&caller, key).await;
        return Ok(Json(json!({ "status": "deleted" })));
    }
    Ok(Json(json!({ "status": "cancelled" })))
}

impl App {
    /// Deletes handler `key` from the store, if there is one.
    async fn purge_stored(&self, caller: &Caller, key: String) {
        if let Some(store) = self.store.clone() {
            caller.tenant.usage().forget_handler();
            // A task of its own, so that it is done even if the client
            // goes away meanwhile.
            let delete = async move { persist(Some(store.delete_handler(&key))).await };
            let _ = tokio::spawn(delete).await;
        }
    }
}

/// `POST /events/{id}`: sends an event into a running handler's run.
pub(crate) async fn send_event(
    State(app): Shared,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let body: Value = serde_json::from_slice(&body)
        .map_err(|err| ApiError::bad_request(format!("Error processing request: {err}")))?;
    let event = body.get("event").filter(|event| !is_empty_json(event));
    let Some(event) = event else {
        return Err(ApiError::bad_request("Event data is required"));
    };
    let found = app.handler(&caller.tenant, &id).await?;
    let record = found.record();
    // The version the run started on, whatever is current now.
    let workflow = || {
        caller
            .tenant
            .workflow_at(&record.workflow_name, record.version)
            .ok_or_else(|| ApiError::not_found("Workflow not found"))
    };
    let event = event.clone();
    let step = body.get("step").and_then(Value::as_str).map(str::to_owned);
    let entry = match found {
        Found::Here(entry) if app.cluster().is_none() => entry,
        Found::Here(entry) if entry.is_finished() => {
            return Err(ApiError::conflict("Workflow already completed"));
        }
        // With a store several hosts share, every event goes through the
        // run's inbox, wherever the run is (see `cluster`).
        _ => {
            app.send_through_inbox(&record.handler_id, workflow()?, event, step)
                .await?;
            return Ok(Json(json!({ "status": "sent" })));
        }
    };
    let live = match entry.live() {
        Some(live) if !record.status.is_terminal() => live,
        _ => return Err(ApiError::conflict("Workflow already completed")),
    };
    let workflow = workflow()?;
    // Checked against the schemas twice (the envelope, then the run): both
    // off the async workers.
    let sent = off_workers(move || {
        let event = envelope::parse(&workflow, &event, false)
            .map_err(|err| ApiError::bad_request(err.to_string()))?;
        Ok::<_, ApiError>(match step {
            Some(step) => live.send_event_to(event, &step),
            None => live.send_event(event),
        })
    })
    .await??;
    sent.map_err(|err| match err {
        WorkflowError::RunEnded(_) => ApiError::conflict("Workflow already completed"),
        WorkflowError::QueueFull(message) => ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!("Failed to send event: {message}"),
        ),
        other => ApiError::bad_request(format!("Failed to send event: {other}")),
    })?;
    Ok(Json(json!({ "status": "sent" })))
}

/// `GET /events/{id}`: the handler's event stream.
pub(crate) async fn stream_events(
    State(app): Shared,
    caller: Caller,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let found = app.handler(&caller.tenant, &id).await?;
    let query = query.as_deref();
    let sse = query_flag(query, "sse").unwrap_or(true);
    let mut after = match query_value(query, "after_sequence") {
        None => None,
        Some(text) if text.eq_ignore_ascii_case("now") => None,
        Some(text) => Some(
            text.parse::<i64>()
                .map_err(|_| ApiError::bad_request(format!("Invalid after_sequence: '{text}'")))?,
        ),
    };
    if sse
        && let Some(last) = headers
            .get("last-event-id")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<i64>().ok())
    {
        after = Some(last);
    }
    let last_sequence = match &found {
        Found::Here(entry) => entry.last_sequence(),
        Found::Elsewhere(remote) => remote.last_sequence,
    };
    let after = after.unwrap_or_else(|| {
        last_sequence.map_or(-1, |last| i64::try_from(last).unwrap_or(i64::MAX))
    });
    // Only whether anything is left to read: one event is enough to know.
    let finished = match &found {
        Found::Here(entry) => {
            let pending = entry.events_after(after, 1);
            pending.events.is_empty() && pending.finished && !pending.in_store
        }
        Found::Elsewhere(_) => false,
    };
    if finished {
        return Ok((
            StatusCode::NO_CONTENT,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
        )
            .into_response());
    }
    let permit = caller.begin_reading()?;
    let options = StreamOptions {
        sse,
        after,
        qualified_name: query_flag(query, "include_qualified_name").unwrap_or(true),
        internal: query_flag(query, "include_internal").unwrap_or(false),
        heartbeat: app.heartbeat,
    };
    let content_type = if sse {
        "text/event-stream; charset=utf-8"
    } else {
        "application/x-ndjson"
    };
    let reading = Reading::begin(app.metrics.clone(), caller.tenant.name());
    let body = match (found, app.store.clone()) {
        (Found::Elsewhere(remote), Some(store)) => {
            let id = remote.record.handler_id;
            let wake = app.watch(&id);
            stream::remote_body(id, store, wake, options, (permit, reading))
        }
        (Found::Here(entry), store) => stream::body(entry, store, options, (permit, reading)),
        (Found::Elsewhere(_), None) => return Err(ApiError::handler_not_found()),
    };
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        body,
    )
        .into_response())
}

/// A query parameter's first value.
fn query_value(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// A boolean query parameter: true only when it says `true` (any case).
fn query_flag(query: Option<&str>, name: &str) -> Option<bool> {
    query_value(query, name).map(|value| value.eq_ignore_ascii_case("true"))
}

/// `GET /metrics`: the Prometheus text format. With tenants, an admin
/// token's: the figures cover every tenant.
pub(crate) async fn metrics(
    State(app): Shared,
    admin: Result<Admin, ApiError>,
) -> Result<Response, ApiError> {
    if app.needs_tokens() {
        admin?;
    }
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        app.metrics.render(
            app.handlers.all().len(),
            app.runtime(),
            &app.workflows.values().collect::<Vec<_>>(),
        ),
    )
        .into_response())
}

/// What the server answers for a path it does not serve.
pub(crate) async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "Not Found")
}

/// What the server answers for a method a path does not take.
pub(crate) async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
}
