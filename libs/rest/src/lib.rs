//! The gateway's REST surface: everything a browser or an integrator's server asks over HTTP
//! (`/api/v1/…`, and the OpenAPI document of it). The gateway binary mounts [`router`] beside
//! its sockets, so there is one HTTP entry point; the sockets reuse the logins and sessions, the
//! directory and the transfers from here.
//!
//! # Layout
//! - [`Rest`] (and [`AsRest`], a state that holds it): what every handler shares (bus, pool, visitor keys, [`Settings`], the limits), and the bus
//!   commands the handlers forward.
//! - [`router`]: every route with its OpenAPI document (`api.rs`, which also holds the
//!   conversation, presence and system handlers).
//! - [`auth`]: agent login and sessions (the console socket's too), the role guards, and what
//!   a session manages (`auth::Scope`: the group, or a rooftop manager's rooftops).
//! - [`audit`]: the audit trail (`audit_events`): append-only, hash-chained per group;
//!   `record` an event with its change, `verify` a group's chain.
//! - [`mfa`]: multi-factor sign-in: the group's policy, TOTP with recovery codes, passkeys
//!   (WebAuthn), the sign-in's second-step tickets; `mfa_api`: its REST handlers (Profile's
//!   enrolment, the second step of a sign-in, the policy, an admin's reset).
//! - `sso`: single sign-on with OpenID Connect per dealer group: the provider's settings
//!   (client secret read from a mounted Secret file), the Authorization Code flow with PKCE
//!   (attempts kept in Postgres), just-in-time agents from mapped claims, back-channel logout;
//!   `sso_api`: its REST handlers (the sign-in page's look-up, start, callback, back-channel
//!   logout, the admin settings).
//! - [`directory`]: groups, rooftops, departments, websites, agents (tables owned by the
//!   gateway), with the agent's [`directory::Role`].
//! - [`handover`]: transfers and reassignments (REST and the console socket).
//! - [`extract`]: what every handler extracts: a JSON body, a typed id in the path, the
//!   client's address; each with its own 400.
//! - [`error`]: the one HTTP error type.
//! - `export`: files people download: CSV with the formula guard, and the download response.
//! - [`limits`]: every abuse limit (logins, conversations, uploads shared through Redis;
//!   messages and pings per socket and conversation per replica; the password-hash permits),
//!   answered 429 `rate_limited` with `Retry-After`.
//! - `validate`: what a request's fields must be (text, e-mail, time zone, password, origins),
//!   gathered into one 400 naming every wrong field.
//! - [`visitor`]: signed visitor tokens.
//! - [`demo`]: the demo dealer group.
//! - `admin_api`: the admin pages: rooftops, departments, agents, memberships, websites.
//! - `access_api`: who may log in: deactivating agents who left, changing one's password.
//! - `audit_api`: the audit trail over REST (JSON, CSV, the chain check).
//! - `profile_api`: an agent's own profile and headshot (served publicly).
//! - `reports`: the per-department numbers managers ask for, as JSON and as CSV.
//! - `trends_api`: the dashboard's trends per hour or day, with the period before to compare.
//! - `attachments`: files shoppers attach to forms and files either side sends in a chat, checked
//!   by their bytes; their downloads (agents of the group, a chat's shopper).
//! - `privacy_api`: retention periods, and erasing or exporting one shopper's data in every
//!   service that holds some (issue 17, item 5).
//! - [`canned`]: canned responses (`canned_responses`, owned by the gateway): the group's, a
//!   rooftop's and each agent's own; their fields' checks, the placeholders and filling them
//!   for a conversation in its language, the table's reads and writes; `canned_api`: their
//!   REST handlers (the ones usable in a conversation, filled; managing them; the audit rows).
//! - [`payment`]: payment estimates (issue 20, item 2): the rooftops' finance and lease
//!   settings (`payment_settings`, owned by the gateway) with their checks, the rates for a
//!   vehicle, an estimate computed for a chat and stored (`payment_estimates`); `payment_api`:
//!   its REST handlers (settings, the agent's estimate, the widget's).
//! - [`search`]: search (issue 19, item 3): the checks of a search, who sees which chats
//!   (`search::Visibility`), the full-text statements over the indexes of migration 034 (each
//!   on its owner's table: messages, conversations, contacts, leads) and the snippets' marks;
//!   `search_api`: its REST handler (`GET /api/v1/search`).
//! - `trade_in_api`: a chat's trade-in (issue 20, item 3), read and saved by its agent or
//!   managers of its rooftop; lead-capture owns and checks it.
//! - [`appointments`]: appointments (issue 20, item 1; `appointment_settings`,
//!   `appointment_slots`, `appointments`, owned by the gateway): a department's settings, its
//!   slots from the router's hours and holidays in the rooftop's zone, the one upsert that
//!   never books a full slot, cancel and reschedule; `appointments_api`: its REST handlers (the
//!   console's, a rooftop's list, the widget's with the visitor token).
//! - `bot_api`, `routing_api`, `notify_api`, `leads_api`, `crm_api`: settings and records
//!   other services own, forwarded to them over the bus.
//! - `route_api`: a website's socket route (its dealer group), which the widget asks before
//!   its first socket so that a proxy keeps a group's sockets on one gateway.

mod access_api;
mod admin_api;
mod api;
pub mod appointments;
mod appointments_api;
mod attachments;
pub mod audit;
mod audit_api;
pub mod auth;
mod bot_api;
pub mod canned;
mod canned_api;
mod crm_api;
pub mod demo;
pub mod directory;
pub mod error;
mod export;
pub mod extract;
pub mod handover;
mod leads_api;
pub mod limits;
pub mod mfa;
mod mfa_api;
mod notify_api;
pub mod payment;
mod payment_api;
mod privacy_api;
mod profile_api;
mod reports;
mod route_api;
mod routing_api;
pub mod search;
mod search_api;
mod sso;
mod sso_api;
mod trade_in_api;
mod trends_api;
mod validate;
pub mod visitor;

use std::net::SocketAddr;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use showroom_bus::Bus;
use showroom_proto::v1;
use showroom_proto::{CommandError, Envelope, ErrorCode};
use sqlx::PgPool;

pub use api::router;
use visitor::VisitorKeys;

/// What the REST handlers read from the gateway's configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How long an agent session lasts.
    pub session_ttl_hours: u64,
    /// Mark the session cookie `Secure`, and call the gateway `https` when no proxy says.
    pub secure_cookies: bool,
    /// Where the gateway listens (its address when a request names no host).
    pub http_addr: SocketAddr,
    /// The proxies whose forwarding headers say where a client is.
    pub trusted_proxies: extract::TrustedProxies,
    /// The gateway's public URL (`SHOWROOM_PUBLIC_URL`): the passkeys' relying party (its
    /// host) and origin. None: passkeys are off.
    pub public_url: Option<url::Url>,
    /// Seals TOTP secrets at rest (`SHOWROOM_MFA_KEY`, `mfa.rs`).
    pub mfa_key: mfa::MfaKey,
    /// The directory of the identity providers' client secrets, one file per key (a mounted
    /// Kubernetes Secret, `SHOWROOM_OIDC_SECRETS_DIR`, `sso.rs`). None: single sign-on is off.
    pub oidc_secrets_dir: Option<std::path::PathBuf>,
}

/// What every handler shares.
pub struct Rest {
    /// The NATS connection.
    pub bus: Bus,
    /// Postgres.
    pub pool: PgPool,
    /// Signs visitor tokens.
    pub visitor_keys: VisitorKeys,
    /// From the gateway's configuration.
    pub settings: Settings,
    /// Every abuse limit (the sockets' too).
    pub limits: limits::Limits,
}

/// A state that holds the REST state: [`Rest`] itself, and the gateway's, whose console socket
/// reads sessions as the REST handlers do.
pub trait AsRest {
    /// The REST state.
    fn as_rest(&self) -> &Rest;
}

impl AsRest for Rest {
    fn as_rest(&self) -> &Rest {
        self
    }
}

impl extract::BehindProxies for Rest {
    fn trusted_proxies(&self) -> &extract::TrustedProxies {
        &self.settings.trusted_proxies
    }
}

/// The envelope of a command on `subject`, for the group the subject names.
fn envelope_for<T>(subject: &str, data: T) -> Result<Envelope<T>, CommandError> {
    let group = v1::group_of(subject)
        .ok_or_else(|| CommandError::new(ErrorCode::Internal, "subject without group"))?;
    Ok(Envelope::new(group, data))
}

/// How long a command waits for the router or presence, retrying while they restart.
const COMMAND_WITHIN: Duration = Duration::from_secs(8);

impl Rest {
    /// Sends a command to a service and waits for its reply, retrying while it restarts.
    pub async fn command<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        subject: String,
        data: Req,
    ) -> Result<Resp, CommandError> {
        let env = envelope_for(&subject, data)?;
        self.bus
            .request_retrying(subject, &env, COMMAND_WITHIN)
            .await
            .map_err(|e| showroom_bus::unavailable(&e))?
    }

    /// Sends a command that is not safe to repeat (a transfer, its answer, a reassignment) once:
    /// if the service does not answer, the client is told `unavailable` and decides.
    pub async fn command_once<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        subject: String,
        data: Req,
    ) -> Result<Resp, CommandError> {
        let env = envelope_for(&subject, data)?;
        self.bus
            .request(subject, &env)
            .await
            .map_err(|e| showroom_bus::unavailable(&e))?
    }
}
