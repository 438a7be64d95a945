//! The `showroom-presence` binary: configuration from the environment, then [`showroom_presence::start`].

use anyhow::Context;

showroom_runtime::jemalloc!();

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = showroom_telemetry::init("presence")?;
    let config = showroom_presence::Config::from_env().context("reading configuration")?;
    let shutdown = showroom_telemetry::shutdown_on_signals();
    let running = showroom_presence::start(config, shutdown)
        .await
        .context("starting presence")?;
    running.wait().await
}
