//! Retention and shoppers' rights (issue 17, item 5): each dealer group's retention periods
//! (`retention_settings`, owned by the gateway), and erasing or exporting one shopper's data,
//! found by e-mail or phone, in every service that owns some of it
//! (`docs/architecture.md`, "Retention and shoppers' rights").
//!
//! **Erasure** works out which rows are the shopper's by reading ([`resolve`]: contacts,
//! messages left, form submissions, conversations, leads of the group), then asks each owner to
//! delete its part over the bus (`privacy.erase_<owner>`, [`PrivacyOwner::ALL`] order) and deletes
//! the gateway's own (messages, transcripts, attachments) before the bot's, because the files
//! are found through the form answers the bot deletes. An owner that does not answer stops the
//! erasure with 503 `unavailable` and nothing is recorded as done; what the owners before it
//! deleted stays deleted, and a retry finds the rest (the rows that lead to other rows are
//! deleted last) and erases it, because erasing is idempotent. Only a completed erasure is in
//! the audit trail (`shopper_erased`: the counts and the identifier's type, never its value).
//!
//! **Export** asks the same owners for their rows (`privacy.export_<owner>`) and answers them by
//! table; it is recorded (`shopper_exported`) before the data is handed out.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use showroom_proto::retention::{
    Erased, Exported, Identifier, MAX_DAYS, PrivacyCommand, PrivacyOwner, RetentionPeriods,
    ShopperRefs,
};
use showroom_proto::v1;
use showroom_store::privacy::{self, Step};
use sqlx::PgPool;
use uuid::Uuid;

use crate::Rest;
use crate::audit;
use crate::auth::{Session, managers_only};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiQuery};
use crate::validate::{self, Problems};

/// The group's retention periods (the defaults when it chose none).
async fn periods(pool: &PgPool, group: Uuid) -> sqlx::Result<RetentionPeriods> {
    let row: Option<(i32, i32, i32, i32)> = sqlx::query_as(
        "SELECT transcripts_days, attachments_days, contacts_days, leads_days \
         FROM retention_settings WHERE group_id = $1",
    )
    .bind(group)
    .fetch_optional(pool)
    .await?;
    Ok(
        row.map_or_else(RetentionPeriods::default, |(t, a, c, l)| RetentionPeriods {
            transcripts_days: t,
            attachments_days: a,
            contacts_days: c,
            leads_days: l,
        }),
    )
}

/// The group's retention periods, in days after each kind's last use (managers and admins).
#[utoipa::path(get, path = "/api/v1/retention", tag = "privacy",
    responses((status = 200, body = RetentionPeriods), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn get_retention(
    State(state): State<Arc<Rest>>,
    session: Session,
) -> Result<Json<RetentionPeriods>, ApiError> {
    managers_only(&session, "read the retention periods")?;
    Ok(Json(periods(&state.pool, session.group()).await?))
}

/// Replaces the group's retention periods (managers and admins): each 1 to 3650 days; 400
/// naming every wrong field. Recorded in the audit trail (`retention_changed`, before and
/// after) with the change.
#[utoipa::path(put, path = "/api/v1/retention", tag = "privacy",
    request_body = RetentionPeriods,
    responses((status = 200, body = RetentionPeriods), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn put_retention(
    State(state): State<Arc<Rest>>,
    session: Session,
    ApiJson(p): ApiJson<RetentionPeriods>,
) -> Result<Json<RetentionPeriods>, ApiError> {
    managers_only(&session, "change the retention periods")?;
    let mut problems = Problems::default();
    for (field, days) in [
        ("transcripts_days", p.transcripts_days),
        ("attachments_days", p.attachments_days),
        ("contacts_days", p.contacts_days),
        ("leads_days", p.leads_days),
    ] {
        if !(1..=MAX_DAYS).contains(&days) {
            problems.add(field, format!("must be 1 to {MAX_DAYS} days"));
        }
    }
    problems.finish()?;
    let mut tx = state.pool.begin().await?;
    // The row is locked (or its insert serialised) so that "before" is what the change replaced.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('retention:' || $1::text, 0))")
        .bind(session.group())
        .execute(&mut *tx)
        .await?;
    let before = {
        let row: Option<(i32, i32, i32, i32)> = sqlx::query_as(
            "SELECT transcripts_days, attachments_days, contacts_days, leads_days \
             FROM retention_settings WHERE group_id = $1",
        )
        .bind(session.group())
        .fetch_optional(&mut *tx)
        .await?;
        row.map_or_else(RetentionPeriods::default, |(t, a, c, l)| RetentionPeriods {
            transcripts_days: t,
            attachments_days: a,
            contacts_days: c,
            leads_days: l,
        })
    };
    sqlx::query(
        "INSERT INTO retention_settings (group_id, transcripts_days, attachments_days, \
           contacts_days, leads_days) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (group_id) DO UPDATE SET transcripts_days = EXCLUDED.transcripts_days, \
           attachments_days = EXCLUDED.attachments_days, contacts_days = EXCLUDED.contacts_days, \
           leads_days = EXCLUDED.leads_days, updated_at = now()",
    )
    .bind(session.group())
    .bind(p.transcripts_days)
    .bind(p.attachments_days)
    .bind(p.contacts_days)
    .bind(p.leads_days)
    .execute(&mut *tx)
    .await?;
    let event = audit::Event::by(&session, audit::kind::RETENTION_CHANGED)
        .about("retention")
        .detail(json!({"before": before, "after": p}));
    audit::record(&mut tx, &event)
        .await
        .map_err(audit::required)?;
    tx.commit().await?;
    Ok(Json(p))
}

/// Who to erase or export: exactly one of `email` and `phone`. A phone without `+` is read in
/// `country` (ISO 3166-1 alpha-2), by default the country of the group's first rooftop.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ShopperQuery {
    /// The shopper's e-mail address (matched as contacts are: the domain in any case).
    #[serde(default)]
    pub email: Option<String>,
    /// The shopper's phone number.
    #[serde(default)]
    pub phone: Option<String>,
    /// Where a phone number without `+` is from.
    #[serde(default)]
    pub country: Option<String>,
}

/// The shopper's identifier, normalised the way contacts store it.
enum Shopper {
    Email(String),
    Phone(String),
}

impl Shopper {
    fn identifier(&self) -> Identifier {
        match self {
            Self::Email(_) => Identifier::Email,
            Self::Phone(_) => Identifier::Phone,
        }
    }
}

/// Checks the query: one identifier, well formed; 400 naming the field otherwise.
async fn shopper(pool: &PgPool, group: Uuid, q: &ShopperQuery) -> Result<Shopper, ApiError> {
    let email = q.email.as_deref().filter(|s| !s.trim().is_empty());
    let phone = q.phone.as_deref().filter(|s| !s.trim().is_empty());
    match (email, phone) {
        (Some(e), None) => Ok(Shopper::Email(
            validate::email(e).map_err(|r| validate::invalid("email", r))?,
        )),
        (None, Some(p)) => {
            let country = match q.country.as_deref() {
                Some(c) => validate::country(c).map_err(|r| validate::invalid("country", r))?,
                None => sqlx::query_scalar::<_, String>(
                    "SELECT country FROM rooftops WHERE group_id = $1 ORDER BY created_at, id LIMIT 1",
                )
                .bind(group)
                .fetch_optional(pool)
                .await?
                .unwrap_or_else(|| "US".to_string()),
            };
            let bad = || {
                validate::invalid(
                    "phone",
                    format!(
                        "is not a valid phone number (read in {country} unless it starts with +)"
                    ),
                )
            };
            let id: Option<phonenumber::country::Id> = country.parse().ok();
            let number = phonenumber::parse(id, p.trim()).map_err(|_| bad())?;
            if !phonenumber::is_valid(&number) {
                return Err(bad());
            }
            Ok(Shopper::Phone(
                number.format().mode(phonenumber::Mode::E164).to_string(),
            ))
        }
        (Some(_), Some(_)) => Err(validate::invalid(
            "phone",
            "give either an e-mail or a phone number, not both",
        )),
        (None, None) => Err(validate::invalid(
            "email",
            "an e-mail address or a phone number is required",
        )),
    }
}

/// The shopper's rows in the group, found by reading every owner's tables (reads cross owners;
/// writes do not). Their contacts' other identifiers count too (lead-capture already decided
/// those are the same person): erasing by e-mail also finds the chat where they gave only
/// their phone.
async fn resolve(pool: &PgPool, group: Uuid, who: &Shopper) -> sqlx::Result<ShopperRefs> {
    let (mut emails, mut phones): (Vec<String>, Vec<String>) = match who {
        Shopper::Email(e) => (vec![e.to_lowercase()], vec![]),
        Shopper::Phone(p) => (vec![], vec![p.clone()]),
    };
    let contacts: Vec<(Uuid, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT id, lower(email), phone FROM contacts \
         WHERE group_id = $1 AND (lower(email) = ANY($2) OR phone = ANY($3))",
    )
    .bind(group)
    .bind(&emails)
    .bind(&phones)
    .fetch_all(pool)
    .await?;
    let mut contact_ids: Vec<Uuid> = Vec::new();
    for (id, e, p) in contacts {
        contact_ids.push(id);
        emails.extend(e);
        phones.extend(p);
    }
    emails.sort();
    emails.dedup();
    phones.sort();
    phones.dedup();
    let left_message_ids: Vec<Uuid> = sqlx::query_scalar(
        "SELECT id FROM left_messages \
         WHERE group_id = $1 AND (lower(email) = ANY($2) OR phone = ANY($3))",
    )
    .bind(group)
    .bind(&emails)
    .bind(&phones)
    .fetch_all(pool)
    .await?;
    let mut form_submission_ids: Vec<Uuid> = sqlx::query_scalar(
        "SELECT id FROM form_submissions WHERE group_id = $1 \
           AND (lower(contact->>'email') = ANY($2) OR contact->>'phone' = ANY($3))",
    )
    .bind(group)
    .bind(&emails)
    .bind(&phones)
    .fetch_all(pool)
    .await?;
    let conversation_ids: Vec<Uuid> = sqlx::query_scalar(
        "SELECT c.id FROM conversations c WHERE c.group_id = $1 AND ( \
             lower(c.contact->>'email') = ANY($2) OR c.contact->>'phone' = ANY($3) \
             OR c.form_id = ANY($4) \
             OR c.id IN (SELECT l.conversation_id FROM leads l \
                         WHERE l.group_id = $1 AND l.contact_id = ANY($5)) \
             OR c.id IN (SELECT m.conversation_id FROM left_messages m \
                         WHERE m.group_id = $1 AND m.id = ANY($6)))",
    )
    .bind(group)
    .bind(&emails)
    .bind(&phones)
    .bind(&form_submission_ids)
    .bind(&contact_ids)
    .bind(&left_message_ids)
    .fetch_all(pool)
    .await?;
    let leads: Vec<(Uuid, Uuid)> = sqlx::query_as(
        "SELECT id, contact_id FROM leads \
         WHERE group_id = $1 AND (contact_id = ANY($2) OR conversation_id = ANY($3))",
    )
    .bind(group)
    .bind(&contact_ids)
    .bind(&conversation_ids)
    .fetch_all(pool)
    .await?;
    let mut lead_ids = Vec::new();
    for (lead, contact) in leads {
        lead_ids.push(lead);
        if !contact_ids.contains(&contact) {
            contact_ids.push(contact);
        }
    }
    let forms_of_chats: Vec<Uuid> = sqlx::query_scalar(
        "SELECT f.id FROM form_submissions f JOIN conversations c ON c.form_id = f.id \
         WHERE f.group_id = $1 AND c.group_id = $1 AND c.id = ANY($2)",
    )
    .bind(group)
    .bind(&conversation_ids)
    .fetch_all(pool)
    .await?;
    for f in forms_of_chats {
        if !form_submission_ids.contains(&f) {
            form_submission_ids.push(f);
        }
    }
    Ok(ShopperRefs {
        conversation_ids,
        contact_ids,
        lead_ids,
        form_submission_ids,
        left_message_ids,
    })
}

fn is_empty(r: &ShopperRefs) -> bool {
    r.conversation_ids.is_empty()
        && r.contact_ids.is_empty()
        && r.lead_ids.is_empty()
        && r.form_submission_ids.is_empty()
        && r.left_message_ids.is_empty()
}

/// The gateway's own tables: files attached to the shopper's forms (found through the answers
/// that name them, so before the bot deletes those) and sent in their chats (both sides'), then
/// their transcripts.
const GATEWAY_ERASE: &[Step] = &[
    Step {
        table: "attachments",
        sql: "DELETE FROM attachments a WHERE a.group_id = $1 AND ( \
                EXISTS (SELECT 1 FROM form_submissions f WHERE f.group_id = $1 \
                  AND f.id = ANY(ARRAY(SELECT jsonb_array_elements_text($2::jsonb->'form_submission_ids')::uuid)) \
                  AND strpos(f.answers::text, a.id::text) > 0) \
                OR EXISTS (SELECT 1 FROM left_messages l WHERE l.group_id = $1 \
                  AND l.id = ANY(ARRAY(SELECT jsonb_array_elements_text($2::jsonb->'left_message_ids')::uuid)) \
                  AND strpos(COALESCE(l.answers::text, ''), a.id::text) > 0) \
                OR a.conversation_id = ANY( \
                  ARRAY(SELECT jsonb_array_elements_text($2::jsonb->'conversation_ids')::uuid)))",
    },
    Step {
        table: "messages",
        sql: "DELETE FROM messages WHERE group_id = $1 AND conversation_id = ANY( \
                ARRAY(SELECT jsonb_array_elements_text($2::jsonb->'conversation_ids')::uuid))",
    },
    Step {
        table: "transcripts",
        sql: "DELETE FROM transcripts WHERE group_id = $1 AND conversation_id = ANY( \
                ARRAY(SELECT jsonb_array_elements_text($2::jsonb->'conversation_ids')::uuid))",
    },
    // Managers' whispers about the shopper's chats, and the chats' read marks.
    Step {
        table: "whispers",
        sql: "DELETE FROM whispers WHERE group_id = $1 AND conversation_id = ANY( \
                ARRAY(SELECT jsonb_array_elements_text($2::jsonb->'conversation_ids')::uuid))",
    },
    Step {
        table: "read_marks",
        sql: "DELETE FROM read_marks WHERE group_id = $1 AND conversation_id = ANY( \
                ARRAY(SELECT jsonb_array_elements_text($2::jsonb->'conversation_ids')::uuid))",
    },
    // Appointments booked in the shopper's chats; a booked one frees its seat.
    Step {
        table: "appointments",
        sql: crate::appointments::ERASE,
    },
];

/// The gateway's own rows of the shopper: transcripts, and the files' descriptions (each file
/// is downloaded on its own, `GET /api/v1/attachments/{id}`).
const GATEWAY_EXPORT: &[Step] = &[
    Step {
        table: "messages",
        sql: "SELECT to_jsonb(m) FROM messages m WHERE m.group_id = $1 AND m.conversation_id = ANY( \
                ARRAY(SELECT jsonb_array_elements_text($2::jsonb->'conversation_ids')::uuid)) \
              ORDER BY m.conversation_id, m.seq",
    },
    Step {
        table: "attachments",
        sql: "SELECT to_jsonb(a) - 'data' FROM attachments a WHERE a.group_id = $1 AND ( \
                EXISTS (SELECT 1 FROM form_submissions f WHERE f.group_id = $1 \
                  AND f.id = ANY(ARRAY(SELECT jsonb_array_elements_text($2::jsonb->'form_submission_ids')::uuid)) \
                  AND strpos(f.answers::text, a.id::text) > 0) \
                OR EXISTS (SELECT 1 FROM left_messages l WHERE l.group_id = $1 \
                  AND l.id = ANY(ARRAY(SELECT jsonb_array_elements_text($2::jsonb->'left_message_ids')::uuid)) \
                  AND strpos(COALESCE(l.answers::text, ''), a.id::text) > 0) \
                OR a.conversation_id = ANY( \
                  ARRAY(SELECT jsonb_array_elements_text($2::jsonb->'conversation_ids')::uuid)))",
    },
    Step {
        table: "appointments",
        sql: "SELECT to_jsonb(a) FROM appointments a WHERE a.group_id = $1 AND a.conversation_id = ANY( \
                ARRAY(SELECT jsonb_array_elements_text($2::jsonb->'conversation_ids')::uuid)) \
              ORDER BY a.starts_at",
    },
];

/// What an erasure deleted.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErasureReport {
    /// How the shopper was found (`email` or `phone`).
    pub identifier: Identifier,
    /// Rows deleted, by table (rows that go with their parent, such as a lead's history, are
    /// counted with it). All zeros when nothing of theirs was left.
    pub counts: BTreeMap<String, u64>,
    /// The sum of `counts`.
    pub total: u64,
}

/// Erases one shopper of the group (managers and admins), found by `email` or `phone`: their
/// conversations and messages, files, form answers, messages left, contact, leads, CRM
/// deliveries (pending ones too) and unpublished events, e-mail records and consent records,
/// in every service that holds them. Answers the rows deleted per table. 503 `unavailable` if
/// a service did not answer: nothing is recorded, and the same request finishes the job.
#[utoipa::path(post, path = "/api/v1/privacy/erasures", tag = "privacy",
    request_body = ShopperQuery,
    responses((status = 200, body = ErasureReport), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn erase(
    State(state): State<Arc<Rest>>,
    session: Session,
    ApiJson(q): ApiJson<ShopperQuery>,
) -> Result<Json<ErasureReport>, ApiError> {
    managers_only(&session, "erase a shopper's data")?;
    let group = session.group();
    let who = shopper(&state.pool, group, &q).await?;
    let refs = resolve(&state.pool, group, &who).await?;
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    if !is_empty(&refs) {
        for owner in PrivacyOwner::ALL {
            if owner == PrivacyOwner::Bot {
                let own = privacy::erase(&state.pool, group, &refs, GATEWAY_ERASE).await?;
                add(&mut counts, own);
            }
            let part: Erased = state
                .command(
                    v1::privacy_command(group, owner, PrivacyCommand::Erase),
                    refs.clone(),
                )
                .await?;
            add(&mut counts, part);
        }
    }
    let total = counts.values().sum();
    let identifier = who.identifier();
    // Never the e-mail or the phone: what was found by which kind of identifier, and how much.
    let event = audit::Event::by(&session, audit::kind::SHOPPER_ERASED)
        .about("shopper")
        .detail(json!({"identifier": identifier.as_str(), "counts": counts, "total": total}));
    audit::record_after(&state.pool, event).await;
    Ok(Json(ErasureReport {
        identifier,
        counts,
        total,
    }))
}

fn add(counts: &mut BTreeMap<String, u64>, part: Erased) {
    for (table, n) in part.counts {
        *counts.entry(table).or_default() += n;
    }
}

/// One shopper's data.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ShopperExport {
    /// How the shopper was found (`email` or `phone`).
    pub identifier: Identifier,
    /// Their rows, by table, as stored (attachments without their bytes).
    #[schema(value_type = Object)]
    pub tables: BTreeMap<String, Vec<Value>>,
}

/// Everything the group holds of one shopper (managers and admins), found by `email` or
/// `phone`, for an access request: rows by table from every service that holds some. 404 when
/// the group holds nothing of theirs. Recorded in the audit trail (`shopper_exported`, without
/// the identifier) before it is answered.
#[utoipa::path(get, path = "/api/v1/privacy/export", tag = "privacy",
    params(ShopperQuery),
    responses((status = 200, body = ShopperExport), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn export(
    State(state): State<Arc<Rest>>,
    session: Session,
    ApiQuery(q): ApiQuery<ShopperQuery>,
) -> Result<Json<ShopperExport>, ApiError> {
    managers_only(&session, "export a shopper's data")?;
    let group = session.group();
    let who = shopper(&state.pool, group, &q).await?;
    let refs = resolve(&state.pool, group, &who).await?;
    if is_empty(&refs) {
        return Err(ApiError::not_found("shopper"));
    }
    let mut tables = privacy::export(&state.pool, group, &refs, GATEWAY_EXPORT)
        .await?
        .tables;
    for owner in PrivacyOwner::ALL {
        let part: Exported = state
            .command(
                v1::privacy_command(group, owner, PrivacyCommand::Export),
                refs.clone(),
            )
            .await?;
        for (table, rows) in part.tables {
            tables.entry(table).or_default().extend(rows);
        }
    }
    let identifier = who.identifier();
    let rows: usize = tables.values().map(Vec::len).sum();
    let event = audit::Event::by(&session, audit::kind::SHOPPER_EXPORTED)
        .about("shopper")
        .detail(json!({"identifier": identifier.as_str(), "rows": rows}));
    let mut tx = state.pool.begin().await?;
    audit::record(&mut tx, &event)
        .await
        .map_err(audit::required)?;
    tx.commit().await?;
    Ok(Json(ShopperExport { identifier, tables }))
}
