//! A start event whose JSON Schema `pattern` backtracks catastrophically on
//! strings like `aaa…ac` (`^(?:(a|aa)+(?!a)d|a+c)$`): what froze the server
//! in issue 14. The host's check of such a string must stay bounded.

use wflow_guest::prelude::*;

/// A word the pattern is checked against.
#[event(start)]
struct Word {
    #[schemars(regex(pattern = r"^(?:(a|aa)+(?!a)d|a+c)$"))]
    text: String,
}

#[step]
fn measure(ev: Word) -> StopEvent {
    StopEvent::result(ev.text.len())
}

export_steps!(measure);
