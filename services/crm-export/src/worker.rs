//! Delivering: each replica claims due deliveries, attempts them, and records each outcome.
//!
//! **Claim.** One statement picks due rows `FOR UPDATE SKIP LOCKED` (replicas never pick the
//! same row), counts the attempt, gives it a fresh `claim_id`, a lease (`next_attempt_at`
//! moves to the end of the lease) and its start (`claimed_at`), logs the attempt a dead worker
//! left (a claim whose lease ended with no outcome) as `interrupted`, and answers each row with
//! its destination's settings (no read per attempt). The new attempt is not written to
//! `crm_attempts` yet: its row is written once, with its outcome, and until then the log shows
//! it from the delivery ([`crate::log`]). No lock is held during the network call.
//!
//! **Fairness.** The claim takes the oldest due rows, but at most `per_destination_in_flight`
//! attempts in flight per destination, so one dealer's slow or dead endpoint with a backlog
//! cannot fill every slot (each attempt waiting for its time-out) and hold up every other
//! dealer group's leads. A destination's attempts in flight are its live claims: `pending`
//! rows with a `claim_id` whose lease has not ended (`next_attempt_at > now()`). A claim a dead
//! worker left counts only until its lease ends, when the row is due again, so it can never
//! block a destination for good. The claim walks the destinations that have pending rows (a
//! skip scan of the index `crm_deliveries_due_per_destination`) and, per enabled one, takes its
//! oldest due rows up to the room under the cap (`LATERAL … LIMIT`, through the same index):
//! its cost grows with the destinations that have work, not with the backlog nor with the
//! destinations that have none. Within a replica the cap is exact. Across replicas it is
//! approximate: it is read from each claim's snapshot and enforced by no lock. Replicas skip
//! each other's locks, so they normally stay within it, but claims racing a lease's end, or a
//! release, can go briefly over, and test sends (which run at once, outside the slots) count
//! against it without being held back by it.
//!
//! **Outcome.** Recorded only where `claim_id` still matches (a worker whose lease ran out and
//! whose row someone else claimed cannot overwrite the newer state), with the `delivery.*`
//! event in the same transaction (see [`crate::outbox`]). A finished attempt hands its outcome
//! to the replica's recorder ([`record_outcomes`]) and frees its slot; the recorder writes every
//! outcome waiting at that moment in one transaction (a few statements over arrays, one commit),
//! wakes the worker and then publishes their events, so a commit is shared by many attempts.
//! Two such transactions may run at once: while one commits, the next batch gathers. Until its outcome
//! is committed an attempt still counts against its destination's cap (its claim is live).
//!
//! **Stopping.** On shutdown an attempt under way is dropped and its claim released (the row is
//! due at once, the attempt logged `interrupted`); if the process dies instead, the lease ends
//! and another worker takes the row. Either way the receiver may see the same delivery twice,
//! with the same `webhook-id` / `Message-ID`, never two different ones, and never none.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use showroom_bus::Bus;
use showroom_config::Secret;
use showroom_proto::contact::Language;
use showroom_proto::conversation::{DepartmentRef, Named, Vehicle};
use showroom_proto::delivery::{
    AdfEmail, AttemptOutcome, Delivery, DeliveryAttempt, DeliveryEvent, DeliveryEventKind,
    DeliveryStatus, DestinationKind, DestinationRef,
};
use showroom_proto::lead::{Classification, CloudEvent, Lead, LeadContact, LeadOrigin};
use showroom_proto::{CommandError, ErrorCode};
use showroom_store::sqlx::{self, PgPool, types::Json};
use showroom_telemetry::metrics::names;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc};
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
/// Most outcomes one recorder transaction writes.
const RECORD_BATCH: usize = 256;
/// Outcomes waiting for the recorder; a full queue holds the attempts back.
const RECORD_QUEUE: usize = 1024;
/// Recorder transactions under way at once (while one commits, the next batch gathers).
const RECORDING: usize = 2;
/// The error an attempt is logged with when it got no answer: crm-export stopped or died.
const INTERRUPTED: &str = "crm-export stopped before the answer; tried again with the same id";

/// What the workers, the intake and the request handlers share.
pub struct Ctx {
    pub(crate) bus: Bus,
    pub(crate) pool: PgPool,
    mailer: Mailer,
    webhooks: webhook::Sender,
    schedule: Schedule,
    lease: Duration,
    permits: Arc<Semaphore>,
    max_in_flight: usize,
    /// Finished attempts, to the recorder.
    outcomes: mpsc::Sender<Outcome>,
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
    ) -> (Self, mpsc::Receiver<Outcome>) {
        let (outcomes, queue) = mpsc::channel(RECORD_QUEUE);
        let ctx = Self {
            bus,
            pool,
            mailer,
            webhooks,
            schedule,
            lease,
            permits: Arc::new(Semaphore::new(max_in_flight)),
            max_in_flight,
            outcomes,
            per_destination,
            test_timeout,
            tracker,
            shutdown,
            wake: Notify::new(),
        };
        (ctx, queue)
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
    /// When this claim began: the attempt's `started_at` in the log.
    claimed_at: DateTime<Utc>,
    test: bool,
}

/// A claimed delivery with its destination, as the claim answers it.
#[derive(sqlx::FromRow)]
struct ClaimedRow {
    #[sqlx(flatten)]
    claimed: Claimed,
    #[sqlx(flatten)]
    target: Target,
}

/// A finished attempt, waiting to be recorded.
pub(crate) struct Outcome {
    c: Claimed,
    channel: Channel,
    answer: Answer,
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
            for ClaimedRow { claimed: c, target } in claimed {
                // Only this loop takes permits, and `free` were free.
                let Ok(permit) = ctx.permits.clone().acquire_owned().await else {
                    return;
                };
                let span = tracing::info_span!("deliver", delivery = %c.id, destination = %c.destination_id, attempt = c.attempts);
                ctx.tracker
                    .spawn(deliver(ctx.clone(), c, target, permit).instrument(span));
            }
            if !full {
                break;
            }
        }
    }
}

/// The claim (see the module's description): `$1` rows at most, a lease of `$2` seconds, `$3`
/// attempts in flight per destination at most, `$4` the error an interrupted attempt is logged
/// with ([`INTERRUPTED`]).
///
/// `pending` walks the destinations that have pending rows, one index probe each (a skip scan
/// of `crm_deliveries_due_per_destination`: each step asks for the first destination after the
/// last one), so a claim costs what the destinations with work cost, not what every enabled
/// destination of every dealer group does; most have nothing pending most of the time (before,
/// each claim probed every enabled destination, `loadtest/README.md`, "The attempt logged
/// once, and claims that skip idle destinations").
///
/// `dest` is every enabled destination with a due row, with its room under the cap: the cap
/// minus its live claims (counted through the partial index `crm_deliveries_claimed`, which
/// holds only claimed rows). `due` takes, per destination with room, its oldest due rows up to that room
/// (`LATERAL … LIMIT`, an index range scan on `crm_deliveries_due_per_destination`), locked
/// `SKIP LOCKED`; a row another replica claimed and committed since this statement's snapshot
/// is re-checked on its new version and left alone. `picked` keeps the oldest `n` of them.
///
/// `interrupted` logs the attempt of each picked row that still had a claim (its worker died,
/// and its lease ended before an outcome): `ON CONFLICT` leaves alone an outcome already there,
/// and turns into `interrupted` a `sending` row an older crm-export wrote at its claim.
///
/// Every step reaches rows through an index, whatever the planner's statistics say: it runs in
/// a [`showroom_store::begin_by_index`] transaction, and the due row each destination needs is
/// a `LATERAL … LIMIT 1` probe of `crm_deliveries_due_per_destination` for that destination.
/// Written as `EXISTS`, a burst of new rows after the last `ANALYZE` (the table looked small)
/// had the planner scan every destination's due entries once per destination instead
/// (`loadtest/README.md`, "Plans that hold with stale statistics"); the transaction's settings
/// are tested by `tests::plans_hold_with_stale_statistics`.
pub(crate) const CLAIM_SQL: &str = "WITH RECURSIVE pending(id) AS ( \
           (SELECT p.destination_id FROM crm_deliveries p WHERE p.status = 'pending' \
            ORDER BY p.destination_id LIMIT 1) \
           UNION ALL \
           SELECT (SELECT p.destination_id FROM crm_deliveries p \
                   WHERE p.status = 'pending' AND p.destination_id > q.id \
                   ORDER BY p.destination_id LIMIT 1) \
           FROM pending q WHERE q.id IS NOT NULL \
         ), dest AS ( \
           SELECT t.id, \
             $3 - (SELECT count(*) FROM crm_deliveries b \
                   WHERE b.destination_id = t.id AND b.status = 'pending' \
                     AND b.claim_id IS NOT NULL AND b.next_attempt_at > now()) AS room \
           FROM pending q JOIN crm_destinations t ON t.id = q.id CROSS JOIN LATERAL ( \
             SELECT 1 FROM crm_deliveries e WHERE e.destination_id = t.id \
               AND e.status = 'pending' AND e.next_attempt_at <= now() LIMIT 1) has_due \
           WHERE t.enabled AND t.deleted_at IS NULL \
         ), due AS ( \
           SELECT c.* FROM dest t CROSS JOIN LATERAL ( \
             SELECT d.id, d.next_attempt_at, d.group_id, d.attempts, d.claim_id, d.claimed_at \
             FROM crm_deliveries d \
             WHERE d.destination_id = t.id AND d.status = 'pending' AND d.next_attempt_at <= now() \
             ORDER BY d.next_attempt_at, d.id \
             LIMIT least(greatest(t.room, 0), $1) \
             FOR UPDATE OF d SKIP LOCKED \
           ) c \
         ), picked AS ( \
           SELECT * FROM due ORDER BY next_attempt_at, id LIMIT $1 \
         ), claimed AS ( \
           UPDATE crm_deliveries d SET attempts = d.attempts + 1, claim_id = gen_random_uuid(), \
             claimed_at = now(), next_attempt_at = now() + make_interval(secs => $2), \
             updated_at = now() \
           FROM picked WHERE d.id = picked.id \
           RETURNING d.id, d.group_id, d.destination_id, d.payload, d.attempts, d.retry_step, \
             d.claim_id, d.claimed_at, d.test \
         ), interrupted AS ( \
           INSERT INTO crm_attempts (delivery_id, attempt, group_id, started_at, finished_at, \
             outcome, error) \
           SELECT p.id, p.attempts, p.group_id, coalesce(p.claimed_at, now()), now(), \
             'interrupted', $4 \
           FROM picked p WHERE p.claim_id IS NOT NULL \
           ON CONFLICT (delivery_id, attempt) DO UPDATE SET outcome = excluded.outcome, \
             finished_at = excluded.finished_at, error = excluded.error \
             WHERE crm_attempts.outcome = 'sending' \
         ) \
         SELECT c.*, t.kind, t.settings, t.secrets, r.time_zone \
         FROM claimed c JOIN crm_destinations t ON t.id = c.destination_id \
         JOIN rooftops r ON r.id = t.rooftop_id";

/// Claims up to `n` due deliveries, at most `per_destination` in flight per destination
/// ([`CLAIM_SQL`]).
async fn claim(ctx: &Ctx, n: usize) -> Result<Vec<ClaimedRow>, sqlx::Error> {
    let mut tx = showroom_store::begin_by_index(&ctx.pool).await?;
    let claimed = sqlx::query_as(CLAIM_SQL)
        .bind(n as i64)
        .bind(ctx.lease.as_secs_f64())
        .bind(ctx.per_destination as i64)
        .bind(INTERRUPTED)
        .fetch_all(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(claimed)
}

/// One attempt of a claimed delivery, its outcome handed to the recorder; on shutdown, the
/// claim released.
async fn deliver(ctx: Arc<Ctx>, c: Claimed, target: Target, permit: OwnedSemaphorePermit) {
    let (channel, answer) = tokio::select! {
        a = send(&ctx, &c, target, None) => a,
        _ = ctx.shutdown.cancelled() => {
            release(&ctx.pool, &c).await;
            return;
        }
    };
    count(channel, &answer);
    // The slot stays taken until the recorder has the outcome: a full queue holds attempts back.
    if ctx
        .outcomes
        .send(Outcome { c, channel, answer })
        .await
        .is_err()
    {
        tracing::warn!("the recorder is gone; the delivery is tried again when its lease ends");
    }
    drop(permit);
}

/// Counts an attempt in the delivery metrics.
fn count(channel: Channel, answer: &Answer) {
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
}

/// Records finished attempts until shutdown: everything waiting at each moment in one
/// transaction (see [`record`]), up to [`RECORDING`] transactions at once, each waking the
/// worker as it commits (the destinations now have room). On shutdown it records what the
/// attempts still running hand over, then ends.
pub(crate) async fn record_outcomes(ctx: Arc<Ctx>, mut queue: mpsc::Receiver<Outcome>) {
    let recording = Arc::new(Semaphore::new(RECORDING));
    loop {
        let Ok(turn) = recording.clone().acquire_owned().await else {
            return;
        };
        let mut batch = Vec::with_capacity(RECORD_BATCH);
        let got = tokio::select! {
            n = queue.recv_many(&mut batch, RECORD_BATCH) => n,
            _ = ctx.shutdown.cancelled() => 0,
        };
        if got == 0 {
            break;
        }
        let c = ctx.clone();
        ctx.tracker.spawn(async move {
            record_or_leave(&c, batch).await;
            drop(turn);
        });
    }
    // Shutdown: attempts that finished before they saw it still hand their outcomes over.
    loop {
        let mut batch = Vec::new();
        while let Ok(o) = queue.try_recv() {
            batch.push(o);
        }
        if !batch.is_empty() {
            record_or_leave(&ctx, batch).await;
        }
        if ctx.permits.available_permits() == ctx.max_in_flight && queue.is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Records a batch, trying three times, wakes the worker and publishes the events; when
/// Postgres stays away the deliveries are tried again when their leases end.
async fn record_or_leave(ctx: &Ctx, batch: Vec<Outcome>) {
    let mut pause = Duration::from_millis(50);
    for attempt in 1..=3 {
        match record(ctx, &batch).await {
            Ok((_, staged)) => {
                ctx.wake();
                staged.flush(&ctx.bus, &ctx.pool).await;
                return;
            }
            Err(e) if attempt < 3 => {
                tracing::warn!(error = %e, outcomes = batch.len(), "cannot record outcomes; retrying");
                tokio::time::sleep(pause).await;
                pause *= 4;
            }
            Err(e) => tracing::warn!(
                error = %e, outcomes = batch.len(),
                "cannot record outcomes; the deliveries are tried again when their leases end"
            ),
        }
    }
}

/// Gives a claimed delivery back (shutdown): due at once, the attempt logged as interrupted
/// (unless the claim had passed on, and its new holder logged it so already).
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
            "INSERT INTO crm_attempts (delivery_id, attempt, group_id, started_at, finished_at, \
               outcome, error) \
             VALUES ($1, $2, $3, $4, now(), 'interrupted', $5) \
             ON CONFLICT (delivery_id, attempt) DO NOTHING",
        )
        .bind(c.id)
        .bind(c.attempts)
        .bind(c.group_id)
        .bind(c.claimed_at)
        .bind(INTERRUPTED)
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
#[derive(Debug, Clone, sqlx::FromRow)]
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

/// The outcomes of a batch (arrays, one element per attempt: delivery, claim, attempt, new
/// status, retry step, seconds to wait, status code, error, attempt outcome, dealer group, the
/// attempt's start): updates the deliveries whose claim still matches and logs every attempt,
/// its row written here once; answers the deliveries updated. An attempt whose lease ran out
/// was logged `interrupted` by the claim that took its row since: its real outcome replaces that.
pub(crate) const RECORD_SQL: &str = "WITH o AS ( \
           SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::int4[], $4::text[], $5::int4[], \
             $6::float8[], $7::int4[], $8::text[], $9::text[], $10::uuid[], $11::timestamptz[]) \
             AS o(id, claim_id, attempt, status, retry_step, wait_secs, code, error, outcome, \
               group_id, started_at) \
         ), mine AS ( \
           UPDATE crm_deliveries d SET status = o.status, retry_step = o.retry_step, \
             next_attempt_at = CASE WHEN o.wait_secs IS NULL THEN NULL \
               ELSE now() + make_interval(secs => o.wait_secs) END, \
             claim_id = NULL, last_status_code = o.code, last_error = o.error, \
             delivered_at = CASE WHEN o.status = 'delivered' THEN now() ELSE d.delivered_at END, \
             updated_at = now() \
           FROM o WHERE d.id = o.id AND d.claim_id = o.claim_id \
           RETURNING d.id \
         ), logged AS ( \
           INSERT INTO crm_attempts (delivery_id, attempt, group_id, started_at, finished_at, \
             outcome, status_code, error, retry_at) \
           SELECT o.id, o.attempt, o.group_id, o.started_at, now(), o.outcome, o.code, o.error, \
             CASE WHEN m.id IS NULL OR o.wait_secs IS NULL THEN NULL \
               ELSE now() + make_interval(secs => o.wait_secs) END \
           FROM o LEFT JOIN mine m ON m.id = o.id \
           ON CONFLICT (delivery_id, attempt) DO UPDATE SET finished_at = excluded.finished_at, \
             outcome = excluded.outcome, status_code = excluded.status_code, \
             error = excluded.error, retry_at = excluded.retry_at \
         ) \
         SELECT id FROM mine";

/// Records outcomes (each fenced by its claim) with their events in one transaction; answers
/// the deliveries whose outcome was theirs to record (the others' claims had passed on: only
/// their attempts are logged) and the events to publish now that they are committed.
///
/// One statement over arrays ([`RECORD_SQL`]) updates the deliveries (where `claim_id` still
/// matches) and logs the attempts; a 410 Gone also disables its destination and dead-letters
/// its other pending deliveries; the events are read back and written to the outbox in one
/// statement each. The transaction finds every row by index ([`showroom_store::begin_by_index`]): each statement
/// touches a batch's rows by id, and right after a burst the statistics can still call the
/// tables small enough to read whole.
async fn record(ctx: &Ctx, batch: &[Outcome]) -> Result<(HashSet<Uuid>, Staged), sqlx::Error> {
    let decisions: Vec<Decision> = batch
        .iter()
        .map(|o| decide(&ctx.schedule, &o.c, &o.answer))
        .collect();
    let ids: Vec<Uuid> = batch.iter().map(|o| o.c.id).collect();
    let claims: Vec<Uuid> = batch.iter().map(|o| o.c.claim_id).collect();
    let attempts: Vec<i32> = batch.iter().map(|o| o.c.attempts).collect();
    let statuses: Vec<&str> = decisions.iter().map(|d| d.status.as_str()).collect();
    let steps: Vec<i32> = decisions.iter().map(|d| d.retry_step).collect();
    let waits: Vec<Option<f64>> = decisions.iter().map(|d| d.wait).collect();
    let codes: Vec<Option<i32>> = decisions.iter().map(|d| d.code).collect();
    let errors: Vec<Option<&str>> = decisions.iter().map(|d| d.error.as_deref()).collect();
    let outcomes: Vec<&str> = decisions.iter().map(|d| d.outcome.as_str()).collect();
    let groups: Vec<Uuid> = batch.iter().map(|o| o.c.group_id).collect();
    let starts: Vec<DateTime<Utc>> = batch.iter().map(|o| o.c.claimed_at).collect();

    let mut tx = showroom_store::begin_by_index(&ctx.pool).await?;
    let mine: Vec<Uuid> = sqlx::query_scalar(RECORD_SQL)
        .bind(&ids)
        .bind(&claims)
        .bind(&attempts)
        .bind(&statuses)
        .bind(&steps)
        .bind(&waits)
        .bind(&codes)
        .bind(&errors)
        .bind(&outcomes)
        .bind(&groups)
        .bind(&starts)
        .fetch_all(&mut *tx)
        .await?;
    let mine: HashSet<Uuid> = mine.into_iter().collect();

    // 410 Gone: the destination is disabled and its other pending deliveries dead-lettered.
    let mut also_dead: Vec<(Uuid, Uuid)> = Vec::new();
    for o in batch.iter().filter(|o| mine.contains(&o.c.id)) {
        if !matches!(o.answer, Answer::Gone { .. }) {
            continue;
        }
        sqlx::query(
            "UPDATE crm_destinations SET enabled = false, updated_at = now(), disabled_at = now(), \
             disabled_reason = 'the receiver answered 410 Gone on ' || to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') || ' UTC' \
             WHERE id = $1",
        )
        .bind(o.c.destination_id)
        .execute(&mut *tx)
        .await?;
        let dead: Vec<Uuid> = sqlx::query_scalar(
            "UPDATE crm_deliveries SET status = 'dead_lettered', next_attempt_at = NULL, \
             claim_id = NULL, last_error = 'the destination was disabled (410 Gone)', updated_at = now() \
             WHERE destination_id = $1 AND status = 'pending' AND id <> $2 RETURNING id",
        )
        .bind(o.c.destination_id)
        .bind(o.c.id)
        .fetch_all(&mut *tx)
        .await?;
        also_dead.extend(dead.into_iter().map(|id| (id, o.c.group_id)));
        tracing::warn!(destination = %o.c.destination_id, "the receiver answered 410 Gone: destination disabled");
    }

    // The events: each delivery as it now is, with its attempt.
    let with_event: Vec<usize> = (0..batch.len())
        .filter(|&i| mine.contains(&ids[i]) && decisions[i].event.is_some())
        .collect();
    let mut staged = Staged::default();
    if !with_event.is_empty() {
        let read: Vec<Uuid> = with_event
            .iter()
            .map(|&i| ids[i])
            .chain(also_dead.iter().map(|(id, _)| *id))
            .collect();
        let mut deliveries: HashMap<Uuid, Delivery> = log::deliveries_by_id(&mut *tx, &read)
            .await?
            .into_iter()
            .map(|d| (d.id, d))
            .collect();
        let (event_ids, event_attempts): (Vec<Uuid>, Vec<i32>) =
            with_event.iter().map(|&i| (ids[i], attempts[i])).unzip();
        let mut logged: HashMap<Uuid, DeliveryAttempt> =
            log::attempts_of(&mut *tx, &event_ids, &event_attempts)
                .await?
                .into_iter()
                .collect();
        for &i in &with_event {
            let (Some(kind), Some(delivery)) = (decisions[i].event, deliveries.remove(&ids[i]))
            else {
                continue;
            };
            let event = DeliveryEvent {
                delivery,
                attempt: logged.remove(&ids[i]),
            };
            staged.add(batch[i].c.group_id, kind, event)?;
        }
        for (id, group) in &also_dead {
            if let Some(delivery) = deliveries.remove(id) {
                let event = DeliveryEvent {
                    delivery,
                    attempt: None,
                };
                staged.add(*group, DeliveryEventKind::DeadLettered, event)?;
            }
        }
        staged.write(&mut tx).await?;
    }
    tx.commit().await?;

    for (o, d) in batch.iter().zip(&decisions) {
        let delivery = o.c.id;
        if !mine.contains(&delivery) {
            // Someone else holds the delivery now (our lease ran out, or it was cancelled): the
            // log keeps what happened; the delivery's state is theirs.
            tracing::info!(%delivery, "outcome logged; the claim had passed on");
            continue;
        }
        if d.status == DeliveryStatus::DeadLettered {
            metrics::counter!(names::DEAD_LETTERS, "channel" => o.channel.label()).increment(1);
        }
        match d.outcome {
            AttemptOutcome::Delivered => tracing::info!(%delivery, code = ?d.code, "delivered"),
            AttemptOutcome::Failed if d.status == DeliveryStatus::Pending => {
                tracing::info!(%delivery, code = ?d.code, error = ?d.error, wait_secs = ?d.wait, "attempt failed; retrying later")
            }
            _ => {
                tracing::warn!(%delivery, outcome = d.outcome.as_str(), code = ?d.code, error = ?d.error, "delivery ended without success")
            }
        }
    }
    Ok((mine, staged))
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
    let (id, claim_id) = (Uuid::now_v7(), Uuid::new_v4());
    // Claimed as it is made, for one attempt now; its log row comes with the outcome.
    let claimed_at: DateTime<Utc> = sqlx::query_scalar(
        "INSERT INTO crm_deliveries (id, group_id, destination_id, lead_id, payload, test, attempts, \
         next_attempt_at, claim_id, claimed_at) \
         VALUES ($1, $2, $3, $4, $5, true, 1, now() + make_interval(secs => $6), $7, now()) \
         RETURNING claimed_at",
    )
    .bind(id)
    .bind(group)
    .bind(r.destination_id)
    .bind(event.data.id)
    .bind(&payload)
    .bind(ctx.lease.as_secs_f64())
    .bind(claim_id)
    .fetch_one(&ctx.pool)
    .await
    .map_err(db_error)?;
    let claimed = Claimed {
        id,
        group_id: group,
        destination_id: r.destination_id,
        payload,
        attempts: 1,
        retry_step: 0,
        claim_id,
        claimed_at,
        test: true,
    };
    let (channel, answer) = attempt(ctx, &claimed, Some(ctx.test_timeout)).await;
    let outcome = Outcome {
        c: claimed,
        channel,
        answer,
    };
    let (mine, staged) = record(ctx, std::slice::from_ref(&outcome))
        .await
        .map_err(db_error)?;
    staged.flush(&ctx.bus, &ctx.pool).await;
    let interrupted = || CommandError::new(ErrorCode::Unavailable, "the test send was interrupted");
    if !mine.contains(&id) {
        return Err(interrupted());
    }
    let delivery = log::delivery(&ctx.pool, id)
        .await
        .map_err(db_error)?
        .ok_or_else(interrupted)?;
    log::with_logs(&ctx.pool, vec![delivery])
        .await
        .map_err(db_error)?
        .pop()
        .ok_or_else(interrupted)
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
        files: Vec::new(),
        payment: None,
        trade_in: None,
        appointments: Vec::new(),
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
    use showroom_store::plan::explain;

    fn claimed(step: i32, test: bool) -> Claimed {
        Claimed {
            id: Uuid::nil(),
            group_id: Uuid::nil(),
            destination_id: Uuid::nil(),
            payload: String::new(),
            attempts: step + 1,
            retry_step: step,
            claim_id: Uuid::nil(),
            claimed_at: Utc::now(),
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

    /// A migrated database with a dealer group, one rooftop and `n` webhook destinations.
    async fn seeded(n: i32) -> anyhow::Result<(showroom_localinfra::Postgres, PgPool, Uuid)> {
        let pg = showroom_localinfra::Postgres::start(Default::default()).await?;
        let pool = showroom_store::connect(&pg.url, 2).await?;
        showroom_store::migrate(&pool).await?;
        let (group, rooftop) = (Uuid::now_v7(), Uuid::now_v7());
        sqlx::query("INSERT INTO dealer_groups (id, name) VALUES ($1, 'Plans')")
            .bind(group)
            .execute(&pool)
            .await?;
        sqlx::query("INSERT INTO rooftops (id, group_id, name, time_zone) VALUES ($1, $2, 'Plans Honda', 'America/Chicago')")
            .bind(rooftop)
            .bind(group)
            .execute(&pool)
            .await?;
        sqlx::query(
            "INSERT INTO crm_destinations (id, group_id, rooftop_id, name, kind, settings) \
             SELECT gen_random_uuid(), $1, $2, 'Hook ' || i, 'webhook', \
               jsonb_build_object('url', 'https://crm.example/' || i) \
             FROM generate_series(1, $3) AS i",
        )
        .bind(group)
        .bind(rooftop)
        .bind(n)
        .execute(&pool)
        .await?;
        Ok((pg, pool, group))
    }

    /// `per_destination` deliveries due for each destination, the oldest a few seconds overdue.
    async fn due(pool: &PgPool, group: Uuid, per_destination: i32) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO crm_deliveries (id, group_id, destination_id, lead_id, payload, \
               next_attempt_at) \
             SELECT gen_random_uuid(), $1, t.id, gen_random_uuid(), '{}', \
               now() - make_interval(secs => i) \
             FROM crm_destinations t, generate_series(1, $2) AS i",
        )
        .bind(group)
        .bind(per_destination)
        .execute(pool)
        .await?;
        Ok(())
    }

    type PgQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

    /// [`CLAIM_SQL`]'s parameters: `n` rows, a lease of a minute, 4 in flight per destination.
    fn bind_claim(q: PgQuery<'_>, n: i64) -> PgQuery<'_> {
        q.bind(n).bind(60.0_f64).bind(4_i64).bind(INTERRUPTED)
    }

    /// [`RECORD_SQL`]'s parameters: each of these claims delivered (HTTP 200).
    fn bind_delivered<'q>(q: PgQuery<'q>, claims: &[Claimed]) -> PgQuery<'q> {
        let n = claims.len();
        q.bind(claims.iter().map(|c| c.id).collect::<Vec<_>>())
            .bind(claims.iter().map(|c| c.claim_id).collect::<Vec<_>>())
            .bind(claims.iter().map(|c| c.attempts).collect::<Vec<_>>())
            .bind(vec!["delivered"; n])
            .bind(vec![0_i32; n])
            .bind(vec![None::<f64>; n])
            .bind(vec![Some(200_i32); n])
            .bind(vec![None::<String>; n])
            .bind(vec!["delivered"; n])
            .bind(claims.iter().map(|c| c.group_id).collect::<Vec<_>>())
            .bind(claims.iter().map(|c| c.claimed_at).collect::<Vec<_>>())
    }

    /// Claims up to `n` rows as the worker does.
    async fn claim_now(pool: &PgPool, n: i64) -> anyhow::Result<Vec<Claimed>> {
        let mut tx = showroom_store::begin_by_index(pool).await?;
        let rows: Vec<ClaimedRow> = bind_claim(sqlx::query(CLAIM_SQL), n)
            .try_map(|r: sqlx::postgres::PgRow| <ClaimedRow as sqlx::FromRow<_>>::from_row(&r))
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(rows.into_iter().map(|r| r.claimed).collect())
    }

    /// Records these claims as delivered; answers the deliveries whose claim still held.
    async fn record_delivered(pool: &PgPool, claims: &[Claimed]) -> anyhow::Result<Vec<Uuid>> {
        let rows = bind_delivered(sqlx::query(RECORD_SQL), claims)
            .fetch_all(pool)
            .await?;
        Ok(rows
            .iter()
            .map(|r| sqlx::Row::try_get(r, 0))
            .collect::<Result<_, _>>()?)
    }

    /// A claimed delivery's lease ends now, as when its worker died mid-attempt.
    async fn lease_ended(pool: &PgPool, id: Uuid) -> anyhow::Result<()> {
        sqlx::query(
            "UPDATE crm_deliveries SET next_attempt_at = now() - interval '1 second' WHERE id = $1",
        )
        .bind(id)
        .execute(pool)
        .await?;
        Ok(())
    }

    /// Each delivery's log as the API shows it: (attempt, outcome) pairs.
    async fn logs(pool: &PgPool, ids: &[Uuid]) -> anyhow::Result<Vec<Vec<(i32, String)>>> {
        let mut out = Vec::new();
        for id in ids {
            let d = log::delivery(pool, *id).await?.expect("the delivery");
            let d = log::with_logs(pool, vec![d]).await?.remove(0);
            out.push(
                d.log
                    .iter()
                    .map(|a| (a.attempt, a.outcome.as_str().to_string()))
                    .collect(),
            );
        }
        Ok(out)
    }

    /// An attempt's log row is written once, with its outcome: the claim writes only the
    /// delivery, and the log shows the attempt under way from it. A claim that takes a row
    /// whose worker died logs that attempt `interrupted`; the dead worker's late outcome, if it
    /// comes, replaces it without touching the delivery; a `sending` row an older crm-export
    /// left is made `interrupted` too. With the claim logging `sending` as it did, the first
    /// assertion fails.
    #[tokio::test]
    async fn an_attempt_is_logged_once_with_its_outcome() -> anyhow::Result<()> {
        let (_pg, pool, group) = seeded(1).await?;
        due(&pool, group, 3).await?;
        let rows = || async {
            let n: i64 = sqlx::query_scalar("SELECT count(*) FROM crm_attempts")
                .fetch_one(&pool)
                .await?;
            anyhow::Ok(n)
        };

        let claims = claim_now(&pool, 3).await?;
        assert_eq!(claims.len(), 3);
        assert_eq!(rows().await?, 0, "the claim wrote attempt rows");
        let ids: Vec<Uuid> = claims.iter().map(|c| c.id).collect();
        let sending = vec![(1, "sending".to_string())];
        assert_eq!(logs(&pool, &ids).await?, vec![sending.clone(); 3]);

        // Two answered: one row each, with the claim's start.
        let mine = record_delivered(&pool, &claims[..2]).await?;
        assert_eq!(mine.len(), 2);
        assert_eq!(rows().await?, 2);
        let started: DateTime<Utc> =
            sqlx::query_scalar("SELECT started_at FROM crm_attempts WHERE delivery_id = $1")
                .bind(claims[0].id)
                .fetch_one(&pool)
                .await?;
        assert_eq!(started, claims[0].claimed_at);
        let delivered = vec![(1, "delivered".to_string())];
        assert_eq!(
            logs(&pool, &ids).await?,
            vec![delivered.clone(), delivered.clone(), sending.clone()]
        );

        // The third one's worker died: after its lease, the next claim logs its attempt.
        let dead = &claims[2];
        lease_ended(&pool, dead.id).await?;
        let again = claim_now(&pool, 3).await?;
        assert_eq!(again.len(), 1);
        assert_eq!((again[0].id, again[0].attempts), (dead.id, 2));
        assert_eq!(
            logs(&pool, &ids[2..]).await?,
            vec![vec![(1, "interrupted".into()), (2, "sending".into())]]
        );
        // Its late answer is logged over `interrupted`; the delivery stays the new claim's.
        assert!(
            record_delivered(&pool, std::slice::from_ref(dead))
                .await?
                .is_empty()
        );
        assert_eq!(
            logs(&pool, &ids[2..]).await?,
            vec![vec![(1, "delivered".into()), (2, "sending".into())]]
        );
        let holder: Option<Uuid> =
            sqlx::query_scalar("SELECT claim_id FROM crm_deliveries WHERE id = $1")
                .bind(dead.id)
                .fetch_one(&pool)
                .await?;
        assert_eq!(holder, Some(again[0].claim_id));

        // An older crm-export logged its attempt `sending` at the claim, then died.
        sqlx::query("INSERT INTO crm_attempts (delivery_id, attempt, group_id) VALUES ($1, 2, $2)")
            .bind(dead.id)
            .bind(group)
            .execute(&pool)
            .await?;
        lease_ended(&pool, dead.id).await?;
        let third = claim_now(&pool, 3).await?;
        assert_eq!(third.len(), 1);
        assert_eq!(
            logs(&pool, &ids[2..]).await?,
            vec![vec![
                (1, "delivered".into()),
                (2, "interrupted".into()),
                (3, "sending".into())
            ]]
        );
        Ok(())
    }

    /// A dealer group with 400 destinations, four of them with leads to deliver: the claim
    /// visits those four (and the skip scan's steps to find them), not all 400. Probing every
    /// enabled destination, as it did, reads about 500 buffers here (118 now) and fails.
    #[tokio::test]
    async fn a_claim_visits_only_the_destinations_with_work() -> anyhow::Result<()> {
        let (_pg, pool, group) = seeded(400).await?;
        sqlx::query(
            "INSERT INTO crm_deliveries (id, group_id, destination_id, lead_id, payload, \
               next_attempt_at) \
             SELECT gen_random_uuid(), $1, t.id, gen_random_uuid(), '{}', now() \
             FROM (SELECT id FROM crm_destinations ORDER BY random() LIMIT 4) t",
        )
        .bind(group)
        .execute(&pool)
        .await?;
        sqlx::raw_sql("ANALYZE crm_deliveries; ANALYZE crm_destinations")
            .execute(&pool)
            .await?;
        let mut tx = showroom_store::begin_by_index(&pool).await?;
        let claim = explain(&mut tx, CLAIM_SQL, |q| bind_claim(q, 16)).await?;
        let claimed: i64 =
            sqlx::query_scalar("SELECT count(*) FROM crm_deliveries WHERE claim_id IS NOT NULL")
                .fetch_one(&mut *tx)
                .await?;
        tx.rollback().await?;
        assert_eq!(claimed, 4, "the claim took the four deliveries");
        assert!(
            claim.buffers < 200,
            "the claim read {} buffers to find 4 deliveries among 400 destinations",
            claim.buffers
        );
        Ok(())
    }

    /// A burst of deliveries lands after the last `ANALYZE`, when the table held a few rows:
    /// the claim and the recorder still reach their rows by index. Without
    /// [`showroom_store::begin_by_index`] both read `crm_deliveries` and `crm_attempts` whole
    /// for 16 rows (`loadtest/README.md`, "Plans that hold with stale statistics").
    #[tokio::test]
    async fn plans_hold_with_stale_statistics() -> anyhow::Result<()> {
        // Sixteen destinations (eight dealers' webhook and ADF e-mail), a few deliveries each,
        // analysed; autovacuum stays out of it, so the statistics stay those of the small table.
        let (_pg, pool, group) = seeded(16).await?;
        due(&pool, group, 1).await?;
        sqlx::raw_sql(
            "ALTER TABLE crm_deliveries SET (autovacuum_enabled = false); \
             ALTER TABLE crm_attempts SET (autovacuum_enabled = false); \
             ANALYZE crm_deliveries; ANALYZE crm_attempts; ANALYZE crm_destinations",
        )
        .execute(&pool)
        .await?;
        due(&pool, group, 250).await?;

        let mut tx = showroom_store::begin_by_index(&pool).await?;
        // The destinations are 16 rows: reading them whole is what an index would cost.
        let big = |t: &Vec<String>| t.iter().any(|t| t != "crm_destinations");
        let claim = explain(&mut tx, CLAIM_SQL, |q| bind_claim(q, 16)).await?;
        let claimed: Vec<Claimed> = sqlx::query_as(
            "SELECT d.id, d.group_id, d.destination_id, d.payload, d.attempts, d.retry_step, \
               d.claim_id, d.claimed_at, d.test \
             FROM crm_deliveries d WHERE d.claim_id IS NOT NULL",
        )
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        assert_eq!(claimed.len(), 16, "the claim took its 16 rows");
        assert!(
            !big(&claim.read_whole),
            "the claim read {} buffers for 16 rows out of 4 016, and whole: {:?}",
            claim.buffers,
            claim.read_whole
        );

        let mut tx = showroom_store::begin_by_index(&pool).await?;
        let record = explain(&mut tx, RECORD_SQL, |q| bind_delivered(q, &claimed)).await?;
        tx.commit().await?;
        let delivered: i64 =
            sqlx::query_scalar("SELECT count(*) FROM crm_deliveries WHERE status = 'delivered'")
                .fetch_one(&pool)
                .await?;
        assert_eq!(delivered, 16, "the outcomes were recorded");
        assert!(
            !big(&record.read_whole),
            "the recorder read {} buffers for 16 rows, and whole: {:?}",
            record.buffers,
            record.read_whole
        );
        Ok(())
    }
}
