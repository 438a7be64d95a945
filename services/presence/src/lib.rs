//! The presence service: who is connected, with which status, on how many devices.
//!
//! Each console socket is a device. The gateway sends a heartbeat per device when it connects
//! and every refresh interval (60 s by default), and says at once when a socket closes. Devices
//! live in Redis, scored by the time of their last heartbeat; a periodic sweep expires the
//! silent ones (never keyspace notifications, which are lost when nobody listens). The status
//! an agent chooses is durable in Postgres (`agent_statuses`), so a Redis that loses its data
//! loses nothing the next heartbeats do not rebuild. An agent is effectively Offline while no
//! device is fresh, whatever the chosen status.
//!
//! # Layout
//! - [`Config`]: typed configuration (`SHOWROOM_*` variables).
//! - [`start`]: connects, registers as `presence`, serves the endpoints, runs the sweep.
//! - `devices`: the Redis side (heartbeats, closes, counts, last seen, sweep).
//! - `statuses`: the Postgres side (chosen statuses and their history).
//! - `board`: an agent's whole presence, and the Live Agent Status board.

mod board;
mod devices;
mod statuses;

use showroom_telemetry::metrics::names;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use futures::FutureExt;
use serde::{Deserialize, Serialize};
use showroom_bus::Bus;
use showroom_config::{Common, ConfigError};
use showroom_proto::conversation::ConversationEvent;
use showroom_proto::presence::{
    AgentPresence, AgentStatus, DeviceClosed, DeviceIdle, FindAvailable, GetBoard, GetStatus,
    Heartbeat, SetStatus,
};
use showroom_proto::v1::{self, Group};
use showroom_proto::{CommandError, Envelope, ErrorCode};
use showroom_runtime::{Base, Running, Settings};
use showroom_store::sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use devices::Devices;

/// The name under which the service registers with the NATS service API.
pub const NAME: &str = "presence";

const DESCRIPTION: &str = "Agent statuses, device heartbeats and availability.";

/// Configuration, overridden by `SHOWROOM_*` environment variables.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Config {
    /// NATS, Postgres and the admin port.
    #[serde(flatten)]
    pub common: Common,
    /// Redis, where devices and their heartbeats live: `redis://`, or `rediss://` for TLS.
    pub redis_url: String,
    /// The CA (PEM) that signed Redis's certificate, for `rediss://` (`SHOWROOM_REDIS_CA`).
    /// Unset: the system's roots.
    #[serde(default)]
    pub redis_ca: Option<std::path::PathBuf>,
    /// A device silent for this long is gone: the refresh interval (60 s) plus a margin.
    pub device_ttl_secs: u64,
    /// How often the sweep looks for silent devices.
    pub sweep_interval_ms: u64,
    /// How long a closed console keeps counting, so a page reload does not flicker to Offline.
    pub close_grace_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            common: Common::with_admin_port(9101),
            redis_url: "redis://127.0.0.1:6379".into(),
            redis_ca: None,
            device_ttl_secs: 90,
            sweep_interval_ms: 1_000,
            close_grace_ms: 3_000,
        }
    }
}

impl Config {
    /// Defaults overridden by the environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        showroom_config::load()
    }
}

struct State {
    bus: Bus,
    pool: PgPool,
    devices: Devices,
    close_grace_ms: u64,
}

impl State {
    /// Which of the candidates can take `purpose` now: chosen status allows it and a console
    /// is connected. One Redis round trip; Postgres only for statuses Redis does not hold.
    async fn find_available(
        &self,
        group: Uuid,
        q: &FindAvailable,
    ) -> Result<Vec<Uuid>, CommandError> {
        let (mirrored, counts) = self
            .devices
            .statuses_and_counts(group, &q.agent_ids)
            .await
            .map_err(redis_down)?;
        let missing: Vec<Uuid> = q
            .agent_ids
            .iter()
            .zip(&mirrored)
            .filter(|(_, m)| m.is_none())
            .map(|(id, _)| *id)
            .collect();
        let mut from_pg = std::collections::HashMap::new();
        if !missing.is_empty() {
            let rows = statuses::many(&self.pool, group, &missing).await?;
            let mirror: Vec<(Uuid, &str)> =
                rows.iter().map(|(id, st)| (*id, st.as_str())).collect();
            if let Err(e) = self.devices.mirror_statuses(group, &mirror).await {
                tracing::warn!(error = %e, "statuses not mirrored");
            }
            from_pg.extend(rows);
        }
        Ok(q.agent_ids
            .iter()
            .zip(mirrored)
            .zip(counts)
            .filter_map(|((id, m), (n, idle))| {
                // An agent of another group is in neither the group's mirror nor its rows.
                let status = match m {
                    Some(st) => AgentStatus::parse(&st)?,
                    None => *from_pg.get(id)?,
                };
                status.effective(n, idle).receives(q.purpose).then_some(*id)
            })
            .collect())
    }

    async fn presence(&self, group: Uuid, agent_id: Uuid) -> Result<AgentPresence, CommandError> {
        board::presence(&self.pool, &self.devices, group, agent_id).await
    }

    /// Publishes the agent's presence as it is now on `presence.changed`, and returns it.
    async fn announce(&self, group: Uuid, agent_id: Uuid) -> Result<AgentPresence, CommandError> {
        let p = self.presence(group, agent_id).await.inspect_err(|e| {
            tracing::warn!(error = %e, %agent_id, "cannot read presence to announce it");
        })?;
        let env = Envelope::new(group, p);
        if let Err(e) = self
            .bus
            .publish_event(v1::presence_changed(group), &env)
            .await
        {
            tracing::warn!(error = %e, %agent_id, "cannot publish presence.changed");
        }
        Ok(env.data)
    }
}

fn redis_down(e: redis::RedisError) -> CommandError {
    tracing::warn!(error = %e, "redis failed");
    CommandError::new(ErrorCode::Unavailable, "presence store unavailable")
}

/// Starts the service; it runs until `shutdown` is cancelled.
pub async fn start(config: Config, shutdown: CancellationToken) -> anyhow::Result<Running> {
    let settings = Settings::new(NAME, env!("CARGO_PKG_VERSION"), DESCRIPTION, &config.common);
    let base = Base::start(settings, shutdown).await?;
    base.bus
        .ensure_stream(&v1::presence_stream(), config.common.stream_replicas)
        .await
        .context("creating the PRESENCE stream")?;
    let devices = Devices::connect(
        &config.redis_url,
        config.redis_ca.as_deref(),
        Duration::from_secs(config.device_ttl_secs),
    )
    .await
    .with_context(|| {
        format!(
            "connecting to Redis at {}",
            devices::server_of(&config.redis_url)
        )
    })?;
    let state = Arc::new(State {
        bus: base.bus.clone(),
        pool: base.pool.clone(),
        devices,
        close_grace_ms: config.close_grace_ms,
    });

    // Heartbeats come from every console every minute: take them in batches, one Redis round
    // trip per batch.
    let s = state.clone();
    base.host
        .on_signal_batch(v1::presence_heartbeat(Group::Any), NAME, 512, move |batch: Vec<(Uuid, Envelope<Heartbeat>)>| {
            let s = s.clone();
            async move {
                let beats: Vec<(Uuid, Uuid, Uuid)> = batch.iter().map(|(g, e)| (*g, e.data.agent_id, e.data.device_id)).collect();
                match s.devices.beats(&beats).await {
                    Ok(changed) => {
                        metrics::counter!(names::HEARTBEATS).increment(beats.len() as u64);
                        for (group, agent) in changed {
                            let _ = s.announce(group, agent).await;
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, beats = beats.len(), "heartbeats not recorded"),
                }
            }
        })
        .await?;
    // The first beat of a device is a request: the console's welcome waits for it, so an agent
    // who then turns Available is routable at once.
    let s = state.clone();
    base.host
        .serve(
            "connect",
            v1::presence_connect(Group::Any),
            move |group, env: Envelope<Heartbeat>| {
                let s = s.clone();
                async move {
                    let beat = [(group, env.data.agent_id, env.data.device_id)];
                    let changed = s.devices.beats(&beat).await.map_err(redis_down)?;
                    metrics::counter!(names::HEARTBEATS).increment(1);
                    for (group, agent) in changed {
                        let _ = s.announce(group, agent).await;
                    }
                    Ok::<_, CommandError>(())
                }
            },
        )
        .await?;
    let s = state.clone();
    base.host
        .on_signal(
            v1::presence_device_closed(Group::Any),
            NAME,
            move |group, env: Envelope<DeviceClosed>| {
                let s = s.clone();
                async move {
                    // The device keeps counting for the grace; the sweep announces its end.
                    let grace = Duration::from_millis(s.close_grace_ms);
                    if let Err(e) = s
                        .devices
                        .close(group, env.data.agent_id, env.data.device_id, grace)
                        .await
                    {
                        tracing::warn!(error = %e, "device close not recorded");
                    }
                }
            },
        )
        .await?;
    let s = state.clone();
    base.host
        .on_signal(
            v1::presence_device_idle(Group::Any),
            NAME,
            move |group, env: Envelope<DeviceIdle>| {
                let s = s.clone();
                async move {
                    match s
                        .devices
                        .set_idle(env.data.agent_id, env.data.device_id, env.data.idle)
                        .await
                    {
                        Ok(true) => {
                            let _ = s.announce(group, env.data.agent_id).await;
                        }
                        Ok(false) => {}
                        Err(e) => tracing::warn!(error = %e, "idle change not recorded"),
                    }
                }
            },
        )
        .await?;
    let s = state.clone();
    base.host
        .serve(
            "set_status",
            v1::presence_set_status(Group::Any),
            move |group, env: Envelope<SetStatus>| {
                let s = s.clone();
                async move {
                    // The Redis mirror never says more than Postgres: drop it, commit, refill.
                    s.devices.forget_status(group, env.data.agent_id).await.map_err(redis_down)?;
                    statuses::set(&s.pool, group, &env.data).await?;
                    if let Err(e) = s.devices.mirror_statuses(group, &[(env.data.agent_id, env.data.status.as_str())]).await {
                        tracing::warn!(error = %e, "status not mirrored; Postgres answers until it is");
                    }
                    s.announce(group, env.data.agent_id).await
                }
            },
        )
        .await?;
    let s = state.clone();
    base.host
        .serve(
            "get_status",
            v1::presence_get_status(Group::Any),
            move |group, env: Envelope<GetStatus>| {
                let s = s.clone();
                async move { s.presence(group, env.data.agent_id).await }
            },
        )
        .await?;
    let s = state.clone();
    base.host
        .serve(
            "find_available",
            v1::presence_find_available(Group::Any),
            move |group, env: Envelope<FindAvailable>| {
                let s = s.clone();
                async move { s.find_available(group, &env.data).await }
            },
        )
        .await?;

    let s = state.clone();
    base.host
        .serve(
            "board",
            v1::presence_board(Group::Any),
            move |group, env: Envelope<GetBoard>| {
                let s = s.clone();
                async move { board::board(&s.pool, &s.devices, group, &env.data).await }
            },
        )
        .await?;

    follow_assignments(&base, state.clone());

    let s = state.clone();
    let interval = Duration::from_millis(config.sweep_interval_ms);
    let token = base.shutdown.clone();
    base.tracker.spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = token.cancelled() => break,
                _ = tick.tick() => {}
            }
            match s.devices.sweep().await {
                Ok(expired) => {
                    for (group, agent) in expired {
                        let _ = s.announce(group, agent).await;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "presence sweep failed"),
            }
        }
    });

    let s = state.clone();
    let readiness = base.readiness().with("redis", move || {
        let s = s.clone();
        async move { s.devices.ping().await.map_err(|e| e.to_string()) }.boxed()
    });
    base.finish(readiness, None, async {}).await
}

/// Active-chat counts follow assignments and endings: each such event re-announces the agent,
/// whose count is recounted from the conversations (so it never drifts). A durable consumer per
/// kind read (`v1::PRESENCE_CHATS`), shared by the replicas.
fn follow_assignments(base: &Base, state: Arc<State>) {
    use showroom_proto::conversation::ConversationEventKind as K;
    use showroom_proto::conversation::TransferState;
    base.bus.follow_each(
        v1::PRESENCE_CHATS.filtered(),
        chrono::Utc::now(),
        &base.tracker,
        base.shutdown.clone(),
        move |env: Envelope<ConversationEvent>| {
            let state = state.clone();
            async move {
                let ev = env.data;
                let moves_chats = matches!(
                    ev.kind,
                    K::Assigned | K::Transferred | K::Ended | K::Missed | K::TimedOut | K::Offline
                );
                if let (true, Some(agent)) = (moves_chats, ev.conversation.agent.as_ref()) {
                    let _ = state.announce(env.tenant, agent.id).await;
                }
                // A chat that moved also leaves its former agent (the sender of an accepted
                // transfer, or the agent a manager took it from).
                if ev.kind == K::Transferred {
                    let former = ev
                        .transfer
                        .iter()
                        .filter(|t| t.state == TransferState::Accepted)
                        .map(|t| t.from_agent.id)
                        .chain(ev.withdrawn_from.iter().copied());
                    for agent in former {
                        let _ = state.announce(env.tenant, agent).await;
                    }
                }
            }
        },
    );
}
