//! REST for a chat's trade-in (issue 20, item 3): the agent's form in the console's details
//! panel reads and saves it here. lead-capture owns the table (`trade_ins`) and checks it (the
//! VIN's check digit, the year it decodes to); the gateway checks who may and forwards.
//!
//! Who may: the agent who holds or held the chat, and managers of its rooftop (a group manager
//! or admin, or the rooftop's manager). Anyone else, and another group, gets 404.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use showroom_proto::lead::LeadCommand;
use showroom_proto::trade_in::{SetTradeIn, TradeIn};
use showroom_proto::v1;
use showroom_store::read;
use showroom_store::sqlx;
use uuid::Uuid;

use crate::Rest;
use crate::auth::Session;
use crate::directory::Role;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{self, ApiJson, Id};

/// A chat's trade-in.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TradeInAnswer {
    /// The trade-in, or `null` when none was given yet.
    pub trade_in: Option<TradeIn>,
}

/// 404 unless the session may see this chat's trade-in: its agent (now or before), or a
/// manager whose scope covers its rooftop.
async fn may_see(state: &Rest, session: &Session, id: Uuid) -> Result<(), ApiError> {
    let c = read::conversation(&state.pool, session.group(), id)
        .await?
        .ok_or_else(|| ApiError::not_found("conversation"))?;
    let manages = session.can_manage() || session.agent.role() == Role::RooftopManager;
    if manages && session.covers_rooftop(c.rooftop.id) {
        return Ok(());
    }
    if c.agent.as_ref().is_some_and(|a| a.id == session.agent.id) {
        return Ok(());
    }
    let (held,): (bool,) = sqlx::query_as(
        "SELECT EXISTS (SELECT 1 FROM participants WHERE conversation_id = $1 \
         AND kind = 'agent' AND participant_id = $2)",
    )
    .bind(id)
    .bind(session.agent.id)
    .fetch_one(&state.pool)
    .await?;
    if held {
        Ok(())
    } else {
        Err(ApiError::not_found("conversation"))
    }
}

/// The chat's trade-in, `null` when none was given yet (by the agent or the shopper through
/// the bot).
#[utoipa::path(get, path = "/api/v1/conversations/{id}/trade-in", tag = "leads",
    params(("id" = uuid::Uuid, Path, description = "Conversation id (UUID)")),
    responses((status = 200, body = TradeInAnswer), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_trade_in(
    State(state): State<Arc<Rest>>,
    session: Session,
    Id(id, _): Id<extract::Conversation>,
) -> Result<Json<TradeInAnswer>, ApiError> {
    may_see(&state, &session, id).await?;
    Ok(Json(TradeInAnswer {
        trade_in: read::trade_in_of(&state.pool, session.group(), id).await?,
    }))
}

/// Saves the chat's trade-in (whole): `year`, `make`, `model`, `mileage`, `mileage_unit`
/// (`mi` or `km`), `condition` (`excellent`, `good`, `fair`, `poor`), and optionally `vin`,
/// `payoff_cents`, `comments`. A VIN must have a right check digit (400 naming `vin` with the
/// digit it should have) and its model year must agree with `year`; it fills a missing year and
/// a make it knows. The chat's leads carry it from then on, each published as `lead.updated`.
#[utoipa::path(put, path = "/api/v1/conversations/{id}/trade-in", tag = "leads",
    request_body = TradeIn,
    params(("id" = uuid::Uuid, Path, description = "Conversation id (UUID)")),
    responses((status = 200, body = TradeInAnswer), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn put_trade_in(
    State(state): State<Arc<Rest>>,
    session: Session,
    Id(id, _): Id<extract::Conversation>,
    ApiJson(trade_in): ApiJson<TradeIn>,
) -> Result<Json<TradeInAnswer>, ApiError> {
    may_see(&state, &session, id).await?;
    let cmd = SetTradeIn {
        conversation_id: id,
        agent_id: Some(session.agent.id),
        trade_in,
    };
    let stored: TradeIn = state
        .command(v1::lead_command(session.group(), LeadCommand::TradeIn), cmd)
        .await?;
    Ok(Json(TradeInAnswer {
        trade_in: Some(stored),
    }))
}
