//! Tenants over HTTP: tokens, what each tenant reaches (only its own),
//! read-only tokens, quotas, and the admin's view of usage.

use std::sync::Arc;

use reqwest::{Client, RequestBuilder, StatusCode};
use serde_json::{Value, json};
use wflow_server::tenants::{TenantsConfig, TokenHash};
use wflow_server::{App, SqliteStore};
use wflow_tests::workflow;

use super::{Stoppable, json_of, serve_app};

pub(crate) const ACME: &str = "wflow_acme-token";
const ACME_READER: &str = "wflow_acme-reader";
pub(crate) const GLOBEX: &str = "wflow_globex-token";
pub(crate) const ADMIN: &str = "wflow_admin-token";

/// A tenants file: acme (a token and a read-only one, at most 2 runs at
/// once), globex (at most 3 runs a minute), and an admin token.
fn tenants() -> TenantsConfig {
    let hash = |token: &str| TokenHash::of(token).to_string();
    TenantsConfig::parse(&format!(
        r#"
        [admin]
        tokens = ["{admin}"]
        [tenants.acme]
        tokens = [{{ name = "ci", sha256 = "{acme}" }},
                  {{ name = "dashboard", sha256 = "{reader}", read_only = true }}]
        quotas = {{ max_concurrent_runs = 2 }}
        [tenants.globex]
        tokens = [{{ sha256 = "{globex}" }}]
        quotas = {{ runs_per_minute = 3 }}
        "#,
        admin = hash(ADMIN),
        acme = hash(ACME),
        reader = hash(ACME_READER),
        globex = hash(GLOBEX),
    ))
    .expect("the tenants file parses")
}

pub(crate) async fn tenants_app() -> App {
    let workflows = vec![workflow("joke").await, workflow("bench-ask").await];
    App::new(workflows)
        .unwrap()
        .with_tenants(&tenants())
        .unwrap()
}

/// `request` with `token`, if any: the status and the JSON body.
pub(crate) async fn send(request: RequestBuilder, token: Option<&str>) -> (StatusCode, Value) {
    let request = match token {
        Some(token) => request.bearer_auth(token),
        None => request,
    };
    json_of(request.send().await.unwrap()).await
}

/// Starts `bench_ask` (which waits for an answer) as `token`'s tenant.
async fn start_ask(client: &Client, base: &str, token: &str) -> (StatusCode, Value) {
    let start = json!({"start_event": {"type": "StartEvent", "value": {"user": 1}}});
    send(
        client
            .post(format!("{base}/workflows/bench_ask/run-nowait"))
            .json(&start),
        Some(token),
    )
    .await
}

#[tokio::test]
async fn a_tenant_reaches_only_its_own_handlers() {
    let base = serve_app(tenants_app().await).await;
    let client = Client::new();
    let (status, acme_run) = send(
        client
            .post(format!("{base}/workflows/joke/run"))
            .json(&json!({"start_event": {"topic": "pirates"}})),
        Some(ACME),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{acme_run}");
    let id = acme_run["handler_id"].as_str().unwrap().to_string();
    let (_, globex_ask) = start_ask(&client, &base, GLOBEX).await;
    let globex_id = globex_ask["handler_id"].as_str().unwrap().to_string();

    // Every route answers globex about acme's handler exactly as about one
    // that does not exist.
    let routes = |id: &str| {
        [
            client.get(format!("{base}/handlers/{id}")),
            client.get(format!("{base}/results/{id}")),
            client.get(format!("{base}/events/{id}")),
            client.post(format!("{base}/events/{id}")).json(
                &json!({"event": {"type": "HumanResponseEvent", "value": {"response": "x"}}}),
            ),
            client.post(format!("{base}/handlers/{id}/cancel")),
            client.post(format!("{base}/handlers/{id}/cancel?purge=true")),
        ]
    };
    for (theirs, nobodys) in routes(&id).into_iter().zip(routes("no-such-handler")) {
        let answer = send(theirs, Some(GLOBEX)).await;
        assert_eq!(answer.0, StatusCode::NOT_FOUND, "{answer:?}");
        assert_eq!(answer, send(nobodys, Some(GLOBEX)).await, "no oracle");
    }
    // Ids are each tenant's own: globex may choose the same id for a run of
    // its own, which touches nothing of acme's.
    let (status, body) = send(
        client
            .post(format!("{base}/workflows/joke/run"))
            .json(&json!({"handler_id": id, "start_event": {"topic": "x"}})),
        Some(GLOBEX),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["handler_id"], id.as_str());
    let (status, body) = send(
        client.post(format!("{base}/handlers/{id}/cancel?purge=true")),
        Some(GLOBEX),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "globex purges its own: {body}");

    // Each lists only its own; acme still reads its own.
    let ids = |listing: Value| -> Vec<String> {
        listing["handlers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["handler_id"].as_str().unwrap().to_string())
            .collect()
    };
    let (_, listing) = send(client.get(format!("{base}/handlers")), Some(ACME)).await;
    assert_eq!(ids(listing), [id.as_str()]);
    let (_, listing) = send(client.get(format!("{base}/handlers")), Some(GLOBEX)).await;
    assert_eq!(ids(listing), [globex_id.as_str()]);
    let (status, mine) = send(client.get(format!("{base}/handlers/{id}")), Some(ACME)).await;
    assert_eq!(
        (status, mine["status"].as_str()),
        (StatusCode::OK, Some("completed"))
    );
    assert_eq!(mine["handler_id"], id.as_str());
    assert!(
        mine["result"].to_string().contains("pirates"),
        "acme's result is its own: {mine}"
    );
    let (status, _) = send(
        client.post(format!("{base}/handlers/{globex_id}/cancel")),
        Some(GLOBEX),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn the_debugger_page_is_public_and_what_it_reads_needs_a_token() {
    let base = serve_app(tenants_app().await).await;
    let client = Client::new();
    for path in ["/", "/ui/app.js", "/ui/app.css"] {
        let response = client.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
    let graph = format!("{base}/workflows/joke/graph.svg");
    let (status, body) = send(client.get(&graph), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let response = client.get(&graph).bearer_auth(ACME).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let (status, run) = send(
        client
            .post(format!("{base}/workflows/joke/run"))
            .json(&json!({"start_event": {"topic": "pirates"}})),
        Some(ACME),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{run}");
    let state = format!(
        "{base}/handlers/{}/state",
        run["handler_id"].as_str().unwrap()
    );
    let (status, body) = send(client.get(&state), Some(ACME)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Another tenant does not see that the handler exists.
    let (status, body) = send(client.get(&state), Some(GLOBEX)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}

#[tokio::test]
async fn requests_without_a_valid_token_are_refused() {
    let base = serve_app(tenants_app().await).await;
    let client = Client::new();
    for token in [None, Some("wflow_not-a-token")] {
        let request = client.get(format!("{base}/workflows"));
        let request = match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            response.headers()["www-authenticate"],
            "Bearer realm=\"wflow\""
        );
        assert!(response.headers().contains_key("x-request-id"));
        let (_, body) = json_of(response).await;
        assert!(body["detail"].as_str().unwrap().contains("token"), "{body}");
    }
    // A probe needs none.
    let (status, _) = send(client.get(format!("{base}/health")), None).await;
    assert_eq!(status, StatusCode::OK);
    // A tenant's token sees the workflows.
    let (status, body) = send(client.get(format!("{base}/workflows")), Some(ACME)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"workflows": ["joke", "bench_ask"]}));
    // An admin token acts for no tenant.
    let (status, body) = send(client.get(format!("{base}/handlers")), Some(ADMIN)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
}

#[tokio::test]
async fn a_read_only_token_reads_but_changes_nothing() {
    let base = serve_app(tenants_app().await).await;
    let client = Client::new();
    let (status, body) = start_ask(&client, &base, ACME_READER).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(
        body["detail"],
        "token `dashboard` of tenant `acme` is read-only: it cannot POST /workflows/bench_ask/run-nowait"
    );
    let (_, started) = start_ask(&client, &base, ACME).await;
    let id = started["handler_id"].as_str().unwrap();
    let (status, _) = send(
        client.get(format!("{base}/handlers/{id}")),
        Some(ACME_READER),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::ACCEPTED,
        "the reader sees its tenant's running handler"
    );
    let (status, _) = send(
        client.post(format!("{base}/handlers/{id}/cancel")),
        Some(ACME_READER),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, handler) = send(client.get(format!("{base}/handlers/{id}")), Some(ACME)).await;
    assert_eq!(handler["status"], "running", "still running");
}

#[tokio::test]
async fn quotas_refuse_naming_themselves_and_usage_shows_them() {
    let base = serve_app(tenants_app().await).await;
    let client = Client::new();
    // acme: 2 runs at once.
    let mut running = Vec::new();
    for _ in 0..2 {
        let (status, body) = start_ask(&client, &base, ACME).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        running.push(body["handler_id"].as_str().unwrap().to_string());
    }
    let (status, body) = start_ask(&client, &base, ACME).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains("tenant `acme` is at its quota max_concurrent_runs = 2 (2 in use)"),
        "{detail}"
    );
    // Nothing was stored half-way: still two handlers.
    let (_, listing) = send(client.get(format!("{base}/handlers")), Some(ACME)).await;
    assert_eq!(listing["handlers"].as_array().unwrap().len(), 2);
    // globex is not held back by acme's quota.
    let (status, _) = start_ask(&client, &base, GLOBEX).await;
    assert_eq!(status, StatusCode::OK);
    // A run ending gives its slot back.
    let (status, _) = send(
        client.post(format!("{base}/handlers/{}/cancel", running[0])),
        Some(ACME),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = start_ask(&client, &base, ACME).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // globex: 3 runs a minute (one already started).
    for _ in 0..2 {
        let (status, body) = start_ask(&client, &base, GLOBEX).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (status, body) = start_ask(&client, &base, GLOBEX).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("tenant `globex` is over its quota runs_per_minute = 3"),
        "{body}"
    );

    // Each tenant sees its own counters; the admin sees every tenant's.
    let (status, usage) = send(client.get(format!("{base}/usage")), Some(ACME)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(usage["tenant"], "acme");
    assert_eq!(usage["running"], 2);
    assert_eq!(usage["runs_started"], 3);
    assert_eq!(usage["refusals"], 1);
    assert_eq!(usage["quotas"]["max_concurrent_runs"], 2);
    let (status, all) = send(client.get(format!("{base}/usage")), Some(ADMIN)).await;
    assert_eq!(status, StatusCode::OK);
    let tenants: Vec<&str> = all["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["tenant"].as_str().unwrap())
        .collect();
    assert_eq!(tenants, ["acme", "globex"]);
    assert_eq!(all["tenants"][1]["running"], 3);
}

#[tokio::test]
async fn a_restarted_server_gives_each_tenant_back_its_own_handlers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("handlers.db");
    let client = Client::new();
    let store = Arc::new(SqliteStore::open(&path).unwrap());
    let first = Stoppable::serve(tenants_app().await.with_store(store).await.unwrap()).await;
    let base = first.base.clone();
    let joke = json!({"start_event": {"topic": "pirates"}});
    let (status, ran) = send(
        client
            .post(format!("{base}/workflows/joke/run"))
            .json(&joke),
        Some(ACME),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{ran}");
    let id = ran["handler_id"].as_str().unwrap().to_string();
    first.stop().await;

    let store = super::reopen(&path).await;
    let app = tenants_app()
        .await
        .with_keep_finished(0)
        .with_store(store)
        .await
        .unwrap();
    let base = serve_app(app).await;
    // Read back from the store: acme's, and only acme's.
    let (status, handler) = send(client.get(format!("{base}/handlers/{id}")), Some(ACME)).await;
    assert_eq!(status, StatusCode::OK, "{handler}");
    assert_eq!(handler["status"], "completed");
    assert_eq!(
        handler["handler_id"],
        id.as_str(),
        "the id as acme chose it"
    );
    let (status, _) = send(client.get(format!("{base}/handlers/{id}")), Some(GLOBEX)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, listing) = send(client.get(format!("{base}/handlers")), Some(GLOBEX)).await;
    assert_eq!(listing, json!({"handlers": []}));
    let (_, listing) = send(client.get(format!("{base}/handlers")), Some(ACME)).await;
    assert_eq!(listing["handlers"][0]["handler_id"], id.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_flooding_the_host_with_loops_does_not_starve_another() {
    // Tenant `a` sends 1,000 runs of an infinite loop (its steps stopped
    // after 300 ms, at most 8 runs at once); tenant `b` runs 100 jokes
    // meanwhile, 10 at a time. Every joke completes; the loops past the
    // quota are refused, naming it.
    let hash = |token: &str| TokenHash::of(token).to_string();
    let config = TenantsConfig::parse(&format!(
        r#"
        [tenants.a]
        tokens = [{{ sha256 = "{a}" }}]
        quotas = {{ max_concurrent_runs = 8, runs_per_minute = 100000 }}
        limits = {{ step_timeout = "300ms" }}
        [tenants.b]
        tokens = [{{ sha256 = "{b}" }}]
        "#,
        a = hash("wflow_a"),
        b = hash("wflow_b"),
    ))
    .unwrap();
    let app = App::new(vec![workflow("joke").await, workflow("hostile").await])
        .unwrap()
        .with_tenants(&config)
        .unwrap();
    let base = serve_app(app).await;
    let client = Client::new();
    let flood = {
        let (client, base) = (client.clone(), base.clone());
        tokio::spawn(async move {
            // 1,000 at once, 100 requests in flight at a time.
            let in_flight = Arc::new(tokio::sync::Semaphore::new(100));
            let mut requests = tokio::task::JoinSet::new();
            for _ in 0..1000 {
                let permit = in_flight.clone().acquire_owned().await.unwrap();
                let (client, base) = (client.clone(), base.clone());
                requests.spawn(async move {
                    let start = json!({"start_event": {"mode": "infinite_loop"}});
                    let answer = send(
                        client
                            .post(format!("{base}/workflows/hostile/run-nowait"))
                            .json(&start),
                        Some("wflow_a"),
                    )
                    .await;
                    drop(permit);
                    answer
                });
            }
            let (mut admitted, mut refused) = (0, 0);
            while let Some(answer) = requests.join_next().await {
                let (status, body) = answer.unwrap();
                match status {
                    StatusCode::OK => admitted += 1,
                    StatusCode::FORBIDDEN => {
                        let detail = body["detail"].as_str().unwrap_or_default();
                        assert!(detail.contains("max_concurrent_runs = 8"), "{detail}");
                        refused += 1;
                    }
                    other => panic!("a loop run answered {other}: {body}"),
                }
            }
            (admitted, refused)
        })
    };
    let mut latencies = Vec::new();
    for _ in 0..10 {
        let batch: Vec<_> = (0..10)
            .map(|_| {
                let (client, base) = (client.clone(), base.clone());
                tokio::spawn(async move {
                    let started = std::time::Instant::now();
                    let joke = json!({"start_event": {"topic": "fairness"}});
                    let (status, body) = send(
                        client
                            .post(format!("{base}/workflows/joke/run"))
                            .json(&joke),
                        Some("wflow_b"),
                    )
                    .await;
                    assert_eq!(status, StatusCode::OK, "{body}");
                    assert_eq!(body["status"], "completed", "{body}");
                    started.elapsed()
                })
            })
            .collect();
        for run in batch {
            latencies.push(run.await.unwrap());
        }
    }
    let (admitted, refused) = flood.await.unwrap();
    assert_eq!(admitted + refused, 1000);
    assert!(refused > 0, "the quota refused loops");
    latencies.sort();
    // Reported, not asserted (shared machines are noisy): the bench
    // `tenant_fairness` measures it in a release build.
    eprintln!(
        "b's 100 jokes beside a's loops ({admitted} admitted, {refused} refused): p50 {:?}, max {:?}",
        latencies[49], latencies[99]
    );
}

#[tokio::test]
async fn reloading_the_tenants_file_revokes_adds_and_requotas_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tenants.toml");
    let hash = |token: &str| TokenHash::of(token).to_string();
    let write = |text: String| std::fs::write(&file, text).unwrap();
    write(format!(
        "[admin]\ntokens = [\"{admin}\"]\n[tenants.acme]\ntokens = [{{ sha256 = \"{old}\" }}]\nquotas = {{ max_concurrent_runs = 2 }}\n",
        admin = hash(ADMIN),
        old = hash("wflow_old"),
    ));
    let app = App::new(vec![workflow("joke").await])
        .unwrap()
        .with_tenants_file(&file)
        .unwrap();
    let base = serve_app(app).await;
    let client = Client::new();
    let workflows =
        |token: &'static str| send(client.get(format!("{base}/workflows")), Some(token));
    assert_eq!(workflows("wflow_old").await.0, StatusCode::OK);

    write(format!(
        "[admin]\ntokens = [\"{admin}\"]\n[tenants.acme]\ntokens = [{{ sha256 = \"{new}\" }}]\nquotas = {{ max_concurrent_runs = 5 }}\n[tenants.initech]\ntokens = [{{ sha256 = \"{initech}\" }}]\n",
        admin = hash(ADMIN),
        new = hash("wflow_new"),
        initech = hash("wflow_initech"),
    ));
    let reload =
        |token: &'static str| send(client.post(format!("{base}/admin/reload")), Some(token));
    let (status, body) = reload("wflow_old").await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a tenant may not reload: {body}"
    );
    let (status, body) = reload(ADMIN).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["changes"]["added"], json!(["initech"]));
    assert_eq!(body["changes"]["tokens"], 3);

    assert_eq!(
        workflows("wflow_old").await.0,
        StatusCode::UNAUTHORIZED,
        "revoked"
    );
    assert_eq!(workflows("wflow_new").await.0, StatusCode::OK);
    let (status, listed) = workflows("wflow_initech").await;
    assert_eq!(
        (status, listed),
        (StatusCode::OK, json!({"workflows": ["joke"]}))
    );
    let (_, usage) = send(client.get(format!("{base}/usage")), Some("wflow_new")).await;
    assert_eq!(usage["quotas"]["max_concurrent_runs"], 5);

    // A broken file changes nothing.
    write("[tenants.acme\n".to_string());
    let (status, body) = reload(ADMIN).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("tenants.toml"),
        "{body}"
    );
    assert_eq!(workflows("wflow_new").await.0, StatusCode::OK);
}

#[tokio::test]
async fn the_stored_handlers_quota_counts_what_the_store_keeps() {
    let dir = tempfile::tempdir().unwrap();
    let hash = TokenHash::of(ACME).to_string();
    let config = TenantsConfig::parse(&format!(
        "[tenants.acme]\ntokens = [{{ sha256 = \"{hash}\" }}]\nquotas = {{ max_handlers = 2 }}\n"
    ))
    .unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("handlers.db")).unwrap());
    let app = App::new(vec![workflow("joke").await])
        .unwrap()
        .with_tenants(&config)
        .unwrap()
        .with_store(store)
        .await
        .unwrap();
    let base = serve_app(app).await;
    let client = Client::new();
    let run = |handler_id: Option<&str>| {
        let mut body = json!({"start_event": {"topic": "quota"}});
        if let Some(id) = handler_id {
            body["handler_id"] = json!(id);
        }
        send(
            client
                .post(format!("{base}/workflows/joke/run"))
                .json(&body),
            Some(ACME),
        )
    };
    let (status, first) = run(None).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let first = first["handler_id"].as_str().unwrap().to_string();
    assert_eq!(run(Some("second")).await.0, StatusCode::OK);
    let (status, refused) = run(None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    assert!(
        refused["detail"]
            .as_str()
            .unwrap()
            .contains("quota max_handlers = 2 (2 in use)"),
        "{refused}"
    );
    // Reusing an id stores no new handler.
    assert_eq!(run(Some("second")).await.0, StatusCode::OK);
    // Purging one makes room.
    let (status, _) = send(
        client.post(format!("{base}/handlers/{first}/cancel?purge=true")),
        Some(ACME),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(run(None).await.0, StatusCode::OK);
    let (_, usage) = send(client.get(format!("{base}/usage")), Some(ACME)).await;
    assert_eq!(usage["stored_handlers"], 2);
}
