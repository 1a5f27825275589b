//! `collect_events` buffers: per step and buffer id, events wait until one of
//! each expected type has arrived.

use std::collections::HashMap;

use crate::event::Event;

/// The collect buffers of one run.
#[derive(Debug, Default)]
pub(crate) struct CollectBuffers {
    buffers: HashMap<(usize, String), Vec<Event>>,
}

impl CollectBuffers {
    /// Buffers `event` under (`step`, `buffer_id`); once the buffer holds one
    /// event per entry of `expected` (a multiset), removes and returns them in
    /// the order of `expected`, first come first served within a type.
    /// Events beyond what is expected stay buffered for the next round
    /// (the seed drops them; wflow loses no event).
    pub(crate) fn collect(
        &mut self,
        step: usize,
        buffer_id: String,
        event: Event,
        expected: &[String],
    ) -> Option<Vec<Event>> {
        if expected.is_empty() {
            return Some(Vec::new());
        }
        let key = (step, buffer_id);
        let buffer = self.buffers.entry(key.clone()).or_default();
        buffer.push(event);
        let mut taken = vec![false; buffer.len()];
        let mut order = Vec::with_capacity(expected.len());
        for name in expected {
            let found = buffer
                .iter()
                .enumerate()
                .position(|(i, ev)| !taken[i] && ev.name == *name)?;
            taken[found] = true;
            order.push(found);
        }
        let mut slots: Vec<Option<Event>> = buffer.drain(..).map(Some).collect();
        let result = order
            .iter()
            .map(|&i| slots[i].take())
            .collect::<Option<Vec<_>>>();
        let rest: Vec<Event> = slots.into_iter().flatten().collect();
        if rest.is_empty() {
            self.buffers.remove(&key);
        } else {
            self.buffers.insert(key, rest);
        }
        result
    }

    /// How many events wait in each step's buffers, for stuck-run messages.
    pub(crate) fn summary(&self, step_names: &[String]) -> Vec<String> {
        let mut lines: Vec<String> = self
            .buffers
            .iter()
            .filter(|(_, events)| !events.is_empty())
            .map(|((step, id), events)| {
                let name = step_names.get(*step).map(String::as_str).unwrap_or("?");
                format!(
                    "step `{name}` holds {} event(s) in collect buffer `{id}`",
                    events.len()
                )
            })
            .collect();
        lines.sort();
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(name: &str, n: u32) -> Event {
        Event {
            name: name.into(),
            data: format!("{{\"n\":{n}}}"),
        }
    }

    #[test]
    fn returns_in_expected_order_once_complete() {
        let mut buffers = CollectBuffers::default();
        let expected = vec!["A".to_string(), "B".to_string()];
        assert_eq!(
            buffers.collect(0, "default".into(), ev("B", 1), &expected),
            None
        );
        let got = buffers
            .collect(0, "default".into(), ev("A", 2), &expected)
            .unwrap();
        assert_eq!(got, vec![ev("A", 2), ev("B", 1)]);
        // Surplus events wait for the next round instead of being dropped.
        assert_eq!(
            buffers.collect(0, "default".into(), ev("A", 3), &expected),
            None
        );
        assert_eq!(
            buffers.collect(0, "default".into(), ev("A", 4), &expected),
            None
        );
        let got = buffers
            .collect(0, "default".into(), ev("B", 5), &expected)
            .unwrap();
        assert_eq!(got, vec![ev("A", 3), ev("B", 5)]);
        assert_eq!(buffers.summary(&["s".into()]).len(), 1);
    }

    #[test]
    fn counts_repeated_types_and_separates_buffers() {
        let mut buffers = CollectBuffers::default();
        let expected = vec!["A".to_string(), "B".to_string(), "A".to_string()];
        assert_eq!(buffers.collect(0, "x".into(), ev("A", 1), &expected), None);
        assert_eq!(buffers.collect(0, "y".into(), ev("B", 2), &expected), None);
        assert_eq!(buffers.collect(0, "x".into(), ev("B", 3), &expected), None);
        let got = buffers
            .collect(0, "x".into(), ev("A", 4), &expected)
            .unwrap();
        assert_eq!(got, vec![ev("A", 1), ev("B", 3), ev("A", 4)]);
    }
}
