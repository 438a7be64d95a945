//! Delivering: each replica claims due deliveries, attempts them, and records each outcome.
//!
//! **Claim.** One statement picks due rows `FOR UPDATE SKIP LOCKED` (replicas never pick the
//! same row), counts the attempt, gives it a fresh `claim_id` and a lease (`next_attempt_at`
//! moves to the end of the lease), marks an attempt a dead worker left `sending` as
//! `interrupted`, and logs the new attempt as `sending`. No lock is held during the network call.
//!
//! **Fairness.** The claim takes the oldest due rows, but at most `per_destination_in_flight`
//! attempts in flight per destination, so one dealer's slow or dead endpoint with a backlog
//! cannot fill every slot (each attempt waiting for its time-out) and hold up every other
//! dealer group's leads. A destination's attempts in flight are its live claims: `pending`
//! rows with a `claim_id` whose lease has not ended (`next_attempt_at > now()`). A claim a dead
//! worker left counts only until its lease ends, when the row is due again, so it can never
//! block a destination for good. The due rows are ranked per destination (oldest first) and
//! only those whose rank plus the destination's live claims fit under the cap are locked.
//! Within a replica the cap is exact. Across replicas it is approximate: it is read from each
//! claim's snapshot and enforced by no lock. Replicas rank the same rows and skip each other's
//! locks, so they normally stay within it, but claims racing a lease's end, or a release, can
//! go briefly over, and test sends (which run at once, outside the slots) count against it
//! without being held back by it.
//!
//! **Outcome.** Recorded only where `claim_id` still matches (a worker whose lease ran out and
//! whose row someone else claimed cannot overwrite the newer state), with the `delivery.*`
//! event in the same transaction (see [`crate::outbox`]).
//!
//! **Stopping.** On shutdown an attempt under way is dropped and its claim released (the row is
//! due at once, the attempt logged `interrupted`); if the process dies instead, the lease ends
//! and another worker takes the row. Either way the receiver may see the same delivery twice,
//! with the same `webhook-id` / `Message-ID`, never two different ones, and never none.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use showroom_bus::Bus;
use showroom_config::Secret;
use showroom_proto::contact::Language;
use showroom_proto::conversation::{DepartmentRef, Named, Vehicle};
use showroom_proto::delivery::{
    AdfEmail, AttemptOutcome, Delivery, DeliveryEvent, DeliveryEventKind, DeliveryStatus,
    DestinationKind, DestinationRef,
};
use showroom_proto::lead::{Classification, CloudEvent, Lead, LeadContact, LeadOrigin};
use showroom_proto::{CommandError, ErrorCode};
use showroom_store::sqlx::{self, PgPool, types::Json};
use showroom_telemetry::metrics::names;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;
use uuid::Uuid;

use crate::adf::AdfLead;
use crate::answer::Answer;
use crate::email::Mailer;
use crate::outbox::Staged;
use crate::schedule::Schedule;
use crate::{db_error, log, webhook};

/// The CloudEvent type of a test send, so a receiver can tell it from a real lead.
pub const LEAD_TEST: &str = "showroom.lead.test";

/// Most deliveries one claim takes.
const CLAIM_BATCH: usize = 50;

/// What the workers, the intake and the request handlers share.
pub struct Ctx {
    pub(crate) bus: Bus,
    pub(crate) pool: PgPool,
    mailer: Mailer,
    webhooks: webhook::Sender,
    schedule: Schedule,
    lease: Duration,
    permits: Arc<Semaphore>,
    /// Most attempts in flight to one destination (see the module's description).
    per_destination: usize,
    test_timeout: Duration,
    tracker: TaskTracker,
    pub(crate) shutdown: CancellationToken,
    wake: Notify,
}

impl Ctx {
    /// Everything a replica delivers with.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        bus: Bus,
        pool: PgPool,
        mailer: Mailer,
        webhooks: webhook::Sender,
        schedule: Schedule,
        lease: Duration,
        max_in_flight: usize,
        per_destination: usize,
        test_timeout: Duration,
        tracker: TaskTracker,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            bus,
            pool,
            mailer,
            webhooks,
            schedule,
            lease,
            permits: Arc::new(Semaphore::new(max_in_flight)),
            per_destination,
            test_timeout,
            tracker,
            shutdown,
            wake: Notify::new(),
        }
    }

    /// Makes this replica's worker look for due deliveries now.
    pub(crate) fn wake(&self) {
        self.wake.notify_one();
    }
}

/// A delivery claimed for one attempt.
#[derive(Debug, Clone, sqlx::FromRow)]
struct Claimed {
    id: Uuid,
    group_id: Uuid,
    destination_id: Uuid,
    payload: String,
    attempts: i32,
    retry_step: i32,
    claim_id: Uuid,
    test: bool,
}

/// Runs this replica's deliveries until shutdown: on every wake-up and every `poll`, claims
/// what is due (up to the free attempt slots) and attempts each in its own task.
pub(crate) async fn run(ctx: Arc<Ctx>, poll: Duration) {
    loop {
        tokio::select! {
            _ = ctx.shutdown.cancelled() => return,
            _ = ctx.wake.notified() => {}
            _ = tokio::time::sleep(poll) => {}
        }
        loop {
            let free = ctx.permits.available_permits().min(CLAIM_BATCH);
            if free == 0 || ctx.shutdown.is_cancelled() {
                break;
            }
            let claimed = match claim(&ctx, free).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot claim due deliveries");
                    break;
                }
            };
            let full = claimed.len() == free;
            for c in claimed {
                // Only this loop takes permits, and `free` were free.
                let Ok(permit) = ctx.permits.clone().acquire_owned().await else {
                    return;
                };
                let span = tracing::info_span!("deliver", delivery = %c.id, destination = %c.destination_id, attempt = c.attempts);
                ctx.tracker
                    .spawn(deliver(ctx.clone(), c, permit).instrument(span));
            }
            if !full {
                break;
            }
        }
    }
}

/// Claims up to `n` due deliveries, at most `per_destination` in flight per destination
/// (see the module's description).
///
/// `busy` counts each destination's live claims (the partial index
/// `crm_deliveries_claimed` holds only claimed rows); `ranked` numbers the due rows per
/// destination, oldest first; `due` locks those that fit under the cap. A window function
/// cannot share a `SELECT` with `FOR UPDATE`, hence two steps; `due` repeats the due test so
/// that a row another replica claimed and committed since this statement's snapshot is
/// re-checked on its new version and left alone.
async fn claim(ctx: &Ctx, n: usize) -> Result<Vec<Claimed>, sqlx::Error> {
    sqlx::query_as(
        "WITH busy AS ( \
           SELECT destination_id, count(*) AS n FROM crm_deliveries \
           WHERE status = 'pending' AND claim_id IS NOT NULL AND next_attempt_at > now() \
           GROUP BY destination_id \
         ), ranked AS ( \
           SELECT d.id, coalesce(b.n, 0) + row_number() OVER ( \
               PARTITION BY d.destination_id ORDER BY d.next_attempt_at, d.id) AS slot \
           FROM crm_deliveries d JOIN crm_destinations t ON t.id = d.destination_id \
           LEFT JOIN busy b ON b.destination_id = d.destination_id \
           WHERE d.status = 'pending' AND d.next_attempt_at <= now() \
             AND t.enabled AND t.deleted_at IS NULL \
         ), due AS ( \
           SELECT d.id FROM crm_deliveries d JOIN ranked r ON r.id = d.id \
           WHERE r.slot <= $3 AND d.status = 'pending' AND d.next_attempt_at <= now() \
           ORDER BY d.next_attempt_at, d.id LIMIT $1 \
           FOR UPDATE OF d SKIP LOCKED \
         ), claimed AS ( \
           UPDATE crm_deliveries d SET attempts = d.attempts + 1, claim_id = gen_random_uuid(), \
             next_attempt_at = now() + make_interval(secs => $2), updated_at = now() \
           FROM due WHERE d.id = due.id \
           RETURNING d.id, d.group_id, d.destination_id, d.payload, d.attempts, d.retry_step, \
             d.claim_id, d.test \
         ), interrupted AS ( \
           UPDATE crm_attempts a SET outcome = 'interrupted', finished_at = now(), \
             error = 'crm-export stopped before the answer; tried again with the same id' \
           FROM claimed c WHERE a.delivery_id = c.id AND a.outcome = 'sending' \
         ), logged AS ( \
           INSERT INTO crm_attempts (delivery_id, attempt, group_id) \
           SELECT id, attempts, group_id FROM claimed \
         ) \
         SELECT * FROM claimed",
    )
    .bind(n as i64)
    .bind(ctx.lease.as_secs_f64())
    .bind(ctx.per_destination as i64)
    .fetch_all(&ctx.pool)
    .await
}

/// One attempt of a claimed delivery, its outcome recorded; on shutdown, the claim released.
async fn deliver(ctx: Arc<Ctx>, c: Claimed, _permit: OwnedSemaphorePermit) {
    let (channel, answer) = tokio::select! {
        a = attempt(&ctx, &c, None) => a,
        _ = ctx.shutdown.cancelled() => {
            release(&ctx.pool, &c).await;
            return;
        }
    };
    let outcome = match answer {
        Answer::Delivered { .. } => "delivered",
        Answer::Failed { .. } => "failed",
        Answer::Gone { .. } => "gone",
    };
    match channel {
        Channel::Webhook => {
            metrics::counter!(names::WEBHOOK_ATTEMPTS, "outcome" => outcome).increment(1)
        }
        Channel::Email => metrics::counter!(
            names::EMAIL_ATTEMPTS, "purpose" => "adf", "outcome" => outcome
        )
        .increment(1),
        Channel::Unknown => {}
    }
    if let Err(e) = record(&ctx, &c, channel, answer).await {
        tracing::warn!(error = %e, "cannot record the outcome; the delivery is tried again when its lease ends");
    }
    ctx.wake();
}

/// Gives a claimed delivery back (shutdown): due at once, the attempt logged as interrupted.
async fn release(pool: &PgPool, c: &Claimed) {
    let released = async {
        let mut tx = pool.begin().await?;
        sqlx::query(
            "UPDATE crm_deliveries SET next_attempt_at = now(), claim_id = NULL, updated_at = now() \
             WHERE id = $1 AND claim_id = $2",
        )
        .bind(c.id)
        .bind(c.claim_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE crm_attempts SET outcome = 'interrupted', finished_at = now(), \
             error = 'crm-export stopped before the answer; tried again with the same id' \
             WHERE delivery_id = $1 AND attempt = $2 AND outcome = 'sending'",
        )
        .bind(c.id)
        .bind(c.attempts)
        .execute(&mut *tx)
        .await?;
        tx.commit().await
    };
    match tokio::time::timeout(Duration::from_secs(3), released).await {
        Ok(Ok(())) => tracing::info!(delivery = %c.id, "attempt interrupted by shutdown; released"),
        _ => tracing::warn!(delivery = %c.id, "cannot release the claim; it ends with its lease"),
    }
}

/// The destination as an attempt needs it.
#[derive(sqlx::FromRow)]
struct Target {
    kind: String,
    settings: Json<serde_json::Value>,
    secrets: Vec<String>,
    time_zone: String,
}

/// How an attempt went out (the `channel` label of the delivery metrics).
#[derive(Debug, Clone, Copy)]
enum Channel {
    Webhook,
    Email,
    /// The destination could not be read.
    Unknown,
}

impl Channel {
    fn label(self) -> &'static str {
        match self {
            Channel::Webhook => "webhook",
            Channel::Email => "email",
            Channel::Unknown => "unknown",
        }
    }
}

/// Makes one attempt: loads the destination, sends, and says how it went out and what the
/// receiver answered.
async fn attempt(ctx: &Ctx, c: &Claimed, timeout: Option<Duration>) -> (Channel, Answer) {
    let target = match target(ctx, c).await {
        Ok(t) => t,
        Err(answer) => return (Channel::Unknown, answer),
    };
    send(ctx, c, target, timeout).await
}

/// The destination of a claimed delivery, or the answer when it cannot be read.
async fn target(ctx: &Ctx, c: &Claimed) -> Result<Target, Answer> {
    let target: Option<Target> = match sqlx::query_as(
        "SELECT d.kind, d.settings, d.secrets, r.time_zone FROM crm_destinations d \
         JOIN rooftops r ON r.id = d.rooftop_id WHERE d.id = $1",
    )
    .bind(c.destination_id)
    .fetch_optional(&ctx.pool)
    .await
    {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the destination");
            return Err(Answer::failed(
                None,
                "crm-export could not read the destination",
                None,
            ));
        }
    };
    target.ok_or_else(|| Answer::permanent(None, "the destination no longer exists"))
}

/// Sends a delivery to its destination.
async fn send(
    ctx: &Ctx,
    c: &Claimed,
    target: Target,
    timeout: Option<Duration>,
) -> (Channel, Answer) {
    let webhook_id = c.id.to_string();
    match DestinationKind::parse(&target.kind) {
        Some(DestinationKind::Webhook) => {
            let url = target
                .settings
                .0
                .get("url")
                .and_then(|u| u.as_str())
                .unwrap_or_default()
                .to_string();
            let secrets: Vec<Secret> = target.secrets.into_iter().map(Secret::new).collect();
            let answer = ctx
                .webhooks
                .send(&url, &secrets, &webhook_id, &c.payload, timeout)
                .await;
            (Channel::Webhook, answer)
        }
        Some(DestinationKind::AdfEmail) => {
            let unreadable = |what| (Channel::Email, Answer::permanent(None, what));
            let Ok(dest) = serde_json::from_value::<AdfEmail>(target.settings.0) else {
                return unreadable("the destination's settings are not readable");
            };
            let Ok(event) = serde_json::from_str::<CloudEvent<Lead>>(&c.payload) else {
                return unreadable("the stored lead is not readable");
            };
            let adf = AdfLead {
                lead: &event.data,
                dest: &dest,
                tz: target.time_zone.parse().unwrap_or(chrono_tz::UTC),
                test: c.test,
            };
            let mut subject = format!("Lead from Showroom chat — {}", adf.dealership());
            if c.test {
                subject.insert_str(0, "[TEST] ");
            }
            let send = ctx.mailer.send(c.id, &dest.to, &subject, adf.xml());
            let answer = match timeout {
                Some(t) => tokio::time::timeout(t, send).await.unwrap_or_else(|_| {
                    Answer::failed(None, "the SMTP server did not answer in time", None)
                }),
                None => send.await,
            };
            (Channel::Email, answer)
        }
        None => (
            Channel::Unknown,
            Answer::permanent(None, "unknown destination kind"),
        ),
    }
}

/// How an answer changes a delivery.
struct Decision {
    status: DeliveryStatus,
    outcome: AttemptOutcome,
    /// Seconds until the next attempt (pending only).
    wait: Option<f64>,
    retry_step: i32,
    event: Option<DeliveryEventKind>,
    code: Option<i32>,
    error: Option<String>,
}

fn decide(schedule: &Schedule, c: &Claimed, answer: &Answer) -> Decision {
    let base = |status, outcome, event, code, error| Decision {
        status,
        outcome,
        wait: None,
        retry_step: c.retry_step,
        event: if c.test { None } else { event },
        code,
        error,
    };
    match answer {
        Answer::Delivered { code } => base(
            DeliveryStatus::Delivered,
            AttemptOutcome::Delivered,
            Some(DeliveryEventKind::Delivered),
            *code,
            None,
        ),
        Answer::Gone { code } => base(
            if c.test {
                DeliveryStatus::Failed
            } else {
                DeliveryStatus::DeadLettered
            },
            AttemptOutcome::Gone,
            Some(DeliveryEventKind::DeadLettered),
            *code,
            Some(
                "410 Gone: the receiver wants no more deliveries; the destination is disabled"
                    .into(),
            ),
        ),
        Answer::Failed {
            code,
            error,
            retry_after,
            permanent,
        } => {
            if c.test {
                return base(
                    DeliveryStatus::Failed,
                    AttemptOutcome::Failed,
                    None,
                    *code,
                    Some(error.clone()),
                );
            }
            let wait = if *permanent {
                None
            } else {
                schedule.next_wait(c.retry_step.max(0) as usize, *retry_after)
            };
            match wait {
                Some(w) => Decision {
                    status: DeliveryStatus::Pending,
                    outcome: AttemptOutcome::Failed,
                    wait: Some(w.as_secs_f64()),
                    retry_step: c.retry_step + 1,
                    event: Some(DeliveryEventKind::Failed),
                    code: *code,
                    error: Some(error.clone()),
                },
                None => base(
                    DeliveryStatus::DeadLettered,
                    AttemptOutcome::DeadLettered,
                    Some(DeliveryEventKind::DeadLettered),
                    *code,
                    Some(error.clone()),
                ),
            }
        }
    }
}

/// Records an attempt's outcome (fenced by the claim) with its event, publishes the event,
/// and answers the delivery as it now is (with its log), or `None` when the claim was lost.
async fn record(
    ctx: &Ctx,
    c: &Claimed,
    channel: Channel,
    answer: Answer,
) -> Result<Option<Delivery>, sqlx::Error> {
    let d = decide(&ctx.schedule, c, &answer);
    let mut tx = ctx.pool.begin().await?;
    let mine = sqlx::query(
        "UPDATE crm_deliveries SET status = $3, retry_step = $4, \
         next_attempt_at = CASE WHEN $5::float8 IS NULL THEN NULL ELSE now() + make_interval(secs => $5) END, \
         claim_id = NULL, last_status_code = $6, last_error = $7, \
         delivered_at = CASE WHEN $3 = 'delivered' THEN now() ELSE delivered_at END, updated_at = now() \
         WHERE id = $1 AND claim_id = $2",
    )
    .bind(c.id)
    .bind(c.claim_id)
    .bind(d.status.as_str())
    .bind(d.retry_step)
    .bind(d.wait)
    .bind(d.code)
    .bind(&d.error)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    sqlx::query(
        "UPDATE crm_attempts SET outcome = $3, finished_at = now(), status_code = $4, error = $5, \
         retry_at = CASE WHEN $6::float8 IS NULL THEN NULL ELSE now() + make_interval(secs => $6) END \
         WHERE delivery_id = $1 AND attempt = $2",
    )
    .bind(c.id)
    .bind(c.attempts)
    .bind(d.outcome.as_str())
    .bind(d.code)
    .bind(&d.error)
    .bind(if mine { d.wait } else { None })
    .execute(&mut *tx)
    .await?;
    if !mine {
        // Someone else holds the delivery now (our lease ran out, or it was cancelled): the
        // log keeps what happened; the delivery's state is theirs.
        tx.commit().await?;
        tracing::info!(delivery = %c.id, "outcome logged; the claim had passed on");
        return Ok(None);
    }
    let mut staged = Staged::default();
    let mut also_dead = Vec::new();
    if matches!(answer, Answer::Gone { .. }) {
        sqlx::query(
            "UPDATE crm_destinations SET enabled = false, updated_at = now(), disabled_at = now(), \
             disabled_reason = 'the receiver answered 410 Gone on ' || to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') || ' UTC' \
             WHERE id = $1",
        )
        .bind(c.destination_id)
        .execute(&mut *tx)
        .await?;
        also_dead = sqlx::query_scalar(
            "UPDATE crm_deliveries SET status = 'dead_lettered', next_attempt_at = NULL, \
             claim_id = NULL, last_error = 'the destination was disabled (410 Gone)', updated_at = now() \
             WHERE destination_id = $1 AND status = 'pending' AND id <> $2 RETURNING id",
        )
        .bind(c.destination_id)
        .bind(c.id)
        .fetch_all(&mut *tx)
        .await?;
        tracing::warn!(destination = %c.destination_id, "the receiver answered 410 Gone: destination disabled");
    }
    let delivery = log::delivery(&mut *tx, c.id).await?;
    if let (Some(kind), Some(delivery)) = (d.event, &delivery) {
        let attempt = log::attempt(&mut *tx, c.id, c.attempts).await?;
        let event = DeliveryEvent {
            delivery: delivery.clone(),
            attempt,
        };
        staged.add(&mut tx, c.group_id, kind, event).await?;
        for other in also_dead {
            if let Some(o) = log::delivery(&mut *tx, other).await? {
                let event = DeliveryEvent {
                    delivery: o,
                    attempt: None,
                };
                staged
                    .add(&mut tx, c.group_id, DeliveryEventKind::DeadLettered, event)
                    .await?;
            }
        }
    }
    tx.commit().await?;
    if d.status == DeliveryStatus::DeadLettered {
        metrics::counter!(names::DEAD_LETTERS, "channel" => channel.label()).increment(1);
    }
    staged.flush(&ctx.bus, &ctx.pool).await;
    match d.outcome {
        AttemptOutcome::Delivered => tracing::info!(code = ?d.code, "delivered"),
        AttemptOutcome::Failed if d.status == DeliveryStatus::Pending => {
            tracing::info!(code = ?d.code, error = ?d.error, wait_secs = ?d.wait, "attempt failed; retrying later")
        }
        _ => {
            tracing::warn!(outcome = d.outcome.as_str(), code = ?d.code, error = ?d.error, "delivery ended without success")
        }
    }
    match delivery {
        Some(del) => Ok(log::with_logs(&ctx.pool, vec![del]).await?.pop()),
        None => Ok(None),
    }
}

/// Sends a made-up lead (CloudEvent type [`LEAD_TEST`]) to one destination now, once, and
/// answers how it went. It is logged like any delivery (`test: true`), never retried, never
/// dead-lettered, and publishes no event. Enabled or not, the destination is tried: that is
/// how a manager checks it before turning it on.
pub async fn test_send(
    ctx: &Ctx,
    group: Uuid,
    r: DestinationRef,
) -> Result<Delivery, CommandError> {
    let row: Option<(Uuid, String, Option<Uuid>, Option<String>)> = sqlx::query_as(
        "SELECT r.id, r.name, p.id, p.label FROM crm_destinations d \
         JOIN rooftops r ON r.id = d.rooftop_id LEFT JOIN departments p ON p.id = d.department_id \
         WHERE d.id = $1 AND d.group_id = $2 AND d.deleted_at IS NULL",
    )
    .bind(r.destination_id)
    .bind(group)
    .fetch_optional(&ctx.pool)
    .await
    .map_err(db_error)?;
    let Some((rooftop_id, rooftop_name, dep_id, dep_label)) = row else {
        return Err(CommandError::new(
            ErrorCode::NotFound,
            "no such destination",
        ));
    };
    let lead = test_lead(
        group,
        Named {
            id: rooftop_id,
            name: rooftop_name,
        },
        dep_id.map(|id| DepartmentRef {
            id,
            label: dep_label.unwrap_or_default(),
        }),
    );
    let event = CloudEvent::lead(Uuid::new_v4(), LEAD_TEST, lead);
    let payload = serde_json::to_string(&event)
        .map_err(|e| CommandError::new(ErrorCode::Internal, e.to_string()))?;
    let claimed = Claimed {
        id: Uuid::now_v7(),
        group_id: group,
        destination_id: r.destination_id,
        payload,
        attempts: 1,
        retry_step: 0,
        claim_id: Uuid::new_v4(),
        test: true,
    };
    let mut tx = ctx.pool.begin().await.map_err(db_error)?;
    sqlx::query(
        "INSERT INTO crm_deliveries (id, group_id, destination_id, lead_id, payload, test, attempts, \
         next_attempt_at, claim_id) \
         VALUES ($1, $2, $3, $4, $5, true, 1, now() + make_interval(secs => $6), $7)",
    )
    .bind(claimed.id)
    .bind(group)
    .bind(r.destination_id)
    .bind(event.data.id)
    .bind(&claimed.payload)
    .bind(ctx.lease.as_secs_f64())
    .bind(claimed.claim_id)
    .execute(&mut *tx)
    .await
    .map_err(db_error)?;
    sqlx::query("INSERT INTO crm_attempts (delivery_id, attempt, group_id) VALUES ($1, 1, $2)")
        .bind(claimed.id)
        .bind(group)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
    tx.commit().await.map_err(db_error)?;
    let (channel, answer) = attempt(ctx, &claimed, Some(ctx.test_timeout)).await;
    record(ctx, &claimed, channel, answer)
        .await
        .map_err(db_error)?
        .ok_or_else(|| CommandError::new(ErrorCode::Unavailable, "the test send was interrupted"))
}

/// The made-up lead of a test send.
fn test_lead(group: Uuid, rooftop: Named, department: Option<DepartmentRef>) -> Lead {
    let now = Utc::now();
    Lead {
        id: Uuid::new_v4(),
        group_id: group,
        rooftop,
        department,
        origin: LeadOrigin::MessageLeft,
        contact: LeadContact {
            id: Uuid::nil(),
            first_name: "Test".into(),
            last_name: "Lead".into(),
            email: Some("test.lead@showroom.invalid".into()),
            phone: Some("+15555550100".into()),
            consent: None,
            language: Language::En,
        },
        vehicle: Some(Vehicle {
            year: Some(2024),
            make: Some("Honda".into()),
            model: Some("CR-V".into()),
            trim: Some("EX-L".into()),
            ..Default::default()
        }),
        message: Some("This is a test lead from Showroom. Please ignore it.".into()),
        conversation_id: None,
        transcript_url: None,
        form: Vec::new(),
        classification: Classification::default(),
        sources: Vec::new(),
        created_at: now,
        updated_at: now,
        version: 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claimed(step: i32, test: bool) -> Claimed {
        Claimed {
            id: Uuid::nil(),
            group_id: Uuid::nil(),
            destination_id: Uuid::nil(),
            payload: String::new(),
            attempts: step + 1,
            retry_step: step,
            claim_id: Uuid::nil(),
            test,
        }
    }

    #[test]
    fn failures_retry_then_dead_letter() {
        let s = Schedule::parse("1s 2s").unwrap();
        let fail = Answer::failed(Some(500), "HTTP 500", None);
        let d = decide(&s, &claimed(0, false), &fail);
        assert_eq!(d.status, DeliveryStatus::Pending);
        assert_eq!(d.retry_step, 1);
        assert_eq!(d.event, Some(DeliveryEventKind::Failed));
        let d = decide(&s, &claimed(1, false), &fail);
        assert_eq!(d.status, DeliveryStatus::Pending);
        let d = decide(&s, &claimed(2, false), &fail);
        assert_eq!(d.status, DeliveryStatus::DeadLettered);
        assert_eq!(d.outcome, AttemptOutcome::DeadLettered);
        assert_eq!(d.event, Some(DeliveryEventKind::DeadLettered));
        let d = decide(&s, &claimed(0, false), &Answer::permanent(Some(550), "no"));
        assert_eq!(d.status, DeliveryStatus::DeadLettered);
    }

    #[test]
    fn gone_and_tests() {
        let s = Schedule::parse("1s").unwrap();
        let d = decide(&s, &claimed(0, false), &Answer::Gone { code: Some(410) });
        assert_eq!(
            (d.status, d.outcome),
            (DeliveryStatus::DeadLettered, AttemptOutcome::Gone)
        );
        let fail = Answer::failed(Some(500), "HTTP 500", None);
        let d = decide(&s, &claimed(0, true), &fail);
        assert_eq!((d.status, d.event), (DeliveryStatus::Failed, None));
        let d = decide(
            &s,
            &claimed(0, true),
            &Answer::Delivered { code: Some(200) },
        );
        assert_eq!((d.status, d.event), (DeliveryStatus::Delivered, None));
    }
}
