//! The bot service: greets shoppers and runs the Lead Gate, forms and offline flows before handing chats to the router.
//!
//! The Lead Gate, forms and the leave-a-message flow arrive with the bot issue; today the service
//! starts, registers and reports its health like every other.
//!
//! # Layout
//! - [`Config`]: the service's typed configuration (`SHOWROOM_*` variables).
//! - [`start`]: connects, registers as `bot` with the NATS service API, serves `/healthz`
//!   and `/readyz`, and runs until the shutdown token is cancelled.

use serde::{Deserialize, Serialize};
use showroom_config::{Common, ConfigError};
use showroom_runtime::{Base, Running, Settings};
use tokio_util::sync::CancellationToken;

/// The name under which the service registers with the NATS service API.
pub const NAME: &str = "bot";

const DESCRIPTION: &str = "Greets shoppers and runs the Lead Gate, forms and offline flows before handing chats to the router.";

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
            common: Common::with_admin_port(9103),
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
    let readiness = base.readiness();
    base.finish(readiness, None, async {}).await
}
