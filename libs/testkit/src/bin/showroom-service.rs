//! `showroom-service <name>`: any of the seven services, configured from the environment
//! exactly as its own binary is (`SHOWROOM_*`), in one program, so tests can run every service
//! as processes of its own ([`showroom_testkit::Stack::service_process`]) without knowing
//! where Cargo put seven binaries. Test-only; production runs each service's own binary.

use anyhow::{Context, bail};
use showroom_runtime::Running;
use tokio_util::sync::CancellationToken;

showroom_runtime::jemalloc!();

async fn start(name: &str, shutdown: CancellationToken) -> anyhow::Result<Running> {
    Ok(match name {
        showroom_gateway::NAME => {
            showroom_gateway::start(showroom_gateway::Config::from_env()?, shutdown).await?
        }
        showroom_presence::NAME => {
            showroom_presence::start(showroom_presence::Config::from_env()?, shutdown).await?
        }
        showroom_router::NAME => {
            showroom_router::start(showroom_router::Config::from_env()?, shutdown).await?
        }
        showroom_bot::NAME => {
            showroom_bot::start(showroom_bot::Config::from_env()?, shutdown).await?
        }
        showroom_lead_capture::NAME => {
            showroom_lead_capture::start(showroom_lead_capture::Config::from_env()?, shutdown)
                .await?
        }
        showroom_notification::NAME => {
            showroom_notification::start(showroom_notification::Config::from_env()?, shutdown)
                .await?
        }
        showroom_crm_export::NAME => {
            showroom_crm_export::start(showroom_crm_export::Config::from_env()?, shutdown).await?
        }
        other => bail!("no service is called {other:?}"),
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let name = std::env::args()
        .nth(1)
        .context("usage: showroom-service <gateway|presence|router|bot|lead-capture|notification|crm-export>")?;
    let _telemetry = showroom_telemetry::init(Box::leak(name.clone().into_boxed_str()))?;
    let shutdown = showroom_telemetry::shutdown_on_signals();
    let running = start(&name, shutdown)
        .await
        .with_context(|| format!("starting {name}"))?;
    running.wait().await
}
