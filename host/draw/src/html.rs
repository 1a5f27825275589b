//! The picture as one HTML page that opens offline: an SVG laid out here
//! (a row per rank, the start event on top), a legend, and each node's
//! details on hover. No script, nothing fetched.

use std::collections::HashMap;
use std::fmt::Write as _;

use wflow_core::EventKind;

use crate::graph::{EdgeKind, Graph, Node, NodeKind};

/// `text` escaped for HTML and SVG text and attributes.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const ROW_HEIGHT: f64 = 96.0;
const NODE_HEIGHT: f64 = 38.0;
const GAP: f64 = 36.0;
const MARGIN: f64 = 48.0;

/// Where a node is drawn: its centre and width.
#[derive(Debug, Clone, Copy)]
struct Place {
    x: f64,
    y: f64,
    width: f64,
}

fn width_of(node: &Node) -> f64 {
    (node.label.chars().count() as f64 * 8.2 + 32.0).max(96.0)
}

/// The places of `graph`'s nodes, and the canvas's size.
fn layout(graph: &Graph) -> (HashMap<String, Place>, f64, f64) {
    let ranks = graph.ranks(graph.start_id().unwrap_or_default());
    let mut rows: Vec<Vec<&Node>> = Vec::new();
    for node in &graph.nodes {
        let rank = ranks.get(&node.id).copied().unwrap_or(0);
        if rows.len() <= rank {
            rows.resize_with(rank + 1, Vec::new);
        }
        rows[rank].push(node);
    }
    rows.retain(|row| !row.is_empty());
    let row_width = |row: &[&Node]| {
        row.iter().map(|node| width_of(node)).sum::<f64>() + GAP * (row.len() as f64 - 1.0)
    };
    let widest = rows.iter().map(|row| row_width(row)).fold(0.0, f64::max);
    // Room on the right for edges that go back up or across a row.
    let rank = |id: &str| ranks.get(id).copied().unwrap_or(0);
    let loops = graph
        .edges
        .iter()
        .any(|edge| rank(&edge.to) <= rank(&edge.from));
    let canvas_width = widest + 2.0 * MARGIN + if loops { 80.0 } else { 0.0 };
    let mut places = HashMap::new();
    for (index, row) in rows.iter().enumerate() {
        let y = MARGIN + index as f64 * ROW_HEIGHT + NODE_HEIGHT / 2.0;
        let mut x = MARGIN + (widest - row_width(row)) / 2.0;
        for node in row {
            let width = width_of(node);
            places.insert(
                node.id.clone(),
                Place {
                    x: x + width / 2.0,
                    y,
                    width,
                },
            );
            x += width + GAP;
        }
    }
    let canvas_height = MARGIN * 2.0 + (rows.len().max(1) as f64 - 1.0) * ROW_HEIGHT + NODE_HEIGHT;
    (places, canvas_width, canvas_height)
}

/// The colours of a node: fill and stroke.
fn colours(kind: &NodeKind) -> (&'static str, &'static str) {
    match kind {
        NodeKind::Step { .. } => ("#e8eefc", "#3b5bdb"),
        NodeKind::Event(EventKind::Start) => ("#d3f9d8", "#2b8a3e"),
        NodeKind::Event(EventKind::Stop) => ("#ffe3e3", "#c92a2a"),
        NodeKind::Event(EventKind::InputRequired | EventKind::HumanResponse) => {
            ("#fff3bf", "#e67700")
        }
        NodeKind::Event(EventKind::Plain) => ("#f8f9fa", "#868e96"),
        NodeKind::Human => ("#fff9db", "#e67700"),
    }
}

/// What hovering over a node tells.
fn details(node: &Node) -> String {
    match &node.kind {
        NodeKind::Step {
            workers,
            retry,
            timeout,
        } => {
            let mut text = format!("step {}\nworkers: {workers}", node.label);
            if let Some(timeout) = timeout {
                let _ = write!(text, "\ntimeout: {timeout}");
            }
            if let Some(retry) = retry {
                let _ = write!(text, "\nretry: {retry}");
            }
            text
        }
        NodeKind::Event(kind) => {
            let role = match kind {
                EventKind::Start => "start event",
                EventKind::Stop => "stop event",
                EventKind::InputRequired => "request for input",
                EventKind::HumanResponse => "answer from outside",
                EventKind::Plain => "event",
            };
            format!("{role} {}", node.label)
        }
        NodeKind::Human => "a human (or any caller) answering through send_event".to_string(),
    }
}

fn node_svg(out: &mut String, node: &Node, place: Place) {
    let (fill, stroke) = colours(&node.kind);
    let (left, top) = (place.x - place.width / 2.0, place.y - NODE_HEIGHT / 2.0);
    // The class and data attributes let a page find a node by its step or
    // event type (the web debugger marks the steps running now).
    let (class, data) = match &node.kind {
        NodeKind::Step { .. } => ("step", format!(" data-step=\"{}\"", escape(&node.label))),
        NodeKind::Event(_) => ("event", format!(" data-event=\"{}\"", escape(&node.label))),
        NodeKind::Human => ("human", String::new()),
    };
    let _ = write!(
        out,
        "<g class=\"node {class}\"{data}><title>{}</title>",
        escape(&details(node))
    );
    match node.kind {
        NodeKind::Human => {
            let (w, h, x, y) = (place.width / 2.0, NODE_HEIGHT / 2.0, place.x, place.y);
            let _ = write!(
                out,
                "<polygon points=\"{},{y} {},{} {},{} {},{y} {},{} {},{}\" fill=\"{fill}\" stroke=\"{stroke}\" stroke-width=\"1.5\"/>",
                x - w,
                x - w + 12.0,
                y - h,
                x + w - 12.0,
                y - h,
                x + w,
                x + w - 12.0,
                y + h,
                x - w + 12.0,
                y + h,
            );
        }
        _ => {
            let radius = if matches!(node.kind, NodeKind::Step { .. }) {
                5.0
            } else {
                NODE_HEIGHT / 2.0
            };
            let _ = write!(
                out,
                "<rect x=\"{left:.1}\" y=\"{top:.1}\" width=\"{:.1}\" height=\"{NODE_HEIGHT}\" rx=\"{radius}\" fill=\"{fill}\" stroke=\"{stroke}\" stroke-width=\"1.5\"/>",
                place.width
            );
        }
    }
    let weight = if matches!(node.kind, NodeKind::Step { .. }) {
        "600"
    } else {
        "400"
    };
    let _ = writeln!(
        out,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" dominant-baseline=\"central\" font-weight=\"{weight}\">{}</text></g>",
        place.x,
        place.y,
        escape(&node.label)
    );
}

fn edge_svg(out: &mut String, from: Place, to: Place, kind: EdgeKind, canvas_width: f64) {
    let dash = if kind == EdgeKind::Outside {
        " stroke-dasharray=\"5 4\""
    } else {
        ""
    };
    let path = if to.y > from.y {
        // Down to a later row.
        let (x1, y1) = (from.x, from.y + NODE_HEIGHT / 2.0);
        let (x2, y2) = (to.x, to.y - NODE_HEIGHT / 2.0 - 2.0);
        let middle = (y1 + y2) / 2.0;
        format!("M{x1:.1},{y1:.1} C{x1:.1},{middle:.1} {x2:.1},{middle:.1} {x2:.1},{y2:.1}")
    } else {
        // Back up (a loop) or across a row: around the right side.
        let (x1, y1) = (from.x + from.width / 2.0, from.y);
        let (x2, y2) = (to.x + to.width / 2.0 + 2.0, to.y);
        let out_x = (x1.max(x2) + 60.0).min(canvas_width - 8.0);
        format!("M{x1:.1},{y1:.1} C{out_x:.1},{y1:.1} {out_x:.1},{y2:.1} {x2:.1},{y2:.1}")
    };
    let _ = writeln!(
        out,
        "<path d=\"{path}\" fill=\"none\" stroke=\"#495057\" stroke-width=\"1.3\"{dash} marker-end=\"url(#arrow)\"/>"
    );
}

/// The picture of `graph` as an SVG document of its own.
pub fn svg(graph: &Graph) -> String {
    let (places, width, height) = layout(graph);
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"13\" viewBox=\"0 0 {width:.0} {height:.0}\" width=\"{width:.0}\" height=\"{height:.0}\" role=\"img\" aria-label=\"{}\">",
        escape(&graph.name)
    );
    svg.push_str(
        "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#495057\"/></marker></defs>\n",
    );
    for edge in &graph.edges {
        if let (Some(from), Some(to)) = (places.get(&edge.from), places.get(&edge.to)) {
            edge_svg(&mut svg, *from, *to, edge.kind, width);
        }
    }
    for node in &graph.nodes {
        if let Some(place) = places.get(&node.id) {
            node_svg(&mut svg, node, *place);
        }
    }
    svg.push_str("</svg>\n");
    svg
}

/// The page of `graph`.
pub fn render(graph: &Graph) -> String {
    let svg = svg(graph);
    let steps = graph
        .nodes
        .iter()
        .filter(|node| matches!(node.kind, NodeKind::Step { .. }))
        .count();
    let events = graph
        .nodes
        .iter()
        .filter(|node| matches!(node.kind, NodeKind::Event(_)))
        .count();
    let name = escape(&graph.name);
    format!(
        "<!DOCTYPE html>
<html lang=\"en\">
<head>
<meta charset=\"utf-8\">
<title>{name}: workflow</title>
<style>
body {{ font-family: system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; margin: 2rem; color: #212529; }}
h1 {{ font-size: 1.4rem; margin-bottom: .2rem; }}
p.summary {{ color: #495057; margin-top: 0; }}
svg {{ max-width: 100%; height: auto; font-size: 13px; }}
svg .node:hover rect, svg .node:hover polygon {{ stroke-width: 3; }}
ul.legend {{ list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: 1.2rem; font-size: .9rem; }}
ul.legend span {{ display: inline-block; width: 1.4em; height: .9em; border: 1.5px solid; border-radius: 3px; vertical-align: middle; margin-right: .35em; }}
</style>
</head>
<body>
<h1>{name}</h1>
<p class=\"summary\">{steps} steps, {events} event types. An arrow from an event to a step: the step accepts it; from a step to an event: the step emits it. Hover a node for its details.</p>
{svg}<ul class=\"legend\">
<li><span style=\"background:#d3f9d8;border-color:#2b8a3e\"></span>start event</li>
<li><span style=\"background:#ffe3e3;border-color:#c92a2a\"></span>stop event</li>
<li><span style=\"background:#f8f9fa;border-color:#868e96;border-radius:1em\"></span>event</li>
<li><span style=\"background:#e8eefc;border-color:#3b5bdb\"></span>step</li>
<li><span style=\"background:#fff3bf;border-color:#e67700\"></span>request for input and its answer (dashed: through a human)</li>
</ul>
</body>
</html>
"
    )
}
