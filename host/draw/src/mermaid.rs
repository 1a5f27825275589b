//! The picture as a Mermaid flowchart: events as stadiums, steps as boxes,
//! the human as a hexagon; start and stop events coloured.

use std::fmt::Write as _;

use wflow_core::EventKind;

use crate::graph::{EdgeKind, Graph, NodeKind};

/// `text` as a quoted Mermaid label: its quotes and angle brackets as
/// entity codes, so no label closes its node or reads as markup.
fn label(text: &str) -> String {
    let mut quoted = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("#quot;"),
            '<' => quoted.push_str("#lt;"),
            '>' => quoted.push_str("#gt;"),
            '#' => quoted.push_str("#35;"),
            c if c.is_control() => quoted.push(' '),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

/// The flowchart of `graph`.
pub fn render(graph: &Graph) -> String {
    let mut out = String::new();
    // A JSON string is a YAML string too.
    let title = serde_json::to_string(&graph.name).unwrap_or_default();
    let _ = writeln!(out, "---\ntitle: {title}\n---");
    out.push_str("flowchart TD\n");
    for node in &graph.nodes {
        let text = label(&node.label);
        let (shape, class) = match &node.kind {
            NodeKind::Step { .. } => (format!("[{text}]"), "step"),
            NodeKind::Event(kind) => (
                format!("([{text}])"),
                match kind {
                    EventKind::Start => "start",
                    EventKind::Stop => "stop",
                    EventKind::InputRequired | EventKind::HumanResponse => "ask",
                    EventKind::Plain => "event",
                },
            ),
            NodeKind::Human => (format!("{{{{{text}}}}}"), "human"),
        };
        let _ = writeln!(out, "    {}{shape}:::{class}", node.id);
    }
    for edge in &graph.edges {
        let arrow = match edge.kind {
            EdgeKind::Accepts | EdgeKind::Emits => "-->",
            EdgeKind::Outside => "-.->",
        };
        let _ = writeln!(out, "    {} {arrow} {}", edge.from, edge.to);
    }
    out.push_str(
        "    classDef step fill:#e8eefc,stroke:#3b5bdb,color:#1b2a4a\n\
         \x20   classDef event fill:#f8f9fa,stroke:#868e96,color:#212529\n\
         \x20   classDef start fill:#d3f9d8,stroke:#2b8a3e,color:#1b4332\n\
         \x20   classDef stop fill:#ffe3e3,stroke:#c92a2a,color:#4a1111\n\
         \x20   classDef ask fill:#fff3bf,stroke:#e67700,color:#4a3000\n\
         \x20   classDef human fill:#fff9db,stroke:#e67700,color:#4a3000\n",
    );
    out
}
