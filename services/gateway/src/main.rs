//! The `showroom-gateway` binary: configuration from the environment, then [`showroom_gateway::start`].

use anyhow::Context;

showroom_runtime::jemalloc!();

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = showroom_telemetry::init("gateway")?;
    let config = showroom_gateway::Config::from_env().context("reading configuration")?;
    let shutdown = showroom_telemetry::shutdown_on_signals();
    let running = showroom_gateway::start(config, shutdown)
        .await
        .context("starting gateway")?;
    running.wait().await
}
