//! The `showroom-lead-capture` binary: configuration from the environment, then [`showroom_lead_capture::start`].

use anyhow::Context;

showroom_runtime::jemalloc!();

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = showroom_telemetry::init("lead-capture")?;
    let config = showroom_lead_capture::Config::from_env().context("reading configuration")?;
    let shutdown = showroom_telemetry::shutdown_on_signals();
    let running = showroom_lead_capture::start(config, shutdown)
        .await
        .context("starting lead-capture")?;
    running.wait().await
}
