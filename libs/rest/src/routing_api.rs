//! REST for routing settings: each department's offer mode, hours and time-outs, each website's
//! session cap and routing rules, and the group's teams. The router owns and checks them; the
//! gateway checks the session, the role (changes are for managers and admins, and a rooftop
//! manager's for their rooftops; teams are group-wide: managers and admins only) and that the
//! department or website is in the session's group and scope (404 otherwise), then forwards
//! the request.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use showroom_proto::routing::{
    DepartmentRouting, DepartmentRoutingView, GetDepartmentRouting, GetWebsiteRouting, ListTeams,
    PutDepartmentRouting, PutTeam, PutWebsiteRouting, RoutingCommand, Team, WebsiteRouting,
};
use showroom_proto::v1;
use uuid::Uuid;

use crate::auth::{Session, scoped_managers};
use crate::directory;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{self, ApiJson, Id};
use crate::{Rest, audit};

/// Longest team name, in characters.
const MAX_TEAM_NAME: usize = 100;
/// Most members a team may have.
const MAX_TEAM_MEMBERS: usize = 500;

fn managers_only(session: &Session, what: &str) -> Result<(), ApiError> {
    if session.can_manage() {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!(
            "only a manager or an admin can change {what}"
        )))
    }
}

async fn ask<Req: serde::Serialize, Resp: serde::de::DeserializeOwned>(
    state: &Rest,
    session: &Session,
    cmd: RoutingCommand,
    data: Req,
) -> Result<Resp, ApiError> {
    // Reads and whole replacements: safe to repeat while the router restarts.
    Ok(state
        .command(v1::routing_command(session.group(), cmd), data)
        .await?)
}

/// A department's routing settings, with whether it is open now.
#[utoipa::path(get, path = "/api/v1/departments/{id}/routing", tag = "routing",
    params(("id" = uuid::Uuid, Path, description = "Department id (UUID)")),
    responses((status = 200, body = DepartmentRoutingView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn get_department(
    State(state): State<Arc<Rest>>,
    session: Session,
    Id(department_id, _): Id<extract::Department>,
) -> Result<Json<DepartmentRoutingView>, ApiError> {
    session.department(&state, department_id).await?;
    let q = GetDepartmentRouting { department_id };
    Ok(Json(
        ask(&state, &session, RoutingCommand::GetDepartment, q).await?,
    ))
}

/// Replaces a department's routing settings (managers and admins; a rooftop manager their
/// rooftops').
#[utoipa::path(put, path = "/api/v1/departments/{id}/routing", tag = "routing",
    request_body = DepartmentRouting,
    params(("id" = uuid::Uuid, Path, description = "Department id (UUID)")),
    responses((status = 200, body = DepartmentRoutingView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn put_department(
    State(state): State<Arc<Rest>>,
    session: Session,
    Id(department_id, _): Id<extract::Department>,
    ApiJson(b): ApiJson<DepartmentRouting>,
) -> Result<Json<DepartmentRoutingView>, ApiError> {
    scoped_managers(&session, "change routing settings")?;
    let settings = b;
    session.department(&state, department_id).await?;
    let cmd = PutDepartmentRouting {
        department_id,
        settings,
    };
    let q = GetDepartmentRouting { department_id };
    Ok(Json(
        audit::replaced(
            &state.pool,
            &session,
            audit::kind::ROUTING_CHANGED,
            format!("department:{department_id}"),
            serde_json::Value::Null,
            ask::<_, DepartmentRoutingView>(&state, &session, RoutingCommand::GetDepartment, q),
            ask::<_, DepartmentRoutingView>(&state, &session, RoutingCommand::PutDepartment, cmd),
        )
        .await?,
    ))
}

/// A website's routing settings: its session cap and routing rules.
#[utoipa::path(operation_id = "get_website_routing", get, path = "/api/v1/websites/{id}/routing", tag = "routing",
    params(("id" = uuid::Uuid, Path, description = "Website id (UUID)")),
    responses((status = 200, body = WebsiteRouting), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn get_website(
    State(state): State<Arc<Rest>>,
    session: Session,
    Id(website_id, _): Id<extract::Website>,
) -> Result<Json<WebsiteRouting>, ApiError> {
    session.website_in_scope(&state, website_id).await?;
    let q = GetWebsiteRouting { website_id };
    Ok(Json(
        ask(&state, &session, RoutingCommand::GetWebsite, q).await?,
    ))
}

/// Replaces a website's routing settings (managers and admins; a rooftop manager their
/// rooftops').
#[utoipa::path(operation_id = "put_website_routing", put, path = "/api/v1/websites/{id}/routing", tag = "routing",
    request_body = WebsiteRouting,
    params(("id" = uuid::Uuid, Path, description = "Website id (UUID)")),
    responses((status = 200, body = WebsiteRouting), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn put_website(
    State(state): State<Arc<Rest>>,
    session: Session,
    Id(website_id, _): Id<extract::Website>,
    ApiJson(b): ApiJson<WebsiteRouting>,
) -> Result<Json<WebsiteRouting>, ApiError> {
    scoped_managers(&session, "change routing settings")?;
    let settings = b;
    session.website_in_scope(&state, website_id).await?;
    let cmd = PutWebsiteRouting {
        website_id,
        settings,
    };
    let q = GetWebsiteRouting { website_id };
    Ok(Json(
        audit::replaced(
            &state.pool,
            &session,
            audit::kind::ROUTING_CHANGED,
            format!("website:{website_id}"),
            serde_json::Value::Null,
            ask::<_, WebsiteRouting>(&state, &session, RoutingCommand::GetWebsite, q),
            ask::<_, WebsiteRouting>(&state, &session, RoutingCommand::PutWebsite, cmd),
        )
        .await?,
    ))
}

/// The group's teams (a BDC) and their members.
#[utoipa::path(get, path = "/api/v1/teams", tag = "routing",
    responses((status = 200, body = Vec<Team>), (status = 401, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn list_teams(
    State(state): State<Arc<Rest>>,
    session: Session,
) -> Result<Json<Vec<Team>>, ApiError> {
    Ok(Json(
        ask(&state, &session, RoutingCommand::ListTeams, ListTeams {}).await?,
    ))
}

/// A team's name and members.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct TeamBody {
    /// Its name ("BDC"), 1 to 100 characters.
    name: String,
    /// Its agents, of the same group (at most 500).
    members: Vec<Uuid>,
}

/// Creates or replaces a team by id (managers and admins; teams are group-wide, so not a
/// rooftop manager).
#[utoipa::path(put, path = "/api/v1/teams/{id}", tag = "routing", request_body = TeamBody,
    params(("id" = uuid::Uuid, Path, description = "Team id (UUID): a new one creates the team")),
    responses((status = 200, body = Team), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn put_team(
    State(state): State<Arc<Rest>>,
    session: Session,
    Id(id, _): Id<extract::Team>,
    ApiJson(b): ApiJson<TeamBody>,
) -> Result<Json<Team>, ApiError> {
    managers_only(&session, "teams")?;
    let name = b.name.trim().to_string();
    if name.is_empty() || name.chars().count() > MAX_TEAM_NAME {
        return Err(ApiError::bad_request(
            "bad_name",
            "`name` must be 1 to 100 characters",
        ));
    }
    let mut members = Vec::with_capacity(b.members.len());
    for m in b.members {
        if !members.contains(&m) {
            members.push(m);
        }
    }
    if members.len() > MAX_TEAM_MEMBERS {
        return Err(ApiError::bad_request(
            "bad_members",
            "`members` lists more than 500 agents",
        ));
    }
    let known = directory::agents_in_group(&state.pool, session.group(), &members).await?;
    if known != members.len() as i64 {
        return Err(ApiError::bad_request(
            "bad_members",
            "`members` names an agent who is not in your dealer group",
        ));
    }
    let cmd = PutTeam { id, name, members };
    // Before: the team as listed (none when the id is new).
    let before = async {
        let teams: Vec<Team> =
            ask(&state, &session, RoutingCommand::ListTeams, ListTeams {}).await?;
        Ok::<_, ApiError>(teams.into_iter().find(|t| t.id == id))
    };
    Ok(Json(
        audit::replaced(
            &state.pool,
            &session,
            audit::kind::TEAM_CHANGED,
            format!("team:{id}"),
            serde_json::Value::Null,
            before,
            ask::<_, Team>(&state, &session, RoutingCommand::PutTeam, cmd),
        )
        .await?,
    ))
}
