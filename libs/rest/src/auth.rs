//! Agent sessions: log in with e-mail and password, get a bearer token (also set as an
//! HttpOnly cookie for the console). Every request with a session is scoped to the agent's
//! dealer group.

use std::sync::Arc;

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::header::{AUTHORIZATION, COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::audit;
use crate::directory::{self, Agent, AgentView, Role};
use crate::error::ApiError;
use crate::extract::{ApiJson, Client};
use crate::{AsRest, Rest};
use showroom_proto::contact::ClientAddress;

/// Name of the session cookie.
pub const COOKIE_NAME: &str = "showroom_session";

/// An argon2 hash no password matches; verified against when the e-mail is unknown so that
/// both failures take the same time.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c2hvd3Jvb21kdW1teQ$0Zk9MYn0eH7FQ0aC9kXqKyyT1G6P2fHv8k6tSRXbQ3M";

/// The agent behind a request's session.
#[derive(Debug, Clone)]
pub struct Session {
    /// Who.
    pub agent: Agent,
    /// What of the group they see and, if they manage, manage: loaded with the session.
    pub scope: Scope,
}

/// What a session sees and manages of its dealer group: the one place every handler asks
/// (`Session::covers_rooftop`, `Session::department`, `Session::website`, [`scoped_managers`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// The whole group: an agent reads it, a manager or an admin manages it.
    Group,
    /// Only these rooftops (sorted; empty: none): a `rooftop_manager`'s (`agent_rooftops`).
    /// Anything of another rooftop answers 404, as another group's does.
    Rooftops(Vec<Uuid>),
}

impl Scope {
    /// Whether the scope includes this rooftop (of the session's group).
    pub fn covers_rooftop(&self, id: Uuid) -> bool {
        match self {
            Self::Group => true,
            Self::Rooftops(r) => r.contains(&id),
        }
    }

    /// The rooftops a query must keep to; `None`: the whole group.
    pub fn rooftops(&self) -> Option<&[Uuid]> {
        match self {
            Self::Group => None,
            Self::Rooftops(r) => Some(r),
        }
    }
}

impl Session {
    /// The dealer group everything this session touches must belong to.
    pub fn group(&self) -> Uuid {
        self.agent.group_id
    }

    /// Whether the agent is a manager or an admin (may change routing, teams, others' chats).
    pub fn can_manage(&self) -> bool {
        self.agent.role().can_manage()
    }

    /// Whether the session's scope includes this rooftop.
    pub fn covers_rooftop(&self, id: Uuid) -> bool {
        self.scope.covers_rooftop(id)
    }

    /// 404 `rooftop` unless the session's scope includes it (its group is the query's check).
    pub(crate) fn rooftop_in_scope(&self, id: Uuid) -> Result<(), ApiError> {
        if self.covers_rooftop(id) {
            Ok(())
        } else {
            Err(ApiError::not_found("rooftop"))
        }
    }

    /// The rooftop of a department of the session's group and scope; 404 for another group's
    /// or another rooftop's, as for none.
    pub(crate) async fn department(&self, state: &Rest, id: Uuid) -> Result<Uuid, ApiError> {
        match directory::department_rooftop(&state.pool, self.group(), id).await? {
            Some(rooftop) if self.covers_rooftop(rooftop) => Ok(rooftop),
            _ => Err(ApiError::not_found("department")),
        }
    }

    /// 404 unless the website is of the session's group and scope.
    pub(crate) async fn website_in_scope(&self, state: &Rest, id: Uuid) -> Result<(), ApiError> {
        match directory::website_rooftop(&state.pool, self.group(), id).await? {
            Some(rooftop) if self.covers_rooftop(rooftop) => Ok(()),
            _ => Err(ApiError::not_found("website")),
        }
    }

    /// An agent of the session's group and scope (a rooftop manager sees those who cover a
    /// department of their rooftops) as the admin pages show them; 404 for anyone else.
    pub(crate) async fn colleague(&self, state: &Rest, id: Uuid) -> Result<AgentView, ApiError> {
        directory::agents_within(&state.pool, self.group(), Some(id), self.scope.rooftops())
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| ApiError::not_found("agent"))
    }

    /// Whether the agent is an admin of the group.
    pub fn is_admin(&self) -> bool {
        self.agent.role() == Role::Admin
    }

    /// The website a path names, when it is this session's group's and in its scope: 400
    /// `bad_id` for a malformed id, 404 for another group's or rooftop's website as for none.
    pub async fn website(&self, state: &Rest, id: &str) -> Result<Uuid, ApiError> {
        let id: Uuid = id
            .parse()
            .map_err(|_| ApiError::bad_request("bad_id", "the website id must be a UUID"))?;
        self.website_in_scope(state, id).await?;
        Ok(id)
    }
}

pub(crate) fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// The session token in a request: `Authorization: Bearer …` or the session cookie.
pub fn token_from(headers: &HeaderMap) -> Option<String> {
    if let Some(v) = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok())
        && let Some(t) = v.strip_prefix("Bearer ")
    {
        return Some(t.trim().to_string());
    }
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE_NAME)
        .map(|(_, v)| v.to_string())
}

/// The session for a token, if it is valid and not expired.
pub async fn session_for(state: &Rest, token: &str) -> Result<Option<Session>, ApiError> {
    let row: Option<(Uuid,)> = sqlx::query_as(
        "SELECT s.agent_id FROM agent_sessions s JOIN agents a ON a.id = s.agent_id \
         WHERE s.token_hash = $1 AND s.expires_at > now() AND a.deactivated_at IS NULL",
    )
    .bind(token_hash(token))
    .fetch_optional(&state.pool)
    .await?;
    let Some((agent_id,)) = row else {
        return Ok(None);
    };
    let Some(agent) = directory::agent(&state.pool, agent_id).await? else {
        return Ok(None);
    };
    let scope = if agent.role() == Role::RooftopManager {
        Scope::Rooftops(
            directory::rooftops_managed_by(&state.pool, agent.group_id, agent.id).await?,
        )
    } else {
        Scope::Group
    };
    Ok(Some(Session { agent, scope }))
}

/// In any state that holds the REST state: the gateway's own, for its console socket.
impl<S> FromRequestParts<Arc<S>> for Session
where
    S: AsRest + Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<S>,
    ) -> Result<Self, Self::Rejection> {
        let token = token_from(&parts.headers).ok_or_else(ApiError::unauthorized)?;
        session_for(state.as_rest(), &token)
            .await?
            .ok_or_else(ApiError::unauthorized)
    }
}

/// Login request.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct Login {
    /// The agent's e-mail.
    pub email: String,
    /// The agent's password.
    pub password: String,
}

/// A session was created.
#[derive(Serialize, utoipa::ToSchema)]
pub struct LoggedIn {
    /// Bearer token (also set as the `showroom_session` cookie).
    pub token: String,
    /// Who logged in.
    pub agent: Agent,
}

/// Logs an agent in. After 5 failed logins of one e-mail within 15 minutes (50 from one
/// address), each further failure makes the next attempt wait twice as long (1 s, 2 s, 4 s … up
/// to 15 min): until then every attempt, a right password too, is answered 429 `rate_limited`
/// with `Retry-After`. A login that succeeds clears its e-mail's count. 503 `busy` when too many
/// password checks run at once.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = Login,
    responses((status = 200, description = "A session (`LoggedIn`), or `MfaRequired` (`mfa_required: true`, no session): finish at `/api/v1/auth/mfa/*`", body = crate::mfa_api::LoginAnswer), (status = 400, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody),
        (status = 403, description = "`password_sign_in_disabled`: the password matched, but the agent's group signs in only through its identity provider (single sign-on)", body = crate::error::ErrorBody),
        (status = 429, description = "Too many failed logins for this e-mail or from this address: wait `Retry-After` seconds", body = crate::error::ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "`busy`: too many password checks at once; retry after `Retry-After` seconds; `audit_unavailable`: the audit trail could not be written, so nothing was done", body = crate::error::ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait")))))]
pub async fn login(
    State(state): State<Arc<Rest>>,
    client: Client,
    ApiJson(body): ApiJson<Login>,
) -> Result<Response, ApiError> {
    if body.email.trim().is_empty() || body.password.is_empty() {
        return Err(ApiError::bad_request(
            "missing_credentials",
            "email and password are required",
        ));
    }
    // Checked before the password: while the e-mail or the address waits, a right password is
    // refused like a wrong one.
    let ip = client.ip();
    let client = client.0;
    state
        .limits
        .login_allowed(&body.email, ip.as_deref())
        .await?;
    // One account per dealer group may use an address: the password picks the account (the
    // oldest when it opens several); an unknown address costs the same work as a known one.
    let found = directory::agents_for_login(&state.pool, &body.email).await?;
    let mut hashes: Vec<String> = found.iter().map(|(_, h)| h.clone()).collect();
    if hashes.is_empty() {
        hashes.push(DUMMY_HASH.to_string());
    }
    let password = body.password;
    let matched = state
        .limits
        .hashing(move || {
            hashes
                .iter()
                .position(|hash| directory::verify_password(&password, hash))
        })
        .await?;
    let Some((agent, _)) = matched.and_then(|i| found.get(i).cloned()) else {
        state.limits.login_failed(&body.email, ip.as_deref()).await;
        // In the trail of each group with an account of this e-mail (an unknown e-mail has no
        // group): nothing changed, so it is recorded after, and a failure to is only logged.
        for (account, _) in &found {
            audit::record_after(
                &state.pool,
                password_sign_in(account, true, &body.email, &client),
            )
            .await;
        }
        return Err(ApiError::new(
            axum::http::StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            "that e-mail and password do not match an agent",
        ));
    };
    // The password matched: a group that signs in only through its identity provider refuses
    // it now (403 `password_sign_in_disabled`, `sso.rs`), so a wrong password learns nothing.
    crate::sso::password_allowed(&state, &agent, &client).await?;
    // A second factor due (held, or required by the group's policy): no session yet, a
    // ticket for the second step (`mfa_api.rs`); the e-mail's failures stay counted until
    // that step succeeds.
    if let Some(step) = crate::mfa_api::second_step(&state, &agent).await? {
        return Ok(step);
    }
    let event = password_sign_in(&agent, false, &agent.email, &client);
    let resp = open_session(&state, &agent, event).await?;
    state.limits.login_succeeded(&body.email).await;
    Ok(resp)
}

/// Opens a session for `agent`, whose sign-in was proven (by a password, a second factor or
/// the identity provider): the session row and its audit row `event` in one transaction (no
/// session without its sign-in row), answered as [`LoggedIn`] with the session cookie.
pub(crate) async fn open_session(
    state: &Rest,
    agent: &Agent,
    event: audit::Event,
) -> Result<Response, ApiError> {
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    let token = URL_SAFE_NO_PAD.encode(raw);
    let ttl_hours = state.settings.session_ttl_hours as i64;
    let mut tx = state.pool.begin().await?;
    sqlx::query(
        "INSERT INTO agent_sessions (token_hash, agent_id, group_id, expires_at) \
         VALUES ($1, $2, $3, now() + make_interval(hours => $4::int))",
    )
    .bind(token_hash(&token))
    .bind(agent.id)
    .bind(agent.group_id)
    .bind(ttl_hours as i32)
    .execute(&mut *tx)
    .await?;
    audit::record(&mut tx, &event)
        .await
        .map_err(audit::required)?;
    tx.commit().await?;
    tracing::info!(agent = %agent.id, "agent logged in");
    let secure = if state.settings.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{COOKIE_NAME}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        ttl_hours * 3600
    );
    let mut resp = Json(LoggedIn {
        token,
        agent: agent.clone(),
    })
    .into_response();
    resp.headers_mut().insert(
        SET_COOKIE,
        HeaderValue::from_str(&cookie).map_err(ApiError::internal)?,
    );
    Ok(resp)
}

/// The audit row of a password sign-in to `account` (`label`: the e-mail as typed when it
/// failed).
fn password_sign_in(
    account: &Agent,
    failed: bool,
    label: &str,
    client: &Option<ClientAddress>,
) -> audit::Event {
    let detail = serde_json::json!({ "method": "password" });
    audit::Event::sign_in(account.group_id, account.id, failed, label, client, detail)
}

/// Ends the current session.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", responses((status = 204)))]
pub async fn logout(
    State(state): State<Arc<Rest>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(token) = token_from(&headers) {
        sqlx::query("DELETE FROM agent_sessions WHERE token_hash = $1")
            .bind(token_hash(&token))
            .execute(&state.pool)
            .await?;
    }
    let mut resp = axum::http::StatusCode::NO_CONTENT.into_response();
    let clear = format!("{COOKIE_NAME}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    resp.headers_mut().insert(
        SET_COOKIE,
        HeaderValue::from_str(&clear).map_err(ApiError::internal)?,
    );
    Ok(resp)
}

/// The agent of a session, with their headshot.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Me {
    /// The agent.
    #[serde(flatten)]
    pub agent: Agent,
    /// Their headshot (`/api/v1/agents/{id}/photo?v=…`, relative), or `null`: the console
    /// shows it beside the agent's name.
    pub photo_url: Option<String>,
    /// Their language (`en`, `es`): the console formats dates and numbers in it.
    pub locale: String,
    /// Their own IANA time zone, or `null` for the browser's: the console shows times in it.
    pub time_zone: Option<String>,
}

/// The agent of the session.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth",
    responses((status = 200, body = Me), (status = 401, body = crate::error::ErrorBody)))]
pub async fn me(State(state): State<Arc<Rest>>, session: Session) -> Result<Json<Me>, ApiError> {
    let profile = directory::profile(&state.pool, session.agent.id)
        .await?
        .ok_or_else(ApiError::unauthorized)?;
    Ok(Json(Me {
        agent: session.agent,
        photo_url: profile.photo_url,
        locale: profile.locale,
        time_zone: profile.time_zone,
    }))
}

/// 403 unless the session is a manager's or an admin's; `what` says what was refused.
pub(crate) fn managers_only(session: &Session, what: &str) -> Result<(), ApiError> {
    if session.can_manage() {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!(
            "only a manager or an admin can {what}"
        )))
    }
}

/// 403 unless the session manages something: a manager or an admin (the group), or a rooftop
/// manager (their rooftops; the handler then checks each id against the session's [`Scope`]).
/// Used where a rooftop manager may act within their rooftops; `what` says what was refused.
pub(crate) fn scoped_managers(session: &Session, what: &str) -> Result<(), ApiError> {
    if session.can_manage() || session.agent.role() == Role::RooftopManager {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!(
            "only a manager or an admin can {what}"
        )))
    }
}

/// Whether the caller may give `target` (`None`: a new agent) the role `new_role`: only an
/// admin gives the admin role or edits an admin; only a manager or an admin gives the manager
/// or rooftop manager role; a rooftop manager creates and edits agents (`agent`) only; and
/// nobody changes their own role.
pub(crate) fn role_change_allowed(
    caller: (Uuid, &str),
    target: Option<(Uuid, &str)>,
    new_role: &str,
) -> Result<(), String> {
    let admin = |r: &str| Role::parse(r) == Some(Role::Admin);
    let caller_is_admin = admin(caller.1);
    let group_wide = Role::parse(caller.1).is_some_and(Role::can_manage);
    if let Some((id, current)) = target {
        if id == caller.0 && current != new_role {
            return Err("nobody can change their own role; ask another admin".into());
        }
        if !group_wide && Role::parse(current) != Some(Role::Agent) {
            return Err("a rooftop manager can edit only agents".into());
        }
        if admin(current) && !caller_is_admin {
            return Err("only an admin can edit an admin".into());
        }
    }
    if !group_wide && !admin(new_role) && Role::parse(new_role) != Some(Role::Agent) {
        return Err(
            "only a manager or an admin can give the manager or rooftop manager role".into(),
        );
    }
    if admin(new_role) && !caller_is_admin {
        return Err(if target.is_some() {
            "only an admin can give the admin role".into()
        } else {
            "only an admin can create an admin".into()
        });
    }
    Ok(())
}

/// 403 unless the session is an admin's; `what` says what was refused.
pub(crate) fn admins_only(session: &Session, what: &str) -> Result<(), ApiError> {
    if session.is_admin() {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!("only an admin can {what}")))
    }
}
