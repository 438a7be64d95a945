//! Real local infrastructure for Showroom's dev launcher and test kit.
//!
//! Showroom's services need NATS (JetStream), Redis, PostgreSQL and an SMTP
//! server. Instead of mocks or fixed-port containers, this crate starts the
//! real programs installed on the machine (`deploy/install.sh` installs them)
//! on free `127.0.0.1` ports, waits until each one really answers, and tears
//! it down again, so any number of tests and a dev stack can run side by side.
//!
//! ```no_run
//! # async fn demo() -> Result<(), showroom_localinfra::InfraError> {
//! use showroom_localinfra::{Nats, Postgres, PostgresOptions, Redis};
//! let nats = Nats::start(None).await?;
//! let redis = Redis::start().await?;
//! let pg = Postgres::start(PostgresOptions::throwaway()).await?;
//! println!("{} {} {}", nats.url, redis.url, pg.url);
//! // Dropping them stops the servers and deletes their temp data.
//! # Ok(()) }
//! ```
//!
//! Guarantees:
//! - **No leftovers.** Dropping a server kills and reaps it before its temp
//!   dir is removed; if our process dies (even by SIGKILL, or with servers in
//!   a `static`), the kernel kills the servers too (`PR_SET_PDEATHSIG`), and
//!   the next start sweeps the temp dirs such a dead process left behind.
//!   A server does *not* die with the thread or runtime that started it.
//! - **Logs.** Each server's stdout/stderr goes to a file (`log_path()`,
//!   `log()`); start errors include its last lines.
//! - **Runtime-agnostic after start.** Servers are waited on by polling, so a
//!   server started in one Tokio runtime can be used and dropped from another.
//!   Starting one needs a Tokio runtime with IO and time enabled (the default
//!   for `#[tokio::main]` and `#[tokio::test]`).
//! - **Root.** PostgreSQL refuses to run as root; as root we run it as the
//!   `postgres` user (see [`Postgres`]).
//! - **Fast PostgreSQL.** Throwaway clusters are copies of a cached template
//!   on RAM-backed `/dev/shm` when it has room (set
//!   `SHOWROOM_LOCALINFRA_TMPDIR` to put them elsewhere); a start takes
//!   about 0.1 s.
//!
//! # Layout
//!
//! - [`error`](InfraError): `InfraError`, the one error type, with a fix in
//!   every message.
//! - `port`: [`free_port`] and TCP probe helpers.
//! - `binaries`: finding `nats-server`, `redis-server`, PostgreSQL's
//!   `initdb`/`postgres` (also in `/usr/lib/postgresql/*/bin`), `node`.
//! - `process`: spawning with a log file, readiness polling, stopping with
//!   signal escalation, the spawner thread behind the parent-death signal.
//! - `http`: a minimal HTTP/1.1 client for health checks and maildev's API.
//! - `pg_wire`: just enough PostgreSQL protocol to probe logins and create
//!   databases.
//! - [`Nats`]: `nats-server -js`, restartable with the same port and store.
//! - [`Redis`]: `redis-server` without persistence, restartable.
//! - [`Postgres`] / [`PostgresOptions`]: throwaway clusters copied from a
//!   cached initdb template (tests), or a persistent data dir (dev launcher).
//! - [`PgBouncer`] / [`PgBouncerOptions`]: PgBouncer (≥ 1.21) in transaction mode in front
//!   of a [`Postgres`].
//! - [`SmtpCatcher`]: maildev, with its caught e-mails readable as JSON.
//! - [`Relay`]: a TCP relay in front of a server, to cut a client's connections and count its
//!   round trips.
//! - [`GatewayProxy`] / [`ProxyKind`]: nginx (the production ingress's rule) or HAProxy (with
//!   bounded loads) in front of several gateways, their sockets hashed by `route`, for
//!   `loadtest fanout --proxy`.
//! - [`Prometheus`]: Prometheus scraping given targets each second, queried over its HTTP API.
//! - [`TlsFiles`]: a server certificate, its key and CA, for servers started with TLS.

mod binaries;
mod error;
mod gateway_proxy;
mod http;
mod nats;
mod pg_wire;
mod pgbouncer;
mod port;
mod postgres;
mod process;
mod prometheus;
mod redis;
mod relay;
mod smtp;
mod tls;

pub use error::{InfraError, Result};
pub use gateway_proxy::{GatewayProxy, ProxyKind};
pub use nats::Nats;
pub use pgbouncer::{PgBouncer, PgBouncerOptions};
pub use port::free_port;
pub use postgres::{Postgres, PostgresOptions};
pub use prometheus::Prometheus;
pub use redis::Redis;
pub use relay::Relay;
pub use smtp::SmtpCatcher;
pub use tls::TlsFiles;
