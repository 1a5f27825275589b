//! Deployments over HTTP: tenants upload workflows, each runs its own,
//! versions, bad uploads refused, and a restart serving them again.

use std::sync::Arc;

use reqwest::multipart::{Form, Part};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use wflow_server::tenants::{TenantsConfig, TokenHash};
use wflow_server::{App, SqliteStore};
use wflow_tests::{component_path, runtime};

use super::{Stoppable, json_of, serve_app};

const ACME: &str = "wflow_acme";
const GLOBEX: &str = "wflow_globex";

/// acme (100 runs at once, 3 deployments, uploads of 4 MiB) and globex.
fn tenants() -> TenantsConfig {
    let hash = |token: &str| TokenHash::of(token).to_string();
    TenantsConfig::parse(&format!(
        r#"
        [tenants.acme]
        tokens = [{{ sha256 = "{acme}" }}]
        quotas = {{ max_concurrent_runs = 100, max_deployments = 3, max_deployment_bytes = "4MiB" }}
        [tenants.globex]
        tokens = [{{ sha256 = "{globex}" }}]
        "#,
        acme = hash(ACME),
        globex = hash(GLOBEX),
    ))
    .expect("the tenants file parses")
}

/// A server serving nothing of its own: tenants deploy.
fn app() -> App {
    App::new(Vec::new())
        .unwrap()
        .with_tenants(&tenants())
        .unwrap()
        .with_deployments(runtime().clone())
        .unwrap()
}

/// The bytes of test guest `guest`'s component.
fn wasm(guest: &str) -> Vec<u8> {
    std::fs::read(component_path(guest)).unwrap()
}

/// Deploys `bytes` as `name` for `token`'s tenant, with `manifest` if any.
async fn deploy(
    client: &Client,
    base: &str,
    token: &str,
    name: &str,
    files: Vec<(&str, Vec<u8>)>,
    manifest: Option<&str>,
) -> (StatusCode, Value) {
    let mut form = Form::new().text("name", name.to_string());
    if let Some(manifest) = manifest {
        form = form.text("manifest", manifest.to_string());
    }
    for (file, bytes) in files {
        form = form.part("component", Part::bytes(bytes).file_name(file.to_string()));
    }
    let request = client
        .post(format!("{base}/deployments"))
        .bearer_auth(token)
        .multipart(form);
    json_of(request.send().await.unwrap()).await
}

async fn get(client: &Client, url: String, token: &str) -> (StatusCode, Value) {
    json_of(client.get(url).bearer_auth(token).send().await.unwrap()).await
}

async fn post(client: &Client, url: String, token: &str, body: Value) -> (StatusCode, Value) {
    json_of(
        client
            .post(url)
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// Runs `joke` as `token`'s tenant with `start`; the completed handler.
async fn run_joke(client: &Client, base: &str, token: &str, start: Value) -> Value {
    let (status, ran) = post(
        client,
        format!("{base}/workflows/joke/run"),
        token,
        json!({ "start_event": start }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{ran}");
    ran
}

/// Deploys the joke component as `joke` for `token`'s tenant; the version.
async fn deploy_joke(client: &Client, base: &str, token: &str) -> Value {
    let files = vec![("joke.wasm", wasm("joke"))];
    let (status, deployed) = deploy(client, base, token, "joke", files, None).await;
    assert_eq!(status, StatusCode::CREATED, "{deployed}");
    deployed
}

/// Uploaded files: name and bytes.
type Files<'a> = Vec<(&'a str, Vec<u8>)>;

/// The result of a completed run's handler.
fn result_of(handler: &Value) -> &Value {
    &handler["result"]["value"]["result"]
}

#[tokio::test]
async fn each_tenant_runs_its_own_deployment_of_one_name() {
    let base = serve_app(app()).await;
    let client = Client::new();
    let deployed = deploy_joke(&client, &base, ACME).await;
    assert_eq!(
        (deployed["name"].as_str(), deployed["version"].as_u64()),
        (Some("joke"), Some(1))
    );
    let (status, deployed) = deploy(
        &client,
        &base,
        GLOBEX,
        "joke",
        vec![("three.wasm", wasm("bench-three"))],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{deployed}");

    let ran = run_joke(&client, &base, ACME, json!({"topic": "pirates"})).await;
    assert!(
        result_of(&ran).as_str().unwrap().contains("pirates"),
        "{ran}"
    );
    let ran = run_joke(&client, &base, GLOBEX, json!({"n": 1})).await;
    assert_eq!(result_of(&ran), &json!(7), "(1 + 1) * 2 + 3");

    let (_, listed) = get(&client, format!("{base}/workflows"), GLOBEX).await;
    assert_eq!(listed, json!({"workflows": ["joke"]}));
    let (_, mine) = get(&client, format!("{base}/deployments"), GLOBEX).await;
    let deployments = mine["deployments"].as_array().unwrap();
    assert_eq!(deployments.len(), 1, "only its own: {mine}");
    assert_eq!(deployments[0]["components"][0]["file_name"], "three.wasm");
}

#[tokio::test]
async fn a_redeployment_serves_new_runs_while_runs_in_flight_finish_on_theirs() {
    let base = serve_app(app()).await;
    let client = Client::new();
    // Version 1 waits for an answer; version 2 tells a joke.
    let (status, _) = deploy(
        &client,
        &base,
        ACME,
        "joke",
        vec![("ask.wasm", wasm("bench-ask"))],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let mut waiting = Vec::new();
    for user in 0..50 {
        let (status, started) = post(
            &client,
            format!("{base}/workflows/joke/run-nowait"),
            ACME,
            json!({"start_event": {"user": user}}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{started}");
        waiting.push(started["handler_id"].as_str().unwrap().to_string());
    }
    let deployed = deploy_joke(&client, &base, ACME).await;
    assert_eq!(deployed["version"], 2);

    // New runs use version 2.
    let ran = run_joke(&client, &base, ACME, json!({"topic": "ducks"})).await;
    assert!(result_of(&ran).as_str().unwrap().contains("ducks"));
    let (_, listed) = get(&client, format!("{base}/deployments"), ACME).await;
    let versions: Vec<(u64, bool, u64)> = listed["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["version"].as_u64().unwrap(),
                d["current"].as_bool().unwrap(),
                d["runs_in_flight"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(versions, [(1, false, 50), (2, true, 0)]);
    // A version runs use cannot be deleted.
    let delete = |version: u64| {
        client
            .delete(format!("{base}/deployments/joke/{version}"))
            .bearer_auth(ACME)
            .send()
    };
    let (status, refused) = json_of(delete(1).await.unwrap()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert!(
        refused["detail"]
            .as_str()
            .unwrap()
            .contains("version 1 of `joke` is used by 50 run(s) going on"),
        "{refused}"
    );

    // The 50 finish on version 1: they take its answer and say its result.
    for id in &waiting {
        let (status, sent) = post(
            &client,
            format!("{base}/events/{id}"),
            ACME,
            json!({"event": {"type": "HumanResponseEvent", "value": {"response": "Ada"}}}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{sent}");
    }
    for id in &waiting {
        let handler = loop {
            let (_, handler) = get(&client, format!("{base}/handlers/{id}"), ACME).await;
            if handler["status"] != "running" {
                break handler;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        };
        assert_eq!(handler["status"], "completed", "{handler}");
        assert!(
            result_of(&handler).as_str().unwrap().contains("Ada"),
            "{handler}"
        );
    }
    let (status, deleted) = json_of(delete(1).await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{deleted}");
    let (status, _) = json_of(delete(1).await.unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // A version's number is never given again, even once deleted.
    let (status, _) = json_of(delete(2).await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    let deployed = deploy_joke(&client, &base, ACME).await;
    assert_eq!(deployed["version"], 3);
}

#[tokio::test]
async fn a_refused_workflow_is_called_by_its_declared_name_unless_its_manifest_names_it() {
    let base = serve_app(app()).await;
    let client = Client::new();
    // `nostop` declares itself `NoStopFlow`; a manifest naming it otherwise
    // than it is deployed does not name it, one naming it so does.
    let cases = [
        ("nostop", None, "Workflow 'NoStopFlow'"),
        (
            "mine",
            Some("name = \"other\"\n[[components]]\npath = \"nostop.wasm\"\n"),
            "Workflow 'NoStopFlow'",
        ),
        (
            "checkout",
            Some("name = \"checkout\"\n[[components]]\npath = \"nostop.wasm\"\n"),
            "Workflow 'checkout'",
        ),
    ];
    for (name, manifest, expected) in cases {
        let files = vec![("nostop.wasm", wasm("nostop"))];
        let (status, refused) = deploy(&client, &base, ACME, name, files, manifest).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}: {refused}");
        let detail = refused["detail"].as_str().unwrap();
        assert!(
            detail.contains("At least one Event of type StopEvent must be returned by any step.")
                && detail.contains(expected),
            "{name}: {detail}"
        );
    }
}

#[tokio::test]
async fn bad_uploads_are_refused_naming_the_problem_and_deploy_nothing() {
    let base = serve_app(app()).await;
    let client = Client::new();
    let many: Vec<String> = (0..65).map(|n| format!("c{n}.wasm")).collect();
    let cases: Vec<(&str, Files, Option<&str>, &str)> = vec![
        (
            "junk",
            vec![("junk.wasm", b"not a component".to_vec())],
            None,
            "junk.wasm is not a valid WebAssembly component",
        ),
        (
            "big",
            vec![("big.wasm", vec![0u8; 5 * 1024 * 1024])],
            None,
            "larger than the tenant's quota max_deployment_bytes = 4194304",
        ),
        (
            "alien",
            vec![("alien.wasm", wasm("alien"))],
            None,
            "alien.wasm needs an import the host does not provide",
        ),
        (
            "invalid",
            vec![("invalid.wasm", wasm("invalid"))],
            None,
            "Orphan",
        ),
        (
            "grants",
            vec![("joke.wasm", wasm("joke"))],
            Some(
                "[[components]]\npath = \"joke.wasm\"\n[resources.etc]\ndir = \"/etc\"\nsteps = [\"write_joke\"]\n",
            ),
            "resource `etc` grants a host directory",
        ),
        (
            "missing",
            vec![("joke.wasm", wasm("joke"))],
            Some("[[components]]\npath = \"other.wasm\"\n"),
            "component `other.wasm` was not uploaded",
        ),
        (
            "twice",
            vec![("a.wasm", vec![0]), ("a.wasm", vec![1])],
            None,
            "two components are named `a.wasm`",
        ),
        (
            "many",
            many.iter().map(|name| (name.as_str(), vec![0])).collect(),
            None,
            "a deployment holds at most 64 components",
        ),
        (
            "bad name!",
            vec![("joke.wasm", wasm("joke"))],
            None,
            "workflow name `bad name!`",
        ),
    ];
    for (name, files, manifest, expected) in cases {
        let (status, refused) = deploy(&client, &base, ACME, name, files, manifest).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}: {refused}");
        let detail = refused["detail"].as_str().unwrap();
        assert!(detail.contains(expected), "{name}: {detail}");
    }
    let (_, listed) = get(&client, format!("{base}/deployments"), ACME).await;
    assert_eq!(listed, json!({"deployments": []}), "nothing deployed");
    // What the refused uploads compiled does not stay in the compiled cache.
    let cache = runtime().cache().expect("the tests' runtime caches");
    for guest in ["alien", "invalid"] {
        assert!(
            cache.load(runtime().engine(), &wasm(guest)).is_none(),
            "{guest} stays in the compiled cache"
        );
    }
    let (_, listed) = get(&client, format!("{base}/workflows"), ACME).await;
    assert_eq!(listed, json!({"workflows": []}));

    // The deployment quota: three versions, then 403.
    for _ in 0..3 {
        deploy_joke(&client, &base, ACME).await;
    }
    let (status, refused) = deploy(
        &client,
        &base,
        ACME,
        "joke",
        vec![("joke.wasm", wasm("joke"))],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    assert!(
        refused["detail"]
            .as_str()
            .unwrap()
            .contains("quota max_deployments = 3"),
        "{refused}"
    );
}

#[tokio::test]
async fn a_restarted_server_serves_every_stored_version_again() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("handlers.db");
    let client = Client::new();
    let store = Arc::new(SqliteStore::open(&path).unwrap());
    let first = Stoppable::serve(app().with_store(store).await.unwrap()).await;
    let base = first.base.clone();
    let manifest = "name = \"joke\"\n[[components]]\npath = \"joke.wasm\"\n";
    for _ in 0..2 {
        let (status, deployed) = deploy(
            &client,
            &base,
            ACME,
            "joke",
            vec![("joke.wasm", wasm("joke"))],
            Some(manifest),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{deployed}");
    }
    let ran = run_joke(&client, &base, ACME, json!({"topic": "owls"})).await;
    let id = ran["handler_id"].as_str().unwrap().to_string();
    first.stop().await;

    let store = super::reopen(&path).await;
    let base = serve_app(app().with_store(store).await.unwrap()).await;
    let (_, listed) = get(&client, format!("{base}/deployments"), ACME).await;
    let versions: Vec<u64> = listed["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["version"].as_u64().unwrap())
        .collect();
    assert_eq!(versions, [1, 2], "{listed}");
    let (status, handler) = get(&client, format!("{base}/handlers/{id}"), ACME).await;
    assert_eq!(status, StatusCode::OK, "{handler}");
    assert!(result_of(&handler).as_str().unwrap().contains("owls"));
    let ran = run_joke(&client, &base, ACME, json!({"topic": "bats"})).await;
    assert!(result_of(&ran).as_str().unwrap().contains("bats"));
    let (_, globex) = get(&client, format!("{base}/deployments"), GLOBEX).await;
    assert_eq!(globex, json!({"deployments": []}));
}
