//! The bot service: greets shoppers, runs the Lead Gate before handing chats to the router,
//! takes messages left when a chat cannot go live, and says when an agent joins.
//!
//! # Layout
//! - [`Config`]: the service's typed configuration (`SHOWROOM_*` variables).
//! - [`start`]: connects, creates the `BOT` stream, registers as `bot` with the NATS service
//!   API (`leave_message`, `get_settings`, `put_settings`, `submit_form`, `get_form`,
//!   `put_form`), follows conversations and
//!   messages, and runs until the shutdown token is cancelled.
//! - [`gate`]: the Lead Gate (department, names, e-mail or phone), one chat at a time.
//! - [`trade_in`]: the Lead Gate's trade-in questions (when the shopper's interest is a
//!   trade-in), each answer read in English or Spanish; stored by lead-capture.
//! - [`leave`]: messages left (the widget's form, dealers' REST posts) and their event.
//! - [`forms`]: the form builder: each website's pre-chat and offline forms, answers checked.
//! - [`settings`]: each website's bot settings and texts.
//! - [`validate`]: names, e-mail syntax, phone numbers to E.164.
//! - [`retention`]: its part of retention and shoppers' rights: the sweep of its tables past
//!   their group's period, erasing and exporting one shopper's rows.

pub mod forms;
pub mod gate;
pub mod leave;
pub mod retention;
pub mod settings;
pub mod trade_in;
pub mod validate;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use showroom_bus::Bus;
use showroom_config::{Common, ConfigError};
use showroom_proto::bot::{
    BotCommand, GetForm, LeaveMessage, PutBotSettings, TextKey, WebsiteRef, fill,
};
use showroom_proto::conversation::{
    ConversationEvent, ConversationEventKind, ConversationState, TransferState,
};
use showroom_proto::forms::{PutForm, SubmitForm};
use showroom_proto::message::{Author, AuthorKind, Message};
use showroom_proto::v1::{self, Group};
use showroom_proto::{Envelope, ErrorCode};
use showroom_runtime::{Base, Running, Settings};
use showroom_store::read;
use showroom_store::sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub use gate::Gate;

/// The name under which the service registers with the NATS service API.
pub const NAME: &str = "bot";

const DESCRIPTION: &str = "Greets shoppers and runs the Lead Gate, forms and offline flows before handing chats to the router.";

/// Configuration: the shared fields, overridden by `SHOWROOM_*` environment variables.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Config {
    /// NATS, Postgres and the admin port.
    #[serde(flatten)]
    pub common: Common,
    /// How often the sweep looks for chats the events did not bring forward, in ms.
    pub sweep_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            common: Common::with_admin_port(9103),
            sweep_ms: 2000,
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
        .ensure_stream(&v1::bot_stream(), config.common.stream_replicas)
        .await
        .context("creating the BOT stream")?;

    let (bus, pool) = (base.bus.clone(), base.pool.clone());
    base.host
        .serve(
            "leave_message",
            v1::bot_command(Group::Any, BotCommand::LeaveMessage),
            move |group, env: Envelope<LeaveMessage>| {
                let (bus, pool) = (bus.clone(), pool.clone());
                async move { leave::leave(&bus, &pool, group, env.data).await }
            },
        )
        .await?;
    let pool = base.pool.clone();
    base.host
        .serve(
            "get_settings",
            v1::bot_command(Group::Any, BotCommand::GetSettings),
            move |group, env: Envelope<WebsiteRef>| {
                let pool = pool.clone();
                async move { settings::get(&pool, group, env.data).await }
            },
        )
        .await?;
    let pool = base.pool.clone();
    base.host
        .serve(
            "put_settings",
            v1::bot_command(Group::Any, BotCommand::PutSettings),
            move |group, env: Envelope<PutBotSettings>| {
                let pool = pool.clone();
                async move { settings::put(&pool, group, env.data).await }
            },
        )
        .await?;

    let pool = base.pool.clone();
    base.host
        .serve(
            "submit_form",
            v1::bot_command(Group::Any, BotCommand::SubmitForm),
            move |group, env: Envelope<SubmitForm>| {
                let pool = pool.clone();
                async move { forms::submit(&pool, group, env.data).await }
            },
        )
        .await?;
    let pool = base.pool.clone();
    base.host
        .serve(
            "get_form",
            v1::bot_command(Group::Any, BotCommand::GetForm),
            move |group, env: Envelope<GetForm>| {
                let pool = pool.clone();
                async move { forms::get(&pool, group, env.data).await }
            },
        )
        .await?;
    let pool = base.pool.clone();
    base.host
        .serve(
            "put_form",
            v1::bot_command(Group::Any, BotCommand::PutForm),
            move |group, env: Envelope<PutForm>| {
                let pool = pool.clone();
                async move { forms::put(&pool, group, env.data).await }
            },
        )
        .await?;

    let gate = Arc::new(Gate::new(base.bus.clone(), base.pool.clone()));
    follow(&base, gate.clone());
    base.tracker.spawn(sweep(
        gate,
        base.pool.clone(),
        Duration::from_millis(config.sweep_ms.max(100)),
        base.shutdown.clone(),
    ));
    base.tracker.spawn(leave::relay(
        base.bus.clone(),
        base.pool.clone(),
        base.shutdown.clone(),
    ));
    let schedule = showroom_runtime::retention::Schedule::from_env()?;
    showroom_runtime::retention::serve(&base, &retention::OWNER, schedule).await?;
    let readiness = base.readiness();
    base.finish(readiness, None, async {}).await
}

/// Follows conversations (a new chat with the bot is greeted; an agent who joins is
/// announced) and shoppers' messages (answers to the gate), each with a durable consumer
/// shared by the replicas.
fn follow(base: &Base, gate: Arc<Gate>) {
    let since = chrono::Utc::now();
    let (g, bus, pool) = (gate.clone(), base.bus.clone(), base.pool.clone());
    base.bus.follow_each(
        v1::BOT_CONVERSATIONS.filtered(),
        since,
        &base.tracker,
        base.shutdown.clone(),
        move |env: Envelope<ConversationEvent>| {
            let (g, bus, pool) = (g.clone(), bus.clone(), pool.clone());
            async move {
                let ev = env.data;
                let c = &ev.conversation;
                if ev.kind == ConversationEventKind::Created && c.state == ConversationState::Bot {
                    advance(&g, env.tenant, c.id).await;
                }
                if let Err(e) = announce_agent(&bus, &pool, env.tenant, &ev).await {
                    tracing::warn!(error = %e, conversation = %c.id, "cannot say the agent joined");
                }
            }
        },
    );
    // Every message comes here, so they are taken in batches: one read says which of the
    // batch's chats are still with the gate, and only those are advanced (each once).
    base.bus.follow_durable_batches_on(
        v1::BOT_MESSAGES,
        Some(v1::message_created(Group::Any)),
        since,
        MESSAGE_BATCH,
        &base.tracker,
        base.shutdown.clone(),
        move |batch: Vec<Envelope<Message>>| {
            let gate = gate.clone();
            async move {
                let chats: Vec<(Uuid, Uuid)> = batch
                    .iter()
                    .filter(|env| env.data.author.kind == AuthorKind::Shopper)
                    .map(|env| (env.tenant, env.data.conversation_id))
                    .collect();
                if chats.is_empty() {
                    return;
                }
                for (group, id) in in_bot(&gate, &chats).await {
                    advance(&gate, group, id).await;
                }
            }
        },
    );
}

/// Most messages handled at once (and pulled at a time).
const MESSAGE_BATCH: usize = 128;

/// The chats of a batch that are with the gate, retrying a failed read a few times; if it
/// keeps failing, all of them (each is checked again when advanced), so none is skipped.
async fn in_bot(gate: &Gate, chats: &[(Uuid, Uuid)]) -> Vec<(Uuid, Uuid)> {
    for attempt in 0..3 {
        match gate.in_bot(chats).await {
            Ok(bot) => return bot,
            Err(e) => {
                tracing::warn!(error = %e, attempt, "cannot tell which chats are with the gate");
                tokio::time::sleep(Duration::from_millis(200 * (attempt + 1))).await;
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    chats.iter().copied().filter(|c| seen.insert(*c)).collect()
}

/// Advances a chat, retrying a failure a few times; the sweep covers the rest.
async fn advance(gate: &Gate, group: Uuid, id: Uuid) {
    for attempt in 0..3 {
        match gate.advance(group, id).await {
            Ok(()) => return,
            Err(gate::GateError::Refused(e)) if e.code != ErrorCode::Unavailable => {
                tracing::warn!(error = %e, conversation = %id, "the gate was refused");
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, conversation = %id, attempt, "the gate could not advance");
                tokio::time::sleep(Duration::from_millis(200 * (attempt + 1))).await;
            }
        }
    }
}

/// "Ann Larson joined the chat.", in the shopper's language, when an agent takes a chat that
/// went through the Lead Gate, or a transfer of one is accepted (once per agent and step).
async fn announce_agent(
    bus: &Bus,
    pool: &PgPool,
    group: Uuid,
    ev: &ConversationEvent,
) -> Result<(), gate::GateError> {
    let c = &ev.conversation;
    let Some(agent) = &c.agent else {
        return Ok(());
    };
    // The message's client id (at most 64 characters): one line per agent taking the chat, one
    // per accepted transfer (a transfer has exactly one target, so its id alone is unique).
    let msg_id = match (ev.kind, &ev.transfer) {
        (ConversationEventKind::Assigned, _) => format!("joined-{}", agent.id),
        (ConversationEventKind::Transferred, Some(t))
            if matches!(t.state, TransferState::Accepted | TransferState::Reassigned) =>
        {
            format!("joined-t-{}", t.id)
        }
        _ => return Ok(()),
    };
    // Only after the Lead Gate (which set the contact): the shopper was talking to the bot, and
    // now sees who took over. Without the bot, the widget shows the agent's name by itself.
    if c.state.is_closed() || c.contact.is_none() {
        return Ok(());
    }
    let settings = read::bot_settings(pool, c.website_id).await?;
    let text = fill(
        settings.text(TextKey::AgentJoined, c.language),
        &[("agent", &agent.name)],
    );
    gate::post(
        bus,
        group,
        c.id,
        Author {
            kind: AuthorKind::System,
            id: None,
            name: None,
        },
        &msg_id,
        text,
    )
    .await?;
    Ok(())
}

/// Every `every`, advances the chats the events did not bring forward.
async fn sweep(gate: Arc<Gate>, pool: PgPool, every: Duration, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        match gate::stragglers(&pool).await {
            Ok(chats) => {
                for (group, id) in chats {
                    if let Err(e) = gate.advance(group, id).await {
                        tracing::debug!(error = %e, conversation = %id, "sweep could not advance");
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "the gate's sweep cannot read"),
        }
    }
}
