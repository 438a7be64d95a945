//! The `showroom-notification` binary: configuration from the environment, then [`showroom_notification::start`].

use anyhow::Context;

showroom_runtime::jemalloc!();

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = showroom_telemetry::init("notification")?;
    let config = showroom_notification::Config::from_env().context("reading configuration")?;
    let shutdown = showroom_telemetry::shutdown_on_signals();
    let running = showroom_notification::start(config, shutdown)
        .await
        .context("starting notification")?;
    running.wait().await
}
