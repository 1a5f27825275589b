//! Pictures of a workflow: its steps and event types, who emits and who
//! accepts each, start and stop marked, and the human a request for input
//! waits for.
//!
//! [`Graph`] is the picture as data; [`mermaid`], [`dot`] and [`html`]
//! write it out. Nothing here fetches anything: the SVG and the HTML page
//! are drawn here and open offline. `wflow draw` and the server's
//! `/workflows/{name}/graph.svg` (which the web debugger shows) both draw
//! with this crate.

pub mod dot;
pub mod graph;
pub mod html;
pub mod mermaid;

pub use graph::{Edge, EdgeKind, Graph, Node, NodeKind};
