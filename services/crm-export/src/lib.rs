//! The crm-export service: delivers every new lead to the dealer's CRM destinations (ADF
//! e-mail, signed webhooks) exactly once from the receiver's view.
//!
//! It follows `lead.created` on the LEADS stream (CloudEvents), turns each into one delivery
//! row per matching destination in the transaction that records the event as handled, and
//! delivers those rows from Postgres: workers claim due rows with `FOR UPDATE SKIP LOCKED`
//! under a lease, so replicas share the work and a dead worker's row comes back. A delivery
//! keeps one id for life (the `webhook-id`, the `Message-ID`), so a retry after a crash is
//! recognisably the same lead. It owns the DELIVERIES stream, created here at start, where it
//! reports outcomes through an outbox. See `docs/crm-export.md`.
//!
//! # Layout
//! - [`Config`]: the service's typed configuration (`SHOWROOM_*` variables).
//! - [`start`]: connects, creates DELIVERIES, serves the `crm.*` requests, follows the leads,
//!   runs the delivery workers and the outbox relay until the shutdown token is cancelled.
//! - [`destinations`]: destinations per rooftop and department, checked and stored.
//! - [`intake`]: `lead.created` events become their deliveries, a batch per statement.
//! - [`worker`]: claiming due deliveries, attempting them, recording outcomes in batches; test
//!   sends.
//! - [`retention`]: its part of retention and shoppers' rights: the sweep of its tables past
//!   their group's period, erasing and exporting one shopper's rows.
//! - [`answer`]: what a destination answered to one attempt (senders return it, workers
//!   record it).
//! - [`log`]: the delivery log, the dead letters, redelivery.
//! - [`schedule`]: the retry schedule, its jitter, `Retry-After`.
//! - [`adf`]: the ADF 1.0 XML of a lead; [`adf_appointments`]: its appointments there.
//! - [`email`]: sending ADF e-mails over SMTP connections kept open, with `TCP_NODELAY`,
//!   pipelined where the server offers it.
//! - [`webhook`]: Standard Webhooks signing and sending, private addresses refused.
//! - [`outbox`]: `delivery.*` events written with their outcome, published after commit.
//! - [`integrations`]: integrators' NATS credentials: issued, listed, revoked (`docs/security.md`).

pub mod adf;
pub mod adf_appointments;
pub mod answer;
pub mod destinations;
pub mod email;
pub mod intake;
pub mod integrations;
pub mod log;
pub mod outbox;
pub mod retention;
pub mod schedule;
pub mod webhook;
pub mod worker;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use showroom_config::{Common, ConfigError, Secret};
use showroom_proto::Envelope;
use showroom_proto::delivery::{
    CrmCommand, DeadLetterQuery, DeliveryQuery, DestinationRef, ListDestinations, PutDestination,
    Redeliver,
};
use showroom_proto::integration::{IssueIntegration, ListIntegrations, RevokeIntegration};
use showroom_proto::v1::{self, Group};
use showroom_runtime::{Base, Running, Settings};
use tokio_util::sync::CancellationToken;

use crate::worker::Ctx;
pub(crate) use showroom_store::fault::db_error;

/// The name under which the service registers with the NATS service API.
pub const NAME: &str = "crm-export";

const DESCRIPTION: &str =
    "Delivers leads to dealer CRMs: ADF e-mail and signed webhooks, exactly once.";

/// Configuration: the shared fields and the delivery settings, overridden by `SHOWROOM_*`
/// environment variables.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Config {
    /// NATS, Postgres and the admin port.
    #[serde(flatten)]
    pub common: Common,
    /// The SMTP server ADF e-mails go through: `smtp://host:port` (plain), `smtp://…?tls=required`
    /// (STARTTLS), `smtps://host:port` (TLS); `user:password@` for credentials, hence secret.
    pub smtp_url: Secret,
    /// The e-mails' sender, e.g. `Showroom Leads <leads@showroom.example>`; its domain ends the
    /// `Message-ID`s.
    pub smtp_from: String,
    /// How long one e-mail may take (a new connection's greeting included), in ms.
    pub smtp_timeout_ms: u64,
    /// How long one webhook request may take (connect to last byte), in ms.
    pub webhook_timeout_ms: u64,
    /// Allow webhooks to loopback and private addresses (tests, a dev machine). Off in
    /// production, so a destination cannot reach into the cluster.
    pub webhook_allow_private: bool,
    /// Waits before each retry after a failed attempt, e.g. `5s 5m 30m 2h 5h 10h 14h 20h 24h`
    /// (units `ms`, `s`, `m`, `h`); after the last one fails the delivery is dead-lettered.
    pub retry_schedule: String,
    /// How long a worker's claim on a delivery lasts, in ms: if it dies mid-attempt, the
    /// delivery is due again after this. Longer than both time-outs.
    pub claim_lease_ms: u64,
    /// How often each replica looks for due deliveries, in ms (new leads wake it at once).
    pub poll_ms: u64,
    /// Most attempts a replica runs at once.
    pub max_in_flight: usize,
    /// Most attempts in flight to one destination at once, so one dealer's slow or dead
    /// endpoint with a backlog cannot take every slot and hold up everyone else's leads. At
    /// least 1; above `max_in_flight` it is `max_in_flight`. Counted from the claims in the
    /// database, so it holds across replicas too, though only approximately (see
    /// [`worker`]).
    pub per_destination_in_flight: usize,
    /// How long a test send may take, in ms (it answers a request that waits 5 s).
    pub test_timeout_ms: u64,
    /// How often the relay publishes `delivery.*` events a dead replica left, in ms.
    pub outbox_relay_ms: u64,
    /// The keys that issue and revoke integrators' NATS credentials: `issuer.json` from
    /// `showroom-trust` (the application account, its integrator signing seed, the operator
    /// signing seed), mounted from a Secret. Unset: integrations answer that they are not set up.
    #[serde(default)]
    pub nats_issuer: Option<std::path::PathBuf>,
    /// A system-account user's credentials (`system.creds`), to publish revocations and to see
    /// integrators connect.
    #[serde(default)]
    pub nats_system_creds: Option<std::path::PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            common: Common::with_admin_port(9106),
            smtp_url: Secret::new("smtp://127.0.0.1:1025"),
            smtp_from: "Showroom Leads <leads@showroom.localhost>".into(),
            smtp_timeout_ms: 30_000,
            webhook_timeout_ms: 15_000,
            webhook_allow_private: false,
            retry_schedule: schedule::DEFAULT.into(),
            claim_lease_ms: 120_000,
            poll_ms: 1000,
            max_in_flight: 16,
            per_destination_in_flight: 4,
            test_timeout_ms: 4000,
            outbox_relay_ms: 1000,
            nats_issuer: None,
            nats_system_creds: None,
        }
    }
}

impl Config {
    /// Defaults overridden by the environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        showroom_config::load()
    }

    /// The attempt slots of a replica, and the most of them one destination may hold:
    /// `per_destination_in_flight` must be at least 1 and is clamped to `max_in_flight`.
    pub fn slots(&self) -> anyhow::Result<(usize, usize)> {
        anyhow::ensure!(
            self.per_destination_in_flight >= 1,
            "SHOWROOM_PER_DESTINATION_IN_FLIGHT must be at least 1"
        );
        let max = self.max_in_flight.max(1);
        Ok((max, self.per_destination_in_flight.min(max)))
    }
}

/// Starts the service; it runs until `shutdown` is cancelled.
pub async fn start(config: Config, shutdown: CancellationToken) -> anyhow::Result<Running> {
    showroom_config::set_by_operator("SHOWROOM_SMTP_FROM", &config.smtp_from)?;
    let schedule = schedule::Schedule::parse(&config.retry_schedule)
        .map_err(|e| anyhow::anyhow!("SHOWROOM_RETRY_SCHEDULE: {e}"))?;
    let lease = Duration::from_millis(config.claim_lease_ms);
    let longest = config.webhook_timeout_ms.max(config.smtp_timeout_ms);
    anyhow::ensure!(
        config.claim_lease_ms > longest,
        "SHOWROOM_CLAIM_LEASE_MS ({}) must be longer than the webhook and SMTP time-outs ({longest})",
        config.claim_lease_ms
    );
    let (max_in_flight, per_destination) = config.slots()?;
    let mailer = email::Mailer::new(
        config.smtp_url.expose(),
        &config.smtp_from,
        Duration::from_millis(config.smtp_timeout_ms),
        max_in_flight,
    )
    .context("SHOWROOM_SMTP_URL / SHOWROOM_SMTP_FROM")?;
    let webhooks = webhook::Sender::new(
        Duration::from_millis(config.webhook_timeout_ms),
        config.webhook_allow_private,
    )
    .context("building the webhook client")?;

    let settings = Settings::new(NAME, env!("CARGO_PKG_VERSION"), DESCRIPTION, &config.common);
    let base = Base::start(settings, shutdown).await?;
    base.bus
        .ensure_stream(&v1::deliveries_stream(), config.common.stream_replicas)
        .await
        .context("creating the stream this service owns")?;

    let (ctx, outcomes) = Ctx::new(
        base.bus.clone(),
        base.pool.clone(),
        mailer,
        webhooks,
        schedule,
        lease,
        max_in_flight,
        per_destination,
        Duration::from_millis(config.test_timeout_ms),
        base.tracker.clone(),
        base.shutdown.clone(),
    );
    let ctx = Arc::new(ctx);
    let issuer = integrations_issuer(&config, &base).await?;
    if let Some(i) = &issuer {
        integrations::run(
            i.clone(),
            base.pool.clone(),
            &base.tracker,
            base.shutdown.clone(),
        );
    }
    serve(&base, &ctx, issuer).await?;
    intake::follow(&base, ctx.clone());
    base.tracker
        .spawn(worker::record_outcomes(ctx.clone(), outcomes));
    base.tracker.spawn(worker::run(
        ctx.clone(),
        Duration::from_millis(config.poll_ms.max(10)),
    ));
    base.relay_outbox(
        showroom_runtime::outbox::Outbox::Crm,
        Duration::from_millis(config.outbox_relay_ms.max(50)),
    );
    let schedule = showroom_runtime::retention::Schedule::from_env()?;
    showroom_runtime::retention::serve(&base, &retention::OWNER, schedule).await?;
    let readiness = base.readiness();
    base.finish(readiness, None, async {}).await
}

/// What issues integrators' credentials, when both its settings are given.
async fn integrations_issuer(
    config: &Config,
    base: &Base,
) -> anyhow::Result<Option<Arc<integrations::Issuer>>> {
    let (Some(keys), Some(system)) = (&config.nats_issuer, &config.nats_system_creds) else {
        if config.nats_issuer.is_some() || config.nats_system_creds.is_some() {
            anyhow::bail!("SHOWROOM_NATS_ISSUER and SHOWROOM_NATS_SYSTEM_CREDS go together");
        }
        tracing::info!("integrator credentials are off (no SHOWROOM_NATS_ISSUER)");
        return Ok(None);
    };
    let read = |p: &std::path::Path| {
        std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))
    };
    let keys: showroom_natsauth::IssuerKeys =
        serde_json::from_str(&read(keys)?).with_context(|| {
            format!(
                "SHOWROOM_NATS_ISSUER ({}) is not issuer.json",
                keys.display()
            )
        })?;
    let creds = read(system)?;
    let login = showroom_bus::Login {
        name: "crm-export-system",
        creds: Some(&creds),
        ca: config.common.nats_ca.as_deref(),
    };
    let system = showroom_bus::client(&config.common.nats_url, login)
        .await
        .context("connecting to NATS's system account (SHOWROOM_NATS_SYSTEM_CREDS)")?;
    Ok(Some(Arc::new(integrations::Issuer::new(
        keys,
        system,
        base.bus.js.clone(),
    ))))
}

/// The `crm.*` request endpoints.
async fn serve(
    base: &Base,
    ctx: &Arc<Ctx>,
    issuer: Option<Arc<integrations::Issuer>>,
) -> anyhow::Result<()> {
    let c = ctx.clone();
    base.host
        .serve(
            "list_destinations",
            v1::crm_command(Group::Any, CrmCommand::ListDestinations),
            move |group, env: Envelope<ListDestinations>| {
                let c = c.clone();
                async move { destinations::list(&c.pool, group, env.data).await }
            },
        )
        .await?;
    let c = ctx.clone();
    base.host
        .serve(
            "put_destination",
            v1::crm_command(Group::Any, CrmCommand::PutDestination),
            move |group, env: Envelope<PutDestination>| {
                let c = c.clone();
                async move { destinations::put(&c.pool, group, env.data).await }
            },
        )
        .await?;
    let c = ctx.clone();
    base.host
        .serve(
            "delete_destination",
            v1::crm_command(Group::Any, CrmCommand::DeleteDestination),
            move |group, env: Envelope<DestinationRef>| {
                let c = c.clone();
                async move { destinations::delete(&c.pool, group, env.data).await }
            },
        )
        .await?;
    let c = ctx.clone();
    base.host
        .serve(
            "test_send",
            v1::crm_command(Group::Any, CrmCommand::TestSend),
            move |group, env: Envelope<DestinationRef>| {
                let c = c.clone();
                async move { worker::test_send(&c, group, env.data).await }
            },
        )
        .await?;
    let c = ctx.clone();
    base.host
        .serve(
            "deliveries",
            v1::crm_command(Group::Any, CrmCommand::Deliveries),
            move |group, env: Envelope<DeliveryQuery>| {
                let c = c.clone();
                async move { log::deliveries(&c.pool, group, env.data).await }
            },
        )
        .await?;
    let c = ctx.clone();
    base.host
        .serve(
            "dead_letters",
            v1::crm_command(Group::Any, CrmCommand::DeadLetters),
            move |group, env: Envelope<DeadLetterQuery>| {
                let c = c.clone();
                async move { log::dead_letters(&c.pool, group, env.data).await }
            },
        )
        .await?;
    let c = ctx.clone();
    base.host
        .serve(
            "redeliver",
            v1::crm_command(Group::Any, CrmCommand::Redeliver),
            move |group, env: Envelope<Redeliver>| {
                let c = c.clone();
                async move {
                    let d = log::redeliver(&c.pool, group, env.data).await?;
                    c.wake();
                    Ok(d)
                }
            },
        )
        .await?;
    let c = ctx.clone();
    base.host
        .serve(
            "list_integrations",
            v1::crm_command(Group::Any, CrmCommand::ListIntegrations),
            move |group, _env: Envelope<ListIntegrations>| {
                let c = c.clone();
                async move { integrations::list(&c.pool, group).await }
            },
        )
        .await?;
    let (c, i) = (ctx.clone(), issuer.clone());
    base.host
        .serve(
            "issue_integration",
            v1::crm_command(Group::Any, CrmCommand::IssueIntegration),
            move |group, env: Envelope<IssueIntegration>| {
                let (c, i) = (c.clone(), i.clone());
                async move { integrations::issue(i.as_deref(), &c.pool, group, env.data).await }
            },
        )
        .await?;
    let c = ctx.clone();
    base.host
        .serve(
            "revoke_integration",
            v1::crm_command(Group::Any, CrmCommand::RevokeIntegration),
            move |group, env: Envelope<RevokeIntegration>| {
                let (c, i) = (c.clone(), issuer.clone());
                async move { integrations::revoke(i.as_deref(), &c.pool, group, env.data).await }
            },
        )
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_overrides_the_delivery_settings() {
        let c: Config = showroom_config::load_from([
            ("RETRY_SCHEDULE", "1s 2s"),
            (
                "SMTP_URL",
                "smtp://mailer:hunter2@relay.example:587?tls=required",
            ),
            ("WEBHOOK_ALLOW_PRIVATE", "true"),
            ("CLAIM_LEASE_MS", "60000"),
            ("PER_DESTINATION_IN_FLIGHT", "2"),
        ])
        .unwrap();
        assert_eq!(c.per_destination_in_flight, 2);
        assert_eq!(c.slots().unwrap(), (16, 2));
        assert_eq!(c.retry_schedule, "1s 2s");
        assert!(c.webhook_allow_private);
        assert_eq!(c.claim_lease_ms, 60_000);
        assert!(schedule::Schedule::parse(&c.retry_schedule).is_ok());
        assert!(
            !format!("{c:?}").contains("hunter2"),
            "the SMTP password is secret"
        );
        assert_eq!(Config::default().retry_schedule, schedule::DEFAULT);
    }

    #[test]
    fn the_per_destination_cap_is_at_least_one_and_at_most_the_slots() {
        let d = Config::default();
        assert_eq!(d.slots().unwrap(), (16, 4));
        let c = Config {
            max_in_flight: 3,
            ..Config::default()
        };
        assert_eq!(c.slots().unwrap(), (3, 3), "clamped to max_in_flight");
        let c = Config {
            per_destination_in_flight: 0,
            ..Config::default()
        };
        let e = c.slots().unwrap_err().to_string();
        assert!(e.contains("SHOWROOM_PER_DESTINATION_IN_FLIGHT"), "{e}");
    }
}
