//! The admin API over HTTP: tenants and tokens defined, served at once,
//! kept across a restart, revoked at once; what only an admin may do.

use std::sync::Arc;

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use wflow_server::SqliteStore;

use super::tenants::{ACME, ADMIN, send, tenants_app};
use super::{Stoppable, serve_app};

/// Runs `joke` as `token`'s tenant: the status and body.
async fn run_joke(client: &Client, base: &str, token: &str) -> (StatusCode, Value) {
    send(
        client
            .post(format!("{base}/workflows/joke/run"))
            .json(&json!({"start_event": {"topic": "admins"}})),
        Some(token),
    )
    .await
}

#[tokio::test]
async fn a_tenant_defined_through_the_admin_api_is_served_at_once_and_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("handlers.db");
    let client = Client::new();
    let store = Arc::new(SqliteStore::open(&path).unwrap());
    let first = Stoppable::serve(tenants_app().await.with_store(store).await.unwrap()).await;
    let base = first.base.clone();
    let tenant = format!("{base}/admin/tenants/initech");

    // Only an admin defines tenants.
    let (status, body) = send(client.put(&tenant).json(&json!({})), Some(ACME)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("only an admin token may PUT /admin/tenants/initech"),
        "{body}"
    );
    let (status, body) = send(
        client
            .put(&tenant)
            .json(&json!({"quotas": {"max_concurrent_runs": 1}})),
        Some(ADMIN),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["defined_by"], "api");
    assert_eq!(body["quotas"]["max_concurrent_runs"], 1);
    assert_eq!(body["quotas"]["runs_per_minute"], 600, "wflow's default");

    // Mistakes are named and change nothing.
    let mistakes = [
        (
            client.put(&tenant).json(&json!({"quota": {}})),
            StatusCode::BAD_REQUEST,
            "unknown field `quota`",
        ),
        (
            client
                .put(&tenant)
                .json(&json!({"quotas": {"runs_per_minute": 0}})),
            StatusCode::BAD_REQUEST,
            "runs_per_minute is 0",
        ),
        (
            client
                .put(format!("{base}/admin/tenants/acme"))
                .json(&json!({})),
            StatusCode::CONFLICT,
            "tenant `acme` is defined by the tenants file",
        ),
        (
            client.delete(format!("{base}/admin/tenants/acme")),
            StatusCode::CONFLICT,
            "tenant `acme` is defined by the tenants file",
        ),
        (
            client
                .post(format!("{base}/admin/tenants/nobody/tokens"))
                .json(&json!({"name": "ci"})),
            StatusCode::NOT_FOUND,
            "no tenant is named `nobody`",
        ),
        (
            client
                .post(format!("{tenant}/tokens"))
                .json(&json!({"name": "c i"})),
            StatusCode::BAD_REQUEST,
            "token name `c i`",
        ),
    ];
    for (request, expected, detail) in mistakes {
        let (status, body) = send(request, Some(ADMIN)).await;
        assert_eq!(status, expected, "{body}");
        let text = body["detail"].as_str().unwrap();
        assert!(text.contains(detail), "{detail}: {text}");
    }
    // ... and changed nothing.
    let (_, unchanged) = send(client.get(&tenant), Some(ADMIN)).await;
    assert_eq!(unchanged["quotas"]["max_concurrent_runs"], 1);
    assert_eq!(unchanged["quotas"]["runs_per_minute"], 600);
    assert_eq!(unchanged["tokens"], json!([]));

    // A token made for it works at once, and is shown only once.
    let (status, made) = send(
        client
            .post(format!("{tenant}/tokens"))
            .json(&json!({"name": "ci"})),
        Some(ADMIN),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    assert_eq!(made["stored"], true);
    let token = made["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("wflow_"), "{made}");
    let (status, ran) = run_joke(&client, &base, &token).await;
    assert_eq!(status, StatusCode::OK, "{ran}");
    let id = ran["handler_id"].as_str().unwrap().to_string();
    let (status, body) = send(
        client
            .post(format!("{tenant}/tokens"))
            .json(&json!({"name": "ci"})),
        Some(ADMIN),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (_, listed) = send(client.get(format!("{base}/admin/tenants")), Some(ADMIN)).await;
    let names: Vec<&str> = listed["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["acme", "globex", "initech"]);
    let listed = listed.to_string();
    assert!(!listed.contains(&token), "the token is never shown again");
    assert!(!listed.contains("sha256"), "nor its hash");
    first.stop().await;

    // Restarted on the same store: the tenant, its token and its handler.
    let store = super::reopen(&path).await;
    let app = tenants_app().await.with_store(store).await.unwrap();
    let base = serve_app(app).await;
    let tenant = format!("{base}/admin/tenants/initech");
    let (status, handler) = send(client.get(format!("{base}/handlers/{id}")), Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{handler}");
    let (status, body) = send(client.get(&tenant), Some(ADMIN)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["quotas"]["max_concurrent_runs"], 1);
    assert_eq!(body["tokens"][0]["name"], "ci");

    // Revoked: refused at once; deleted: gone from the list, and defining
    // it again gives its handlers back.
    let (status, body) = send(client.delete(format!("{tenant}/tokens/ci")), Some(ADMIN)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = run_joke(&client, &base, &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, body) = send(client.delete(&tenant), Some(ADMIN)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = send(client.get(&tenant), Some(ADMIN)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, _) = send(client.put(&tenant).json(&json!({})), Some(ADMIN)).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, made) = send(
        client
            .post(format!("{tenant}/tokens"))
            .json(&json!({"name": "reader", "read_only": true})),
        Some(ADMIN),
    )
    .await;
    let reader = made["token"].as_str().unwrap();
    let (_, listing) = send(client.get(format!("{base}/handlers")), Some(reader)).await;
    assert_eq!(listing["handlers"][0]["handler_id"], id.as_str());
    let (status, body) = run_joke(&client, &base, reader).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "read-only: {body}");
}
