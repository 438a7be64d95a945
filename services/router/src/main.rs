//! The `showroom-router` binary: configuration from the environment, then [`showroom_router::start`].

use anyhow::Context;

showroom_runtime::jemalloc!();

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = showroom_telemetry::init("router")?;
    let config = showroom_router::Config::from_env().context("reading configuration")?;
    let shutdown = showroom_telemetry::shutdown_on_signals();
    let running = showroom_router::start(config, shutdown)
        .await
        .context("starting router")?;
    running.wait().await
}
