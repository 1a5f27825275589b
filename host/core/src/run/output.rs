//! Guest stdout and stderr: captured into the run's log with the step's
//! name, up to `limits.max_log_bytes` per run; what goes past the cap is
//! dropped (and counted), never an error the guest could trip over.

use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use serde::Serialize;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

/// Which output a log entry came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogStream {
    /// The guest's stdout.
    Stdout,
    /// The guest's stderr.
    Stderr,
}

/// Output a step wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogEntry {
    /// The step that wrote it.
    pub step: String,
    /// Stdout or stderr.
    pub stream: LogStream,
    /// What it wrote (invalid UTF-8 replaced).
    pub text: String,
}

/// A run's captured guest output.
#[derive(Debug, Default)]
pub(crate) struct RunLog {
    entries: Vec<LogEntry>,
    bytes: usize,
    /// Bytes dropped past the cap.
    pub(crate) dropped: usize,
}

impl RunLog {
    pub(crate) fn entries(&self) -> &[LogEntry] {
        &self.entries
    }
}

pub(crate) type SharedLog = Arc<Mutex<RunLog>>;

fn lock(log: &SharedLog) -> MutexGuard<'_, RunLog> {
    crate::sync::lock(log)
}

/// How much of an instance's stderr is kept for error messages.
const TAIL_BYTES: usize = 2048;

/// One instance's stdout or stderr. Clones share the log they write to,
/// which changes when a pooled instance moves to another run.
#[derive(Clone)]
pub(crate) struct GuestOutput {
    log: Arc<Mutex<Option<SharedLog>>>,
    cap: usize,
    step: Arc<str>,
    stream: LogStream,
    /// The last bytes written, for error messages.
    tail: Arc<Mutex<Vec<u8>>>,
}

impl GuestOutput {
    pub(crate) fn new(
        log: Option<SharedLog>,
        cap: usize,
        step: Arc<str>,
        stream: LogStream,
    ) -> Self {
        Self {
            log: Arc::new(Mutex::new(log)),
            cap,
            step,
            stream,
            tail: Arc::default(),
        }
    }

    /// Sends later output to `log` (none: drop it), forgetting the tail.
    pub(crate) fn redirect(&self, log: Option<SharedLog>) {
        *crate::sync::lock(&self.log) = log;
        crate::sync::lock(&self.tail).clear();
    }

    /// The last output, trimmed.
    pub(crate) fn tail(&self) -> String {
        let tail = crate::sync::lock(&self.tail);
        String::from_utf8_lossy(&tail).trim().to_string()
    }

    fn write(&self, bytes: &[u8]) {
        {
            let mut tail = crate::sync::lock(&self.tail);
            tail.extend_from_slice(bytes);
            let excess = tail.len().saturating_sub(TAIL_BYTES);
            tail.drain(..excess);
        }
        let Some(log) = crate::sync::lock(&self.log).clone() else {
            return;
        };
        let mut log = lock(&log);
        let room = self.cap.saturating_sub(log.bytes);
        let kept = &bytes[..bytes.len().min(room)];
        log.dropped += bytes.len() - kept.len();
        if kept.is_empty() {
            return;
        }
        log.bytes += kept.len();
        let text = String::from_utf8_lossy(kept);
        match log.entries.last_mut() {
            Some(last)
                if *last.step == *self.step
                    && last.stream == self.stream
                    && !last.text.ends_with('\n') =>
            {
                last.text.push_str(&text);
            }
            _ => log.entries.push(LogEntry {
                step: self.step.to_string(),
                stream: self.stream,
                text: text.into_owned(),
            }),
        }
    }
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl AsyncWrite for GuestOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.write(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_logged_with_the_step_and_capped() {
        let log: SharedLog = Arc::default();
        let out = GuestOutput::new(Some(log.clone()), 10, "s".into(), LogStream::Stdout);
        out.write(b"hello ");
        out.write(b"world\n");
        out.write(b"more");
        let log = lock(&log);
        assert_eq!(log.entries().len(), 1);
        assert_eq!(log.entries()[0].text, "hello worl");
        assert_eq!(log.dropped, 6);
        assert_eq!(out.tail(), "hello world\nmore");
    }
}
