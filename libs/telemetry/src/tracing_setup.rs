//! Logs and traces.

use std::io::IsTerminal;

use anyhow::Context as _;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Keeps the trace pipeline alive; flushes pending spans when dropped.
pub struct Telemetry {
    provider: SdkTracerProvider,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        // Flush what is buffered; an unreachable collector must not block shutdown for long.
        let _ = self.provider.shutdown();
    }
}

/// Installs logging, tracing and metrics for a service.
///
/// Spans always get real W3C trace ids (so trace context can ride NATS headers from service to
/// service); they leave the process only when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, through
/// the OTLP gRPC exporter, which reads the other standard `OTEL_*` variables itself. An
/// `https://` endpoint is verified against the system's roots, plus the CA in the PEM file
/// `OTEL_EXPORTER_OTLP_CERTIFICATE` when set. Logs on a non-terminal stderr are JSON lines that
/// carry the `trace_id` and `span_id` of the span they were written in. The process's
/// Prometheus recorder ([`crate::metrics`]) labels everything with `service`.
pub fn init(service: &'static str) -> anyhow::Result<Telemetry> {
    let provider = provider(service)?;
    crate::metrics::install(service, env!("CARGO_PKG_VERSION"))?;
    let tracer = provider.tracer(service);
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let fmt = if std::io::stderr().is_terminal() {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .boxed()
    } else {
        json_logs().boxed()
    };
    // Log verbosity (RUST_LOG) and tracing are filtered apart: quieter logs never cut a trace.
    tracing_subscriber::registry()
        .with(fmt.with_filter(filter))
        .with(spans(tracer))
        .try_init()?;
    Ok(Telemetry { provider })
}

/// The OpenTelemetry layer: spans at `INFO` and above, with their source location but without
/// what costs on every poll of a task and tells a trace reader nothing: the busy and idle times
/// (two clock reads at each enter and exit), the thread's name and id (a worker thread, not the
/// task), and the context activated on each enter (trace context is read from the span itself,
/// `libs/bus/src/trace.rs`, never from OpenTelemetry's current context).
fn spans<S>(tracer: opentelemetry_sdk::trace::SdkTracer) -> impl Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_tracked_inactivity(false)
        .with_threads(false)
        .with_context_activation(false)
        .with_filter(LevelFilter::INFO)
}

/// One JSON object per line: `timestamp`, `level`, `target`, the event's fields (`message`
/// among them), the current span's fields under `span`, and the OpenTelemetry `trace_id` and
/// `span_id` of that span (the ids a trace backend shows, so a log line leads to its trace).
fn json_logs<S>() -> json_subscriber::JsonLayer<S, fn() -> std::io::Stderr>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    let mut layer = json_subscriber::JsonLayer::stderr();
    layer
        .with_timer("timestamp", tracing_subscriber::fmt::time::SystemTime)
        .with_level("level")
        .with_target("target")
        .with_flattened_event()
        .with_current_span("span");
    layer.add_multiple_dynamic_fields(|event, ctx, writer| {
        let Some(span) = ctx.event_span(event) else {
            return;
        };
        let id = span.id();
        let cx =
            tracing::dispatcher::get_default(|d| tracing_opentelemetry::get_otel_context(&id, d));
        if let Some(cx) = cx {
            use opentelemetry::trace::TraceContextExt;
            let span = cx.span();
            let sc = span.span_context();
            if sc.is_valid() {
                let _ = writer.write_field("trace_id", sc.trace_id().to_string());
                let _ = writer.write_field("span_id", sc.span_id().to_string());
            }
        }
    });
    layer
}

/// Installs tracing once per test process (compact logs at `warn` unless `RUST_LOG` says
/// otherwise) with trace ids but no exporter. Safe to call from every test.
pub fn init_for_tests() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        let provider = SdkTracerProvider::builder().build();
        let tracer = provider.tracer("test");
        opentelemetry::global::set_tracer_provider(provider);
        let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
        let _ = tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .with_test_writer()
                    .with_filter(filter),
            )
            .with(spans(tracer))
            .try_init();
    });
}

fn provider(service: &'static str) -> anyhow::Result<SdkTracerProvider> {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let resource = Resource::builder().with_service_name(service).build();
    let mut builder = SdkTracerProvider::builder().with_resource(resource);
    let endpoint = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").unwrap_or_default();
    if !endpoint.is_empty() {
        use opentelemetry_otlp::WithTonicConfig;
        use opentelemetry_otlp::tonic_types::transport::{Certificate, ClientTlsConfig};
        let mut exporter = opentelemetry_otlp::SpanExporter::builder().with_tonic();
        let ca = std::env::var_os("OTEL_EXPORTER_OTLP_CERTIFICATE").filter(|v| !v.is_empty());
        if endpoint.starts_with("https://") || ca.is_some() {
            let mut tls = ClientTlsConfig::new().with_native_roots();
            if let Some(path) = ca {
                let pem = std::fs::read(&path).with_context(|| {
                    format!(
                        "reading OTEL_EXPORTER_OTLP_CERTIFICATE {}",
                        std::path::Path::new(&path).display()
                    )
                })?;
                tls = tls.ca_certificate(Certificate::from_pem(pem));
            }
            exporter = exporter.with_tls_config(tls);
        }
        builder = builder.with_batch_exporter(exporter.build()?);
    }
    let provider = builder.build();
    opentelemetry::global::set_tracer_provider(provider.clone());
    Ok(provider)
}
