//! Lead events in: each `lead.created` CloudEvent becomes one delivery per matching
//! destination (the rooftop's, for every department or the lead's), in one statement that also
//! records the event as handled. A redelivered event finds itself recorded and adds nothing;
//! `UNIQUE (lead_id, destination_id)` keeps a second event about the same lead from adding a
//! second delivery.
//!
//! Events are taken in batches: every event the consumer has pulled and not yet handled (up to
//! [`BATCH`]) is recorded by that one statement, in one commit, and each is acknowledged only
//! after it. A burst of leads therefore costs a commit per batch, not per lead.
//!
//! `lead.updated` is not followed: a CRM gets a lead once, when it is made (merges and
//! classifications stay in Showroom for now).

use std::sync::Arc;
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use showroom_bus::async_nats::jetstream::{self, consumer};
use showroom_proto::lead::{CloudEvent, LEAD_CREATED, Lead};
use showroom_proto::v1::{self, Group};
use showroom_runtime::Base;
use showroom_store::sqlx::{self, PgPool};
use showroom_telemetry::metrics::names;
use tracing::Instrument;
use uuid::Uuid;

use crate::worker::Ctx;

/// Most events recorded in one statement (and pulled at a time).
pub const BATCH: usize = 256;
/// How often the consumer's backlog gauges are read.
const BACKLOG_EVERY: Duration = Duration::from_secs(5);

/// Follows `lead.created` on LEADS with the durable consumer the replicas share, as
/// `showroom_bus::Bus::follow_durable_json` does (the same consumer settings), but handling
/// what was pulled in batches.
pub(crate) fn follow(base: &Base, ctx: Arc<Ctx>) {
    let js = base.bus.js.clone();
    let shutdown = base.shutdown.clone();
    let since = chrono::Utc::now();
    base.tracker.spawn(async move {
        let Some(consumer) = consumer_of(&js, since, &shutdown).await else {
            return;
        };
        let backlog = {
            let consumer = consumer.clone();
            let shutdown = shutdown.clone();
            async move {
                loop {
                    record_backlog(&consumer).await;
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(BACKLOG_EVERY) => {}
                    }
                }
            }
        };
        tokio::select! {
            _ = backlog => {}
            _ = consume(&ctx, consumer, &shutdown) => {}
        }
    });
}

/// The durable consumer, made when missing (waiting for the stream), or `None` on shutdown.
async fn consumer_of(
    js: &jetstream::Context,
    since: chrono::DateTime<chrono::Utc>,
    shutdown: &tokio_util::sync::CancellationToken,
) -> Option<consumer::PullConsumer> {
    let durable = v1::CRM_EXPORT_LEADS;
    let start_time = time_of(since);
    let config = consumer::pull::Config {
        durable_name: Some(durable.name.into()),
        ack_policy: consumer::AckPolicy::Explicit,
        deliver_policy: consumer::DeliverPolicy::ByStartTime { start_time },
        ack_wait: showroom_bus::ACK_WAIT,
        filter_subject: v1::lead_created(Group::Any),
        ..Default::default()
    };
    let mut waited = false;
    loop {
        let made = async {
            let s = js
                .get_stream(durable.stream)
                .await
                .map_err(|e| e.to_string())?;
            s.get_or_create_consumer(durable.name, config.clone())
                .await
                .map_err(|e| e.to_string())
        };
        match made.await {
            Ok(c) => return Some(c),
            Err(e) => {
                if !waited {
                    tracing::info!(stream = durable.stream, durable = durable.name, reason = %e, "waiting for the stream");
                    waited = true;
                }
                tokio::select! {
                    _ = shutdown.cancelled() => return None,
                    _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                }
            }
        }
    }
}

fn time_of(t: chrono::DateTime<chrono::Utc>) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp_nanos(t.timestamp_nanos_opt().unwrap_or(0) as i128)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// Sets the backlog gauges of the consumer (`/metrics`), as the bus does for the consumers it
/// follows.
async fn record_backlog(consumer: &consumer::PullConsumer) {
    match consumer.get_info().await {
        Ok(info) => {
            let labels = [
                ("stream", v1::CRM_EXPORT_LEADS.stream),
                ("consumer", v1::CRM_EXPORT_LEADS.name),
            ];
            metrics::gauge!(names::CONSUMER_PENDING, &labels).set(info.num_pending as f64);
            metrics::gauge!(names::CONSUMER_ACK_PENDING, &labels).set(info.num_ack_pending as f64);
        }
        Err(e) => tracing::debug!(error = %e, "no consumer info"),
    }
}

/// Pulls events and records them in batches until shutdown (or until the pull ends).
async fn consume(
    ctx: &Ctx,
    consumer: consumer::PullConsumer,
    shutdown: &tokio_util::sync::CancellationToken,
) {
    let messages = consumer
        .stream()
        .max_messages_per_batch(BATCH)
        .expires(Duration::from_secs(5))
        .heartbeat(Duration::from_secs(2))
        .messages()
        .await;
    let mut messages = match messages {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(error = %e, "cannot pull lead events");
            return;
        }
    };
    loop {
        let first = tokio::select! {
            _ = shutdown.cancelled() => return,
            m = messages.next() => m,
        };
        let mut batch = match first {
            Some(Ok(m)) => vec![m],
            Some(Err(e)) => {
                tracing::warn!(error = %e, "consumer error");
                continue;
            }
            None => return,
        };
        // Everything already pulled joins the batch.
        while batch.len() < BATCH {
            match messages.next().now_or_never() {
                Some(Some(Ok(m))) => batch.push(m),
                Some(Some(Err(e))) => tracing::warn!(error = %e, "consumer error"),
                _ => break,
            }
        }
        let span = tracing::info_span!(
            "nats.consume",
            messaging.system = "nats",
            stream = v1::CRM_EXPORT_LEADS.stream,
            consumer = v1::CRM_EXPORT_LEADS.name,
            events = batch.len(),
        );
        showroom_bus::trace::follow(&span, batch[0].headers.as_ref());
        handle(ctx, &batch).instrument(span).await;
        for m in &batch {
            if let Err(e) = m.ack().await {
                tracing::warn!(error = %e, "cannot ack");
            }
        }
    }
}

/// Records a batch of events, retrying while Postgres is away (telling JetStream the events
/// are still being worked on). The events are acknowledged when this returns, so it returns
/// only once their deliveries are stored; during shutdown it waits for good instead, and the
/// unacknowledged events go to another replica (or to this one after its restart).
async fn handle(ctx: &Ctx, batch: &[jetstream::Message]) {
    let mut events = Vec::with_capacity(batch.len());
    for m in batch {
        match serde_json::from_slice::<CloudEvent<Lead>>(&m.payload) {
            Ok(e) if e.kind == LEAD_CREATED => events.push(e),
            Ok(e) => tracing::debug!(kind = %e.kind, "not a new lead; ignored"),
            Err(e) => tracing::warn!(error = %e, subject = %m.subject, "undecodable event skipped"),
        }
    }
    if events.is_empty() {
        return;
    }
    let mut pause = Duration::from_millis(100);
    let mut progress = tokio::time::Instant::now() + showroom_bus::PROGRESS_EVERY;
    loop {
        match record_all(&ctx.pool, &events).await {
            Ok(n) => {
                if n > 0 {
                    tracing::info!(
                        events = events.len(),
                        deliveries = n,
                        "leads queued for their destinations"
                    );
                    ctx.wake();
                }
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, events = events.len(), "cannot record lead events; retrying");
                tokio::select! {
                    _ = ctx.shutdown.cancelled() => {
                        // Never acknowledge what was not stored.
                        std::future::pending::<()>().await;
                    }
                    _ = tokio::time::sleep(pause) => {}
                }
                pause = (pause * 2).min(Duration::from_secs(5));
                if tokio::time::Instant::now() >= progress {
                    for m in batch {
                        let _ = m.ack_with(jetstream::AckKind::Progress).await;
                    }
                    progress = tokio::time::Instant::now() + showroom_bus::PROGRESS_EVERY;
                }
            }
        }
    }
}

/// Records one event and creates its deliveries; answers how many were created (0 for an
/// event handled before).
pub async fn record(pool: &PgPool, event: &CloudEvent<Lead>) -> Result<u64, sqlx::Error> {
    record_all(pool, std::slice::from_ref(event)).await
}

/// Records events and creates their deliveries, in one statement; answers how many deliveries
/// were created (none for events handled before).
pub async fn record_all(pool: &PgPool, events: &[CloudEvent<Lead>]) -> Result<u64, sqlx::Error> {
    let mut ids: Vec<Uuid> = Vec::with_capacity(events.len());
    let (mut groups, mut leads, mut kinds, mut payloads, mut rooftops, mut departments) = (
        Vec::with_capacity(events.len()),
        Vec::with_capacity(events.len()),
        Vec::with_capacity(events.len()),
        Vec::with_capacity(events.len()),
        Vec::with_capacity(events.len()),
        Vec::with_capacity(events.len()),
    );
    for event in events {
        if ids.contains(&event.id) {
            continue;
        }
        let lead = &event.data;
        let payload =
            serde_json::to_string(event).map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
        ids.push(event.id);
        groups.push(lead.group_id);
        leads.push(lead.id);
        kinds.push(event.kind.as_str());
        payloads.push(payload);
        rooftops.push(lead.rooftop.id);
        departments.push(lead.department.as_ref().map(|d| d.id));
    }
    let created = sqlx::query(
        "WITH e AS ( \
           SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], \
             $6::uuid[], $7::uuid[]) \
             AS e(event_id, group_id, lead_id, kind, payload, rooftop_id, department_id) \
         ), handled AS ( \
           INSERT INTO crm_lead_events (event_id, group_id, lead_id, kind) \
           SELECT event_id, group_id, lead_id, kind FROM e \
           ON CONFLICT (event_id) DO NOTHING RETURNING event_id \
         ) \
         INSERT INTO crm_deliveries (id, group_id, destination_id, lead_id, event_id, payload, next_attempt_at) \
         SELECT gen_random_uuid(), d.group_id, d.id, e.lead_id, e.event_id, e.payload, now() \
         FROM handled h JOIN e ON e.event_id = h.event_id \
         JOIN crm_destinations d ON d.group_id = e.group_id AND d.rooftop_id = e.rooftop_id \
           AND (d.department_id IS NULL OR d.department_id = e.department_id) \
           AND d.enabled AND d.deleted_at IS NULL \
         ON CONFLICT (lead_id, destination_id) DO NOTHING",
    )
    .bind(&ids)
    .bind(&groups)
    .bind(&leads)
    .bind(&kinds)
    .bind(&payloads)
    .bind(&rooftops)
    .bind(&departments)
    .execute(pool)
    .await?;
    Ok(created.rows_affected())
}
