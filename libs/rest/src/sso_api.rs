//! Single sign-on over REST (`sso.rs` does the work): the sign-in page's look-up, the start of
//! a sign-in and the provider's callback (browser navigations, answered with redirects), the
//! provider's back-channel logout, and the group's settings (admins).

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header::{CACHE_CONTROL, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use uuid::Uuid;

use crate::auth::{Session, admins_only};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiQuery, Client, parse_id};
use crate::sso::{self, Callback, SsoLookup, SsoSettings};
use crate::validate::Problems;
use crate::{Rest, audit};

/// The cookie that binds a started sign-in to the browser that started it.
const BROWSER_COOKIE: &str = "showroom_sso";
/// The callback's path (the redirect URI registered at the provider is the gateway's public
/// URL followed by it).
pub(crate) const CALLBACK_PATH: &str = "/api/v1/auth/sso/callback";

/// An e-mail typed on the sign-in page.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EmailQuery {
    /// The e-mail.
    pub email: String,
}

/// Whether the e-mail's domain signs in through an identity provider, and whether password
/// sign-in is still offered. Anyone may ask (the sign-in page does before a session).
#[utoipa::path(get, path = "/api/v1/auth/sso/lookup", tag = "auth", params(EmailQuery),
    responses((status = 200, body = SsoLookup), (status = 400, body = ErrorBody)))]
pub async fn lookup(
    State(state): State<Arc<Rest>>,
    ApiQuery(q): ApiQuery<EmailQuery>,
) -> Result<Json<SsoLookup>, ApiError> {
    Ok(Json(sso::lookup(&state.pool, &q.email).await?))
}

/// A redirect (303) to `location`, with these cookies.
fn redirect(location: &str, cookies: &[String]) -> Result<Response, ApiError> {
    let mut resp = StatusCode::SEE_OTHER.into_response();
    let h = resp.headers_mut();
    h.insert(
        LOCATION,
        HeaderValue::from_str(location).map_err(ApiError::internal)?,
    );
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    for c in cookies {
        h.append(
            SET_COOKIE,
            HeaderValue::from_str(c).map_err(ApiError::internal)?,
        );
    }
    Ok(resp)
}

/// The value of the cookie `name`.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// The console's sign-in showing `code`.
fn to_sign_in(code: &str) -> String {
    format!("/console?sso_error={code}")
}

fn browser_cookie(state: &Rest, value: &str, max_age: u32) -> String {
    let secure = if state.settings.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    // Lax: the provider's redirect back is a cross-site top-level navigation.
    format!(
        "{BROWSER_COOKIE}={value}; Path=/api/v1/auth/sso; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    )
}

/// Starts a sign-in through the provider of the e-mail's domain: 303 to the provider's
/// authorization endpoint (Authorization Code with PKCE, `state` and `nonce`), with the
/// `showroom_sso` cookie binding the attempt to this browser for 10 minutes. A refusal is a 303
/// to `/console?sso_error=<code>` (`sso_not_configured`, `sso_unavailable`,
/// `sso_issuer_mismatch`, `sso_failed`).
#[utoipa::path(get, path = "/api/v1/auth/sso/start", tag = "auth", params(EmailQuery),
    responses((status = 303, description = "To the provider, or back to the console's sign-in with `sso_error`"),
        (status = 400, body = ErrorBody)))]
pub async fn start(
    State(state): State<Arc<Rest>>,
    headers: HeaderMap,
    Client(client): Client,
    ApiQuery(q): ApiQuery<EmailQuery>,
) -> Result<Response, ApiError> {
    let base = match &state.settings.public_url {
        Some(u) => u.as_str().trim_end_matches('/').to_string(),
        None => crate::admin_api::public_base(&state, &headers),
    };
    let redirect_uri = format!("{base}{CALLBACK_PATH}");
    match sso::start(&state, &q.email, &redirect_uri).await {
        Ok(started) => redirect(
            started.url.as_str(),
            &[browser_cookie(&state, &started.browser, 600)],
        ),
        Err((group, refusal)) => {
            let refused = sso::Refused {
                group,
                label: Some(q.email.trim().to_string()),
                agent: None,
                refusal,
            };
            sso::record_refusal(&state, &refused, &client).await;
            redirect(&to_sign_in(refused.refusal.code()), &[])
        }
    }
}

/// The provider's redirect back (the registered redirect URI). Uses up the attempt `state`
/// names (it must have been started by this browser, within 10 minutes), exchanges the code,
/// verifies the ID token (issuer, audience, signature by the provider's JWKS, nonce, expiry),
/// makes or updates the agent from the mapped claims and opens a session: 303 to `/console`
/// with the session cookie, audited `sign_in` (method `oidc`). Any refusal: 303 to
/// `/console?sso_error=<code>`, audited `sign_in_failed` (method `oidc`, the reason) when the
/// attempt was known.
#[utoipa::path(get, path = "/api/v1/auth/sso/callback", tag = "auth", params(Callback),
    responses((status = 303, description = "To the console signed in, or to its sign-in with `sso_error`"),
        (status = 400, body = ErrorBody)))]
pub async fn callback(
    State(state): State<Arc<Rest>>,
    headers: HeaderMap,
    Client(client): Client,
    ApiQuery(cb): ApiQuery<Callback>,
) -> Result<Response, ApiError> {
    let browser = cookie(&headers, BROWSER_COOKIE);
    let (agent, detail) = match sso::finish(&state, cb, browser.as_deref()).await {
        Ok(done) => done,
        Err(refused) => {
            sso::record_refusal(&state, &refused, &client).await;
            // The binding cookie stays: a forged callback must not spoil the browser's own
            // sign-in under way (it expires with the attempt).
            return redirect(&to_sign_in(refused.refusal.code()), &[]);
        }
    };
    let event = audit::Event::sign_in(
        agent.group_id,
        agent.id,
        false,
        &agent.email,
        &client,
        detail,
    );
    let opened = crate::auth::open_session(&state, &agent, event).await?;
    let mut cookies: Vec<String> = opened
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_string))
        .collect();
    cookies.push(browser_cookie(&state, "", 0));
    redirect("/console", &cookies)
}

/// The provider's back-channel logout (OpenID Connect Back-Channel Logout 1.0; register
/// `<public URL>/api/v1/auth/sso/backchannel-logout/<group id>` at the provider). The form
/// field `logout_token` is checked (signature by the provider's JWKS, `iss`, `aud`, `iat`,
/// `events`, `sub` or `sid`, no `nonce`, a fresh `jti`); every session of that identity's
/// agent ends (`sso_logout`). When the token also carries a RISC `account-disabled` or
/// `account-purged` event the agent is deactivated (`agent_deactivated`). 200 also when no
/// agent has the identity; 400 `invalid_logout_token`; 404 for a group without a provider.
#[utoipa::path(post, path = "/api/v1/auth/sso/backchannel-logout/{group}", tag = "auth",
    params(("group" = uuid::Uuid, Path, description = "The dealer group (UUID)")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "`logout_token=<JWT>`"),
    responses((status = 200), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn backchannel_logout(
    State(state): State<Arc<Rest>>,
    Path(group): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let group: Uuid = parse_id(&group, "group")?;
    let token = url::form_urlencoded::parse(&body)
        .find(|(k, _)| k == "logout_token")
        .map(|(_, v)| v.into_owned())
        .ok_or_else(|| ApiError::bad_request("invalid_logout_token", "logout_token is required"))?;
    sso::backchannel_logout(&state, group, &token).await?;
    let mut resp = StatusCode::OK.into_response();
    resp.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// The group's single sign-on settings, with whether the secret's file is mounted.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct SsoSettingsView {
    /// The settings.
    #[serde(flatten)]
    pub settings: SsoSettings,
    /// Whether the gateway finds a non-empty file for `secret_key` in its secrets directory.
    pub secret_present: bool,
    /// The redirect URI to register at the provider.
    pub redirect_uri: String,
    /// The back-channel logout URI to register at the provider.
    pub backchannel_logout_uri: String,
}

fn view(state: &Rest, headers: &HeaderMap, group: Uuid, settings: SsoSettings) -> SsoSettingsView {
    let base = match &state.settings.public_url {
        Some(u) => u.as_str().trim_end_matches('/').to_string(),
        None => crate::admin_api::public_base(state, headers),
    };
    SsoSettingsView {
        secret_present: sso::secret_present(state, &settings.secret_key),
        redirect_uri: format!("{base}{CALLBACK_PATH}"),
        backchannel_logout_uri: format!("{base}/api/v1/auth/sso/backchannel-logout/{group}"),
        settings,
    }
}

/// The group's single sign-on settings (admins); 404 when it has none.
#[utoipa::path(get, path = "/api/v1/sso/settings", tag = "admin",
    responses((status = 200, body = SsoSettingsView), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_settings(
    State(state): State<Arc<Rest>>,
    headers: HeaderMap,
    session: Session,
) -> Result<Json<SsoSettingsView>, ApiError> {
    admins_only(&session, "see the group's single sign-on")?;
    let s = sso::settings(&state.pool, session.group())
        .await?
        .ok_or_else(|| ApiError::not_found("single sign-on settings"))?;
    Ok(Json(view(&state, &headers, session.group(), s)))
}

/// Sets the group's single sign-on (admins), audited `sso_settings_changed` with before and
/// after (the secret's key name, never the secret). 400 names every wrong field; 409
/// `already_taken` (`email_domains`) for a domain another group signs in.
#[utoipa::path(put, path = "/api/v1/sso/settings", tag = "admin", request_body = SsoSettings,
    responses((status = 200, body = SsoSettingsView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn put_settings(
    State(state): State<Arc<Rest>>,
    headers: HeaderMap,
    session: Session,
    ApiJson(body): ApiJson<SsoSettings>,
) -> Result<Json<SsoSettingsView>, ApiError> {
    admins_only(&session, "change the group's single sign-on")?;
    let s = checked(body)?;
    let event = audit::Event::by(&session, audit::kind::SSO_SETTINGS_CHANGED)
        .about(format!("group:{}", session.group()));
    sso::put_settings(&state.pool, session.group(), &s, event).await?;
    Ok(Json(view(&state, &headers, session.group(), s)))
}

/// Removes the group's single sign-on (admins; password sign-in is on again), audited
/// `sso_settings_changed`; 404 when it had none.
#[utoipa::path(delete, path = "/api/v1/sso/settings", tag = "admin",
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn delete_settings(
    State(state): State<Arc<Rest>>,
    session: Session,
) -> Result<StatusCode, ApiError> {
    admins_only(&session, "change the group's single sign-on")?;
    let event = audit::Event::by(&session, audit::kind::SSO_SETTINGS_CHANGED)
        .about(format!("group:{}", session.group()));
    if sso::delete_settings(&state.pool, session.group(), event).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("single sign-on settings"))
    }
}

/// A short, non-empty text of at most `max` characters.
fn short(v: &str, max: usize) -> Result<String, String> {
    let v = v.trim();
    if v.is_empty() {
        Err("is required".into())
    } else if v.chars().count() > max {
        Err(format!("must be at most {max} characters"))
    } else if v.chars().any(char::is_control) {
        Err("must not contain control characters".into())
    } else {
        Ok(v.to_string())
    }
}

/// The issuer: an absolute `https` URL (`http` only on a loopback host), no query or fragment.
fn issuer(v: &str) -> Result<String, String> {
    let v = short(v, 500)?;
    let u = url::Url::parse(&v).map_err(|_| "must be an absolute URL".to_string())?;
    let loopback = matches!(u.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    if !(u.scheme() == "https" || (u.scheme() == "http" && loopback)) {
        return Err("must be an https URL".into());
    }
    if u.query().is_some() || u.fragment().is_some() || !u.username().is_empty() {
        return Err("must have no query, fragment or user".into());
    }
    Ok(v)
}

/// A domain name: letters, digits, hyphens, dots; lowercased.
fn domain(v: &str) -> Result<String, String> {
    let d = v.trim().trim_start_matches('@').to_ascii_lowercase();
    let ok = !d.is_empty()
        && d.len() <= 253
        && d.contains('.')
        && d.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if ok {
        Ok(d)
    } else {
        Err(format!("{v:?} is not a domain name"))
    }
}

/// The settings as stored, or 400 naming every wrong field.
fn checked(b: SsoSettings) -> Result<SsoSettings, ApiError> {
    let mut p = Problems::default();
    let issuer = p.check("issuer", issuer(&b.issuer));
    let client_id = p.check("client_id", short(&b.client_id, 200));
    let key_ok = !b.secret_key.is_empty()
        && b.secret_key.len() <= 100
        && !b.secret_key.starts_with('.')
        && b.secret_key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !key_ok {
        p.add(
            "secret_key",
            "must be the name of a key of the Secret: letters, digits, '.', '_', '-' (not starting with '.')",
        );
    }
    let display_name = p.check("display_name", short(&b.display_name, 60));
    let mut domains = Vec::new();
    if b.email_domains.is_empty() || b.email_domains.len() > 20 {
        p.add("email_domains", "must list 1 to 20 domains");
    }
    for d in &b.email_domains {
        if let Some(d) = p.check("email_domains", domain(d)) {
            domains.push(d);
        }
    }
    domains.sort();
    domains.dedup();
    let role_claim = p.check("role_claim", short(&b.role_claim, 100));
    if b.role_map.is_empty() || b.role_map.len() > 100 {
        p.add("role_map", "must map 1 to 100 claim values to roles");
    }
    for (value, role) in &b.role_map {
        if value.trim().is_empty() || value.len() > 200 {
            p.add("role_map", "each claim value must be 1 to 200 characters");
        }
        if crate::directory::Role::parse(role).is_none() {
            p.add(
                "role_map",
                format!("{role:?} is not a role (agent, rooftop_manager, manager, admin)"),
            );
        }
    }
    let rooftop_claim = match b.rooftop_claim.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(c) => p.check("rooftop_claim", short(c, 100)),
    };
    p.finish()?;
    Ok(SsoSettings {
        issuer: issuer.unwrap_or_default(),
        client_id: client_id.unwrap_or_default(),
        secret_key: b.secret_key,
        display_name: display_name.unwrap_or_default(),
        email_domains: domains,
        role_claim: role_claim.unwrap_or_default(),
        role_map: b.role_map,
        rooftop_claim,
        password_sign_in: b.password_sign_in,
    })
}
