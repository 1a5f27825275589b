//! CORS: browsers are answered only from the origins allowed; pages of other
//! origins change nothing, and requests naming another host are refused.

use reqwest::{Client, StatusCode};
use wflow_server::{self as server, App};
use wflow_tests::workflow;

use crate::serve_app;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browsers_are_answered_only_from_the_origins_allowed() {
    let serve = |origins: server::AllowedOrigins| async move {
        let app = App::new(vec![workflow("joke").await])
            .unwrap()
            .with_allowed_origins(origins)
            .unwrap();
        serve_app(app).await
    };
    let client = Client::new();
    // `GET /health` from a page of `origin`: the origin allowed back, if any.
    let allowed_for = |base: String, origin: &'static str| {
        let client = client.clone();
        async move {
            let response = client
                .get(format!("{base}/health"))
                .header("Origin", origin)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            response
        }
    };
    let allow = |response: &reqwest::Response| {
        response
            .headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap().to_string())
    };

    // By default no origin is allowed: no CORS headers at all.
    let closed = serve(server::AllowedOrigins::None).await;
    let response = allowed_for(closed.clone(), "http://ui.test").await;
    assert_eq!(allow(&response), None);

    // One origin allowed: it is echoed with credentials, a preflight is
    // answered; another origin gets nothing.
    let open = serve(server::AllowedOrigins::from_args(
        &["http://ui.test".into()],
    ))
    .await;
    let response = allowed_for(open.clone(), "http://ui.test").await;
    assert_eq!(allow(&response).as_deref(), Some("http://ui.test"));
    assert_eq!(
        response.headers()["access-control-allow-credentials"],
        "true"
    );
    let preflight = client
        .request(
            reqwest::Method::OPTIONS,
            format!("{open}/workflows/joke/run"),
        )
        .header("Origin", "http://ui.test")
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "content-type")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), StatusCode::OK);
    assert_eq!(allow(&preflight).as_deref(), Some("http://ui.test"));
    assert_eq!(
        preflight.headers()["access-control-allow-headers"],
        "content-type"
    );
    assert_eq!(preflight.headers()["access-control-max-age"], "600");
    let response = allowed_for(open.clone(), "http://elsewhere.test").await;
    assert_eq!(allow(&response), None);

    // `*`: any origin, echoed back (the reference's default).
    let any = serve(server::AllowedOrigins::from_args(&["*".into()])).await;
    let response = allowed_for(any.clone(), "http://elsewhere.test").await;
    assert_eq!(allow(&response).as_deref(), Some("http://elsewhere.test"));

    // An origin that is no header value is refused up front.
    let bad = App::new(vec![workflow("joke").await])
        .unwrap()
        .with_allowed_origins(server::AllowedOrigins::from_args(&["http://a\nb".into()]));
    assert!(bad.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_of_other_origins_and_rebound_host_names_change_nothing() {
    let base = serve_app(App::new(vec![workflow("joke").await]).unwrap()).await;
    let client = Client::new();
    let body = r#"{"start_event": {"topic": "csrf"}}"#;
    // A "simple" request: no preflight, so only the server can refuse it.
    let forged = client
        .post(format!("{base}/workflows/joke/run-nowait"))
        .header("Origin", "https://evil.example")
        .header("Content-Type", "text/plain")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let detail: serde_json::Value = forged.json().await.unwrap();
    assert!(
        detail["detail"]
            .as_str()
            .unwrap()
            .contains("https://evil.example"),
        "{detail}"
    );
    // DNS rebinding: the browser names the attacker's host.
    let rebound = client
        .get(format!("{base}/handlers"))
        .header("Host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(rebound.status(), StatusCode::MISDIRECTED_REQUEST);
    let list: serde_json::Value = client
        .get(format!("{base}/handlers"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["handlers"], serde_json::json!([]), "nothing ran");
    // The same request without a browser's Origin runs.
    let plain = client
        .post(format!("{base}/workflows/joke/run-nowait"))
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), StatusCode::OK);
}
