//! The lead-capture service: turns missed chats, messages left, the offline flow and agents'
//! actions into leads, matched to the group's contacts, and publishes each new or changed lead
//! as a CloudEvent on the LEADS stream (`showroom.v1.<group>.lead.created|updated`).
//!
//! # Layout
//! - [`Config`]: the service's typed configuration (`SHOWROOM_*` variables).
//! - [`start`]: connects, creates the LEADS stream, registers as `lead-capture` with the NATS
//!   service API (`create`, `classify`, `get`, `of_conversation`, `trade_in`, `appointment`),
//!   follows conversations and messages left, and runs until the shutdown token is cancelled.
//! - [`leads`]: making, merging (the dedupe window) and classifying leads; contacts; the
//!   outbox and its relay; `leads/appointments.rs`: an appointment of a chat changed, its
//!   leads are updated.
//! - [`trade_in`]: a chat's trade-in (table `trade_ins`), carried by its leads.
//! - [`retention`]: its part of retention and shoppers' rights: the sweep of its tables past
//!   their group's period, erasing and exporting one shopper's rows.

pub mod leads;
pub mod retention;
pub mod trade_in;

use std::sync::Arc;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use showroom_config::{Common, ConfigError};
use showroom_proto::Envelope;
use showroom_proto::bot::MessageLeft;
use showroom_proto::conversation::{ConversationEvent, ConversationEventKind};
use showroom_proto::lead::{ClassifyLead, CreateLead, GetLead, LeadCommand, LeadOrigin, LeadsOf};
use showroom_proto::v1::{self, Group};
use showroom_runtime::{Base, Running, Settings};

use crate::leads::{Leads, NewLead};
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
    /// The agent console's address, for the transcript links in leads
    /// (`SHOWROOM_CONSOLE_URL`).
    pub console_url: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            common: Common::with_admin_port(9104),
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
    let settings = Settings::new(NAME, env!("CARGO_PKG_VERSION"), DESCRIPTION, &config.common);
    let base = Base::start(settings, shutdown).await?;
    base.bus
        .ensure_stream(&v1::leads_stream(), config.common.stream_replicas)
        .await
        .context("creating the stream this service owns")?;
    let leads = Arc::new(Leads::new(
        base.bus.clone(),
        base.pool.clone(),
        config.console_url.clone(),
    ));

    macro_rules! serve {
        ($name:literal, $cmd:expr, $req:ty, $method:ident) => {{
            let l = leads.clone();
            base.host
                .serve(
                    $name,
                    v1::lead_command(Group::Any, $cmd),
                    move |group, env: Envelope<$req>| {
                        let l = l.clone();
                        async move { l.$method(group, env.id, env.data).await }
                    },
                )
                .await?;
        }};
    }
    serve!("create", LeadCommand::Create, CreateLead, create);
    serve!("classify", LeadCommand::Classify, ClassifyLead, classify);
    serve!("get", LeadCommand::Get, GetLead, with_history);
    serve!(
        "of_conversation",
        LeadCommand::OfConversation,
        LeadsOf,
        of_conversation
    );
    serve!(
        "trade_in",
        LeadCommand::TradeIn,
        showroom_proto::trade_in::SetTradeIn,
        set_trade_in
    );
    serve!(
        "appointment",
        LeadCommand::Appointment,
        showroom_proto::appointment::AppointmentChanged,
        appointment
    );

    follow(&base, leads);
    base.relay_outbox(
        showroom_runtime::outbox::Outbox::Leads,
        std::time::Duration::from_secs(1),
    );
    let schedule = showroom_runtime::retention::Schedule::from_env()?;
    showroom_runtime::retention::serve(&base, &retention::OWNER, schedule).await?;
    let readiness = base.readiness();
    base.finish(readiness, None, async {}).await
}

/// Follows the chats that end without an agent (missed, offline, each with what the Lead Gate
/// collected) and the messages left, with durable consumers shared by the replicas, each in
/// lanes by person: several leads made at once, one person's sources in order.
fn follow(base: &Base, leads: Arc<Leads>) {
    let since = chrono::Utc::now();
    let l = leads.clone();
    base.bus.follow_each_in_lanes(
        v1::LEAD_CAPTURE_CONVERSATIONS.filtered(),
        since,
        |env: &Envelope<ConversationEvent>| {
            let c = &env.data.conversation;
            let contact = c.contact.as_ref();
            leads::lane(&leads::person(
                env.tenant,
                contact.and_then(|k| k.email.as_deref()),
                contact.and_then(|k| k.phone.as_deref()),
                &c.id.to_string(),
            ))
        },
        &base.tracker,
        base.shutdown.clone(),
        move |env: Envelope<ConversationEvent>| {
            let l = l.clone();
            async move {
                let ev = env.data;
                let origin = match ev.kind {
                    ConversationEventKind::Missed => LeadOrigin::MissedChat,
                    ConversationEventKind::Offline => LeadOrigin::Offline,
                    _ => return,
                };
                let c = ev.conversation;
                // Without contact details there is nobody to call back.
                let Some(contact) = c.contact.clone() else {
                    return;
                };
                let new = NewLead {
                    group: env.tenant,
                    website: Some(c.website_id),
                    rooftop: c.rooftop.id,
                    department: Some(c.department.id),
                    origin,
                    key: format!("{}:{}", origin.as_str(), c.id),
                    first_name: contact.first_name,
                    last_name: contact.last_name,
                    email: contact.email,
                    phone: contact.phone,
                    consent: contact.consent,
                    language: c.language,
                    vehicle: c.vehicle.clone(),
                    message: None,
                    conversation: Some(c.id),
                    message_id: None,
                    form: c.form.clone(),
                    classification: None,
                    agent: None,
                };
                make_retrying(&l, new).await;
            }
        },
    );
    base.bus.follow_durable_in_lanes(
        v1::LEAD_CAPTURE_MESSAGES_LEFT,
        since,
        |env: &Envelope<MessageLeft>| {
            let k = &env.data.contact;
            leads::lane(&leads::person(
                env.tenant,
                k.email.as_deref(),
                k.phone.as_deref(),
                &env.data.id.to_string(),
            ))
        },
        &base.tracker,
        base.shutdown.clone(),
        move |env: Envelope<MessageLeft>| {
            let l = leads.clone();
            async move {
                let m = env.data;
                let new = NewLead {
                    group: env.tenant,
                    website: Some(m.website_id),
                    rooftop: m.rooftop.id,
                    department: m.department.as_ref().map(|d| d.id),
                    origin: LeadOrigin::MessageLeft,
                    key: format!("message_left:{}", m.id),
                    first_name: m.contact.first_name,
                    last_name: m.contact.last_name,
                    email: m.contact.email,
                    phone: m.contact.phone,
                    consent: m.contact.consent,
                    language: m.language,
                    vehicle: m.vehicle,
                    message: Some(m.message),
                    conversation: m.conversation_id,
                    message_id: Some(m.id),
                    form: m.answers,
                    classification: None,
                    agent: None,
                };
                make_retrying(&l, new).await;
            }
        },
    );
}

/// Makes a lead, retrying while the store is away (the event is acked only after).
async fn make_retrying(leads: &Leads, new: NewLead) {
    for attempt in 0..5u64 {
        match leads.make(new.clone()).await {
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(error = %e, key = %new.key, attempt, "cannot make the lead yet");
                tokio::time::sleep(std::time::Duration::from_millis(200 * (attempt + 1))).await;
            }
        }
    }
    tracing::error!(key = %new.key, "lead not made after retries; the event will be redelivered");
}
