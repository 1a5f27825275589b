//! Prompts held back until they are durable.
//!
//! A prompt (an `InputRequiredEvent`, or the waiter event of
//! `wait_for_event`) tells the world that a run waits for an answer. In a
//! checkpointed run it must not reach a reader before the checkpoint that
//! records the wait is saved: a host that died in between would resume
//! from an older checkpoint that knows nothing of the question already
//! answered. So a checkpointed run holds its prompts here; each checkpoint
//! carries the prompts held when it was taken, and once it is saved they
//! are released to the stream. A run resumed from a checkpoint releases
//! the prompts that checkpoint held at once: they are durable.

use std::collections::VecDeque;

use crate::event::Event;

/// The prompts of one run not streamed yet.
#[derive(Default)]
pub(crate) struct HeldPrompts {
    /// Whether prompts are held at all (the run is checkpointed).
    holding: bool,
    /// The sequence number of the last prompt held.
    last: u64,
    /// Held prompts with their sequence numbers, oldest first.
    events: VecDeque<(u64, Event)>,
}

/// The prompts a snapshot holds, and the sequence number of the last one
/// (what to release once that snapshot is saved).
pub(crate) struct HeldSnapshot {
    pub(crate) events: Vec<Event>,
    pub(crate) through: u64,
}

impl HeldPrompts {
    /// Starts holding prompts: the run is checkpointed.
    pub(crate) fn hold(&mut self) {
        self.holding = true;
    }

    /// Holds `event` and returns `None`, or hands it back to be streamed now
    /// when the run does not hold prompts.
    pub(crate) fn offer(&mut self, event: Event) -> Option<Event> {
        if !self.holding {
            return Some(event);
        }
        self.last += 1;
        self.events.push_back((self.last, event));
        None
    }

    /// How many prompts are held.
    pub(crate) fn len(&self) -> usize {
        self.events.len()
    }

    /// The prompts held now, for a snapshot.
    pub(crate) fn snapshot(&self) -> HeldSnapshot {
        HeldSnapshot {
            events: self.events.iter().map(|(_, event)| event.clone()).collect(),
            through: self.last,
        }
    }

    /// Takes the prompts held up to sequence number `through`, oldest
    /// first: a snapshot holding them is saved.
    pub(crate) fn release(&mut self, through: u64) -> Vec<Event> {
        let mut released = Vec::new();
        while self.events.front().is_some_and(|(seq, _)| *seq <= through) {
            if let Some((_, event)) = self.events.pop_front() {
                released.push(event);
            }
        }
        released
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prompt(n: u32) -> Event {
        Event {
            name: "InputRequiredEvent".into(),
            data: format!("{{\"n\":{n}}}"),
        }
    }

    #[test]
    fn without_checkpoints_prompts_go_straight_through() {
        let mut held = HeldPrompts::default();
        assert_eq!(held.offer(prompt(1)), Some(prompt(1)));
        assert_eq!(held.len(), 0);
    }

    #[test]
    fn a_saved_snapshot_releases_only_what_it_held() {
        let mut held = HeldPrompts::default();
        held.hold();
        assert_eq!(held.offer(prompt(1)), None);
        let first = held.snapshot();
        assert_eq!(held.offer(prompt(2)), None);
        assert_eq!(first.events, vec![prompt(1)]);
        assert_eq!(held.release(first.through), vec![prompt(1)]);
        assert_eq!(held.len(), 1);
        let second = held.snapshot();
        assert_eq!(second.events, vec![prompt(2)]);
        // An older snapshot saved late releases nothing more.
        assert!(held.release(first.through).is_empty());
        assert_eq!(held.release(second.through), vec![prompt(2)]);
        assert_eq!(held.len(), 0);
    }
}
