//! The picture as Graphviz DOT.

use std::fmt::Write as _;

use wflow_core::EventKind;

use crate::graph::{EdgeKind, Graph, NodeKind};

/// `text` as a DOT string: quoted, its quotes and backslashes escaped.
fn quoted(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\n' => out.push_str("\\n"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The DOT graph of `graph`.
pub fn render(graph: &Graph) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "digraph {} {{", quoted(&graph.name));
    out.push_str("    rankdir=TB;\n    node [fontname=\"Helvetica\", fontsize=11];\n");
    out.push_str("    edge [color=\"#495057\"];\n");
    for node in &graph.nodes {
        let (shape, fill, stroke) = match &node.kind {
            NodeKind::Step { .. } => ("box", "#e8eefc", "#3b5bdb"),
            NodeKind::Event(EventKind::Start) => ("oval", "#d3f9d8", "#2b8a3e"),
            NodeKind::Event(EventKind::Stop) => ("oval", "#ffe3e3", "#c92a2a"),
            NodeKind::Event(EventKind::InputRequired | EventKind::HumanResponse) => {
                ("oval", "#fff3bf", "#e67700")
            }
            NodeKind::Event(EventKind::Plain) => ("oval", "#f8f9fa", "#868e96"),
            NodeKind::Human => ("hexagon", "#fff9db", "#e67700"),
        };
        let style = if matches!(node.kind, NodeKind::Step { .. }) {
            "filled,rounded"
        } else {
            "filled"
        };
        let _ = writeln!(
            out,
            "    {} [label={}, shape={shape}, style=\"{style}\", fillcolor=\"{fill}\", color=\"{stroke}\"];",
            node.id,
            quoted(&node.label)
        );
    }
    for edge in &graph.edges {
        let style = match edge.kind {
            EdgeKind::Accepts | EdgeKind::Emits => "",
            EdgeKind::Outside => " [style=dashed]",
        };
        let _ = writeln!(out, "    {} -> {}{style};", edge.from, edge.to);
    }
    out.push_str("}\n");
    out
}
