//! Lead events in: each `lead.created` CloudEvent becomes one delivery per matching
//! destination (the rooftop's, for every department or the lead's), in one statement that also
//! records the event as handled. A redelivered event finds itself recorded and adds nothing;
//! `UNIQUE (lead_id, destination_id)` keeps a second event about the same lead from adding a
//! second delivery.
//!
//! `lead.updated` is not followed: a CRM gets a lead once, when it is made (merges and
//! classifications stay in Showroom for now).

use std::sync::Arc;
use std::time::Duration;

use showroom_proto::lead::{CloudEvent, LEAD_CREATED, Lead};
use showroom_proto::v1::{self, Group};
use showroom_runtime::Base;
use showroom_store::sqlx::{self, PgPool};

use crate::worker::Ctx;

/// Follows `lead.created` on LEADS with the durable consumer the replicas share.
pub(crate) fn follow(base: &Base, ctx: Arc<Ctx>) {
    base.bus.follow_durable_json::<CloudEvent<Lead>, _, _>(
        v1::CRM_EXPORT_LEADS,
        Some(v1::lead_created(Group::Any)),
        chrono::Utc::now(),
        &base.tracker,
        base.shutdown.clone(),
        move |event| {
            let ctx = ctx.clone();
            async move { handle(&ctx, event).await }
        },
    );
}

/// Records one event, retrying while Postgres is away. The consumer acknowledges the event
/// when this returns, so it returns only once the deliveries are stored, or when the event is
/// not for us; during shutdown it waits for good instead, and the unacknowledged event goes to
/// another replica (or to this one after its restart).
async fn handle(ctx: &Ctx, event: CloudEvent<Lead>) {
    if event.kind != LEAD_CREATED {
        tracing::debug!(kind = %event.kind, "not a new lead; ignored");
        return;
    }
    let mut pause = Duration::from_millis(100);
    loop {
        match record(&ctx.pool, &event).await {
            Ok(n) => {
                if n > 0 {
                    tracing::info!(lead = %event.data.id, deliveries = n, "lead queued for its destinations");
                    ctx.wake();
                }
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, lead = %event.data.id, "cannot record the lead event; retrying");
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

/// Records the event and creates its deliveries; answers how many were created (0 for an
/// event handled before).
pub async fn record(pool: &PgPool, event: &CloudEvent<Lead>) -> Result<u64, sqlx::Error> {
    let lead = &event.data;
    let payload = serde_json::to_string(event).map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
    let created = sqlx::query(
        "WITH handled AS ( \
           INSERT INTO crm_lead_events (event_id, group_id, lead_id, kind) \
           VALUES ($1, $2, $3, $4) ON CONFLICT (event_id) DO NOTHING RETURNING event_id \
         ) \
         INSERT INTO crm_deliveries (id, group_id, destination_id, lead_id, event_id, payload, next_attempt_at) \
         SELECT gen_random_uuid(), d.group_id, d.id, $3, h.event_id, $5, now() \
         FROM handled h, crm_destinations d \
         WHERE d.group_id = $2 AND d.rooftop_id = $6 \
           AND (d.department_id IS NULL OR d.department_id = $7) \
           AND d.enabled AND d.deleted_at IS NULL \
         ON CONFLICT (lead_id, destination_id) DO NOTHING",
    )
    .bind(event.id)
    .bind(lead.group_id)
    .bind(lead.id)
    .bind(&event.kind)
    .bind(payload)
    .bind(lead.rooftop.id)
    .bind(lead.department.as_ref().map(|d| d.id))
    .execute(pool)
    .await?;
    Ok(created.rows_affected())
}
