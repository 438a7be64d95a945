//! REST for notices: each agent's choices (desktop notices, e-mails, the sound) and each
//! website's e-mail settings (transcripts to shoppers, messages left forwarded). The
//! notification service owns and checks them; the gateway checks the session and forwards.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use showroom_proto::bot::WebsiteRef;
use showroom_proto::notification::{
    AgentRef, NotificationCommand, NotificationPrefs, PutPrefs, PutWebsiteNotifications,
    WebsiteNotifications,
};
use showroom_proto::v1;

use crate::auth::{Session, scoped_managers};
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiJson;
use crate::{Rest, audit};

/// The agent's own notification choices.
#[utoipa::path(get, path = "/api/v1/me/notifications", tag = "notifications",
    responses((status = 200, body = NotificationPrefs), (status = 401, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn get_prefs(
    State(state): State<Arc<Rest>>,
    session: Session,
) -> Result<Json<NotificationPrefs>, ApiError> {
    let q = AgentRef {
        agent_id: session.agent.id,
    };
    Ok(Json(
        state
            .command(
                v1::notification_command(session.group(), NotificationCommand::GetPrefs),
                q,
            )
            .await?,
    ))
}

/// Replaces the agent's own choices: `desktop`, `email`, `sound` (each on by default).
#[utoipa::path(put, path = "/api/v1/me/notifications", tag = "notifications",
    request_body = NotificationPrefs,
    responses((status = 200, body = NotificationPrefs), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn put_prefs(
    State(state): State<Arc<Rest>>,
    session: Session,
    ApiJson(b): ApiJson<NotificationPrefs>,
) -> Result<Json<NotificationPrefs>, ApiError> {
    let prefs = b;
    let cmd = PutPrefs {
        agent_id: session.agent.id,
        prefs,
    };
    Ok(Json(
        state
            .command(
                v1::notification_command(session.group(), NotificationCommand::PutPrefs),
                cmd,
            )
            .await?,
    ))
}

/// A website's e-mail settings.
#[utoipa::path(operation_id = "get_website_notifications", get, path = "/api/v1/websites/{id}/notifications", tag = "notifications",
    params(("id" = uuid::Uuid, Path, description = "Website id (UUID)")),
    responses((status = 200, body = WebsiteNotifications), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn get_website(
    State(state): State<Arc<Rest>>,
    session: Session,
    Path(id): Path<String>,
) -> Result<Json<WebsiteNotifications>, ApiError> {
    let website_id = session.website(&state, &id).await?;
    Ok(Json(
        state
            .command(
                v1::notification_command(session.group(), NotificationCommand::GetWebsite),
                WebsiteRef { website_id },
            )
            .await?,
    ))
}

/// Replaces a website's e-mail settings (managers and admins; a rooftop manager their rooftops'): `transcript_email` (on by
/// default) and `forward_messages_to` (at most 10 addresses).
#[utoipa::path(operation_id = "put_website_notifications", put, path = "/api/v1/websites/{id}/notifications", tag = "notifications",
    request_body = WebsiteNotifications,
    params(("id" = uuid::Uuid, Path, description = "Website id (UUID)")),
    responses((status = 200, body = WebsiteNotifications), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn put_website(
    State(state): State<Arc<Rest>>,
    session: Session,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<WebsiteNotifications>,
) -> Result<Json<WebsiteNotifications>, ApiError> {
    scoped_managers(&session, "change a website's e-mails")?;
    let settings = b;
    let website_id = session.website(&state, &id).await?;
    let notify = |cmd| v1::notification_command(session.group(), cmd);
    Ok(Json(
        audit::replaced(
            &state.pool,
            &session,
            audit::kind::WEBSITE_EMAILS_CHANGED,
            format!("website:{website_id}"),
            serde_json::Value::Null,
            state.command::<_, WebsiteNotifications>(
                notify(NotificationCommand::GetWebsite),
                WebsiteRef { website_id },
            ),
            state.command::<_, WebsiteNotifications>(
                notify(NotificationCommand::PutWebsite),
                PutWebsiteNotifications {
                    website_id,
                    settings,
                },
            ),
        )
        .await?,
    ))
}
