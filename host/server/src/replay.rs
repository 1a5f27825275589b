//! A resumed run streams again what it streamed after its checkpoint: the
//! steps that ran after the checkpoint run again. Its handler's log already
//! holds (some of) those events, stored before the crash. [`Replay`]
//! decides, event by event, which the log holds already (dropped, so no
//! reader sees an event twice) and which are new (appended after the
//! stored ones, so no stored event is renumbered), and where in the log a
//! later checkpoint of the resumed run says its stream stands.
//!
//! Sequence numbers and stream positions: a run numbers its streamed events
//! from its snapshot's `stream_position`; the handler's log numbers them
//! from 0. For a run that was never resumed, and for a resumed one that
//! streams again exactly what was stored, both agree. A checkpoint records
//! the log's sequence at which a run resumed from it will start
//! ([`Replay::resume_sequence`]), so the positions of the next resumed run
//! start there.
//!
//! A stored event is matched by its content (type and payload), not by its
//! position: steps running in parallel may stream in another order the
//! second time. The window of stored events that may still be matched
//! closes when it is empty, or once the resumed run has streamed as many
//! unmatched events as the window held (it went another way). The
//! runtime's own events (`StepStateChanged`, `WorkflowIdleEvent`) are never
//! matched: they report step calls, and a step that runs again after a
//! crash did run twice.

use std::collections::VecDeque;

use wflow_api::Envelope;

/// How far into the window an event is looked for: steps in parallel
/// reorder their events locally, and a run streaming what the log does not
/// hold costs at most this many comparisons per event, never the window's
/// size.
const LOOKAHEAD: usize = 256;

/// What to do with an event the resumed run streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The log holds it already: drop it.
    Stored,
    /// A new event: append it, at sequence `least` or later.
    Append { least: u64 },
}

/// One run followed into its handler's log: the replay window and where a
/// checkpoint at each position would resume.
#[derive(Debug)]
pub(crate) struct Replay {
    /// Stored events a resumed run may stream again, not matched yet, in
    /// sequence order.
    window: VecDeque<(u64, Envelope)>,
    /// How many more unmatched events the window stays open for.
    budget: usize,
    /// The lowest sequence a new event may take: the run's first position,
    /// so that events lost before it (a store that fell behind) leave a
    /// visible gap.
    least: u64,
    /// The log's next sequence, as far as this run is concerned.
    next_sequence: u64,
    /// The run's position handled next.
    position: u64,
    /// `(position, sequence)`: a run resumed from `position` starts its
    /// stream at log `sequence`. One per position while the window is open
    /// (at most twice its size), from the oldest position a checkpoint may
    /// still ask for; the last one when `settled`.
    marks: VecDeque<(u64, u64)>,
    /// The window is closed: every event from the last mark on is
    /// appended, so sequences follow positions one for one.
    settled: bool,
}

impl Replay {
    /// A fresh run, or one resumed at `first_position` whose handler's log
    /// holds `stored` (the events with a sequence from `first_position` on,
    /// in order) and gives its next event `next_sequence`.
    pub(crate) fn new(
        first_position: u64,
        stored: Vec<(u64, Envelope)>,
        next_sequence: u64,
    ) -> Self {
        let window: VecDeque<(u64, Envelope)> = stored
            .into_iter()
            .filter(|(_, envelope)| !envelope.is_internal())
            .collect();
        let mut replay = Self {
            budget: window.len(),
            window,
            least: first_position,
            next_sequence: next_sequence.max(first_position),
            position: first_position,
            marks: VecDeque::new(),
            settled: false,
        };
        replay.mark();
        replay
    }

    /// The run's first stream position.
    pub(crate) fn first_position(&self) -> u64 {
        self.least
    }

    /// Decides on the event the run streamed at `position` (the next one).
    pub(crate) fn offer(&mut self, position: u64, envelope: &Envelope) -> Verdict {
        self.position = position + 1;
        let matched = if envelope.is_internal() {
            None
        } else {
            self.window
                .iter()
                .take(LOOKAHEAD)
                .position(|(_, seen)| seen == envelope)
        };
        let verdict = match matched {
            Some(index) => {
                self.window.remove(index);
                Verdict::Stored
            }
            None => {
                if !envelope.is_internal() {
                    self.budget = self.budget.saturating_sub(1);
                    if self.budget == 0 {
                        self.window.clear();
                    }
                }
                let least = self.next_sequence.max(self.least);
                self.next_sequence = least + 1;
                Verdict::Append { least }
            }
        };
        self.mark();
        verdict
    }

    /// Records where a run resumed from the current position would start.
    fn mark(&mut self) {
        if self.settled {
            return;
        }
        self.marks.push_back((self.position, self.resume_here()));
        // From here on every event is appended: one mark says it all.
        self.settled = self.window.is_empty();
    }

    /// The log sequence a run resumed from the current position starts at:
    /// the first stored event not matched yet (it would stream it again),
    /// else the next free sequence.
    fn resume_here(&self) -> u64 {
        match self.window.front() {
            Some((sequence, _)) => *sequence,
            None => self.next_sequence.max(self.least),
        }
    }

    /// The log sequence at which a run resumed from a checkpoint taken at
    /// `position` (handled already) starts its stream. Positions asked for
    /// only grow: older marks are forgotten.
    pub(crate) fn resume_sequence(&mut self, position: u64) -> u64 {
        while self.marks.get(1).is_some_and(|(next, _)| *next <= position) {
            self.marks.pop_front();
        }
        match self.marks.front() {
            // Past the settling mark, every event was appended.
            Some((marked, sequence)) if self.settled && self.marks.len() == 1 => {
                sequence + position.saturating_sub(*marked)
            }
            Some((marked, sequence)) if *marked == position => *sequence,
            // Not a position this run handled: nothing to map.
            _ => position,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(name: &str) -> Envelope {
        Envelope {
            value: json!({ "name": name }),
            qualified_name: None,
            type_name: "Progress".into(),
            types: None,
        }
    }

    fn stored(first: u64, names: &[&str]) -> Vec<(u64, Envelope)> {
        (first..)
            .zip(names.iter().map(|name| event(name)))
            .collect()
    }

    /// Offers `names` from `position` on; the sequences appended at.
    fn offer_all(replay: &mut Replay, position: u64, names: &[&str]) -> Vec<Option<u64>> {
        (position..)
            .zip(names)
            .map(
                |(position, name)| match replay.offer(position, &event(name)) {
                    Verdict::Stored => None,
                    Verdict::Append { least } => Some(least),
                },
            )
            .collect()
    }

    #[test]
    fn a_fresh_run_appends_every_event_at_its_position() {
        let mut replay = Replay::new(0, Vec::new(), 0);
        assert_eq!(
            offer_all(&mut replay, 0, &["a", "b", "c"]),
            [Some(0), Some(1), Some(2)]
        );
        assert_eq!(replay.resume_sequence(2), 2);
        assert_eq!(replay.resume_sequence(3), 3);
    }

    #[test]
    fn a_replay_of_what_was_stored_is_dropped_and_goes_on_after_it() {
        // Checkpoint at 2; events 2..5 were stored before the crash.
        let mut replay = Replay::new(2, stored(2, &["c", "d", "e"]), 5);
        assert_eq!(replay.resume_sequence(2), 2);
        assert_eq!(
            offer_all(&mut replay, 2, &["c", "d"]),
            [None, None],
            "stored events are not logged twice"
        );
        // A checkpoint now resumes at the first event not streamed again.
        assert_eq!(replay.resume_sequence(4), 4);
        assert_eq!(
            offer_all(&mut replay, 4, &["e", "f", "g"]),
            [None, Some(5), Some(6)]
        );
        assert_eq!(replay.resume_sequence(7), 7);
    }

    #[test]
    fn parallel_steps_streaming_in_another_order_lose_and_repeat_nothing() {
        let mut replay = Replay::new(0, stored(0, &["a1", "a2"]), 2);
        assert_eq!(
            offer_all(&mut replay, 0, &["b1", "a1", "a2", "b2"]),
            [Some(2), None, None, Some(3)]
        );
    }

    #[test]
    fn a_run_that_goes_another_way_closes_the_window() {
        let mut replay = Replay::new(0, stored(0, &["x", "y"]), 2);
        assert_eq!(
            offer_all(&mut replay, 0, &["p", "q", "x"]),
            [Some(2), Some(3), Some(4)],
            "after two unmatched events the window is closed"
        );
    }

    #[test]
    fn events_lost_before_the_checkpoint_leave_a_visible_gap() {
        // The log holds 0..3, the checkpoint says 5 were streamed.
        let mut replay = Replay::new(5, Vec::new(), 3);
        assert_eq!(offer_all(&mut replay, 5, &["f"]), [Some(5)]);
        assert_eq!(replay.resume_sequence(6), 6);
    }

    #[test]
    fn a_checkpoint_during_the_replay_resumes_at_the_unmatched_rest() {
        let mut replay = Replay::new(10, stored(10, &["k", "l", "m"]), 13);
        assert_eq!(offer_all(&mut replay, 10, &["k"]), [None]);
        // Checkpoint at position 11: a run resumed from it streams `l` and
        // `m` again, which the log holds at 11 and 12.
        assert_eq!(replay.resume_sequence(11), 11);
        assert_eq!(
            offer_all(&mut replay, 11, &["l", "m", "n"]),
            [None, None, Some(13)]
        );
        assert_eq!(replay.resume_sequence(14), 14);
        // Sequences follow positions one for one from here on.
        assert_eq!(
            offer_all(&mut replay, 14, &["o", "p"]),
            [Some(14), Some(15)]
        );
        assert_eq!(replay.resume_sequence(16), 16);
    }

    #[test]
    fn after_the_window_sequences_follow_positions_at_an_offset() {
        let mut replay = Replay::new(0, stored(0, &["a", "b"]), 2);
        assert_eq!(
            offer_all(&mut replay, 0, &["z", "a", "b", "c", "d"]),
            [Some(2), None, None, Some(3), Some(4)]
        );
        // Resumed from position 4 (after `c`), the run streams `d` again,
        // which the log holds at 4.
        assert_eq!(replay.resume_sequence(4), 4);
        assert_eq!(replay.resume_sequence(5), 5);
    }

    #[test]
    fn the_runtimes_own_events_are_logged_again() {
        let step_ran = Envelope {
            value: json!({ "name": "tick", "step_state": "running" }),
            qualified_name: None,
            type_name: "StepStateChanged".into(),
            types: Some(vec!["InternalDispatchEvent".into()]),
        };
        let mut stored = stored(0, &["a"]);
        stored.insert(0, (0, step_ran.clone()));
        stored[1].0 = 1;
        let mut replay = Replay::new(0, stored, 2);
        assert_eq!(replay.offer(0, &step_ran), Verdict::Append { least: 2 });
        assert_eq!(replay.offer(1, &event("a")), Verdict::Stored);
    }

    #[test]
    fn an_event_is_looked_for_only_near_the_front_of_the_window() {
        let names: Vec<String> = (0..=LOOKAHEAD).map(|n| format!("e{n}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let mut replay = Replay::new(0, stored(0, &names), names.len() as u64);
        let last = names[LOOKAHEAD];
        assert_eq!(
            replay.offer(0, &event(last)),
            Verdict::Append {
                least: names.len() as u64
            },
            "past the lookahead, a stored event is not found"
        );
        assert_eq!(replay.offer(1, &event("e0")), Verdict::Stored);
    }

    #[test]
    fn a_window_of_one_closes_at_the_first_unmatched_event() {
        let mut replay = Replay::new(0, stored(0, &["a"]), 1);
        assert_eq!(offer_all(&mut replay, 0, &["z", "a"]), [Some(1), Some(2)]);
    }
}
