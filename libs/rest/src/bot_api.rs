//! REST for the bot: each website's bot settings (Lead Gate, leave-a-message form, name,
//! picture, texts in English and Spanish), and the leave-a-message call dealer sites post
//! their own forms to. The bot owns and checks both; the gateway checks the session (or the
//! website key and origin) and forwards.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header::ORIGIN;
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use showroom_proto::bot::{
    BotCommand, BotSettings, GetForm, LeaveMessage, LeaveMessageForm, MessageReceipt,
    PutBotSettings, WebsiteRef,
};
use showroom_proto::forms::{Form, FormKind, PutForm};
use showroom_proto::v1;
use uuid::Uuid;

use crate::auth::{Session, scoped_managers};
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiJson;
use crate::extract::{Client, checked, website_for};
use crate::{Rest, audit};

/// Longest Idempotency-Key, in characters.
const MAX_IDEMPOTENCY_KEY: usize = 200;

/// A website's bot settings.
#[utoipa::path(get, path = "/api/v1/websites/{id}/bot", tag = "bot",
    params(("id" = uuid::Uuid, Path, description = "Website id (UUID)")),
    responses((status = 200, body = BotSettings), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn get_bot(
    State(state): State<Arc<Rest>>,
    session: Session,
    Path(id): Path<String>,
) -> Result<Json<BotSettings>, ApiError> {
    let website_id = session.website(&state, &id).await?;
    Ok(Json(
        state
            .command(
                v1::bot_command(session.group(), BotCommand::GetSettings),
                WebsiteRef { website_id },
            )
            .await?,
    ))
}

/// Replaces a website's bot settings (managers and admins; a rooftop manager their rooftops'). Texts left out fall back to the
/// built-in ones; `consent_version` is raised by the bot whenever a consent text changes.
#[utoipa::path(put, path = "/api/v1/websites/{id}/bot", tag = "bot",
    request_body = BotSettings,
    params(("id" = uuid::Uuid, Path, description = "Website id (UUID)")),
    responses((status = 200, body = BotSettings), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn put_bot(
    State(state): State<Arc<Rest>>,
    session: Session,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<BotSettings>,
) -> Result<Json<BotSettings>, ApiError> {
    scoped_managers(&session, "change the bot's settings")?;
    let settings = b;
    let website_id = session.website(&state, &id).await?;
    let bot = |cmd| v1::bot_command(session.group(), cmd);
    Ok(Json(
        audit::replaced(
            &state.pool,
            &session,
            audit::kind::BOT_SETTINGS_CHANGED,
            format!("website:{website_id}"),
            serde_json::Value::Null,
            state
                .command::<_, BotSettings>(bot(BotCommand::GetSettings), WebsiteRef { website_id }),
            state.command::<_, BotSettings>(
                bot(BotCommand::PutSettings),
                PutBotSettings {
                    website_id,
                    settings,
                },
            ),
        )
        .await?,
    ))
}

/// The leave-a-message body: the form's fields.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
pub struct LeaveMessageBody {
    /// The form.
    #[serde(flatten)]
    pub form: LeaveMessageForm,
}

/// Accepted: the message is stored and will become a lead.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Accepted {
    /// The message's id.
    pub id: Uuid,
}

/// Leaves a message for a dealership from a dealer's own form (no session: the website key
/// names the website; a browser's `Origin` must be on the website's allowed origins, a server
/// sends none). Fields: `department_id` (optional), `first_name`, `last_name`, `email`
/// (required), `phone` (optional, read in the rooftop's country unless it starts with `+`),
/// `message` (required), `language`, `page_url`, `consent` (`{text, version}` shown with the
/// phone field), `vehicle`. Answers 202 with the new id; 400 with `fields` naming each wrong
/// field. An `Idempotency-Key` header makes a retry answer the same id without a second lead.
/// Each message counts as a conversation started: past the website's limits (per client
/// address per hour, per minute) it is answered 429 `rate_limited` with `Retry-After`.
#[utoipa::path(post, path = "/api/v1/widget/{key}/messages", tag = "bot",
    request_body = LeaveMessageBody,
    params(("key" = String, Path, description = "The website's widget key"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe")),
    responses((status = 202, body = Accepted), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 429, description = "Too many conversations started from this address or on this website: wait `Retry-After` seconds", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, body = ErrorBody)))]
pub async fn leave_message(
    State(state): State<Arc<Rest>>,
    Path(key): Path<String>,
    headers: HeaderMap,
    Client(client): Client,
    body: Bytes,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let origin = headers.get(ORIGIN).and_then(|v| v.to_str().ok());
    let website = website_for(&state.pool, &key, origin).await?;
    let form: LeaveMessageForm = serde_json::from_slice(&body)
        .map_err(|e| {
            ApiError::bad_request("bad_json", format!("the body is not a valid form: {e}"))
        })
        .and_then(checked)?;
    let idempotency_key = match headers.get("idempotency-key") {
        None => None,
        Some(v) => {
            let k = v
                .to_str()
                .ok()
                .map(str::trim)
                .filter(|k| !k.is_empty() && k.len() <= MAX_IDEMPOTENCY_KEY);
            Some(
                k.ok_or_else(|| {
                    ApiError::bad_request(
                        "bad_idempotency_key",
                        "Idempotency-Key must be 1 to 200 visible characters",
                    )
                })?
                .to_string(),
            )
        }
    };
    // Counted as a conversation started, before anything is stored.
    state
        .limits
        .conversation_started(
            &website,
            client.as_ref().map(|a| a.ip.to_string()).as_deref(),
        )
        .await?;
    let cmd = LeaveMessage {
        website_id: website.id,
        form,
        conversation_id: None,
        visitor_id: None,
        ip: client.as_ref().map(|a| a.ip.to_string()),
        ip_source: client.map(|a| a.source),
        idempotency_key: idempotency_key.map(|k| format!("rest:{k}")),
        busy: false,
    };
    let subject = v1::bot_command(website.group_id, BotCommand::LeaveMessage);
    // Without a key a retry could leave the message twice: send it once.
    let receipt: MessageReceipt = if cmd.idempotency_key.is_some() {
        state.command(subject, cmd).await?
    } else {
        state.command_once(subject, cmd).await?
    };
    Ok((StatusCode::ACCEPTED, Json(Accepted { id: receipt.id })))
}

fn form_kind(kind: &str) -> Result<FormKind, ApiError> {
    FormKind::parse(kind)
        .ok_or_else(|| ApiError::bad_request("bad_form", "the form must be pre_chat or offline"))
}

/// A website's pre-chat or offline form (no fields when it has none).
#[utoipa::path(get, path = "/api/v1/websites/{id}/forms/{kind}", tag = "bot",
    params(("id" = uuid::Uuid, Path, description = "Website id (UUID)"),
        ("kind" = inline(showroom_proto::forms::FormKind), Path, description = "`pre_chat` or `offline`")),
    responses((status = 200, body = Form), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn get_form(
    State(state): State<Arc<Rest>>,
    session: Session,
    Path((id, kind)): Path<(String, String)>,
) -> Result<Json<Form>, ApiError> {
    let kind = form_kind(&kind)?;
    let website_id = session.website(&state, &id).await?;
    Ok(Json(
        state
            .command(
                v1::bot_command(session.group(), BotCommand::GetForm),
                GetForm { website_id, kind },
            )
            .await?,
    ))
}

/// Replaces a website's pre-chat or offline form (managers and admins; a rooftop manager their rooftops'); `{"fields": []}`
/// removes it. Each field: `id`, `label`, `type` (`label`, `select`, `input`, `textarea`,
/// `radio`, `checkboxes`, `agreement`, `attachment`) with what it needs (`options`, `input`,
/// `text`, `accept`, `multiple`), `required`, and `maps_to` (`{"contact": "first_name"}` or
/// `{"variable": "interest"}`). 400 with `fields` naming the first wrong one.
#[utoipa::path(put, path = "/api/v1/websites/{id}/forms/{kind}", tag = "bot",
    request_body = Form,
    params(("id" = uuid::Uuid, Path, description = "Website id (UUID)"),
        ("kind" = inline(showroom_proto::forms::FormKind), Path, description = "`pre_chat` or `offline`")),
    responses((status = 200, body = Form), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn put_form(
    State(state): State<Arc<Rest>>,
    session: Session,
    Path((id, kind)): Path<(String, String)>,
    ApiJson(b): ApiJson<Form>,
) -> Result<Json<Form>, ApiError> {
    scoped_managers(&session, "change a website's forms")?;
    let kind = form_kind(&kind)?;
    let form = b;
    let website_id = session.website(&state, &id).await?;
    let bot = |cmd| v1::bot_command(session.group(), cmd);
    Ok(Json(
        audit::replaced(
            &state.pool,
            &session,
            audit::kind::FORM_CHANGED,
            format!("website:{website_id}"),
            serde_json::json!({ "form": kind }),
            state.command::<_, Form>(bot(BotCommand::GetForm), GetForm { website_id, kind }),
            state.command::<_, Form>(
                bot(BotCommand::PutForm),
                PutForm {
                    website_id,
                    kind,
                    form,
                },
            ),
        )
        .await?,
    ))
}
