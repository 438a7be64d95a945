//! The audit trail (`audit_events`, owned by the gateway): who did what in a dealer group,
//! append-only and chained. [`record`] appends an [`Event`] inside a transaction; [`verify`]
//! walks a group's chain and names the first row that was edited or follows a removed one.
//!
//! **The chain.** Per group, each row's `hash` is SHA-256 of the previous row's hash (32 zero
//! bytes for the first) followed by [`canonical`] bytes of the row's fields; `prev_hash` keeps
//! the previous hash. Appends of one group take `pg_advisory_xact_lock` on the group first (a
//! transaction-level lock: PgBouncer's transaction pooling keeps no session state), so two
//! appends never link to the same predecessor. `detail` is hashed as Postgres prints the jsonb
//! (`detail::text`, one text per value), read back before the insert.
//!
//! **Append-only.** A trigger refuses UPDATE, DELETE and TRUNCATE (migration
//! `20261203000026_audit_trail.sql`); the database owner could disable it, and [`verify`] then
//! finds what was changed. Removing the newest rows of a group leaves a shorter chain that
//! still verifies: the count and the newest hash, exported with the CSV, are what an
//! auditor keeps to notice that.

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use showroom_proto::contact::ClientAddress;
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use crate::auth::Session;
use crate::error::ApiError;

/// What happened, as stored in `kind`.
pub mod kind {
    /// A password sign-in succeeded.
    pub const SIGN_IN: &str = "sign_in";
    /// A password sign-in to an account of the group failed.
    pub const SIGN_IN_FAILED: &str = "sign_in_failed";
    /// An agent was added.
    pub const AGENT_CREATED: &str = "agent_created";
    /// An agent's role changed (names and chat limit with it, if they did).
    pub const ROLE_CHANGED: &str = "role_changed";
    /// An agent's names or chat limit changed, not the role.
    pub const AGENT_CHANGED: &str = "agent_changed";
    /// The departments an agent covers changed.
    pub const MEMBERSHIP_CHANGED: &str = "membership_changed";
    /// An agent was deactivated.
    pub const AGENT_DEACTIVATED: &str = "agent_deactivated";
    /// An agent was reactivated.
    pub const AGENT_REACTIVATED: &str = "agent_reactivated";
    /// An agent changed their password (never the password itself).
    pub const PASSWORD_CHANGED: &str = "password_changed";
    /// A CRM destination was created, changed or removed.
    pub const CRM_DESTINATION_CHANGED: &str = "crm_destination_changed";
    /// An integrator credential was issued.
    pub const INTEGRATION_ISSUED: &str = "integration_issued";
    /// An integrator credential was revoked.
    pub const INTEGRATION_REVOKED: &str = "integration_revoked";
    /// The group's retention periods changed (before and after).
    pub const RETENTION_CHANGED: &str = "retention_changed";
    /// A shopper's data was erased (the counts per table and the identifier's type, never the
    /// e-mail or phone).
    pub const SHOPPER_ERASED: &str = "shopper_erased";
    /// A shopper's data was exported (the rows' count and the identifier's type only).
    pub const SHOPPER_EXPORTED: &str = "shopper_exported";
    /// The rooftops a rooftop manager manages changed, not the role (`rooftop_ids`).
    pub const SCOPE_CHANGED: &str = "scope_changed";
    /// A rooftop was added or changed (`action`, `before`, `after`).
    pub const ROOFTOP_CHANGED: &str = "rooftop_changed";
    /// A department was added, changed or deleted (`action`, `before`, `after`).
    pub const DEPARTMENT_CHANGED: &str = "department_changed";
    /// A website was added or changed (`action`, `before`, `after`).
    pub const WEBSITE_CHANGED: &str = "website_changed";
    /// A department's or a website's routing settings were replaced (before and after).
    pub const ROUTING_CHANGED: &str = "routing_changed";
    /// A team was created or replaced (before and after).
    pub const TEAM_CHANGED: &str = "team_changed";
    /// A website's bot settings were replaced (before and after).
    pub const BOT_SETTINGS_CHANGED: &str = "bot_settings_changed";
    /// A website's pre-chat or offline form was replaced (before and after).
    pub const FORM_CHANGED: &str = "form_changed";
    /// A website's e-mail settings were replaced (before and after).
    pub const WEBSITE_EMAILS_CHANGED: &str = "website_emails_changed";
    /// A conversation's transcript was read over REST.
    pub const TRANSCRIPT_VIEWED: &str = "transcript_viewed";
    /// A conversation's transcript was downloaded.
    pub const TRANSCRIPT_EXPORTED: &str = "transcript_exported";
    /// Leads were downloaded as CSV (detail: how many).
    pub const LEADS_EXPORTED: &str = "leads_exported";
    /// A report was downloaded as CSV (detail: which, its range, how many rows).
    pub const REPORT_EXPORTED: &str = "report_exported";
    /// A rooftop's appointments were downloaded as CSV (detail: the rooftop, how many).
    pub const APPOINTMENTS_EXPORTED: &str = "appointments_exported";
    /// A department's appointment settings changed (detail: `before`, `after`).
    pub const APPOINTMENT_SETTINGS_CHANGED: &str = "appointment_settings_changed";
    /// An agent enrolled a second factor (detail: the method, never a secret).
    pub const MFA_ENROLLED: &str = "mfa_enrolled";
    /// An agent removed a second factor (detail: the method).
    pub const MFA_REMOVED: &str = "mfa_removed";
    /// An agent replaced their recovery codes (never the codes).
    pub const RECOVERY_CODES_REGENERATED: &str = "recovery_codes_regenerated";
    /// An admin removed an agent's second factors (a lost device).
    pub const MFA_RESET: &str = "mfa_reset";
    /// The group's MFA policy changed (before, after).
    pub const MFA_POLICY_CHANGED: &str = "mfa_policy_changed";
    /// The group's single sign-on settings changed (before, after; never the client secret,
    /// only the name of its key).
    pub const SSO_SETTINGS_CHANGED: &str = "sso_settings_changed";
    /// The identity provider ended an agent's sessions (back-channel logout; `sso.rs`).
    pub const SSO_LOGOUT: &str = "sso_logout";
    /// A group's or a rooftop's canned response was added, changed or deleted (`action`,
    /// `scope`, `rooftop_id`, `before`, `after`); an agent's own are not recorded.
    pub const CANNED_RESPONSE_CHANGED: &str = "canned_response_changed";
    /// A rooftop's payment settings (its default or a make's) were added, changed or deleted
    /// (`action`, `rooftop_id`, `make`, `before`, `after`).
    pub const PAYMENT_SETTINGS_CHANGED: &str = "payment_settings_changed";
}

/// One thing that happened, to be appended.
#[derive(Debug, Clone)]
pub struct Event {
    /// The dealer group whose trail it goes into.
    pub group_id: Uuid,
    /// The agent who did it (none: the system, or a failed sign-in).
    pub actor_id: Option<Uuid>,
    /// The actor's e-mail, or `system`.
    pub actor_label: String,
    /// What happened ([`kind`]).
    pub kind: &'static str,
    /// What it is about, e.g. `agent:<id>`.
    pub subject: Option<String>,
    /// The client's address, as `extract::client_ip` worked it out.
    pub client: Option<ClientAddress>,
    /// Before and after, and what else says what happened; never a password or a secret.
    pub detail: Value,
}

impl Event {
    /// A sign-in to agent `agent` of `group`: `sign_in`, by the agent, or when `failed`
    /// `sign_in_failed`, by nobody; `label` is the e-mail (as typed, for a failure), `client`
    /// where it came from, `detail` how (`method`; `reason` for a failure).
    pub fn sign_in(
        group: Uuid,
        agent: Uuid,
        failed: bool,
        label: &str,
        client: &Option<ClientAddress>,
        detail: Value,
    ) -> Self {
        Self {
            group_id: group,
            actor_id: (!failed).then_some(agent),
            actor_label: label.trim().to_string(),
            kind: if failed {
                kind::SIGN_IN_FAILED
            } else {
                kind::SIGN_IN
            },
            subject: Some(format!("agent:{agent}")),
            client: client.clone(),
            detail,
        }
    }

    /// `kind`, done by the session's agent in their group.
    pub fn by(session: &Session, kind: &'static str) -> Self {
        Self {
            group_id: session.group(),
            actor_id: Some(session.agent.id),
            actor_label: session.agent.email.clone(),
            kind,
            subject: None,
            client: None,
            detail: Value::Object(Default::default()),
        }
    }

    /// About `subject`.
    pub fn about(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// With this detail.
    pub fn detail(mut self, detail: Value) -> Self {
        self.detail = detail;
        self
    }
}

/// The fields a row's hash covers, in this order, each as a 4-byte big-endian length and its
/// UTF-8 bytes (a missing value: length `0xFFFFFFFF`, no bytes): id, group, time (microseconds
/// since 1970, decimal), actor id, actor label, kind, subject, ip, ip source, detail (jsonb text).
#[derive(Debug, Clone, sqlx::FromRow)]
struct Chained {
    id: i64,
    group_id: Uuid,
    at: chrono::DateTime<chrono::Utc>,
    actor_id: Option<Uuid>,
    actor_label: String,
    kind: String,
    subject: Option<String>,
    ip: Option<String>,
    ip_source: Option<String>,
    detail: String,
}

/// The bytes of a row that its hash covers (see [`Chained`]).
fn canonical(r: &Chained) -> Vec<u8> {
    let fields: [Option<String>; 10] = [
        Some(r.id.to_string()),
        Some(r.group_id.to_string()),
        Some(r.at.timestamp_micros().to_string()),
        r.actor_id.map(|a| a.to_string()),
        Some(r.actor_label.clone()),
        Some(r.kind.clone()),
        r.subject.clone(),
        r.ip.clone(),
        r.ip_source.clone(),
        Some(r.detail.clone()),
    ];
    let mut out = Vec::new();
    for f in fields {
        match f {
            Some(s) => {
                out.extend_from_slice(&(s.len() as u32).to_be_bytes());
                out.extend_from_slice(s.as_bytes());
            }
            None => out.extend_from_slice(&u32::MAX.to_be_bytes()),
        }
    }
    out
}

/// SHA-256(prev_hash || canonical bytes of the row).
fn chain_hash(prev: &[u8], row: &Chained) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(prev);
    h.update(canonical(row));
    h.finalize().to_vec()
}

/// The hash before a group's first row.
const GENESIS: [u8; 32] = [0; 32];

/// Appends `e` to its group's chain inside `tx` (which the caller commits with its change, so
/// both happen or neither): locks the group's chain for the rest of the transaction. Answers
/// the row's id.
pub async fn record(tx: &mut Transaction<'_, Postgres>, e: &Event) -> sqlx::Result<i64> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('audit:' || $1::text, 0))")
        .bind(e.group_id)
        .execute(&mut **tx)
        .await?;
    let (id, at, detail, prev): (i64, chrono::DateTime<chrono::Utc>, String, Option<Vec<u8>>) =
        sqlx::query_as(
            "SELECT nextval(pg_get_serial_sequence('audit_events', 'id')), \
               date_trunc('microseconds', clock_timestamp()), $2::jsonb::text, \
               (SELECT hash FROM audit_events WHERE group_id = $1 ORDER BY id DESC LIMIT 1)",
        )
        .bind(e.group_id)
        .bind(&e.detail)
        .fetch_one(&mut **tx)
        .await?;
    let row = Chained {
        id,
        group_id: e.group_id,
        at,
        actor_id: e.actor_id,
        actor_label: e.actor_label.clone(),
        kind: e.kind.to_string(),
        subject: e.subject.clone(),
        ip: e.client.as_ref().map(|c| c.ip.to_string()),
        ip_source: e.client.as_ref().map(|c| c.source.as_str().to_string()),
        detail,
    };
    let prev = prev.unwrap_or_else(|| GENESIS.to_vec());
    let hash = chain_hash(&prev, &row);
    sqlx::query(
        "INSERT INTO audit_events (id, group_id, at, actor_id, actor_label, kind, subject, ip, \
           ip_source, detail, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11, $12)",
    )
    .bind(row.id)
    .bind(row.group_id)
    .bind(row.at)
    .bind(row.actor_id)
    .bind(&row.actor_label)
    .bind(&row.kind)
    .bind(&row.subject)
    .bind(&row.ip)
    .bind(&row.ip_source)
    .bind(&row.detail)
    .bind(&prev)
    .bind(&hash)
    .execute(&mut **tx)
    .await?;
    Ok(id)
}

/// Appends `e` in a transaction of its own.
async fn record_alone(pool: &PgPool, e: &Event) -> sqlx::Result<()> {
    let mut tx = pool.begin().await?;
    record(&mut tx, e).await?;
    tx.commit().await
}

/// Appends `e` in a transaction of its own, after the change it describes succeeded elsewhere
/// (another service, or a write that is not the gateway's). A failure cannot undo the change:
/// it is logged at ERROR (with what was lost) and the request still succeeds.
pub async fn record_after(pool: &PgPool, e: Event) {
    if let Err(err) = record_alone(pool, &e).await {
        tracing::error!(error = %err, group = %e.group_id, kind = e.kind, subject = ?e.subject,
            "an audit event could not be recorded");
    }
}

/// The answer when an audit event that must go with its change could not be written: the
/// change was rolled back with it; logged at ERROR, 503 `audit_unavailable`.
pub fn required(e: sqlx::Error) -> ApiError {
    tracing::error!(error = %e, "an audit event could not be recorded; the change was refused");
    ApiError::new(
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        "audit_unavailable",
        "the change could not be recorded in the audit trail, so it was not made; retry",
    )
}

/// Replaces a setting another service owns, and records the change: `before` is awaited first
/// (the setting as it reads now), then `replace`; when what it answers differs from `before`,
/// `kind` about `subject` is recorded with both (`record_after`: the owner's table is not the
/// gateway's, so the change cannot share a transaction with its row), plus `extra` fields.
pub async fn replaced<B, A, E1, E2>(
    pool: &PgPool,
    session: &Session,
    kind: &'static str,
    subject: String,
    extra: Value,
    before: impl Future<Output = Result<B, E1>>,
    replace: impl Future<Output = Result<A, E2>>,
) -> Result<A, ApiError>
where
    B: Serialize,
    A: Serialize,
    ApiError: From<E1> + From<E2>,
{
    let before = serde_json::to_value(before.await?).unwrap_or(Value::Null);
    let after = replace.await?;
    let after_value = serde_json::to_value(&after).unwrap_or(Value::Null);
    if before != after_value {
        let mut e = Event::by(session, kind).about(subject);
        e.detail = extra;
        e.detail["before"] = before;
        e.detail["after"] = after_value;
        record_after(pool, e).await;
    }
    Ok(after)
}

/// Records a read of customer data (a transcript viewed or exported, leads exported) before
/// the data is answered: a read that cannot be recorded is refused, 503 `audit_unavailable`.
pub async fn record_read(pool: &PgPool, e: &Event) -> Result<(), ApiError> {
    record_alone(pool, e).await.map_err(|err| {
        tracing::error!(error = %err, kind = e.kind, "a read could not be recorded; it was refused");
        ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "audit_unavailable",
            "this read could not be recorded in the audit trail, so it was refused; retry",
        )
    })
}

/// A row's id and hash, taken from an earlier check and kept outside the database (the console
/// keeps the last one it saw; a compliance officer may write it down): [`verify`] then also
/// finds rows removed from the end of the trail since, which the chain alone cannot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchor {
    /// The row's id.
    pub id: i64,
    /// Its hash.
    pub hash: Vec<u8>,
}

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verified {
    /// Every row links to the one before it and matches its hash (and the anchor, if one was
    /// given, is still there with its hash).
    Intact {
        /// How many rows the group has.
        rows: i64,
        /// The newest row, to keep as the next check's anchor (none when the trail is empty).
        head: Option<Anchor>,
    },
    /// The first row where the chain breaks.
    Broken {
        /// Its id.
        at_id: i64,
        /// Why: an edit of this row, or a removal (or edit) of the one before it, or the
        /// anchored row gone.
        why: String,
    },
}

/// Walks the group's chain from its first row, recomputing each hash; with an `anchor`, the
/// anchored row must still be there with the same hash.
pub async fn verify(pool: &PgPool, group: Uuid, anchor: Option<&Anchor>) -> sqlx::Result<Verified> {
    use futures::TryStreamExt;
    #[derive(sqlx::FromRow)]
    struct Stored {
        #[sqlx(flatten)]
        row: Chained,
        prev_hash: Vec<u8>,
        hash: Vec<u8>,
    }
    let mut rows = sqlx::query_as::<_, Stored>(
        "SELECT id, group_id, at, actor_id, actor_label, kind, subject, ip, ip_source, \
           detail::text AS detail, prev_hash, hash \
         FROM audit_events WHERE group_id = $1 ORDER BY id",
    )
    .bind(group)
    .fetch(pool);
    let mut expected = GENESIS.to_vec();
    let mut count = 0i64;
    let mut head = None;
    let mut anchored = false;
    while let Some(s) = rows.try_next().await? {
        if s.prev_hash != expected {
            return Ok(Verified::Broken {
                at_id: s.row.id,
                why: "its prev_hash is not the hash of the row before it: a row before it was \
                      removed or edited"
                    .into(),
            });
        }
        if chain_hash(&s.prev_hash, &s.row) != s.hash {
            return Ok(Verified::Broken {
                at_id: s.row.id,
                why: "its fields do not match its hash: the row was edited".into(),
            });
        }
        if let Some(a) = anchor
            && a.id == s.row.id
        {
            if a.hash != s.hash {
                return Ok(Verified::Broken {
                    at_id: a.id,
                    why: "it no longer has the hash anchored for it: the trail up to it was \
                          rewritten"
                        .into(),
                });
            }
            anchored = true;
        }
        expected = s.hash.clone();
        head = Some(Anchor {
            id: s.row.id,
            hash: s.hash,
        });
        count += 1;
    }
    if let Some(a) = anchor
        && !anchored
    {
        return Ok(Verified::Broken {
            at_id: a.id,
            why: "the anchored row is gone: rows were removed from the end of the trail since \
                  the anchor was taken"
                .into(),
        });
    }
    Ok(Verified::Intact { rows: count, head })
}

/// One row of the trail as the API shows it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct AuditEvent {
    /// Its id: increasing in the order the group's rows were written.
    pub id: i64,
    /// When.
    pub at: chrono::DateTime<chrono::Utc>,
    /// The agent who did it (`null`: the system, or a failed sign-in).
    pub actor_id: Option<Uuid>,
    /// The actor's e-mail, or `system`.
    pub actor_label: String,
    /// What happened: `sign_in`, `sign_in_failed`, `agent_created`, `role_changed`,
    /// `agent_changed`, `membership_changed`, `agent_deactivated`, `agent_reactivated`,
    /// `password_changed`, `crm_destination_changed`, `integration_issued`,
    /// `integration_revoked`.
    pub kind: String,
    /// What it is about, e.g. `agent:<id>`, `crm_destination:<id>`, `integration:<id>`.
    pub subject: Option<String>,
    /// The client's address (sign-ins).
    pub ip: Option<String>,
    /// How the address was worked out: `peer`, `x_forwarded_for`, `forwarded`.
    pub ip_source: Option<String>,
    /// Before and after (`before`, `after`), and what else says what happened; never a
    /// password or a secret.
    #[schema(value_type = Object)]
    pub detail: Value,
}

/// The filters of a listing.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only this kind.
    pub kind: Option<String>,
    /// Only this actor's.
    pub actor_id: Option<Uuid>,
    /// At or after.
    pub from: Option<chrono::DateTime<chrono::Utc>>,
    /// Before.
    pub to: Option<chrono::DateTime<chrono::Utc>>,
    /// Only rows older than this id (paging).
    pub before_id: Option<i64>,
    /// At most this many.
    pub limit: i64,
}

/// The group's rows matching `f`, newest first.
pub async fn list(pool: &PgPool, group: Uuid, f: &Filter) -> sqlx::Result<Vec<AuditEvent>> {
    sqlx::query_as(
        "SELECT id, at, actor_id, actor_label, kind, subject, ip, ip_source, detail \
         FROM audit_events WHERE group_id = $1 \
           AND ($2::text IS NULL OR kind = $2) AND ($3::uuid IS NULL OR actor_id = $3) \
           AND ($4::timestamptz IS NULL OR at >= $4) AND ($5::timestamptz IS NULL OR at < $5) \
           AND ($6::bigint IS NULL OR id < $6) \
         ORDER BY id DESC LIMIT $7",
    )
    .bind(group)
    .bind(&f.kind)
    .bind(f.actor_id)
    .bind(f.from)
    .bind(f.to)
    .bind(f.before_id)
    .bind(f.limit)
    .fetch_all(pool)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(detail: &str) -> Chained {
        Chained {
            id: 7,
            group_id: Uuid::nil(),
            at: chrono::DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap(),
            actor_id: None,
            actor_label: "system".into(),
            kind: "sign_in".into(),
            subject: None,
            ip: Some("203.0.113.7".into()),
            ip_source: Some("peer".into()),
            detail: detail.into(),
        }
    }

    /// Every kind written here is named where outside readers look for it: the audit list's
    /// row in docs/protocol.md, and the Admin page's kind filter (console/admin/audit.js).
    #[test]
    fn every_kind_is_documented_and_offered_by_the_admin_page() {
        let source = include_str!("audit.rs");
        let module = &source[source.find("pub mod kind {").unwrap()..];
        let module = &module[..module.find("\n}").unwrap()];
        let kinds: Vec<&str> = module
            .lines()
            .filter_map(|l| l.trim().strip_prefix("pub const "))
            .filter_map(|l| l.split('"').nth(1))
            .collect();
        assert!(kinds.len() >= 20, "{kinds:?}");
        let protocol = include_str!("../../../docs/protocol.md");
        let row = protocol
            .lines()
            .find(|l| l.starts_with("| `GET /api/v1/audit` |"))
            .expect("the audit row of protocol.md");
        let page = include_str!("../../../services/gateway/assets/console/admin/audit.js");
        for k in kinds {
            assert!(
                row.contains(&format!("`{k}`")),
                "protocol.md's audit row lacks `{k}`"
            );
            assert!(
                page.contains(&format!("['{k}', ")),
                "admin/audit.js offers no `{k}`"
            );
        }
    }

    #[test]
    fn every_field_and_the_predecessor_change_the_hash() {
        let a = chain_hash(&GENESIS, &row("{}"));
        assert_eq!(a.len(), 32);
        assert_eq!(a, chain_hash(&GENESIS, &row("{}")), "deterministic");
        assert_ne!(a, chain_hash(&GENESIS, &row(r#"{"a": 1}"#)));
        assert_ne!(a, chain_hash(&[1; 32], &row("{}")));
        // A missing value and an empty one differ; so do fields shifted from one to the next.
        let mut empty = row("{}");
        empty.subject = Some(String::new());
        assert_ne!(a, chain_hash(&GENESIS, &empty));
        let mut shifted = row("{}");
        shifted.actor_label = "systemsign_in".into();
        shifted.kind = String::new();
        assert_ne!(a, chain_hash(&GENESIS, &shifted));
    }
}
