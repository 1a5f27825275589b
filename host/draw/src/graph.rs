//! A workflow's picture as data: a node per step, per event type, and one
//! for the human a request for input waits for; an edge from each event
//! type to each step accepting it, from each step to each event type it
//! emits, and from the request for input to the human to the answer.

use std::collections::{BTreeSet, HashMap, VecDeque};

use wflow_core::{EventKind, Workflow};

/// What a node stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeKind {
    /// A step, with what a reader wants to know about it.
    Step {
        /// Its workers.
        workers: u32,
        /// Its retry policy, as written in a manifest, if any.
        retry: Option<String>,
        /// Its timeout, if any.
        timeout: Option<String>,
    },
    /// An event type, with its role.
    Event(EventKind),
    /// The human (or other outside caller) a request for input waits for.
    Human,
}

/// A node of the picture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Its id, unique in the picture and safe in every format (letters,
    /// digits and `_`).
    pub id: String,
    /// What it is called.
    pub label: String,
    /// What it stands for.
    pub kind: NodeKind,
}

/// How an edge is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdgeKind {
    /// An event goes to a step that accepts it.
    Accepts,
    /// A step emits (or sends) an event.
    Emits,
    /// A request for input reaches the outside, or its answer comes back.
    Outside,
}

/// An edge of the picture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    /// The id of the node it leaves.
    pub from: String,
    /// The id of the node it reaches.
    pub to: String,
    /// How it is drawn.
    pub kind: EdgeKind,
}

/// A workflow's picture.
#[derive(Debug, Clone)]
pub struct Graph {
    /// The workflow's name.
    pub name: String,
    /// Its nodes, in a stable order: the start event first, then as the
    /// events flow.
    pub nodes: Vec<Node>,
    /// Its edges.
    pub edges: Vec<Edge>,
}

/// The id of a node named `name` of kind `prefix` (`s` step, `e` event):
/// letters, digits and `_` only, distinct for distinct names.
fn node_id(prefix: &str, name: &str) -> String {
    let mut id = format!("{prefix}_");
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            id.push(c);
        } else {
            // `_` itself is escaped too, so `a_b` and `a.b` differ.
            id.push_str(&format!("_{:x}_", c as u32));
        }
    }
    id
}

impl Graph {
    /// The picture of `workflow`.
    pub fn of(workflow: &Workflow) -> Self {
        let mut nodes = Vec::new();
        let mut edges = Vec::new();
        let mut event_names = BTreeSet::new();
        for step in workflow.steps() {
            nodes.push(Node {
                id: node_id("s", &step.name),
                label: step.name.clone(),
                kind: NodeKind::Step {
                    workers: step.num_workers,
                    retry: step
                        .retry
                        .as_ref()
                        .and_then(|retry| serde_json::to_string(retry).ok()),
                    timeout: step
                        .timeout
                        .map(|timeout| humantime::format_duration(timeout).to_string()),
                },
            });
            for accepted in &step.accepts {
                event_names.insert(accepted.clone());
                edges.push(Edge {
                    from: node_id("e", accepted),
                    to: node_id("s", &step.name),
                    kind: EdgeKind::Accepts,
                });
            }
            for emitted in &step.emits {
                event_names.insert(emitted.clone());
                edges.push(Edge {
                    from: node_id("s", &step.name),
                    to: node_id("e", emitted),
                    kind: EdgeKind::Emits,
                });
            }
        }
        event_names.insert(workflow.start_event().to_string());
        let kind_of = |name: &str| {
            workflow
                .events()
                .get(name)
                .map_or(EventKind::Plain, |info| info.kind)
        };
        for name in &event_names {
            nodes.push(Node {
                id: node_id("e", name),
                label: name.clone(),
                kind: NodeKind::Event(kind_of(name)),
            });
        }
        let of_kind = |kind: EventKind| {
            event_names
                .iter()
                .filter(|name| kind_of(name) == kind)
                .cloned()
                .collect::<Vec<_>>()
        };
        let (asks, answers) = (
            of_kind(EventKind::InputRequired),
            of_kind(EventKind::HumanResponse),
        );
        if !asks.is_empty() || !answers.is_empty() {
            nodes.push(Node {
                id: "human".to_string(),
                label: "a human".to_string(),
                kind: NodeKind::Human,
            });
            for ask in &asks {
                edges.push(Edge {
                    from: node_id("e", ask),
                    to: "human".to_string(),
                    kind: EdgeKind::Outside,
                });
            }
            for answer in &answers {
                edges.push(Edge {
                    from: "human".to_string(),
                    to: node_id("e", answer),
                    kind: EdgeKind::Outside,
                });
            }
        }
        let mut graph = Self {
            name: workflow.name().to_string(),
            nodes,
            edges,
        };
        graph.order_from(&node_id("e", workflow.start_event()));
        graph
    }

    /// Each node's rank: its distance in edges from `start` (unreachable
    /// nodes after the farthest), by id.
    pub fn ranks(&self, start: &str) -> HashMap<String, usize> {
        let mut ranks = HashMap::new();
        let mut queue = VecDeque::from([(start.to_string(), 0)]);
        while let Some((id, rank)) = queue.pop_front() {
            if ranks.contains_key(&id) {
                continue;
            }
            ranks.insert(id.clone(), rank);
            for edge in self.edges.iter().filter(|edge| edge.from == id) {
                queue.push_back((edge.to.clone(), rank + 1));
            }
        }
        let farthest = ranks.values().copied().max().unwrap_or(0);
        for node in &self.nodes {
            ranks.entry(node.id.clone()).or_insert(farthest + 1);
        }
        ranks
    }

    /// The id of the start event's node.
    pub fn start_id(&self) -> Option<&str> {
        self.nodes
            .iter()
            .find(|node| node.kind == NodeKind::Event(EventKind::Start))
            .map(|node| node.id.as_str())
    }

    /// Orders the nodes as the events flow from `start`, then by name.
    fn order_from(&mut self, start: &str) {
        let ranks = self.ranks(start);
        self.nodes
            .sort_by(|a, b| (ranks[&a.id], &a.label).cmp(&(ranks[&b.id], &b.label)));
    }
}

#[cfg(test)]
mod tests {
    use super::node_id;

    #[test]
    fn ids_are_safe_and_distinct() {
        assert_eq!(node_id("e", "StartEvent"), "e_StartEvent");
        let dotted = node_id("e", "a.b");
        let underscored = node_id("e", "a_b");
        assert_ne!(dotted, underscored);
        for id in [dotted, underscored, node_id("s", "ünï code \"x\"")] {
            assert!(
                id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "{id}"
            );
        }
    }
}
