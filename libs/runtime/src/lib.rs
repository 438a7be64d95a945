//! The start-up and shutdown sequence every Showroom service shares.
//!
//! A service calls [`Base::start`] (connect NATS and Postgres, apply migrations, register
//! with the NATS service API), adds its endpoints and tasks on the [`Base`], then
//! [`Base::finish`]es with its admin server. The returned [`Running`] handle is what `main`
//! waits on and what tests stop. Shutdown order: stop taking requests (the token), let tracked
//! work finish, unregister the service, drain NATS.
//!
//! # Layout
//! - [`Settings`]: what the sequence needs from a service's config.
//! - [`Base`]: the connections and task tracker of a starting service, and what its `/metrics`
//!   reads when scraped (pool, consumer backlogs, outboxes).
//! - [`Running`]: a started service, its addresses, and its completion.
//! - [`outbox`]: the transactional outbox (write with the change, publish, relay orphans).
//! - `fail_open` (feature `redis`): a Redis whose failures let requests through (the
//!   gateway's shared limits, notification's coalescing marks).
//! - [`retention`]: the retention sweep each owner of shoppers' data runs on its own tables.
//! - [`shared_commit`]: the next batch for writer tasks that share commits.
//! - [`jemalloc!`]: makes jemalloc a binary's allocator (every service's, and the test and load
//!   programs that run them).

#[cfg(feature = "redis")]
pub mod fail_open;
pub mod outbox;
pub mod retention;
pub mod shared_commit;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use futures::FutureExt;
use showroom_bus::{Bus, ServiceHost};
use showroom_config::Common;
use showroom_store::sqlx::PgPool;
use showroom_telemetry::{Collectors, Readiness};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use tikv_jemallocator::Jemalloc;

/// Makes jemalloc this binary's allocator; every service's `main.rs` starts with it, and so do
/// `showroom-service` and `showroom-loadtest`, which run the services, so that they allocate as
/// in production.
///
/// Why jemalloc:
/// - its background thread returns freed pages to the system as they decay (about ten seconds).
///   When thousands of sockets close after a peak, the gateway's resident memory falls back;
///   glibc's malloc and mimalloc kept it (idle worker threads never gave their freed pages
///   back). Measured by `showroom-loadtest sockets`;
/// - it is faster for the services' many small, short-lived allocations: glibc's malloc took
///   about a quarter of the gateway's CPU at the soak's peak, and the `messages` benchmark sends
///   1.03–1.13× the messages a second with the in-process services on jemalloc
///   (`loadtest/README.md`).
#[macro_export]
macro_rules! jemalloc {
    () => {
        #[global_allocator]
        static ALLOCATOR: $crate::Jemalloc = $crate::Jemalloc;
    };
}

/// What the shared sequence needs to know.
pub struct Settings<'a> {
    /// Service name as registered with the NATS service API.
    pub name: &'static str,
    /// Version (the crate version).
    pub version: &'static str,
    /// One line on what the service does.
    pub description: &'static str,
    /// NATS server URL.
    pub nats_url: &'a str,
    /// The NATS credentials file, if the server wants them.
    pub nats_creds: Option<&'a std::path::Path>,
    /// The CA that signed NATS's certificate, for TLS.
    pub nats_ca: Option<&'a std::path::Path>,
    /// Postgres URL.
    pub database_url: &'a str,
    /// Largest number of Postgres connections.
    pub max_db_connections: u32,
    /// Apply pending migrations at start (sqlx serialises concurrent runs).
    pub run_migrations: bool,
    /// Where `/healthz` and `/readyz` listen.
    pub admin_addr: SocketAddr,
}

impl<'a> Settings<'a> {
    /// Settings from the fields every service config shares.
    pub fn new(
        name: &'static str,
        version: &'static str,
        description: &'static str,
        common: &'a Common,
    ) -> Self {
        Self {
            name,
            version,
            description,
            nats_url: &common.nats_url,
            nats_creds: common.nats_creds.as_deref(),
            nats_ca: common.nats_ca.as_deref(),
            database_url: common.database_url.expose(),
            max_db_connections: common.max_db_connections,
            run_migrations: common.run_migrations,
            admin_addr: common.admin_addr,
        }
    }
}

/// The connections and task tracker of a starting service.
pub struct Base {
    /// The NATS connection.
    pub bus: Bus,
    /// The Postgres pool.
    pub pool: PgPool,
    /// The service registration; endpoints are added on it.
    pub host: ServiceHost,
    /// Tracks every task the service spawns, so shutdown can wait for them.
    pub tracker: TaskTracker,
    /// Cancelled when the service must stop.
    pub shutdown: CancellationToken,
    admin_addr: SocketAddr,
    name: &'static str,
    /// How [`Base::bus`] connected, for a second connection ([`Base::connect_without_echo`]).
    nats: Nats,
    /// What `/metrics` reads when scraped, besides the pool and the consumers' backlogs.
    collectors: std::sync::Mutex<Collectors>,
}

/// Where and as whom the service connects to NATS.
struct Nats {
    url: String,
    creds: Option<String>,
    ca: Option<std::path::PathBuf>,
}

impl Base {
    /// Connects, migrates and registers.
    pub async fn start(s: Settings<'_>, shutdown: CancellationToken) -> anyhow::Result<Self> {
        let creds = match s.nats_creds {
            Some(path) => Some(std::fs::read_to_string(path).with_context(|| {
                format!("reading the NATS credentials file {}", path.display())
            })?),
            None => None,
        };
        let login = showroom_bus::Login {
            name: s.name,
            creds: creds.as_deref(),
            ca: s.nats_ca,
        };
        // A wrong certificate or CA fails here, once, naming the server: no retry loop.
        let bus = Bus::connect(s.nats_url, login)
            .await
            .context("connecting to NATS")?;
        let pool = showroom_store::connect_as(s.database_url, s.max_db_connections, s.name)
            .await
            .with_context(|| {
                format!(
                    "connecting to Postgres at {}",
                    showroom_store::server_of(s.database_url)
                )
            })?;
        if s.run_migrations {
            showroom_store::migrate(&pool)
                .await
                .context("applying migrations")?;
        }
        let tracker = TaskTracker::new();
        let host = ServiceHost::start(
            &bus,
            s.name,
            s.version,
            s.description,
            tracker.clone(),
            shutdown.clone(),
        )
        .await
        .context("registering with the NATS service API")?;
        Ok(Self {
            bus,
            pool,
            host,
            tracker,
            shutdown,
            admin_addr: s.admin_addr,
            name: s.name,
            nats: Nats {
                url: s.nats_url.to_string(),
                creds,
                ca: s.nats_ca.map(Into::into),
            },
            collectors: Default::default(),
        })
    }

    /// A second NATS connection, as the service but named `<service>-<purpose>`, to which the
    /// server never sends what it published itself ([`Bus::connect_without_echo`]).
    pub async fn connect_without_echo(&self, purpose: &str) -> anyhow::Result<Bus> {
        let name = format!("{}-{purpose}", self.name);
        let login = showroom_bus::Login {
            name: &name,
            creds: self.nats.creds.as_deref(),
            ca: self.nats.ca.as_deref(),
        };
        Bus::connect_without_echo(&self.nats.url, login)
            .await
            .with_context(|| format!("connecting to NATS for {purpose}"))
    }

    /// Relays `outbox`'s orphans every `every` ([`outbox::Outbox::relay`]) and reports its
    /// backlog on `/metrics` (rows pending, age of the oldest).
    pub fn relay_outbox(&self, outbox: outbox::Outbox, every: Duration) {
        self.tracker.spawn(outbox.relay(
            self.bus.clone(),
            self.pool.clone(),
            every,
            self.shutdown.clone(),
        ));
        let pool = self.pool.clone();
        self.add_collector(move || {
            let pool = pool.clone();
            async move { outbox.record_backlog(&pool).await }.boxed()
        });
    }

    /// Adds a value `/metrics` reads when scraped.
    pub fn add_collector<F>(&self, collect: F)
    where
        F: Fn() -> futures::future::BoxFuture<'static, ()> + Send + Sync + 'static,
    {
        if let Ok(mut c) = self.collectors.lock() {
            c.add(collect);
        }
    }

    /// Every service's scrape-time values: its Postgres pool and its consumers' backlogs.
    fn collectors(&self) -> Collectors {
        let pool = self.pool.clone();
        let bus = self.bus.clone();
        let own = self
            .collectors
            .lock()
            .map(|c| c.clone())
            .unwrap_or_default();
        own.with(move || {
            use showroom_telemetry::metrics::names;
            // Read apart, so an idle count can briefly exceed the size.
            let in_use = (pool.size() as usize).saturating_sub(pool.num_idle());
            metrics::gauge!(names::DB_POOL_CONNECTIONS, "state" => "in_use").set(in_use as f64);
            metrics::gauge!(names::DB_POOL_CONNECTIONS, "state" => "idle")
                .set(pool.num_idle() as f64);
            metrics::gauge!(names::DB_POOL_MAX).set(pool.options().get_max_connections() as f64);
            futures::future::ready(()).boxed()
        })
        .with(move || {
            let bus = bus.clone();
            async move { bus.record_backlogs().await }.boxed()
        })
    }

    /// The readiness checks every service has: NATS connected, Postgres answering.
    pub fn readiness(&self) -> Readiness {
        let bus = self.bus.clone();
        let pool = self.pool.clone();
        Readiness::default()
            .with("nats", move || {
                let up = bus.is_connected();
                async move {
                    if up {
                        Ok(())
                    } else {
                        Err("disconnected".to_string())
                    }
                }
                .boxed()
            })
            .with("postgres", move || {
                let pool = pool.clone();
                async move { showroom_store::ping(&pool).await }.boxed()
            })
    }

    /// Starts the admin server with `readiness`, and returns the running service. `serving`
    /// is the service's own front (e.g. the gateway's HTTP server), which must end after the
    /// shutdown token is cancelled; `http_addr` is where it listens, if anywhere.
    pub async fn finish<F>(
        self,
        readiness: Readiness,
        http_addr: Option<SocketAddr>,
        serving: F,
    ) -> anyhow::Result<Running>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let admin = showroom_telemetry::admin::serve(
            self.admin_addr,
            readiness,
            self.collectors(),
            self.shutdown.clone(),
        )
        .await
        .with_context(|| format!("binding the admin port {}", self.admin_addr))?;
        let admin_addr = admin.addr;
        let Base {
            bus,
            host,
            tracker,
            shutdown,
            name,
            ..
        } = self;
        tracing::info!(service = name, %admin_addr, http = ?http_addr, "started");
        let token = shutdown.clone();
        let handle = tokio::spawn(async move {
            let serving = tokio::spawn(serving);
            token.cancelled().await;
            let _ = serving.await;
            tracker.close();
            if tokio::time::timeout(Duration::from_secs(20), tracker.wait())
                .await
                .is_err()
            {
                tracing::warn!(service = name, "in-flight work did not finish within 20 s");
            }
            host.stop().await;
            bus.drain().await;
            let _ = admin.handle.await;
            tracing::info!(service = name, "stopped");
        });
        Ok(Running {
            admin_addr,
            http_addr,
            shutdown,
            handle,
        })
    }
}

/// A started service.
pub struct Running {
    /// Where `/healthz` and `/readyz` listen (the real port).
    pub admin_addr: SocketAddr,
    /// Where the service's own HTTP front listens, if it has one.
    pub http_addr: Option<SocketAddr>,
    shutdown: CancellationToken,
    handle: JoinHandle<()>,
}

impl Running {
    /// Waits until the service has shut down (after its token is cancelled).
    pub async fn wait(self) -> anyhow::Result<()> {
        self.handle.await.context("service task panicked")
    }

    /// Asks the service to stop and waits until it has.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        self.wait().await
    }
}
