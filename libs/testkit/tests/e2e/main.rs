//! Showroom's end-to-end tests, in one test binary: each module is one area of the product,
//! tested against real servers (NATS, Postgres, Redis, the SMTP catcher, Prometheus, Chromium)
//! through the services' own protocols. One binary instead of one per file: every file linked
//! all seven services, and 25 such binaries were most of a clean build's link time and disk.
//! nextest still runs each test in a process of its own.

mod admin;
mod admission;
mod appointments;
mod audit;
mod browser;
mod canned;
mod chat;
mod chat_files;
mod crm;
mod csat;
mod edge;
mod fanout;
mod faults;
mod forms;
mod fuzz;
mod gate;
mod headers;
mod images;
mod integrations;
mod internal;
mod leads;
mod limits;
mod masking;
mod mfa;
mod migrations;
mod nats_auth;
mod notifications;
mod observability;
mod payment;
mod pgbouncer;
mod presence;
mod reports;
mod retention;
mod rooftops_scope;
mod routing;
mod search;
mod seen;
mod sso;
mod streams;
mod tls;
mod tracing;
mod trade_in;
mod trends;
mod vehicle;
mod whisper;

/// The test-only `showroom-service` binary, which runs any service by name as a process of its
/// own (`showroom_testkit::Fleet`).
fn service_binary() -> &'static std::path::Path {
    std::path::Path::new(env!("CARGO_BIN_EXE_showroom-service"))
}
