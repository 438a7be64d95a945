//! The admin HTTP server: liveness and readiness probes and Prometheus metrics on a port of
//! their own.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use futures::future::BoxFuture;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::metrics::Collectors;

type Check = Arc<dyn Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// The connections a service needs to do its work; `/readyz` is 200 only while all are up.
#[derive(Clone, Default)]
pub struct Readiness {
    checks: Vec<(&'static str, Check)>,
}

impl Readiness {
    /// Adds a named check (e.g. "nats", "postgres", "redis").
    pub fn with<F>(mut self, name: &'static str, check: F) -> Self
    where
        F: Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync + 'static,
    {
        self.checks.push((name, Arc::new(check)));
        self
    }

    /// Runs every check (each bounded to 2 s) and reports each by name.
    pub async fn run(&self) -> BTreeMap<&'static str, Result<(), String>> {
        let runs = self.checks.iter().map(|(name, check)| async move {
            let r = match tokio::time::timeout(Duration::from_secs(2), check()).await {
                Ok(r) => r,
                Err(_) => Err("timed out".to_string()),
            };
            (*name, r)
        });
        futures::future::join_all(runs).await.into_iter().collect()
    }
}

#[derive(Clone)]
struct AdminState {
    readiness: Readiness,
    collectors: Collectors,
    shutdown: CancellationToken,
}

/// A running admin server.
pub struct AdminServer {
    /// Where it listens (the real port when configured with port 0).
    pub addr: SocketAddr,
    /// Ends when the shutdown token is cancelled.
    pub handle: JoinHandle<()>,
}

/// Binds `addr` and serves `GET /healthz` (always 200 while the process runs) and
/// `GET /readyz` (200 while every readiness check passes and no shutdown is under way,
/// otherwise 503 naming what is down) and `GET /metrics` (the Prometheus text format, after
/// `collectors` have run).
pub async fn serve(
    addr: SocketAddr,
    readiness: Readiness,
    collectors: Collectors,
    shutdown: CancellationToken,
) -> std::io::Result<AdminServer> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let app = axum::Router::new()
        .route(
            "/healthz",
            get(|| async { Json(serde_json::json!({"status": "alive"})) }),
        )
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(AdminState {
            readiness,
            collectors,
            shutdown: shutdown.clone(),
        });
    let handle = tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "admin server failed");
        }
    });
    Ok(AdminServer { addr, handle })
}

async fn readyz(State(state): State<AdminState>) -> impl IntoResponse {
    if state.shutdown.is_cancelled() {
        let body = serde_json::json!({"status": "draining"});
        return (StatusCode::SERVICE_UNAVAILABLE, Json(body));
    }
    let results = state.readiness.run().await;
    let ready = results.values().all(Result::is_ok);
    let checks: BTreeMap<_, _> = results
        .into_iter()
        .map(|(name, r)| (name, r.err().unwrap_or_else(|| "ok".to_string())))
        .collect();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body =
        serde_json::json!({"status": if ready { "ready" } else { "not_ready" }, "checks": checks});
    (status, Json(body))
}

async fn metrics(State(state): State<AdminState>) -> impl IntoResponse {
    state.collectors.run().await;
    let body = crate::metrics::render()
        .unwrap_or_else(|| "# no metrics recorder in this process\n".to_string());
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
}
