//! Who may log in: a manager deactivates an agent who left the dealership (and can undo it),
//! and every agent changes their own password.
//!
//! **Decision: deactivate, never delete.** An agent's name stays on the chats, transfers and
//! leads they handled, so the row stays; `deactivated_at` shuts the door instead: no login, no
//! session (every one is deleted, and each console socket re-checks its session at every
//! heartbeat, so an open console closes within one heartbeat interval on every gateway
//! replica), no department (so no chat is offered) and no place on the board. An agent who
//! still holds active chats cannot be deactivated until a manager reassigns them, so no
//! shopper is left talking to nobody.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use showroom_proto::presence::{AgentStatus, SetStatus};
use showroom_proto::v1;

use crate::Rest;
use crate::audit;
use crate::auth::{self, Session};
use crate::auth::{managers_only, role_change_allowed};
use crate::directory::{self, AgentView, Deactivation};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{self, ApiJson, Id};
use crate::validate::{Problems, password};

/// Deactivates an agent who left (managers and admins; an admin only by an admin; never
/// oneself): no login, sessions ended, removed from every department, off the board, set
/// Offline. 409 while they hold active chats (reassign them first). Repeating it is harmless.
#[utoipa::path(post, path = "/api/v1/agents/{id}/deactivate", tag = "admin",
    params(("id" = uuid::Uuid, Path, description = "Agent id (UUID)")),
    responses((status = 200, body = AgentView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 503, description = "`audit_unavailable`: the change could not be recorded in the audit trail, so it was not made", body = ErrorBody)))]
pub async fn deactivate(
    State(state): State<Arc<Rest>>,
    session: Session,
    Id(id, _): Id<extract::Agent>,
) -> Result<Json<AgentView>, ApiError> {
    managers_only(&session, "deactivate agents")?;
    if id == session.agent.id {
        return Err(ApiError::forbidden(
            "nobody can deactivate themselves; ask another manager",
        ));
    }
    let target = session.colleague(&state, id).await?;
    // The same rule as editing: an admin is deactivated only by an admin.
    role_change_allowed(
        (session.agent.id, &session.agent.role),
        Some((target.id, &target.role)),
        &target.role,
    )
    .map_err(ApiError::forbidden)?;
    let event = agent_event(&session, audit::kind::AGENT_DEACTIVATED, &target);
    match directory::deactivate_agent(&state.pool, session.group(), id, &event).await? {
        Deactivation::Missing => return Err(ApiError::not_found("agent")),
        Deactivation::HoldsChats(n) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "holds_chats",
                format!(
                    "{} {} still holds {n} active chat{}: reassign {} first",
                    target.first_name,
                    target.last_name,
                    if n == 1 { "" } else { "s" },
                    if n == 1 { "it" } else { "them" },
                ),
            ));
        }
        Deactivation::Done => {}
    }
    // Offline at once on the board and for transfers and internal chats; their consoles close
    // at their next heartbeat anyway, so a failure here only delays what the board shows.
    let offline = SetStatus {
        agent_id: id,
        status: AgentStatus::Offline,
        changed_by: session.agent.id,
    };
    if let Err(e) = state
        .command::<_, showroom_proto::presence::AgentPresence>(
            v1::presence_set_status(session.group()),
            offline,
        )
        .await
    {
        tracing::warn!(agent = %id, error = ?e, "a deactivated agent could not be set Offline");
    }
    Ok(Json(session.colleague(&state, id).await?))
}

/// Lets a deactivated agent log in again (managers and admins; an admin only by an admin).
/// They cover no department until one is given back (`PUT /api/v1/agents/{id}/memberships`).
#[utoipa::path(post, path = "/api/v1/agents/{id}/reactivate", tag = "admin",
    params(("id" = uuid::Uuid, Path, description = "Agent id (UUID)")),
    responses((status = 200, body = AgentView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 503, description = "`audit_unavailable`: the change could not be recorded in the audit trail, so it was not made", body = ErrorBody)))]
pub async fn reactivate(
    State(state): State<Arc<Rest>>,
    session: Session,
    Id(id, _): Id<extract::Agent>,
) -> Result<Json<AgentView>, ApiError> {
    managers_only(&session, "reactivate agents")?;
    let target = session.colleague(&state, id).await?;
    role_change_allowed(
        (session.agent.id, &session.agent.role),
        Some((target.id, &target.role)),
        &target.role,
    )
    .map_err(ApiError::forbidden)?;
    let event = agent_event(&session, audit::kind::AGENT_REACTIVATED, &target);
    if !directory::reactivate_agent(&state.pool, session.group(), id, &event).await? {
        return Err(ApiError::not_found("agent"));
    }
    Ok(Json(session.colleague(&state, id).await?))
}

/// The audit row of a change to `target`'s access, with their state before it.
fn agent_event(session: &Session, kind: &'static str, target: &AgentView) -> audit::Event {
    audit::Event::by(session, kind)
        .about(format!("agent:{}", target.id))
        .detail(serde_json::json!({
            "name": format!("{} {}", target.first_name, target.last_name),
            "before": {
                "deactivated_at": target.deactivated_at,
                "department_ids": target.department_ids,
            },
        }))
}

/// A password change: the current one, and the new one.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct PasswordBody {
    /// The password the agent logs in with now.
    #[serde(default)]
    pub current_password: String,
    /// 10 to 200 characters.
    #[serde(default)]
    pub new_password: String,
}

/// Changes the caller's own password after checking the current one; every other session of
/// theirs ends (this one stays logged in). 400 naming `current_password` or `new_password`.
#[utoipa::path(put, path = "/api/v1/me/password", tag = "auth", request_body = PasswordBody,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 503, description = "`busy`: too many password checks at once; retry after `Retry-After` seconds; `audit_unavailable`: the change could not be recorded in the audit trail, so it was not made", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait")))))]
pub async fn change_password(
    State(state): State<Arc<Rest>>,
    session: Session,
    headers: HeaderMap,
    ApiJson(b): ApiJson<PasswordBody>,
) -> Result<StatusCode, ApiError> {
    let mut p = Problems::default();
    p.check("new_password", password(&b.new_password));
    if b.new_password == b.current_password && !b.new_password.is_empty() {
        p.add("new_password", "must differ from the current password");
    }
    let hash = directory::password_hash(&state.pool, session.agent.id)
        .await?
        .ok_or_else(ApiError::unauthorized)?;
    let current = b.current_password.clone();
    // argon2 is deliberately slow: off the async threads, within the hash permits.
    let matches = state
        .limits
        .hashing(move || directory::verify_password(&current, &hash))
        .await?;
    if !matches {
        p.add("current_password", "is not your current password");
    }
    p.finish()?;
    let new = b.new_password.clone();
    let hash = state
        .limits
        .hashing(move || directory::hash_password(&new))
        .await?
        .map_err(ApiError::internal)?;
    let token = auth::token_from(&headers).ok_or_else(ApiError::unauthorized)?;
    // Never the password: who, and that the other sessions ended.
    let event = audit::Event::by(&session, audit::kind::PASSWORD_CHANGED)
        .about(format!("agent:{}", session.agent.id))
        .detail(serde_json::json!({
            "name": session.agent.display_name(),
            "other_sessions_ended": true,
        }));
    directory::set_password(
        &state.pool,
        session.agent.id,
        &hash,
        &auth::token_hash(&token),
        &event,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
