//! Single sign-on with OpenID Connect, per dealer group (issue 17, item 1): the group's
//! provider settings (`sso_providers`, `sso_domains`), the Authorization Code flow with PKCE
//! (attempts in `sso_logins`, so any gateway replica finishes one), the agent made or updated
//! from the ID token's mapped claims (`agent_identities`), and back-channel logout. The
//! `openidconnect` crate does discovery, JWKS, PKCE and the ID token's checks (issuer,
//! audience, signature, nonce, expiry); the logout token, a JWT it has no type for, is checked
//! here with the provider's JWKS keys through the same crate.
//!
//! The client secret is never in the database: the settings name a key, and the secret is the
//! file of that name in `Settings::oidc_secrets_dir` (a mounted Kubernetes Secret), read at each
//! use so a rotated Secret takes effect without a restart.

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata,
};
use openidconnect::{
    AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken, DiscoveryError,
    IssuerUrl, JsonWebKey, Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
    TokenResponse,
};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use showroom_proto::contact::ClientAddress;
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

use crate::Rest;
use crate::audit;
use crate::auth::token_hash;
use crate::directory::{self, Agent, AgentInput, DirectoryError, Role};
use crate::error::ApiError;

/// How long a started sign-in may be finished.
const ATTEMPT_MINUTES: i32 = 10;
/// A logout token is accepted this long after its `iat` (and this far ahead, for clock skew).
const LOGOUT_WINDOW_SECS: i64 = 600;
const LOGOUT_SKEW_SECS: i64 = 120;
/// The event every logout token carries (Back-Channel Logout 1.0, section 2.4).
const BACKCHANNEL_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// Events (OpenID RISC event types) with which the provider says the account is gone or
/// disabled: the agent is then deactivated, not only logged out.
const ACCOUNT_GONE_EVENTS: [&str; 2] = [
    "https://schemas.openid.net/secevent/risc/event-type/account-disabled",
    "https://schemas.openid.net/secevent/risc/event-type/account-purged",
];

/// A dealer group's identity provider, as the admin page sets it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SsoSettings {
    /// The provider's issuer URL (discovery is `<issuer>/.well-known/openid-configuration`;
    /// `https`, or `http` on a loopback host).
    pub issuer: String,
    /// Our client id at the provider.
    pub client_id: String,
    /// The name of the file, in the gateway's `SHOWROOM_OIDC_SECRETS_DIR`, that holds the
    /// client secret (a key of the Kubernetes Secret); never the secret itself.
    pub secret_key: String,
    /// The button's provider name: "Sign in with <display_name>".
    pub display_name: String,
    /// The e-mail domains whose sign-in goes to this provider (each used by one group only).
    pub email_domains: Vec<String>,
    /// The ID token claim that carries the agent's roles (a string or a list of strings).
    pub role_claim: String,
    /// Values of `role_claim` mapped to our roles (`agent`, `rooftop_manager`, `manager`,
    /// `admin`); the highest mapped one wins, none mapped: no sign-in.
    pub role_map: BTreeMap<String, String>,
    /// The claim that carries the rooftops a `rooftop_manager` manages (ids or names of the
    /// group's rooftops); none: they manage none until an admin sets them.
    pub rooftop_claim: Option<String>,
    /// Whether the group's agents may still sign in with a password.
    pub password_sign_in: bool,
}

/// Why a sign-in through the provider was refused: the code the console's sign-in shows
/// (`/console?sso_error=<code>`) and the reason in the audit trail.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Refusal {
    #[error("no single sign-on for this e-mail")]
    NotConfigured,
    #[error("the identity provider is unreachable: {0}")]
    Unavailable(String),
    #[error("the provider's issuer does not match the configured one: {0}")]
    IssuerMismatch(String),
    #[error("unknown, expired, used or foreign sign-in state")]
    State,
    #[error("the provider refused the sign-in: {0}")]
    Denied(String),
    #[error("the code could not be exchanged: {0}")]
    Exchange(String),
    #[error("the ID token's nonce is not this sign-in's")]
    Nonce,
    #[error("the ID token is invalid: {0}")]
    Token(String),
    #[error("the ID token has no e-mail")]
    EmailMissing,
    #[error("the provider has not verified the e-mail")]
    EmailUnverified,
    #[error("the role claim is absent or maps to no role")]
    RoleUnmapped,
    #[error("the agent is deactivated")]
    Deactivated,
    #[error("{0}")]
    Internal(String),
}

impl Refusal {
    /// The code the console shows.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            Self::NotConfigured => "sso_not_configured",
            Self::Unavailable(_) => "sso_unavailable",
            Self::IssuerMismatch(_) => "sso_issuer_mismatch",
            Self::State => "sso_state_invalid",
            Self::Denied(_) => "sso_denied",
            Self::Exchange(_) => "sso_exchange_failed",
            Self::Nonce => "sso_nonce_invalid",
            Self::Token(_) => "sso_token_invalid",
            Self::EmailMissing => "sso_email_missing",
            Self::EmailUnverified => "sso_email_unverified",
            Self::RoleUnmapped => "sso_role_unmapped",
            Self::Deactivated => "sso_agent_deactivated",
            Self::Internal(_) => "sso_failed",
        }
    }
}

impl From<sqlx::Error> for Refusal {
    fn from(e: sqlx::Error) -> Self {
        Self::Internal(e.to_string())
    }
}

/// The HTTP client towards providers: no redirect followed (a provider's endpoints answer
/// directly; following would let one send us elsewhere), bounded in time.
fn http() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default()
    })
}

fn random_token() -> String {
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    URL_SAFE_NO_PAD.encode(raw)
}

/// The domain of an e-mail, lowercased; none without one.
pub(crate) fn domain_of(email: &str) -> Option<String> {
    let (_, domain) = email.trim().rsplit_once('@')?;
    let domain = domain.trim().to_ascii_lowercase();
    (!domain.is_empty()).then_some(domain)
}

#[derive(sqlx::FromRow)]
struct ProviderRow {
    issuer: String,
    client_id: String,
    secret_key: String,
    display_name: String,
    role_claim: String,
    role_map: sqlx::types::Json<BTreeMap<String, String>>,
    rooftop_claim: Option<String>,
    password_sign_in: bool,
    email_domains: Vec<String>,
}

impl From<ProviderRow> for SsoSettings {
    fn from(r: ProviderRow) -> Self {
        Self {
            issuer: r.issuer,
            client_id: r.client_id,
            secret_key: r.secret_key,
            display_name: r.display_name,
            email_domains: r.email_domains,
            role_claim: r.role_claim,
            role_map: r.role_map.0,
            rooftop_claim: r.rooftop_claim,
            password_sign_in: r.password_sign_in,
        }
    }
}

/// The group's provider settings, if it has single sign-on.
pub(crate) async fn settings(
    db: impl PgExecutor<'_>,
    group: Uuid,
) -> sqlx::Result<Option<SsoSettings>> {
    let row: Option<ProviderRow> = sqlx::query_as(
        "SELECT p.issuer, p.client_id, p.secret_key, p.display_name, p.role_claim, p.role_map, \
           p.rooftop_claim, p.password_sign_in, \
           COALESCE((SELECT array_agg(d.domain ORDER BY d.domain) FROM sso_domains d \
                     WHERE d.group_id = p.group_id), '{}') AS email_domains \
         FROM sso_providers p WHERE p.group_id = $1",
    )
    .bind(group)
    .fetch_optional(db)
    .await?;
    Ok(row.map(Into::into))
}

/// Sets the group's provider settings, audited `sso_settings_changed` with before and after
/// (the secret's key name only) in the same transaction. 409 `already_taken` (`email_domains`)
/// when another group signs in one of the domains.
pub(crate) async fn put_settings(
    pool: &PgPool,
    group: Uuid,
    s: &SsoSettings,
    event: audit::Event,
) -> Result<(), ApiError> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT id FROM dealer_groups WHERE id = $1 FOR UPDATE")
        .bind(group)
        .execute(&mut *tx)
        .await?;
    let before = settings(&mut *tx, group).await?;
    let taken: Vec<String> = sqlx::query_scalar(
        "SELECT domain FROM sso_domains WHERE domain = ANY($1) AND group_id <> $2 ORDER BY domain",
    )
    .bind(&s.email_domains)
    .bind(group)
    .fetch_all(&mut *tx)
    .await?;
    if !taken.is_empty() {
        return Err(crate::validate::taken(
            "email_domains",
            format!(
                "already signed in through another dealer group's provider: {}",
                taken.join(", ")
            ),
        ));
    }
    sqlx::query(
        "INSERT INTO sso_providers (group_id, issuer, client_id, secret_key, display_name, \
           role_claim, role_map, rooftop_claim, password_sign_in) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (group_id) DO UPDATE SET issuer = $2, client_id = $3, secret_key = $4, \
           display_name = $5, role_claim = $6, role_map = $7, rooftop_claim = $8, \
           password_sign_in = $9, updated_at = now()",
    )
    .bind(group)
    .bind(&s.issuer)
    .bind(&s.client_id)
    .bind(&s.secret_key)
    .bind(&s.display_name)
    .bind(&s.role_claim)
    .bind(sqlx::types::Json(&s.role_map))
    .bind(&s.rooftop_claim)
    .bind(s.password_sign_in)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM sso_domains WHERE group_id = $1")
        .bind(group)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO sso_domains (domain, group_id) SELECT d, $2 FROM unnest($1::text[]) d",
    )
    .bind(&s.email_domains)
    .bind(group)
    .execute(&mut *tx)
    .await?;
    let event = event.detail(
        json!({ "action": if before.is_some() { "update" } else { "create" },
        "before": before, "after": s }),
    );
    audit::record(&mut tx, &event)
        .await
        .map_err(audit::required)?;
    tx.commit().await?;
    Ok(())
}

/// Removes the group's single sign-on (password sign-in is then on again for everyone),
/// audited; false when it had none.
pub(crate) async fn delete_settings(
    pool: &PgPool,
    group: Uuid,
    event: audit::Event,
) -> Result<bool, ApiError> {
    let mut tx = pool.begin().await?;
    let before = settings(&mut *tx, group).await?;
    if before.is_none() {
        return Ok(false);
    }
    sqlx::query("DELETE FROM sso_providers WHERE group_id = $1")
        .bind(group)
        .execute(&mut *tx)
        .await?;
    let event = event.detail(json!({ "action": "delete", "before": before, "after": null }));
    audit::record(&mut tx, &event)
        .await
        .map_err(audit::required)?;
    tx.commit().await?;
    Ok(true)
}

/// What the sign-in page learns of an e-mail's domain.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SsoLookup {
    /// Whether the domain signs in through an identity provider.
    pub sso: bool,
    /// The provider's name for the button, when `sso`.
    pub display_name: Option<String>,
    /// Whether a password sign-in is still offered (false: only the provider).
    pub password_sign_in: bool,
}

/// The sign-in page's question: does this e-mail's domain use a provider?
pub(crate) async fn lookup(pool: &PgPool, email: &str) -> sqlx::Result<SsoLookup> {
    let row: Option<(String, bool)> = match domain_of(email) {
        Some(domain) => {
            sqlx::query_as(
                "SELECT p.display_name, p.password_sign_in FROM sso_domains d \
                 JOIN sso_providers p ON p.group_id = d.group_id WHERE d.domain = $1",
            )
            .bind(domain)
            .fetch_optional(pool)
            .await?
        }
        None => None,
    };
    Ok(match row {
        Some((name, password)) => SsoLookup {
            sso: true,
            display_name: Some(name),
            password_sign_in: password,
        },
        None => SsoLookup {
            sso: false,
            display_name: None,
            password_sign_in: true,
        },
    })
}

/// A password sign-in to `agent` that matched: 403 `password_sign_in_disabled` when the
/// agent's group signs in only through its provider, audited `sign_in_failed`. Called only
/// after the password matched, so a wrong password learns nothing from it.
pub(crate) async fn password_allowed(
    state: &Rest,
    agent: &Agent,
    client: &Option<ClientAddress>,
) -> Result<(), ApiError> {
    let allowed: Option<bool> =
        sqlx::query_scalar("SELECT password_sign_in FROM sso_providers WHERE group_id = $1")
            .bind(agent.group_id)
            .fetch_optional(&state.pool)
            .await?;
    if allowed != Some(false) {
        return Ok(());
    }
    audit::record_after(
        &state.pool,
        audit::Event::sign_in(
            agent.group_id,
            agent.id,
            true,
            &agent.email,
            client,
            json!({ "method": "password", "reason": "password_sign_in_disabled" }),
        ),
    )
    .await;
    Err(ApiError::new(
        axum::http::StatusCode::FORBIDDEN,
        "password_sign_in_disabled",
        "your dealer group signs in through its identity provider: use single sign-on",
    ))
}

/// The client secret named `key`, from the mounted Secret directory.
fn client_secret(state: &Rest, key: &str) -> Result<ClientSecret, Refusal> {
    let dir = state
        .settings
        .oidc_secrets_dir
        .as_ref()
        .ok_or_else(|| Refusal::Internal("SHOWROOM_OIDC_SECRETS_DIR is not set".into()))?;
    // The key is checked to be a plain file name (settings' validation and the table's CHECK).
    let secret = std::fs::read_to_string(dir.join(key))
        .map_err(|e| Refusal::Internal(format!("reading the client secret {key:?}: {e}")))?;
    Ok(ClientSecret::new(secret.trim().to_string()))
}

/// Whether the mounted Secret directory holds a non-empty file for `key`.
pub(crate) fn secret_present(state: &Rest, key: &str) -> bool {
    client_secret(state, key).is_ok_and(|s| !s.secret().is_empty())
}

/// The provider's metadata (and its JWKS), checked to name `issuer` exactly.
async fn discover(issuer: &str) -> Result<CoreProviderMetadata, Refusal> {
    let url = IssuerUrl::new(issuer.to_string()).map_err(|e| Refusal::Internal(e.to_string()))?;
    CoreProviderMetadata::discover_async(url, http())
        .await
        .map_err(|e| match e {
            DiscoveryError::Validation(m) => Refusal::IssuerMismatch(m),
            other => Refusal::Unavailable(other.to_string()),
        })
}

/// A sign-in started: where to send the browser, and the value of the browser-binding cookie.
pub(crate) struct Started {
    pub(crate) url: url::Url,
    pub(crate) browser: String,
}

/// Starts a sign-in for `email` through its domain's provider: state, nonce and a PKCE
/// challenge, the attempt kept (hashed state, the browser binding, verifier, nonce) for
/// [`ATTEMPT_MINUTES`].
pub(crate) async fn start(
    state: &Rest,
    email: &str,
    redirect_uri: &str,
) -> Result<Started, (Option<Uuid>, Refusal)> {
    let domain = domain_of(email).ok_or((None, Refusal::NotConfigured))?;
    let group: Option<Uuid> =
        sqlx::query_scalar("SELECT group_id FROM sso_domains WHERE domain = $1")
            .bind(&domain)
            .fetch_optional(&state.pool)
            .await
            .map_err(|e| (None, e.into()))?;
    let group = group.ok_or((None, Refusal::NotConfigured))?;
    let fail = |r: Refusal| (Some(group), r);
    let s = settings(&state.pool, group)
        .await
        .map_err(|e| fail(e.into()))?
        .ok_or_else(|| fail(Refusal::NotConfigured))?;
    let secret = client_secret(state, &s.secret_key).map_err(fail)?;
    let meta = discover(&s.issuer).await.map_err(fail)?;
    let redirect = RedirectUrl::new(redirect_uri.to_string())
        .map_err(|e| fail(Refusal::Internal(e.to_string())))?;
    let client = CoreClient::from_provider_metadata(meta, ClientId::new(s.client_id), Some(secret))
        .set_redirect_uri(redirect);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge)
        .add_extra_param("login_hint", email.trim())
        .url();
    let browser = random_token();
    let mut tx = state.pool.begin().await.map_err(|e| fail(e.into()))?;
    sqlx::query("DELETE FROM sso_logins WHERE expires_at < now()")
        .execute(&mut *tx)
        .await
        .map_err(|e| fail(e.into()))?;
    sqlx::query(
        "INSERT INTO sso_logins (state_hash, browser_hash, group_id, nonce, pkce_verifier, \
           redirect_uri, email, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, now() + make_interval(mins => $8))",
    )
    .bind(token_hash(csrf.secret()))
    .bind(token_hash(&browser))
    .bind(group)
    .bind(nonce.secret())
    .bind(verifier.secret())
    .bind(redirect_uri)
    .bind(email.trim())
    .bind(ATTEMPT_MINUTES)
    .execute(&mut *tx)
    .await
    .map_err(|e| fail(e.into()))?;
    tx.commit().await.map_err(|e| fail(e.into()))?;
    Ok(Started { url, browser })
}

/// What the provider sent back to the callback.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Callback {
    /// The authorization code.
    pub code: Option<String>,
    /// The state of the sign-in it answers.
    pub state: Option<String>,
    /// The provider's refusal (`access_denied`, …).
    pub error: Option<String>,
    /// Its description.
    pub error_description: Option<String>,
}

/// A refused callback: the group and the e-mail typed when the attempt was known.
pub(crate) struct Refused {
    pub(crate) group: Option<Uuid>,
    pub(crate) label: Option<String>,
    pub(crate) agent: Option<Uuid>,
    pub(crate) refusal: Refusal,
}

#[derive(sqlx::FromRow)]
struct Attempt {
    browser_hash: Vec<u8>,
    group_id: Uuid,
    nonce: String,
    pkce_verifier: String,
    redirect_uri: String,
    email: String,
    live: bool,
}

/// The callback: uses up the attempt its `state` names (it must be this browser's and not
/// expired), exchanges the code with the PKCE verifier, verifies the ID token (issuer,
/// audience, signature by the JWKS, nonce, expiry), then makes or updates the agent from the
/// mapped claims. Answers the agent to open a session for.
pub(crate) async fn finish(
    state: &Rest,
    cb: Callback,
    browser: Option<&str>,
) -> Result<(Agent, Value), Refused> {
    let bare = |refusal| Refused {
        group: None,
        label: None,
        agent: None,
        refusal,
    };
    let raw_state = cb.state.as_deref().ok_or_else(|| bare(Refusal::State))?;
    // Single use: the row is gone whatever follows.
    let attempt: Option<Attempt> = sqlx::query_as(
        "DELETE FROM sso_logins WHERE state_hash = $1 RETURNING browser_hash, group_id, nonce, \
           pkce_verifier, redirect_uri, email, expires_at > now() AS live",
    )
    .bind(token_hash(raw_state))
    .fetch_optional(&state.pool)
    .await
    .map_err(|e| bare(e.into()))?;
    let attempt = attempt.ok_or_else(|| bare(Refusal::State))?;
    let fail = |refusal| Refused {
        group: Some(attempt.group_id),
        label: Some(attempt.email.clone()),
        agent: None,
        refusal,
    };
    let bound = browser.is_some_and(|b| token_hash(b) == attempt.browser_hash);
    if !attempt.live || !bound {
        return Err(fail(Refusal::State));
    }
    if let Some(error) = cb.error {
        let detail = cb.error_description.unwrap_or_default();
        return Err(fail(Refusal::Denied(
            format!("{error} {detail}").trim().to_string(),
        )));
    }
    let code = cb
        .code
        .ok_or_else(|| fail(Refusal::Denied("no code".into())))?;
    let s = settings(&state.pool, attempt.group_id)
        .await
        .map_err(|e| fail(e.into()))?
        .ok_or_else(|| fail(Refusal::NotConfigured))?;
    let secret = client_secret(state, &s.secret_key).map_err(fail)?;
    let meta = discover(&s.issuer).await.map_err(fail)?;
    let redirect = RedirectUrl::new(attempt.redirect_uri.clone())
        .map_err(|e| fail(Refusal::Internal(e.to_string())))?;
    let client =
        CoreClient::from_provider_metadata(meta, ClientId::new(s.client_id.clone()), Some(secret))
            .set_redirect_uri(redirect);
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .map_err(|e| fail(Refusal::Exchange(e.to_string())))?
        .set_pkce_verifier(PkceCodeVerifier::new(attempt.pkce_verifier.clone()))
        .request_async(http())
        .await
        .map_err(|e| fail(Refusal::Exchange(e.to_string())))?;
    let id_token = tokens
        .id_token()
        .ok_or_else(|| fail(Refusal::Token("no ID token".into())))?;
    let verifier = client.id_token_verifier();
    let nonce = Nonce::new(attempt.nonce.clone());
    let claims = id_token.claims(&verifier, &nonce).map_err(|e| {
        fail(match e {
            ClaimsVerificationError::InvalidNonce(_) => Refusal::Nonce,
            ClaimsVerificationError::InvalidIssuer(m) => Refusal::IssuerMismatch(m),
            other => Refusal::Token(other.to_string()),
        })
    })?;
    let subject = claims.subject().to_string();
    // Verified above: the payload is read as JSON for the claims the group maps.
    let raw = payload(&id_token.to_string()).map_err(|e| fail(Refusal::Token(e)))?;
    let email = claims
        .email()
        .map(|e| e.to_string())
        .ok_or_else(|| fail(Refusal::EmailMissing))?;
    if claims.email_verified() == Some(false) {
        return Err(fail(Refusal::EmailUnverified));
    }
    let ident = Identity {
        group: attempt.group_id,
        issuer: s.issuer.clone(),
        subject,
        sid: raw.get("sid").and_then(Value::as_str).map(str::to_string),
        email,
        first_name: text_claim(&raw, "given_name"),
        last_name: text_claim(&raw, "family_name"),
    };
    let role = mapped_role(&raw, &s).ok_or_else(|| Refused {
        group: Some(attempt.group_id),
        label: Some(ident.email.clone()),
        agent: None,
        refusal: Refusal::RoleUnmapped,
    })?;
    let rooftops = match (&s.rooftop_claim, role) {
        (Some(claim), Role::RooftopManager) => {
            matched_rooftops(&state.pool, attempt.group_id, &strings(raw.get(claim)))
                .await
                .map_err(|e| fail(e.into()))?
        }
        _ => Vec::new(),
    };
    let agent = provision(state, &ident, role, &rooftops)
        .await
        .map_err(|(agent, refusal)| Refused {
            group: Some(attempt.group_id),
            label: Some(ident.email.clone()),
            agent,
            refusal,
        })?;
    Ok((agent, json!({ "method": "oidc", "issuer": s.issuer })))
}

/// The JSON payload of a compact JWT (not verified here).
fn payload(jwt: &str) -> Result<Value, String> {
    let part = jwt.split('.').nth(1).ok_or("not a JWT")?;
    let bytes = URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .map_err(|e| e.to_string())?;
    serde_json::from_slice(&bytes).map_err(|e| e.to_string())
}

fn text_claim(raw: &Value, name: &str) -> Option<String> {
    raw.get(name)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.chars().take(100).collect())
}

/// A claim's values: a string, or the strings of a list.
fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

fn rank(r: Role) -> u8 {
    match r {
        Role::Agent => 0,
        Role::RooftopManager => 1,
        Role::Manager => 2,
        Role::Admin => 3,
    }
}

/// The highest of our roles the role claim's values map to; none when absent or unmapped.
fn mapped_role(raw: &Value, s: &SsoSettings) -> Option<Role> {
    strings(raw.get(&s.role_claim))
        .iter()
        .filter_map(|v| s.role_map.get(v))
        .filter_map(|r| Role::parse(r))
        .max_by_key(|r| rank(*r))
}

/// The group's rooftops the claim's values name (by id, or by name ignoring case), sorted.
async fn matched_rooftops(
    pool: &PgPool,
    group: Uuid,
    values: &[String],
) -> sqlx::Result<Vec<Uuid>> {
    let lowered: Vec<String> = values.iter().map(|v| v.trim().to_lowercase()).collect();
    sqlx::query_scalar(
        "SELECT id FROM rooftops WHERE group_id = $1 \
           AND (id::text = ANY($2) OR lower(name) = ANY($2)) ORDER BY id",
    )
    .bind(group)
    .bind(&lowered)
    .fetch_all(pool)
    .await
}

/// Who signed in, per the verified ID token.
struct Identity {
    group: Uuid,
    issuer: String,
    subject: String,
    sid: Option<String>,
    email: String,
    first_name: Option<String>,
    last_name: Option<String>,
}

/// The agent of an identity: found by issuer + `sub`, else an agent of the group with the
/// token's e-mail (linked), else made now (`agent_created` by `system`, source `oidc`, a
/// random password nobody knows). Its role and rooftops are set to the mapped claims' at each
/// sign-in (`role_changed` / `scope_changed` by `system`). A deactivated agent is refused.
async fn provision(
    state: &Rest,
    who: &Identity,
    role: Role,
    rooftops: &[Uuid],
) -> Result<Agent, (Option<Uuid>, Refusal)> {
    let bare = |r: Refusal| (None, r);
    // Twice at most: a first sign-in racing another one of the same person finds its agent.
    for _ in 0..2 {
        let mut tx = state.pool.begin().await.map_err(|e| bare(e.into()))?;
        let known: Option<(Uuid, bool)> = sqlx::query_as(
            "SELECT a.id, a.deactivated_at IS NOT NULL FROM agent_identities i \
             JOIN agents a ON a.id = i.agent_id \
             WHERE i.group_id = $1 AND i.issuer = $2 AND i.subject = $3 FOR UPDATE OF a",
        )
        .bind(who.group)
        .bind(&who.issuer)
        .bind(&who.subject)
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| bare(e.into()))?;
        let found = match known {
            Some(k) => Some(k),
            None => sqlx::query_as(
                "SELECT id, deactivated_at IS NOT NULL FROM agents \
                 WHERE group_id = $1 AND lower(email) = lower($2) FOR UPDATE",
            )
            .bind(who.group)
            .bind(&who.email)
            .fetch_optional(&mut *tx)
            .await
            .map_err(|e| bare(e.into()))?,
        };
        let Some((id, deactivated)) = found else {
            drop(tx);
            match create(state, who, role, rooftops).await {
                Ok(agent) => return Ok(agent),
                Err(DirectoryError::Taken { .. }) => continue,
                Err(e) => return Err(bare(Refusal::Internal(e.to_string()))),
            }
        };
        if deactivated {
            return Err((Some(id), Refusal::Deactivated));
        }
        let current = directory::agent(&mut *tx, id)
            .await
            .map_err(|e| bare(e.into()))?
            .ok_or_else(|| bare(Refusal::Internal("agent vanished".into())))?;
        sqlx::query("UPDATE agents SET role = $3 WHERE id = $1 AND group_id = $2")
            .bind(id)
            .bind(who.group)
            .bind(role.as_str())
            .execute(&mut *tx)
            .await
            .map_err(|e| bare(e.into()))?;
        let before_rooftops = directory::set_rooftops_managed(&mut tx, who.group, id, rooftops)
            .await
            .map_err(|e| bare(e.into()))?;
        link(&mut tx, who, id).await.map_err(|e| bare(e.into()))?;
        let role_changed = current.role != role.as_str();
        if role_changed || before_rooftops != rooftops {
            let kind = if role_changed {
                audit::kind::ROLE_CHANGED
            } else {
                audit::kind::SCOPE_CHANGED
            };
            let event = system_event(who.group, kind, id).detail(json!({
                "source": "oidc",
                "before": { "role": current.role, "rooftop_ids": before_rooftops },
                "after": { "role": role.as_str(), "rooftop_ids": rooftops },
            }));
            audit::record(&mut tx, &event)
                .await
                .map_err(|e| bare(Refusal::Internal(e.to_string())))?;
        }
        tx.commit().await.map_err(|e| bare(e.into()))?;
        let agent = directory::agent(&state.pool, id)
            .await
            .map_err(|e| bare(e.into()))?
            .ok_or_else(|| bare(Refusal::Internal("agent vanished".into())))?;
        return Ok(agent);
    }
    Err(bare(Refusal::Internal(
        "the agent could not be made or found".into(),
    )))
}

/// Makes the agent of a first sign-in, then links the identity to it.
async fn create(
    state: &Rest,
    who: &Identity,
    role: Role,
    rooftops: &[Uuid],
) -> Result<Agent, DirectoryError> {
    let local = who.email.split('@').next().unwrap_or("agent").to_string();
    let first = who.first_name.clone().unwrap_or(local);
    let last = who.last_name.clone().unwrap_or_default();
    // A password nobody knows: the agent signs in through the provider.
    let password = random_token();
    let event = system_event(who.group, audit::kind::AGENT_CREATED, Uuid::nil()).detail(json!({
        "source": "oidc",
        "issuer": who.issuer,
        "role": role.as_str(),
        "rooftop_ids": rooftops,
    }));
    let id = directory::create_agent(
        &state.pool,
        &state.limits,
        who.group,
        AgentInput {
            email: &who.email,
            password: &password,
            first_name: &first,
            last_name: &last,
            role: role.as_str(),
            max_chats: 3,
            department_ids: &[],
            rooftop_ids: rooftops,
        },
        event,
    )
    .await?;
    let mut tx = state.pool.begin().await?;
    link(&mut tx, who, id).await?;
    tx.commit().await?;
    Ok(directory::agent(&state.pool, id)
        .await?
        .ok_or(sqlx::Error::RowNotFound)?)
}

/// Records (or refreshes) the identity → agent link and the provider's session id.
async fn link(tx: &mut sqlx::PgConnection, who: &Identity, agent: Uuid) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO agent_identities (group_id, issuer, subject, agent_id, last_sid) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (group_id, issuer, subject) DO UPDATE \
           SET agent_id = $4, last_sid = $5, last_sign_in = now()",
    )
    .bind(who.group)
    .bind(&who.issuer)
    .bind(&who.subject)
    .bind(agent)
    .bind(&who.sid)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// An event done by the system (the identity provider's word), about an agent (`nil`: the
/// subject is filled in by the writer, as `create_agent` does).
fn system_event(group: Uuid, kind: &'static str, agent: Uuid) -> audit::Event {
    audit::Event {
        group_id: group,
        actor_id: None,
        actor_label: "system".into(),
        kind,
        subject: (!agent.is_nil()).then(|| format!("agent:{agent}")),
        client: None,
        detail: json!({}),
    }
}

/// The audit row of a refused sign-in through the provider (recorded after: nothing changed).
pub(crate) async fn record_refusal(
    state: &Rest,
    refused: &Refused,
    client: &Option<ClientAddress>,
) {
    tracing::info!(code = refused.refusal.code(), reason = %refused.refusal, "single sign-on refused");
    let Some(group) = refused.group else { return };
    audit::record_after(
        &state.pool,
        audit::Event {
            group_id: group,
            actor_id: None,
            actor_label: refused.label.clone().unwrap_or_else(|| "oidc".into()),
            kind: audit::kind::SIGN_IN_FAILED,
            subject: refused.agent.map(|a| format!("agent:{a}")),
            client: client.clone(),
            detail: json!({
                "method": "oidc",
                "reason": refused.refusal.code().trim_start_matches("sso_"),
                "detail": refused.refusal.to_string(),
            }),
        },
    )
    .await;
}

/// What a back-channel logout did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LoggedOut {
    /// No agent has that identity.
    Nobody,
    /// The agent's sessions were ended.
    Sessions,
    /// The provider said the account is gone or disabled: the agent was deactivated.
    Deactivated,
}

fn bad_token(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("invalid_logout_token", message)
}

/// A back-channel logout (OpenID Connect Back-Channel Logout 1.0) for `group`'s provider:
/// the logout token's signature by the provider's JWKS (asymmetric algorithms the provider
/// announces), `iss`, `aud`, `iat` (within ten minutes), the `events` claim, `sub` or `sid`, no
/// `nonce`, a `jti` never used before. Ends every session of the identity's agent; when the
/// token also carries a RISC `account-disabled` or `account-purged` event, deactivates the
/// agent (`deactivate_agent`, which ends the sessions too).
pub(crate) async fn backchannel_logout(
    state: &Rest,
    group: Uuid,
    token: &str,
) -> Result<LoggedOut, ApiError> {
    let s = settings(&state.pool, group)
        .await?
        .ok_or_else(|| ApiError::not_found("identity provider"))?;
    let meta = discover(&s.issuer)
        .await
        .map_err(|e| ApiError::unavailable(e.to_string()))?;
    let claims = verify_logout_token(token, &meta, &s.client_id)?;
    let jti = claims
        .get("jti")
        .and_then(Value::as_str)
        .ok_or_else(|| bad_token("the logout token has no jti"))?;
    let sub = claims.get("sub").and_then(Value::as_str);
    let sid = claims.get("sid").and_then(Value::as_str);
    let events = claims.get("events").and_then(Value::as_object);
    let gone = events.is_some_and(|e| ACCOUNT_GONE_EVENTS.iter().any(|k| e.contains_key(*k)));
    let fresh = sqlx::query(
        "INSERT INTO sso_logout_tokens (group_id, jti, expires_at) \
         VALUES ($1, $2, now() + make_interval(secs => $3)) ON CONFLICT DO NOTHING",
    )
    .bind(group)
    .bind(jti)
    .bind((LOGOUT_WINDOW_SECS + LOGOUT_SKEW_SECS) as f64)
    .execute(&state.pool)
    .await?;
    if fresh.rows_affected() == 0 {
        return Err(bad_token("this logout token was used already"));
    }
    sqlx::query("DELETE FROM sso_logout_tokens WHERE expires_at < now()")
        .execute(&state.pool)
        .await?;
    let agents: Vec<Uuid> = sqlx::query_scalar(
        "SELECT agent_id FROM agent_identities WHERE group_id = $1 AND issuer = $2 \
           AND (($3::text IS NOT NULL AND subject = $3) OR ($3::text IS NULL AND last_sid = $4))",
    )
    .bind(group)
    .bind(&s.issuer)
    .bind(sub)
    .bind(sid)
    .fetch_all(&state.pool)
    .await?;
    let mut outcome = LoggedOut::Nobody;
    for agent in agents {
        let detail = json!({ "source": "oidc", "issuer": s.issuer, "sid": sid,
            "reason": if gone { "account_disabled" } else { "logout" } });
        if gone {
            let event =
                system_event(group, audit::kind::AGENT_DEACTIVATED, agent).detail(detail.clone());
            match directory::deactivate_agent(&state.pool, group, agent, &event).await? {
                directory::Deactivation::Done => {
                    outcome = LoggedOut::Deactivated;
                    continue;
                }
                directory::Deactivation::Missing => continue,
                // Still holding chats: a manager reassigns them and deactivates; the
                // sessions end now all the same, and the provider refuses new sign-ins.
                directory::Deactivation::HoldsChats(n) => {
                    tracing::warn!(%agent, chats = n, "provider disabled an agent who holds chats: sessions ended, not deactivated");
                }
            }
        }
        let mut tx = state.pool.begin().await?;
        sqlx::query("DELETE FROM agent_sessions WHERE agent_id = $1 AND group_id = $2")
            .bind(agent)
            .bind(group)
            .execute(&mut *tx)
            .await?;
        let event = system_event(group, audit::kind::SSO_LOGOUT, agent).detail(detail);
        audit::record(&mut tx, &event)
            .await
            .map_err(audit::required)?;
        tx.commit().await?;
        if outcome == LoggedOut::Nobody {
            outcome = LoggedOut::Sessions;
        }
    }
    Ok(outcome)
}

/// Checks a logout token against the provider's metadata and keys; answers its claims.
fn verify_logout_token(
    token: &str,
    meta: &CoreProviderMetadata,
    client_id: &str,
) -> Result<serde_json::Map<String, Value>, ApiError> {
    let parts: Vec<&str> = token.trim().split('.').collect();
    let [header, body, signature] = parts[..] else {
        return Err(bad_token("the logout token is not a signed JWT"));
    };
    let decode = |p: &str| {
        URL_SAFE_NO_PAD
            .decode(p)
            .map_err(|_| bad_token("the logout token is not base64url"))
    };
    let header: Value = serde_json::from_slice(&decode(header)?)
        .map_err(|_| bad_token("the logout token's header is not JSON"))?;
    let alg: CoreJwsSigningAlgorithm = serde_json::from_value(header["alg"].clone())
        .map_err(|_| bad_token("the logout token's algorithm is unknown"))?;
    let symmetric = matches!(
        alg,
        CoreJwsSigningAlgorithm::HmacSha256
            | CoreJwsSigningAlgorithm::HmacSha384
            | CoreJwsSigningAlgorithm::HmacSha512
            | CoreJwsSigningAlgorithm::None
    );
    if symmetric || !meta.id_token_signing_alg_values_supported().contains(&alg) {
        return Err(bad_token(
            "the logout token is not signed with the provider's keys",
        ));
    }
    let kid = header.get("kid").and_then(Value::as_str);
    let signature = decode(signature)?;
    let message = format!("{}.{}", parts[0], body);
    let signed = meta
        .jwks()
        .keys()
        .iter()
        .filter(|k| kid.is_none_or(|kid| k.key_id().is_some_and(|id| id.as_str() == kid)))
        .any(|k| {
            k.verify_signature(&alg, message.as_bytes(), &signature)
                .is_ok()
        });
    if !signed {
        return Err(bad_token(
            "the logout token's signature is not the provider's",
        ));
    }
    let claims: serde_json::Map<String, Value> = serde_json::from_slice(&decode(body)?)
        .map_err(|_| bad_token("the logout token's claims are not a JSON object"))?;
    if claims.get("iss").and_then(Value::as_str) != Some(meta.issuer().as_str()) {
        return Err(bad_token("the logout token's issuer is not the provider"));
    }
    let audience = match claims.get("aud") {
        Some(Value::String(a)) => a == client_id,
        Some(Value::Array(a)) => a.iter().any(|v| v.as_str() == Some(client_id)),
        _ => false,
    };
    if !audience {
        return Err(bad_token("the logout token is not for this client"));
    }
    let now = chrono::Utc::now().timestamp();
    let iat = claims
        .get("iat")
        .and_then(Value::as_i64)
        .ok_or_else(|| bad_token("the logout token has no iat"))?;
    if iat > now + LOGOUT_SKEW_SECS || iat < now - LOGOUT_WINDOW_SECS {
        return Err(bad_token("the logout token is too old or from the future"));
    }
    if claims
        .get("exp")
        .and_then(Value::as_i64)
        .is_some_and(|exp| exp < now - LOGOUT_SKEW_SECS)
    {
        return Err(bad_token("the logout token has expired"));
    }
    let event = claims
        .get("events")
        .and_then(Value::as_object)
        .and_then(|e| e.get(BACKCHANNEL_EVENT))
        .is_some_and(Value::is_object);
    if !event {
        return Err(bad_token(
            "the logout token has no back-channel logout event",
        ));
    }
    if claims.contains_key("nonce") {
        return Err(bad_token("a logout token must not carry a nonce"));
    }
    let named = |k: &str| {
        claims
            .get(k)
            .and_then(Value::as_str)
            .is_some_and(|v| !v.is_empty())
    };
    if !named("sub") && !named("sid") {
        return Err(bad_token("the logout token names neither sub nor sid"));
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings_with(map: &[(&str, &str)]) -> SsoSettings {
        SsoSettings {
            issuer: "https://idp.example".into(),
            client_id: "c".into(),
            secret_key: "k".into(),
            display_name: "Okta".into(),
            email_domains: vec!["example.com".into()],
            role_claim: "groups".into(),
            role_map: map
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            rooftop_claim: None,
            password_sign_in: true,
        }
    }

    #[test]
    fn the_highest_mapped_role_wins_and_unmapped_is_none() {
        let s = settings_with(&[("sales", "agent"), ("it", "admin"), ("bad", "king")]);
        let raw = json!({ "groups": ["sales", "it", "other"] });
        assert_eq!(mapped_role(&raw, &s), Some(Role::Admin));
        assert_eq!(
            mapped_role(&json!({ "groups": "sales" }), &s),
            Some(Role::Agent)
        );
        assert_eq!(
            mapped_role(&json!({ "groups": ["bad", "other"] }), &s),
            None
        );
        assert_eq!(mapped_role(&json!({}), &s), None);
    }

    #[test]
    fn domains_are_lowercased_and_need_an_at() {
        assert_eq!(domain_of(" Ann@Example.COM "), Some("example.com".into()));
        assert_eq!(domain_of("nobody"), None);
        assert_eq!(domain_of("a@"), None);
    }
}
