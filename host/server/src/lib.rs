//! `wflow serve`: workflows as a REST API, wire-compatible with the
//! reference server (`llama-agents-server`), so that its Python client works
//! against it unchanged. docs/SERVER-WIRE.md records the wire format.
//!
//! Every run belongs to a *handler* (`handler_id`). A task per handler
//! follows the run's event stream into the handler's event log, from which
//! any number of readers stream at once, each from its own cursor; when the
//! run ends the task records its status, error and result.

mod api;
mod discover;
mod envelope;
mod error;
mod graph;
mod runs;
mod stream;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::HeaderValue;
use axum::routing::{get, post};
use futures_util::FutureExt;
use tower_http::cors::{AllowHeaders, AllowMethods, AllowOrigin, CorsLayer};

use wflow_core::{
    CheckpointStore, Context, Event, RunOptions, RunOutcome, Snapshot, SnapshotOutcome, Workflow,
    WorkflowError, WorkflowHandler,
};
use wflow_store::{HandlerCheckpoint, StoredHandler};

pub use discover::discover;
pub use runs::DEFAULT_KEEP_FINISHED;
pub use wflow_api::{Envelope, HandlerRecord, HandlerResult, Status};
pub use wflow_store::{SqliteStore, Store, StoreError};

use self::envelope::envelope;
use self::error::ApiError;
use self::runs::{HandlerEntry, Handlers, RunEnd};

/// How long an SSE stream may stay quiet before a heartbeat comment, as the
/// reference's default.
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(25);

/// The served workflows and their handlers.
pub struct App {
    workflows: BTreeMap<String, Workflow>,
    /// Names in the order they were given.
    order: Vec<String>,
    handlers: Arc<Handlers>,
    heartbeat: Duration,
    /// Where handlers persist, if anywhere.
    store: Option<Arc<dyn Store>>,
    /// The CORS layer for the web origins whose pages may call the API
    /// from a browser, if any may.
    cors: Option<CorsLayer>,
}

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
    fn layer(&self) -> Result<Option<CorsLayer>, WorkflowError> {
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

impl App {
    /// An app serving `workflows` under their names. Two workflows with one
    /// name are an error naming it.
    pub fn new(workflows: Vec<Workflow>) -> Result<Self, WorkflowError> {
        let mut map = BTreeMap::new();
        let mut order = Vec::new();
        for workflow in workflows {
            let name = workflow.name().to_string();
            if map.insert(name.clone(), workflow).is_some() {
                return Err(WorkflowError::Configuration(format!(
                    "two workflows are named `{name}`: give one another name in its workflow.toml"
                )));
            }
            order.push(name);
        }
        Ok(Self {
            workflows: map,
            order,
            handlers: Arc::default(),
            heartbeat: DEFAULT_HEARTBEAT,
            store: None,
            cors: None,
        })
    }

    /// The same app keeping its handlers in `store`, with the handlers
    /// stored there restored: finished ones as they ended, unfinished ones
    /// resumed from their last checkpoint (or started over from their start
    /// event when they had none), waiting ones waiting again. Must be
    /// called within a tokio runtime.
    pub fn with_store(mut self, store: Arc<dyn Store>) -> Result<Self, StoreError> {
        let stored = store.load_running()?;
        self.store = Some(store);
        for handler in stored {
            self.restore(handler);
        }
        Ok(self)
    }

    /// Brings back one stored handler.
    fn restore(&self, stored: StoredHandler) {
        let StoredHandler {
            mut record,
            start,
            events,
            snapshot,
        } = stored;
        let workflow = self.workflows.get(&record.workflow_name).cloned();
        let (Some(workflow), Status::Running) = (workflow, record.status) else {
            // Finished, or a workflow this server does not serve: shown as
            // stored, left untouched.
            let final_state = snapshot.map(|snapshot| Arc::new(snapshot.state));
            self.handlers.restore(record, events, None, final_state);
            return;
        };
        let id = record.handler_id.clone();
        let options = self.run_options(&id);
        let resumption = match snapshot {
            Some(snapshot) if snapshot.outcome.is_some() => Resumption::Ended(Box::new(snapshot)),
            Some(snapshot) => Resumption::from(workflow.resume_with(snapshot, options)),
            None => Resumption::from(workflow.run_with(start, options)),
        };
        match resumption {
            Resumption::Live(live) => {
                let live = Arc::new(live);
                record.run_id = Some(live.run_id().to_string());
                let entry = self
                    .handlers
                    .restore(record, events, Some(live.clone()), None);
                tokio::spawn(self.follow(workflow, entry, live));
            }
            Resumption::Failed(err) => {
                let entry = self.handlers.restore(record, events, None, None);
                let (record, _) = entry.finish(RunEnd::with_status(
                    Status::Failed,
                    Some(format!("cannot resume the run: {err}")),
                ));
                self.persist(|store| store.update_handler(&record));
            }
            Resumption::Ended(ended) => {
                // The run ended after its last checkpoint but before its
                // handler was updated: finish it as the checkpoint says.
                let entry = self.handlers.restore(record, events, None, None);
                let ended = *ended;
                let final_state = Some(Arc::new(ended.state));
                let record = match ended.outcome {
                    Some(SnapshotOutcome::Completed { stop_event }) => {
                        let stop = envelope(&workflow, &stop_event);
                        let (record, sequence) = entry.finish(RunEnd {
                            status: Status::Completed,
                            error: None,
                            result: Some(stop.clone()),
                            terminal: Some(stop.clone()),
                            final_state,
                        });
                        if let Some(sequence) = sequence {
                            self.persist(|store| store.append_event(&id, sequence, &stop));
                        }
                        record
                    }
                    Some(SnapshotOutcome::Failed { message, .. }) => {
                        let mut end = RunEnd::with_status(Status::Failed, Some(message));
                        end.final_state = final_state;
                        entry.finish(end).0
                    }
                    None => entry.finish(RunEnd::with_status(Status::Failed, None)).0,
                };
                self.persist(|store| store.update_handler(&record));
            }
        }
    }

    /// The task that follows `live`'s stream into `entry` until the run
    /// ends.
    fn follow(
        &self,
        workflow: Workflow,
        entry: Arc<HandlerEntry>,
        live: Arc<WorkflowHandler>,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        follow(
            workflow,
            entry,
            live,
            self.store.clone(),
            self.handlers.clone(),
        )
    }

    /// Run options checkpointing into the store under handler `id`.
    fn run_options(&self, id: &str) -> RunOptions {
        RunOptions {
            checkpoint: self.store.clone().map(|store| {
                Arc::new(HandlerCheckpoint {
                    store,
                    handler_id: id.to_string(),
                }) as Arc<dyn CheckpointStore>
            }),
            internal_events: true,
            ..RunOptions::default()
        }
    }

    /// Writes to the store, if there is one; a failure is logged (the run
    /// goes on, the store is behind).
    fn persist(&self, write: impl FnOnce(&dyn Store) -> Result<(), StoreError>) {
        persist(self.store.as_deref(), write);
    }

    /// The same app answering browsers from `origins` (CORS); an origin
    /// that is no valid header value is an error naming it.
    pub fn with_allowed_origins(mut self, origins: AllowedOrigins) -> Result<Self, WorkflowError> {
        self.cors = origins.layer()?;
        Ok(self)
    }

    /// The same app keeping at most `keep` finished handlers in memory
    /// (running ones are always kept): older ones are read back from the
    /// store when asked for, or forgotten without one, as the reference's
    /// `max_completed` (default 1,000). Call before `with_store`.
    pub fn with_keep_finished(mut self, keep: usize) -> Self {
        self.handlers = Arc::new(Handlers::keeping(keep));
        self
    }

    /// The same app with another heartbeat interval for SSE streams.
    pub fn with_heartbeat(mut self, heartbeat: Duration) -> Self {
        self.heartbeat = heartbeat;
        self
    }

    /// The served workflows' names, in the order given.
    pub fn workflow_names(&self) -> &[String] {
        &self.order
    }

    /// Starts `start` on `workflow` under the `handler_id` the caller chose
    /// (or a fresh one), and the task that follows its stream into the
    /// handler.
    fn start(
        &self,
        workflow: &Workflow,
        handler_id: Option<String>,
        start: Event,
    ) -> Result<Arc<HandlerEntry>, ApiError> {
        // Only a chosen id can name an earlier handler: a fresh one costs no
        // lookup. Checked here so that no run starts for nothing, and again
        // when the handler is registered, atomically, against a concurrent
        // request.
        let (handler_id, previous) = match handler_id {
            Some(id) => {
                let previous = self.handler(&id).ok();
                (id, previous)
            }
            None => (runs::new_id(), None),
        };
        if let Some(previous) = &previous
            && !previous.is_finished()
        {
            return Err(ApiError::conflict(format!(
                "Handler '{handler_id}' is already running"
            )));
        }
        // A reused id starts from the state its previous run ended with.
        let context = previous
            .as_ref()
            .filter(|previous| previous.record().workflow_name == workflow.name())
            .and_then(|previous| previous.final_state())
            .and_then(|state| {
                let context = Context::new(workflow);
                match context.store().restore((*state).clone()) {
                    Ok(()) => Some(context),
                    Err(err) => {
                        tracing::warn!(%handler_id, "the previous run's state does not fit: {err}");
                        None
                    }
                }
            });
        if let Some(store) = &self.store
            && previous.is_some()
        {
            // A reused id starts afresh: forget the previous run.
            store
                .delete_handler(&handler_id)
                .map_err(|err| ApiError::internal(format!("Initial persistence failed: {err}")))?;
        }
        let options = RunOptions {
            context,
            ..self.run_options(&handler_id)
        };
        let live = workflow
            .run_with(start.clone(), options)
            .map_err(|err| ApiError::internal(format!("Error running workflow: {err}")))?;
        let live = Arc::new(live);
        let entry = self
            .handlers
            .start(handler_id, workflow.name(), live.clone())
            .map_err(|runs::AlreadyRunning(id)| {
                live.cancel();
                ApiError::conflict(format!("Handler '{id}' is already running"))
            })?;
        if let Some(store) = &self.store
            && let Err(err) = store.save_handler(&entry.record(), &start)
        {
            live.cancel();
            self.handlers.remove(&entry.record().handler_id);
            return Err(ApiError::internal(format!(
                "Initial persistence failed: {err}"
            )));
        }
        tokio::spawn(self.follow(workflow.clone(), entry.clone(), live));
        Ok(entry)
    }
}

/// What became of an unfinished handler's run when the server restarted.
enum Resumption {
    /// It goes on.
    Live(WorkflowHandler),
    /// It cannot go on.
    Failed(WorkflowError),
    /// It had ended after its last checkpoint, before its handler was
    /// updated: the checkpoint says how.
    Ended(Box<Snapshot>),
}

impl From<wflow_core::Result<WorkflowHandler>> for Resumption {
    fn from(started: wflow_core::Result<WorkflowHandler>) -> Self {
        match started {
            Ok(live) => Self::Live(live),
            Err(err) => Self::Failed(err),
        }
    }
}

/// Writes to `store`, if there is one; a failure is logged.
fn persist(store: Option<&dyn Store>, write: impl FnOnce(&dyn Store) -> Result<(), StoreError>) {
    if let Some(store) = store
        && let Err(err) = write(store)
    {
        tracing::error!("{err}");
    }
}

/// Follows a run's event stream into its handler until the run ends, then
/// records how it ended (before the terminal event is appended, so a reader
/// seeing that event finds the handler finished).
async fn follow(
    workflow: Workflow,
    entry: Arc<HandlerEntry>,
    live: Arc<WorkflowHandler>,
    store: Option<Arc<dyn Store>>,
    handlers: Arc<Handlers>,
) {
    let id = entry.record().handler_id;
    let store = store.as_deref();
    let mut terminal = None;
    match live.stream_events() {
        Ok(mut events) => {
            while let Some(first) = events.next().await {
                // Every event already there goes to the store in one write.
                let mut batch = Vec::new();
                let mut next = Some(first);
                while let Some(event) = next.take() {
                    let envelope = envelope(&workflow, &event);
                    if envelope.is_terminal() {
                        terminal = Some(envelope);
                        break;
                    }
                    let sequence = entry.push_event(envelope.clone());
                    batch.push((sequence, envelope));
                    next = events.next().now_or_never().flatten();
                }
                if !batch.is_empty() {
                    persist(store, |store| store.append_events(&id, &batch));
                }
                if terminal.is_some() {
                    break;
                }
            }
        }
        Err(err) => tracing::error!(%err, "cannot follow the run's events"),
    }
    let outcome = live.result().await;
    let (status, error, result) = ending(&workflow, &outcome, terminal.as_ref());
    let (record, sequence) = entry.finish(RunEnd {
        status,
        error,
        result,
        terminal: terminal.clone(),
        final_state: Some(live.store().snapshot()),
    });
    persist(store, |store| store.update_handler(&record));
    if let (Some(terminal), Some(sequence)) = (terminal, sequence) {
        persist(store, |store| store.append_event(&id, sequence, &terminal));
    }
    handlers.forget_old_finished();
}

/// The status, error and result a run's outcome gives its handler.
fn ending(
    workflow: &Workflow,
    outcome: &RunOutcome,
    terminal: Option<&Envelope>,
) -> (Status, Option<String>, Option<Envelope>) {
    match outcome {
        Ok(stop) => {
            let result = terminal
                .cloned()
                .unwrap_or_else(|| envelope(workflow, &stop.event));
            (Status::Completed, None, Some(result))
        }
        Err(WorkflowError::Cancelled(_)) => (Status::Cancelled, None, None),
        Err(WorkflowError::Timeout(_)) => {
            let seconds = workflow.timeout().map_or(0.0, |t| t.as_secs_f64());
            (
                Status::Failed,
                Some(format!("Workflow timed out after {seconds:?}s")),
                None,
            )
        }
        Err(WorkflowError::StepFailed { message, .. }) => {
            // The reference reports the exception's text without its type.
            let text = message
                .split_once(": ")
                .map_or(message.as_str(), |(_, t)| t);
            (Status::Failed, Some(text.to_string()), None)
        }
        Err(other) => (Status::Failed, Some(other.to_string()), None),
    }
}

/// The API's routes over `app`.
pub fn router(app: Arc<App>) -> Router {
    let cors = app.cors.clone();
    let routes = Router::new()
        .route("/health", get(api::health))
        .route("/workflows", get(api::list_workflows))
        .route("/workflows/{name}/run", post(api::run))
        .route("/workflows/{name}/run-nowait", post(api::run_nowait))
        .route("/workflows/{name}/schema", get(api::workflow_schema))
        .route("/workflows/{name}/events", get(api::workflow_events))
        .route(
            "/workflows/{name}/representation",
            get(api::workflow_representation),
        )
        .route("/results/{handler_id}", get(api::get_result))
        .route(
            "/events/{handler_id}",
            get(api::stream_events).post(api::send_event),
        )
        .route("/handlers", get(api::list_handlers))
        .route("/handlers/{handler_id}", get(api::get_handler))
        .route("/handlers/{handler_id}/cancel", post(api::cancel_handler))
        .route("/openapi.json", get(api::openapi))
        .fallback(api::not_found)
        .method_not_allowed_fallback(api::method_not_allowed)
        .with_state(app);
    match cors {
        Some(cors) => routes.layer(cors),
        None => routes,
    }
}

/// Serves `app` on `listener` until the process is interrupted (Ctrl-C).
pub async fn serve(listener: tokio::net::TcpListener, app: App) -> std::io::Result<()> {
    axum::serve(listener, router(Arc::new(app)))
        .with_graceful_shutdown(async {
            // Without a signal handler, serve until the process is killed.
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        })
        .await
}

/// Binds `addr`, naming it in the error.
pub async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, WorkflowError> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|err| WorkflowError::io(format!("cannot listen on {addr}"), err))
}
