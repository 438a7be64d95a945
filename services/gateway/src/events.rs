//! Following the bus: each replica reads the conversation, internal chat (events and messages)
//! and presence streams from "now", each through a consumer of its own (`Bus::follow_live`:
//! every event once and in order, the consumer made again after the last event when it fails,
//! e.g. with its NATS node), and the desktop notices, and hands them to its hub. Customer
//! messages and typing come only for the conversations its sockets watch (`interest.rs`).

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use showroom_bus::Bus;
use showroom_proto::conversation::ConversationEvent;
use showroom_proto::internal::{InternalEvent, InternalMessage};
use showroom_proto::notification::DesktopNotice;
use showroom_proto::presence::PresenceChanged;
use showroom_proto::v1::{self, Group};
use showroom_telemetry::metrics::names;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

use crate::hub::Hub;

/// How long start-up waits for the streams other services own.
const STREAM_WAIT: Duration = Duration::from_secs(60);

async fn follow<T, F>(
    bus: &Bus,
    stream: &'static str,
    filter: String,
    tracker: &TaskTracker,
    shutdown: CancellationToken,
    hub: Arc<Hub>,
    deliver: F,
) -> anyhow::Result<()>
where
    T: serde::de::DeserializeOwned + Send + 'static,
    F: Fn(&Hub, Uuid, T) + Send + Sync + 'static,
{
    let mut messages = bus.follow_live(stream, filter, STREAM_WAIT).await?;
    metrics::counter!(names::FOLLOWED_EVENTS, "stream" => stream).absolute(0);
    tracker.spawn(async move {
        loop {
            let m = tokio::select! {
                _ = shutdown.cancelled() => break,
                m = messages.next() => m,
            };
            metrics::counter!(names::FOLLOWED_EVENTS, "stream" => stream).increment(1);
            match showroom_bus::decode::<T>(&m.payload) {
                Ok(env) => {
                    let age = (chrono::Utc::now() - env.time).as_seconds_f64().max(0.0);
                    metrics::gauge!(names::FOLLOWED_EVENT_AGE, "stream" => stream).set(age);
                    // The fan-out continues the publisher's trace; a socket's write of a
                    // message frame is a child of this span (`ws::writer`).
                    let span = tracing::info_span!(
                        "nats.fanout",
                        messaging.system = "nats",
                        stream,
                        subject = %m.subject,
                    );
                    showroom_bus::trace::follow(&span, m.headers.as_ref());
                    span.in_scope(|| deliver(&hub, env.tenant, env.data));
                }
                Err(e) => tracing::warn!(stream, error = %e, "undecodable event skipped"),
            }
        }
    });
    Ok(())
}

/// Starts following everything the sockets need. Returns once every consumer exists, so no
/// event published after start-up is missed.
pub async fn start(
    bus: &Bus,
    hub: Arc<Hub>,
    tracker: &TaskTracker,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    follow(
        bus,
        v1::messages_stream().name,
        v1::internal_message(Group::Any),
        tracker,
        shutdown.clone(),
        hub.clone(),
        |h, _, m: InternalMessage| h.on_internal_message(&m),
    )
    .await?;
    follow(
        bus,
        v1::internal_stream().name,
        String::new(),
        tracker,
        shutdown.clone(),
        hub.clone(),
        |h, _, e: InternalEvent| h.on_internal(&e),
    )
    .await?;
    follow(
        bus,
        v1::conversations_stream().name,
        String::new(),
        tracker,
        shutdown.clone(),
        hub.clone(),
        |h, _, e: ConversationEvent| h.on_conversation(&e),
    )
    .await?;
    follow(
        bus,
        v1::presence_stream().name,
        String::new(),
        tracker,
        shutdown.clone(),
        hub.clone(),
        |h, group, p: PresenceChanged| h.on_presence(group, &p),
    )
    .await?;
    // Desktop notices: every gateway hears each and hands it to the consoles it holds.
    let mut notices = bus
        .client
        .subscribe(v1::notification_desktop(Group::Any))
        .await?;
    tracker.spawn(async move {
        loop {
            let msg = tokio::select! {
                _ = shutdown.cancelled() => break,
                m = notices.next() => match m { Some(m) => m, None => break },
            };
            if let Ok(env) = showroom_bus::decode::<DesktopNotice>(&msg.payload)
                && v1::group_of(&msg.subject) == Some(env.tenant)
            {
                hub.on_notice(&env.data);
            }
        }
    });
    Ok(())
}
