//! Multi-factor sign-in (tables of migration `20261203000028_mfa.sql`, owned by the gateway):
//! the group's [`Policy`], TOTP authenticators (RFC 6238 through `totp-rs`: SHA-1, 6 digits,
//! 30 s, ±1 step) with their secret sealed at rest, one-time recovery codes, passkeys
//! (WebAuthn through `webauthn-rs`, ceremony state in Postgres), and the sign-in's second-step
//! tickets. The handlers are in `mfa_api.rs`.
//!
//! **A code is used once.** `agent_totp.last_step` is the newest 30-second step accepted; a
//! code is accepted only by `UPDATE … SET last_step = step WHERE last_step < step`, so a
//! replayed code, an older one, and the loser of two concurrent uses of one code are refused.
//! Recovery codes are spent by `UPDATE … SET used_at = now() WHERE used_at IS NULL`, the same
//! way.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::{PgPool, Postgres, Transaction};
use totp_rs::{Algorithm, TOTP};
use uuid::Uuid;
use webauthn_rs::prelude::{
    CreationChallengeResponse, Passkey, PasskeyAuthentication, PasskeyRegistration,
    PublicKeyCredential, RegisterPublicKeyCredential, RequestChallengeResponse, Webauthn,
    WebauthnBuilder,
};

use crate::audit;
use crate::directory::{Agent, Role};
use crate::error::ApiError;
use crate::{Rest, Settings};

/// How long a second-step ticket and a WebAuthn ceremony last.
pub const TICKET_SECS: i64 = 300;
/// Wrong codes one ticket takes before it is void (the login limits count them too).
const TICKET_FAILURES: i32 = 5;
/// How many recovery codes an agent holds.
pub const RECOVERY_CODES: usize = 10;
/// The issuer an authenticator app shows beside the account.
const ISSUER: &str = "Showroom";
/// TOTP: 30-second steps.
const STEP: u64 = 30;

/// Who of a dealer group must sign in with a second factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    /// Rooftop managers, managers and admins (every group's default).
    Privileged,
    /// Every agent.
    Everyone,
    /// Nobody (a factor an agent enrolled is still asked for).
    Off,
}

impl Policy {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Privileged => "privileged",
            Self::Everyone => "everyone",
            Self::Off => "off",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "everyone" => Self::Everyone,
            "off" => Self::Off,
            _ => Self::Privileged,
        }
    }

    /// Whether an agent of `role` must have a second factor.
    pub fn requires(self, role: Role) -> bool {
        match self {
            Self::Everyone => true,
            Self::Off => false,
            Self::Privileged => role != Role::Agent,
        }
    }
}

/// The key that seals TOTP secrets (AES-256-GCM); never printed.
#[derive(Clone)]
pub struct MfaKey([u8; 32]);

impl std::fmt::Debug for MfaKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MfaKey(…)")
    }
}

impl MfaKey {
    /// The key derived from configured secret bytes (HMAC-SHA-256, so any length works and the
    /// same secret used elsewhere gives a different key).
    pub fn derive(secret: &[u8]) -> Self {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes a key of any length");
        mac.update(b"showroom mfa: totp secrets at rest, v1");
        Self(mac.finalize().into_bytes().into())
    }

    /// Seals `secret` for `agent` (bound to the agent: a row copied to another agent does not
    /// open): a random 12-byte nonce followed by the ciphertext.
    fn seal(&self, agent: Uuid, secret: &[u8]) -> Result<Vec<u8>, ApiError> {
        let cipher = Aes256Gcm::new((&self.0).into());
        let mut nonce = [0u8; 12];
        rand::rng().fill_bytes(&mut nonce);
        let sealed = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: secret,
                    aad: agent.as_bytes(),
                },
            )
            .map_err(|_| ApiError::internal("sealing a TOTP secret failed"))?;
        Ok([nonce.as_slice(), &sealed].concat())
    }

    /// Opens what [`MfaKey::seal`] sealed for `agent`.
    fn open(&self, agent: Uuid, sealed: &[u8]) -> Result<Vec<u8>, ApiError> {
        if sealed.len() < 12 {
            return Err(ApiError::internal("a sealed TOTP secret is too short"));
        }
        let (nonce, body) = sealed.split_at(12);
        Aes256Gcm::new((&self.0).into())
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: body,
                    aad: agent.as_bytes(),
                },
            )
            .map_err(|_| {
                ApiError::internal(
                    "a TOTP secret does not open with this MFA key (was it changed?)",
                )
            })
    }
}

/// The relying party of passkeys: the gateway's public URL (`SHOWROOM_PUBLIC_URL`); none
/// without it.
pub fn webauthn(settings: &Settings) -> Option<Webauthn> {
    let url = settings.public_url.as_ref()?;
    let rp_id = url.host_str()?;
    let built = WebauthnBuilder::new(rp_id, url).and_then(|b| b.rp_name(ISSUER).build());
    match built {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!(error = %e, url = %url, "passkeys are off: the public URL is no relying party");
            None
        }
    }
}

/// The relying party, or 409 `passkeys_unavailable`.
pub fn webauthn_or_409(settings: &Settings) -> Result<Webauthn, ApiError> {
    webauthn(settings).ok_or_else(|| {
        ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "passkeys_unavailable",
            "passkeys are not set up on this server (SHOWROOM_PUBLIC_URL)",
        )
    })
}

/// A group's policy.
pub async fn policy(pool: &PgPool, group: Uuid) -> Result<Policy, ApiError> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT mfa_policy FROM dealer_groups WHERE id = $1")
            .bind(group)
            .fetch_optional(pool)
            .await?;
    Ok(row
        .map(|(p,)| Policy::parse(&p))
        .unwrap_or(Policy::Privileged))
}

/// Sets a group's policy with its audit row (`before`, `after`); answers the one before.
pub async fn set_policy(
    pool: &PgPool,
    group: Uuid,
    policy: Policy,
    event: audit::Event,
) -> Result<Policy, ApiError> {
    let mut tx = pool.begin().await?;
    let (before,): (String,) =
        sqlx::query_as("SELECT mfa_policy FROM dealer_groups WHERE id = $1 FOR UPDATE")
            .bind(group)
            .fetch_one(&mut *tx)
            .await?;
    sqlx::query("UPDATE dealer_groups SET mfa_policy = $2 WHERE id = $1")
        .bind(group)
        .bind(policy.as_str())
        .execute(&mut *tx)
        .await?;
    let event = event.detail(serde_json::json!({
        "before": { "mfa_policy": before },
        "after": { "mfa_policy": policy.as_str() },
    }));
    audit::record(&mut tx, &event)
        .await
        .map_err(audit::required)?;
    tx.commit().await?;
    Ok(Policy::parse(&before))
}

/// The factors an agent holds.
#[derive(Debug, Clone, Default)]
pub struct Factors {
    /// A confirmed TOTP authenticator.
    pub totp: bool,
    /// A TOTP enrolment started, not confirmed.
    pub totp_pending: bool,
    /// How many passkeys.
    pub passkeys: i64,
    /// Recovery codes not spent yet.
    pub recovery_left: i64,
}

impl Factors {
    /// Whether the agent holds any second factor.
    pub fn any(&self) -> bool {
        self.totp || self.passkeys > 0
    }
}

/// What `agent` holds.
pub async fn factors(pool: &PgPool, agent: Uuid) -> Result<Factors, ApiError> {
    let (totp, pending, passkeys, left): (bool, bool, i64, i64) = sqlx::query_as(
        "SELECT EXISTS (SELECT 1 FROM agent_totp WHERE agent_id = $1 AND confirmed_at IS NOT NULL), \
           EXISTS (SELECT 1 FROM agent_totp WHERE agent_id = $1 AND confirmed_at IS NULL), \
           (SELECT count(*) FROM agent_passkeys WHERE agent_id = $1), \
           (SELECT count(*) FROM agent_recovery_codes WHERE agent_id = $1 AND used_at IS NULL)",
    )
    .bind(agent)
    .fetch_one(pool)
    .await?;
    Ok(Factors {
        totp,
        totp_pending: pending,
        passkeys,
        recovery_left: left,
    })
}

fn random_token() -> String {
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    URL_SAFE_NO_PAD.encode(raw)
}

fn sha256(text: &[u8]) -> Vec<u8> {
    Sha256::digest(text).to_vec()
}

// ---- tickets ---------------------------------------------------------------------------

/// A password matched and a second factor is due: the ticket's token (given to the client
/// once) for `agent`; `enrol_only` when the agent must first enrol one.
pub async fn issue_ticket(
    pool: &PgPool,
    agent: &Agent,
    enrol_only: bool,
) -> Result<String, ApiError> {
    let token = random_token();
    sqlx::query("DELETE FROM mfa_tickets WHERE expires_at < now()")
        .execute(pool)
        .await?;
    sqlx::query(
        "INSERT INTO mfa_tickets (token_hash, agent_id, group_id, enrol_only, expires_at) \
         VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))",
    )
    .bind(sha256(token.as_bytes()))
    .bind(agent.id)
    .bind(agent.group_id)
    .bind(enrol_only)
    .bind(TICKET_SECS as f64)
    .execute(pool)
    .await?;
    Ok(token)
}

/// A live ticket: whose it is, and what it allows.
#[derive(Debug, Clone)]
pub struct Ticket {
    hash: Vec<u8>,
    /// The agent signing in.
    pub agent: Agent,
    /// It only lets the agent enrol a factor.
    pub enrol_only: bool,
}

fn ticket_gone() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::UNAUTHORIZED,
        "ticket_expired",
        "this sign-in has expired or was used; sign in with your password again",
    )
}

/// The ticket of `token`, if live and its agent still active: else 401 `ticket_expired`.
pub async fn ticket(pool: &PgPool, token: &str) -> Result<Ticket, ApiError> {
    let hash = sha256(token.as_bytes());
    let row: Option<(Uuid, bool)> = sqlx::query_as(
        "SELECT t.agent_id, t.enrol_only FROM mfa_tickets t JOIN agents a ON a.id = t.agent_id \
         WHERE t.token_hash = $1 AND t.expires_at > now() AND a.deactivated_at IS NULL",
    )
    .bind(&hash)
    .fetch_optional(pool)
    .await?;
    let (agent_id, enrol_only) = row.ok_or_else(ticket_gone)?;
    let agent = crate::directory::agent(pool, agent_id)
        .await?
        .ok_or_else(ticket_gone)?;
    Ok(Ticket {
        hash,
        agent,
        enrol_only,
    })
}

/// A wrong code on `ticket`: the fifth voids it.
pub async fn ticket_failed(pool: &PgPool, ticket: &Ticket) -> Result<(), ApiError> {
    sqlx::query(
        "WITH f AS (UPDATE mfa_tickets SET failures = failures + 1 WHERE token_hash = $1 \
           RETURNING failures) \
         DELETE FROM mfa_tickets WHERE token_hash = $1 AND (SELECT failures FROM f) >= $2",
    )
    .bind(&ticket.hash)
    .bind(TICKET_FAILURES)
    .execute(pool)
    .await?;
    Ok(())
}

/// Takes `ticket` for the sign-in it completes: once (401 `ticket_expired` for a second).
pub async fn take_ticket(pool: &PgPool, ticket: &Ticket) -> Result<(), ApiError> {
    let done = sqlx::query("DELETE FROM mfa_tickets WHERE token_hash = $1 AND expires_at > now()")
        .bind(&ticket.hash)
        .execute(pool)
        .await?;
    if done.rows_affected() == 1 {
        Ok(())
    } else {
        Err(ticket_gone())
    }
}

// ---- TOTP ------------------------------------------------------------------------------

/// A TOTP enrolment to scan: the secret, its `otpauth://` URI and that URI as a QR code.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TotpEnrolment {
    /// The secret in base32 (RFC 4648, no padding), to type into an app.
    pub secret: String,
    /// `otpauth://totp/Showroom:<e-mail>?secret=…&issuer=Showroom` (SHA-1, 6 digits, 30 s).
    pub otpauth_uri: String,
    /// The URI as a QR code, an SVG document.
    pub qr_svg: String,
}

fn totp_of(secret: Vec<u8>, account: &str) -> Result<TOTP, ApiError> {
    // An e-mail with a colon cannot be an otpauth label; the app shows the account anyway.
    let account = account.replace(':', "_");
    TOTP::new(
        Algorithm::SHA1,
        6,
        0,
        STEP,
        secret,
        Some(ISSUER.to_string()),
        account,
    )
    .map_err(ApiError::internal)
}

/// Starts (or restarts) `agent`'s TOTP enrolment: a new secret, pending until confirmed. 409
/// `already_enrolled` when they have a confirmed one.
pub async fn start_totp(state: &Rest, agent: &Agent) -> Result<TotpEnrolment, ApiError> {
    let mut secret = vec![0u8; 20];
    rand::rng().fill_bytes(&mut secret);
    let totp = totp_of(secret.clone(), &agent.email)?;
    let sealed = state.settings.mfa_key.seal(agent.id, &secret)?;
    let done = sqlx::query(
        "INSERT INTO agent_totp (agent_id, group_id, secret_sealed) VALUES ($1, $2, $3) \
         ON CONFLICT (agent_id) DO UPDATE SET secret_sealed = EXCLUDED.secret_sealed, \
           created_at = now(), last_step = 0 \
         WHERE agent_totp.confirmed_at IS NULL",
    )
    .bind(agent.id)
    .bind(agent.group_id)
    .bind(sealed)
    .execute(&state.pool)
    .await?;
    if done.rows_affected() == 0 {
        return Err(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "already_enrolled",
            "an authenticator app is set up already; remove it first to set up another",
        ));
    }
    let uri = totp.get_url();
    let qr_svg = qrcode::QrCode::new(uri.as_bytes())
        .map_err(ApiError::internal)?
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(200, 200)
        .build();
    Ok(TotpEnrolment {
        secret: totp.get_secret_base32(),
        otpauth_uri: uri,
        qr_svg,
    })
}

/// The step of `now` (Unix seconds) ±1 whose code is `code`, if any.
fn matching_step(totp: &TOTP, code: &str, now: u64) -> Option<i64> {
    let code = code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let current = now / STEP;
    [current, current.saturating_sub(1), current + 1]
        .into_iter()
        .find(|step| totp.check(code, step * STEP))
        .map(|step| step as i64)
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `agent`'s TOTP secret and whether it is confirmed, if they have one.
async fn totp_secret(state: &Rest, agent: &Agent) -> Result<Option<(TOTP, bool)>, ApiError> {
    let row: Option<(Vec<u8>, bool)> = sqlx::query_as(
        "SELECT secret_sealed, confirmed_at IS NOT NULL FROM agent_totp WHERE agent_id = $1",
    )
    .bind(agent.id)
    .fetch_optional(&state.pool)
    .await?;
    let Some((sealed, confirmed)) = row else {
        return Ok(None);
    };
    let secret = state.settings.mfa_key.open(agent.id, &sealed)?;
    Ok(Some((totp_of(secret, &agent.email)?, confirmed)))
}

/// Whether `code` is a current code of `agent`'s confirmed authenticator not used before;
/// accepting it records its step, atomically.
pub async fn check_totp(state: &Rest, agent: &Agent, code: &str) -> Result<bool, ApiError> {
    let Some((totp, true)) = totp_secret(state, agent).await? else {
        return Ok(false);
    };
    let Some(step) = matching_step(&totp, code, unix_now()) else {
        return Ok(false);
    };
    let won = sqlx::query(
        "UPDATE agent_totp SET last_step = $2 \
         WHERE agent_id = $1 AND confirmed_at IS NOT NULL AND last_step < $2",
    )
    .bind(agent.id)
    .bind(step)
    .execute(&state.pool)
    .await?;
    Ok(won.rows_affected() == 1)
}

/// Confirms `agent`'s pending TOTP with a first code: active from now, with the audit row
/// `mfa_enrolled`. Answers new recovery codes when the agent held none (else `None`). 400
/// naming `code` when it is wrong; 409 `not_started` without a pending enrolment.
pub async fn confirm_totp(
    state: &Rest,
    agent: &Agent,
    code: &str,
    event: audit::Event,
) -> Result<Option<Vec<String>>, ApiError> {
    let (totp, confirmed) = totp_secret(state, agent).await?.ok_or_else(not_started)?;
    if confirmed {
        return Err(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "already_enrolled",
            "the authenticator app is set up already",
        ));
    }
    let step = matching_step(&totp, code, unix_now())
        .ok_or_else(|| crate::validate::invalid("code", "is not the code your app shows now"))?;
    let mut tx = state.pool.begin().await?;
    let done = sqlx::query(
        "UPDATE agent_totp SET confirmed_at = now(), last_step = $2 \
         WHERE agent_id = $1 AND confirmed_at IS NULL",
    )
    .bind(agent.id)
    .bind(step)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() != 1 {
        return Err(not_started());
    }
    let codes = first_recovery_codes(&mut tx, agent).await?;
    audit::record(
        &mut tx,
        &event.detail(serde_json::json!({ "method": "totp" })),
    )
    .await
    .map_err(audit::required)?;
    tx.commit().await?;
    Ok(codes)
}

fn not_started() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::CONFLICT,
        "not_started",
        "start setting up the authenticator app first",
    )
}

/// Removes `agent`'s TOTP (`mfa_removed`); with the last factor gone, the recovery codes go too.
/// 404 when they have none.
pub async fn remove_totp(
    pool: &PgPool,
    agent: &Agent,
    event: audit::Event,
) -> Result<(), ApiError> {
    let mut tx = pool.begin().await?;
    let done =
        sqlx::query("DELETE FROM agent_totp WHERE agent_id = $1 AND confirmed_at IS NOT NULL")
            .bind(agent.id)
            .execute(&mut *tx)
            .await?;
    if done.rows_affected() == 0 {
        return Err(ApiError::not_found("authenticator app"));
    }
    drop_codes_without_factor(&mut tx, agent.id).await?;
    audit::record(
        &mut tx,
        &event.detail(serde_json::json!({ "method": "totp" })),
    )
    .await
    .map_err(audit::required)?;
    tx.commit().await?;
    Ok(())
}

async fn drop_codes_without_factor(
    tx: &mut Transaction<'_, Postgres>,
    agent: Uuid,
) -> Result<(), ApiError> {
    sqlx::query(
        "DELETE FROM agent_recovery_codes WHERE agent_id = $1 \
           AND NOT EXISTS (SELECT 1 FROM agent_totp WHERE agent_id = $1 AND confirmed_at IS NOT NULL) \
           AND NOT EXISTS (SELECT 1 FROM agent_passkeys WHERE agent_id = $1)",
    )
    .bind(agent)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

// ---- recovery codes --------------------------------------------------------------------

/// A recovery code as typed: lower case, without dashes and spaces.
fn normalise_code(code: &str) -> String {
    code.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

/// Replaces `agent`'s recovery codes with ten new ones, answered once (`xxxx-xxxx-xxxx-xxxx`,
/// 80 random bits each); only their SHA-256 is stored.
pub async fn new_recovery_codes(
    tx: &mut Transaction<'_, Postgres>,
    agent: &Agent,
) -> Result<Vec<String>, ApiError> {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";
    sqlx::query("DELETE FROM agent_recovery_codes WHERE agent_id = $1")
        .bind(agent.id)
        .execute(&mut **tx)
        .await?;
    let mut codes = Vec::with_capacity(RECOVERY_CODES);
    for _ in 0..RECOVERY_CODES {
        let mut raw = [0u8; 16];
        rand::rng().fill_bytes(&mut raw);
        let chars: String = raw
            .iter()
            .map(|b| ALPHABET[usize::from(b & 31)] as char)
            .collect();
        let code = format!(
            "{}-{}-{}-{}",
            &chars[0..4],
            &chars[4..8],
            &chars[8..12],
            &chars[12..16]
        );
        sqlx::query(
            "INSERT INTO agent_recovery_codes (agent_id, group_id, code_hash) VALUES ($1, $2, $3)",
        )
        .bind(agent.id)
        .bind(agent.group_id)
        .bind(sha256(normalise_code(&code).as_bytes()))
        .execute(&mut **tx)
        .await?;
        codes.push(code);
    }
    Ok(codes)
}

/// New codes when the agent holds none unspent (their first factor), else `None`.
async fn first_recovery_codes(
    tx: &mut Transaction<'_, Postgres>,
    agent: &Agent,
) -> Result<Option<Vec<String>>, ApiError> {
    let (left,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM agent_recovery_codes WHERE agent_id = $1 AND used_at IS NULL",
    )
    .bind(agent.id)
    .fetch_one(&mut **tx)
    .await?;
    if left > 0 {
        Ok(None)
    } else {
        Ok(Some(new_recovery_codes(tx, agent).await?))
    }
}

/// Spends one of `agent`'s recovery codes: true when `code` was one not spent yet.
pub async fn use_recovery_code(pool: &PgPool, agent: &Agent, code: &str) -> Result<bool, ApiError> {
    let code = normalise_code(code);
    if code.len() != 16 {
        return Ok(false);
    }
    let done = sqlx::query(
        "UPDATE agent_recovery_codes SET used_at = now() WHERE id = ( \
           SELECT id FROM agent_recovery_codes WHERE agent_id = $1 AND code_hash = $2 \
             AND used_at IS NULL LIMIT 1 FOR UPDATE SKIP LOCKED) AND used_at IS NULL",
    )
    .bind(agent.id)
    .bind(sha256(code.as_bytes()))
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Regenerates `agent`'s recovery codes (`recovery_codes_regenerated`); 409 `no_factor` when
/// they hold no second factor.
pub async fn regenerate_codes(
    state: &Rest,
    agent: &Agent,
    event: audit::Event,
) -> Result<Vec<String>, ApiError> {
    if !factors(&state.pool, agent.id).await?.any() {
        return Err(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "no_factor",
            "set up an authenticator app or a passkey first",
        ));
    }
    let mut tx = state.pool.begin().await?;
    let codes = new_recovery_codes(&mut tx, agent).await?;
    audit::record(&mut tx, &event)
        .await
        .map_err(audit::required)?;
    tx.commit().await?;
    Ok(codes)
}

// ---- passkeys --------------------------------------------------------------------------

/// A passkey as Profile lists it.
#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct PasskeyView {
    /// Its id.
    pub id: Uuid,
    /// The name the agent gave it.
    pub name: String,
    /// When it was added.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// When it last signed in.
    pub last_used_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// `agent`'s passkeys, oldest first.
pub async fn passkeys(pool: &PgPool, agent: Uuid) -> Result<Vec<PasskeyView>, ApiError> {
    Ok(sqlx::query_as(
        "SELECT id, name, created_at, last_used_at FROM agent_passkeys WHERE agent_id = $1 \
         ORDER BY created_at, id",
    )
    .bind(agent)
    .fetch_all(pool)
    .await?)
}

async fn stored_passkeys(pool: &PgPool, agent: Uuid) -> Result<Vec<(Uuid, Passkey)>, ApiError> {
    let rows: Vec<(Uuid, serde_json::Value)> =
        sqlx::query_as("SELECT id, passkey FROM agent_passkeys WHERE agent_id = $1")
            .bind(agent)
            .fetch_all(pool)
            .await?;
    rows.into_iter()
        .map(|(id, v)| {
            serde_json::from_value(v)
                .map(|p| (id, p))
                .map_err(ApiError::internal)
        })
        .collect()
}

/// Keeps a ceremony's `state` for five minutes and answers the challenge: its id with the
/// `options` the browser passes to `navigator.credentials`.
async fn keep_ceremony(
    pool: &PgPool,
    agent: &Agent,
    kind: &str,
    state: &impl Serialize,
    options: &impl Serialize,
) -> Result<PasskeyChallenge, ApiError> {
    let state = serde_json::to_value(state).map_err(ApiError::internal)?;
    let options = serde_json::to_value(options).map_err(ApiError::internal)?;
    let id = Uuid::new_v4();
    sqlx::query("DELETE FROM mfa_ceremonies WHERE expires_at < now()")
        .execute(pool)
        .await?;
    sqlx::query(
        "INSERT INTO mfa_ceremonies (id, agent_id, group_id, kind, state, expires_at) \
         VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6))",
    )
    .bind(id)
    .bind(agent.id)
    .bind(agent.group_id)
    .bind(kind)
    .bind(state)
    .bind(TICKET_SECS as f64)
    .execute(pool)
    .await?;
    Ok(PasskeyChallenge {
        ceremony_id: id,
        options,
    })
}

/// Takes (once) `agent`'s live ceremony `id` of `kind`; 400 `ceremony_expired` otherwise.
async fn take_ceremony<T: serde::de::DeserializeOwned>(
    pool: &PgPool,
    agent: &Agent,
    kind: &str,
    id: Uuid,
) -> Result<T, ApiError> {
    let row: Option<(serde_json::Value,)> = sqlx::query_as(
        "DELETE FROM mfa_ceremonies WHERE id = $1 AND agent_id = $2 AND kind = $3 \
           AND expires_at > now() RETURNING state",
    )
    .bind(id)
    .bind(agent.id)
    .bind(kind)
    .fetch_optional(pool)
    .await?;
    let (state,) = row.ok_or_else(|| {
        ApiError::bad_request(
            "ceremony_expired",
            "this passkey request has expired or was used; start again",
        )
    })?;
    serde_json::from_value(state).map_err(ApiError::internal)
}

/// What the browser passes to `navigator.credentials.create` or `.get`, and the ceremony to
/// finish.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PasskeyChallenge {
    /// Names this ceremony in the finish.
    pub ceremony_id: Uuid,
    /// WebAuthn options: `{"publicKey": …}` with binary fields in base64url.
    #[schema(value_type = Object)]
    pub options: serde_json::Value,
}

/// Starts registering a passkey for `agent` (their other passkeys excluded).
pub async fn start_passkey_registration(
    state: &Rest,
    agent: &Agent,
) -> Result<PasskeyChallenge, ApiError> {
    let webauthn = webauthn_or_409(&state.settings)?;
    let exclude: Vec<_> = stored_passkeys(&state.pool, agent.id)
        .await?
        .iter()
        .map(|(_, p)| p.cred_id().clone())
        .collect();
    let (ccr, reg): (CreationChallengeResponse, PasskeyRegistration) = webauthn
        .start_passkey_registration(agent.id, &agent.email, &agent.display_name(), Some(exclude))
        .map_err(ApiError::internal)?;
    keep_ceremony(&state.pool, agent, "passkey_register", &reg, &ccr).await
}

fn passkey_refused(e: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(
        "passkey_refused",
        format!("the passkey's answer was not accepted: {e}"),
    )
}

/// Finishes registering a passkey named `name` (`mfa_enrolled`); answers it and the recovery
/// codes when these are the agent's first.
pub async fn finish_passkey_registration(
    state: &Rest,
    agent: &Agent,
    ceremony: Uuid,
    name: &str,
    credential: &RegisterPublicKeyCredential,
    event: audit::Event,
) -> Result<(PasskeyView, Option<Vec<String>>), ApiError> {
    let webauthn = webauthn_or_409(&state.settings)?;
    let reg: PasskeyRegistration =
        take_ceremony(&state.pool, agent, "passkey_register", ceremony).await?;
    let passkey = webauthn
        .finish_passkey_registration(credential, &reg)
        .map_err(passkey_refused)?;
    let id = Uuid::new_v4();
    let mut tx = state.pool.begin().await?;
    let view: PasskeyView = sqlx::query_as(
        "INSERT INTO agent_passkeys (id, agent_id, group_id, name, credential_id, passkey) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id, name, created_at, last_used_at",
    )
    .bind(id)
    .bind(agent.id)
    .bind(agent.group_id)
    .bind(name)
    .bind(passkey.cred_id().as_ref().to_vec())
    .bind(serde_json::to_value(&passkey).map_err(ApiError::internal)?)
    .fetch_one(&mut *tx)
    .await?;
    let codes = first_recovery_codes(&mut tx, agent).await?;
    audit::record(
        &mut tx,
        &event.detail(serde_json::json!({ "method": "passkey", "passkey_id": id, "name": name })),
    )
    .await
    .map_err(audit::required)?;
    tx.commit().await?;
    Ok((view, codes))
}

/// Starts a passkey sign-in of `agent` with any of their passkeys; 409 `no_passkey` without one.
pub async fn start_passkey_authentication(
    state: &Rest,
    agent: &Agent,
) -> Result<PasskeyChallenge, ApiError> {
    let webauthn = webauthn_or_409(&state.settings)?;
    let keys: Vec<Passkey> = stored_passkeys(&state.pool, agent.id)
        .await?
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    if keys.is_empty() {
        return Err(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "no_passkey",
            "you have no passkey; use another method",
        ));
    }
    let (rcr, auth): (RequestChallengeResponse, PasskeyAuthentication) = webauthn
        .start_passkey_authentication(&keys)
        .map_err(ApiError::internal)?;
    keep_ceremony(&state.pool, agent, "passkey_authenticate", &auth, &rcr).await
}

/// Checks a passkey's assertion for `agent`: true when it verifies (its counter and last use
/// are kept).
pub async fn finish_passkey_authentication(
    state: &Rest,
    agent: &Agent,
    ceremony: Uuid,
    credential: &PublicKeyCredential,
) -> Result<bool, ApiError> {
    let webauthn = webauthn_or_409(&state.settings)?;
    let auth: PasskeyAuthentication =
        take_ceremony(&state.pool, agent, "passkey_authenticate", ceremony).await?;
    let result = match webauthn.finish_passkey_authentication(credential, &auth) {
        Ok(r) => r,
        Err(e) => {
            tracing::info!(agent = %agent.id, error = %e, "a passkey assertion was refused");
            return Ok(false);
        }
    };
    for (id, mut key) in stored_passkeys(&state.pool, agent.id).await? {
        if key.cred_id() == result.cred_id() {
            key.update_credential(&result);
            sqlx::query(
                "UPDATE agent_passkeys SET passkey = $2, last_used_at = now() WHERE id = $1",
            )
            .bind(id)
            .bind(serde_json::to_value(&key).map_err(ApiError::internal)?)
            .execute(&state.pool)
            .await?;
            return Ok(true);
        }
    }
    Ok(false)
}

/// Removes `agent`'s passkey `id` (`mfa_removed`); 404 for none of theirs.
pub async fn remove_passkey(
    pool: &PgPool,
    agent: &Agent,
    id: Uuid,
    event: audit::Event,
) -> Result<(), ApiError> {
    let mut tx = pool.begin().await?;
    let row: Option<(String,)> =
        sqlx::query_as("DELETE FROM agent_passkeys WHERE id = $1 AND agent_id = $2 RETURNING name")
            .bind(id)
            .bind(agent.id)
            .fetch_optional(&mut *tx)
            .await?;
    let (name,) = row.ok_or_else(|| ApiError::not_found("passkey"))?;
    drop_codes_without_factor(&mut tx, agent.id).await?;
    audit::record(
        &mut tx,
        &event.detail(serde_json::json!({ "method": "passkey", "passkey_id": id, "name": name })),
    )
    .await
    .map_err(audit::required)?;
    tx.commit().await?;
    Ok(())
}

/// An admin's reset of an agent who lost their device: TOTP, recovery codes, passkeys and
/// pending ceremonies and tickets all go, with the audit row `mfa_reset` saying what was held.
pub async fn reset(pool: &PgPool, agent: &Agent, event: audit::Event) -> Result<(), ApiError> {
    let mut tx = pool.begin().await?;
    let (totp,): (i64,) = sqlx::query_as(
        "WITH d AS (DELETE FROM agent_totp WHERE agent_id = $1 RETURNING 1) SELECT count(*) FROM d",
    )
    .bind(agent.id)
    .fetch_one(&mut *tx)
    .await?;
    let (keys,): (i64,) = sqlx::query_as(
        "WITH d AS (DELETE FROM agent_passkeys WHERE agent_id = $1 RETURNING 1) SELECT count(*) FROM d",
    )
    .bind(agent.id)
    .fetch_one(&mut *tx)
    .await?;
    for query in [
        "DELETE FROM agent_recovery_codes WHERE agent_id = $1",
        "DELETE FROM mfa_ceremonies WHERE agent_id = $1",
        "DELETE FROM mfa_tickets WHERE agent_id = $1",
        // A lost device may still hold a session: the agent signs in again, and enrols anew.
        "DELETE FROM agent_sessions WHERE agent_id = $1",
    ] {
        sqlx::query(query).bind(agent.id).execute(&mut *tx).await?;
    }
    let event = event.detail(serde_json::json!({
        "name": agent.display_name(),
        "before": { "totp": totp > 0, "passkeys": keys },
    }));
    audit::record(&mut tx, &event)
        .await
        .map_err(audit::required)?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_only_for_its_agent_and_key() {
        let key = MfaKey::derive(b"configured secret");
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let sealed = key.seal(a, b"0123456789abcdefghij").unwrap();
        assert_eq!(key.open(a, &sealed).unwrap(), b"0123456789abcdefghij");
        assert!(key.open(b, &sealed).is_err());
        assert!(MfaKey::derive(b"another").open(a, &sealed).is_err());
        assert!(!sealed.windows(20).any(|w| w == b"0123456789abcdefghij"));
    }

    #[test]
    fn codes_match_within_one_step_either_side() {
        let totp = totp_of(vec![7u8; 20], "a@example.com").unwrap();
        let now = 1_800_000_015;
        let step = (now / STEP) as i64;
        for (t, want) in [
            (now - 30, Some(step - 1)),
            (now, Some(step)),
            (now + 30, Some(step + 1)),
        ] {
            assert_eq!(matching_step(&totp, &totp.generate(t), now), want);
        }
        assert_eq!(matching_step(&totp, &totp.generate(now - 60), now), None);
        assert_eq!(matching_step(&totp, "12345", now), None);
        assert_eq!(matching_step(&totp, "abcdef", now), None);
    }

    #[test]
    fn the_policy_names_who_must_use_a_factor() {
        assert!(!Policy::Privileged.requires(Role::Agent));
        assert!(Policy::Privileged.requires(Role::RooftopManager));
        assert!(Policy::Privileged.requires(Role::Admin));
        assert!(Policy::Everyone.requires(Role::Agent));
        assert!(!Policy::Off.requires(Role::Admin));
        assert_eq!(normalise_code("AbCd-efgh ijkl-mnop"), "abcdefghijklmnop");
    }
}
