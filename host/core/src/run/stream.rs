//! The writing end of a run's event stream: every event gets the next
//! stream position, under one lock with its send, so that a reader sees
//! positions in order and without holes. A resumed run's positions go on
//! from its snapshot's `stream_position`.

use std::sync::Mutex;

use tokio::sync::mpsc;

use crate::budget::Charge;
use crate::event::Event;
use crate::sync::lock;

/// What flows to a run's event stream.
#[derive(Debug)]
pub(crate) enum StreamMsg {
    /// An event at its stream position, with what it holds of the host's
    /// memory budget until it is read (or dropped unread).
    Event {
        position: u64,
        event: Event,
        charge: Option<Charge>,
    },
    /// The run has ended: nothing follows.
    Closed,
}

/// Numbers and sends a run's streamed events.
pub(crate) struct StreamWriter {
    tail: Mutex<Tail>,
}

struct Tail {
    /// The position the next event gets: how many the run has streamed.
    next: u64,
    sender: mpsc::UnboundedSender<StreamMsg>,
}

impl StreamWriter {
    /// A writer whose first event gets position `first`.
    pub(crate) fn new(first: u64, sender: mpsc::UnboundedSender<StreamMsg>) -> Self {
        Self {
            tail: Mutex::new(Tail {
                next: first,
                sender,
            }),
        }
    }

    /// Sends `event` at the next position, with its `charge`; returns the
    /// position.
    pub(crate) fn send(&self, event: Event, charge: Option<Charge>) -> u64 {
        let mut tail = lock(&self.tail);
        let position = tail.next;
        tail.next += 1;
        // The receiver is gone only when nobody can stream any more.
        let _ = tail.sender.send(StreamMsg::Event {
            position,
            event,
            charge,
        });
        position
    }

    /// How many events the run has streamed (a snapshot's stream position).
    pub(crate) fn position(&self) -> u64 {
        lock(&self.tail).next
    }

    /// Tells the reader that the stream has ended.
    pub(crate) fn close(&self) {
        let _ = lock(&self.tail).sender.send(StreamMsg::Closed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_follow_on_from_the_first_one_in_send_order() {
        let (sender, mut receiver) = mpsc::unbounded_channel();
        let writer = StreamWriter::new(7, sender);
        for n in 0..3 {
            writer.send(
                Event {
                    name: "Tick".into(),
                    data: format!("{{\"n\":{n}}}"),
                },
                None,
            );
        }
        writer.close();
        assert_eq!(writer.position(), 10);
        let mut seen = Vec::new();
        while let Ok(message) = receiver.try_recv() {
            match message {
                StreamMsg::Event {
                    position, event, ..
                } => seen.push((position, event.data)),
                StreamMsg::Closed => seen.push((u64::MAX, String::new())),
            }
        }
        assert_eq!(
            seen,
            [
                (7, "{\"n\":0}".to_string()),
                (8, "{\"n\":1}".to_string()),
                (9, "{\"n\":2}".to_string()),
                (u64::MAX, String::new()),
            ]
        );
    }
}
