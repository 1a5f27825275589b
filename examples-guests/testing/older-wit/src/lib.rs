//! A step component built against the WIT as it was before
//! `component-info` gained its `workflow` field (`wit/workflow.wit` here is
//! that copy): loading it must say that it needs building again.

wit_bindgen::generate!({
    path: "wit",
    world: "steps",
});

use wflow::workflow::types::StepSpec;

struct Older;

impl Guest for Older {
    fn describe() -> ComponentInfo {
        ComponentInfo {
            steps: vec![StepSpec {
                name: "only".into(),
                accepts: vec!["StartEvent".into()],
                emits: vec!["StopEvent".into()],
                num_workers: 1,
                retry: None,
                timeout_ms: None,
            }],
            events: Vec::new(),
            state: None,
        }
    }

    fn handle(_step: String, _ev: Event) -> Result<Vec<Event>, StepError> {
        Ok(vec![Event {
            name: "StopEvent".into(),
            data: r#"{"result": "old"}"#.into(),
        }])
    }
}

export!(Older);
