//! The lead-capture service: turns missed chats, messages left and agents' actions into leads and contacts.
//!
//! It owns the LEADS stream (`showroom.v1.<group>.lead.created|updated`), created here at start so
//! integrators can subscribe before the first lead. Lead making arrives with the leads issue.
//!
//! # Layout
//! - [`Config`]: the service's typed configuration (`SHOWROOM_*` variables).
//! - [`start`]: connects, registers as `lead-capture` with the NATS service API, serves `/healthz`
//!   and `/readyz`, and runs until the shutdown token is cancelled.

use anyhow::Context;
use serde::{Deserialize, Serialize};
use showroom_config::{Common, ConfigError};
use showroom_proto::v1;
use showroom_runtime::{Base, Running, Settings};
use tokio_util::sync::CancellationToken;

/// The name under which the service registers with the NATS service API.
pub const NAME: &str = "lead-capture";

const DESCRIPTION: &str =
    "Turns missed chats, messages left and agents' actions into leads and contacts.";

/// Configuration: the shared fields, overridden by `SHOWROOM_*` environment variables.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Config {
    /// NATS, Postgres and the admin port.
    #[serde(flatten)]
    pub common: Common,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            common: Common::with_admin_port(9104),
        }
    }
}

impl Config {
    /// Defaults overridden by the environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        showroom_config::load()
    }
}

/// Starts the service; it runs until `shutdown` is cancelled.
pub async fn start(config: Config, shutdown: CancellationToken) -> anyhow::Result<Running> {
    let settings = Settings::new(NAME, env!("CARGO_PKG_VERSION"), DESCRIPTION, &config.common);
    let base = Base::start(settings, shutdown).await?;
    base.bus
        .ensure_stream(&v1::leads_stream())
        .await
        .context("creating the stream this service owns")?;
    let readiness = base.readiness();
    base.finish(readiness, None, async {}).await
}
