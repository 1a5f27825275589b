//! Resource limits: what one instance, one step call and one run may use.
//! Every limit has a default; a manifest may change them per workflow
//! (`[limits]`) and, for memory and fuel, per step (`[steps.NAME]`).

use std::time::Duration;

use bytesize::ByteSize;
use serde::{Deserialize, Serialize};

/// The limits of a workflow's runs, with every value resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Linear memory one instance may grow to (`memory`).
    pub memory: ByteSize,
    /// Fuel one step call may burn (`fuel`); `None` meters nothing.
    pub fuel: Option<u64>,
    /// The longest one step call may take when the step declares no
    /// timeout of its own (`step_timeout`); `None` for no limit.
    pub step_timeout: Option<Duration>,
    /// The largest event payload (`max_event_bytes`).
    pub max_event_bytes: ByteSize,
    /// How many events one run may route (`max_events_per_run`).
    pub max_events_per_run: u64,
    /// How many streamed events may wait unread (`stream_buffer`).
    pub stream_buffer: usize,
    /// The largest state, serialized (`max_state_bytes`).
    pub max_state_bytes: ByteSize,
    /// How many events one collect buffer may hold (`max_collect_buffer`).
    pub max_collect_buffer: usize,
    /// Guest stdout and stderr kept per run (`max_log_bytes`).
    pub max_log_bytes: usize,
    /// How many of the runtime's own events (`StepStateChanged`) one run
    /// streams (`max_internal_events`); later ones are dropped, so that a
    /// run's million step calls do not leave two million events behind.
    #[serde(default = "default_max_internal_events")]
    pub max_internal_events: u64,
    /// The payload bytes of the events sent in a run and not yet taken by
    /// a step (`max_queued_bytes`): past it, a send from outside is refused
    /// (`WorkflowError::QueueFull`) and a guest's send fails its run.
    #[serde(default = "default_max_queued_bytes")]
    pub max_queued_bytes: ByteSize,
    /// The payload bytes one run may stream (`max_stream_bytes`), over its
    /// whole life: past it the run fails with `StreamTooLarge`, so that a
    /// guest cannot make its readers (and a server's logs) hold without
    /// bound.
    #[serde(default = "default_max_stream_bytes")]
    pub max_stream_bytes: ByteSize,
    /// How many instances of this workflow's steps may be alive at once,
    /// over all of its runs (`max_instances`); `None`: as many as the
    /// runtime's pool holds (shared fairly with other workflows).
    #[serde(default)]
    pub max_instances: Option<u32>,
    /// How long a step call waits for an instance slot before it fails
    /// with `InstanceUnavailable` (`instance_wait`).
    #[serde(default = "default_instance_wait")]
    pub instance_wait: Duration,
    /// How long a step call waiting in `wait_for_event` keeps its instance
    /// (`wait_in_place`): answered within it, the call goes on from its
    /// wait; past it, the instance is let go and the step runs again from
    /// the start once answered. Zero never keeps one.
    #[serde(default = "default_wait_in_place")]
    pub wait_in_place: Duration,
}

fn default_max_internal_events() -> u64 {
    Limits::default().max_internal_events
}

fn default_max_queued_bytes() -> ByteSize {
    Limits::default().max_queued_bytes
}

fn default_max_stream_bytes() -> ByteSize {
    Limits::default().max_stream_bytes
}

fn default_instance_wait() -> Duration {
    Limits::default().instance_wait
}

fn default_wait_in_place() -> Duration {
    Limits::default().wait_in_place
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory: ByteSize::mib(256),
            fuel: None,
            step_timeout: None,
            max_event_bytes: ByteSize::mib(16),
            max_events_per_run: 1_000_000,
            stream_buffer: 100_000,
            max_state_bytes: ByteSize::mib(16),
            max_collect_buffer: 100_000,
            max_log_bytes: 1024 * 1024,
            max_internal_events: 10_000,
            max_queued_bytes: ByteSize::mib(256),
            max_stream_bytes: ByteSize::mib(256),
            max_instances: None,
            instance_wait: Duration::from_secs(30),
            wait_in_place: Duration::from_secs(300),
        }
    }
}

/// Limits as written in a manifest's `[limits]` table: unset keys keep the
/// defaults.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSpec {
    /// See [`Limits::memory`], e.g. `"128MiB"`.
    pub memory: Option<ByteSize>,
    /// See [`Limits::fuel`].
    pub fuel: Option<u64>,
    /// See [`Limits::step_timeout`], e.g. `"30s"`.
    #[serde(default, with = "humantime_serde")]
    pub step_timeout: Option<Duration>,
    /// See [`Limits::max_event_bytes`].
    pub max_event_bytes: Option<ByteSize>,
    /// See [`Limits::max_events_per_run`].
    pub max_events_per_run: Option<u64>,
    /// See [`Limits::stream_buffer`].
    pub stream_buffer: Option<usize>,
    /// See [`Limits::max_state_bytes`].
    pub max_state_bytes: Option<ByteSize>,
    /// See [`Limits::max_collect_buffer`].
    pub max_collect_buffer: Option<usize>,
    /// See [`Limits::max_log_bytes`].
    pub max_log_bytes: Option<usize>,
    /// See [`Limits::max_internal_events`].
    pub max_internal_events: Option<u64>,
    /// See [`Limits::max_queued_bytes`].
    pub max_queued_bytes: Option<ByteSize>,
    /// See [`Limits::max_stream_bytes`].
    pub max_stream_bytes: Option<ByteSize>,
    /// See [`Limits::max_instances`].
    pub max_instances: Option<u32>,
    /// See [`Limits::instance_wait`], e.g. `"10s"`.
    #[serde(default, with = "humantime_serde")]
    pub instance_wait: Option<Duration>,
    /// See [`Limits::wait_in_place`], e.g. `"1m"` or `"0s"`.
    #[serde(default, with = "humantime_serde")]
    pub wait_in_place: Option<Duration>,
}

impl LimitsSpec {
    /// The defaults with this table's values applied.
    pub fn resolve(&self) -> Limits {
        let defaults = Limits::default();
        Limits {
            memory: self.memory.unwrap_or(defaults.memory),
            fuel: self.fuel.or(defaults.fuel),
            step_timeout: self.step_timeout.or(defaults.step_timeout),
            max_event_bytes: self.max_event_bytes.unwrap_or(defaults.max_event_bytes),
            max_events_per_run: self
                .max_events_per_run
                .unwrap_or(defaults.max_events_per_run),
            stream_buffer: self.stream_buffer.unwrap_or(defaults.stream_buffer),
            max_state_bytes: self.max_state_bytes.unwrap_or(defaults.max_state_bytes),
            max_collect_buffer: self
                .max_collect_buffer
                .unwrap_or(defaults.max_collect_buffer),
            max_log_bytes: self.max_log_bytes.unwrap_or(defaults.max_log_bytes),
            max_internal_events: self
                .max_internal_events
                .unwrap_or(defaults.max_internal_events),
            max_queued_bytes: self.max_queued_bytes.unwrap_or(defaults.max_queued_bytes),
            max_stream_bytes: self.max_stream_bytes.unwrap_or(defaults.max_stream_bytes),
            max_instances: self.max_instances.or(defaults.max_instances),
            instance_wait: self.instance_wait.unwrap_or(defaults.instance_wait),
            wait_in_place: self.wait_in_place.unwrap_or(defaults.wait_in_place),
        }
    }
}

/// Ceilings an operator puts over a workflow's own limits (a server's
/// tenant quotas): each `Some` lowers the matching limit to it where the
/// workflow asks for more. `None` leaves the limit as the workflow has it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitCaps {
    /// Linear memory per instance, for every step.
    #[serde(serialize_with = "bytes_exactly")]
    pub memory: Option<ByteSize>,
    /// Fuel per step call, for every step (a step metering nothing gets
    /// this much).
    pub fuel: Option<u64>,
    /// The longest a step call may take (a step without a timeout of its
    /// own, or with a longer one, gets this), e.g. `"30s"`.
    #[serde(default, with = "humantime_serde")]
    pub step_timeout: Option<Duration>,
    /// The longest a run may take, e.g. `"10m"`.
    #[serde(default, with = "humantime_serde")]
    pub run_timeout: Option<Duration>,
    /// The largest event payload.
    #[serde(serialize_with = "bytes_exactly")]
    pub max_event_bytes: Option<ByteSize>,
    /// The largest state, serialized.
    #[serde(serialize_with = "bytes_exactly")]
    pub max_state_bytes: Option<ByteSize>,
    /// The instances alive at once over all of the workflow's runs.
    pub max_instances: Option<u32>,
    /// The payload bytes one run may stream.
    #[serde(serialize_with = "bytes_exactly")]
    pub max_stream_bytes: Option<ByteSize>,
    /// Streamed events waiting unread.
    pub stream_buffer: Option<usize>,
    /// Events one run may route.
    pub max_events_per_run: Option<u64>,
    /// Events one collect buffer may hold.
    pub max_collect_buffer: Option<usize>,
    /// Guest stdout and stderr kept per run.
    pub max_log_bytes: Option<usize>,
    /// The runtime's own events one run streams.
    pub max_internal_events: Option<u64>,
    /// Payload bytes sent in a run and not taken yet.
    #[serde(serialize_with = "bytes_exactly")]
    pub max_queued_bytes: Option<ByteSize>,
    /// How long a step call waits for an instance slot, e.g. `"10s"`.
    #[serde(default, with = "humantime_serde")]
    pub instance_wait: Option<Duration>,
    /// How long a step call waiting for an event keeps its instance, e.g.
    /// `"1m"` (`"0s"`: never).
    #[serde(default, with = "humantime_serde")]
    pub wait_in_place: Option<Duration>,
}

/// A size as its exact number of bytes: bytesize writes a rounded text
/// (`1.0 MiB` for 1,100,000 bytes), which would not read back the same.
fn bytes_exactly<S: serde::Serializer>(
    size: &Option<ByteSize>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    size.map(|size| size.as_u64()).serialize(serializer)
}

impl LimitCaps {
    /// Every limit capped at wflow's default: what code nobody vetted (a
    /// tenant's deployment) runs within, where the operator sets no cap of
    /// its own.
    pub fn at_defaults() -> Self {
        let defaults = Limits::default();
        Self {
            memory: Some(defaults.memory),
            fuel: defaults.fuel,
            step_timeout: defaults.step_timeout,
            run_timeout: None,
            max_event_bytes: Some(defaults.max_event_bytes),
            max_state_bytes: Some(defaults.max_state_bytes),
            max_instances: defaults.max_instances,
            max_stream_bytes: Some(defaults.max_stream_bytes),
            stream_buffer: Some(defaults.stream_buffer),
            max_events_per_run: Some(defaults.max_events_per_run),
            max_collect_buffer: Some(defaults.max_collect_buffer),
            max_log_bytes: Some(defaults.max_log_bytes),
            max_internal_events: Some(defaults.max_internal_events),
            max_queued_bytes: Some(defaults.max_queued_bytes),
            instance_wait: Some(defaults.instance_wait),
            wait_in_place: Some(defaults.wait_in_place),
        }
    }

    /// These caps, and `fallback`'s where these set none.
    pub fn over(&self, fallback: &LimitCaps) -> Self {
        Self {
            memory: self.memory.or(fallback.memory),
            fuel: self.fuel.or(fallback.fuel),
            step_timeout: self.step_timeout.or(fallback.step_timeout),
            run_timeout: self.run_timeout.or(fallback.run_timeout),
            max_event_bytes: self.max_event_bytes.or(fallback.max_event_bytes),
            max_state_bytes: self.max_state_bytes.or(fallback.max_state_bytes),
            max_instances: self.max_instances.or(fallback.max_instances),
            max_stream_bytes: self.max_stream_bytes.or(fallback.max_stream_bytes),
            stream_buffer: self.stream_buffer.or(fallback.stream_buffer),
            max_events_per_run: self.max_events_per_run.or(fallback.max_events_per_run),
            max_collect_buffer: self.max_collect_buffer.or(fallback.max_collect_buffer),
            max_log_bytes: self.max_log_bytes.or(fallback.max_log_bytes),
            max_internal_events: self.max_internal_events.or(fallback.max_internal_events),
            max_queued_bytes: self.max_queued_bytes.or(fallback.max_queued_bytes),
            instance_wait: self.instance_wait.or(fallback.instance_wait),
            wait_in_place: self.wait_in_place.or(fallback.wait_in_place),
        }
    }

    /// `limits` with every capped value lowered to its cap.
    pub fn cap(&self, limits: &Limits) -> Limits {
        Limits {
            memory: lowest(limits.memory, self.memory),
            fuel: lowest_metered(limits.fuel, self.fuel),
            step_timeout: lowest_metered(limits.step_timeout, self.step_timeout),
            max_event_bytes: lowest(limits.max_event_bytes, self.max_event_bytes),
            max_state_bytes: lowest(limits.max_state_bytes, self.max_state_bytes),
            max_instances: lowest_metered(limits.max_instances, self.max_instances),
            max_stream_bytes: lowest(limits.max_stream_bytes, self.max_stream_bytes),
            stream_buffer: lowest(limits.stream_buffer, self.stream_buffer),
            max_events_per_run: lowest(limits.max_events_per_run, self.max_events_per_run),
            max_collect_buffer: lowest(limits.max_collect_buffer, self.max_collect_buffer),
            max_log_bytes: lowest(limits.max_log_bytes, self.max_log_bytes),
            max_internal_events: lowest(limits.max_internal_events, self.max_internal_events),
            max_queued_bytes: lowest(limits.max_queued_bytes, self.max_queued_bytes),
            instance_wait: lowest(limits.instance_wait, self.instance_wait),
            wait_in_place: lowest(limits.wait_in_place, self.wait_in_place),
        }
    }

    /// A step's `limits` with memory and fuel lowered to their caps.
    pub fn cap_step(&self, limits: &StepLimits) -> StepLimits {
        StepLimits {
            memory: lowest(limits.memory, self.memory),
            fuel: lowest_metered(limits.fuel, self.fuel),
        }
    }

    /// A step call's timeout lowered to the cap (no timeout becomes the
    /// cap).
    pub fn cap_timeout(&self, timeout: Option<Duration>) -> Option<Duration> {
        lowest_metered(timeout, self.step_timeout)
    }

    /// A run timeout lowered to the cap (no timeout becomes the cap).
    pub fn cap_run_timeout(&self, timeout: Option<Duration>) -> Option<Duration> {
        lowest_metered(timeout, self.run_timeout)
    }
}

/// `value`, or `cap` when that is lower.
fn lowest<T: Ord>(value: T, cap: Option<T>) -> T {
    match cap {
        Some(cap) => value.min(cap),
        None => value,
    }
}

/// The lower of two optional ceilings, where `None` means no limit.
fn lowest_metered<T: Ord>(value: Option<T>, cap: Option<T>) -> Option<T> {
    match (value, cap) {
        (Some(value), Some(cap)) => Some(value.min(cap)),
        (value, None) => value,
        (None, cap) => cap,
    }
}

/// The limits that apply to one step's instances and calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StepLimits {
    /// Linear memory one instance may grow to.
    pub memory: ByteSize,
    /// Fuel per call.
    pub fuel: Option<u64>,
}

/// The seed's default run timeout.
pub const DEFAULT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(45);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_lower_only_what_is_above_them() {
        let caps: LimitCaps = toml::from_str(
            r#"
            memory = "64MiB"
            fuel = 1000
            step_timeout = "2s"
            max_instances = 4
            "#,
        )
        .expect("caps parse");
        let limits = Limits {
            max_instances: Some(2),
            ..Limits::default()
        };
        let capped = caps.cap(&limits);
        assert_eq!(capped.memory, ByteSize::mib(64), "256 MiB lowered to 64");
        assert_eq!(capped.fuel, Some(1000), "no metering becomes the cap");
        assert_eq!(capped.step_timeout, Some(Duration::from_secs(2)));
        assert_eq!(capped.max_instances, Some(2), "a lower limit stays");
        assert_eq!(capped.max_event_bytes, limits.max_event_bytes, "uncapped");
        let step = caps.cap_step(&StepLimits {
            memory: ByteSize::mib(16),
            fuel: Some(5000),
        });
        assert_eq!((step.memory, step.fuel), (ByteSize::mib(16), Some(1000)));
        assert_eq!(caps.cap_run_timeout(None), None, "no run cap given");
        // Unvetted code: every limit at most wflow's default, unless the
        // operator's own cap says otherwise.
        let raised = Limits {
            max_log_bytes: usize::MAX,
            max_collect_buffer: usize::MAX,
            instance_wait: Duration::from_secs(86_400),
            memory: ByteSize::gib(8),
            ..Limits::default()
        };
        let operator = LimitCaps {
            memory: Some(ByteSize::gib(1)),
            ..LimitCaps::default()
        };
        let capped = operator.over(&LimitCaps::at_defaults()).cap(&raised);
        let defaults = Limits::default();
        assert_eq!(capped.max_log_bytes, defaults.max_log_bytes);
        assert_eq!(capped.max_collect_buffer, defaults.max_collect_buffer);
        assert_eq!(capped.instance_wait, defaults.instance_wait);
        assert_eq!(capped.memory, ByteSize::gib(1), "the operator's cap wins");
        let unknown = toml::from_str::<LimitCaps>("memroy = \"1MiB\"");
        assert!(
            unknown.is_err_and(|err| err.to_string().contains("memroy")),
            "a misspelt cap is an error naming it"
        );
    }

    #[test]
    fn limit_caps_round_trip_through_json_exactly() {
        let caps = LimitCaps {
            memory: Some(ByteSize::b(1_100_000)),
            max_event_bytes: Some(ByteSize::b(1500)),
            step_timeout: Some(std::time::Duration::from_millis(2500)),
            ..LimitCaps::default()
        };
        let text = serde_json::to_string(&caps).unwrap();
        assert!(text.contains(r#""memory":1100000"#), "{text}");
        let back: LimitCaps = serde_json::from_str(&text).unwrap();
        assert_eq!(back, caps);
    }

    #[test]
    fn a_limits_table_overrides_only_what_it_sets() {
        let spec: LimitsSpec = toml::from_str(
            "memory = \"64MiB\"\nfuel = 1000\nstream_buffer = 10\nstep_timeout = \"2s\"",
        )
        .unwrap();
        let limits = spec.resolve();
        assert_eq!(limits.memory, ByteSize::mib(64));
        assert_eq!(limits.fuel, Some(1000));
        assert_eq!(limits.stream_buffer, 10);
        assert_eq!(limits.step_timeout, Some(Duration::from_secs(2)));
        assert_eq!(limits.max_event_bytes, Limits::default().max_event_bytes);
        let err = toml::from_str::<LimitsSpec>("memroy = 1").unwrap_err();
        assert!(err.to_string().contains("unknown field `memroy`"), "{err}");
    }
}
