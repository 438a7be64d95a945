//! REST for the audit trail (`crate::audit`): the group's rows, filtered and paged, as JSON or
//! CSV, and the chain check. Managers and admins of the group only; another group's rows are
//! never read (every query is scoped to the session's group).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Rest;
use crate::audit::{self, AuditEvent, Verified};
use crate::auth::{Session, managers_only};
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiQuery;

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

/// One CSV cell: quoted, quotes doubled; a cell a spreadsheet would run as a formula
/// (starting with `=`, `+`, `-`, `@`, a tab or a carriage return) starts with `'` instead.
fn cell(value: &str) -> String {
    let guarded = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_string()
    };
    format!("\"{}\"", guarded.replace('"', "\"\""))
}

/// The rows as CSV (RFC 4180, CRLF line ends), with a header row.
fn to_csv(events: &[AuditEvent]) -> String {
    let mut out = CSV_HEADER.map(cell).join(",");
    out.push_str("\r\n");
    for e in events {
        let line = [
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
        .map(|v| cell(&v))
        .join(",");
        out.push_str(&line);
        out.push_str("\r\n");
    }
    out
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
    Ok((
        [
            (CONTENT_TYPE, "text/csv; charset=utf-8"),
            (CONTENT_DISPOSITION, "attachment; filename=\"audit.csv\""),
        ],
        to_csv(&events),
    )
        .into_response())
}

/// What the chain check found.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditCheck {
    /// Whether every row links to the one before it and matches its hash.
    pub ok: bool,
    /// When `ok`: how many rows the group's trail has.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows: Option<i64>,
    /// When not `ok`: the id of the first row where the chain breaks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broken_at: Option<i64>,
    /// When not `ok`: why (that row edited, or a row before it removed or edited).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

/// Checks the group's chain from its first row (managers and admins): each row must hold the
/// hash of the one before it and match its own hash, so an edited row, or one removed, is
/// found. `{"ok": true, "rows": N}` or `{"ok": false, "broken_at": id, "why": "…"}`.
#[utoipa::path(get, path = "/api/v1/audit/verify", tag = "admin",
    responses((status = 200, body = AuditCheck), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn verify_audit(
    State(state): State<Arc<Rest>>,
    session: Session,
) -> Result<Json<AuditCheck>, ApiError> {
    managers_only(&session, "check the audit trail")?;
    Ok(Json(
        match audit::verify(&state.pool, session.group()).await? {
            Verified::Intact { rows } => AuditCheck {
                ok: true,
                rows: Some(rows),
                broken_at: None,
                why: None,
            },
            Verified::Broken { at_id, why } => {
                tracing::error!(group = %session.group(), row = at_id, why, "the audit chain is broken");
                AuditCheck {
                    ok: false,
                    rows: None,
                    broken_at: Some(at_id),
                    why: Some(why),
                }
            }
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::cell;

    #[test]
    fn cells_are_quoted_and_formulas_neutralised() {
        assert_eq!(cell("plain"), "\"plain\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        for f in ["+1", "-1", "@SUM(A1)", "\tx"] {
            assert!(cell(f).starts_with("\"'"), "{f}");
        }
    }
}
