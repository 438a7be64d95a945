//! REST for payment estimates (`payment.rs` owns the tables and the rules): the rooftops'
//! settings (managers and admins; a rooftop manager their rooftops'), recorded in the audit
//! trail; an agent's estimate for their chat (sent into the chat as a card with the console's
//! `send` `estimate_id`); the shopper's own estimate in the widget.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::json;
use showroom_proto::contact::Language;
use showroom_proto::payment::{EstimateAsk, PaymentEstimate, PaymentKind};
use showroom_store::read;
use uuid::Uuid;

use crate::auth::{Session, scoped_managers};
use crate::directory::Role;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{self, ApiJson, Id};
use crate::payment::{self, PaymentSettings, SettingsFields};
use crate::{Rest, audit};

/// Payment settings.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SettingsList {
    /// By rooftop, each rooftop's default first, then by make.
    pub settings: Vec<PaymentSettings>,
}

/// New payment settings for a rooftop.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewSettingsBody {
    /// The rooftop.
    pub rooftop_id: Uuid,
    /// Its fields.
    #[serde(flatten)]
    pub fields: SettingsFields,
}

/// An estimate computed and stored.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EstimateAnswer {
    /// Its id: the console sends it into the chat with `send`'s `estimate_id`.
    pub id: Uuid,
    /// The figures.
    pub estimate: PaymentEstimate,
    /// The same as text, in the chat's language (what the message's text will be).
    pub text: String,
}

/// The shopper's ask in the widget (the price is always the chat's vehicle's).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WidgetEstimateBody {
    /// The shopper's chat.
    pub conversation_id: Uuid,
    /// Finance (default) or lease.
    #[serde(default)]
    pub kind: PaymentKind,
    /// The down payment in cents (absent: the dealer's default).
    #[serde(default)]
    pub down_cents: Option<i64>,
    /// The term in months (absent: the dealer's default).
    #[serde(default)]
    pub term_months: Option<i32>,
}

/// The payment settings of the group's rooftops (managers and admins; a rooftop manager's
/// rooftops' only).
#[utoipa::path(get, path = "/api/v1/payment-settings", tag = "payments",
    responses((status = 200, body = SettingsList), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn list_payment_settings(
    State(state): State<Arc<Rest>>,
    session: Session,
) -> Result<Json<SettingsList>, ApiError> {
    scoped_managers(&session, "manage payment settings")?;
    Ok(Json(SettingsList {
        settings: payment::list(&state.pool, session.group(), session.scope.rooftops()).await?,
    }))
}

/// Adds a rooftop's default settings (no `make`) or a make's (managers and admins; a rooftop
/// manager their rooftops', 404 for another). 400 naming each wrong field, 409
/// `already_taken` naming `make` when the rooftop has settings for it (or a default already).
/// Recorded in the audit trail (`payment_settings_changed`).
#[utoipa::path(post, path = "/api/v1/payment-settings", tag = "payments", request_body = NewSettingsBody,
    responses((status = 201, body = PaymentSettings), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_payment_settings(
    State(state): State<Arc<Rest>>,
    session: Session,
    ApiJson(b): ApiJson<NewSettingsBody>,
) -> Result<(StatusCode, Json<PaymentSettings>), ApiError> {
    scoped_managers(&session, "add payment settings")?;
    session.rooftop_in_scope(b.rooftop_id)?;
    let fields = payment::checked(&b.fields)?;
    let mut tx = state.pool.begin().await?;
    let created = payment::insert(&mut tx, session.group(), b.rooftop_id, &fields).await?;
    record(&mut tx, &session, &created, "created", None, Some(&fields)).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Changes a settings row (as adding one: who may, 400, 409); 404 for one the session does
/// not manage. Recorded in the audit trail (`payment_settings_changed`).
#[utoipa::path(put, path = "/api/v1/payment-settings/{id}", tag = "payments", request_body = SettingsFields,
    params(("id" = uuid::Uuid, Path, description = "Payment settings id (UUID)")),
    responses((status = 200, body = PaymentSettings), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn update_payment_settings(
    State(state): State<Arc<Rest>>,
    session: Session,
    Id(id, _): Id<extract::PaymentSettings>,
    ApiJson(b): ApiJson<SettingsFields>,
) -> Result<Json<PaymentSettings>, ApiError> {
    scoped_managers(&session, "change payment settings")?;
    let fields = payment::checked(&b)?;
    let mut tx = state.pool.begin().await?;
    let before = managed_one(&mut tx, &session, id).await?;
    let after = payment::update(&mut tx, session.group(), id, &fields).await?;
    let old = payment::fields_of(&before);
    if old != fields {
        record(
            &mut tx,
            &session,
            &after,
            "changed",
            Some(&old),
            Some(&fields),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(Json(after))
}

/// Deletes a settings row; 404 for one the session does not manage. Recorded in the audit
/// trail (`payment_settings_changed`).
#[utoipa::path(delete, path = "/api/v1/payment-settings/{id}", tag = "payments",
    params(("id" = uuid::Uuid, Path, description = "Payment settings id (UUID)")),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_payment_settings(
    State(state): State<Arc<Rest>>,
    session: Session,
    Id(id, _): Id<extract::PaymentSettings>,
) -> Result<StatusCode, ApiError> {
    scoped_managers(&session, "delete payment settings")?;
    let mut tx = state.pool.begin().await?;
    let before = managed_one(&mut tx, &session, id).await?;
    payment::delete(&mut tx, session.group(), id).await?;
    let old = payment::fields_of(&before);
    record(&mut tx, &session, &before, "deleted", Some(&old), None).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Computes an estimate for the chat's vehicle from its rooftop's settings (the vehicle's
/// make's, else the default), for the chat's agent or a manager (a rooftop manager of its
/// rooftop): the body may give another `price_cents`, `down_cents`, `term_months` and `kind`.
/// The estimate is stored; the agent sends it into the chat as a card with the console
/// socket's `send` `estimate_id`. 400 naming the field (no price, a down payment that covers
/// everything, a term out of range), 403 for another agent's chat, 404 for a chat not of the
/// session's group and scope, 409 `not_configured` for a rooftop without settings.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/payment-estimate", tag = "payments",
    request_body = EstimateAsk,
    params(("id" = uuid::Uuid, Path, description = "Conversation id (UUID)")),
    responses((status = 200, body = EstimateAnswer), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn agent_payment_estimate(
    State(state): State<Arc<Rest>>,
    session: Session,
    Id(id, _): Id<extract::Conversation>,
    ApiJson(ask): ApiJson<EstimateAsk>,
) -> Result<Json<EstimateAnswer>, ApiError> {
    let c = read::conversation(&state.pool, session.group(), id)
        .await?
        .filter(|c| session.covers_rooftop(c.rooftop.id))
        .ok_or_else(|| ApiError::not_found("conversation"))?;
    let manager = session.can_manage() || session.agent.role() == Role::RooftopManager;
    let theirs = c.agent.as_ref().is_some_and(|a| a.id == session.agent.id);
    if !manager && !theirs {
        return Err(ApiError::forbidden(
            "only the chat's agent or a manager can estimate a payment for it",
        ));
    }
    let estimate = payment::compute(&state.pool, &c, &ask).await?;
    let id = payment::store(
        &state.pool,
        session.group(),
        c.id,
        Some(session.agent.id),
        &estimate,
    )
    .await?;
    Ok(Json(EstimateAnswer {
        id,
        text: estimate.text(c.language == Language::Es),
        estimate,
    }))
}

/// The shopper's own estimate in the widget ("Estimate my payment"): header
/// `X-Visitor-Token`; computed for their chat's vehicle (its price) from the rooftop's
/// settings, stored with the chat as the last figure they saw (it goes into the lead). 400
/// naming the field, 401 without a genuine token, 404 for a chat not theirs, 409
/// `not_configured` for a rooftop without settings.
#[utoipa::path(post, path = "/api/v1/widget/{key}/payment-estimate", tag = "payments",
    request_body = WidgetEstimateBody,
    params(("key" = String, Path, description = "The website's widget key"),
        ("X-Visitor-Token" = String, Header, description = "The widget's visitor token")),
    responses((status = 200, body = EstimateAnswer), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn shopper_payment_estimate(
    State(state): State<Arc<Rest>>,
    Path(key): Path<String>,
    headers: HeaderMap,
    ApiJson(b): ApiJson<WidgetEstimateBody>,
) -> Result<Json<EstimateAnswer>, ApiError> {
    let c = extract::widget_chat(
        &state.pool,
        &state.visitor_keys,
        &key,
        &headers,
        b.conversation_id,
    )
    .await?;
    let ask = EstimateAsk {
        kind: b.kind,
        price_cents: None,
        down_cents: b.down_cents,
        term_months: b.term_months,
    };
    let estimate = payment::compute(&state.pool, &c, &ask).await?;
    let id = payment::store(&state.pool, c.group_id, c.id, None, &estimate).await?;
    Ok(Json(EstimateAnswer {
        id,
        text: estimate.text(c.language == Language::Es),
        estimate,
    }))
}

/// A settings row the session manages, locked; 404 for any other (another rooftop's, another
/// group's).
async fn managed_one(
    tx: &mut sqlx::PgConnection,
    session: &Session,
    id: Uuid,
) -> Result<PaymentSettings, ApiError> {
    match payment::lock(tx, session.group(), id).await? {
        Some(s) if session.covers_rooftop(s.rooftop_id) => Ok(s),
        _ => Err(ApiError::not_found("payment settings")),
    }
}

/// Appends `payment_settings_changed` about `s` (`action`: created, changed, deleted) in `tx`,
/// with the fields before and after.
async fn record(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    session: &Session,
    s: &PaymentSettings,
    action: &str,
    before: Option<&payment::Checked>,
    after: Option<&payment::Checked>,
) -> Result<(), ApiError> {
    let event = audit::Event::by(session, audit::kind::PAYMENT_SETTINGS_CHANGED)
        .about(format!("payment_settings:{}", s.id))
        .detail(json!({
            "action": action, "rooftop_id": s.rooftop_id, "make": s.make,
            "before": before, "after": after,
        }));
    audit::record(tx, &event).await.map_err(audit::required)?;
    Ok(())
}
