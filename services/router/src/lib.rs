//! The router: the conversation state machine.
//!
//! It creates conversations and routes them: a closed department (business hours in the
//! rooftop's time zone, holidays), a full website (its maximum of sessions) or nobody online who
//! could take the chat sends it to the offline flow; otherwise it is offered to the eligible
//! agents of its department (or the group team a routing rule or an overflow brings in), all at
//! once (broadcast) or one at a time (ring). It assigns each chat to exactly one agent (a
//! guarded `UPDATE` in Postgres: the first to respond wins, whichever replica handles it),
//! moves chats between agents (transfers, a manager's reassignment), and closes them: ended,
//! missed (the incoming time-out), offline (the wait time), timed out (inactivity). It also
//! keeps who is in which internal chat between agents (the same status rules decide who can be
//! brought in).
//!
//! Every step is one transaction (new chats share one with the starts queued with them) that
//! also writes its events to an outbox and its time-outs to a table, so a crash loses neither:
//! events are published after the commit (by any replica if the writer died) on
//! `showroom.v1.<group>.conversation.<event>` (stream CONVERSATIONS, owned here), and time-outs
//! are fired by whichever replica locks them first.
//!
//! Replicas share the work: requests arrive through the service's queue group, presence changes
//! through one durable consumer, time-outs and orphaned events through `SKIP LOCKED` claims.
//!
//! # Layout
//! - [`Config`]: typed configuration (`SHOWROOM_*` variables).
//! - [`start`]: connects, registers as `router`, serves the `conversation.*`, `internal.*` and
//!   `routing.*` commands, runs the time-out and outbox loops.
//! - `machine`: start, accept, end, and the closing every exit shares.
//! - `starts`: new chats written in commits shared by the starts queued together.
//! - `offers`: gathering the eligible pool, making and reconsidering offers.
//! - `availability`: who can take a chat, as presence last said (its changes followed by each
//!   replica), so a decision asks presence only about agents it has not heard of lately.
//! - `plan`: who of the pool gets an offer, broadcast or ring (pure; imports nothing back).
//! - `transfers`: transfers to an agent or a department, and reassignment.
//! - `timers`: firing time-outs exactly once.
//! - `turns`: one accept of a chat at a time in a replica, so the ones after the first are
//!   answered from the chat's state without a transaction.
//! - `outbox`: events written with their change, published after it.
//! - `internal`: internal chats between agents (who is in which, under the status rules).
//! - `settings`: department, website and team settings.
//! - `hours`: business hours in a time zone.
//! - `fixture` (tests only): a migrated Postgres of its own with a dealer to seed further.
//! - [`retention`]: its part of retention and shoppers' rights: the sweep of its tables past
//!   their group's period, erasing and exporting one shopper's rows.

mod availability;
#[cfg(test)]
mod fixture;
mod hours;
mod internal;
mod machine;
mod offers;
mod outbox;
mod plan;
pub mod retention;
mod settings;
mod starts;
mod timers;
mod transfers;
mod turns;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use showroom_config::{Common, ConfigError};
use showroom_proto::Envelope;
use showroom_proto::conversation::{
    AcceptConversation, ConversationCommand, EndConversation, ReassignConversation, ReplyTransfer,
    RouteConversation, StartConversation, TransferConversation,
};
use showroom_proto::internal::{InternalCommand, InviteInternal, LeaveInternal, OpenInternal};
use showroom_proto::routing::{
    GetDepartmentRouting, GetWebsiteRouting, ListTeams, PutDepartmentRouting, PutTeam,
    PutWebsiteRouting, RoutingCommand,
};
use showroom_proto::v1::{self, Group};
use showroom_proto::{CommandError, ErrorCode};
use showroom_runtime::{Base, Running, Settings};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use machine::Machine;

/// The name under which the service registers with the NATS service API.
pub const NAME: &str = "router";

const DESCRIPTION: &str =
    "Conversation state machine: hours, offers, assignment, transfers, time-outs, endings.";

/// Configuration, overridden by `SHOWROOM_*` environment variables.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Config {
    /// NATS, Postgres and the admin port.
    #[serde(flatten)]
    pub common: Common,
    /// How often each replica looks for due time-outs (milliseconds).
    pub timer_tick_ms: u64,
    /// How often each replica publishes events a dead replica left in the outbox (ms).
    pub outbox_relay_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            common: Common::with_admin_port(9102),
            timer_tick_ms: 200,
            outbox_relay_ms: 1000,
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
        .ensure_stream(&v1::conversations_stream(), config.common.stream_replicas)
        .await
        .context("creating the CONVERSATIONS stream")?;
    base.bus
        .ensure_stream(&v1::internal_stream(), config.common.stream_replicas)
        .await
        .context("creating the INTERNAL stream")?;
    let availability = availability::Availability::follow(&base.bus)
        .await
        .context("following presence changes")?;
    let (starts, queued) = starts::Starts::new();
    let (machine, published) =
        Machine::new(base.bus.clone(), base.pool.clone(), availability, starts);
    let machine = Arc::new(machine);
    let committer = starts::Committer {
        pool: base.pool.clone(),
        bus: base.bus.clone(),
        published: machine.published.clone(),
    };
    for _ in 0..starts::writers_for(config.common.max_db_connections) {
        base.tracker.spawn(starts::write(
            committer.clone(),
            queued.clone(),
            base.shutdown.clone(),
        ));
    }
    let (m, shutdown) = (machine.clone(), base.shutdown.clone());
    base.tracker
        .spawn(async move { m.availability.tidy(shutdown).await });
    base.tracker
        .spawn(outbox::clear(base.pool.clone(), published));

    macro_rules! serve {
        ($name:literal, $subject:expr, $req:ty, $method:ident) => {{
            let m = machine.clone();
            base.host
                .serve($name, $subject, move |group, env: Envelope<$req>| {
                    let m = m.clone();
                    async move { m.$method(group, env.data).await }
                })
                .await?;
        }};
    }
    let conv = |c| v1::conversation_command(Group::Any, c);
    let routing = |c| v1::routing_command(Group::Any, c);
    let internal = |c| v1::internal_command(Group::Any, c);
    // A start is made idempotent by its envelope id (`Machine::start`).
    let m = machine.clone();
    base.host
        .serve(
            "start",
            conv(ConversationCommand::Start),
            move |group, env: Envelope<StartConversation>| {
                let m = m.clone();
                async move { m.start(group, env.id, env.data).await }
            },
        )
        .await?;
    serve!(
        "route",
        conv(ConversationCommand::Route),
        RouteConversation,
        route
    );
    serve!(
        "accept",
        conv(ConversationCommand::Accept),
        AcceptConversation,
        accept
    );
    serve!("end", conv(ConversationCommand::End), EndConversation, end);
    serve!(
        "transfer",
        conv(ConversationCommand::Transfer),
        TransferConversation,
        transfer
    );
    serve!(
        "transfer_reply",
        conv(ConversationCommand::TransferReply),
        ReplyTransfer,
        reply_transfer
    );
    serve!(
        "reassign",
        conv(ConversationCommand::Reassign),
        ReassignConversation,
        reassign
    );
    serve!(
        "internal_open",
        internal(InternalCommand::Open),
        OpenInternal,
        open_internal
    );
    serve!(
        "internal_invite",
        internal(InternalCommand::Invite),
        InviteInternal,
        invite_internal
    );
    serve!(
        "internal_leave",
        internal(InternalCommand::Leave),
        LeaveInternal,
        leave_internal
    );
    serve!(
        "get_department",
        routing(RoutingCommand::GetDepartment),
        GetDepartmentRouting,
        get_department
    );
    serve!(
        "put_department",
        routing(RoutingCommand::PutDepartment),
        PutDepartmentRouting,
        put_department
    );
    serve!(
        "get_website",
        routing(RoutingCommand::GetWebsite),
        GetWebsiteRouting,
        get_website
    );
    serve!(
        "put_website",
        routing(RoutingCommand::PutWebsite),
        PutWebsiteRouting,
        put_website
    );
    serve!(
        "list_teams",
        routing(RoutingCommand::ListTeams),
        ListTeams,
        list_teams
    );
    serve!(
        "put_team",
        routing(RoutingCommand::PutTeam),
        PutTeam,
        put_team
    );

    base.tracker.spawn(timers::run(
        machine.clone(),
        Duration::from_millis(config.timer_tick_ms.max(10)),
        base.shutdown.clone(),
    ));
    base.relay_outbox(
        showroom_runtime::outbox::Outbox::Conversations,
        Duration::from_millis(config.outbox_relay_ms.max(50)),
    );
    offers::follow_presence(&base, machine.clone());

    let schedule = showroom_runtime::retention::Schedule::from_env()?;
    showroom_runtime::retention::serve(&base, &retention::OWNER, schedule).await?;
    let readiness = base.readiness();
    base.finish(readiness, None, async {}).await
}

/// The `routing.*` commands: settings read and written through the router, their owner.
impl Machine {
    async fn get_department(
        &self,
        group: Uuid,
        q: GetDepartmentRouting,
    ) -> Result<showroom_proto::routing::DepartmentRoutingView, CommandError> {
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(showroom_store::fault::db_error)?;
        settings::department(&mut conn, group, q.department_id)
            .await
            .map_err(showroom_store::fault::db_error)?
            .map(|d| settings::view(&d))
            .ok_or_else(|| CommandError::new(ErrorCode::NotFound, "no such department"))
    }

    async fn put_department(
        &self,
        group: Uuid,
        q: PutDepartmentRouting,
    ) -> Result<showroom_proto::routing::DepartmentRoutingView, CommandError> {
        let d = settings::put_department(&self.pool, group, q.department_id, &q.settings).await?;
        self.forget_department(q.department_id);
        Ok(settings::view(&d))
    }

    async fn get_website(
        &self,
        group: Uuid,
        q: GetWebsiteRouting,
    ) -> Result<showroom_proto::routing::WebsiteRouting, CommandError> {
        settings::website(&self.pool, group, q.website_id)
            .await?
            .map(|(_, w)| w)
            .ok_or_else(|| CommandError::new(ErrorCode::NotFound, "no such website"))
    }

    async fn put_website(
        &self,
        group: Uuid,
        q: PutWebsiteRouting,
    ) -> Result<showroom_proto::routing::WebsiteRouting, CommandError> {
        let w = settings::put_website(&self.pool, group, q.website_id, &q.settings).await?;
        self.forget_website(q.website_id);
        Ok(w)
    }

    async fn list_teams(
        &self,
        group: Uuid,
        _q: ListTeams,
    ) -> Result<Vec<showroom_proto::routing::Team>, CommandError> {
        settings::teams(&self.pool, group).await
    }

    async fn put_team(
        &self,
        group: Uuid,
        q: PutTeam,
    ) -> Result<showroom_proto::routing::Team, CommandError> {
        settings::put_team(&self.pool, group, &q).await
    }
}
