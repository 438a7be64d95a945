//! Integrator credentials (`integrations`): a dealer group's admin issues one per integration;
//! it reads that group's lead and delivery events on NATS and nothing else.
//!
//! - **Issue.** A durable consumer on `LEADS` filtered to the group (`integration-<id>`, from
//!   now on), a user JWT signed with the application account's integrator key (permissions from
//!   `showroom_proto::access::integrator`), and a row with the user's public key. The `.creds`
//!   text is answered once and stored nowhere.
//! - **Revoke.** The row is marked, then the application account is published again with every
//!   revoked user in its revocations (`$SYS.REQ.CLAIMS.UPDATE`): nats-server refuses the user
//!   from then on and closes its connections. The consumer is deleted. Publishing takes an
//!   advisory lock, so two replicas cannot publish over each other's revocation; a loop
//!   publishes again what is missing (after a failure, or a server that lost its update).
//! - **Last use.** The system account's connect events name the user; its row's `last_used_at`
//!   follows.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, pull};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::Deserialize;
use showroom_natsauth::IssuerKeys;
use showroom_proto::access;
use showroom_proto::conversation::Named;
use showroom_proto::integration::{
    Integration, IntegrationAccess, IssueIntegration, IssuedIntegration, MAX_NAME,
    RevokeIntegration,
};
use showroom_proto::{CommandError, ErrorCode, v1};
use showroom_store::sqlx::{self, PgPool};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::db_error;

/// How often each replica checks that every revocation is in the account NATS has.
const RESYNC: Duration = Duration::from_secs(60);

/// How long NATS may take to answer an account lookup or update.
const SYSTEM_TIMEOUT: Duration = Duration::from_secs(5);

/// What issues and revokes: the keys, a connection in the system account, JetStream in ours.
pub struct Issuer {
    keys: IssuerKeys,
    system: async_nats::Client,
    js: async_nats::jetstream::Context,
}

impl Issuer {
    /// An issuer with these keys and connections.
    pub fn new(
        keys: IssuerKeys,
        system: async_nats::Client,
        js: async_nats::jetstream::Context,
    ) -> Self {
        Self { keys, system, js }
    }
}

fn not_configured() -> CommandError {
    CommandError::new(
        ErrorCode::Unavailable,
        "integrations are not set up on this installation: crm-export needs \
         SHOWROOM_NATS_ISSUER and SHOWROOM_NATS_SYSTEM_CREDS (see docs/security.md)",
    )
}

fn bus_failed(what: &str, e: impl std::fmt::Display) -> CommandError {
    tracing::error!(error = %e, "{what}");
    CommandError::new(
        ErrorCode::Unavailable,
        format!("{what}: NATS did not do it; retry"),
    )
}

/// What a credential of `group` with id `id` reaches.
fn access_of(group: Uuid, id: Uuid) -> IntegrationAccess {
    let p = access::integrator(group, id);
    IntegrationAccess {
        subjects: p
            .subscribe
            .iter()
            .filter(|s| !s.starts_with("_INBOX"))
            .cloned()
            .collect(),
        stream: v1::leads_stream().name.to_string(),
        consumer: access::integrator_durable(id),
        inbox_prefix: p.inbox,
    }
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    group_id: Uuid,
    name: String,
    created_at: DateTime<Utc>,
    created_by: Option<Uuid>,
    created_by_name: Option<String>,
    last_used_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
    revoked_by: Option<Uuid>,
    revoked_by_name: Option<String>,
}

fn named(id: Option<Uuid>, name: Option<String>) -> Option<Named> {
    Some(Named {
        id: id?,
        name: name.unwrap_or_default(),
    })
}

impl From<Row> for Integration {
    fn from(r: Row) -> Self {
        Integration {
            access: access_of(r.group_id, r.id),
            id: r.id,
            name: r.name,
            created_at: r.created_at,
            created_by: named(r.created_by, r.created_by_name),
            last_used_at: r.last_used_at,
            revoked_at: r.revoked_at,
            revoked_by: named(r.revoked_by, r.revoked_by_name),
        }
    }
}

macro_rules! select {
    () => {
        "SELECT i.id, i.group_id, i.name, i.created_at, i.created_by, \
         c.first_name || ' ' || c.last_name AS created_by_name, i.last_used_at, i.revoked_at, \
         i.revoked_by, r.first_name || ' ' || r.last_name AS revoked_by_name \
         FROM integrations i LEFT JOIN agents c ON c.id = i.created_by \
         LEFT JOIN agents r ON r.id = i.revoked_by "
    };
}

async fn one(pool: &PgPool, group: Uuid, id: Uuid) -> Result<Option<Integration>, CommandError> {
    let row: Option<Row> =
        sqlx::query_as(concat!(select!(), "WHERE i.group_id = $1 AND i.id = $2"))
            .bind(group)
            .bind(id)
            .fetch_optional(pool)
            .await
            .map_err(db_error)?;
    Ok(row.map(Into::into))
}

/// The group's credentials, newest first.
pub async fn list(pool: &PgPool, group: Uuid) -> Result<Vec<Integration>, CommandError> {
    let rows: Vec<Row> = sqlx::query_as(concat!(
        select!(),
        "WHERE i.group_id = $1 ORDER BY i.created_at DESC, i.id"
    ))
    .bind(group)
    .fetch_all(pool)
    .await
    .map_err(db_error)?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// Issues a credential: its consumer, its JWT, its row.
pub async fn issue(
    issuer: Option<&Issuer>,
    pool: &PgPool,
    group: Uuid,
    cmd: IssueIntegration,
) -> Result<IssuedIntegration, CommandError> {
    let name = cmd.name.trim().to_string();
    if name.is_empty() || name.chars().count() > MAX_NAME || name.contains('\0') {
        return Err(CommandError::invalid_fields(BTreeMap::from([(
            "name".to_string(),
            format!("1 to {MAX_NAME} characters of text"),
        )])));
    }
    let issuer = issuer.ok_or_else(not_configured)?;
    let id = Uuid::now_v7();
    let durable = access::integrator_durable(id);
    let leads = v1::leads_stream();
    let stream = issuer
        .js
        .get_stream(leads.name)
        .await
        .map_err(|e| bus_failed("finding the LEADS stream", e))?;
    stream
        .create_consumer(pull::Config {
            durable_name: Some(durable.clone()),
            description: Some(format!("integration {name} of group {group}")),
            filter_subject: format!("{}.{group}.lead.*", v1::ROOT),
            deliver_policy: DeliverPolicy::New,
            ack_policy: AckPolicy::Explicit,
            ack_wait: Duration::from_secs(30),
            max_ack_pending: 1000,
            ..Default::default()
        })
        .await
        .map_err(|e| bus_failed("creating the integration's consumer", e))?;
    let issued = issuer
        .keys
        .integrator_creds(group, id, &name)
        .map_err(|e| bus_failed("signing the credential", e))?;
    let stored = sqlx::query(
        "INSERT INTO integrations (id, group_id, name, user_key, created_by) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(group)
    .bind(&name)
    .bind(&issued.user)
    .bind(cmd.issued_by)
    .execute(pool)
    .await;
    if let Err(e) = stored {
        // Nothing refers to the consumer: take it away again.
        let _ = stream.delete_consumer(&durable).await;
        return Err(db_error(e));
    }
    let integration = one(pool, group, id)
        .await?
        .ok_or_else(|| CommandError::new(ErrorCode::Internal, "the credential vanished"))?;
    tracing::info!(%group, integration = %id, "integrator credential issued");
    Ok(IssuedIntegration {
        integration,
        creds: issued.creds,
    })
}

/// Revokes a credential (again is harmless): NATS refuses it from now on and closes its
/// connections; its consumer goes.
pub async fn revoke(
    issuer: Option<&Issuer>,
    pool: &PgPool,
    group: Uuid,
    cmd: RevokeIntegration,
) -> Result<Integration, CommandError> {
    let issuer = issuer.ok_or_else(not_configured)?;
    let marked = sqlx::query(
        "UPDATE integrations SET revoked_at = now(), revoked_by = $3 \
         WHERE group_id = $1 AND id = $2 AND revoked_at IS NULL",
    )
    .bind(group)
    .bind(cmd.id)
    .bind(cmd.revoked_by)
    .execute(pool)
    .await
    .map_err(db_error)?;
    let integration = one(pool, group, cmd.id)
        .await?
        .ok_or_else(|| CommandError::new(ErrorCode::NotFound, "no such integration"))?;
    publish_revocations(issuer, pool).await?;
    let durable = access::integrator_durable(cmd.id);
    if let Ok(stream) = issuer.js.get_stream(v1::leads_stream().name).await
        && let Err(e) = stream.delete_consumer(&durable).await
        && marked.rows_affected() > 0
    {
        tracing::warn!(error = %e, durable, "cannot delete a revoked integration's consumer");
    }
    if marked.rows_affected() > 0 {
        tracing::info!(%group, integration = %cmd.id, "integrator credential revoked");
    }
    Ok(integration)
}

/// The account NATS has, with every revoked credential of every group in it (published only
/// when one is missing). One replica at a time (a Postgres advisory lock), so none publishes
/// an account without another's new revocation.
pub async fn publish_revocations(issuer: &Issuer, pool: &PgPool) -> Result<(), CommandError> {
    let mut tx = pool.begin().await.map_err(db_error)?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('crm-export:revocations'))")
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
    let revoked: Vec<(String, DateTime<Utc>)> = sqlx::query_as(
        "SELECT user_key, revoked_at FROM integrations WHERE revoked_at IS NOT NULL",
    )
    .fetch_all(&mut *tx)
    .await
    .map_err(db_error)?;
    if revoked.is_empty() {
        return Ok(());
    }
    // Every JWT issued up to a second after the revocation is refused (NATS compares whole
    // seconds): the revoked one was issued before it.
    let revoked: BTreeMap<String, i64> = revoked
        .into_iter()
        .map(|(k, at)| (k, at.timestamp() + 1))
        .collect();
    let account = &issuer.keys.app_account;
    let lookup = tokio::time::timeout(
        SYSTEM_TIMEOUT,
        issuer.system.request(
            format!("$SYS.REQ.ACCOUNT.{account}.CLAIMS.LOOKUP"),
            "".into(),
        ),
    )
    .await
    .map_err(|e| bus_failed("looking up the account", e))?
    .map_err(|e| bus_failed("looking up the account", e))?;
    let current = String::from_utf8_lossy(&lookup.payload).to_string();
    let updated = issuer
        .keys
        .with_revocations(&current, &revoked)
        .map_err(|e| bus_failed("signing the account", e))?;
    let Some(updated) = updated else {
        return Ok(());
    };
    let answer = tokio::time::timeout(
        SYSTEM_TIMEOUT,
        issuer
            .system
            .request("$SYS.REQ.CLAIMS.UPDATE", updated.into()),
    )
    .await
    .map_err(|e| bus_failed("publishing the revocation", e))?
    .map_err(|e| bus_failed("publishing the revocation", e))?;
    let answer: serde_json::Value = serde_json::from_slice(&answer.payload).unwrap_or_default();
    if answer["data"]["code"] != 200 {
        return Err(bus_failed("publishing the revocation", answer));
    }
    tx.commit().await.map_err(db_error)?;
    tracing::info!(revoked = revoked.len(), "revocations published to NATS");
    Ok(())
}

/// The part of a connect event read here.
#[derive(Deserialize)]
struct ConnectEvent {
    timestamp: DateTime<Utc>,
    client: ConnectClient,
}

#[derive(Deserialize)]
struct ConnectClient {
    #[serde(default)]
    user: String,
    #[serde(default)]
    tags: Vec<String>,
}

/// Background work of each replica: `last_used_at` from connect events (one replica per event,
/// a queue group), and revocations published again every minute if NATS lacks one.
pub fn run(
    issuer: Arc<Issuer>,
    pool: PgPool,
    tracker: &tokio_util::task::TaskTracker,
    shutdown: CancellationToken,
) {
    let (i, p, stop) = (issuer.clone(), pool.clone(), shutdown.clone());
    tracker.spawn(async move {
        let subject = format!("$SYS.ACCOUNT.{}.CONNECT", i.keys.app_account);
        let mut events = match i.system.queue_subscribe(subject, "crm-export".into()).await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "cannot follow connect events; last use stays unknown");
                return;
            }
        };
        loop {
            let msg = tokio::select! {
                _ = stop.cancelled() => break,
                m = events.next() => match m { Some(m) => m, None => break },
            };
            let Ok(ev) = serde_json::from_slice::<ConnectEvent>(&msg.payload) else {
                continue;
            };
            // Services connect too; only integrators' users carry a credential tag.
            if !ev.client.tags.iter().any(|t| t.starts_with("credential:")) {
                continue;
            }
            if let Err(e) = sqlx::query(
                "UPDATE integrations SET last_used_at = $2 \
                 WHERE user_key = $1 AND (last_used_at IS NULL OR last_used_at < $2)",
            )
            .bind(&ev.client.user)
            .bind(ev.timestamp)
            .execute(&p)
            .await
            {
                tracing::warn!(error = %e, "cannot record an integrator's connection");
            }
        }
    });
    tracker.spawn(async move {
        loop {
            if let Err(e) = publish_revocations(&issuer, &pool).await {
                tracing::warn!(error = %e.message, "revocations not published; retrying");
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(RESYNC) => {}
            }
        }
    });
}
