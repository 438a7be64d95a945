//! REST for the audit trail (`crate::audit`): the group's rows, filtered and paged, as JSON or
//! CSV, and the chain check. Managers and admins of the group only; another group's rows are
//! never read (every query is scoped to the session's group).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::audit::{self, Anchor, AuditEvent, Verified};
use crate::auth::{Session, managers_only};
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiQuery;
use crate::{Rest, export};

/// Filters and paging of the trail.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only this kind (`sign_in`, `role_changed`, …).
    kind: Option<String>,
    /// Only what this agent did.
    actor_id: Option<Uuid>,
    /// At or after this time (RFC 3339).
    from: Option<chrono::DateTime<chrono::Utc>>,
    /// Before this time (RFC 3339).
    to: Option<chrono::DateTime<chrono::Utc>>,
    /// Only rows older than this id: the previous page's `next_before_id`.
    before_id: Option<i64>,
    /// At most this many rows (1 to 500, default 100).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
}

impl AuditQuery {
    fn filter(self) -> Result<audit::Filter, ApiError> {
        let limit = self.limit.unwrap_or(100);
        if !(1..=500).contains(&limit) {
            return Err(ApiError::bad_request("bad_limit", "limit must be 1 to 500"));
        }
        Ok(audit::Filter {
            kind: self.kind,
            actor_id: self.actor_id,
            from: self.from,
            to: self.to,
            before_id: self.before_id,
            limit,
        })
    }
}

/// A page of the trail.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditPage {
    /// Newest first.
    pub events: Vec<AuditEvent>,
    /// Pass as `before_id` for the next (older) page; `null` when this page is shorter than
    /// `limit`, so no older rows follow.
    pub next_before_id: Option<i64>,
}

/// The group's audit trail, newest first (managers and admins): sign-ins (failed ones too),
/// agents added, changed, deactivated and reactivated, memberships, password changes, CRM
/// destinations and integrator credentials, with before and after. Never a password or a
/// secret.
#[utoipa::path(get, path = "/api/v1/audit", tag = "admin", params(AuditQuery),
    responses((status = 200, body = AuditPage), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn list_audit(
    State(state): State<Arc<Rest>>,
    session: Session,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    managers_only(&session, "read the audit trail")?;
    let f = q.filter()?;
    let events = audit::list(&state.pool, session.group(), &f).await?;
    let next_before_id = if events.len() as i64 == f.limit {
        events.last().map(|e| e.id)
    } else {
        None
    };
    Ok(Json(AuditPage {
        events,
        next_before_id,
    }))
}

/// The CSV columns, in order.
const CSV_HEADER: [&str; 10] = [
    "id",
    "at",
    "actor_id",
    "actor_label",
    "kind",
    "subject",
    "subject_name",
    "ip",
    "ip_source",
    "detail",
];

/// The rows as CSV, with a header row.
fn to_csv(events: &[AuditEvent]) -> String {
    export::csv(
        &CSV_HEADER,
        events.iter().map(|e| {
            [
                e.id.to_string(),
                e.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                e.actor_id.map(|a| a.to_string()).unwrap_or_default(),
                e.actor_label.clone(),
                e.kind.clone(),
                e.subject.clone().unwrap_or_default(),
                e.detail["name"].as_str().unwrap_or_default().to_string(),
                e.ip.clone().unwrap_or_default(),
                e.ip_source.clone().unwrap_or_default(),
                e.detail.to_string(),
            ]
        }),
    )
}

/// The same rows as `GET /api/v1/audit` (same filters and paging, newest first) as a CSV file
/// for spreadsheets: a header row (`id, at, actor_id, actor_label, kind, subject, subject_name,
/// ip, ip_source, detail`), every value quoted, and a value that starts with `=`, `+`, `-` or
/// `@` prefixed with `'` so that no spreadsheet runs it as a formula.
#[utoipa::path(get, path = "/api/v1/audit.csv", tag = "admin", params(AuditQuery),
    responses((status = 200, description = "The rows as CSV", content_type = "text/csv", body = String),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn audit_csv(
    State(state): State<Arc<Rest>>,
    session: Session,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<Response, ApiError> {
    managers_only(&session, "export the audit trail")?;
    let f = q.filter()?;
    let events = audit::list(&state.pool, session.group(), &f).await?;
    Ok(export::csv_download("audit.csv", to_csv(&events)))
}

/// What the chain check found.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditCheck {
    /// Whether every row links to the one before it and matches its hash (and the anchor
    /// asked for is still there with its hash).
    pub ok: bool,
    /// When `ok`: how many rows the group's trail has.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows: Option<i64>,
    /// When `ok` and the trail has rows: the newest row's id, to keep as the next check's
    /// `anchor_id`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub head_id: Option<i64>,
    /// With `head_id`: that row's hash (64 hex digits), the next check's `anchor_hash`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub head_hash: Option<String>,
    /// When not `ok`: the id of the first row where the chain breaks (or the anchored row).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broken_at: Option<i64>,
    /// When not `ok`: why (that row edited, a row before it removed or edited, or the
    /// anchored row gone).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

/// An anchor from an earlier check, kept outside the database.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VerifyQuery {
    /// The `head_id` of an earlier check.
    anchor_id: Option<i64>,
    /// The `head_hash` of the same check (64 hex digits).
    anchor_hash: Option<String>,
}

impl VerifyQuery {
    fn anchor(self) -> Result<Option<Anchor>, ApiError> {
        match (self.anchor_id, self.anchor_hash) {
            (None, None) => Ok(None),
            (Some(id), Some(h)) => match hex::decode(h.trim()) {
                Ok(hash) if hash.len() == 32 => Ok(Some(Anchor { id, hash })),
                _ => Err(ApiError::bad_request(
                    "bad_anchor",
                    "anchor_hash must be 64 hex digits",
                )),
            },
            _ => Err(ApiError::bad_request(
                "bad_anchor",
                "anchor_id and anchor_hash go together",
            )),
        }
    }
}

/// Checks the group's chain from its first row (managers and admins): each row must hold the
/// hash of the one before it and match its own hash, so an edited row, or one removed, is
/// found. With `anchor_id` and `anchor_hash` (an earlier check's `head_id` and `head_hash`,
/// kept outside the database) the anchored row must still be there with that hash, so rows
/// removed from the end since are found too. `{"ok": true, "rows": N, "head_id": id,
/// "head_hash": "…"}` or `{"ok": false, "broken_at": id, "why": "…"}`.
#[utoipa::path(get, path = "/api/v1/audit/verify", tag = "admin", params(VerifyQuery),
    responses((status = 200, body = AuditCheck), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn verify_audit(
    State(state): State<Arc<Rest>>,
    session: Session,
    ApiQuery(q): ApiQuery<VerifyQuery>,
) -> Result<Json<AuditCheck>, ApiError> {
    managers_only(&session, "check the audit trail")?;
    let anchor = q.anchor()?;
    Ok(Json(
        match audit::verify(&state.pool, session.group(), anchor.as_ref()).await? {
            Verified::Intact { rows, head } => AuditCheck {
                ok: true,
                rows: Some(rows),
                head_id: head.as_ref().map(|h| h.id),
                head_hash: head.map(|h| hex::encode(h.hash)),
                broken_at: None,
                why: None,
            },
            Verified::Broken { at_id, why } => {
                tracing::error!(group = %session.group(), row = at_id, why, "the audit chain is broken");
                AuditCheck {
                    ok: false,
                    rows: None,
                    head_id: None,
                    head_hash: None,
                    broken_at: Some(at_id),
                    why: Some(why),
                }
            }
        },
    ))
}
