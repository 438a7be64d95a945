//! Operational surface shared by every Showroom service: logs, traces, metrics, probes,
//! shutdown.
//!
//! # Layout
//! - [`init`]: `tracing` logs (JSON with `trace_id` and `span_id` when stderr is not a
//!   terminal), OpenTelemetry traces exported over OTLP only when `OTEL_EXPORTER_OTLP_ENDPOINT`
//!   is set, and the process's metrics recorder.
//! - [`metrics`]: the metric names, the Prometheus recorder, scrape-time collectors.
//! - [`admin`]: the admin HTTP server with `GET /healthz`, `GET /readyz` and `GET /metrics`.
//! - [`shutdown`]: one cancellation token cancelled by SIGTERM or Ctrl-C.

pub mod admin;
pub mod metrics;
pub mod shutdown;
mod tracing_setup;

pub use admin::{AdminServer, Readiness};
pub use metrics::Collectors;
pub use shutdown::shutdown_on_signals;
pub use tracing_setup::{Telemetry, init, init_for_tests};
