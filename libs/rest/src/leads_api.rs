//! REST for leads: an agent's "create lead" on any chat (closed ones included), the leads a
//! chat produced ("results created"), a lead with its history, its classification, and the
//! group's latest leads. lead-capture owns and checks them; the gateway checks the session
//! and forwards.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use showroom_proto::lead::{
    Classification, ClassifyLead, CreateLead, GetLead, Lead, LeadCommand, LeadWithHistory, LeadsOf,
};
use showroom_proto::v1;
use showroom_store::read::{self, LeadFilter};

use crate::auth::{Session, managers_only};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{self, ApiJson, ApiQuery, Id};
use crate::{Rest, audit, export};

/// Makes a lead from a chat of the group, open or closed. Names, e-mail and phone default to
/// what the chat's Lead Gate collected; the body may correct or add them, and give a first
/// classification. Answers 201 with the lead (or the contact's open lead it was merged into).
#[utoipa::path(post, path = "/api/v1/conversations/{id}/leads", tag = "leads",
    request_body = CreateLead,
    params(("id" = uuid::Uuid, Path, description = "Conversation id (UUID)")),
    responses((status = 201, body = Lead), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn create(
    State(state): State<Arc<Rest>>,
    session: Session,
    Id(conversation_id, _): Id<extract::Conversation>,
    ApiJson(b): ApiJson<CreateLead>,
) -> Result<(StatusCode, Json<Lead>), ApiError> {
    let mut cmd = b;
    cmd.conversation_id = conversation_id;
    cmd.agent_id = session.agent.id;
    // Safe to retry: lead-capture keys the lead on this request's envelope id.
    let lead: Lead = state
        .command(v1::lead_command(session.group(), LeadCommand::Create), cmd)
        .await?;
    Ok((StatusCode::CREATED, Json(lead)))
}

/// The leads a chat made or was merged into; 404 for a chat that is not the group's.
#[utoipa::path(get, path = "/api/v1/conversations/{id}/leads", tag = "leads",
    params(("id" = uuid::Uuid, Path, description = "Conversation id (UUID)")),
    responses((status = 200, body = Vec<Lead>), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn of_conversation(
    State(state): State<Arc<Rest>>,
    session: Session,
    Id(conversation_id, _): Id<extract::Conversation>,
) -> Result<Json<Vec<Lead>>, ApiError> {
    Ok(Json(
        state
            .command(
                v1::lead_command(session.group(), LeadCommand::OfConversation),
                LeadsOf { conversation_id },
            )
            .await?,
    ))
}

/// A lead of the group with its history: who created, merged or classified it, when.
#[utoipa::path(get, path = "/api/v1/leads/{id}", tag = "leads",
    params(("id" = uuid::Uuid, Path, description = "Lead id (UUID)")),
    responses((status = 200, body = LeadWithHistory), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn get(
    State(state): State<Arc<Rest>>,
    session: Session,
    Id(lead_id, _): Id<extract::Lead>,
) -> Result<Json<LeadWithHistory>, ApiError> {
    Ok(Json(
        state
            .command(
                v1::lead_command(session.group(), LeadCommand::Get),
                GetLead { lead_id },
            )
            .await?,
    ))
}

/// Replaces a lead's classification: `qualified` (true, false or null), `tags`,
/// `value_cents`, `notes`. Recorded in its history with the agent; published as
/// `lead.updated`.
#[utoipa::path(put, path = "/api/v1/leads/{id}/classification", tag = "leads",
    request_body = Classification,
    params(("id" = uuid::Uuid, Path, description = "Lead id (UUID)")),
    responses((status = 200, body = Lead), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn classify(
    State(state): State<Arc<Rest>>,
    session: Session,
    Id(lead_id, _): Id<extract::Lead>,
    ApiJson(b): ApiJson<Classification>,
) -> Result<Json<Lead>, ApiError> {
    let classification = b;
    let cmd = ClassifyLead {
        lead_id,
        agent_id: session.agent.id,
        classification,
    };
    Ok(Json(
        state
            .command(
                v1::lead_command(session.group(), LeadCommand::Classify),
                cmd,
            )
            .await?,
    ))
}

/// How many leads to list.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LeadsQuery {
    /// At most this many (1 to 500, default 100).
    limit: Option<i64>,
}

/// The group's latest leads, newest first.
#[utoipa::path(get, path = "/api/v1/leads", tag = "leads", params(LeadsQuery),
    responses((status = 200, body = Vec<Lead>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn list(
    State(state): State<Arc<Rest>>,
    session: Session,
    ApiQuery(q): ApiQuery<LeadsQuery>,
) -> Result<Json<Vec<Lead>>, ApiError> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::bad_request("bad_limit", "limit must be 1 to 500"));
    }
    Ok(Json(
        read::leads(
            &state.pool,
            session.group(),
            LeadFilter::All,
            limit,
            "/console",
        )
        .await?,
    ))
}

/// What to export.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// At most this many of the latest leads (1 to 10000, default 1000).
    #[param(minimum = 1, maximum = 10000)]
    limit: Option<i64>,
}

/// The CSV's columns, in order.
const EXPORT_HEADER: [&str; 24] = [
    "id",
    "created_at",
    "updated_at",
    "origin",
    "rooftop",
    "department",
    "first_name",
    "last_name",
    "email",
    "phone",
    "vehicle_year",
    "vehicle_make",
    "vehicle_model",
    "vehicle_vin",
    "qualified",
    "value_cents",
    "tags",
    "notes",
    "conversation_id",
    "trade_in",
    "trade_in_vin",
    "payment_kind",
    "payment_monthly",
    "payment_term_months",
];

/// The group's latest leads, newest first, as a CSV file for spreadsheets (managers and
/// admins): the header row names the columns (`id, created_at, updated_at, origin, rooftop,
/// department, first_name, last_name, email, phone, vehicle_year, vehicle_make, vehicle_model,
/// vehicle_vin, qualified, value_cents, tags, notes, conversation_id, trade_in, trade_in_vin,
/// payment_kind, payment_monthly, payment_term_months`), every value is quoted,
/// and one that starts with `=`, `+`, `-` or `@` is prefixed with `'` so that no spreadsheet
/// runs it. Recorded in the audit trail (`leads_exported`, with the count) first; 503
/// `audit_unavailable` when it cannot be.
#[utoipa::path(get, path = "/api/v1/leads.csv", tag = "leads", params(ExportQuery),
    responses((status = 200, description = "The leads as CSV", content_type = "text/csv", body = String),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 503, description = "`audit_unavailable`: the export could not be recorded, so it was refused", body = ErrorBody)))]
pub async fn export_csv(
    State(state): State<Arc<Rest>>,
    session: Session,
    ApiQuery(q): ApiQuery<ExportQuery>,
) -> Result<axum::response::Response, ApiError> {
    managers_only(&session, "export leads")?;
    let limit = q.limit.unwrap_or(1000);
    if !(1..=10_000).contains(&limit) {
        return Err(ApiError::bad_request(
            "bad_limit",
            "limit must be 1 to 10000",
        ));
    }
    let leads = read::leads(
        &state.pool,
        session.group(),
        LeadFilter::All,
        limit,
        "/console",
    )
    .await?;
    let mut event = audit::Event::by(&session, audit::kind::LEADS_EXPORTED);
    event.detail = serde_json::json!({ "count": leads.len(), "limit": limit });
    audit::record_read(&state.pool, &event).await?;
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let rows = leads.iter().map(|l| {
        let v = l.vehicle.clone().unwrap_or_default();
        let c = &l.classification;
        [
            l.id.to_string(),
            l.created_at.to_rfc3339(),
            l.updated_at.to_rfc3339(),
            l.origin.as_str().to_string(),
            l.rooftop.name.clone(),
            l.department
                .as_ref()
                .map(|d| d.label.clone())
                .unwrap_or_default(),
            l.contact.first_name.clone(),
            l.contact.last_name.clone(),
            text(&l.contact.email),
            text(&l.contact.phone),
            v.year.map(|y| y.to_string()).unwrap_or_default(),
            text(&v.make),
            text(&v.model),
            text(&v.vin),
            c.qualified.map(|q| q.to_string()).unwrap_or_default(),
            c.value_cents.map(|x| x.to_string()).unwrap_or_default(),
            c.tags.join("; "),
            c.notes.clone(),
            l.conversation_id.map(|x| x.to_string()).unwrap_or_default(),
            l.trade_in.as_ref().map(|t| t.summary()).unwrap_or_default(),
            l.trade_in
                .as_ref()
                .and_then(|t| t.vin.clone())
                .unwrap_or_default(),
            l.payment
                .as_ref()
                .map(|p| p.kind.as_str().to_string())
                .unwrap_or_default(),
            l.payment
                .as_ref()
                .map(|p| format!("{}.{:02}", p.monthly_cents / 100, p.monthly_cents % 100))
                .unwrap_or_default(),
            l.payment
                .as_ref()
                .map(|p| p.term_months.to_string())
                .unwrap_or_default(),
        ]
    });
    Ok(export::csv_download(
        "leads.csv",
        export::csv(&EXPORT_HEADER, rows),
    ))
}
