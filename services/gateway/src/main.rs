//! The `showroom-gateway` binary: configuration from the environment, then [`showroom_gateway::start`].

use anyhow::Context;

/// jemalloc with its background thread, which returns freed pages to the system as they decay
/// (about ten seconds): when thousands of sockets close after a peak, the gateway's resident
/// memory falls back. glibc's allocator and mimalloc kept it (idle worker threads never gave
/// their freed pages back). Measured by `showroom-loadtest sockets`.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

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
