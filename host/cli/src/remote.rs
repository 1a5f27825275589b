//! `wflow run --server URL NAME`: a run on a server (`wflow serve`, or the
//! reference server), driven like a local one: its events printed, its
//! requests for input answered from stdin, its result printed.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use wflow_api::Envelope;
use wflow_core::{WorkflowError, names};

use crate::output::Printer;

/// Runs workflow `name` on the server at `base` with `input` as its start
/// event's fields.
pub async fn run(
    client: &reqwest::Client,
    base: &str,
    name: &str,
    input: Value,
    printer: &Printer,
) -> anyhow::Result<ExitCode> {
    let base = base.trim_end_matches('/');
    let response = client
        .post(format!("{base}/workflows/{name}/run-nowait"))
        .json(&json!({ "start_event": input }))
        .send()
        .await
        .with_context(|| format!("cannot reach the server at {base}"))?;
    let handler = answer(response).await?;
    let Some(id) = handler["handler_id"].as_str() else {
        bail!("the server answered no handler_id: {handler}");
    };

    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    let events = client
        .get(format!("{base}/events/{id}?sse=false&after_sequence=-1"))
        .send()
        .await
        .context("cannot stream the run's events")?;
    if events.status().is_success() && events.status() != reqwest::StatusCode::NO_CONTENT {
        let mut body = events.bytes_stream();
        let mut pending = Vec::new();
        'stream: while let Some(chunk) = body.next().await {
            pending.extend_from_slice(&chunk.context("the event stream broke off")?);
            while let Some(end) = pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                let Ok(envelope) = serde_json::from_slice::<Envelope>(&line) else {
                    continue;
                };
                if envelope.is_terminal() {
                    break 'stream;
                }
                let event = envelope.to_event()?;
                printer.event(&event);
                if !envelope.is_a(names::INPUT_REQUIRED) {
                    continue;
                }
                let payload: Value = serde_json::from_str(&event.data)?;
                let prompt = payload["prefix"]
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("{} asks for input: ", event.name));
                eprint!("{prompt}");
                let _ = std::io::stderr().flush();
                let Some(line) = stdin.next_line().await? else {
                    let err = WorkflowError::Runtime(format!(
                        "the workflow asked for input ({}) but stdin is closed; handler {id} still waits on the server",
                        event.name
                    ));
                    return Ok(printer.error(&err));
                };
                let response = client
                    .post(format!("{base}/events/{id}"))
                    .json(&json!({"event": {
                        "type": names::HUMAN_RESPONSE,
                        "value": { "response": line.trim_end() },
                    }}))
                    .send()
                    .await
                    .context("cannot send the answer")?;
                answer(response).await?;
            }
        }
    }

    let handler: Value = client
        .get(format!("{base}/handlers/{id}"))
        .send()
        .await
        .context("cannot fetch the run's handler")?
        .json()
        .await
        .context("the server's handler is not JSON")?;
    match handler["status"].as_str() {
        Some("completed") => {
            let stop: Envelope = serde_json::from_value(handler["result"].clone())
                .with_context(|| format!("the completed handler has no stop event: {handler}"))?;
            printer.result(&stop.result());
            Ok(ExitCode::SUCCESS)
        }
        Some("cancelled") => Ok(printer.error(&WorkflowError::Cancelled(
            "the run was cancelled on the server".into(),
        ))),
        status => {
            let error = handler["error"].as_str().unwrap_or("no error given");
            let status = status.unwrap_or("unknown");
            Ok(printer.error(&WorkflowError::Runtime(format!(
                "the run ended {status} on the server: {error}"
            ))))
        }
    }
}

/// An HTTP client sending `token` (if any) as `Authorization: Bearer`.
pub fn client(token: Option<&str>) -> anyhow::Result<reqwest::Client> {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(token) = token {
        let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
            .context("the token is not a valid header value")?;
        value.set_sensitive(true);
        headers.insert(reqwest::header::AUTHORIZATION, value);
    }
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .context("cannot make an HTTP client")
}

/// The JSON body of a successful answer; the server's `detail` otherwise.
pub async fn answer(response: reqwest::Response) -> anyhow::Result<Value> {
    let status = response.status();
    let body: Value = response
        .json()
        .await
        .with_context(|| format!("the server answered {status} without JSON"))?;
    if !status.is_success() {
        let detail = body["detail"]
            .as_str()
            .map_or_else(|| body.to_string(), str::to_string);
        bail!("the server answered {status}: {detail}");
    }
    Ok(body)
}
