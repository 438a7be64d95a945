//! Starting a service as its own process, as its Kubernetes Deployment does: which services
//! there are, the environment each runs with, spawning one and waiting until it is ready. Shared
//! by [`crate::Stack`]'s extra gateways and the [`crate::Fleet`]; imports neither.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use tokio::process::Child;

/// The seven services.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// Edge.
    Gateway,
    /// Presence.
    Presence,
    /// Router.
    Router,
    /// Bot.
    Bot,
    /// Lead capture.
    LeadCapture,
    /// Notifications.
    Notification,
    /// CRM export.
    CrmExport,
}

impl Service {
    /// Every service, in start order (stream owners before their readers).
    pub const ALL: [Service; 7] = [
        Service::Presence,
        Service::Router,
        Service::Gateway,
        Service::Bot,
        Service::LeadCapture,
        Service::Notification,
        Service::CrmExport,
    ];

    /// Its registered name.
    pub fn name(self) -> &'static str {
        match self {
            Service::Gateway => showroom_gateway::NAME,
            Service::Presence => showroom_presence::NAME,
            Service::Router => showroom_router::NAME,
            Service::Bot => showroom_bot::NAME,
            Service::LeadCapture => showroom_lead_capture::NAME,
            Service::Notification => showroom_notification::NAME,
            Service::CrmExport => showroom_crm_export::NAME,
        }
    }
}

/// The visitor token key of test stacks (a restarted gateway keeps accepting old tokens).
pub const VISITOR_SECRET: &str = "test-visitor-secret-0123456789abcdef";

/// Where maildev is installed: `$SHOWROOM_MAILDEV_DIR`, else the repo's `deploy/`
/// (deploy/install.sh runs `npm ci --prefix deploy`).
pub(crate) fn maildev_dir() -> std::path::PathBuf {
    std::env::var_os("SHOWROOM_MAILDEV_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
        })
}

/// Where a service process finds the servers.
pub(crate) struct Endpoints {
    /// One URL or a comma-separated list.
    pub(crate) nats_url: String,
    /// Holds `<service>.creds`, `issuer.json`, `system.creds`.
    pub(crate) auth_dir: PathBuf,
    pub(crate) database_url: String,
    pub(crate) redis_url: String,
    pub(crate) smtp_port: u16,
    pub(crate) stream_replicas: usize,
    pub(crate) heartbeat_secs: u64,
}

/// The environment a service process runs with (what its Kubernetes Deployment sets), with the
/// test stacks' short timings.
pub(crate) fn service_env(
    service: Service,
    e: &Endpoints,
    admin_port: u16,
    http_port: Option<u16>,
) -> Vec<(String, String)> {
    let name = service.name();
    let mut env: Vec<(&str, String)> = vec![
        ("SHOWROOM_NATS_URL", e.nats_url.clone()),
        (
            "SHOWROOM_NATS_CREDS",
            e.auth_dir
                .join(format!("{name}.creds"))
                .display()
                .to_string(),
        ),
        ("SHOWROOM_DATABASE_URL", e.database_url.clone()),
        ("SHOWROOM_ADMIN_ADDR", format!("127.0.0.1:{admin_port}")),
        ("SHOWROOM_RUN_MIGRATIONS", "false".into()),
        ("SHOWROOM_MAX_DB_CONNECTIONS", "5".into()),
        ("SHOWROOM_STREAM_REPLICAS", e.stream_replicas.to_string()),
        ("RUST_LOG", "warn".into()),
    ];
    let smtp = format!("smtp://127.0.0.1:{}", e.smtp_port);
    let console = "http://127.0.0.1/console".to_string();
    match service {
        Service::Gateway => env.extend([
            (
                "SHOWROOM_HTTP_ADDR",
                format!("127.0.0.1:{}", http_port.unwrap_or(0)),
            ),
            ("SHOWROOM_VISITOR_TOKEN_SECRET", VISITOR_SECRET.into()),
            (
                "SHOWROOM_HEARTBEAT_INTERVAL_SECS",
                e.heartbeat_secs.to_string(),
            ),
            // Plain http on loopback: a `Secure` cookie would not come back.
            ("SHOWROOM_SECURE_COOKIES", "false".into()),
            // The limits every gateway shares (logins, conversations, uploads).
            ("SHOWROOM_REDIS_URL", e.redis_url.clone()),
        ]),
        Service::Presence => env.push(("SHOWROOM_REDIS_URL", e.redis_url.clone())),
        Service::Router => env.push(("SHOWROOM_TIMER_TICK_MS", "100".into())),
        Service::Bot => env.push(("SHOWROOM_SWEEP_MS", "500".into())),
        Service::LeadCapture => env.push(("SHOWROOM_CONSOLE_URL", console)),
        Service::Notification => env.extend([
            ("SHOWROOM_SMTP_URL", smtp),
            // Desktop notices' coalescing marks.
            ("SHOWROOM_REDIS_URL", e.redis_url.clone()),
            ("SHOWROOM_COALESCE_SECS", "2".into()),
            ("SHOWROOM_TRANSCRIPT_AFTER_SECS", "3".into()),
            ("SHOWROOM_SWEEP_MS", "200".into()),
            ("SHOWROOM_CONSOLE_URL", console),
        ]),
        Service::CrmExport => env.extend([
            ("SHOWROOM_SMTP_URL", smtp),
            (
                "SHOWROOM_NATS_ISSUER",
                e.auth_dir.join("issuer.json").display().to_string(),
            ),
            (
                "SHOWROOM_NATS_SYSTEM_CREDS",
                e.auth_dir.join("system.creds").display().to_string(),
            ),
            // Retries that outlast a fault: nothing dead-letters while a node is down.
            ("SHOWROOM_RETRY_SCHEDULE", "1s 2s 4s 8s 16s 30s".into()),
            ("SHOWROOM_WEBHOOK_TIMEOUT_MS", "2000".into()),
            ("SHOWROOM_SMTP_TIMEOUT_MS", "2000".into()),
            ("SHOWROOM_CLAIM_LEASE_MS", "3000".into()),
            ("SHOWROOM_POLL_MS", "50".into()),
            ("SHOWROOM_OUTBOX_RELAY_MS", "200".into()),
            ("SHOWROOM_WEBHOOK_ALLOW_PRIVATE", "true".into()),
        ]),
    }
    env.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// Spawns `binary` (with `args`) in `env` only, its output appended to `log`, killed when the
/// child is dropped; waits until its admin port says ready.
pub(crate) async fn spawn_ready(
    binary: &Path,
    args: &[&str],
    env: &[(String, String)],
    admin_port: u16,
    log: Option<&Path>,
) -> anyhow::Result<Child> {
    let (out, err) = match log {
        Some(path) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?;
            (Stdio::from(file.try_clone()?), Stdio::from(file))
        }
        // Warnings and errors show in the test's output.
        None => (Stdio::null(), Stdio::inherit()),
    };
    let mut child = tokio::process::Command::new(binary)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(out)
        .stderr(err)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    let ready = format!("http://127.0.0.1:{admin_port}/readyz");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let client = reqwest::Client::new();
    loop {
        if let Ok(r) = client.get(&ready).send().await
            && r.status().is_success()
        {
            return Ok(child);
        }
        if let Some(status) = child.try_wait()? {
            anyhow::bail!(
                "{} {args:?} exited at start ({status}){}",
                binary.display(),
                log.map(|l| format!(": {}", tail(l))).unwrap_or_default()
            );
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "{} {args:?} was not ready within 60 s",
            binary.display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The last lines of a log file.
pub(crate) fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}
