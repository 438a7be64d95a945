//! The `showroom-bot` binary: configuration from the environment, then [`showroom_bot::start`].

use anyhow::Context;

showroom_runtime::jemalloc!();

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = showroom_telemetry::init("bot")?;
    let config = showroom_bot::Config::from_env().context("reading configuration")?;
    let shutdown = showroom_telemetry::shutdown_on_signals();
    let running = showroom_bot::start(config, shutdown)
        .await
        .context("starting bot")?;
    running.wait().await
}
