//! A tenant's quotas and what it uses of them: runs going on, runs started
//! per minute, stream readers. A refusal names the quota and its value.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use wflow_core::sync::lock;

/// A tenant's quotas, every value resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Quotas {
    /// Runs going on at once (`max_concurrent_runs`); past it a new run is
    /// refused with 403.
    pub max_concurrent_runs: u64,
    /// Runs started per minute (`runs_per_minute`), as a bucket refilled
    /// evenly over the minute; past it a new run is refused with 429.
    pub runs_per_minute: u64,
    /// Event streams read at once (`max_stream_readers`); past it 403.
    pub max_stream_readers: u64,
    /// Handlers kept in the store (`max_handlers`); past it a new handler
    /// is refused with 403 until some are purged. (Without a store,
    /// handlers are forgotten past `--keep-finished` anyway.)
    pub max_handlers: u64,
    /// Deployment versions kept (`max_deployments`, over all names); past
    /// it a new deployment is refused with 403 until one is deleted.
    pub max_deployments: u64,
    /// The bytes of one deployment's upload (`max_deployment_bytes`);
    /// past it 400.
    pub max_deployment_bytes: u64,
}

impl Default for Quotas {
    fn default() -> Self {
        Self {
            max_concurrent_runs: 16,
            runs_per_minute: 600,
            max_stream_readers: 64,
            max_handlers: 100_000,
            max_deployments: 20,
            max_deployment_bytes: 64 * 1024 * 1024,
        }
    }
}

/// Quotas as a tenants file (or the admin API) writes them: any may be
/// left out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotasSpec {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_concurrent_runs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runs_per_minute: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_stream_readers: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_handlers: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_deployments: Option<u64>,
    /// Written as a number of bytes (`"64MiB"` reads too).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "bytes_as_number"
    )]
    pub max_deployment_bytes: Option<bytesize::ByteSize>,
}

/// A size as its exact number of bytes (bytesize writes a rounded text).
fn bytes_as_number<S: serde::Serializer>(
    size: &Option<bytesize::ByteSize>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    size.map(|size| size.as_u64()).serialize(serializer)
}

impl QuotasSpec {
    /// These values, and `defaults`' where these leave one out.
    pub fn over(self, defaults: &QuotasSpec) -> Self {
        Self {
            max_concurrent_runs: self.max_concurrent_runs.or(defaults.max_concurrent_runs),
            runs_per_minute: self.runs_per_minute.or(defaults.runs_per_minute),
            max_stream_readers: self.max_stream_readers.or(defaults.max_stream_readers),
            max_handlers: self.max_handlers.or(defaults.max_handlers),
            max_deployments: self.max_deployments.or(defaults.max_deployments),
            max_deployment_bytes: self.max_deployment_bytes.or(defaults.max_deployment_bytes),
        }
    }

    /// The quotas, wflow's defaults filling what is left out; a quota of 0
    /// (nothing could ever run) is an error naming it.
    pub fn resolve(self) -> Result<Quotas, String> {
        let defaults = Quotas::default();
        let quotas = Quotas {
            max_concurrent_runs: self
                .max_concurrent_runs
                .unwrap_or(defaults.max_concurrent_runs),
            runs_per_minute: self.runs_per_minute.unwrap_or(defaults.runs_per_minute),
            max_stream_readers: self
                .max_stream_readers
                .unwrap_or(defaults.max_stream_readers),
            max_handlers: self.max_handlers.unwrap_or(defaults.max_handlers),
            max_deployments: self.max_deployments.unwrap_or(defaults.max_deployments),
            max_deployment_bytes: self
                .max_deployment_bytes
                .map_or(defaults.max_deployment_bytes, |size| size.as_u64()),
        };
        for (name, value) in [
            ("max_concurrent_runs", quotas.max_concurrent_runs),
            ("runs_per_minute", quotas.runs_per_minute),
            ("max_stream_readers", quotas.max_stream_readers),
            ("max_handlers", quotas.max_handlers),
            ("max_deployment_bytes", quotas.max_deployment_bytes),
        ] {
            if value == 0 {
                return Err(format!("{name} is 0: give at least 1"));
            }
        }
        Ok(quotas)
    }
}

/// A request refused by a quota.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuotaRefused {
    /// A quota on how much is in use at once (403).
    #[error(
        "tenant `{tenant}` is at its quota {quota} = {limit} ({in_use} in use): \
         wait for one to end, or ask the operator for more"
    )]
    AtLimit {
        tenant: String,
        quota: &'static str,
        limit: u64,
        in_use: u64,
    },
    /// A rate (429).
    #[error("tenant `{tenant}` is over its quota {quota} = {limit}: retry in {retry_after_secs} s")]
    Rate {
        tenant: String,
        quota: &'static str,
        limit: u64,
        retry_after_secs: u64,
    },
}

impl QuotaRefused {
    /// The quota's name.
    pub fn quota(&self) -> &'static str {
        match self {
            Self::AtLimit { quota, .. } | Self::Rate { quota, .. } => quota,
        }
    }
}

impl From<QuotaRefused> for ApiError {
    fn from(refused: QuotaRefused) -> Self {
        let status = match refused {
            QuotaRefused::AtLimit { .. } => StatusCode::FORBIDDEN,
            QuotaRefused::Rate { .. } => StatusCode::TOO_MANY_REQUESTS,
        };
        ApiError::new(status, refused.to_string())
    }
}

/// What a tenant uses now, and has used since the server started.
#[derive(Debug, Default)]
pub struct Usage {
    running: AtomicU64,
    readers: AtomicU64,
    /// Handlers in the store.
    handlers: AtomicU64,
    runs_started: AtomicU64,
    refusals: AtomicU64,
    rate: std::sync::Mutex<Option<Bucket>>,
}

/// A token bucket: `runs_per_minute` runs, refilled evenly.
#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// What `GET /usage` shows of a tenant.
#[derive(Debug, Clone, Serialize)]
pub struct UsageReport {
    pub tenant: String,
    pub running: u64,
    pub stream_readers: u64,
    pub stored_handlers: u64,
    pub runs_started: u64,
    pub refusals: u64,
    pub quotas: Quotas,
    pub limits: wflow_core::LimitCaps,
}

impl Usage {
    /// A run slot within `quotas`, held until the permit is dropped (when
    /// the run ends); both the concurrent and the rate quota are checked,
    /// and nothing is taken when either refuses.
    pub(crate) fn begin_run(
        self: &Arc<Self>,
        tenant: &str,
        quotas: &Quotas,
    ) -> Result<RunPermit, QuotaRefused> {
        let refused = |refusal: QuotaRefused| {
            self.refusals.fetch_add(1, Ordering::Relaxed);
            refusal
        };
        take_one(&self.running, quotas.max_concurrent_runs).map_err(|in_use| {
            refused(QuotaRefused::AtLimit {
                tenant: tenant.to_string(),
                quota: "max_concurrent_runs",
                limit: quotas.max_concurrent_runs,
                in_use,
            })
        })?;
        let permit = RunPermit(self.clone());
        if let Err(retry_after_secs) = self.take_rate(quotas.runs_per_minute) {
            return Err(refused(QuotaRefused::Rate {
                tenant: tenant.to_string(),
                quota: "runs_per_minute",
                limit: quotas.runs_per_minute,
                retry_after_secs,
            }));
        }
        self.runs_started.fetch_add(1, Ordering::Relaxed);
        Ok(permit)
    }

    /// A run slot whatever the quota says: a run resumed after a restart
    /// goes on, and counts.
    pub(crate) fn resume_run(self: &Arc<Self>) -> RunPermit {
        self.running.fetch_add(1, Ordering::Relaxed);
        RunPermit(self.clone())
    }

    /// A stream reader within `quotas`, held until dropped.
    pub(crate) fn begin_reading(
        self: &Arc<Self>,
        tenant: &str,
        quotas: &Quotas,
    ) -> Result<ReaderPermit, QuotaRefused> {
        take_one(&self.readers, quotas.max_stream_readers).map_err(|in_use| {
            self.refusals.fetch_add(1, Ordering::Relaxed);
            QuotaRefused::AtLimit {
                tenant: tenant.to_string(),
                quota: "max_stream_readers",
                limit: quotas.max_stream_readers,
                in_use,
            }
        })?;
        Ok(ReaderPermit(self.clone()))
    }

    /// One more stored handler within `quotas`, given back when the guard
    /// is dropped unless kept.
    pub(crate) fn add_handler(
        self: &Arc<Self>,
        tenant: &str,
        quotas: &Quotas,
    ) -> Result<NewHandler, QuotaRefused> {
        take_one(&self.handlers, quotas.max_handlers)
            .map(|()| NewHandler(Some(self.clone())))
            .map_err(|in_use| {
                self.refusals.fetch_add(1, Ordering::Relaxed);
                QuotaRefused::AtLimit {
                    tenant: tenant.to_string(),
                    quota: "max_handlers",
                    limit: quotas.max_handlers,
                    in_use,
                }
            })
    }

    /// One stored handler fewer (purged, or never stored after all).
    pub(crate) fn forget_handler(&self) {
        let _ = self
            .handlers
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    }

    /// The handlers the store holds, counted when the server starts.
    pub(crate) fn set_stored_handlers(&self, count: u64) {
        self.handlers.store(count, Ordering::Release);
    }

    /// Takes one run from the bucket, or says in how many seconds one is
    /// back.
    fn take_rate(&self, per_minute: u64) -> Result<(), u64> {
        let capacity = per_minute as f64;
        let per_second = capacity / 60.0;
        let now = Instant::now();
        let mut bucket = lock(&self.rate);
        let bucket = bucket.get_or_insert(Bucket {
            tokens: capacity,
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * per_second).min(capacity);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - bucket.tokens) / per_second).ceil().max(1.0) as u64)
        }
    }

    /// The counters, for `GET /usage`.
    pub(crate) fn report(
        &self,
        tenant: &str,
        quotas: &Quotas,
        limits: &wflow_core::LimitCaps,
    ) -> UsageReport {
        UsageReport {
            tenant: tenant.to_string(),
            running: self.running.load(Ordering::Relaxed),
            stream_readers: self.readers.load(Ordering::Relaxed),
            stored_handlers: self.handlers.load(Ordering::Relaxed),
            runs_started: self.runs_started.load(Ordering::Relaxed),
            refusals: self.refusals.load(Ordering::Relaxed),
            quotas: *quotas,
            limits: *limits,
        }
    }
}

/// Adds one to `counter` unless it is at `limit`; the count in use when
/// refused.
fn take_one(counter: &AtomicU64, limit: u64) -> Result<(), u64> {
    counter
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |in_use| {
            (in_use < limit).then_some(in_use + 1)
        })
        .map(drop)
}

/// A handler counted against `max_handlers`, given back on drop unless
/// kept (it was stored).
#[derive(Debug)]
pub(crate) struct NewHandler(Option<Arc<Usage>>);

impl NewHandler {
    /// Nothing to count (a reused id, or no store).
    pub(crate) fn none() -> Self {
        Self(None)
    }

    /// The handler is stored: it stays counted.
    pub(crate) fn keep(mut self) {
        self.0 = None;
    }
}

impl Drop for NewHandler {
    fn drop(&mut self) {
        if let Some(usage) = &self.0 {
            usage.forget_handler();
        }
    }
}

/// One run counted against its tenant's `max_concurrent_runs` until
/// dropped.
#[derive(Debug)]
pub(crate) struct RunPermit(Arc<Usage>);

impl Drop for RunPermit {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::AcqRel);
    }
}

/// One stream reader counted against `max_stream_readers` until dropped.
#[derive(Debug)]
pub(crate) struct ReaderPermit(Arc<Usage>);

impl Drop for ReaderPermit {
    fn drop(&mut self) {
        self.0.readers.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_permit_holds_a_slot_until_dropped() {
        let usage = Arc::new(Usage::default());
        let quotas = Quotas {
            max_concurrent_runs: 2,
            ..Quotas::default()
        };
        let first = usage.begin_run("acme", &quotas).expect("1 of 2");
        let _second = usage.begin_run("acme", &quotas).expect("2 of 2");
        let refused = usage.begin_run("acme", &quotas).expect_err("3 of 2");
        assert_eq!(refused.quota(), "max_concurrent_runs");
        assert!(
            refused
                .to_string()
                .contains("max_concurrent_runs = 2 (2 in use)"),
            "{refused}"
        );
        drop(first);
        usage.begin_run("acme", &quotas).expect("a slot came back");
        let report = usage.report("acme", &quotas, &Default::default());
        assert_eq!(
            (report.running, report.runs_started, report.refusals),
            (1, 3, 1)
        );
    }

    #[test]
    fn the_rate_refuses_past_the_bucket_and_takes_nothing() {
        let usage = Arc::new(Usage::default());
        let quotas = Quotas {
            runs_per_minute: 3,
            ..Quotas::default()
        };
        let permits: Vec<_> = (0..3)
            .map(|_| usage.begin_run("acme", &quotas).expect("within the rate"))
            .collect();
        drop(permits);
        match usage.begin_run("acme", &quotas) {
            Err(QuotaRefused::Rate {
                retry_after_secs, ..
            }) => {
                assert!((1..=20).contains(&retry_after_secs), "{retry_after_secs}")
            }
            other => panic!("expected a rate refusal, got {other:?}"),
        }
        let report = usage.report("acme", &quotas, &Default::default());
        assert_eq!(report.running, 0, "a refused run holds no slot");
    }
}
