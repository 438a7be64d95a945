//! REST for delivering leads to dealers' CRMs: destinations (ADF e-mail, signed webhooks) per
//! rooftop and department, test sends, the delivery log, the dead letters and redelivery; and
//! integrators' NATS credentials (issued and revoked by admins).
//! crm-export owns and checks all of it; the gateway checks the session and the role, then
//! forwards. Destinations are for managers and admins only (a webhook URL may carry a token);
//! any agent of the group may read the delivery log and the dead letters.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use showroom_proto::delivery::{
    CrmCommand, DeadLetterQuery, Delivery, DeliveryQuery, Destination, DestinationDeleted,
    DestinationRef, DestinationSettings, ListDestinations, PutDestination, Redeliver,
};
use showroom_proto::integration::{
    Integration, IssueIntegration, IssuedIntegration, ListIntegrations, RevokeIntegration,
};
use showroom_proto::v1;
use uuid::Uuid;

use crate::Rest;
use crate::audit;
use crate::auth::{Session, admins_only, scoped_managers};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{self, ApiJson, ApiQuery, Id};
use crate::validate::invalid;

fn managers_only(session: &Session, what: &str) -> Result<(), ApiError> {
    if session.can_manage() {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!(
            "only a manager or an admin can {what}"
        )))
    }
}

/// For a rooftop manager: 404 unless destination `id` is of their rooftops (one that does not
/// exist yet passes when `new_ok`: a PUT creating it). Read from crm-export, so a failure to
/// read refuses (503) rather than let an unchecked change through. Group-wide sessions pass.
async fn destination_in_scope(
    state: &Rest,
    session: &Session,
    id: Uuid,
    new_ok: bool,
) -> Result<(), ApiError> {
    if session.scope.rooftops().is_none() {
        return Ok(());
    }
    let all: Vec<Destination> = state
        .command(
            v1::crm_command(session.group(), CrmCommand::ListDestinations),
            ListDestinations { rooftop_id: None },
        )
        .await?;
    match all.iter().find(|d| d.id == id) {
        Some(d) if session.covers_rooftop(d.rooftop.id) => Ok(()),
        None if new_ok => Ok(()),
        _ => Err(ApiError::not_found("destination")),
    }
}

/// Filters of the destination list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DestinationFilter {
    /// Only this rooftop's destinations.
    rooftop_id: Option<Uuid>,
}

/// The group's CRM destinations (managers and admins; a rooftop manager their rooftops'): ADF
/// e-mail addresses and webhooks, per rooftop and optionally department. Webhook secrets are shown only as hints (`whsec_…abcd`).
#[utoipa::path(get, path = "/api/v1/crm/destinations", tag = "crm", params(DestinationFilter),
    responses((status = 200, body = Vec<Destination>), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn list_destinations(
    State(state): State<Arc<Rest>>,
    session: Session,
    ApiQuery(q): ApiQuery<DestinationFilter>,
) -> Result<Json<Vec<Destination>>, ApiError> {
    scoped_managers(&session, "see the CRM destinations")?;
    if let Some(r) = q.rooftop_id {
        session.rooftop_in_scope(r)?;
    }
    let mut all: Vec<Destination> = state
        .command(
            v1::crm_command(session.group(), CrmCommand::ListDestinations),
            ListDestinations {
                rooftop_id: q.rooftop_id,
            },
        )
        .await?;
    all.retain(|d| session.covers_rooftop(d.rooftop.id));
    Ok(Json(all))
}

/// Creates or replaces a CRM destination (managers and admins; a rooftop manager one of their
/// rooftops', for their rooftops: 404 for another's, 400 naming `rooftop_id` or
/// `department_id` outside them); the client picks the id, so a
/// retried PUT is harmless. Body: `rooftop_id`, `department_id` (optional: only that
/// department's leads), `name`, `enabled` (default true; putting true again re-enables a
/// destination a 410 Gone disabled), and `target`: `{"kind": "adf_email", "to", "dealership_name"?,
/// "vendor_email"?}` or `{"kind": "webhook", "url", "secrets": ["whsec_…"]}` (two secrets during a
/// rotation: every delivery is signed with each). 400 with `fields` naming each wrong field.
#[utoipa::path(put, path = "/api/v1/crm/destinations/{id}", tag = "crm",
    request_body = DestinationSettings,
    params(("id" = uuid::Uuid, Path, description = "Destination id (UUID, chosen by the client)")),
    responses((status = 200, body = Destination), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn put_destination(
    State(state): State<Arc<Rest>>,
    session: Session,
    Id(destination_id, _): Id<extract::Destination>,
    ApiJson(b): ApiJson<DestinationSettings>,
) -> Result<Json<Destination>, ApiError> {
    scoped_managers(&session, "change the CRM destinations")?;
    let settings = b;
    destination_in_scope(&state, &session, destination_id, true).await?;
    if !session.covers_rooftop(settings.rooftop_id) {
        return Err(invalid("rooftop_id", "is not one of your rooftops"));
    }
    if let Some(d) = settings.department_id
        && session.scope.rooftops().is_some()
        && session.department(&state, d).await.is_err()
    {
        return Err(invalid(
            "department_id",
            "is not a department of your rooftops",
        ));
    }
    let before = destination_now(&state, &session, destination_id).await;
    let after: Destination = state
        .command(
            v1::crm_command(session.group(), CrmCommand::PutDestination),
            PutDestination {
                destination_id,
                settings,
            },
        )
        .await?;
    let action = if before.is_null() {
        "created"
    } else {
        "changed"
    };
    let detail = json!({
        "action": action, "name": after.name, "before": before, "after": audited(&after),
    });
    audit_destination(&state, &session, destination_id, detail).await;
    Ok(Json(after))
}

/// A destination as the audit trail keeps it: no secrets (hints only, as listed), the webhook
/// URL without its query or user info (either may carry a token), no timestamps.
fn audited(d: &Destination) -> Value {
    let mut v = serde_json::to_value(d).unwrap_or(Value::Null);
    if let Some(o) = v.as_object_mut() {
        o.remove("created_at");
        o.remove("updated_at");
    }
    if let Some(url) = v["target"]["url"].as_str() {
        v["target"]["url"] = Value::String(without_credentials(url));
    }
    v
}

/// `url` without user info, query or fragment (`?…` marks a query that was there).
fn without_credentials(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let cut = rest.find(['?', '#']).unwrap_or(rest.len());
    let (path, tail) = rest.split_at(cut);
    let (authority, path) = path.split_at(path.find('/').unwrap_or(path.len()));
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let marker = if tail.starts_with('?') { "?…" } else { "" };
    format!("{scheme}://{host}{path}{marker}")
}

/// The destination as it is now, for the audit row's `before` (`null`: there is none, or it
/// could not be read: then the row says only what it became).
async fn destination_now(state: &Rest, session: &Session, id: Uuid) -> Value {
    let listed: Result<Vec<Destination>, _> = state
        .command(
            v1::crm_command(session.group(), CrmCommand::ListDestinations),
            ListDestinations { rooftop_id: None },
        )
        .await;
    match listed {
        Ok(all) => all.iter().find(|d| d.id == id).map_or(Value::Null, audited),
        Err(e) => {
            tracing::warn!(error = ?e, destination = %id, "no before for the audit row");
            Value::Null
        }
    }
}

/// Records a destination's change after crm-export made it (it owns the table, so the change
/// and its audit row cannot share a transaction: a failure to record is logged at ERROR).
async fn audit_destination(state: &Rest, session: &Session, id: Uuid, detail: Value) {
    let event = audit::Event::by(session, audit::kind::CRM_DESTINATION_CHANGED)
        .about(format!("crm_destination:{id}"))
        .detail(detail);
    audit::record_after(&state.pool, event).await;
}

/// Removes a CRM destination (managers and admins; a rooftop manager their rooftops'): it receives nothing more, its pending
/// deliveries are cancelled, its delivery log stays readable.
#[utoipa::path(delete, path = "/api/v1/crm/destinations/{id}", tag = "crm",
    params(("id" = uuid::Uuid, Path, description = "Destination id (UUID)")),
    responses((status = 200, body = DestinationDeleted), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn delete_destination(
    State(state): State<Arc<Rest>>,
    session: Session,
    Id(destination_id, _): Id<extract::Destination>,
) -> Result<Json<DestinationDeleted>, ApiError> {
    scoped_managers(&session, "change the CRM destinations")?;
    destination_in_scope(&state, &session, destination_id, false).await?;
    let before = destination_now(&state, &session, destination_id).await;
    let deleted: DestinationDeleted = state
        .command(
            v1::crm_command(session.group(), CrmCommand::DeleteDestination),
            DestinationRef { destination_id },
        )
        .await?;
    let detail = json!({
        "action": "deleted", "name": before["name"], "before": before, "after": null,
        "cancelled_deliveries": deleted.cancelled,
    });
    audit_destination(&state, &session, destination_id, detail).await;
    Ok(Json(deleted))
}

/// Sends a made-up lead to a destination now, once (managers and admins; a rooftop manager to
/// their rooftops'), and answers how it
/// went: the delivery with its one attempt (`status` `delivered` or `failed`, the status code or
/// error). Webhooks get CloudEvent type `showroom.lead.test`; e-mails say TEST in the subject.
#[utoipa::path(post, path = "/api/v1/crm/destinations/{id}/test", tag = "crm",
    params(("id" = uuid::Uuid, Path, description = "Destination id (UUID)")),
    responses((status = 200, body = Delivery), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn test_destination(
    State(state): State<Arc<Rest>>,
    session: Session,
    Id(destination_id, _): Id<extract::Destination>,
) -> Result<Json<Delivery>, ApiError> {
    scoped_managers(&session, "send test leads")?;
    destination_in_scope(&state, &session, destination_id, false).await?;
    // Sent once: a retry would send a second test lead.
    Ok(Json(
        state
            .command_once(
                v1::crm_command(session.group(), CrmCommand::TestSend),
                DestinationRef { destination_id },
            )
            .await?,
    ))
}

/// Filters of the delivery log.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogFilter {
    /// Only this lead's deliveries.
    lead_id: Option<Uuid>,
    /// Only this destination's deliveries.
    destination_id: Option<Uuid>,
    /// At most this many deliveries (1 to 500, default 100).
    limit: Option<i64>,
}

/// The delivery log, newest first: each delivery of a lead to a destination, with every
/// attempt (time, outcome, status code or error). Filter by lead, destination, or both.
#[utoipa::path(get, path = "/api/v1/crm/deliveries", tag = "crm", params(LogFilter),
    responses((status = 200, body = Vec<Delivery>), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn deliveries(
    State(state): State<Arc<Rest>>,
    session: Session,
    ApiQuery(q): ApiQuery<LogFilter>,
) -> Result<Json<Vec<Delivery>>, ApiError> {
    Ok(Json(
        state
            .command(
                v1::crm_command(session.group(), CrmCommand::Deliveries),
                DeliveryQuery {
                    lead_id: q.lead_id,
                    destination_id: q.destination_id,
                    limit: q.limit,
                },
            )
            .await?,
    ))
}

/// Filters of the dead letters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeadLetterFilter {
    /// Only this destination's.
    destination_id: Option<Uuid>,
    /// At most this many (1 to 500, default 100).
    limit: Option<i64>,
}

/// The dead letters, most recent first: deliveries whose retries ran out, refused for good, or
/// stopped by a 410 Gone, each with its attempts.
#[utoipa::path(get, path = "/api/v1/crm/dead-letters", tag = "crm", params(DeadLetterFilter),
    responses((status = 200, body = Vec<Delivery>), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn dead_letters(
    State(state): State<Arc<Rest>>,
    session: Session,
    ApiQuery(q): ApiQuery<DeadLetterFilter>,
) -> Result<Json<Vec<Delivery>>, ApiError> {
    Ok(Json(
        state
            .command(
                v1::crm_command(session.group(), CrmCommand::DeadLetters),
                DeadLetterQuery {
                    destination_id: q.destination_id,
                    limit: q.limit,
                },
            )
            .await?,
    ))
}

/// Delivers a dead letter again (managers and admins), with the same id (the receiver sees the
/// same `webhook-id` / `Message-ID`) and a whole new round of retries. 403 when it is not a dead
/// letter, or its destination is disabled (enable it first) or removed.
#[utoipa::path(post, path = "/api/v1/crm/deliveries/{id}/redeliver", tag = "crm",
    params(("id" = uuid::Uuid, Path, description = "Delivery id (UUID)")),
    responses((status = 200, body = Delivery), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn redeliver(
    State(state): State<Arc<Rest>>,
    session: Session,
    Id(delivery_id, _): Id<extract::Delivery>,
) -> Result<Json<Delivery>, ApiError> {
    managers_only(&session, "redeliver leads")?;
    // Once: a retry after a lost reply would be refused (no longer a dead letter).
    Ok(Json(
        state
            .command_once(
                v1::crm_command(session.group(), CrmCommand::Redeliver),
                Redeliver { delivery_id },
            )
            .await?,
    ))
}

/// The body of `POST /api/v1/integrations`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewIntegration {
    /// What it is for, e.g. "DealerSocket": 1 to 100 characters.
    name: String,
}

/// The group's integrator credentials (managers and admins), newest first, revoked ones too:
/// names, who issued them, when they last connected, and what each reaches on NATS. Never
/// the secret.
#[utoipa::path(get, path = "/api/v1/integrations", tag = "crm",
    responses((status = 200, body = Vec<Integration>), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn list_integrations(
    State(state): State<Arc<Rest>>,
    session: Session,
) -> Result<Json<Vec<Integration>>, ApiError> {
    managers_only(&session, "see the integrations")?;
    Ok(Json(
        state
            .command(
                v1::crm_command(session.group(), CrmCommand::ListIntegrations),
                ListIntegrations {},
            )
            .await?,
    ))
}

/// Issues an integrator credential (admins): it may read this group's `lead.>` and
/// `delivery.>` events on NATS, and pull its own durable consumer of the group's leads (kept
/// from now on while it is away); nothing else. The answer carries the `.creds` file's text
/// once: it is stored nowhere. 400 with `fields` for a bad name; 503 when the installation has
/// no issuer configured.
#[utoipa::path(post, path = "/api/v1/integrations", tag = "crm",
    request_body = NewIntegration,
    responses((status = 201, body = IssuedIntegration), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn issue_integration(
    State(state): State<Arc<Rest>>,
    session: Session,
    ApiJson(b): ApiJson<NewIntegration>,
) -> Result<(StatusCode, Json<IssuedIntegration>), ApiError> {
    admins_only(&session, "issue integrator credentials")?;
    // Signing a credential is not safe to repeat: one request, the client decides on a failure.
    let issued: IssuedIntegration = state
        .command_once(
            v1::crm_command(session.group(), CrmCommand::IssueIntegration),
            IssueIntegration {
                name: b.name,
                issued_by: Some(session.agent.id),
            },
        )
        .await?;
    // Never the `.creds` text: what was issued, to whom it gives what.
    let i = &issued.integration;
    let event = audit::Event::by(&session, audit::kind::INTEGRATION_ISSUED)
        .about(format!("integration:{}", i.id))
        .detail(json!({ "name": i.name, "after": { "name": i.name, "access": i.access } }));
    audit::record_after(&state.pool, event).await;
    Ok((StatusCode::CREATED, Json(issued)))
}

/// Revokes an integrator credential (admins): from now on NATS refuses it, its open
/// connections are closed, and its durable consumer is deleted. Revoking again answers the
/// same. Another group's id is 404.
#[utoipa::path(delete, path = "/api/v1/integrations/{id}", tag = "crm",
    params(("id" = uuid::Uuid, Path, description = "Integration id (UUID)")),
    responses((status = 200, body = Integration), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn revoke_integration(
    State(state): State<Arc<Rest>>,
    session: Session,
    Id(id, _): Id<extract::Integration>,
) -> Result<Json<Integration>, ApiError> {
    admins_only(&session, "revoke integrator credentials")?;
    let revoked: Integration = state
        .command(
            v1::crm_command(session.group(), CrmCommand::RevokeIntegration),
            RevokeIntegration {
                id,
                revoked_by: Some(session.agent.id),
            },
        )
        .await?;
    let event = audit::Event::by(&session, audit::kind::INTEGRATION_REVOKED)
        .about(format!("integration:{id}"))
        .detail(json!({ "name": revoked.name, "revoked_at": revoked.revoked_at }));
    audit::record_after(&state.pool, event).await;
    Ok(Json(revoked))
}

#[cfg(test)]
mod tests {
    use super::without_credentials;

    #[test]
    fn audited_urls_lose_what_may_be_a_token() {
        assert_eq!(
            without_credentials("https://user:pw@crm.example/hook/1?token=abc#x"),
            "https://crm.example/hook/1?…"
        );
        assert_eq!(
            without_credentials("https://crm.example"),
            "https://crm.example"
        );
    }
}
