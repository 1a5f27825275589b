//! `wflow draw`: every step and event type of a workflow, who emits and
//! who accepts what, start and stop marked, and the human a request for
//! input waits for, in Mermaid, DOT, HTML and SVG.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::{assert_contains, scratch, stderr, stdout, wflow_fails, wflow_ok};

/// The steps of `path` with what each accepts and emits, as `describe`
/// gives them.
fn steps_of(path: &str) -> Vec<(String, Vec<String>, Vec<String>)> {
    let described: Value =
        serde_json::from_str(&stdout(&wflow_ok(&["describe", path, "--json"], None))).unwrap();
    let names = |value: &Value| -> Vec<String> {
        value
            .as_array()
            .unwrap()
            .iter()
            .map(|name| name.as_str().unwrap().to_string())
            .collect()
    };
    described["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|step| {
            (
                step["name"].as_str().unwrap().to_string(),
                names(&step["accepts"]),
                names(&step["emits"]),
            )
        })
        .collect()
}

/// The id `wflow draw` gives a node of kind `prefix` named `name`.
fn id(prefix: &str, name: &str) -> String {
    let mut id = format!("{prefix}_");
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            id.push(c);
        } else {
            id.push_str(&format!("_{:x}_", c as u32));
        }
    }
    id
}

#[test]
fn mermaid_has_every_step_event_and_edge_and_the_human_answering() {
    let text = stdout(&wflow_ok(&["draw", "bench/ask"], None));
    assert_contains(&text, "flowchart TD\n");
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    for (step, accepts, emits) in steps_of("bench/ask") {
        assert!(lines.contains(&format!("{}[\"{step}\"]:::step", id("s", &step)).as_str()));
        for event in accepts {
            assert!(
                lines.contains(&format!("{} --> {}", id("e", &event), id("s", &step)).as_str())
            );
        }
        for event in emits {
            assert!(
                lines.contains(&format!("{} --> {}", id("s", &step), id("e", &event)).as_str())
            );
        }
    }
    assert!(lines.contains(&"e_StartEvent([\"StartEvent\"]):::start"));
    assert!(lines.contains(&"e_StopEvent([\"StopEvent\"]):::stop"));
    assert!(lines.contains(&"human{{\"a human\"}}:::human"));
    assert!(lines.contains(&"e_InputRequiredEvent -.-> human"));
    assert!(lines.contains(&"human -.-> e_HumanResponseEvent"));
}

#[test]
fn dot_draws_a_workflow_of_three_languages() {
    let text = stdout(&wflow_ok(&["draw", "polyglot", "--format", "dot"], None));
    assert!(text.starts_with("digraph \"polyglot\" {\n"), "{text}");
    assert!(text.ends_with("}\n"), "{text}");
    for (step, accepts, emits) in steps_of("polyglot") {
        assert_contains(
            &text,
            &format!("    {} [label=\"{step}\", shape=box", id("s", &step)),
        );
        for event in accepts {
            assert_contains(
                &text,
                &format!("    {} -> {};", id("e", &event), id("s", &step)),
            );
        }
        for event in emits {
            assert_contains(
                &text,
                &format!("    {} -> {};", id("s", &step), id("e", &event)),
            );
        }
    }
}

#[test]
fn the_html_page_holds_its_picture_and_fetches_nothing() {
    let out = scratch("draw", ".html");
    let path = out.to_str().unwrap();
    wflow_ok(
        &["draw", "testing/waits", "--format", "html", "--out", path],
        None,
    );
    let page = std::fs::read_to_string(&out).unwrap();
    std::fs::remove_file(&out).ok();
    assert!(page.starts_with("<!DOCTYPE html>"));
    // Offline: no script, no stylesheet or image from anywhere.
    for fetching in ["<script", "src=", "href=", "@import", "url(http"] {
        assert!(!page.contains(fetching), "the page holds {fetching}");
    }
    let steps = steps_of("testing/waits");
    let mut events: Vec<&String> = steps
        .iter()
        .flat_map(|(_, accepts, emits)| accepts.iter().chain(emits))
        .collect();
    events.sort();
    events.dedup();
    // A node per step, per event type, and the human.
    assert_eq!(
        page.matches("<g class=\"node ").count(),
        steps.len() + events.len() + 1
    );
    // Each marked with what it stands for, so that a page can find it.
    for (step, _, _) in &steps {
        assert!(page.contains(&format!("<g class=\"node step\" data-step=\"{step}\">")));
    }
    for event in &events {
        assert!(page.contains(&format!("<g class=\"node event\" data-event=\"{event}\">")));
    }
    let edges: usize = steps
        .iter()
        .map(|(_, accepts, emits)| accepts.len() + emits.len())
        .sum();
    // And the request for input to the human to the answer.
    assert_eq!(
        page.matches("marker-end=\"url(#arrow)\"").count(),
        edges + 2
    );
    for (step, _, _) in &steps {
        assert_contains(&page, &format!(">{step}</text>"));
    }

    let svg = stdout(&wflow_ok(
        &["draw", "testing/waits", "--format", "svg"],
        None,
    ));
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert!(page.contains(&svg), "the page holds the same picture");
}

#[test]
fn drawing_what_is_not_a_workflow_says_why() {
    let output = wflow_fails(&["draw", "no/such/folder"], None);
    assert_contains(&stderr(&output), "no/such/folder");
}

/// The mermaid bundle scripts/setup.sh installs, Chromium and Playwright,
/// or `None` (outside CI) when one is missing.
fn mermaid_tools() -> Option<(PathBuf, PathBuf)> {
    let tools = wflow_build::tools_dir().expect("a tools folder: set WFLOW_TOOLS_DIR or HOME");
    let bundle = tools.join("mermaid/node_modules/mermaid/dist/mermaid.min.js");
    let chromium = PathBuf::from(
        std::env::var_os("WFLOW_CHROMIUM").unwrap_or_else(|| "/usr/bin/chromium".into()),
    );
    let missing = if !bundle.exists() {
        format!(
            "no mermaid at {} (scripts/setup.sh installs it)",
            bundle.display()
        )
    } else if !chromium.exists() {
        format!(
            "no Chromium at {} (scripts/test-browser.sh installs Debian's)",
            chromium.display()
        )
    } else {
        return Some((bundle, chromium));
    };
    assert!(
        std::env::var_os("CI").is_none(),
        "CI renders wflow's Mermaid: {missing}"
    );
    eprintln!("{missing}: the Mermaid is not rendered here");
    None
}

#[test]
fn the_mermaid_renders_with_mermaid_itself() {
    let Some((bundle, chromium)) = mermaid_tools() else {
        return;
    };
    let files: Vec<PathBuf> = ["polyglot", "testing/waits", "bench/ask"]
        .iter()
        .enumerate()
        .map(|(n, workflow)| {
            let file = scratch(&format!("mermaid-{n}"), ".mmd");
            let path = file.to_str().unwrap();
            wflow_ok(&["draw", workflow, "--out", path], None);
            file
        })
        .collect();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/browser/mermaid.py");
    let output = std::process::Command::new(super::client_python())
        .arg(script)
        .arg("--mermaid-js")
        .arg(&bundle)
        .arg("--chromium")
        .arg(&chromium)
        .args(&files)
        .output()
        .expect("runs the mermaid check");
    for file in &files {
        std::fs::remove_file(file).ok();
    }
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "mermaid refused wflow's text:\n{report}"
    );
    let rendered = report
        .lines()
        .filter(|line| line.starts_with("OK "))
        .count();
    assert_eq!(rendered, 3, "{report}");
}
