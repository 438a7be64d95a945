//! The notification service: tells agents (desktop notices pushed to their consoles, e-mails
//! to managers) and shoppers (their transcript by e-mail) what they need to know.
//!
//! # Layout
//! - [`Config`]: the service's typed configuration (`SHOWROOM_*` variables).
//! - [`start`]: connects, registers as `notification` with the NATS service API (agents'
//!   choices, websites' e-mail settings, shoppers' transcript requests, appointment confirmations), follows conversations, messages and messages left,
//!   mails due transcripts, and runs until the shutdown token is cancelled.
//! - [`notices`]: who hears of what: desktop notices (coalesced), missed-chat e-mails,
//!   forwarded messages, transcripts.
//! - [`marks`]: desktop notices' coalescing marks, in Redis.
//! - [`appointments`]: the shopper's appointment confirmation with its `.ics` (RFC 5545).
//! - [`mail`]: the SMTP mailer, each e-mail sent once per key (a calendar entry attached, if
//!   given).
//! - [`settings`]: agents' choices and websites' e-mail settings.
//! - [`retention`]: its part of retention and shoppers' rights: the sweep of its tables past
//!   their group's period, erasing and exporting one shopper's rows.

pub mod appointments;
pub mod mail;
pub mod marks;
pub mod notices;
pub mod retention;
pub mod settings;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use showroom_config::{Common, ConfigError, Secret};
use showroom_proto::Envelope;
use showroom_proto::bot::{MessageLeft, WebsiteRef};
use showroom_proto::conversation::ConversationEvent;
use showroom_proto::message::Message;
use showroom_proto::notification::{
    AgentRef, EmailTranscript, NotificationCommand, PutPrefs, PutWebsiteNotifications,
};
use showroom_proto::v1::{self, Group};
use showroom_runtime::{Base, Running, Settings};
use tokio_util::sync::CancellationToken;

pub use notices::Notices;

/// The name under which the service registers with the NATS service API.
pub const NAME: &str = "notification";

const DESCRIPTION: &str = "Sends agents desktop and e-mail notices and shoppers their transcripts.";

/// Configuration: the shared fields, overridden by `SHOWROOM_*` environment variables.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Config {
    /// NATS, Postgres and the admin port.
    #[serde(flatten)]
    pub common: Common,
    /// The SMTP server (`SHOWROOM_SMTP_URL`, e.g. `smtp://127.0.0.1:1025`); may hold a password.
    pub smtp_url: Secret,
    /// The sender of every e-mail (`SHOWROOM_SMTP_FROM`).
    pub smtp_from: String,
    /// At most one desktop notice per agent and chat this often, in seconds (0: every one).
    pub coalesce_secs: f64,
    /// Redis, where the coalescing marks live (`SHOWROOM_REDIS_URL`): `redis://`, or
    /// `rediss://` for TLS; may hold a password. Empty: notices are not coalesced.
    pub redis_url: Secret,
    /// The CA (PEM) that signed Redis's certificate, for `rediss://` (`SHOWROOM_REDIS_CA`).
    pub redis_ca: Option<std::path::PathBuf>,
    /// How long a chat is quiet before its transcript is mailed to the shopper, in seconds
    /// (the reference's 30 minutes).
    pub transcript_after_secs: f64,
    /// How often due transcripts are looked for, in ms.
    pub sweep_ms: u64,
    /// The agent console's address, for links in e-mails.
    pub console_url: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            common: Common::with_admin_port(9105),
            smtp_url: Secret::new("smtp://127.0.0.1:1025"),
            smtp_from: "Showroom <no-reply@showroom.localhost>".into(),
            coalesce_secs: 5.0,
            redis_url: Secret::new("redis://127.0.0.1:6379"),
            redis_ca: None,
            transcript_after_secs: 1800.0,
            sweep_ms: 5000,
            console_url: "http://127.0.0.1:8080/console".into(),
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
    showroom_config::set_by_operator("SHOWROOM_CONSOLE_URL", &config.console_url)?;
    showroom_config::set_by_operator("SHOWROOM_SMTP_FROM", &config.smtp_from)?;
    let settings = Settings::new(NAME, env!("CARGO_PKG_VERSION"), DESCRIPTION, &config.common);
    let base = Base::start(settings, shutdown).await?;
    let mailer = mail::Mailer::new(
        config.smtp_url.expose(),
        &config.smtp_from,
        base.pool.clone(),
    )
    .context("setting up the mailer")?;
    let marks = marks::Marks::connect(
        config.redis_url.expose(),
        config.redis_ca.as_deref(),
        Duration::from_secs_f64(config.coalesce_secs.max(0.0)),
    )
    .await
    .context("setting up the coalescing marks' Redis")?;
    let notices = Arc::new(Notices {
        bus: base.bus.clone(),
        pool: base.pool.clone(),
        mailer,
        marks,
        transcript_after: Duration::from_secs_f64(config.transcript_after_secs.max(0.0)),
        console_url: config.console_url.clone(),
    });

    macro_rules! serve {
        ($name:literal, $cmd:expr, $req:ty, $f:path) => {{
            let pool = base.pool.clone();
            base.host
                .serve(
                    $name,
                    v1::notification_command(Group::Any, $cmd),
                    move |group, env: Envelope<$req>| {
                        let pool = pool.clone();
                        async move { $f(&pool, group, env.data).await }
                    },
                )
                .await?;
        }};
    }
    serve!(
        "get_prefs",
        NotificationCommand::GetPrefs,
        AgentRef,
        settings::get_prefs
    );
    serve!(
        "put_prefs",
        NotificationCommand::PutPrefs,
        PutPrefs,
        settings::put_prefs
    );
    serve!(
        "get_website",
        NotificationCommand::GetWebsite,
        WebsiteRef,
        settings::get_website
    );
    serve!(
        "put_website",
        NotificationCommand::PutWebsite,
        PutWebsiteNotifications,
        settings::put_website
    );

    // A shopper's "Email me this chat": rendered and mailed now, by the same code as the
    // transcript the sweep mails after the quiet time.
    let n = notices.clone();
    base.host
        .serve(
            "email_transcript",
            v1::notification_email_transcript(Group::Any),
            move |group, env: Envelope<EmailTranscript>| {
                let n = n.clone();
                async move { n.email_transcript(group, env.data).await }
            },
        )
        .await?;

    // An appointment booked, moved or cancelled: the shopper's confirmation with its .ics.
    let n = notices.clone();
    base.host
        .serve(
            "appointment_mail",
            v1::notification_command(Group::Any, NotificationCommand::AppointmentMail),
            move |group, env: Envelope<showroom_proto::appointment::AppointmentChanged>| {
                let n = n.clone();
                async move { n.appointment_mail(group, env.data).await }
            },
        )
        .await?;

    follow(&base, notices.clone());
    let every = Duration::from_millis(config.sweep_ms.max(50));
    let token = base.shutdown.clone();
    base.tracker.spawn(async move {
        loop {
            tokio::select! {
                _ = token.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
            if let Err(e) = notices.send_due_transcripts().await {
                tracing::warn!(error = %e, "transcripts not mailed yet");
            }
        }
    });
    let schedule = showroom_runtime::retention::Schedule::from_env()?;
    showroom_runtime::retention::serve(&base, &retention::OWNER, schedule).await?;
    let readiness = base.readiness();
    base.finish(readiness, None, async {}).await
}

/// Retries a notice a few times (the event is acked after); a lasting failure is logged.
async fn retried<F, Fut>(what: &str, f: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<(), notices::NoticeError>>,
{
    for attempt in 0..3u64 {
        match f().await {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(error = %e, what, attempt, "notice not sent");
                tokio::time::sleep(Duration::from_millis(300 * (attempt + 1))).await;
            }
        }
    }
}

/// Most conversation events or transcript messages handled at once (and pulled at a time).
const BATCH: usize = 128;

/// Follows conversations, transcript messages and messages left with durable consumers shared
/// by the replicas.
fn follow(base: &Base, notices: Arc<Notices>) {
    let since = chrono::Utc::now();
    let n = notices.clone();
    base.bus.follow_each_batches(
        v1::NOTIFICATION_CONVERSATIONS.filtered(),
        since,
        BATCH,
        &base.tracker,
        base.shutdown.clone(),
        move |batch: Vec<Envelope<ConversationEvent>>| {
            let n = n.clone();
            async move {
                retried("conversations", || n.on_conversations(&batch)).await;
            }
        },
    );
    let n = notices.clone();
    // Every message and every offer comes here, so they are taken in batches: a query per
    // batch, not per event.
    base.bus.follow_durable_batches_on(
        v1::NOTIFICATION_MESSAGES,
        Some(v1::message_created(Group::Any)),
        since,
        BATCH,
        &base.tracker,
        base.shutdown.clone(),
        move |batch: Vec<Envelope<Message>>| {
            let n = n.clone();
            async move {
                retried("messages", || n.on_messages(&batch)).await;
            }
        },
    );
    base.bus.follow_durable(
        v1::NOTIFICATION_MESSAGES_LEFT,
        since,
        &base.tracker,
        base.shutdown.clone(),
        move |env: Envelope<MessageLeft>| {
            let n = notices.clone();
            async move {
                retried("message left", || n.on_message_left(env.tenant, &env.data)).await;
            }
        },
    );
}
