//! `wflow serve` over real HTTP on loopback: the reference server's routes,
//! payloads, status codes and streams (docs/SERVER-WIRE.md). One test binary,
//! a module per job; the helpers every module uses are here.

mod admin;
mod cors;
mod deployments;
mod hardening;
mod metrics;
mod persistence;
mod routes;
mod streams;
mod tenants;

use std::time::Duration;

use futures_util::StreamExt;
use reqwest::{Client, StatusCode};
use serde_json::Value;
use wflow_server::{self as server, App};
use wflow_tests::workflow;

/// A server for the `joke`, `bench_ask` and `retry` workflows (named after their files)
/// on a free loopback port; its base URL.
pub async fn start_server() -> String {
    let workflows = vec![
        workflow("joke").await,
        workflow("bench-ask").await,
        workflow("retry").await,
    ];
    let app = App::new(workflows)
        .unwrap()
        .with_heartbeat(Duration::from_millis(300));
    serve_app(app).await
}

pub async fn json_of(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let body = response.json().await.unwrap();
    (status, body)
}

/// `GET url`: the status and the JSON body.
pub async fn get(client: &Client, url: String) -> (StatusCode, Value) {
    json_of(client.get(url).send().await.unwrap()).await
}

/// `POST url` with a JSON body: the status and the JSON body.
pub async fn post(client: &Client, url: String, body: Value) -> (StatusCode, Value) {
    json_of(client.post(url).json(&body).send().await.unwrap()).await
}

/// The store at `path`, opened again once the server that had it open has
/// let it go (its last writes done).
pub async fn reopen(path: &std::path::Path) -> std::sync::Arc<server::SqliteStore> {
    loop {
        match server::SqliteStore::open(path) {
            Ok(store) => return std::sync::Arc::new(store),
            Err(server::StoreError::InUse { .. }) => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(err) => panic!("{err}"),
        }
    }
}

/// A server on a free loopback port that stops when told to.
pub struct Stoppable {
    /// Its base URL.
    pub base: String,
    stop: tokio::sync::oneshot::Sender<()>,
    serving: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Stoppable {
    /// Serves `app` until [`Stoppable::stop`].
    pub async fn serve(app: App) -> Self {
        let listener = server::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(server::serve_until(listener, app, async {
            let _ = stopped.await;
        }));
        Self {
            base,
            stop,
            serving,
        }
    }

    /// Stops serving; returns once the requests in flight are done.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        self.serving.await.unwrap().unwrap();
    }
}

/// Serves `app` on a free loopback port; its base URL.
pub async fn serve_app(app: App) -> String {
    let listener = server::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(server::serve(listener, app));
    format!("http://{addr}")
}

/// Reads an SSE body until it closes: `(id, envelope)` per event, and the
/// number of heartbeat comments.
pub async fn read_sse(response: reqwest::Response) -> (Vec<(u64, Value)>, usize) {
    let mut text = String::new();
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        text.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
    }
    let mut events = Vec::new();
    let mut heartbeats = 0;
    for block in text.split("\n\n").filter(|block| !block.is_empty()) {
        if block == ": heartbeat" {
            heartbeats += 1;
            continue;
        }
        let (id, data) = block.split_once('\n').expect("id and data lines");
        let id = id
            .strip_prefix("id: ")
            .expect("an id line")
            .parse()
            .unwrap();
        let data = data.strip_prefix("data: ").expect("a data line");
        events.push((id, serde_json::from_str(data).unwrap()));
    }
    (events, heartbeats)
}
