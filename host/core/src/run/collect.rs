//! `collect_events` buffers: per step and buffer id, events wait until the
//! expected ones have all arrived. Each call costs time in proportion to the
//! number of distinct expected types, not to the number of buffered events.

use std::collections::{HashMap, VecDeque};

use crate::bindings::wflow::workflow::types::ExpectedEvents;
use crate::event::Event;
use crate::snapshot::CollectBufferSnapshot;

/// One buffer: events by type, each type's in the order the events were
/// sent (their work items), whichever call brought its event first: calls
/// of a step with several workers race to the buffer, the order they were
/// sent in does not change.
#[derive(Debug, Default)]
struct Buffer {
    by_type: HashMap<String, VecDeque<(u64, Event)>>,
    len: usize,
}

impl Buffer {
    /// Buffers `event`, sent as work item `sent` (0 for events restored
    /// from a snapshot, which came before any sent since).
    fn push(&mut self, sent: u64, event: Event) {
        let queue = self.by_type.entry(event.name.clone()).or_default();
        let at = queue.partition_point(|(before, _)| *before <= sent);
        queue.insert(at, (sent, event));
        self.len += 1;
    }
}

/// The collect buffers of one run.
#[derive(Debug, Default)]
pub(crate) struct CollectBuffers {
    buffers: HashMap<(usize, String), Buffer>,
}

impl CollectBuffers {
    /// Buffers `event` (sent as work item `sent`) under (`step`,
    /// `buffer_id`); once the buffer holds every event `expected` asks for,
    /// removes and returns them in the order of `expected`, those of one
    /// type in the order they were sent. Events beyond what is expected stay buffered for the
    /// next round (the seed drops them; wflow loses no event). An error names
    /// the limit when the buffer already holds `limit` events.
    pub(crate) fn collect(
        &mut self,
        step: usize,
        buffer_id: String,
        event: Event,
        sent: u64,
        expected: &[ExpectedEvents],
        limit: usize,
    ) -> Result<Option<Vec<Event>>, String> {
        if expected.iter().all(|e| e.count == 0) {
            return Ok(Some(Vec::new()));
        }
        let key = (step, buffer_id);
        let buffer = self.buffers.entry(key.clone()).or_default();
        if buffer.len >= limit {
            return Err(format!(
                "CollectBufferFull: collect buffer `{}` already holds {limit} events (limits.max_collect_buffer)",
                key.1
            ));
        }
        buffer.push(sent, event);

        let mut needed: HashMap<&str, usize> = HashMap::new();
        for entry in expected {
            *needed.entry(entry.name.as_str()).or_default() += entry.count as usize;
        }
        let complete = needed
            .iter()
            .all(|(name, count)| buffer.by_type.get(*name).map_or(0, VecDeque::len) >= *count);
        if !complete {
            return Ok(None);
        }
        let total: usize = needed.values().sum();
        let mut taken = Vec::with_capacity(total);
        for entry in expected {
            if let Some(queue) = buffer.by_type.get_mut(&entry.name) {
                taken.extend(queue.drain(..entry.count as usize).map(|(_, event)| event));
            }
        }
        buffer.len -= taken.len();
        if buffer.len == 0 {
            self.buffers.remove(&key);
        }
        Ok(Some(taken))
    }

    /// The buffers as a snapshot holds them.
    pub(crate) fn snapshot(&self, step_names: &[String]) -> Vec<CollectBufferSnapshot> {
        let mut buffers: Vec<CollectBufferSnapshot> = self
            .buffers
            .iter()
            .map(|((step, id), buffer)| {
                let mut types: Vec<&String> = buffer.by_type.keys().collect();
                types.sort();
                CollectBufferSnapshot {
                    step: step_names.get(*step).cloned().unwrap_or_default(),
                    buffer_id: id.clone(),
                    events: types
                        .into_iter()
                        .flat_map(|t| buffer.by_type[t].iter().map(|(_, event)| event.clone()))
                        .collect(),
                }
            })
            .collect();
        buffers.sort_by(|a, b| (&a.step, &a.buffer_id).cmp(&(&b.step, &b.buffer_id)));
        buffers
    }

    /// Buffers restored from a snapshot; `step_index` maps step names.
    pub(crate) fn restore(
        snapshot: Vec<CollectBufferSnapshot>,
        step_index: &HashMap<String, usize>,
    ) -> Result<Self, String> {
        let mut buffers = HashMap::new();
        for saved in snapshot {
            let step = *step_index.get(&saved.step).ok_or_else(|| {
                format!("a collect buffer belongs to unknown step `{}`", saved.step)
            })?;
            let mut buffer = Buffer::default();
            for event in saved.events {
                buffer.push(0, event);
            }
            buffers.insert((step, saved.buffer_id), buffer);
        }
        Ok(Self { buffers })
    }

    /// How many events wait in each step's buffers, for stuck-run messages.
    pub(crate) fn summary(&self, step_names: &[String]) -> Vec<String> {
        let mut lines: Vec<String> = self
            .buffers
            .iter()
            .filter(|(_, buffer)| buffer.len > 0)
            .map(|((step, id), buffer)| {
                let name = step_names.get(*step).map(String::as_str).unwrap_or("?");
                format!(
                    "step `{name}` holds {} event(s) in collect buffer `{id}`",
                    buffer.len
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

    fn expect(names: &[(&str, u32)]) -> Vec<ExpectedEvents> {
        names
            .iter()
            .map(|(name, count)| ExpectedEvents {
                name: name.to_string(),
                count: *count,
            })
            .collect()
    }

    #[test]
    fn returns_in_expected_order_once_complete() {
        let mut buffers = CollectBuffers::default();
        let expected = expect(&[("A", 1), ("B", 1)]);
        let mut collect = |event| {
            buffers
                .collect(0, "default".into(), event, 1, &expected, 10)
                .unwrap()
        };
        assert_eq!(collect(ev("B", 1)), None);
        assert_eq!(collect(ev("A", 2)).unwrap(), vec![ev("A", 2), ev("B", 1)]);
        // Surplus events wait for the next round instead of being dropped.
        assert_eq!(collect(ev("A", 3)), None);
        assert_eq!(collect(ev("A", 4)), None);
        let got = collect(ev("B", 5)).unwrap();
        assert_eq!(got, vec![ev("A", 3), ev("B", 5)]);
        assert_eq!(
            buffers.summary(&["s".into()]),
            vec!["step `s` holds 1 event(s) in collect buffer `default`"]
        );
    }

    #[test]
    fn counts_repeated_types_and_separates_buffers() {
        let mut buffers = CollectBuffers::default();
        let expected = expect(&[("A", 1), ("B", 1), ("A", 1)]);
        let mut collect = |id: &str, event| {
            buffers
                .collect(0, id.into(), event, 1, &expected, 10)
                .unwrap()
        };
        assert_eq!(collect("x", ev("A", 1)), None);
        assert_eq!(collect("y", ev("B", 2)), None);
        assert_eq!(collect("x", ev("B", 3)), None);
        let got = collect("x", ev("A", 4)).unwrap();
        assert_eq!(got, vec![ev("A", 1), ev("B", 3), ev("A", 4)]);
    }

    #[test]
    fn a_full_buffer_is_an_error_naming_the_limit() {
        let mut buffers = CollectBuffers::default();
        let expected = expect(&[("A", 5)]);
        for n in 0..3 {
            assert_eq!(
                buffers.collect(0, "b".into(), ev("A", n), u64::from(n), &expected, 3),
                Ok(None)
            );
        }
        let err = buffers
            .collect(0, "b".into(), ev("A", 3), 3, &expected, 3)
            .unwrap_err();
        assert!(err.contains("limits.max_collect_buffer"), "{err}");
    }

    #[test]
    fn events_of_one_type_come_in_the_order_they_were_sent() {
        let mut buffers = CollectBuffers::default();
        let expected = expect(&[("L", 1), ("R", 2)]);
        // Sent R1 (work item 1), R2 (2), L (3); the calls reach the buffer
        // as R2, L, R1.
        let mut collect = |event, sent| {
            buffers
                .collect(0, "default".into(), event, sent, &expected, 10)
                .unwrap()
        };
        assert_eq!(collect(ev("R", 2), 2), None);
        assert_eq!(collect(ev("L", 3), 3), None);
        assert_eq!(
            collect(ev("R", 1), 1).unwrap(),
            vec![ev("L", 3), ev("R", 1), ev("R", 2)]
        );
    }
}
