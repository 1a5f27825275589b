//! What a guest can reach: no files or environment without a grant, a
//! granted directory and nothing outside it, configuration and environment
//! for the granted step only; and its output captured under its step's name.

use std::path::PathBuf;

use serde_json::json;
use wflow_core::{LogStream, Workflow};
use wflow_tests::workflow;

use crate::output_of;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_and_environment_are_out_of_reach_without_a_grant() {
    let hostile = workflow("hostile").await;
    let output = output_of(&hostile, json!({"mode": "read_files"})).await;
    let attempts = output.as_array().unwrap();
    assert_eq!(attempts.len(), 5);
    for attempt in attempts {
        let text = attempt.as_str().unwrap();
        assert!(!text.contains("READ"), "a file was read: {text}");
        assert!(text.contains("No such file or directory"), "{text}");
    }
    let output = output_of(&hostile, json!({"mode": "env"})).await;
    assert_eq!(output, json!([]), "no environment variable leaks in");
}

/// A temporary folder with a granted `data/` directory, a secret beside it,
/// a symlink from inside `data/` to the secret, and a manifest granting
/// `data/` read-only to step `attack` (plus configuration and environment).
struct Sandbox {
    root: PathBuf,
}

impl Sandbox {
    fn new(name: &str, mode: &str) -> Self {
        let root = std::env::temp_dir().join(format!("wflow-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("data")).unwrap();
        std::fs::write(root.join("data/ok.txt"), "granted").unwrap();
        std::fs::write(root.join("secret.txt"), "secret").unwrap();
        std::os::unix::fs::symlink(root.join("secret.txt"), root.join("data/link")).unwrap();
        std::fs::write(
            root.join("workflow.toml"),
            format!(
                r#"
                name = "sandboxed"
                [[components]]
                path = "{}"
                [resources.data]
                dir = "data"
                mode = "{mode}"
                guest_path = "/data"
                steps = ["attack"]
                [resources.settings]
                config = {{ model = "small" }}
                steps = ["attack"]
                [resources.secrets]
                env = {{ API_KEY = "k-123" }}
                steps = ["attack"]
                "#,
                wflow_tests::component_path("hostile").display()
            ),
        )
        .unwrap();
        Self { root }
    }

    async fn workflow(&self) -> Workflow {
        wflow_build::load_workflow(wflow_tests::runtime(), &self.root.join("workflow.toml"))
            .await
            .unwrap()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_granted_directory_is_readable_and_nothing_outside_it_is() {
    let sandbox = Sandbox::new("read", "read-only");
    let workflow = sandbox.workflow().await;
    let secret = sandbox.root.join("secret.txt").display().to_string();
    let paths = [
        "/data/ok.txt",
        "/data/../secret.txt",
        "/data/link",
        secret.as_str(),
        "/etc/passwd",
    ];
    let output = output_of(&workflow, json!({"mode": "read_paths", "paths": paths})).await;
    let results: Vec<&str> = output
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert_eq!(results[0], "/data/ok.txt: READ 7 bytes");
    for escaped in &results[1..] {
        assert!(
            !escaped.contains("READ"),
            "escaped the granted directory: {escaped}"
        );
    }
    assert!(
        results[1].contains("Operation not permitted") || results[1].contains("No such file"),
        "{}",
        results[1]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_grant_refuses_writes_and_a_read_write_grant_allows_them() {
    let write = json!({"mode": "write_paths", "paths": ["/data/new.txt", "/data/../escape.txt"]});
    let sandbox = Sandbox::new("ro", "read-only");
    let output = output_of(&sandbox.workflow().await, write.clone()).await;
    for result in output.as_array().unwrap() {
        assert!(!result.as_str().unwrap().contains("WROTE"), "{result}");
    }
    assert!(!sandbox.root.join("data/new.txt").exists());
    assert!(!sandbox.root.join("escape.txt").exists());

    let sandbox = Sandbox::new("rw", "read-write");
    let output = output_of(&sandbox.workflow().await, write).await;
    let results = output.as_array().unwrap();
    assert_eq!(results[0], "/data/new.txt: WROTE");
    assert!(
        !results[1].as_str().unwrap().contains("WROTE"),
        "{}",
        results[1]
    );
    assert_eq!(
        std::fs::read_to_string(sandbox.root.join("data/new.txt")).unwrap(),
        "written by a guest"
    );
    assert!(!sandbox.root.join("escape.txt").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configuration_and_environment_reach_only_the_granted_step() {
    let sandbox = Sandbox::new("config", "read-only");
    let output = output_of(&sandbox.workflow().await, json!({"mode": "config"})).await;
    assert_eq!(
        output,
        json!({"model": "small", "missing": null, "env": [["API_KEY", "k-123"]]})
    );
    // Without the manifest, the same step sees nothing.
    let output = output_of(&workflow("hostile").await, json!({"mode": "config"})).await;
    assert_eq!(output, json!({"model": null, "missing": null, "env": []}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_for_an_unknown_step_or_a_missing_directory_is_refused() {
    let sandbox = Sandbox::new("bad", "read-only");
    let manifest = sandbox.root.join("workflow.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, text.replace("dir = \"data\"", "dir = \"nope\"")).unwrap();
    let err = wflow_build::load_workflow(wflow_tests::runtime(), &manifest)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "WorkflowConfigurationError");
    assert!(
        err.to_string().contains("resource `data`: directory"),
        "{err}"
    );
    std::fs::write(
        &manifest,
        text.replacen("steps = [\"attack\"]", "steps = [\"ghost\"]", 1),
    )
    .unwrap();
    let err = wflow_build::load_workflow(wflow_tests::runtime(), &manifest)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("grants step `ghost`, which no component declares"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_output_is_captured_with_the_step_name() {
    let handler = workflow("hostile")
        .await
        .run(json!({"mode": "print"}))
        .unwrap();
    handler.result().await.unwrap();
    let (entries, dropped) = handler.logs();
    assert_eq!(dropped, 0);
    let texts: Vec<(String, LogStream, String)> = entries
        .into_iter()
        .map(|e| (e.step, e.stream, e.text))
        .collect();
    for (stream, text) in [
        (LogStream::Stdout, "hello from the guest\n"),
        (LogStream::Stderr, "a warning from the guest\n"),
    ] {
        assert!(
            texts.contains(&("attack".into(), stream, text.into())),
            "{texts:?}"
        );
    }
}
