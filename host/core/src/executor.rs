//! A tokio runtime of wflow's own for runs, when asked for.
//!
//! Guest code runs on the tokio workers of the runtime its run was spawned
//! on, yielding at every epoch tick. A server whose runs share its runtime
//! answers a request only once every busy guest ahead of it in the queue
//! has had its tick: with 40 guests spinning, `/health` took 285 ms. Runs
//! spawned on a runtime of their own leave the caller's workers to it, and
//! the operating system shares the cores between both sets of threads.

use std::num::NonZeroUsize;

use tokio::runtime::{Builder, Handle, Runtime};

/// The runtime runs are spawned on.
pub(crate) struct RunExecutor {
    /// Always `Some` until dropped.
    runtime: Option<Runtime>,
}

impl RunExecutor {
    /// A multi-threaded runtime of `threads` workers named `wflow-run`.
    pub(crate) fn new(threads: NonZeroUsize) -> std::io::Result<Self> {
        let runtime = Builder::new_multi_thread()
            .worker_threads(threads.get())
            .thread_name("wflow-run")
            .enable_all()
            .build()?;
        Ok(Self {
            runtime: Some(runtime),
        })
    }

    /// Where to spawn runs.
    pub(crate) fn handle(&self) -> Option<&Handle> {
        self.runtime.as_ref().map(Runtime::handle)
    }
}

impl Drop for RunExecutor {
    fn drop(&mut self) {
        // Every run holds the engine, which owns this: it is dropped once
        // the last run has ended, often from within an async context (even
        // one of its own threads), where a blocking shutdown would panic.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
