//! Traces over OTLP: when `OTEL_EXPORTER_OTLP_ENDPOINT` (or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set, wflow's spans (HTTP
//! requests, runs, step calls, waits, checkpoints) go to that collector over
//! gRPC, batched; nothing is exported otherwise. The other standard
//! variables apply (`OTEL_SERVICE_NAME`, `OTEL_EXPORTER_OTLP_HEADERS`,
//! `OTEL_BSP_SCHEDULE_DELAY`, ...). Incoming `traceparent` headers are read
//! with the W3C Trace Context propagator.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::SpanExporter;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::registry::LookupSpan;

/// The crates whose spans are exported.
const TRACED: [&str; 5] = [
    "wflow",
    "wflow_core",
    "wflow_server",
    "wflow_store",
    "wflow_build",
];

/// Whether the environment asks for traces.
pub fn wanted() -> bool {
    [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    ]
    .iter()
    .any(|name| std::env::var_os(name).is_some_and(|value| !value.is_empty()))
}

/// The exporting tracer provider; shut it down before the async runtime
/// goes, so that the last spans are sent.
pub struct Traces {
    provider: SdkTracerProvider,
}

impl Traces {
    /// Sets up the exporter the environment names. Call it within the
    /// tokio runtime (the gRPC channel lives on it).
    pub fn from_env() -> anyhow::Result<Self> {
        let exporter = SpanExporter::builder().with_tonic().build()?;
        let resource = if std::env::var_os("OTEL_SERVICE_NAME").is_some() {
            Resource::builder().build()
        } else {
            Resource::builder().with_service_name("wflow").build()
        };
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource)
            .build();
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        Ok(Self { provider })
    }

    /// The layer turning wflow's spans into OpenTelemetry spans.
    pub fn layer<S>(&self) -> impl Layer<S> + use<S>
    where
        S: tracing::Subscriber + for<'span> LookupSpan<'span>,
    {
        let targets = TRACED.iter().fold(Targets::new(), |targets, target| {
            targets.with_target(*target, LevelFilter::INFO)
        });
        tracing_opentelemetry::layer()
            .with_tracer::<SdkTracer>(self.provider.tracer("wflow"))
            .with_filter(targets)
    }

    /// Sends what is left and stops the exporter.
    pub fn shutdown(self) {
        if let Err(err) = self.provider.shutdown() {
            eprintln!("warning: the last traces were not all sent: {err}");
        }
    }
}
