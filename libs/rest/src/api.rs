//! The REST API and its OpenAPI 3.1 document (generated from these handlers).

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use showroom_bus::discovery;
use showroom_proto::conversation::{Conversation, ConversationState};
use showroom_proto::message::Message;
use showroom_proto::presence::{AgentPresence, AgentStatus, Board, GetBoard, SetStatus};
use showroom_proto::v1;
use showroom_store::read::{self, Filter};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::Rest;
use crate::auth::{self, Session};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{self, ApiJson, ApiQuery, Id};
use crate::{
    access_api, admin_api, appointments_api, attachments, audit_api, bot_api, canned_api, crm_api,
    handover, leads_api, mfa_api, notify_api, payment_api, privacy_api, profile_api, reports,
    route_api, routing_api, search_api, sso_api, trade_in_api, trends_api,
};
use crate::{audit, export};

#[derive(OpenApi)]
#[openapi(
    info(title = "Showroom API", description = "Live chat for car-dealer groups: the REST API of the gateway. \
        The socket protocols are described in docs/protocol.md."),
    tags((name = "auth", description = "Agent sessions"), (name = "conversations", description = "Chats and transcripts; searching them"),
         (name = "presence", description = "Agent statuses and the Live Agent Status board"),
         (name = "routing", description = "Departments' offer modes, hours and time-outs; websites' caps and rules; teams"),
         (name = "reports", description = "Per-department numbers for managers"),
         (name = "bot", description = "The bot's settings per website, and messages left by shoppers"),
         (name = "leads", description = "Leads made from chats and messages left; their classification"),
         (name = "notifications", description = "Agents' notification choices; websites' e-mail settings"),
         (name = "crm", description = "Lead delivery to CRMs: destinations, the delivery log, dead letters"),
         (name = "admin", description = "The admin pages: rooftops, departments, agents and the departments they cover, websites, the audit trail"),
         (name = "canned", description = "Canned responses: the group's, the rooftops' and each agent's own; filled for a conversation"),
         (name = "payments", description = "Payment estimates: rooftops' finance and lease settings; an agent's and a shopper's estimate for a chat"),
         (name = "appointments", description = "Appointments booked in a chat: departments' slots, booking, a rooftop's list, cancel and reschedule"),
         (name = "privacy", description = "Retention periods; erasing and exporting one shopper's data"),
         (name = "system", description = "The running system"))
)]
struct ApiDoc;

/// The API routes and the OpenAPI document describing them.
pub fn router() -> (axum::Router<Arc<Rest>>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(auth::login))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::me))
        // Multi-factor sign-in (mfa_api.rs): the second step, Profile's factors, the policy.
        .routes(routes!(mfa_api::sign_in_totp))
        .routes(routes!(mfa_api::sign_in_recovery))
        .routes(routes!(mfa_api::sign_in_passkey_start))
        .routes(routes!(mfa_api::sign_in_passkey_finish))
        .routes(routes!(mfa_api::enrol_totp_start))
        .routes(routes!(mfa_api::enrol_totp_confirm))
        .routes(routes!(mfa_api::enrol_passkey_start))
        .routes(routes!(mfa_api::enrol_passkey_finish))
        .routes(routes!(mfa_api::my_mfa))
        .routes(routes!(mfa_api::my_totp_start))
        .routes(routes!(mfa_api::my_totp_confirm))
        .routes(routes!(mfa_api::my_totp_remove))
        .routes(routes!(mfa_api::my_recovery_codes))
        .routes(routes!(mfa_api::my_passkey_start))
        .routes(routes!(mfa_api::my_passkey_finish))
        .routes(routes!(mfa_api::my_passkey_remove))
        .routes(routes!(mfa_api::get_mfa_policy, mfa_api::put_mfa_policy))
        .routes(routes!(mfa_api::reset_agent_mfa))
        // Single sign-on with OpenID Connect (sso_api.rs): look-up, start, callback,
        // back-channel logout, the group's settings.
        .routes(routes!(sso_api::lookup))
        .routes(routes!(sso_api::start))
        .routes(routes!(sso_api::callback))
        .routes(routes!(sso_api::backchannel_logout))
        .routes(routes!(
            sso_api::get_settings,
            sso_api::put_settings,
            sso_api::delete_settings
        ))
        .routes(routes!(list_conversations))
        .routes(routes!(get_conversation))
        .routes(routes!(transcript_text))
        // Search (search_api.rs): chats by their words, contacts and leads, scoped.
        .routes(routes!(search_api::search))
        // Canned responses (canned_api.rs): filled for a chat, the managed ones, one's own.
        .routes(routes!(canned_api::for_conversation))
        .routes(routes!(
            canned_api::list_managed,
            canned_api::create_managed
        ))
        .routes(routes!(
            canned_api::update_managed,
            canned_api::delete_managed
        ))
        .routes(routes!(canned_api::list_mine, canned_api::create_mine))
        .routes(routes!(canned_api::update_mine, canned_api::delete_mine))
        // Payment estimates (payment_api.rs): settings, an agent's and a shopper's estimate.
        .routes(routes!(
            payment_api::list_payment_settings,
            payment_api::create_payment_settings
        ))
        .routes(routes!(
            payment_api::update_payment_settings,
            payment_api::delete_payment_settings
        ))
        .routes(routes!(payment_api::agent_payment_estimate))
        .routes(routes!(payment_api::shopper_payment_estimate))
        // Appointments (appointments_api.rs): slots, booking in a chat, a rooftop's list.
        .routes(routes!(
            appointments_api::get_appointment_settings,
            appointments_api::put_appointment_settings
        ))
        .routes(routes!(appointments_api::slots))
        .routes(routes!(
            appointments_api::appointments_of_conversation,
            appointments_api::book
        ))
        .routes(routes!(appointments_api::list_appointments))
        .routes(routes!(appointments_api::export_appointments_csv))
        .routes(routes!(appointments_api::cancel))
        .routes(routes!(appointments_api::reschedule))
        .routes(routes!(handover::post_transfer))
        .routes(routes!(handover::post_reply))
        .routes(routes!(handover::post_reassign))
        .routes(routes!(
            routing_api::get_department,
            routing_api::put_department
        ))
        .routes(routes!(routing_api::get_website, routing_api::put_website))
        .routes(routes!(routing_api::list_teams))
        .routes(routes!(routing_api::put_team))
        .routes(routes!(reports::departments))
        .routes(routes!(reports::departments_csv))
        .routes(routes!(trends_api::trends))
        .routes(routes!(board))
        .routes(routes!(set_agent_status))
        .routes(routes!(status_history))
        .routes(routes!(set_auto_away))
        .routes(routes!(system))
        .routes(routes!(leads_api::create, leads_api::of_conversation))
        .routes(routes!(leads_api::get))
        .routes(routes!(leads_api::classify))
        .routes(routes!(leads_api::list))
        .routes(routes!(leads_api::export_csv))
        .routes(routes!(
            trade_in_api::get_trade_in,
            trade_in_api::put_trade_in
        ))
        .routes(routes!(notify_api::get_prefs, notify_api::put_prefs))
        .routes(routes!(notify_api::get_website, notify_api::put_website))
        .routes(routes!(crm_api::list_destinations))
        .routes(routes!(
            crm_api::put_destination,
            crm_api::delete_destination
        ))
        .routes(routes!(crm_api::test_destination))
        .routes(routes!(crm_api::deliveries))
        .routes(routes!(crm_api::dead_letters))
        .routes(routes!(crm_api::redeliver))
        .routes(routes!(
            crm_api::list_integrations,
            crm_api::issue_integration
        ))
        .routes(routes!(crm_api::revoke_integration))
        .routes(routes!(admin_api::list_rooftops, admin_api::create_rooftop))
        .routes(routes!(admin_api::update_rooftop))
        .routes(routes!(admin_api::create_department))
        .routes(routes!(
            admin_api::update_department,
            admin_api::delete_department
        ))
        .routes(routes!(admin_api::list_agents, admin_api::create_agent))
        .routes(routes!(admin_api::update_agent))
        .routes(routes!(admin_api::put_memberships))
        .routes(routes!(access_api::deactivate))
        .routes(routes!(access_api::reactivate))
        .routes(routes!(access_api::change_password))
        .routes(routes!(audit_api::list_audit))
        .routes(routes!(audit_api::audit_csv))
        .routes(routes!(audit_api::verify_audit))
        .routes(routes!(
            privacy_api::get_retention,
            privacy_api::put_retention
        ))
        .routes(routes!(privacy_api::erase))
        .routes(routes!(privacy_api::export))
        .routes(routes!(admin_api::list_websites, admin_api::create_website))
        .routes(routes!(admin_api::get_website, admin_api::update_website))
        .routes(routes!(profile_api::get_profile, profile_api::put_profile))
        .merge(
            OpenApiRouter::new()
                .routes(routes!(profile_api::put_photo, profile_api::delete_photo))
                // A headshot up to 256 KiB (one byte more is read, to tell it is too large).
                .layer(axum::extract::DefaultBodyLimit::max(
                    profile_api::MAX_PHOTO_BYTES + 1,
                )),
        )
        // Public: shoppers' widgets on dealers' sites show it in an <img>.
        .routes(routes!(profile_api::agent_photo))
        .routes(routes!(bot_api::get_bot, bot_api::put_bot))
        .routes(routes!(bot_api::get_form, bot_api::put_form))
        .routes(routes!(attachments::download))
        .merge(
            OpenApiRouter::new()
                .routes(routes!(attachments::upload_for_chat))
                // A file up to 10 MB (one byte more is read, to tell it is too large).
                .layer(axum::extract::DefaultBodyLimit::max(
                    showroom_proto::forms::MAX_ATTACHMENT_BYTES + 1,
                )),
        )
        .merge(
            // Dealer pages post their own forms, and the widget its files, from the browser:
            // cross-origin, so answered with CORS headers (the handlers still refuse an origin
            // the website does not allow).
            OpenApiRouter::new()
                .routes(routes!(bot_api::leave_message))
                .merge(
                    OpenApiRouter::new()
                        .routes(routes!(attachments::upload))
                        // A file up to 10 MB (one byte more is read, to tell it is too large).
                        .layer(axum::extract::DefaultBodyLimit::max(
                            showroom_proto::forms::MAX_ATTACHMENT_BYTES + 1,
                        )),
                )
                // The widget fetches its chat's files with its visitor token.
                .routes(routes!(attachments::shopper_download))
                // The widget's socket route, asked before its first socket (route_api.rs).
                .routes(routes!(route_api::socket_route))
                // The widget's slot picker (appointments_api.rs), with its visitor token.
                .routes(routes!(appointments_api::widget_slots))
                .routes(routes!(appointments_api::widget_book))
                .layer(
                    tower_http::cors::CorsLayer::new()
                        .allow_origin(tower_http::cors::AllowOrigin::mirror_request())
                        .allow_methods([axum::http::Method::POST, axum::http::Method::GET])
                        .allow_headers([
                            axum::http::header::CONTENT_TYPE,
                            axum::http::HeaderName::from_static("idempotency-key"),
                            axum::http::HeaderName::from_static("x-visitor-token"),
                            axum::http::HeaderName::from_static("x-filename"),
                        ]),
                ),
        )
        .split_for_parts()
}

/// Filters of the conversation list.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only conversations in this state (`incoming`, `active`, `ended`, …).
    state: Option<String>,
    /// At most this many (1 to 500, default 100).
    limit: Option<i64>,
}

/// The dealer group's conversations, newest first.
#[utoipa::path(get, path = "/api/v1/conversations", tag = "conversations", params(ListQuery),
    responses((status = 200, body = Vec<Conversation>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn list_conversations(
    State(state): State<Arc<Rest>>,
    session: Session,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Vec<Conversation>>, ApiError> {
    let filter = match q.state.as_deref() {
        None => Filter::All,
        Some(s) => Filter::State(ConversationState::parse(s).ok_or_else(|| {
            ApiError::bad_request(
                "bad_state",
                "state must be one of bot, incoming, active, ended, missed, offline, timed_out",
            )
        })?),
    };
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::bad_request(
            "bad_limit",
            "limit must be between 1 and 500",
        ));
    }
    Ok(Json(
        read::conversations(&state.pool, session.group(), filter, limit).await?,
    ))
}

/// A conversation with its transcript.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ConversationDetail {
    /// The conversation.
    conversation: Conversation,
    /// Its messages in order.
    messages: Vec<Message>,
    /// Managers' whispers to the agent, oldest first (agents only; never the shopper's).
    whispers: Vec<showroom_proto::message::Whisper>,
    /// The shopper's rating of the chat, once given.
    rating: Option<showroom_proto::message::Rating>,
}

/// One conversation of the agent's dealer group with its whole transcript. Each read is
/// recorded in the audit trail (`transcript_viewed`) before it is answered; 503
/// `audit_unavailable` when it cannot be.
#[utoipa::path(get, path = "/api/v1/conversations/{id}", tag = "conversations",
    params(("id" = uuid::Uuid, Path, description = "Conversation id (UUID)")),
    responses((status = 200, body = ConversationDetail), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 503, description = "`audit_unavailable`: the read could not be recorded, so it was refused", body = ErrorBody)))]
async fn get_conversation(
    State(state): State<Arc<Rest>>,
    session: Session,
    Id(id, _): Id<extract::Conversation>,
) -> Result<Json<ConversationDetail>, ApiError> {
    let (conversation, messages) =
        transcript_of(&state, &session, id, audit::kind::TRANSCRIPT_VIEWED).await?;
    let whispers = read::whispers_of(&state.pool, session.group(), id).await?;
    let rating = read::rating_of(&state.pool, session.group(), id).await?;
    Ok(Json(ConversationDetail {
        conversation,
        messages,
        whispers,
        rating,
    }))
}

/// A conversation of the session's group and its messages, after the read is recorded as
/// `kind`: 404 for another group's (nothing recorded then).
async fn transcript_of(
    state: &Rest,
    session: &Session,
    id: Uuid,
    kind: &'static str,
) -> Result<(Conversation, Vec<Message>), ApiError> {
    let conversation = read::conversation(&state.pool, session.group(), id)
        .await?
        .ok_or_else(|| ApiError::not_found("conversation"))?;
    audit::record_read(
        &state.pool,
        &audit::Event::by(session, kind).about(format!("conversation:{id}")),
    )
    .await?;
    let messages =
        showroom_store::read::messages_after(&state.pool, session.group(), id, 0, i64::MAX).await?;
    Ok((conversation, messages))
}

/// A conversation's transcript as a plain-text file for the dealer's records: a heading (the
/// rooftop, department, shopper, agent, when it started and ended), then one line per message,
/// `[time UTC] Author: text`. Recorded in the audit trail (`transcript_exported`) first; 503
/// `audit_unavailable` when it cannot be.
#[utoipa::path(get, path = "/api/v1/conversations/{id}/transcript.txt", tag = "conversations",
    params(("id" = uuid::Uuid, Path, description = "Conversation id (UUID)")),
    responses((status = 200, description = "The transcript as text", content_type = "text/plain", body = String),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 503, description = "`audit_unavailable`: the export could not be recorded, so it was refused", body = ErrorBody)))]
async fn transcript_text(
    State(state): State<Arc<Rest>>,
    session: Session,
    Id(id, _): Id<extract::Conversation>,
) -> Result<Response, ApiError> {
    let (c, messages) =
        transcript_of(&state, &session, id, audit::kind::TRANSCRIPT_EXPORTED).await?;
    let at = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M:%S UTC").to_string();
    let mut out = format!(
        "Conversation {}\nRooftop: {}\nDepartment: {}\nShopper: {}\nAgent: {}\nStarted: {}\n",
        c.id,
        c.rooftop.name,
        c.department.label,
        c.shopper.name.as_deref().unwrap_or("Visitor"),
        c.agent.as_ref().map(|a| a.name.as_str()).unwrap_or("—"),
        at(c.created_at),
    );
    if let Some(ended) = c.ended_at {
        out.push_str(&format!("Ended: {}\n", at(ended)));
    }
    out.push('\n');
    for m in &messages {
        let who = m.author.name.as_deref().unwrap_or(m.author.kind.as_str());
        out.push_str(&format!("[{}] {who}: {}\n", at(m.at), m.plain_text()));
    }
    Ok(export::download(
        "text/plain; charset=utf-8",
        &format!("transcript-{id}.txt"),
        out,
    ))
}

/// A running service instance.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ServiceInfo {
    /// Service name.
    name: String,
    /// Instance id.
    id: String,
    /// Version it runs.
    version: String,
    /// What it does.
    description: Option<String>,
    /// Subjects it serves.
    endpoints: Vec<String>,
}

/// What `$SRV` discovery found.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SystemInfo {
    /// Every instance that answered, sorted by name.
    services: Vec<ServiceInfo>,
}

/// The services running now, found through NATS `$SRV` discovery: versions and internal
/// subjects, so for managers and admins only (401 without a session, 403 for an agent).
#[utoipa::path(get, path = "/api/v1/system", tag = "system", responses((status = 200, body = SystemInfo),
    (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn system(
    State(state): State<Arc<Rest>>,
    session: Session,
) -> Result<Json<SystemInfo>, ApiError> {
    crate::auth::managers_only(&session, "see the running services")?;
    let found = discovery::discover(&state.bus, Duration::from_millis(500))
        .await
        .map_err(ApiError::unavailable)?;
    let services = found
        .into_iter()
        .map(|s| ServiceInfo {
            name: s.name,
            id: s.id,
            version: s.version,
            description: s.description,
            endpoints: s.endpoints.into_iter().map(|e| e.subject).collect(),
        })
        .collect();
    Ok(Json(SystemInfo { services }))
}

/// Filters of the board.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BoardQuery {
    /// Only agents whose effective status is this (`available`, `away`, `dnd`, `offline`).
    status: Option<String>,
    /// Only agents covering a department of this rooftop.
    rooftop_id: Option<Uuid>,
    /// Only agents covering this department.
    department_id: Option<Uuid>,
}

fn parse_status(s: &str) -> Result<AgentStatus, ApiError> {
    AgentStatus::parse(s).ok_or_else(|| {
        ApiError::bad_request(
            "bad_status",
            "status must be one of available, away, dnd, offline",
        )
    })
}

/// The Live Agent Status board of the agent's dealer group, for wallboards.
#[utoipa::path(get, path = "/api/v1/presence/board", tag = "presence", params(BoardQuery),
    responses((status = 200, body = Board), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn board(
    State(state): State<Arc<Rest>>,
    session: Session,
    ApiQuery(q): ApiQuery<BoardQuery>,
) -> Result<Json<Board>, ApiError> {
    let filter = GetBoard {
        status: q.status.as_deref().map(parse_status).transpose()?,
        rooftop_id: q.rooftop_id,
        department_id: q.department_id,
    };
    Ok(Json(
        state
            .command(v1::presence_board(session.group()), filter)
            .await?,
    ))
}

/// A new chosen status.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct StatusBody {
    /// `available`, `away`, `dnd` or `offline`.
    status: String,
}

/// Sets an agent's chosen status: agents their own, managers and admins anyone's in the group
/// (for the agent who left without logging off). Recorded with who changed it.
#[utoipa::path(put, path = "/api/v1/agents/{id}/status", tag = "presence", request_body = StatusBody,
    params(("id" = uuid::Uuid, Path, description = "Agent id (UUID)")),
    responses((status = 200, body = AgentPresence), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn set_agent_status(
    State(state): State<Arc<Rest>>,
    session: Session,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<StatusBody>,
) -> Result<Json<AgentPresence>, ApiError> {
    let agent_id: Uuid = id
        .parse()
        .map_err(|_| ApiError::bad_request("bad_id", "the agent id must be a UUID"))?;
    let status = parse_status(&body.status)?;
    let me = &session.agent;
    if agent_id != me.id && !session.can_manage() {
        return Err(ApiError::forbidden(
            "only a manager or an admin can set another agent's status",
        ));
    }
    let cmd = SetStatus {
        agent_id,
        status,
        changed_by: me.id,
    };
    Ok(Json(
        state
            .command(v1::presence_set_status(session.group()), cmd)
            .await?,
    ))
}

/// One change of an agent's status.
#[derive(Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct StatusChange {
    /// The status set.
    status: String,
    /// Who set it.
    changed_by: Uuid,
    /// Their name.
    changed_by_name: Option<String>,
    /// When.
    changed_at: chrono::DateTime<chrono::Utc>,
}

/// Who set an agent's status to what, newest first (at most 200).
#[utoipa::path(get, path = "/api/v1/agents/{id}/status-history", tag = "presence",
    params(("id" = uuid::Uuid, Path, description = "Agent id (UUID)")),
    responses((status = 200, body = Vec<StatusChange>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn status_history(
    State(state): State<Arc<Rest>>,
    session: Session,
    Path(id): Path<String>,
) -> Result<Json<Vec<StatusChange>>, ApiError> {
    let agent_id: Uuid = id
        .parse()
        .map_err(|_| ApiError::bad_request("bad_id", "the agent id must be a UUID"))?;
    crate::directory::agent(&state.pool, agent_id)
        .await?
        .filter(|a| a.group_id == session.group())
        .ok_or_else(|| ApiError::not_found("agent"))?;
    let rows = sqlx::query_as(
        "SELECT h.status, h.changed_by, b.first_name || ' ' || b.last_name AS changed_by_name, h.changed_at \
         FROM agent_status_changes h LEFT JOIN agents b ON b.id = h.changed_by \
         WHERE h.agent_id = $1 AND h.group_id = $2 ORDER BY h.changed_at DESC, h.id DESC LIMIT 200",
    )
    .bind(agent_id)
    .bind(session.group())
    .fetch_all(&state.pool)
    .await?;
    Ok(Json(rows))
}

/// The agent's auto-away setting.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct AutoAwayBody {
    /// Seconds without activity in the console before the agent shows as Away (60 to 86400),
    /// or `null` to turn it off.
    seconds: Option<i32>,
}

/// Sets the agent's own auto-away: Away automatically after this idle time in the console, back
/// to the chosen status on activity. Consoles connected afterwards use it.
#[utoipa::path(put, path = "/api/v1/me/auto-away", tag = "presence", request_body = AutoAwayBody,
    responses((status = 200, body = crate::directory::Agent), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn set_auto_away(
    State(state): State<Arc<Rest>>,
    session: Session,
    ApiJson(body): ApiJson<AutoAwayBody>,
) -> Result<Json<crate::directory::Agent>, ApiError> {
    if body.seconds.is_some_and(|s| !(60..=86_400).contains(&s)) {
        return Err(ApiError::bad_request(
            "bad_seconds",
            "seconds must be between 60 and 86400, or null to turn auto-away off",
        ));
    }
    sqlx::query("UPDATE agents SET auto_away_secs = $1 WHERE id = $2 AND group_id = $3")
        .bind(body.seconds)
        .bind(session.agent.id)
        .bind(session.group())
        .execute(&state.pool)
        .await?;
    let agent = crate::directory::agent(&state.pool, session.agent.id)
        .await?
        .ok_or_else(ApiError::unauthorized)?;
    Ok(Json(agent))
}

#[cfg(test)]
mod tests {
    /// What generated clients rely on: every path parameter is in its path's template (a query
    /// parameter declared `in: path` makes clients put it in the URL's path), every template
    /// variable is declared, and no two operations share an operationId.
    #[test]
    fn parameters_sit_where_the_routes_read_them_and_operation_ids_are_unique() {
        let (_, doc) = super::router();
        let doc = serde_json::to_value(&doc).unwrap();
        let mut ids = std::collections::BTreeMap::<String, Vec<String>>::new();
        let mut wrong = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            let vars: Vec<&str> = path
                .split('{')
                .skip(1)
                .filter_map(|p| p.split('}').next())
                .collect();
            for (method, op) in item.as_object().unwrap() {
                let id = op["operationId"].as_str().unwrap_or_default().to_string();
                ids.entry(id).or_default().push(format!("{method} {path}"));
                let params = op["parameters"].as_array().cloned().unwrap_or_default();
                let in_path: Vec<&str> = params
                    .iter()
                    .filter(|p| p["in"] == "path")
                    .filter_map(|p| p["name"].as_str())
                    .collect();
                for name in &in_path {
                    if !vars.contains(name) {
                        wrong.push(format!("{method} {path}: `{name}` is declared in the path"));
                    }
                }
                for var in &vars {
                    if !in_path.contains(var) {
                        wrong.push(format!("{method} {path}: `{var}` is not declared"));
                    }
                }
            }
        }
        for (id, ops) in ids {
            if ops.len() > 1 {
                wrong.push(format!("operationId `{id}` is used by {ops:?}"));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn the_openapi_document_lists_every_path() {
        let (_, doc) = super::router();
        let doc = serde_json::to_value(&doc).unwrap();
        for (path, methods) in [
            ("/api/v1/conversations/{id}/transfer", &["post"][..]),
            ("/api/v1/conversations/{id}/reassign", &["post"]),
            ("/api/v1/transfers/{id}/reply", &["post"]),
            ("/api/v1/departments/{id}/routing", &["get", "put"]),
            ("/api/v1/websites/{id}/routing", &["get", "put"]),
            ("/api/v1/teams", &["get"]),
            ("/api/v1/teams/{id}", &["put"]),
            ("/api/v1/conversations/{id}", &["get"]),
            ("/api/v1/reports/departments", &["get"]),
            ("/api/v1/reports/departments.csv", &["get"]),
            ("/api/v1/reports/trends", &["get"]),
            ("/api/v1/appointments.csv", &["get"]),
            ("/api/v1/rooftops", &["get", "post"]),
            ("/api/v1/rooftops/{id}", &["put"]),
            ("/api/v1/rooftops/{id}/departments", &["post"]),
            ("/api/v1/departments/{id}", &["put", "delete"]),
            ("/api/v1/agents", &["get", "post"]),
            ("/api/v1/agents/{id}", &["put"]),
            ("/api/v1/agents/{id}/memberships", &["put"]),
            ("/api/v1/agents/{id}/photo", &["get"]),
            ("/api/v1/websites", &["get", "post"]),
            ("/api/v1/websites/{id}", &["get", "put"]),
            ("/api/v1/me", &["get"]),
            ("/api/v1/me/profile", &["get", "put"]),
            ("/api/v1/me/photo", &["put", "delete"]),
            ("/api/v1/audit", &["get"]),
            ("/api/v1/audit.csv", &["get"]),
            ("/api/v1/audit/verify", &["get"]),
            ("/api/v1/auth/mfa/totp", &["post"]),
            ("/api/v1/auth/mfa/passkey/finish", &["post"]),
            ("/api/v1/me/mfa", &["get"]),
            ("/api/v1/me/mfa/passkeys/{id}", &["delete"]),
            ("/api/v1/mfa/policy", &["get", "put"]),
            ("/api/v1/agents/{id}/mfa/reset", &["post"]),
            ("/api/v1/search", &["get"]),
            ("/api/v1/payment-settings", &["get", "post"]),
            ("/api/v1/payment-settings/{id}", &["put", "delete"]),
            ("/api/v1/conversations/{id}/payment-estimate", &["post"]),
            ("/api/v1/widget/{key}/payment-estimate", &["post"]),
            ("/api/v1/widget/{key}/route", &["get"]),
            ("/api/v1/conversations/{id}/trade-in", &["get", "put"]),
        ] {
            for m in methods {
                assert!(
                    doc["paths"][path].get(m).is_some(),
                    "{m} {path} missing from the OpenAPI document"
                );
            }
        }
        for schema in [
            "Transfer",
            "DepartmentRouting",
            "DepartmentRoutingView",
            "WebsiteRouting",
            "Team",
            "Conversation",
            "OfflineReason",
            "DepartmentsReport",
            "RooftopNumbers",
            "RooftopList",
            "AgentList",
            "WebsiteView",
            "Appearance",
            "Profile",
            "Me",
            "LoginAnswer",
            "MfaRequired",
            "SearchPage",
            "Hit",
            "Snippet",
            "Part",
            "PaymentSettings",
            "EstimateAnswer",
            "PaymentEstimate",
            "TradeIn",
            "TradeInAnswer",
            "Condition",
            "MileageUnit",
        ] {
            assert!(
                doc["components"]["schemas"].get(schema).is_some(),
                "schema {schema} missing"
            );
        }
        // Every reference resolves.
        let text = doc.to_string();
        for r in text.split("\"#/components/schemas/").skip(1) {
            let name = &r[..r.find('"').unwrap()];
            assert!(
                doc["components"]["schemas"].get(name).is_some(),
                "dangling reference to {name}"
            );
        }
    }
}
