//! Operational surface shared by every Showroom service: logs, traces, probes, shutdown.
//!
//! # Layout
//! - [`init`]: `tracing` logs (JSON when stderr is not a terminal) and OpenTelemetry traces,
//!   exported over OTLP only when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.
//! - [`admin`]: the admin HTTP server with `GET /healthz` and `GET /readyz`.
//! - [`shutdown`]: one cancellation token cancelled by SIGTERM or Ctrl-C.

pub mod admin;
pub mod shutdown;
mod tracing_setup;

pub use admin::{AdminServer, Readiness};
pub use shutdown::shutdown_on_signals;
pub use tracing_setup::{Telemetry, init, init_for_tests};
