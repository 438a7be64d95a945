//! The delivery log (every delivery with its attempts, per lead and per destination), the
//! dead-letter list, and redelivering a dead letter with the same id.

use chrono::{DateTime, Utc};
use showroom_proto::delivery::{
    AttemptOutcome, DeadLetterQuery, Delivery, DeliveryAttempt, DeliveryQuery, DeliveryStatus,
    DestinationKind, MAX_LIST, Redeliver,
};
use showroom_proto::{CommandError, ErrorCode};
use showroom_store::sqlx::{self, PgExecutor, PgPool};
use uuid::Uuid;

use crate::db_error;

/// The columns of a delivery as it is shown, and their joins; a literal, so queries built with
/// `concat!` stay static strings.
macro_rules! delivery_select {
    () => {
        "SELECT d.id, d.lead_id, d.destination_id, t.name AS destination_name, t.kind, d.test, \
         d.status, d.attempts, d.next_attempt_at, d.last_status_code, d.last_error, d.created_at, \
         d.delivered_at FROM crm_deliveries d JOIN crm_destinations t ON t.id = d.destination_id "
    };
}

#[derive(sqlx::FromRow)]
struct DeliveryRow {
    id: Uuid,
    lead_id: Uuid,
    destination_id: Uuid,
    destination_name: String,
    kind: String,
    test: bool,
    status: String,
    attempts: i32,
    next_attempt_at: Option<DateTime<Utc>>,
    last_status_code: Option<i32>,
    last_error: Option<String>,
    created_at: DateTime<Utc>,
    delivered_at: Option<DateTime<Utc>>,
}

impl DeliveryRow {
    fn into_delivery(self) -> Delivery {
        Delivery {
            id: self.id,
            lead_id: self.lead_id,
            destination_id: self.destination_id,
            destination_name: self.destination_name,
            kind: DestinationKind::parse(&self.kind).unwrap_or(DestinationKind::Webhook),
            test: self.test,
            status: DeliveryStatus::parse(&self.status).unwrap_or(DeliveryStatus::Pending),
            attempts: self.attempts,
            next_attempt_at: self.next_attempt_at,
            last_status_code: self.last_status_code,
            last_error: self.last_error,
            created_at: self.created_at,
            delivered_at: self.delivered_at,
            log: Vec::new(),
        }
    }
}

#[derive(sqlx::FromRow)]
struct AttemptRow {
    delivery_id: Uuid,
    attempt: i32,
    started_at: DateTime<Utc>,
    finished_at: Option<DateTime<Utc>>,
    outcome: String,
    status_code: Option<i32>,
    error: Option<String>,
    retry_at: Option<DateTime<Utc>>,
}

impl AttemptRow {
    fn into_attempt(self) -> DeliveryAttempt {
        DeliveryAttempt {
            attempt: self.attempt,
            started_at: self.started_at,
            finished_at: self.finished_at,
            outcome: AttemptOutcome::parse(&self.outcome).unwrap_or(AttemptOutcome::Sending),
            status_code: self.status_code,
            error: self.error,
            retry_at: self.retry_at,
        }
    }
}

/// One delivery, without its log.
pub(crate) async fn delivery(
    db: impl PgExecutor<'_>,
    id: Uuid,
) -> Result<Option<Delivery>, sqlx::Error> {
    let row: Option<DeliveryRow> = sqlx::query_as(concat!(delivery_select!(), "WHERE d.id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await?;
    Ok(row.map(DeliveryRow::into_delivery))
}

/// Several deliveries (without their logs), by id, in one statement.
pub(crate) async fn deliveries_by_id(
    db: impl PgExecutor<'_>,
    ids: &[Uuid],
) -> Result<Vec<Delivery>, sqlx::Error> {
    let rows: Vec<DeliveryRow> =
        sqlx::query_as(concat!(delivery_select!(), "WHERE d.id = ANY($1)"))
            .bind(ids)
            .fetch_all(db)
            .await?;
    Ok(rows.into_iter().map(DeliveryRow::into_delivery).collect())
}

/// One attempt of each of several deliveries (`ids[i]`'s attempt `attempts[i]`), in one
/// statement, with the delivery each belongs to.
pub(crate) async fn attempts_of(
    db: impl PgExecutor<'_>,
    ids: &[Uuid],
    attempts: &[i32],
) -> Result<Vec<(Uuid, DeliveryAttempt)>, sqlx::Error> {
    let rows: Vec<AttemptRow> = sqlx::query_as(
        "SELECT a.delivery_id, a.attempt, a.started_at, a.finished_at, a.outcome, a.status_code,          a.error, a.retry_at FROM unnest($1::uuid[], $2::int4[]) AS w(id, attempt)          JOIN crm_attempts a ON a.delivery_id = w.id AND a.attempt = w.attempt",
    )
    .bind(ids)
    .bind(attempts)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.delivery_id, r.into_attempt()))
        .collect())
}

/// Fills in each delivery's log, oldest attempt first.
///
/// An attempt's row is written once, with its outcome (`services/crm-export/src/worker.rs`);
/// the attempt of a delivery claimed now, not logged yet, is shown from the delivery, as
/// `sending` since its claim began.
pub(crate) async fn with_logs(
    pool: &PgPool,
    mut deliveries: Vec<Delivery>,
) -> Result<Vec<Delivery>, sqlx::Error> {
    let ids: Vec<Uuid> = deliveries.iter().map(|d| d.id).collect();
    let rows: Vec<AttemptRow> = sqlx::query_as(
        "SELECT delivery_id, attempt, started_at, finished_at, outcome, status_code, error, retry_at \
         FROM crm_attempts WHERE delivery_id = ANY($1) \
         UNION ALL \
         SELECT d.id, d.attempts, coalesce(d.claimed_at, d.updated_at), NULL, 'sending', NULL, \
           NULL, NULL \
         FROM crm_deliveries d WHERE d.id = ANY($1) AND d.claim_id IS NOT NULL \
           AND NOT EXISTS (SELECT 1 FROM crm_attempts a \
                           WHERE a.delivery_id = d.id AND a.attempt = d.attempts) \
         ORDER BY 1, 2",
    )
    .bind(&ids)
    .fetch_all(pool)
    .await?;
    let mut by_delivery: std::collections::HashMap<Uuid, Vec<DeliveryAttempt>> =
        std::collections::HashMap::new();
    for r in rows {
        by_delivery
            .entry(r.delivery_id)
            .or_default()
            .push(r.into_attempt());
    }
    for d in &mut deliveries {
        d.log = by_delivery.remove(&d.id).unwrap_or_default();
    }
    Ok(deliveries)
}

fn limit(asked: Option<i64>) -> Result<i64, CommandError> {
    let n = asked.unwrap_or(100);
    if (1..=MAX_LIST).contains(&n) {
        Ok(n)
    } else {
        Err(CommandError::invalid_fields(
            [("limit".to_string(), "between 1 and 500".to_string())].into(),
        ))
    }
}

/// The delivery log: deliveries of the group (a lead's, a destination's, or both), newest
/// first, each with its attempts.
pub async fn deliveries(
    pool: &PgPool,
    group: Uuid,
    q: DeliveryQuery,
) -> Result<Vec<Delivery>, CommandError> {
    let n = limit(q.limit)?;
    let rows: Vec<DeliveryRow> = sqlx::query_as(concat!(
        delivery_select!(),
        "WHERE d.group_id = $1 AND ($2::uuid IS NULL OR d.lead_id = $2) \
         AND ($3::uuid IS NULL OR d.destination_id = $3) \
         ORDER BY d.created_at DESC, d.id DESC LIMIT $4"
    ))
    .bind(group)
    .bind(q.lead_id)
    .bind(q.destination_id)
    .bind(n)
    .fetch_all(pool)
    .await
    .map_err(db_error)?;
    let list = rows.into_iter().map(DeliveryRow::into_delivery).collect();
    with_logs(pool, list).await.map_err(db_error)
}

/// The dead letters of the group (or of one destination), most recently dead first.
pub async fn dead_letters(
    pool: &PgPool,
    group: Uuid,
    q: DeadLetterQuery,
) -> Result<Vec<Delivery>, CommandError> {
    let n = limit(q.limit)?;
    let rows: Vec<DeliveryRow> = sqlx::query_as(concat!(
        delivery_select!(),
        "WHERE d.group_id = $1 AND d.status = 'dead_lettered' \
         AND ($2::uuid IS NULL OR d.destination_id = $2) \
         ORDER BY d.updated_at DESC, d.id DESC LIMIT $3"
    ))
    .bind(group)
    .bind(q.destination_id)
    .bind(n)
    .fetch_all(pool)
    .await
    .map_err(db_error)?;
    let list = rows.into_iter().map(DeliveryRow::into_delivery).collect();
    with_logs(pool, list).await.map_err(db_error)
}

/// Puts a dead letter back in line with the same id (so the receiver still sees the same
/// `webhook-id` / `Message-ID`), for a whole new round of the retry schedule. Its destination
/// must be enabled (re-enable one that a 410 Gone turned off first).
pub async fn redeliver(pool: &PgPool, group: Uuid, r: Redeliver) -> Result<Delivery, CommandError> {
    // The row stays locked until the answer is read: a worker claims with `SKIP LOCKED`, so
    // the answer shows the delivery as this command left it (pending), not as a worker that
    // took it at once already made it.
    let mut tx = pool.begin().await.map_err(db_error)?;
    let done = sqlx::query(
        "UPDATE crm_deliveries d SET status = 'pending', retry_step = 0, next_attempt_at = now(), \
         claim_id = NULL, updated_at = now() \
         FROM crm_destinations t \
         WHERE d.id = $1 AND d.group_id = $2 AND d.status = 'dead_lettered' \
         AND t.id = d.destination_id AND t.enabled AND t.deleted_at IS NULL",
    )
    .bind(r.delivery_id)
    .bind(group)
    .execute(&mut *tx)
    .await
    .map_err(db_error)?;
    let why: Option<(String, bool, Option<DateTime<Utc>>)> = sqlx::query_as(
        "SELECT d.status, t.enabled, t.deleted_at FROM crm_deliveries d \
         JOIN crm_destinations t ON t.id = d.destination_id WHERE d.id = $1 AND d.group_id = $2",
    )
    .bind(r.delivery_id)
    .bind(group)
    .fetch_optional(&mut *tx)
    .await
    .map_err(db_error)?;
    let Some((status, enabled, deleted_at)) = why else {
        return Err(CommandError::new(ErrorCode::NotFound, "no such delivery"));
    };
    if done.rows_affected() == 0 {
        let message = if deleted_at.is_some() {
            "its destination was removed".to_string()
        } else if status != "dead_lettered" {
            format!("only a dead letter can be redelivered; this delivery is {status}")
        } else if !enabled {
            "its destination is disabled: enable it first".to_string()
        } else {
            "it cannot be redelivered now".to_string()
        };
        return Err(CommandError::new(ErrorCode::NotAllowed, message));
    }
    tracing::info!(delivery = %r.delivery_id, "dead letter put back for delivery");
    let d = delivery(&mut *tx, r.delivery_id)
        .await
        .map_err(db_error)?
        .ok_or_else(|| CommandError::new(ErrorCode::NotFound, "no such delivery"))?;
    tx.commit().await.map_err(db_error)?;
    let mut list = with_logs(pool, vec![d]).await.map_err(db_error)?;
    list.pop()
        .ok_or_else(|| CommandError::new(ErrorCode::NotFound, "no such delivery"))
}
