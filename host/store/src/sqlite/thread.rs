//! The threads that own the connections. Requests come in on a channel and
//! are answered on a oneshot each, so that no tokio worker ever waits for
//! SQLite or the disk.
//!
//! The writer's thread group-commits: it takes every write queued while it
//! was busy, runs each in a savepoint of its own inside one transaction
//! (a failing write is rolled back to its savepoint, alone), commits once
//! (one sync for the batch), then answers every writer.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::JoinHandle;

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::queries::failed;
use crate::StoreError;

/// At most this many writes share a transaction, so that one batch's
/// writers do not wait for an unbounded queue.
const MAX_BATCH: usize = 512;

/// A write: statements run against the connection inside the write's
/// savepoint. `Fn`, as a write is run again when SQLite rolled its whole
/// transaction back (a full disk, an I/O error) because of another write.
pub(super) type WriteFn = Box<dyn Fn(&Connection) -> Result<(), StoreError> + Send>;

/// A read: runs its queries inside a read transaction and sends its answer
/// itself.
pub(super) type Read = Box<dyn FnOnce(&Connection) + Send>;

/// A write and where its outcome goes.
pub(super) struct Write {
    pub(super) run: WriteFn,
    pub(super) reply: oneshot::Sender<Result<(), StoreError>>,
}

/// What the writer's thread is asked for.
pub(super) enum Job {
    Write(Write),
    /// A read, when there is no reader thread (an in-memory database).
    Read(Read),
}

/// A thread owning a connection, fed by a channel of `J`. Dropping it
/// closes the channel and waits for the thread to answer what was queued
/// and close its connection.
pub(super) struct Worker<J: Send + 'static> {
    jobs: Option<Sender<J>>,
    thread: Option<JoinHandle<()>>,
}

impl<J: Send + 'static> Worker<J> {
    /// Starts thread `name` serving `connection` with `serve`.
    pub(super) fn spawn(
        name: &str,
        connection: Connection,
        serve: fn(Connection, Receiver<J>),
    ) -> Result<Self, StoreError> {
        let (jobs, queue) = channel();
        let thread = std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || serve(connection, queue))
            .map_err(|err| StoreError::Database {
                action: "cannot start the store's thread",
                cause: err.into(),
            })?;
        Ok(Self {
            jobs: Some(jobs),
            thread: Some(thread),
        })
    }

    /// A worker whose thread has ended.
    #[cfg(test)]
    pub(super) fn closed() -> Self {
        Self {
            jobs: None,
            thread: None,
        }
    }

    /// Queues `job`.
    pub(super) fn send(&self, job: J) -> Result<(), StoreError> {
        let jobs = self.jobs.as_ref().ok_or(StoreError::Closed)?;
        jobs.send(job).map_err(|_| StoreError::Closed)
    }
}

impl<J: Send + 'static> Drop for Worker<J> {
    fn drop(&mut self) {
        // Closing the channel ends the thread's loop once it is drained.
        self.jobs = None;
        if let Some(thread) = self.thread.take()
            && thread.thread().id() != std::thread::current().id()
        {
            // A panic on the thread was already reported by its hook.
            let _ = thread.join();
        }
    }
}

/// The writer's loop: every write queued meanwhile in one transaction, then
/// the reads queued with them, until the channel closes.
pub(super) fn serve_writes(connection: Connection, jobs: Receiver<Job>) {
    while let Ok(first) = jobs.recv() {
        let mut writes = Vec::new();
        let mut reads = Vec::new();
        let mut next = Some(first);
        while let Some(job) = next {
            match job {
                Job::Write(write) => writes.push(write),
                Job::Read(read) => reads.push(read),
            }
            next = if writes.len() < MAX_BATCH {
                jobs.try_recv().ok()
            } else {
                None
            };
        }
        if !writes.is_empty() {
            commit(&connection, writes);
        }
        for read in reads {
            serve_read(&connection, read);
        }
    }
}

/// The reader's loop: one read at a time, until the channel closes.
pub(super) fn serve_reads(connection: Connection, reads: Receiver<Read>) {
    while let Ok(read) = reads.recv() {
        serve_read(&connection, read);
    }
}

/// Runs `read` in a read transaction, so that its queries see one state of
/// the database.
fn serve_read(connection: &Connection, read: Read) {
    // Without a transaction, each query still sees a committed state.
    let began = connection.execute_batch("BEGIN").is_ok();
    // A panicking read drops its answer: its caller sees the store closed.
    let _ = catch_unwind(AssertUnwindSafe(|| read(connection)));
    if began && !connection.is_autocommit() {
        let _ = connection.execute_batch("COMMIT");
    }
}

/// Commits `writes` together, each atomic on its own, and answers each.
fn commit(connection: &Connection, writes: Vec<Write>) {
    let mut outcomes: Vec<Option<Result<(), StoreError>>> = writes.iter().map(|_| None).collect();
    let mut todo: Vec<usize> = (0..writes.len()).collect();
    while !todo.is_empty() {
        todo = attempt(connection, &writes, &todo, &mut outcomes);
    }
    for (write, outcome) in writes.into_iter().zip(outcomes) {
        // A writer that went away does not need its answer.
        let _ = write.reply.send(outcome.unwrap_or(Err(StoreError::Closed)));
    }
}

/// One transaction over the writes `todo` (indices into `writes`); records
/// the outcome of each it settles and returns those to run again: the
/// writes that had succeeded when SQLite rolled the whole transaction back
/// after a later write failed, and the writes after that one.
fn attempt(
    connection: &Connection,
    writes: &[Write],
    todo: &[usize],
    outcomes: &mut [Option<Result<(), StoreError>>],
) -> Vec<usize> {
    if !connection.is_autocommit() {
        // Left open by a failed rollback: start clean.
        let _ = connection.execute_batch("ROLLBACK");
    }
    if let Err(err) = connection.execute_batch("BEGIN IMMEDIATE") {
        for &index in todo {
            outcomes[index] = Some(Err(shared_failure("cannot begin a transaction", &err)));
        }
        return Vec::new();
    }
    let mut applied = Vec::new();
    for (position, &index) in todo.iter().enumerate() {
        match in_savepoint(connection, &writes[index].run) {
            Ok(()) => applied.push(index),
            Err(err) => {
                outcomes[index] = Some(Err(err));
                if connection.is_autocommit() {
                    // The transaction is gone, with the writes applied in it.
                    applied.extend_from_slice(&todo[position + 1..]);
                    return applied;
                }
            }
        }
    }
    match connection.execute_batch("COMMIT") {
        Ok(()) => {
            for index in applied {
                outcomes[index] = Some(Ok(()));
            }
        }
        Err(err) => {
            if !connection.is_autocommit() {
                let _ = connection.execute_batch("ROLLBACK");
            }
            for index in applied {
                outcomes[index] = Some(Err(shared_failure("cannot commit", &err)));
            }
        }
    }
    Vec::new()
}

/// Runs one write in a savepoint: released when the write succeeds, rolled
/// back to (undoing every statement of the write) when it fails. When even
/// that fails, the whole transaction is rolled back.
fn in_savepoint(connection: &Connection, run: &WriteFn) -> Result<(), StoreError> {
    connection
        .execute_batch("SAVEPOINT wflow_write")
        .map_err(failed("cannot begin a write"))?;
    let outcome = catch_unwind(AssertUnwindSafe(|| run(connection))).unwrap_or_else(|_| {
        Err(StoreError::Database {
            action: "cannot write",
            cause: "the write panicked".into(),
        })
    });
    let outcome = outcome.and_then(|()| {
        connection
            .execute_batch("RELEASE wflow_write")
            .map_err(failed("cannot finish a write"))
    });
    if outcome.is_err()
        && !connection.is_autocommit()
        && connection
            .execute_batch("ROLLBACK TO wflow_write; RELEASE wflow_write")
            .is_err()
    {
        let _ = connection.execute_batch("ROLLBACK");
    }
    outcome
}

/// An error shared by every write of a batch: each writer gets its own
/// copy.
fn shared_failure(action: &'static str, err: &rusqlite::Error) -> StoreError {
    StoreError::Database {
        action,
        cause: err.to_string().into(),
    }
}
