//! The data of wflow's HTTP API that its server, its stores and its clients
//! share: events as envelopes on the wire, and handler records.

pub mod envelope;
mod record;

pub use envelope::Envelope;
pub use record::{HandlerRecord, HandlerResult, Status, now};
