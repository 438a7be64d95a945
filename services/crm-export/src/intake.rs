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

use showroom_proto::lead::{CloudEvent, LEAD_CREATED, Lead};
use showroom_proto::v1::{self, Group};
use showroom_runtime::Base;
use showroom_store::sqlx::{self, PgPool};
use uuid::Uuid;

use crate::worker::Ctx;

/// Most events recorded in one statement (and pulled at a time).
pub const BATCH: usize = 256;

/// Follows `lead.created` on LEADS with the durable consumer the replicas share, taking what
/// was pulled in batches (`showroom_bus::Bus::follow_durable_json_batches`).
pub(crate) fn follow(base: &Base, ctx: Arc<Ctx>) {
    base.bus
        .follow_durable_json_batches::<CloudEvent<Lead>, _, _>(
            v1::CRM_EXPORT_LEADS,
            Some(v1::lead_created(Group::Any)),
            chrono::Utc::now(),
            BATCH,
            &base.tracker,
            base.shutdown.clone(),
            move |events| {
                let ctx = ctx.clone();
                async move { handle(&ctx, events).await }
            },
        );
}

/// Records a batch of events, retrying while Postgres is away (the bus tells JetStream the
/// events are still being worked on). The events are acknowledged when this returns, so it
/// returns only once their deliveries are stored; during shutdown it waits for good instead,
/// and the unacknowledged events go to another replica (or to this one after its restart).
async fn handle(ctx: &Ctx, mut events: Vec<CloudEvent<Lead>>) {
    events.retain(|e| {
        let new = e.kind == LEAD_CREATED;
        if !new {
            tracing::debug!(kind = %e.kind, "not a new lead; ignored");
        }
        new
    });
    if events.is_empty() {
        return;
    }
    let mut pause = Duration::from_millis(100);
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
