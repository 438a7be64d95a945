//! The crm-export service: delivers leads to dealer CRMs: ADF e-mail and signed webhooks, exactly once.
//!
//! It owns the DELIVERIES stream (`showroom.v1.<group>.delivery.*`), created here at start.
//! ADF e-mail and webhooks arrive with the CRM export issue.
//!
//! # Layout
//! - [`Config`]: the service's typed configuration (`SHOWROOM_*` variables).
//! - [`start`]: connects, registers as `crm-export` with the NATS service API, serves `/healthz`
//!   and `/readyz`, and runs until the shutdown token is cancelled.

use anyhow::Context;
use serde::{Deserialize, Serialize};
use showroom_config::{Common, ConfigError};
use showroom_proto::v1;
use showroom_runtime::{Base, Running, Settings};
use tokio_util::sync::CancellationToken;

/// The name under which the service registers with the NATS service API.
pub const NAME: &str = "crm-export";

const DESCRIPTION: &str =
    "Delivers leads to dealer CRMs: ADF e-mail and signed webhooks, exactly once.";

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
            common: Common::with_admin_port(9106),
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
        .ensure_stream(&v1::deliveries_stream())
        .await
        .context("creating the stream this service owns")?;
    let readiness = base.readiness();
    base.finish(readiness, None, async {}).await
}
