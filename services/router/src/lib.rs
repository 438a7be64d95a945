//! The router: the conversation state machine.
//!
//! It creates conversations, offers them to the eligible agents of their department (members
//! whose presence says they take new chats and who are under their maximum of chats), assigns
//! each to exactly one agent (a conditional `UPDATE` in Postgres: the first to respond wins,
//! whichever replica handles it), and closes them. Each step is published as a durable event on
//! `showroom.v1.<group>.conversation.<event>` (stream CONVERSATIONS, owned here). When an agent
//! becomes available, the chats already waiting in their departments are offered to them too.
//!
//! Replicas share the work: requests arrive through the service's queue group, presence changes
//! through one durable consumer, and every state change is a guarded `UPDATE`, so two replicas
//! never assign one chat twice.
//!
//! # Layout
//! - [`Config`]: typed configuration (`SHOWROOM_*` variables).
//! - [`start`]: connects, registers as `router`, serves `conversation.start|accept|end`.
//! - `machine`: the commands and the events they publish.
//! - `offers`: who a chat is offered to, and re-offers when agents become available.

mod machine;
mod offers;

use std::sync::Arc;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use showroom_config::{Common, ConfigError};
use showroom_proto::Envelope;
use showroom_proto::conversation::{
    AcceptConversation, ConversationCommand, EndConversation, StartConversation,
};
use showroom_proto::v1::{self, Group};
use showroom_runtime::{Base, Running, Settings};
use tokio_util::sync::CancellationToken;

use machine::Machine;

/// The name under which the service registers with the NATS service API.
pub const NAME: &str = "router";

const DESCRIPTION: &str = "Conversation state machine: offers, assignment, endings.";

/// Configuration, overridden by `SHOWROOM_*` environment variables.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Config {
    /// NATS, Postgres and the admin port.
    #[serde(flatten)]
    pub common: Common,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            common: Common::with_admin_port(9102),
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
        .ensure_stream(&v1::conversations_stream())
        .await
        .context("creating the CONVERSATIONS stream")?;
    let machine = Arc::new(Machine::new(base.bus.clone(), base.pool.clone()));

    let m = machine.clone();
    base.host
        .serve(
            "start",
            v1::conversation_command(Group::Any, ConversationCommand::Start),
            move |group, env: Envelope<StartConversation>| {
                let m = m.clone();
                async move { m.start(group, env.data).await }
            },
        )
        .await?;
    let m = machine.clone();
    base.host
        .serve(
            "accept",
            v1::conversation_command(Group::Any, ConversationCommand::Accept),
            move |group, env: Envelope<AcceptConversation>| {
                let m = m.clone();
                async move { m.accept(group, env.data).await }
            },
        )
        .await?;
    let m = machine.clone();
    base.host
        .serve(
            "end",
            v1::conversation_command(Group::Any, ConversationCommand::End),
            move |group, env: Envelope<EndConversation>| {
                let m = m.clone();
                async move { m.end(group, env.data).await }
            },
        )
        .await?;

    offers::follow_presence(&base, machine.clone());

    let readiness = base.readiness();
    base.finish(readiness, None, async {}).await
}
