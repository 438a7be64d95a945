//! The `showroom-crm-export` binary: configuration from the environment, then [`showroom_crm_export::start`].

use anyhow::Context;

showroom_runtime::jemalloc!();

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = showroom_telemetry::init("crm-export")?;
    let config = showroom_crm_export::Config::from_env().context("reading configuration")?;
    let shutdown = showroom_telemetry::shutdown_on_signals();
    let running = showroom_crm_export::start(config, shutdown)
        .await
        .context("starting crm-export")?;
    running.wait().await
}
