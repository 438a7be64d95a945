//! All of Showroom on throwaway servers.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::{Value, json};
use showroom_bus::{Bus, Login};
use showroom_config::{Common, Secret};
use showroom_localinfra::{
    Nats, PgBouncer, PgBouncerOptions, Postgres, PostgresOptions, Redis, SmtpCatcher, TlsFiles,
};
use showroom_natsauth::Trust;
use showroom_rest::limits::LimitsConfig;
use showroom_runtime::Running;
use showroom_store::sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::process::{Endpoints, Service, VISITOR_SECRET, maildev_dir, service_env, spawn_ready};
use crate::tenant::PASSWORD;
use crate::{Http, Socket, Tenant};

/// Real NATS, Redis and Postgres plus the seven services.
pub struct Stack {
    /// NATS with JetStream, in operator mode: anonymous connections are refused, and each service
    /// connects with its own credentials (`showroom_proto::access`).
    pub nats: Nats,
    /// The keys NATS trusts in this stack.
    pub trust: Trust,
    /// The credentials files (`<service>.creds`, `operator.creds`) and NATS's account store.
    auth_dir: tempfile::TempDir,
    /// With TLS on every connection ([`Stack::start_tls`]): the servers' certificate and CA.
    pub tls: Option<TlsFiles>,
    /// Redis.
    pub redis: Redis,
    /// Postgres.
    pub pg: Postgres,
    /// With [`Stack::start_pooled`]: the PgBouncer (transaction mode) every service connects
    /// through.
    pub pgbouncer: Option<PgBouncer>,
    /// The SMTP catcher (maildev) crm-export sends ADF e-mails to; tests read them back.
    pub smtp: SmtpCatcher,
    /// A pool on the database, for seeding and for checking what was stored.
    pub pool: PgPool,
    /// Timings the services run with.
    pub tuning: Tuning,
    /// The gateway's `SHOWROOM_OIDC_SECRETS_DIR`: identity providers' client secrets, one file
    /// per key ([`Stack::put_oidc_secret`]).
    oidc_secrets: tempfile::TempDir,
    /// Base URL of the gateway, e.g. `http://127.0.0.1:41234`.
    pub base_url: String,
    /// The gateway's address.
    pub gateway_addr: SocketAddr,
    running: Vec<(Service, Running)>,
}

/// A gateway running as its own process (see [`Stack::gateway_process`]).
pub struct GatewayProcess {
    /// Its base URL, e.g. `http://127.0.0.1:41234`.
    pub base_url: String,
    /// Its admin server (`/metrics`, `/readyz`), e.g. `http://127.0.0.1:41235`.
    pub admin_url: String,
    _child: tokio::process::Child,
}

impl GatewayProcess {
    /// Its `ws://` URL for a path.
    pub fn ws_url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url.replacen("http://", "ws://", 1))
    }

    /// Its process id (e.g. to read its memory from `/proc`), while it runs.
    pub fn pid(&self) -> Option<u32> {
        self._child.id()
    }

    /// The sum of metric `name`'s series on its `/metrics` page whose labels include `label`
    /// (e.g. `kind="message"`; `""` for every series).
    pub async fn metric(&self, name: &str, label: &str) -> anyhow::Result<f64> {
        let page = reqwest::get(format!("{}/metrics", self.admin_url))
            .await?
            .error_for_status()?
            .text()
            .await?;
        Ok(metric_sum(&page, name, label))
    }
}

/// The sum of metric `name`'s series in a Prometheus text page whose labels include `label`
/// (`""` for every series); 0 when there is none.
pub fn metric_sum(page: &str, name: &str, label: &str) -> f64 {
    page.lines()
        .filter(|l| !l.starts_with('#') && l.contains(label))
        .filter(|l| l.split(['{', ' ']).next() == Some(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Timings and limits a test may change.
#[derive(Debug, Clone, Copy)]
pub struct Tuning {
    /// How often consoles heartbeat (the product's default is 60 s).
    pub heartbeat_secs: u64,
    /// How long a silent device counts (default 90 s).
    pub device_ttl_secs: u64,
    /// The gateways' limits (the product's defaults; a load test raises the ones its one
    /// address and fast sockets would meet: [`LimitsConfig::for_load_tests`]).
    pub limits: LimitsConfig,
    /// Each service's Postgres connections (5 in tests; the product's default is 10).
    pub max_db_connections: u32,
    /// The gateways' admission bound (`SHOWROOM_ADMISSION_ACK_MS`): 0, off, in tests, whose
    /// clients send a `start` once where the widget sends a busy one again, and whose machine
    /// may stall an fsync for a second while something compiles; the product's 250 for
    /// benchmarks ([`Tuning::for_load`]). The admission's own test sets it.
    pub admission_ack_ms: u64,
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            heartbeat_secs: 60,
            device_ttl_secs: 90,
            limits: LimitsConfig::default(),
            max_db_connections: 5,
            admission_ack_ms: 0,
        }
    }
}

impl Tuning {
    /// The defaults with the limits of [`LimitsConfig::for_load_tests`]: for tests and
    /// benchmarks whose clients, all on 127.0.0.1, start chats and write as fast as the gateway
    /// answers.
    pub fn for_load() -> Self {
        Self {
            limits: LimitsConfig::for_load_tests(),
            admission_ack_ms: showroom_gateway::Config::default().admission_ack_ms,
            ..Self::default()
        }
    }
}

/// How a [`Stack`] starts (the `start_*` constructors fill it in).
#[derive(Default)]
struct Options {
    pg: PostgresOptions,
    tuning: Tuning,
    tls: bool,
    pgbouncer: Option<PgBouncerOptions>,
}

impl Options {
    /// With a durable Postgres (fsync on), for benchmarks.
    fn durable() -> Self {
        Options {
            pg: PostgresOptions {
                durable: true,
                ..PostgresOptions::throwaway()
            },
            ..Options::default()
        }
    }
}

/// The database URL: with TLS, `sslmode=verify-full` against the stack's CA.
fn database_url(pg: &Postgres, tls: Option<&TlsFiles>) -> String {
    match tls {
        Some(t) => format!(
            "{}?sslmode=verify-full&sslrootcert={}",
            pg.url,
            t.ca.display()
        ),
        None => pg.url.clone(),
    }
}

/// A new trust chain for NATS with every service's credentials (and the operator's user) written
/// to a temp dir, and the server configuration that trusts it.
fn nats_auth() -> anyhow::Result<(Trust, tempfile::TempDir, String)> {
    let trust = Trust::generate();
    let dir = tempfile::Builder::new()
        .prefix("showroom-auth-")
        .tempdir()?;
    let config = trust.write_local(dir.path())?;
    Ok((trust, dir, config))
}

impl Stack {
    /// Starts servers and services (Postgres without fsync: tests check behaviour, not speed).
    pub async fn start() -> anyhow::Result<Stack> {
        Self::start_with(Options::default()).await
    }

    /// Like [`Stack::start`] with other timings.
    pub async fn start_tuned(tuning: Tuning) -> anyhow::Result<Stack> {
        Self::start_with(Options {
            tuning,
            ..Options::default()
        })
        .await
    }

    /// Like [`Stack::start`], with every service connecting to Postgres through PgBouncer in
    /// transaction mode, whose pool towards Postgres holds `pool_size` connections (the test's
    /// own [`Stack::pool`] and the migrations connect directly).
    pub async fn start_pooled(pool_size: u32) -> anyhow::Result<Stack> {
        Self::start_with(Options {
            pgbouncer: Some(PgBouncerOptions {
                pool_size,
                ..PgBouncerOptions::default()
            }),
            ..Options::default()
        })
        .await
    }

    /// Starts servers and services with a durable Postgres (fsync on), for benchmarks.
    pub async fn start_durable() -> anyhow::Result<Stack> {
        Self::start_with(Options::durable()).await
    }

    /// Starts servers and services with TLS on every connection: NATS (`tls://`, TLS required),
    /// Postgres (`sslmode=verify-full`) and Redis (`rediss://`), each with a certificate signed
    /// by a CA made for this stack, which every client verifies.
    pub async fn start_tls() -> anyhow::Result<Stack> {
        Self::start_with(Options {
            tls: true,
            ..Options::default()
        })
        .await
    }

    /// [`Stack::start_tls`] with a durable Postgres, for benchmarks beside [`Stack::start_durable`].
    pub async fn start_durable_tls() -> anyhow::Result<Stack> {
        Self::start_with(Options {
            tls: true,
            ..Options::durable()
        })
        .await
    }

    /// [`Stack::start_durable`] (with TLS when `tls`) with other timings or limits, e.g.
    /// [`Tuning::for_load`] for a benchmark that writes as fast as the gateway answers.
    pub async fn start_durable_tuned(tuning: Tuning, tls: bool) -> anyhow::Result<Stack> {
        Self::start_with(Options {
            tuning,
            tls,
            ..Options::durable()
        })
        .await
    }

    /// [`Stack::start_durable_tuned`] with `pg_stat_statements` loaded, so that a benchmark can
    /// say which statements its Postgres time went to (it costs Postgres a little).
    pub async fn start_durable_counting_statements(tuning: Tuning) -> anyhow::Result<Stack> {
        let mut options = Options {
            tuning,
            ..Options::durable()
        };
        options.pg.statements = true;
        Self::start_with(options).await
    }

    async fn start_with(options: Options) -> anyhow::Result<Stack> {
        let Options {
            pg: mut pg_options,
            tuning,
            tls,
            pgbouncer,
        } = options;
        showroom_telemetry::init_for_tests();
        let maildev = maildev_dir();
        let (trust, auth_dir, mut nats_config) = nats_auth()?;
        let tls = match tls {
            true => Some(crate::tls::server_files(&auth_dir.path().join("tls"))?),
            false => None,
        };
        if let Some(files) = &tls {
            pg_options.tls = Some(files.clone());
            nats_config.push_str(&format!(
                "tls {{\n  cert_file: {:?}\n  key_file: {:?}\n}}\n",
                files.cert.display().to_string(),
                files.key.display().to_string()
            ));
        }
        let (nats, redis, pg, smtp) = tokio::try_join!(
            Nats::start_with(None, Some(&nats_config)),
            Redis::start_with(tls.as_ref()),
            Postgres::start(pg_options),
            SmtpCatcher::start(&maildev),
        )
        .context("starting real servers (run deploy/install.sh if one is missing)")?;
        let pgbouncer = match pgbouncer {
            Some(opts) => Some(PgBouncer::start(&pg, opts).await?),
            None => None,
        };
        // The test's own pool; with PgBouncer over Postgres's Unix socket, so that every TCP
        // connection Postgres has is one of PgBouncer's.
        let database_url = match &pgbouncer {
            Some(_) => format!(
                "postgres://postgres@localhost/showroom?host={}&port={}",
                pg.socket_dir().display(),
                pg.port
            ),
            None => database_url(&pg, tls.as_ref()),
        };
        let pool = showroom_store::connect(&database_url, 5).await?;
        showroom_store::migrate(&pool).await?;
        let mut stack = Stack {
            nats,
            trust,
            auth_dir,
            tls,
            redis,
            pg,
            pgbouncer,
            smtp,
            pool,
            tuning,
            oidc_secrets: tempfile::Builder::new()
                .prefix("showroom-oidc-secrets-")
                .tempdir()?,
            base_url: String::new(),
            gateway_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            running: Vec::new(),
        };
        for s in Service::ALL {
            stack.start_service(s).await?;
        }
        Ok(stack)
    }

    /// The NATS URL the services use: `tls://` with TLS.
    pub fn nats_url(&self) -> String {
        match &self.tls {
            Some(_) => self.nats.url.replacen("nats://", "tls://", 1),
            None => self.nats.url.clone(),
        }
    }

    /// The database URL the services use: through PgBouncer when there is one, with TLS
    /// verified against the stack's CA.
    pub fn database_url(&self) -> String {
        match &self.pgbouncer {
            Some(b) => b.url.clone(),
            None => database_url(&self.pg, self.tls.as_ref()),
        }
    }

    /// The Redis URL presence, the gateway and notification use: `rediss://` with TLS.
    pub fn redis_url(&self) -> String {
        match (&self.tls, &self.redis.tls_url) {
            (Some(_), Some(url)) => url.clone(),
            _ => self.redis.url.clone(),
        }
    }

    /// The configuration of a gateway of this stack, on a free port (a test may start another
    /// with its own settings).
    pub fn gateway_config(&self) -> showroom_gateway::Config {
        showroom_gateway::Config {
            common: self.common(Service::Gateway),
            http_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            visitor_token_secret: Secret::new(VISITOR_SECRET),
            heartbeat_interval_secs: self.tuning.heartbeat_secs,
            // Plain http on loopback: a `Secure` cookie would not come back.
            secure_cookies: false,
            redis_url: Secret::new(self.redis_url()),
            redis_ca: self.tls.as_ref().map(|t| t.ca.clone()),
            limits: self.tuning.limits,
            admission_ack_ms: self.tuning.admission_ack_ms,
            oidc_secrets_dir: Some(self.oidc_secrets.path().to_path_buf()),
            ..Default::default()
        }
    }

    /// Writes an identity provider's client secret as the file `key` of the gateway's
    /// `SHOWROOM_OIDC_SECRETS_DIR`, as a mounted Kubernetes Secret holds it.
    pub fn put_oidc_secret(&self, key: &str, secret: &str) -> anyhow::Result<()> {
        std::fs::write(self.oidc_secrets.path().join(key), secret)?;
        Ok(())
    }

    /// The shared settings a service of this stack runs with (its own NATS credentials).
    pub fn common(&self, service: Service) -> Common {
        Common {
            nats_url: self.nats_url(),
            nats_creds: Some(self.creds_path(service.name())),
            nats_ca: self.tls.as_ref().map(|t| t.ca.clone()),
            database_url: Secret::new(self.database_url()),
            admin_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            run_migrations: false,
            max_db_connections: self.tuning.max_db_connections,
            stream_replicas: 1,
        }
    }

    /// The notification service's timings in tests: notices coalesced for 2 s, transcripts
    /// mailed after 3 quiet seconds (30 minutes in the product), looked for every 200 ms.
    pub fn notification_tuning() -> showroom_notification::Config {
        showroom_notification::Config {
            coalesce_secs: 2.0,
            transcript_after_secs: 3.0,
            sweep_ms: 200,
            console_url: "http://127.0.0.1/console".into(),
            ..Default::default()
        }
    }

    /// crm-export's timings in test stacks: retries after 150, 300 and 450 ms (then the dead
    /// letters), a 3 s lease on an attempt, webhooks to loopback allowed.
    pub fn crm_export_tuning() -> showroom_crm_export::Config {
        showroom_crm_export::Config {
            retry_schedule: "150ms 300ms 450ms".into(),
            webhook_timeout_ms: 2000,
            smtp_timeout_ms: 2000,
            claim_lease_ms: 3000,
            poll_ms: 50,
            outbox_relay_ms: 200,
            webhook_allow_private: true,
            ..Default::default()
        }
    }

    /// Starts one service (again).
    pub async fn start_service(&mut self, service: Service) -> anyhow::Result<()> {
        let common = self.common(service);
        let token = CancellationToken::new();
        let running = match service {
            Service::Gateway => {
                let config = showroom_gateway::Config {
                    http_addr: self.gateway_addr,
                    ..self.gateway_config()
                };
                let r = showroom_gateway::start(config, token).await?;
                let addr = r.http_addr.context("gateway has an http address")?;
                self.gateway_addr = addr;
                self.base_url = format!("http://{addr}");
                r
            }
            Service::Presence => {
                let config = showroom_presence::Config {
                    common,
                    redis_url: self.redis_url(),
                    redis_ca: self.tls.as_ref().map(|t| t.ca.clone()),
                    device_ttl_secs: self.tuning.device_ttl_secs,
                    ..Default::default()
                };
                showroom_presence::start(config, token).await?
            }
            Service::Router => {
                let config = showroom_router::Config {
                    common,
                    timer_tick_ms: 100,
                    ..Default::default()
                };
                showroom_router::start(config, token).await?
            }
            Service::Bot => {
                let config = showroom_bot::Config {
                    common,
                    sweep_ms: 500,
                };
                showroom_bot::start(config, token).await?
            }
            Service::LeadCapture => {
                let config = showroom_lead_capture::Config {
                    common,
                    console_url: "http://127.0.0.1/console".into(),
                };
                showroom_lead_capture::start(config, token).await?
            }
            Service::Notification => {
                let config = showroom_notification::Config {
                    common,
                    smtp_url: Secret::new(format!("smtp://127.0.0.1:{}", self.smtp.smtp_port)),
                    redis_url: Secret::new(self.redis_url()),
                    redis_ca: self.tls.as_ref().map(|t| t.ca.clone()),
                    ..Self::notification_tuning()
                };
                showroom_notification::start(config, token).await?
            }
            Service::CrmExport => {
                let config = showroom_crm_export::Config {
                    common,
                    nats_issuer: Some(self.auth_dir.path().join("issuer.json")),
                    nats_system_creds: Some(self.creds_path("system")),
                    smtp_url: Secret::new(format!("smtp://127.0.0.1:{}", self.smtp.smtp_port)),
                    ..Self::crm_export_tuning()
                };
                showroom_crm_export::start(config, token).await?
            }
        };
        self.running.push((service, running));
        Ok(())
    }

    /// Stops one service gracefully and waits until it is gone.
    pub async fn stop_service(&mut self, service: Service) -> anyhow::Result<()> {
        let Some(i) = self.running.iter().position(|(s, _)| *s == service) else {
            anyhow::bail!("{} is not running", service.name());
        };
        let (_, running) = self.running.remove(i);
        running.stop().await
    }

    /// The credentials file of `user`: a service's name, `operator` (every subject) or `system`
    /// (crm-export's user in the system account).
    pub fn creds_path(&self, user: &str) -> PathBuf {
        self.auth_dir.path().join(format!("{user}.creds"))
    }

    /// A NATS client for the test itself, as the operator's user (every subject).
    pub async fn nats_client(&self) -> anyhow::Result<async_nats::Client> {
        let creds = std::fs::read_to_string(self.creds_path("operator"))?;
        let login = Login {
            name: "test",
            creds: Some(&creds),
            ca: self.tls.as_ref().map(|t| t.ca.as_path()),
        };
        Ok(showroom_bus::client(&self.nats_url(), login).await?)
    }

    /// A [`Bus`] for the test itself, as the operator's user.
    pub async fn bus(&self) -> anyhow::Result<Bus> {
        Ok(Bus::from_client(self.nats_client().await?))
    }

    /// The admin address of a running service.
    pub fn admin_addr(&self, service: Service) -> Option<SocketAddr> {
        self.running
            .iter()
            .find(|(s, _)| *s == service)
            .map(|(_, r)| r.admin_addr)
    }

    /// The gateway's `ws://` URL for a path.
    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://{}{path}", self.gateway_addr)
    }

    /// The origin of the gateway's own pages.
    pub fn origin(&self) -> String {
        format!("http://{}", self.gateway_addr)
    }

    /// An agent's console: logs `email` in (with the test password), says hello and sets
    /// `status`.
    pub async fn agent(&self, email: &str, status: &str) -> anyhow::Result<Socket> {
        let token = Http::new(&self.base_url).login(email, PASSWORD).await?;
        let mut c = Socket::console(&self.ws_url(""), &token).await?;
        let welcome = c.ask(json!({"type": "hello", "v": 1})).await?;
        anyhow::ensure!(welcome["type"] == "welcome", "{welcome}");
        let st = c
            .ask(json!({"type": "set_status", "status": status}))
            .await?;
        anyhow::ensure!(st["type"] == "status" && st["status"] == status, "{st}");
        Ok(c)
    }

    /// A shopper's widget on the tenant's website that said hello (with a visitor token from
    /// an earlier visit, if given); returns the socket and the `welcome`.
    pub async fn shopper(
        &self,
        t: &Tenant,
        visitor_token: Option<&str>,
        last_seq: i64,
    ) -> anyhow::Result<(Socket, Value)> {
        let mut w = Socket::widget(&self.ws_url(""), &t.key, &t.origin).await?;
        let mut hello = json!({"type": "hello", "v": 1, "last_seq": last_seq});
        if let Some(tok) = visitor_token {
            hello["visitor_token"] = json!(tok);
        }
        let welcome = w.ask(hello).await?;
        anyhow::ensure!(welcome["type"] == "welcome", "{welcome}");
        Ok((w, welcome))
    }

    /// Starts one more gateway as its own process (`binary`: the built `showroom-gateway`, e.g.
    /// `env!("CARGO_BIN_EXE_showroom-gateway")` in the gateway's tests) on this stack's servers,
    /// with this stack's limits, and waits until it is ready. It is killed when dropped.
    pub async fn gateway_process(&self, binary: &Path) -> anyhow::Result<GatewayProcess> {
        self.gateway_process_with(binary, &[], &[]).await
    }

    /// [`Stack::gateway_process`] from a binary that takes arguments (the test kit's
    /// `showroom-service gateway`, whose process also records metrics) and with more
    /// environment (it wins over the stack's).
    pub async fn gateway_process_with(
        &self,
        binary: &Path,
        args: &[&str],
        extra_env: &[(String, String)],
    ) -> anyhow::Result<GatewayProcess> {
        let http = showroom_localinfra::free_port()?;
        let admin = showroom_localinfra::free_port()?;
        let endpoints = Endpoints {
            nats_url: self.nats.url.clone(),
            auth_dir: self.auth_dir.path().to_path_buf(),
            database_url: self.database_url(),
            redis_url: self.redis.url.clone(),
            smtp_port: self.smtp.smtp_port,
            stream_replicas: 1,
            heartbeat_secs: self.tuning.heartbeat_secs,
        };
        let mut env = service_env(Service::Gateway, &endpoints, admin, Some(http));
        env.extend(self.tuning.limits.env());
        env.push((
            "SHOWROOM_ADMISSION_ACK_MS".into(),
            self.tuning.admission_ack_ms.to_string(),
        ));
        env.extend(extra_env.iter().cloned());
        let child = spawn_ready(binary, args, &env, admin, None).await?;
        Ok(GatewayProcess {
            base_url: format!("http://127.0.0.1:{http}"),
            admin_url: format!("http://127.0.0.1:{admin}"),
            _child: child,
        })
    }

    /// Stops every service (gracefully), then the servers. Fails if NATS refused a service
    /// anything its permissions do not allow (`showroom_proto::access` is missing a subject).
    pub async fn stop(mut self) -> anyhow::Result<()> {
        while let Some((_, r)) = self.running.pop() {
            r.stop().await?;
        }
        let violations = self.permission_violations();
        anyhow::ensure!(
            violations.is_empty(),
            "NATS refused these as outside the users' permissions:\n{}",
            violations.join("\n")
        );
        Ok(())
    }

    /// The permission violations NATS logged so far on the services' connections (a test's own
    /// clients, e.g. an integrator tried outside its rights, do not count).
    pub fn permission_violations(&self) -> Vec<String> {
        // nats-server names each connection `"<version>:<lang>:<name>"` in its log.
        let services: Vec<String> = Service::ALL
            .iter()
            .map(|s| s.name())
            .chain(["crm-export-system"])
            .map(|n| format!(":{n}\""))
            .collect();
        self.nats
            .log()
            .lines()
            .filter(|l| l.contains("Violation") && services.iter().any(|n| l.contains(n.as_str())))
            .map(str::to_string)
            .collect()
    }
}
