//! REST for the admin pages: the group's rooftops and their departments, its agents and the
//! departments they cover, and its websites (origins, widget key and snippet, appearance). The
//! gateway owns these tables (`crate::directory` does the writes).
//!
//! Any agent of the group may read; only managers and admins may write, and only an admin may
//! create or edit an admin or give the admin role; nobody changes their own role. A rooftop
//! manager reads and writes only their rooftops (`auth::Scope`): their departments and
//! websites, and the agents who cover those departments; they create and edit agents only.
//! Every query is scoped to the session's group and scope: another group's or rooftop's id
//! answers 404 as a missing one does. Every change of a rooftop, department or website is in
//! the audit trail with its `before` and `after`, in the transaction of the change.
//! Wrong input answers 400 with `error.fields` naming each wrong field (`label`,
//! `allowed_origins`, `appearance.text_color`, …); a taken label or e-mail 409 naming it.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::Rest;
use crate::audit;
use crate::auth::{Session, managers_only, role_change_allowed, scoped_managers};
use crate::directory::{
    self, AgentInput, AgentView, DepartmentView, Role, RooftopInput, RooftopView, WebsiteLimits,
    WebsiteView,
};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{self, ApiJson, Id};
use crate::validate::{
    Problems, country, email, invalid, optional_text, origins, password, phone, text, time_zone,
};
use showroom_proto::appearance::Appearance;

/// Longest rooftop name, in characters.
const MAX_ROOFTOP_NAME: usize = 80;
/// Longest department label and board section, in characters.
const MAX_LABEL: usize = 60;
/// Longest agent first or last name, in characters.
const MAX_PERSON_NAME: usize = 80;
/// Highest limit a website may set on its conversations (`limits.*`).
const MAX_WEBSITE_LIMIT: i32 = 100_000;

/// Longest website name, in characters.
const MAX_WEBSITE_NAME: usize = 120;
/// Most departments an agent may cover.
const MAX_MEMBERSHIPS: usize = 500;
/// Most chats an agent can be set to hold at once.
const MAX_CHATS: i32 = 50;

fn role(raw: &str) -> Result<&'static str, String> {
    Role::parse(raw.trim())
        .map(Role::as_str)
        .ok_or_else(|| "must be agent, rooftop_manager, manager or admin".into())
}

fn max_chats(n: i64) -> Result<i32, String> {
    if (1..=i64::from(MAX_CHATS)).contains(&n) {
        Ok(n as i32)
    } else {
        Err(format!("must be between 1 and {MAX_CHATS}"))
    }
}

/// Department ids as given: each a UUID, at most [`MAX_MEMBERSHIPS`], duplicates dropped.
fn department_ids(raw: &[String]) -> Result<Vec<Uuid>, String> {
    if raw.len() > MAX_MEMBERSHIPS {
        return Err(format!("at most {MAX_MEMBERSHIPS} departments"));
    }
    let mut out = Vec::with_capacity(raw.len());
    for r in raw {
        let id: Uuid = r
            .trim()
            .parse()
            .map_err(|_| format!("\"{r}\" is not a department id (a UUID)"))?;
        if !out.contains(&id) {
            out.push(id);
        }
    }
    Ok(out)
}

/// 400 naming the first id that is not a department of the session's group and scope.
async fn ours(state: &Rest, session: &Session, ids: &[Uuid]) -> Result<(), ApiError> {
    if let Some(bad) = directory::foreign_department(&state.pool, session.group(), ids).await? {
        return Err(invalid(
            "department_ids",
            format!("{bad} is not a department of your dealer group"),
        ));
    }
    for &id in ids {
        if session.department(state, id).await.is_err() {
            return Err(invalid(
                "department_ids",
                format!("{id} is not a department of your rooftops"),
            ));
        }
    }
    Ok(())
}

/// Rooftop ids as given: each a UUID, at most [`MAX_MEMBERSHIPS`], sorted, duplicates dropped.
fn rooftop_ids(raw: &[String]) -> Result<Vec<Uuid>, String> {
    if raw.len() > MAX_MEMBERSHIPS {
        return Err(format!("at most {MAX_MEMBERSHIPS} rooftops"));
    }
    let mut out = Vec::with_capacity(raw.len());
    for r in raw {
        out.push(
            r.trim()
                .parse::<Uuid>()
                .map_err(|_| format!("\"{r}\" is not a rooftop id (a UUID)"))?,
        );
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// The rooftops a `role` manages from a request's `rooftop_ids`: required and non-empty for a
/// `rooftop_manager`, each a rooftop of the group (400 naming `rooftop_ids` otherwise); `[]`
/// for any other role, whatever was sent.
async fn managed_rooftops(
    state: &Rest,
    session: &Session,
    role: &str,
    ids: Vec<Uuid>,
) -> Result<Vec<Uuid>, ApiError> {
    if Role::parse(role) != Some(Role::RooftopManager) {
        return Ok(Vec::new());
    }
    if ids.is_empty() {
        return Err(invalid(
            "rooftop_ids",
            "a rooftop manager needs at least one rooftop",
        ));
    }
    let known = directory::rooftops_of(&state.pool, session.group(), None).await?;
    if let Some(bad) = ids.iter().find(|id| !known.iter().any(|r| r.id == **id)) {
        return Err(invalid(
            "rooftop_ids",
            format!("{bad} is not a rooftop of your dealer group"),
        ));
    }
    Ok(ids)
}

// ---------------------------------------------------------------------------------------------
// Rooftops and departments.

/// The group's rooftops.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct RooftopList {
    /// By name, each with its departments (by position) and websites (by name).
    pub rooftops: Vec<RooftopView>,
}

/// A rooftop's settings.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct RooftopBody {
    /// 1 to 80 characters (trimmed).
    #[serde(default)]
    pub name: String,
    /// IANA time zone, e.g. `America/Chicago`.
    #[serde(default)]
    pub time_zone: String,
    /// ISO 3166-1 alpha-2 country, e.g. `US`.
    #[serde(default)]
    pub country: String,
    /// The phone number shoppers are told (canned responses' `{rooftop.phone}`): 7 to 30
    /// characters of digits, spaces and `+ - ( ) .`; `""` removes it; absent or `null`:
    /// unchanged (none for a new rooftop).
    pub phone: Option<String>,
}

/// A rooftop's checked settings: name, time zone, country, and the phone (`None`: unchanged).
type RooftopFields = (String, String, String, Option<Option<String>>);

fn rooftop_input(b: &RooftopBody) -> Result<RooftopFields, ApiError> {
    let mut p = Problems::default();
    let name = p.check("name", text(&b.name, MAX_ROOFTOP_NAME));
    let tz = p.check("time_zone", time_zone(&b.time_zone));
    let country = p.check("country", country(&b.country));
    let phone = match &b.phone {
        None => Some(None),
        Some(raw) => p.check("phone", phone(raw)).map(Some),
    };
    p.finish()?;
    match (name, tz, country, phone) {
        (Some(n), Some(t), Some(c), Some(ph)) => Ok((n, t, c, ph)),
        _ => Err(ApiError::internal("rooftop checks passed without values")),
    }
}

async fn one_rooftop(state: &Rest, group: Uuid, id: Uuid) -> Result<RooftopView, ApiError> {
    directory::rooftops_of(&state.pool, group, Some(id))
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::not_found("rooftop"))
}

/// The group's rooftops with their departments and websites (any agent of the group; a
/// rooftop manager's own rooftops only).
#[utoipa::path(get, path = "/api/v1/rooftops", tag = "admin",
    responses((status = 200, body = RooftopList), (status = 401, body = ErrorBody)))]
pub async fn list_rooftops(
    State(state): State<Arc<Rest>>,
    session: Session,
) -> Result<Json<RooftopList>, ApiError> {
    Ok(Json(RooftopList {
        rooftops: directory::rooftops_within(
            &state.pool,
            session.group(),
            None,
            session.scope.rooftops(),
        )
        .await?,
    }))
}

/// Adds a rooftop (managers and admins; not rooftop managers). 400 naming `name`,
/// `time_zone` or `country`. Recorded in the audit trail (`rooftop_changed`).
#[utoipa::path(post, path = "/api/v1/rooftops", tag = "admin", request_body = RooftopBody,
    responses((status = 201, body = RooftopView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn create_rooftop(
    State(state): State<Arc<Rest>>,
    session: Session,
    ApiJson(b): ApiJson<RooftopBody>,
) -> Result<(StatusCode, Json<RooftopView>), ApiError> {
    managers_only(&session, "add rooftops")?;
    let (name, time_zone, country, phone) = rooftop_input(&b)?;
    let phone = phone.flatten();
    let input = RooftopInput {
        name: &name,
        time_zone: &time_zone,
        country: &country,
        phone: Some(phone.as_deref()),
    };
    let mut tx = state.pool.begin().await?;
    let id = directory::create_rooftop(&mut *tx, session.group(), input).await?;
    let event = audit::Event::by(&session, audit::kind::ROOFTOP_CHANGED)
        .about(format!("rooftop:{id}"))
        .detail(json!({
            "action": "created", "before": null,
            "after": { "name": name, "time_zone": time_zone, "country": country, "phone": phone },
        }));
    audit::record(&mut tx, &event)
        .await
        .map_err(audit::required)?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(one_rooftop(&state, session.group(), id).await?),
    ))
}

/// Changes a rooftop's name, time zone and country (managers and admins; a rooftop manager
/// their own rooftops). Business hours are read in the new zone from the router's next
/// settings read (a second at most). Recorded in the audit trail (`rooftop_changed`).
#[utoipa::path(put, path = "/api/v1/rooftops/{id}", tag = "admin", request_body = RooftopBody,
    params(("id" = uuid::Uuid, Path, description = "Rooftop id (UUID)")),
    responses((status = 200, body = RooftopView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update_rooftop(
    State(state): State<Arc<Rest>>,
    session: Session,
    Id(id, _): Id<extract::Rooftop>,
    ApiJson(b): ApiJson<RooftopBody>,
) -> Result<Json<RooftopView>, ApiError> {
    scoped_managers(&session, "change rooftops")?;
    session.rooftop_in_scope(id)?;
    let (name, time_zone, country, phone) = rooftop_input(&b)?;
    let input = RooftopInput {
        name: &name,
        time_zone: &time_zone,
        country: &country,
        phone: phone.as_ref().map(Option::as_deref),
    };
    let mut tx = state.pool.begin().await?;
    let Some(before) = directory::lock_rooftop(&mut tx, session.group(), id).await? else {
        return Err(ApiError::not_found("rooftop"));
    };
    directory::update_rooftop(&mut *tx, session.group(), id, input).await?;
    let phone_after = match phone {
        Some(p) => json!(p),
        None => before["phone"].clone(),
    };
    let after =
        json!({ "name": name, "time_zone": time_zone, "country": country, "phone": phone_after });
    if before != after {
        let event = audit::Event::by(&session, audit::kind::ROOFTOP_CHANGED)
            .about(format!("rooftop:{id}"))
            .detail(json!({ "action": "changed", "before": before, "after": after }));
        audit::record(&mut tx, &event)
            .await
            .map_err(audit::required)?;
    }
    tx.commit().await?;
    Ok(Json(one_rooftop(&state, session.group(), id).await?))
}

/// A new department.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewDepartmentBody {
    /// What shoppers and agents see, 1 to 60 characters; unique in the rooftop (any case).
    #[serde(default)]
    pub label: String,
    /// Section of the Live Agent Status board ("Front End"); blank or absent: none.
    pub board_section: Option<String>,
}

/// A department's settings.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct DepartmentBody {
    /// What shoppers and agents see, 1 to 60 characters; unique in the rooftop (any case).
    #[serde(default)]
    pub label: String,
    /// Section of the Live Agent Status board; blank or absent: none.
    pub board_section: Option<String>,
    /// Order among the rooftop's departments, 0 to 10000 (smallest first); absent: unchanged.
    pub position: Option<i64>,
}

fn label_and_section(
    p: &mut Problems,
    label: &str,
    section: Option<&str>,
) -> (Option<String>, Option<Option<String>>) {
    (
        p.check("label", text(label, MAX_LABEL)),
        p.check("board_section", optional_text(section, MAX_LABEL)),
    )
}

/// Adds a department at the end of a rooftop's list (managers and admins; a rooftop manager
/// in their rooftops). 409 naming `label` when the rooftop has one with this label. Recorded
/// in the audit trail (`department_changed`).
#[utoipa::path(post, path = "/api/v1/rooftops/{id}/departments", tag = "admin",
    request_body = NewDepartmentBody,
    params(("id" = uuid::Uuid, Path, description = "Rooftop id (UUID)")),
    responses((status = 201, body = DepartmentView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub async fn create_department(
    State(state): State<Arc<Rest>>,
    session: Session,
    Id(rooftop, _): Id<extract::Rooftop>,
    ApiJson(b): ApiJson<NewDepartmentBody>,
) -> Result<(StatusCode, Json<DepartmentView>), ApiError> {
    scoped_managers(&session, "add departments")?;
    session.rooftop_in_scope(rooftop)?;
    let mut p = Problems::default();
    let (label, section) = label_and_section(&mut p, &b.label, b.board_section.as_deref());
    p.finish()?;
    let (Some(label), Some(section)) = (label, section) else {
        return Err(ApiError::internal(
            "department checks passed without values",
        ));
    };
    let id = directory::create_department(
        &state.pool,
        session.group(),
        rooftop,
        &label,
        section.as_deref(),
        audit::Event::by(&session, audit::kind::DEPARTMENT_CHANGED),
    )
    .await?
    .ok_or_else(|| ApiError::not_found("rooftop"))?;
    let view = directory::department_view(&state.pool, session.group(), id)
        .await?
        .ok_or_else(|| ApiError::not_found("department"))?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// Changes a department's label, board section and position (managers and admins; a rooftop
/// manager in their rooftops). Its routing settings are at `/api/v1/departments/{id}/routing`.
/// Recorded in the audit trail (`department_changed`).
#[utoipa::path(put, path = "/api/v1/departments/{id}", tag = "admin", request_body = DepartmentBody,
    params(("id" = uuid::Uuid, Path, description = "Department id (UUID)")),
    responses((status = 200, body = DepartmentView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub async fn update_department(
    State(state): State<Arc<Rest>>,
    session: Session,
    Id(id, _): Id<extract::Department>,
    ApiJson(b): ApiJson<DepartmentBody>,
) -> Result<Json<DepartmentView>, ApiError> {
    scoped_managers(&session, "change departments")?;
    let mut p = Problems::default();
    let (label, section) = label_and_section(&mut p, &b.label, b.board_section.as_deref());
    let position = match b.position {
        None => Some(None),
        Some(n) if (0..=10_000).contains(&n) => Some(Some(n as i32)),
        Some(_) => {
            p.add("position", "must be between 0 and 10000");
            None
        }
    };
    p.finish()?;
    let (Some(label), Some(section), Some(position)) = (label, section, position) else {
        return Err(ApiError::internal(
            "department checks passed without values",
        ));
    };
    if !directory::update_department(
        &state.pool,
        session.group(),
        session.scope.rooftops(),
        id,
        &label,
        section.as_deref(),
        position,
        audit::Event::by(&session, audit::kind::DEPARTMENT_CHANGED),
    )
    .await?
    {
        return Err(ApiError::not_found("department"));
    }
    let view = directory::department_view(&state.pool, session.group(), id)
        .await?
        .ok_or_else(|| ApiError::not_found("department"))?;
    Ok(Json(view))
}

/// Deletes a department no conversation was ever in, no lead names and no CRM destination is
/// for (managers and admins); 409 `in_use` otherwise, so transcripts, reports and delivery
/// logs keep their department. Its memberships, routing settings and rules go with it. A
/// rooftop manager deletes in their rooftops. Recorded in the audit trail (`department_changed`).
#[utoipa::path(delete, path = "/api/v1/departments/{id}", tag = "admin",
    params(("id" = uuid::Uuid, Path, description = "Department id (UUID)")),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn delete_department(
    State(state): State<Arc<Rest>>,
    session: Session,
    Id(id, _): Id<extract::Department>,
) -> Result<StatusCode, ApiError> {
    scoped_managers(&session, "delete departments")?;
    let event = audit::Event::by(&session, audit::kind::DEPARTMENT_CHANGED);
    if directory::delete_department(
        &state.pool,
        session.group(),
        session.scope.rooftops(),
        id,
        event,
    )
    .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("department"))
    }
}

// ---------------------------------------------------------------------------------------------
// Agents and memberships.

/// The group's agents.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct AgentList {
    /// By last name, then first name.
    pub agents: Vec<AgentView>,
}

/// A new agent.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewAgentBody {
    /// Login e-mail; unique within the group.
    #[serde(default)]
    pub email: String,
    /// First name, 1 to 80 characters.
    #[serde(default)]
    pub first_name: String,
    /// Last name, 1 to 80 characters.
    #[serde(default)]
    pub last_name: String,
    /// `agent`, `rooftop_manager`, `manager` or `admin` (admin: only an admin may give it;
    /// manager and rooftop manager: a manager or an admin; a rooftop manager gives `agent`
    /// only).
    #[serde(default)]
    pub role: String,
    /// The rooftops of the group a `rooftop_manager` manages: required and non-empty for that
    /// role, ignored for the others.
    #[serde(default)]
    #[schema(value_type = Vec<Uuid>)]
    pub rooftop_ids: Vec<String>,
    /// At least 10 characters.
    #[serde(default)]
    pub password: String,
    /// Chats they can hold at once, 1 to 50 (default 3).
    pub max_chats: Option<i64>,
    /// Departments of the group they cover (default none; from a rooftop manager: at least
    /// one, each of their rooftops).
    #[serde(default)]
    #[schema(value_type = Vec<Uuid>)]
    pub department_ids: Vec<String>,
}

/// An agent's settings.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct AgentBody {
    /// First name, 1 to 80 characters.
    #[serde(default)]
    pub first_name: String,
    /// Last name, 1 to 80 characters.
    #[serde(default)]
    pub last_name: String,
    /// `agent`, `rooftop_manager`, `manager` or `admin`.
    #[serde(default)]
    pub role: String,
    /// The rooftops a `rooftop_manager` manages (non-empty); absent: unchanged. Cleared when
    /// the role is another.
    #[schema(value_type = Option<Vec<Uuid>>)]
    pub rooftop_ids: Option<Vec<String>>,
    /// Chats they can hold at once, 1 to 50; absent: unchanged.
    pub max_chats: Option<i64>,
}

/// The departments an agent covers.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct MembershipsBody {
    /// Every department they cover from now on (of any rooftops of the group; from a rooftop
    /// manager: of their rooftops, and the agent's departments of other rooftops stay); `[]`:
    /// none.
    #[schema(value_type = Vec<Uuid>)]
    pub department_ids: Vec<String>,
}

/// The group's agents with the departments they cover and their headshots (any agent of the
/// group; a rooftop manager sees those who cover a department of their rooftops, with only
/// those departments).
#[utoipa::path(get, path = "/api/v1/agents", tag = "admin",
    responses((status = 200, body = AgentList), (status = 401, body = ErrorBody)))]
pub async fn list_agents(
    State(state): State<Arc<Rest>>,
    session: Session,
) -> Result<Json<AgentList>, ApiError> {
    Ok(Json(AgentList {
        agents: directory::agents_within(
            &state.pool,
            session.group(),
            None,
            session.scope.rooftops(),
        )
        .await?,
    }))
}

/// Adds an agent who can log in at once (managers and admins; an admin only by an admin; a
/// rooftop manager adds agents covering departments of their rooftops). 400 naming each wrong
/// field (`department_ids` names the id that is not the group's or the rooftop manager's,
/// `rooftop_ids` one that is not the group's); 409 naming `email` when an agent logs in with it
/// already.
#[utoipa::path(post, path = "/api/v1/agents", tag = "admin", request_body = NewAgentBody,
    responses((status = 201, body = AgentView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 503, description = "`busy`: too many password checks at once; retry after `Retry-After` seconds; `audit_unavailable`: the audit trail could not be written, so nothing was done", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait")))))]
pub async fn create_agent(
    State(state): State<Arc<Rest>>,
    session: Session,
    ApiJson(b): ApiJson<NewAgentBody>,
) -> Result<(StatusCode, Json<AgentView>), ApiError> {
    scoped_managers(&session, "add agents")?;
    let mut p = Problems::default();
    let email = p.check("email", email(&b.email));
    let first = p.check("first_name", text(&b.first_name, MAX_PERSON_NAME));
    let last = p.check("last_name", text(&b.last_name, MAX_PERSON_NAME));
    let role = p.check("role", role(&b.role));
    p.check("password", password(&b.password));
    let max = p.check("max_chats", max_chats(b.max_chats.unwrap_or(3)));
    let departments = p.check("department_ids", department_ids(&b.department_ids));
    let rooftops = p.check("rooftop_ids", rooftop_ids(&b.rooftop_ids));
    if !session.can_manage() && b.department_ids.is_empty() {
        p.add(
            "department_ids",
            "a rooftop manager's new agent covers at least one department of their rooftops",
        );
    }
    p.finish()?;
    let (
        Some(email),
        Some(first),
        Some(last),
        Some(role),
        Some(max),
        Some(departments),
        Some(rooftops),
    ) = (email, first, last, role, max, departments, rooftops)
    else {
        return Err(ApiError::internal("agent checks passed without values"));
    };
    role_change_allowed((session.agent.id, &session.agent.role), None, role)
        .map_err(ApiError::forbidden)?;
    ours(&state, &session, &departments).await?;
    let rooftops = managed_rooftops(&state, &session, role, rooftops).await?;
    let id = directory::create_agent(
        &state.pool,
        &state.limits,
        session.group(),
        AgentInput {
            email: &email,
            password: &b.password,
            first_name: &first,
            last_name: &last,
            role,
            max_chats: max,
            department_ids: &departments,
            rooftop_ids: &rooftops,
        },
        audit::Event::by(&session, audit::kind::AGENT_CREATED).detail(json!({
            "name": format!("{first} {last}"),
            "after": {
                "email": email, "first_name": first, "last_name": last, "role": role,
                "max_chats": max, "department_ids": departments, "rooftop_ids": rooftops,
            },
        })),
    )
    .await?;
    tracing::info!(agent = %id, by = %session.agent.id, role, "agent created");
    Ok((
        StatusCode::CREATED,
        Json(session.colleague(&state, id).await?),
    ))
}

/// Changes an agent's names, role, rooftops and chat limit (managers and admins; an admin, or
/// the admin role, only by an admin; the manager and rooftop manager roles by a manager or an
/// admin; a rooftop manager edits the agents they see whose role is `agent`, and keeps it;
/// nobody their own role). Their sessions stay; the new role and rooftops count from their
/// next request. Recorded as `role_changed` (the role changed), `scope_changed` (only the
/// rooftops) or `agent_changed`, with `before` and `after`.
#[utoipa::path(put, path = "/api/v1/agents/{id}", tag = "admin", request_body = AgentBody,
    params(("id" = uuid::Uuid, Path, description = "Agent id (UUID)")),
    responses((status = 200, body = AgentView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 503, description = "`audit_unavailable`: the change could not be recorded in the audit trail, so it was not made", body = ErrorBody)))]
pub async fn update_agent(
    State(state): State<Arc<Rest>>,
    session: Session,
    Id(id, _): Id<extract::Agent>,
    ApiJson(b): ApiJson<AgentBody>,
) -> Result<Json<AgentView>, ApiError> {
    scoped_managers(&session, "change agents")?;
    let current = session.colleague(&state, id).await?;
    let mut p = Problems::default();
    let first = p.check("first_name", text(&b.first_name, MAX_PERSON_NAME));
    let last = p.check("last_name", text(&b.last_name, MAX_PERSON_NAME));
    let role = p.check("role", role(&b.role));
    let max = p.check(
        "max_chats",
        max_chats(b.max_chats.unwrap_or(i64::from(current.max_chats))),
    );
    let rooftops = match &b.rooftop_ids {
        Some(raw) => p.check("rooftop_ids", rooftop_ids(raw)),
        None => Some(current.rooftop_ids.clone()),
    };
    p.finish()?;
    let (Some(first), Some(last), Some(role), Some(max), Some(rooftops)) =
        (first, last, role, max, rooftops)
    else {
        return Err(ApiError::internal("agent checks passed without values"));
    };
    role_change_allowed(
        (session.agent.id, &session.agent.role),
        Some((current.id, &current.role)),
        role,
    )
    .map_err(ApiError::forbidden)?;
    let rooftops = managed_rooftops(&state, &session, role, rooftops).await?;
    // The change and its audit row in one transaction.
    let mut tx = state.pool.begin().await?;
    if !directory::update_agent(&mut *tx, session.group(), id, &first, &last, role, max).await? {
        return Err(ApiError::not_found("agent"));
    }
    let rooftops_before =
        directory::set_rooftops_managed(&mut tx, session.group(), id, &rooftops).await?;
    let fields = |first: &str, last: &str, role: &str, max: i32, rooftops: &[Uuid]| json!({ "first_name": first, "last_name": last, "role": role, "max_chats": max, "rooftop_ids": rooftops });
    let before = fields(
        &current.first_name,
        &current.last_name,
        &current.role,
        current.max_chats,
        &rooftops_before,
    );
    let after = fields(&first, &last, role, max, &rooftops);
    if before != after {
        let kind = if current.role != role {
            audit::kind::ROLE_CHANGED
        } else if rooftops_before != rooftops {
            audit::kind::SCOPE_CHANGED
        } else {
            audit::kind::AGENT_CHANGED
        };
        let event = audit::Event::by(&session, kind)
            .about(format!("agent:{id}"))
            .detail(json!({ "name": format!("{first} {last}"), "before": before, "after": after }));
        audit::record(&mut tx, &event)
            .await
            .map_err(audit::required)?;
    }
    tx.commit().await?;
    Ok(Json(session.colleague(&state, id).await?))
}

/// Replaces the departments an agent covers, in one transaction (managers and admins; an
/// admin's only by an admin; a rooftop manager an agent's they see, within their rooftops:
/// the agent's departments of other rooftops stay). 400 naming the first id that is not a
/// department of the group (or of the rooftop manager's rooftops).
/// The router and presence read memberships at each decision, so the next offer uses them.
#[utoipa::path(put, path = "/api/v1/agents/{id}/memberships", tag = "admin",
    request_body = MembershipsBody,
    params(("id" = uuid::Uuid, Path, description = "Agent id (UUID)")),
    responses((status = 200, body = AgentView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 503, description = "`audit_unavailable`: the change could not be recorded in the audit trail, so it was not made", body = ErrorBody)))]
pub async fn put_memberships(
    State(state): State<Arc<Rest>>,
    session: Session,
    Id(id, _): Id<extract::Agent>,
    ApiJson(b): ApiJson<MembershipsBody>,
) -> Result<Json<AgentView>, ApiError> {
    scoped_managers(&session, "change who covers which department")?;
    let mut current = session.colleague(&state, id).await?;
    if Role::parse(&current.role) == Some(Role::Admin) && !session.is_admin() {
        return Err(ApiError::forbidden("only an admin can edit an admin"));
    }
    if !session.can_manage() && Role::parse(&current.role) != Some(Role::Agent) {
        return Err(ApiError::forbidden(
            "a rooftop manager can edit only agents",
        ));
    }
    let departments =
        department_ids(&b.department_ids).map_err(|r| invalid("department_ids", r))?;
    ours(&state, &session, &departments).await?;
    let event = audit::Event::by(&session, audit::kind::MEMBERSHIP_CHANGED)
        .about(format!("agent:{id}"))
        .detail(json!({ "name": format!("{} {}", current.first_name, current.last_name) }));
    if !directory::replace_memberships(
        &state.pool,
        session.group(),
        id,
        &departments,
        session.scope.rooftops(),
        event,
    )
    .await?
    {
        return Err(ApiError::not_found("agent"));
    }
    // As the caller sees them now (a rooftop manager who released the agent from their
    // rooftops no longer sees them in the list).
    let mut now = departments;
    now.sort();
    current.department_ids = now;
    Ok(Json(current))
}

// ---------------------------------------------------------------------------------------------
// Websites.

/// The origin (`scheme://host[:port]`) the widget snippet loads `widget.js` from.
///
/// The gateway has no configured public URL, so it is the origin the caller reached: the
/// `Host` header (checked to be only host characters, so nothing can be injected into the
/// snippet), with `X-Forwarded-Proto` when a proxy in front terminates TLS, else `https` when
/// the gateway is set up behind HTTPS (`secure_cookies`), else `http`. Without a usable `Host`,
/// the address the gateway listens on.
pub(crate) fn public_base(state: &Rest, headers: &HeaderMap) -> String {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(',').next().unwrap_or("").trim().to_string())
    };
    let scheme = match header("x-forwarded-proto").as_deref() {
        Some("https") => "https",
        Some("http") => "http",
        _ if state.settings.secure_cookies => "https",
        _ => "http",
    };
    let host = header("host").filter(|h| {
        !h.is_empty()
            && h.len() <= 261
            && h.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
    });
    let host = host.unwrap_or_else(|| state.settings.http_addr.to_string());
    format!("{scheme}://{host}")
}

/// The appearance in a request: absent stays absent; otherwise parsed and validated, and a
/// fault named `appearance` or `appearance.<field>`.
fn appearance(
    p: &mut Problems,
    raw: Option<serde_json::Value>,
) -> Option<Option<serde_json::Value>> {
    let Some(raw) = raw else {
        return Some(None);
    };
    let parsed: Appearance = match serde_json::from_value(raw) {
        Ok(a) => a,
        Err(e) => {
            p.add("appearance", format!("is not a valid appearance: {e}"));
            return None;
        }
    };
    if let Err(e) = parsed.validate() {
        p.add(&format!("appearance.{}", e.field), e.reason);
        return None;
    }
    match serde_json::to_value(&parsed) {
        Ok(v) => Some(Some(v)),
        Err(e) => {
            p.add("appearance", e.to_string());
            None
        }
    }
}

/// A website's own limits in a request: each 1 to 100000, or `null` (the default); a fault
/// named `limits.<field>`.
fn website_limits(p: &mut Problems, limits: Option<&WebsiteLimits>) {
    let Some(l) = limits else {
        return;
    };
    for (field, value) in [
        (
            "limits.conversations_per_ip_per_hour",
            l.conversations_per_ip_per_hour,
        ),
        (
            "limits.conversations_per_minute",
            l.conversations_per_minute,
        ),
    ] {
        if value.is_some_and(|n| !(1..=MAX_WEBSITE_LIMIT).contains(&n)) {
            p.add(
                field,
                format!("must be 1 to {MAX_WEBSITE_LIMIT}, or null for the default"),
            );
        }
    }
}

/// A new website.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewWebsiteBody {
    /// Its dealership: a rooftop of the group.
    #[serde(default)]
    #[schema(value_type = Uuid)]
    pub rooftop_id: String,
    /// Its name, 1 to 120 characters.
    #[serde(default)]
    pub name: String,
    /// Origins the widget may run on: `http(s)://host[:port]`, at most 50.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// How the widget looks; absent: every default.
    #[schema(value_type = Option<Appearance>)]
    pub appearance: Option<serde_json::Value>,
    /// Its own limits on conversations started on it; absent or `null` fields: the gateway's
    /// defaults.
    #[serde(default)]
    pub limits: Option<WebsiteLimits>,
}

/// A website's settings.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct WebsiteBody {
    /// Its name, 1 to 120 characters.
    #[serde(default)]
    pub name: String,
    /// Origins the widget may run on: `http(s)://host[:port]`, at most 50.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// How the widget looks; absent: unchanged. Every field has a default, so `{}` resets it.
    #[schema(value_type = Option<Appearance>)]
    pub appearance: Option<serde_json::Value>,
    /// Its own limits on conversations started on it; absent: unchanged; a field `null` or
    /// left out: the gateway's default.
    #[serde(default)]
    pub limits: Option<WebsiteLimits>,
}

/// The group's websites with their widget keys, snippets and appearance (any agent of the
/// group; a rooftop manager's rooftops' only), by rooftop and name.
#[utoipa::path(get, path = "/api/v1/websites", tag = "admin",
    responses((status = 200, body = Vec<WebsiteView>), (status = 401, body = ErrorBody)))]
pub async fn list_websites(
    State(state): State<Arc<Rest>>,
    session: Session,
    headers: HeaderMap,
) -> Result<Json<Vec<WebsiteView>>, ApiError> {
    let base = public_base(&state, &headers);
    Ok(Json(
        directory::websites_of(
            &state.pool,
            session.group(),
            session.scope.rooftops(),
            &base,
        )
        .await?,
    ))
}

/// Adds a website with a new random widget key (managers and admins; a rooftop manager to
/// their rooftops); answers it with the snippet to paste. 400 naming `rooftop_id` (not a
/// rooftop of the group, or of the rooftop manager's), `name`, `allowed_origins` (with the bad
/// entry) or `appearance.<field>`. Recorded in the audit trail (`website_changed`).
#[utoipa::path(post, path = "/api/v1/websites", tag = "admin", request_body = NewWebsiteBody,
    responses((status = 201, body = WebsiteView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn create_website(
    State(state): State<Arc<Rest>>,
    session: Session,
    headers: HeaderMap,
    ApiJson(b): ApiJson<NewWebsiteBody>,
) -> Result<(StatusCode, Json<WebsiteView>), ApiError> {
    scoped_managers(&session, "add websites")?;
    let mut p = Problems::default();
    let rooftop = p.check(
        "rooftop_id",
        b.rooftop_id
            .trim()
            .parse::<Uuid>()
            .map_err(|_| "must be a rooftop id (a UUID)".to_string()),
    );
    let name = p.check("name", text(&b.name, MAX_WEBSITE_NAME));
    let origins = p.check("allowed_origins", origins(&b.allowed_origins));
    let look = appearance(&mut p, b.appearance);
    website_limits(&mut p, b.limits.as_ref());
    if let Some(r) = rooftop
        && (!session.covers_rooftop(r)
            || directory::rooftops_of(&state.pool, session.group(), Some(r))
                .await?
                .is_empty())
    {
        p.add("rooftop_id", "is not a rooftop of your dealer group");
    }
    p.finish()?;
    let (Some(rooftop), Some(name), Some(origins), Some(look)) = (rooftop, name, origins, look)
    else {
        return Err(ApiError::internal("website checks passed without values"));
    };
    let look = look.unwrap_or_else(|| serde_json::json!({}));
    let id = directory::create_website(
        &state.pool,
        session.group(),
        rooftop,
        &name,
        &origins,
        &look,
        b.limits.unwrap_or_default(),
        audit::Event::by(&session, audit::kind::WEBSITE_CHANGED),
    )
    .await?;
    let base = public_base(&state, &headers);
    let view = directory::website_view(&state.pool, session.group(), id, &base)
        .await?
        .ok_or_else(|| ApiError::not_found("website"))?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// One website of the group with its snippet and appearance (any agent of the group; 404 for
/// a rooftop manager when it is of another rooftop).
#[utoipa::path(get, path = "/api/v1/websites/{id}", tag = "admin",
    params(("id" = uuid::Uuid, Path, description = "Website id (UUID)")),
    responses((status = 200, body = WebsiteView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_website(
    State(state): State<Arc<Rest>>,
    session: Session,
    headers: HeaderMap,
    Id(id, _): Id<extract::Website>,
) -> Result<Json<WebsiteView>, ApiError> {
    session.website_in_scope(&state, id).await?;
    let base = public_base(&state, &headers);
    let view = directory::website_view(&state.pool, session.group(), id, &base)
        .await?
        .ok_or_else(|| ApiError::not_found("website"))?;
    Ok(Json(view))
}

/// Changes a website's name, allowed origins and appearance (managers and admins; a rooftop
/// manager their rooftops'). Widgets connecting afterwards get the new appearance; the widget
/// key never changes. Recorded in the audit trail (`website_changed`).
#[utoipa::path(put, path = "/api/v1/websites/{id}", tag = "admin", request_body = WebsiteBody,
    params(("id" = uuid::Uuid, Path, description = "Website id (UUID)")),
    responses((status = 200, body = WebsiteView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update_website(
    State(state): State<Arc<Rest>>,
    session: Session,
    headers: HeaderMap,
    Id(id, _): Id<extract::Website>,
    ApiJson(b): ApiJson<WebsiteBody>,
) -> Result<Json<WebsiteView>, ApiError> {
    scoped_managers(&session, "change websites")?;
    let mut p = Problems::default();
    let name = p.check("name", text(&b.name, MAX_WEBSITE_NAME));
    let origins = p.check("allowed_origins", origins(&b.allowed_origins));
    let look = appearance(&mut p, b.appearance);
    website_limits(&mut p, b.limits.as_ref());
    p.finish()?;
    let (Some(name), Some(origins), Some(look)) = (name, origins, look) else {
        return Err(ApiError::internal("website checks passed without values"));
    };
    let base = public_base(&state, &headers);
    let mut tx = state.pool.begin().await?;
    match directory::lock_website(&mut tx, session.group(), id).await? {
        Some(rooftop) if session.covers_rooftop(rooftop) => {}
        _ => return Err(ApiError::not_found("website")),
    }
    let before = directory::website_view(&mut *tx, session.group(), id, &base).await?;
    directory::update_website(
        &mut *tx,
        session.group(),
        id,
        &name,
        &origins,
        look.as_ref(),
        b.limits,
    )
    .await?;
    let view = directory::website_view(&mut *tx, session.group(), id, &base)
        .await?
        .ok_or_else(|| ApiError::not_found("website"))?;
    let before = before.as_ref().map(directory::website_audited);
    let after = directory::website_audited(&view);
    if before.as_ref() != Some(&after) {
        let event = audit::Event::by(&session, audit::kind::WEBSITE_CHANGED)
            .about(format!("website:{id}"))
            .detail(json!({ "action": "changed", "before": before, "after": after }));
        audit::record(&mut tx, &event)
            .await
            .map_err(audit::required)?;
    }
    tx.commit().await?;
    Ok(Json(view))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::{MAX_ORIGINS, origin};

    #[test]
    fn origins_are_scheme_host_and_port_only() {
        for (raw, want) in [
            ("https://www.Example.com", "https://www.example.com"),
            ("https://www.example.com/", "https://www.example.com"),
            ("http://localhost:8080", "http://localhost:8080"),
            ("https://shop.example.com:443", "https://shop.example.com"),
            ("http://127.0.0.1:80", "http://127.0.0.1"),
            ("  HTTPS://A-B.example  ", "https://a-b.example"),
        ] {
            assert_eq!(origin(raw).as_deref(), Ok(want), "{raw}");
        }
        for raw in [
            "www.example.com",
            "ftp://example.com",
            "https://example.com/page",
            "https://example.com?x=1",
            "https://user@example.com",
            "https://",
            "https://exa mple.com",
            "https://-bad.example",
            "https://example.com:0",
            "https://example.com:99999",
            "https://example.com:abc",
            "https://example..com",
            "javascript:alert(1)",
        ] {
            assert!(origin(raw).is_err(), "{raw} accepted");
        }
    }

    #[test]
    fn the_origin_list_names_the_bad_entry_dedupes_and_is_capped() {
        let list = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            origins(&list(&["https://a.example", "HTTPS://A.example/"])),
            Ok(vec!["https://a.example".to_string()])
        );
        let e = origins(&list(&["https://a.example", "https://b.example/path"])).unwrap_err();
        assert!(
            e.contains("entry 1") && e.contains("https://b.example/path"),
            "{e}"
        );
        let many: Vec<String> = (0..=MAX_ORIGINS)
            .map(|i| format!("https://s{i}.example"))
            .collect();
        assert!(origins(&many).is_err());
        assert!(origins(&many[..MAX_ORIGINS]).is_ok());
    }

    #[test]
    fn time_zones_countries_and_texts_are_checked() {
        assert_eq!(
            time_zone("America/Chicago").as_deref(),
            Ok("America/Chicago")
        );
        assert_eq!(
            time_zone(" America/Port-au-Prince ").as_deref(),
            Ok("America/Port-au-Prince")
        );
        assert_eq!(time_zone("Etc/GMT+5").as_deref(), Ok("Etc/GMT+5"));
        assert!(time_zone("Mars/Olympus").is_err());
        assert!(time_zone("").is_err());
        // Known to chrono-tz but refused by the rooftops table's CHECK: a clear 400, not a 500.
        assert!(time_zone("EST5EDT").is_err());
        assert_eq!(country("MX").as_deref(), Ok("MX"));
        for bad in ["us", "USA", "U", "1A", ""] {
            assert!(country(bad).is_err(), "{bad}");
        }
        assert_eq!(text("  Sales ", 60).as_deref(), Ok("Sales"));
        assert!(text("   ", 60).is_err());
        assert!(text(&"x".repeat(81), 80).is_err());
        assert!(text("two\nlines", 80).is_err());
        assert_eq!(
            email(" Ana@Dealer.EXAMPLE ").as_deref(),
            Ok("Ana@dealer.example")
        );
        for bad in ["ana", "ana@localhost", "ana @x.example", "@x.example"] {
            assert!(email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn roles_are_given_by_those_allowed_to() {
        let (me, other) = (Uuid::now_v7(), Uuid::now_v7());
        // A manager creates agents and managers, not admins.
        assert!(role_change_allowed((me, "manager"), None, "manager").is_ok());
        assert!(role_change_allowed((me, "manager"), None, "admin").is_err());
        assert!(role_change_allowed((me, "admin"), None, "admin").is_ok());
        // A manager cannot touch an admin nor promote to admin.
        assert!(role_change_allowed((me, "manager"), Some((other, "admin")), "admin").is_err());
        assert!(role_change_allowed((me, "manager"), Some((other, "agent")), "admin").is_err());
        assert!(role_change_allowed((me, "manager"), Some((other, "agent")), "manager").is_ok());
        // Only a manager or an admin gives the manager or rooftop manager role.
        assert!(role_change_allowed((me, "manager"), None, "rooftop_manager").is_ok());
        assert!(
            role_change_allowed((me, "admin"), Some((other, "agent")), "rooftop_manager").is_ok()
        );
        assert!(role_change_allowed((me, "agent"), None, "rooftop_manager").is_err());
        // A rooftop manager creates and edits agents only, and keeps them agents.
        let rm = "rooftop_manager";
        assert!(role_change_allowed((me, rm), None, "agent").is_ok());
        assert!(role_change_allowed((me, rm), Some((other, "agent")), "agent").is_ok());
        for role in ["rooftop_manager", "manager", "admin"] {
            assert!(role_change_allowed((me, rm), None, role).is_err(), "{role}");
            assert!(role_change_allowed((me, rm), Some((other, "agent")), role).is_err());
            assert!(role_change_allowed((me, rm), Some((other, role)), "agent").is_err());
            assert!(role_change_allowed((me, rm), Some((other, role)), role).is_err());
        }
        // Not even their own row: their scope is a manager's to change.
        assert!(role_change_allowed((me, rm), Some((me, rm)), rm).is_err());
        // Nobody changes their own role, but may edit the rest of their row.
        let e = role_change_allowed((me, "admin"), Some((me, "admin")), "agent").unwrap_err();
        assert!(e.contains("own role"), "{e}");
        assert!(role_change_allowed((me, "manager"), Some((me, "manager")), "manager").is_ok());
    }

    #[test]
    fn department_ids_must_be_uuids_and_are_deduplicated() {
        let a = Uuid::now_v7();
        assert_eq!(department_ids(&[a.to_string(), a.to_string()]), Ok(vec![a]));
        let e = department_ids(&["sales".to_string()]).unwrap_err();
        assert!(e.contains("\"sales\""), "{e}");
        assert_eq!(max_chats(3), Ok(3));
        assert!(max_chats(0).is_err() && max_chats(51).is_err());
    }

    #[test]
    fn appearance_faults_are_named_by_their_field() {
        let mut p = Problems::default();
        let bad = serde_json::json!({"color": "#ffffff", "text_color": "#eeeeee"});
        assert!(appearance(&mut p, Some(bad)).is_none());
        assert!(p.0.contains_key("appearance.text_color"), "{:?}", p.0);
        let mut p = Problems::default();
        assert!(appearance(&mut p, Some(serde_json::json!({"colour": "#000"}))).is_none());
        assert!(p.0.contains_key("appearance"));
        let mut p = Problems::default();
        assert_eq!(appearance(&mut p, None), Some(None));
        let ok = appearance(&mut p, Some(serde_json::json!({"position": "left"})));
        assert_eq!(
            ok.flatten().map(|v| v["position"].clone()),
            Some(serde_json::json!("left"))
        );
        assert!(p.0.is_empty());
    }
}
