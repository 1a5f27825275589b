//! Running a workflow: one broker task per run routes events to step
//! workers, each owning a component instance.
//!
//! From the bottom up: [`shared`] is what every part of a run shares
//! ([`message`] what it tells the broker, [`failure`] why a call failed,
//! [`outcome`] how the run ended); [`collect`], [`waiters`] and [`output`]
//! are its buffers, [`prompts`] the prompts held until durable, [`stream`]
//! numbers its streamed events; [`checkpoint_writer`] saves its
//! checkpoints; [`worker`] is one component instance attached to a run,
//! [`host`] the `context` imports its guest calls ([`suspend_clock`] the
//! time its calls spend waiting in place), [`pool`] the idle instances;
//! [`broker`] drives the run.

pub(crate) mod broker;
pub(crate) mod checkpoint_writer;
pub(crate) mod collect;
pub(crate) mod failure;
pub(crate) mod host;
pub(crate) mod message;
pub(crate) mod outcome;
pub(crate) mod output;
pub(crate) mod pool;
pub(crate) mod prompts;
pub(crate) mod shared;
pub(crate) mod stream;
pub(crate) mod suspend_clock;
pub(crate) mod waiters;
pub(crate) mod worker;
