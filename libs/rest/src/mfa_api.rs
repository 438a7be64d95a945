//! Multi-factor sign-in over REST (the logic and tables are `mfa.rs`'s):
//!
//! - the sign-in's second step: `POST /api/v1/auth/login` answers [`MfaRequired`] (no session)
//!   when a factor is due ([`second_step`]); `/api/v1/auth/mfa/*` finish it with a TOTP code,
//!   a recovery code or a passkey, or, when the policy requires a factor the agent lacks, by
//!   enrolling one; only then is a session opened (`auth::open_session`);
//! - Profile's enrolment (`/api/v1/me/mfa*`): TOTP, recovery codes, passkeys;
//! - the group's policy (`/api/v1/mfa/policy`, admins) and an admin's reset of an agent's
//!   factors (`/api/v1/agents/{id}/mfa/reset`).
//!
//! Wrong codes count toward the login limits of the agent's e-mail and the client's address
//! (`limits.rs`), and five void the ticket, so a code cannot be guessed.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use showroom_proto::contact::ClientAddress;
use uuid::Uuid;
use webauthn_rs::prelude::{PublicKeyCredential, RegisterPublicKeyCredential};

use crate::auth::{self, LoggedIn, Session, admins_only};
use crate::directory::{self, Agent};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{self, ApiJson, Client, Id};
use crate::mfa::{self, PasskeyChallenge, PasskeyView, Policy, Ticket, TotpEnrolment};
use crate::validate::{Problems, text};
use crate::{Rest, audit};

/// What `POST /api/v1/auth/login` answers with 200: a session, or the second step.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // The OpenAPI document's oneOf: `login` answers each shape itself.
pub enum LoginAnswer {
    /// Signed in.
    LoggedIn(LoggedIn),
    /// The password matched; a second factor is due.
    MfaRequired(MfaRequired),
}

/// The password matched, but no session yet: finish with a second factor (`/api/v1/auth/mfa/*`)
/// within `expires_in_secs`. Has no `token`: a client that knows only `LoggedIn` cannot take it
/// for a session.
#[derive(Serialize, utoipa::ToSchema)]
pub struct MfaRequired {
    /// Always `true`.
    pub mfa_required: bool,
    /// The single-use ticket the second step sends back (5 minutes).
    pub ticket: String,
    /// What finishes it: `totp`, `passkey`, `recovery_code`; with `enrol_required`, what may be
    /// enrolled (`totp`, `passkey`).
    pub methods: Vec<String>,
    /// The group requires a second factor of this agent, who has none yet: the ticket only
    /// enrols one (`/api/v1/auth/mfa/enrol/*`), which completes the sign-in.
    pub enrol_required: bool,
    /// Seconds the ticket lasts.
    pub expires_in_secs: i64,
}

/// After the password matched (`auth::login`): the second step's answer when the agent holds
/// a factor or the group's policy requires one of them, else `None` (open the session).
pub(crate) async fn second_step(state: &Rest, agent: &Agent) -> Result<Option<Response>, ApiError> {
    let factors = mfa::factors(&state.pool, agent.id).await?;
    let required = mfa::policy(&state.pool, agent.group_id)
        .await?
        .requires(agent.role());
    if !factors.any() && !required {
        return Ok(None);
    }
    let enrol_only = !factors.any();
    let passkeys_on = mfa::webauthn(&state.settings).is_some();
    let mut methods = Vec::new();
    if enrol_only || factors.totp {
        methods.push("totp".to_string());
    }
    if passkeys_on && (enrol_only || factors.passkeys > 0) {
        methods.push("passkey".to_string());
    }
    if !enrol_only && factors.recovery_left > 0 {
        methods.push("recovery_code".to_string());
    }
    let ticket = mfa::issue_ticket(&state.pool, agent, enrol_only).await?;
    Ok(Some(
        Json(MfaRequired {
            mfa_required: true,
            ticket,
            methods,
            enrol_required: enrol_only,
            expires_in_secs: mfa::TICKET_SECS,
        })
        .into_response(),
    ))
}

/// A second step under way: its ticket and where the client is.
struct Attempt {
    ticket: Ticket,
    client: Option<ClientAddress>,
    ip: Option<String>,
}

/// The ticket of a second-step request, checked against the login limits (429 while its
/// e-mail or address waits). `enrol`: the request enrols a factor (an enrol-only ticket) or
/// proves one (a ticket of an agent with factors); the other kind is 403 `wrong_step`.
async fn attempt(
    state: &Rest,
    client: Client,
    token: &str,
    enrol: bool,
) -> Result<Attempt, ApiError> {
    let ip = client.ip();
    let client = client.0;
    let ticket = mfa::ticket(&state.pool, token).await?;
    state
        .limits
        .login_allowed(&ticket.agent.email, ip.as_deref())
        .await?;
    if ticket.enrol_only != enrol {
        return Err(ApiError::forbidden(if enrol {
            "you have a second factor already: sign in with it"
        } else {
            "set up a second factor first: your group requires one"
        }));
    }
    Ok(Attempt { ticket, client, ip })
}

/// A wrong second factor: counted for the login limits and the ticket, `sign_in_failed` with
/// the reason in the trail; answered 401 `invalid_code`.
async fn failed(state: &Rest, a: &Attempt, method: &str, reason: &str) -> ApiError {
    state
        .limits
        .login_failed(&a.ticket.agent.email, a.ip.as_deref())
        .await;
    if let Err(e) = mfa::ticket_failed(&state.pool, &a.ticket).await {
        return e;
    }
    let agent = &a.ticket.agent;
    audit::record_after(
        &state.pool,
        audit::Event::sign_in(
            agent.group_id,
            agent.id,
            true,
            &agent.email,
            &a.client,
            serde_json::json!({ "method": method, "reason": reason }),
        ),
    )
    .await;
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "invalid_code",
        "that code or passkey was not accepted",
    )
}

/// The second factor was proven: the ticket is taken (once) and the session opened, its
/// `sign_in` row naming `method`.
async fn succeeded(state: &Rest, a: &Attempt, method: &str) -> Result<Response, ApiError> {
    mfa::take_ticket(&state.pool, &a.ticket).await?;
    let agent = &a.ticket.agent;
    let event = audit::Event::sign_in(
        agent.group_id,
        agent.id,
        false,
        &agent.email,
        &a.client,
        serde_json::json!({ "method": method }),
    );
    let resp = auth::open_session(state, agent, event).await?;
    state.limits.login_succeeded(&agent.email).await;
    Ok(resp)
}

/// A session opened by enrolling a first factor, with the new recovery codes (shown once).
#[derive(Serialize, utoipa::ToSchema)]
pub struct LoggedInEnrolled {
    /// The session, as `LoggedIn`.
    #[serde(flatten)]
    pub logged_in: LoggedIn,
    /// Ten one-time recovery codes; `null` when the agent already held some.
    pub recovery_codes: Option<Vec<String>>,
}

/// `open_session`'s answer with `recovery_codes` added to its body (the cookie kept).
async fn with_codes(resp: Response, codes: Option<Vec<String>>) -> Result<Response, ApiError> {
    let (parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .map_err(ApiError::internal)?;
    let mut value: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(ApiError::internal)?;
    value["recovery_codes"] = serde_json::json!(codes);
    let mut out = Json(value).into_response();
    *out.status_mut() = parts.status;
    for (k, v) in parts.headers.iter() {
        if k != axum::http::header::CONTENT_LENGTH {
            out.headers_mut().insert(k.clone(), v.clone());
        }
    }
    Ok(out)
}

/// A second step with a code.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct TicketCode {
    /// The ticket `login` answered.
    #[serde(default)]
    pub ticket: String,
    /// The 6-digit code of the authenticator app, or a recovery code (`xxxx-xxxx-xxxx-xxxx`).
    #[serde(default)]
    pub code: String,
}

/// A second step's ticket alone.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct TicketOnly {
    /// The ticket `login` answered.
    #[serde(default)]
    pub ticket: String,
}

/// A passkey's answer to a sign-in challenge.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct TicketAssertion {
    /// The ticket `login` answered.
    pub ticket: String,
    /// The `ceremony_id` the challenge came with.
    pub ceremony_id: Uuid,
    /// The `PublicKeyCredential` of `navigator.credentials.get`, binary fields in base64url.
    #[schema(value_type = Object)]
    pub credential: PublicKeyCredential,
}

/// A new passkey's answer to a registration challenge, with the ticket of an enrolling sign-in.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct TicketRegistration {
    /// The ticket `login` answered.
    pub ticket: String,
    /// The `ceremony_id` the challenge came with.
    pub ceremony_id: Uuid,
    /// What to call it (1 to 100 characters), e.g. "Work laptop".
    pub name: String,
    /// The `PublicKeyCredential` of `navigator.credentials.create`, binary fields in base64url.
    #[schema(value_type = Object)]
    pub credential: RegisterPublicKeyCredential,
}

const SECOND_STEP_ERRORS: &str = "401 `ticket_expired` (sign in again) or `invalid_code`";

/// Finishes a sign-in with a code of the authenticator app. A code is accepted once: a
/// replayed one is `invalid_code`. Wrong codes count toward the login limits (429), and five
/// void the ticket.
#[utoipa::path(post, path = "/api/v1/auth/mfa/totp", tag = "auth", request_body = TicketCode,
    responses((status = 400, body = ErrorBody), (status = 200, body = LoggedIn), (status = 401, description = SECOND_STEP_ERRORS, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 503, description = "`audit_unavailable`, `busy`, `unavailable`: retry", body = ErrorBody), (status = 429, body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait")))))]
pub async fn sign_in_totp(
    State(state): State<Arc<Rest>>,
    client: Client,
    ApiJson(b): ApiJson<TicketCode>,
) -> Result<Response, ApiError> {
    let a = attempt(&state, client, &b.ticket, false).await?;
    if mfa::check_totp(&state, &a.ticket.agent, &b.code).await? {
        succeeded(&state, &a, "password+totp").await
    } else {
        Err(failed(&state, &a, "password+totp", "wrong_or_used_code").await)
    }
}

/// Finishes a sign-in with one of the agent's recovery codes, spent by it.
#[utoipa::path(post, path = "/api/v1/auth/mfa/recovery-code", tag = "auth", request_body = TicketCode,
    responses((status = 400, body = ErrorBody), (status = 200, body = LoggedIn), (status = 401, description = SECOND_STEP_ERRORS, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 503, description = "`audit_unavailable`, `busy`, `unavailable`: retry", body = ErrorBody), (status = 429, body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait")))))]
pub async fn sign_in_recovery(
    State(state): State<Arc<Rest>>,
    client: Client,
    ApiJson(b): ApiJson<TicketCode>,
) -> Result<Response, ApiError> {
    let a = attempt(&state, client, &b.ticket, false).await?;
    if mfa::use_recovery_code(&state.pool, &a.ticket.agent, &b.code).await? {
        succeeded(&state, &a, "password+recovery_code").await
    } else {
        Err(failed(&state, &a, "password+recovery_code", "wrong_or_used_code").await)
    }
}

/// Starts a passkey sign-in: pass `options` to `navigator.credentials.get`, then send the
/// answer to `/api/v1/auth/mfa/passkey/finish` within 5 minutes. 409 `no_passkey`,
/// `passkeys_unavailable`.
#[utoipa::path(post, path = "/api/v1/auth/mfa/passkey/start", tag = "auth", request_body = TicketOnly,
    responses((status = 400, body = ErrorBody), (status = 200, body = PasskeyChallenge), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 503, description = "`audit_unavailable`, `busy`, `unavailable`: retry", body = ErrorBody), (status = 409, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn sign_in_passkey_start(
    State(state): State<Arc<Rest>>,
    client: Client,
    ApiJson(b): ApiJson<TicketOnly>,
) -> Result<Json<PasskeyChallenge>, ApiError> {
    let a = attempt(&state, client, &b.ticket, false).await?;
    Ok(Json(
        mfa::start_passkey_authentication(&state, &a.ticket.agent).await?,
    ))
}

/// Finishes a passkey sign-in with the authenticator's answer.
#[utoipa::path(post, path = "/api/v1/auth/mfa/passkey/finish", tag = "auth", request_body = TicketAssertion,
    responses((status = 200, body = LoggedIn), (status = 400, body = ErrorBody),
        (status = 401, description = SECOND_STEP_ERRORS, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 503, description = "`audit_unavailable`, `busy`, `unavailable`: retry", body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn sign_in_passkey_finish(
    State(state): State<Arc<Rest>>,
    client: Client,
    ApiJson(b): ApiJson<TicketAssertion>,
) -> Result<Response, ApiError> {
    let a = attempt(&state, client, &b.ticket, false).await?;
    if mfa::finish_passkey_authentication(&state, &a.ticket.agent, b.ceremony_id, &b.credential)
        .await?
    {
        succeeded(&state, &a, "password+passkey").await
    } else {
        Err(failed(&state, &a, "password+passkey", "assertion_refused").await)
    }
}

/// A sign-in whose group requires a factor the agent lacks: starts setting up an
/// authenticator app (confirm at `/api/v1/auth/mfa/enrol/totp/confirm`).
#[utoipa::path(post, path = "/api/v1/auth/mfa/enrol/totp", tag = "auth", request_body = TicketOnly,
    responses((status = 400, body = ErrorBody), (status = 200, body = TotpEnrolment), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 503, description = "`audit_unavailable`, `busy`, `unavailable`: retry", body = ErrorBody), (status = 409, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn enrol_totp_start(
    State(state): State<Arc<Rest>>,
    client: Client,
    ApiJson(b): ApiJson<TicketOnly>,
) -> Result<Json<TotpEnrolment>, ApiError> {
    let a = attempt(&state, client, &b.ticket, true).await?;
    Ok(Json(mfa::start_totp(&state, &a.ticket.agent).await?))
}

/// Confirms the authenticator app with its first code, which completes the sign-in: the
/// session, with the recovery codes (shown once). 400 naming `code` when it is wrong.
#[utoipa::path(post, path = "/api/v1/auth/mfa/enrol/totp/confirm", tag = "auth", request_body = TicketCode,
    responses((status = 200, body = LoggedInEnrolled), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 503, description = "`audit_unavailable`, `busy`, `unavailable`: retry", body = ErrorBody), (status = 409, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn enrol_totp_confirm(
    State(state): State<Arc<Rest>>,
    client: Client,
    ApiJson(b): ApiJson<TicketCode>,
) -> Result<Response, ApiError> {
    let a = attempt(&state, client, &b.ticket, true).await?;
    let agent = &a.ticket.agent;
    let codes = mfa::confirm_totp(&state, agent, &b.code, enrolled_event(agent, &a.client)).await?;
    with_codes(succeeded(&state, &a, "password+totp").await?, codes).await
}

/// A sign-in whose group requires a factor the agent lacks: starts registering a passkey.
#[utoipa::path(post, path = "/api/v1/auth/mfa/enrol/passkey/start", tag = "auth", request_body = TicketOnly,
    responses((status = 400, body = ErrorBody), (status = 200, body = PasskeyChallenge), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 503, description = "`audit_unavailable`, `busy`, `unavailable`: retry", body = ErrorBody), (status = 409, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn enrol_passkey_start(
    State(state): State<Arc<Rest>>,
    client: Client,
    ApiJson(b): ApiJson<TicketOnly>,
) -> Result<Json<PasskeyChallenge>, ApiError> {
    let a = attempt(&state, client, &b.ticket, true).await?;
    Ok(Json(
        mfa::start_passkey_registration(&state, &a.ticket.agent).await?,
    ))
}

/// Registers the passkey, which completes the sign-in: the session, with the recovery codes.
#[utoipa::path(post, path = "/api/v1/auth/mfa/enrol/passkey/finish", tag = "auth", request_body = TicketRegistration,
    responses((status = 200, body = LoggedInEnrolled), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 503, description = "`audit_unavailable`, `busy`, `unavailable`: retry", body = ErrorBody), (status = 409, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn enrol_passkey_finish(
    State(state): State<Arc<Rest>>,
    client: Client,
    ApiJson(b): ApiJson<TicketRegistration>,
) -> Result<Response, ApiError> {
    let a = attempt(&state, client, &b.ticket, true).await?;
    let name = passkey_name(&b.name)?;
    let agent = &a.ticket.agent;
    let (_, codes) = mfa::finish_passkey_registration(
        &state,
        agent,
        b.ceremony_id,
        &name,
        &b.credential,
        enrolled_event(agent, &a.client),
    )
    .await?;
    with_codes(succeeded(&state, &a, "password+passkey").await?, codes).await
}

/// `mfa_enrolled` by an agent signing in (no session yet).
fn enrolled_event(agent: &Agent, client: &Option<ClientAddress>) -> audit::Event {
    audit::Event {
        group_id: agent.group_id,
        actor_id: Some(agent.id),
        actor_label: agent.email.clone(),
        kind: audit::kind::MFA_ENROLLED,
        subject: Some(format!("agent:{}", agent.id)),
        client: client.clone(),
        detail: serde_json::Value::Null,
    }
}

fn passkey_name(raw: &str) -> Result<String, ApiError> {
    let mut p = Problems::default();
    let name = p.check("name", text(raw, 100));
    p.finish()?;
    Ok(name.unwrap_or_default())
}

// ---- Profile ---------------------------------------------------------------------------

/// The caller's second factors, as Profile shows them.
#[derive(Serialize, utoipa::ToSchema)]
pub struct MfaStatus {
    /// An authenticator app is set up.
    pub totp: bool,
    /// Their passkeys.
    pub passkeys: Vec<PasskeyView>,
    /// Recovery codes not spent yet.
    pub recovery_codes_left: i64,
    /// Their group requires a second factor of them.
    pub required: bool,
    /// This server takes passkeys (`SHOWROOM_PUBLIC_URL` is set).
    pub passkeys_available: bool,
}

/// The caller's second factors.
#[utoipa::path(get, path = "/api/v1/me/mfa", tag = "auth",
    responses((status = 200, body = MfaStatus), (status = 401, body = ErrorBody)))]
pub async fn my_mfa(
    State(state): State<Arc<Rest>>,
    session: Session,
) -> Result<Json<MfaStatus>, ApiError> {
    let agent = &session.agent;
    let f = mfa::factors(&state.pool, agent.id).await?;
    Ok(Json(MfaStatus {
        totp: f.totp,
        passkeys: mfa::passkeys(&state.pool, agent.id).await?,
        recovery_codes_left: f.recovery_left,
        required: mfa::policy(&state.pool, agent.group_id)
            .await?
            .requires(agent.role()),
        passkeys_available: mfa::webauthn(&state.settings).is_some(),
    }))
}

/// Starts setting up an authenticator app: scan the QR code (or type the secret), then confirm
/// with a first code. Starting again replaces an unconfirmed secret. 409 `already_enrolled`.
#[utoipa::path(post, path = "/api/v1/me/mfa/totp", tag = "auth",
    responses((status = 200, body = TotpEnrolment), (status = 401, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn my_totp_start(
    State(state): State<Arc<Rest>>,
    session: Session,
) -> Result<Json<TotpEnrolment>, ApiError> {
    Ok(Json(mfa::start_totp(&state, &session.agent).await?))
}

/// A code of the authenticator app.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct CodeBody {
    /// The 6-digit code the app shows now.
    #[serde(default)]
    pub code: String,
}

/// A factor was enrolled.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Enrolled {
    /// Ten one-time recovery codes (shown once) when this is the agent's first factor; `null`
    /// when they already hold codes.
    pub recovery_codes: Option<Vec<String>>,
    /// The passkey, when one was registered.
    pub passkey: Option<PasskeyView>,
}

/// Confirms the authenticator app with its first code: from now on it is asked for at sign-in.
/// 400 naming `code`; 409 `not_started`, `already_enrolled`.
#[utoipa::path(post, path = "/api/v1/me/mfa/totp/confirm", tag = "auth", request_body = CodeBody,
    responses((status = 200, body = Enrolled), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn my_totp_confirm(
    State(state): State<Arc<Rest>>,
    session: Session,
    ApiJson(b): ApiJson<CodeBody>,
) -> Result<Json<Enrolled>, ApiError> {
    let event = audit::Event::by(&session, audit::kind::MFA_ENROLLED)
        .about(format!("agent:{}", session.agent.id));
    let codes = mfa::confirm_totp(&state, &session.agent, &b.code, event).await?;
    Ok(Json(Enrolled {
        recovery_codes: codes,
        passkey: None,
    }))
}

/// Proof for removing the authenticator app: a current code, or the password.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct RemoveTotpBody {
    /// A current code of the app.
    #[serde(default)]
    pub code: Option<String>,
    /// Or the agent's password.
    #[serde(default)]
    pub password: Option<String>,
}

/// Removes the authenticator app, proven by a current code or the password (400 naming `code`
/// or `password` otherwise). With no factor left, the recovery codes go too.
#[utoipa::path(post, path = "/api/v1/me/mfa/totp/remove", tag = "auth", request_body = RemoveTotpBody,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn my_totp_remove(
    State(state): State<Arc<Rest>>,
    session: Session,
    ApiJson(b): ApiJson<RemoveTotpBody>,
) -> Result<StatusCode, ApiError> {
    let agent = &session.agent;
    let proven = match (b.code.as_deref(), b.password.clone()) {
        (Some(code), _) if !code.trim().is_empty() => {
            if !mfa::check_totp(&state, agent, code).await? {
                return Err(crate::validate::invalid(
                    "code",
                    "is not a current code of your app",
                ));
            }
            true
        }
        (_, Some(password)) if !password.is_empty() => {
            let hash = directory::password_hash(&state.pool, agent.id)
                .await?
                .ok_or_else(ApiError::unauthorized)?;
            if !state
                .limits
                .hashing(move || directory::verify_password(&password, &hash))
                .await?
            {
                return Err(crate::validate::invalid(
                    "password",
                    "is not your current password",
                ));
            }
            true
        }
        _ => false,
    };
    if !proven {
        return Err(crate::validate::invalid(
            "code",
            "give a current code of your app, or your password",
        ));
    }
    let event =
        audit::Event::by(&session, audit::kind::MFA_REMOVED).about(format!("agent:{}", agent.id));
    mfa::remove_totp(&state.pool, agent, event).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// New recovery codes.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RecoveryCodes {
    /// Ten one-time codes, shown once; the old ones no longer work.
    pub recovery_codes: Vec<String>,
}

/// Replaces the caller's recovery codes with ten new ones. 409 `no_factor` without a factor.
#[utoipa::path(post, path = "/api/v1/me/mfa/recovery-codes", tag = "auth",
    responses((status = 200, body = RecoveryCodes), (status = 401, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn my_recovery_codes(
    State(state): State<Arc<Rest>>,
    session: Session,
) -> Result<Json<RecoveryCodes>, ApiError> {
    let event = audit::Event::by(&session, audit::kind::RECOVERY_CODES_REGENERATED)
        .about(format!("agent:{}", session.agent.id));
    Ok(Json(RecoveryCodes {
        recovery_codes: mfa::regenerate_codes(&state, &session.agent, event).await?,
    }))
}

/// Starts registering a passkey: pass `options` to `navigator.credentials.create`, then send
/// the answer to `POST /api/v1/me/mfa/passkeys` within 5 minutes. 409 `passkeys_unavailable`.
#[utoipa::path(post, path = "/api/v1/me/mfa/passkeys/start", tag = "auth",
    responses((status = 200, body = PasskeyChallenge), (status = 401, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn my_passkey_start(
    State(state): State<Arc<Rest>>,
    session: Session,
) -> Result<Json<PasskeyChallenge>, ApiError> {
    Ok(Json(
        mfa::start_passkey_registration(&state, &session.agent).await?,
    ))
}

/// A new passkey's answer to the registration challenge.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct Registration {
    /// The `ceremony_id` the challenge came with.
    pub ceremony_id: Uuid,
    /// What to call it (1 to 100 characters), e.g. "Work laptop".
    pub name: String,
    /// The `PublicKeyCredential` of `navigator.credentials.create`, binary fields in base64url.
    #[schema(value_type = Object)]
    pub credential: RegisterPublicKeyCredential,
}

/// Registers a passkey. 400 naming `name`, `ceremony_expired`, `passkey_refused`.
#[utoipa::path(post, path = "/api/v1/me/mfa/passkeys", tag = "auth", request_body = Registration,
    responses((status = 200, body = Enrolled), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn my_passkey_finish(
    State(state): State<Arc<Rest>>,
    session: Session,
    ApiJson(b): ApiJson<Registration>,
) -> Result<Json<Enrolled>, ApiError> {
    let name = passkey_name(&b.name)?;
    let event = audit::Event::by(&session, audit::kind::MFA_ENROLLED)
        .about(format!("agent:{}", session.agent.id));
    let (view, codes) = mfa::finish_passkey_registration(
        &state,
        &session.agent,
        b.ceremony_id,
        &name,
        &b.credential,
        event,
    )
    .await?;
    Ok(Json(Enrolled {
        recovery_codes: codes,
        passkey: Some(view),
    }))
}

/// Removes one of the caller's passkeys (404 for none of theirs).
#[utoipa::path(delete, path = "/api/v1/me/mfa/passkeys/{id}", tag = "auth",
    params(("id" = uuid::Uuid, Path, description = "Passkey id (UUID)")),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn my_passkey_remove(
    State(state): State<Arc<Rest>>,
    session: Session,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = extract::parse_id(&id, "passkey")?;
    let event = audit::Event::by(&session, audit::kind::MFA_REMOVED)
        .about(format!("agent:{}", session.agent.id));
    mfa::remove_passkey(&state.pool, &session.agent, id, event).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- the group's policy and an admin's reset -------------------------------------------

/// Who of the group must sign in with a second factor.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct PolicyBody {
    /// `privileged` (rooftop managers, managers, admins: the default), `everyone` or `off`.
    pub policy: Policy,
}

/// The group's MFA policy (admins).
#[utoipa::path(get, path = "/api/v1/mfa/policy", tag = "admin",
    responses((status = 200, body = PolicyBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn get_mfa_policy(
    State(state): State<Arc<Rest>>,
    session: Session,
) -> Result<Json<PolicyBody>, ApiError> {
    admins_only(&session, "see the group's MFA policy")?;
    Ok(Json(PolicyBody {
        policy: mfa::policy(&state.pool, session.group()).await?,
    }))
}

/// Sets the group's MFA policy (admins), audited `mfa_policy_changed` with before and after.
/// Agents it newly covers enrol a factor at their next sign-in.
#[utoipa::path(put, path = "/api/v1/mfa/policy", tag = "admin", request_body = PolicyBody,
    responses((status = 200, body = PolicyBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn put_mfa_policy(
    State(state): State<Arc<Rest>>,
    session: Session,
    ApiJson(b): ApiJson<PolicyBody>,
) -> Result<Json<PolicyBody>, ApiError> {
    admins_only(&session, "change the group's MFA policy")?;
    let event = audit::Event::by(&session, audit::kind::MFA_POLICY_CHANGED)
        .about(format!("group:{}", session.group()));
    mfa::set_policy(&state.pool, session.group(), b.policy, event).await?;
    Ok(Json(PolicyBody { policy: b.policy }))
}

/// An agent lost their device (admins): removes their authenticator app, recovery codes and
/// passkeys, audited `mfa_reset`. If the policy requires a factor of them, they enrol a new
/// one at their next sign-in. 404 for another group's agent. An admin's own factors are
/// refused (403 `own_factors`): removing one's own needs the password (Profile), which a
/// stolen session does not have, and another admin resets a lost device.
#[utoipa::path(post, path = "/api/v1/agents/{id}/mfa/reset", tag = "admin",
    params(("id" = uuid::Uuid, Path, description = "Agent id (UUID)")),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn reset_agent_mfa(
    State(state): State<Arc<Rest>>,
    session: Session,
    Id(id, _): Id<extract::Agent>,
) -> Result<StatusCode, ApiError> {
    admins_only(&session, "reset an agent's second factors")?;
    let agent = directory::agent(&state.pool, id)
        .await?
        .filter(|a| a.group_id == session.group())
        .ok_or_else(|| ApiError::not_found("agent"))?;
    if agent.id == session.agent.id {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "own_factors",
            "an admin's own second factors are changed under Profile (with the password); \
             another admin resets them after a lost device",
        ));
    }
    let event =
        audit::Event::by(&session, audit::kind::MFA_RESET).about(format!("agent:{}", agent.id));
    mfa::reset(&state.pool, &agent, event).await?;
    Ok(StatusCode::NO_CONTENT)
}
