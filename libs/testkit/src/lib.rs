//! Showroom's test kit: real servers on free loopback ports, the seven services started
//! in-process against them, and clients that speak the socket and HTTP protocols.
//!
//! Used only by tests. Nothing here is a stand-in: NATS with JetStream, Redis and Postgres are
//! the real programs (see `showroom-localinfra`), each test gets its own, and they are torn
//! down when the [`Stack`] is dropped.
//!
//! # Layout
//! - [`Stack`]: infrastructure plus all seven services; restart one, read their addresses;
//!   more gateways as their own processes ([`GatewayProcess`], whose metrics a test reads;
//!   [`metric_sum`] reads any `/metrics` page).
//! - [`Fleet`]: production's shape on one machine: a three-node NATS cluster and every service
//!   as processes of its own (the `showroom-service` binary, `src/bin`), any of which can be
//!   killed and started again.
//! - [`Service`]: the seven services; `process`: starting one as its own process (its
//!   environment, waiting until it is ready), shared by the two above.
//! - [`Tenant`]: a dealer group seeded for a test (rooftop, departments, website, agents);
//!   [`database`]: a migrated Postgres alone, for tests of statements and plans.
//! - [`Socket`]: a WebSocket client with JSON helpers (`send`, `recv_type`, `expect_silence`);
//!   [`accepted_chat`]: a chat started by a shopper and accepted by an agent.
//! - [`Http`]: a small JSON HTTP client.
//! - [`run_browser_tests`]: the browser tests (`services/gateway/tests/browser`, node and
//!   playwright-core driving Chromium) against a stack's gateway.
//! - [`eventually`]: waits for something that happens in the background.
//! - [`watch`]: NATS clients whose permission violations and disconnections a test reads.
//! - [`tls`]: a CA and server certificate made for a test.
//! - [`OidcProvider`]: a real OpenID provider (npm `oidc-provider`, `oidc/provider.mjs`) with a
//!   test account store, back-channel logout and test switches, for single sign-on tests.

mod browser;
mod fleet;
mod http;
mod oidc;
mod process;
mod socket;
mod stack;
mod tenant;
pub mod tls;
mod wait;
pub mod watch;

pub use browser::{node_modules, run_browser_tests};
pub use fleet::{Fleet, NATS_NODES};
pub use http::Http;
pub use oidc::{OidcClient, OidcProvider};
pub use process::Service;
pub use socket::{Socket, accepted_chat};
pub use stack::{GatewayProcess, Stack, Tuning, metric_sum};
pub use tenant::{PASSWORD, Tenant, database};
pub use wait::eventually;
