//! The gateway: Showroom's WebSocket and HTTP edge.
//!
//! It holds the shoppers' and agents' sockets and no business state: conversations belong to
//! the router, presence to the presence service. It is where a message becomes durable: the
//! gateway commits it to the transcript in Postgres before acknowledging it to its sender, then
//! publishes it on the bus: a live copy to the gateways whose sockets watch the conversation,
//! and the durable event to the MESSAGES stream. It also
//! serves the REST API (with its OpenAPI document), service discovery, and the widget, demo
//! and console pages.
//!
//! The REST API lives in its own crate, `showroom-rest` (`libs/rest`), which this crate mounts
//! ([`router`]) and whose logins, directory and transfers the sockets reuse.
//!
//! # Layout
//! - [`Config`]: typed configuration (`SHOWROOM_*` variables).
//! - [`start`]: binds the HTTP port, follows the bus, serves until cancelled.
//! - [`router`]: the REST API (from `showroom-rest`), the sockets and the pages.
//! - [`AppState`]: what every socket shares: the REST state, the hub, the configuration.
//! - `ws`: the WebSocket handshake and framing (`ws::upgrade`), the widget and console socket
//!   protocols, and each socket's ordered writer.
//! - `hub`: which socket gets which event.
//! - [`admission`]: new chats refused `unavailable` ("busy") while this gateway's messages take
//!   too long from `send` to `ack`, so a peak waits at the door instead of slowing every chat.
//! - `groups`: the conversation, internal chat and presence events and desktop notices of the
//!   dealer groups whose sockets this gateway holds, followed as sockets come and go, and read
//!   again from the streams where core NATS may have lost some.
//! - `interest`: the live copies of the conversations this gateway's sockets watch, subscribed
//!   as they come and go, and caught up from Postgres where core NATS may have lost some; its
//!   own copies handed to its sockets in process and published on a connection without echo
//!   (`LiveCopies`).
//! - `headers`: security headers (CSP, framing, `nosniff`, CORP, `no-store` on the API) and
//!   `charset=utf-8` on text, on every HTTP answer.
//! - [`transcript`]: gapless, idempotent message storage (tables owned here), and its
//!   group-committing [`transcript::Writer`] that the sockets and `message.post` append through;
//!   a file message claims its uploaded file for the chat first (`transcript::claim_file`).
//! - `internal`: internal chats' messages (tables owned here) and their commands.
//! - `rating`: the shopper's satisfaction rating of a chat (table `chat_ratings`, owned here).
//! - `seen`: read marks (table `read_marks`, owned here), coalesced and fanned out.
//! - `whisper`: managers' whispers to the agent (table `whispers`, owned here) and who is
//!   watching a chat.
//! - [`retention`]: the sweep of the gateway's tables (messages, transcripts, attachments)
//!   past their group's period; erasure and export are `showroom_rest`'s `privacy_api`.

pub mod admission;
mod groups;
mod headers;
mod hub;
mod interest;
mod internal;
mod rating;
pub mod retention;
mod seen;
pub mod transcript;
mod whisper;
mod ws;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use axum::Json;
use axum::http::{HeaderValue, header};
use axum::routing::get;
use axum::serve::ListenerExt;
use serde::{Deserialize, Serialize};
use showroom_config::{Common, ConfigError, Secret};
use showroom_proto::Envelope;
use showroom_proto::message::{Author, Message, PostMessage};
use showroom_proto::presence::Heartbeat;
use showroom_proto::typing::Typing;
use showroom_proto::v1::{self, Group};
use showroom_runtime::{Base, Running, Settings};
use tokio_util::sync::CancellationToken;
use tower_http::services::{ServeDir, ServeFile};
use tower_http::set_header::SetResponseHeaderLayer;
use uuid::Uuid;

use hub::{Hub, Outbound};
use showroom_rest::Rest;
use showroom_rest::limits::{Limits, LimitsConfig};
use showroom_rest::visitor::VisitorKeys;

/// The name under which the service registers with the NATS service API.
pub const NAME: &str = "gateway";

const DESCRIPTION: &str = "WebSocket and HTTP edge: widget and console sockets, REST API, pages.";

/// Configuration, overridden by `SHOWROOM_*` environment variables.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Config {
    /// NATS, Postgres and the admin port.
    #[serde(flatten)]
    pub common: Common,
    /// Where the HTTP and WebSocket edge listens.
    pub http_addr: SocketAddr,
    /// Key that signs visitor tokens. When empty a random one is made at start, and visitor
    /// tokens stop working across restarts (fine for a throwaway run, never for production).
    pub visitor_token_secret: Secret,
    /// How often each console socket heartbeats to presence.
    pub heartbeat_interval_secs: u64,
    /// How long an agent session lasts.
    pub session_ttl_hours: u64,
    /// Directory of the widget, demo and console pages.
    pub assets_dir: PathBuf,
    /// Mark the session cookie `Secure` (behind HTTPS). On by default; only the dev launcher
    /// and the test kit, which serve plain `http` on loopback, turn it off.
    pub secure_cookies: bool,
    /// The proxies (CIDRs) whose `Forwarded` / `X-Forwarded-For` headers are believed: the
    /// ingress in front of the gateway. Empty (the default): the TCP peer is the client.
    pub trusted_proxies: showroom_rest::extract::TrustedProxies,
    /// Redis, where the limits every gateway replica shares are counted (failed logins,
    /// conversations started, uploads): `redis://`, or `rediss://` for TLS; may hold a password.
    /// When it fails those limits fail open (`showroom_rest::limits`).
    pub redis_url: Secret,
    /// The CA (PEM) that signed Redis's certificate, for `rediss://` (`SHOWROOM_REDIS_CA`).
    /// Unset: the system's roots.
    #[serde(default)]
    pub redis_ca: Option<PathBuf>,
    /// The gateway's public URL as browsers reach it (`SHOWROOM_PUBLIC_URL`, e.g.
    /// `https://chat.example.com`): its host is the passkeys' relying party, its origin the one
    /// their answers must come from. Unset: passkeys are off (TOTP still works).
    #[serde(default)]
    pub public_url: Option<String>,
    /// The key that seals agents' TOTP secrets at rest (`SHOWROOM_MFA_KEY`, any length). When
    /// empty it is derived from the visitor token secret (`showroom_rest::mfa`).
    #[serde(default)]
    pub mfa_key: Secret,
    /// The directory of the identity providers' client secrets (`SHOWROOM_OIDC_SECRETS_DIR`,
    /// a mounted Kubernetes Secret: one file per key, named by a group's SSO settings). Unset:
    /// single sign-on is off (`showroom_rest::sso`).
    #[serde(default)]
    pub oidc_secrets_dir: Option<PathBuf>,
    /// The abuse limits (`SHOWROOM_LOGIN_FREE_FAILURES`, `SHOWROOM_MESSAGES_PER_SOCKET_PER_SEC`,
    /// …; `docs/architecture.md`, "Limits").
    #[serde(flatten)]
    pub limits: LimitsConfig,
    /// Starts are refused `unavailable` ("busy") while more than a tenth of the messages this
    /// gateway stored over the last 3 s took longer than this from `send` to `ack`
    /// (`SHOWROOM_ADMISSION_ACK_MS`, [`admission`]); `0` admits every start.
    pub admission_ack_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            common: Common::with_admin_port(9100),
            http_addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            visitor_token_secret: Secret::default(),
            heartbeat_interval_secs: 60,
            session_ttl_hours: 12,
            assets_dir: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/assets")),
            secure_cookies: true,
            trusted_proxies: Default::default(),
            redis_url: Secret::new("redis://127.0.0.1:6379"),
            redis_ca: None,
            public_url: None,
            mfa_key: Secret::default(),
            oidc_secrets_dir: None,
            limits: LimitsConfig::default(),
            admission_ack_ms: 250,
        }
    }
}

impl Config {
    /// Defaults overridden by the environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        showroom_config::load()
    }
}

/// What every socket shares: the REST state (bus, pool, visitor keys, commands; reached
/// through `Deref`), this replica's hub, the configuration.
pub struct AppState {
    /// What the REST handlers share; the sockets use the same.
    pub rest: Arc<Rest>,
    /// This replica's sockets.
    pub hub: Arc<Hub>,
    /// The dealer groups this replica's sockets belong to, whose events it follows.
    pub groups: groups::Groups,
    /// Appends messages, many conversations' to a commit (`transcript::Writer`).
    pub transcript: transcript::Writer,
    /// Read marks: coalesced writes and their fan-out (`seen`).
    pub marks: Arc<seen::ReadMarks>,
    /// Live copies to the sockets watching a chat, here and on the other gateways (`interest`).
    pub live: interest::LiveCopies,
    /// Admits new chats while this gateway's messages are stored in time (`admission`).
    pub admission: admission::Gate,
    /// The configuration.
    pub config: Config,
    /// Cancelled at shutdown; every socket watches it.
    pub shutdown: CancellationToken,
}

impl std::ops::Deref for AppState {
    type Target = Rest;

    fn deref(&self) -> &Rest {
        &self.rest
    }
}

/// The console socket's upgrade reads the session as a REST handler does.
impl showroom_rest::AsRest for AppState {
    fn as_rest(&self) -> &Rest {
        &self.rest
    }
}

impl AppState {
    /// Publishes a stored message for every gateway's sockets, and builds the sender's `ack`.
    /// The message is durable already; a failed publish is logged, and a resend by the client
    /// publishes again (the bus drops the duplicate by message id).
    pub async fn acknowledge(
        &self,
        group: Uuid,
        m: &Message,
        r#ref: Option<&str>,
        side: hub::Side,
        arrived: std::time::Instant,
    ) -> Outbound {
        self.publish_message(group, m).await;
        let took = arrived.elapsed();
        self.admission.record(took);
        metrics::histogram!(showroom_telemetry::metrics::names::SEND_ACK_SECONDS, "kind" => side.kind())
            .record(took.as_secs_f64());
        Outbound::reply(
            &showroom_proto::frames::ServerFrame::Ack(showroom_proto::frames::Ack::message(m)),
            r#ref,
        )
    }

    async fn publish_message(&self, group: Uuid, m: &Message) {
        // The envelope id is the message id, so republishing is deduplicated by JetStream.
        let env = Envelope {
            id: m.id,
            tenant: group,
            time: m.at,
            data: m.clone(),
        };
        // First the live copy to the sockets that watch the chat, this gateway's and the
        // others' (`interest.rs`): it waits for no stream. A copy lost here is read from
        // Postgres by the watchers.
        if let Err(e) = self.live.publish(&env).await {
            tracing::warn!(error = %e, "live copy of a message not published");
        }
        // The sender gets its ack either way: while NATS fails over, the publish goes on in
        // the background, and sockets drop a seq they already have.
        self.bus
            .publish_event_persistently(v1::message_created(group), env, self.shutdown.clone())
            .await;
    }

    /// Passes a typing signal on (best-effort).
    pub async fn typing(&self, group: Uuid, conversation_id: Uuid, author: Author, typing: bool) {
        let env = Envelope::new(
            group,
            Typing {
                conversation_id,
                author,
                typing,
            },
        );
        if let Err(e) = self.live.publish(&env).await {
            tracing::debug!(error = %e, "typing signal dropped");
        }
    }

    /// Tells presence a console device just connected and waits until it counts, so the
    /// agent's next status change finds the device; falls back to a plain heartbeat when
    /// presence does not answer (the next heartbeat repairs it).
    pub async fn connected(&self, group: Uuid, agent_id: Uuid, device_id: Uuid) {
        let env = Envelope::new(
            group,
            Heartbeat {
                agent_id,
                device_id,
            },
        );
        match self
            .bus
            .request::<_, ()>(v1::presence_connect(group), &env)
            .await
        {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e.message, "device not recorded at connect");
                self.heartbeat(group, agent_id, device_id).await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "presence did not answer the connect");
                self.heartbeat(group, agent_id, device_id).await;
            }
        }
    }

    /// Tells presence a console device is alive (best-effort; the next one follows).
    pub async fn heartbeat(&self, group: Uuid, agent_id: Uuid, device_id: Uuid) {
        let env = Envelope::new(
            group,
            Heartbeat {
                agent_id,
                device_id,
            },
        );
        if let Err(e) = self
            .bus
            .publish_signal(v1::presence_heartbeat(group), &env)
            .await
        {
            tracing::warn!(error = %e, "heartbeat not sent");
        }
    }
}

/// Starts the gateway; it runs until `shutdown` is cancelled.
pub async fn start(config: Config, shutdown: CancellationToken) -> anyhow::Result<Running> {
    let settings = Settings::new(NAME, env!("CARGO_PKG_VERSION"), DESCRIPTION, &config.common);
    let base = Base::start(settings, shutdown).await?;
    base.bus
        .ensure_stream(&v1::messages_stream(), config.common.stream_replicas)
        .await
        .context("creating the MESSAGES stream")?;
    let secret = if config.visitor_token_secret.is_empty() {
        tracing::warn!(
            "SHOWROOM_VISITOR_TOKEN_SECRET is not set: using a random key; visitor tokens will not survive a restart"
        );
        let mut key = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut key);
        key.to_vec()
    } else {
        config.visitor_token_secret.expose().as_bytes().to_vec()
    };
    let public_url = config
        .public_url
        .as_deref()
        .filter(|u| !u.trim().is_empty())
        .map(|u| url::Url::parse(u.trim()).with_context(|| format!("SHOWROOM_PUBLIC_URL {u:?}")))
        .transpose()?;
    let mfa_key = if config.mfa_key.is_empty() {
        showroom_rest::mfa::MfaKey::derive(&secret)
    } else {
        showroom_rest::mfa::MfaKey::derive(config.mfa_key.expose().as_bytes())
    };
    let (interest, changes) = tokio::sync::mpsc::unbounded_channel();
    let hub = Arc::new(Hub::new(interest));
    let live_bus = base.connect_without_echo("live").await?;
    let live = interest::LiveCopies::new(live_bus.clone(), hub.clone());
    interest::follow(
        live_bus,
        hub.clone(),
        changes,
        &base.tracker,
        base.shutdown.clone(),
    );
    let limits = Limits::connect(
        config.limits,
        config.redis_url.expose(),
        config.redis_ca.as_deref(),
    )
    .await
    .context("setting up the limits' Redis")?;
    let rest = Arc::new(Rest {
        bus: base.bus.clone(),
        pool: base.pool.clone(),
        visitor_keys: VisitorKeys::new(&secret),
        settings: showroom_rest::Settings {
            session_ttl_hours: config.session_ttl_hours,
            secure_cookies: config.secure_cookies,
            http_addr: config.http_addr,
            trusted_proxies: config.trusted_proxies.clone(),
            public_url,
            mfa_key,
            oidc_secrets_dir: config.oidc_secrets_dir.clone(),
        },
        limits,
    });
    let writer = transcript::Writer::start(
        base.pool.clone(),
        transcript::Writer::writers_for(&base.pool),
        &base.tracker,
        base.shutdown.clone(),
    );
    let groups = groups::Groups::start(
        base.bus.clone(),
        hub.clone(),
        &base.tracker,
        base.shutdown.clone(),
    );
    let state = Arc::new(AppState {
        rest,
        groups,
        hub: hub.clone(),
        transcript: writer,
        marks: seen::ReadMarks::new(base.pool.clone(), live.clone()),
        live,
        admission: admission::Gate::new(config.admission_ack_ms),
        config: config.clone(),
        shutdown: base.shutdown.clone(),
    });

    // Services (bot, router) append system and bot messages through the gateway.
    let s = state.clone();
    base.host
        .serve(
            "post_message",
            v1::message_post(Group::Any),
            move |group, env: Envelope<PostMessage>| {
                let s = s.clone();
                async move {
                    let p = env.data;
                    let appended = s
                        .transcript
                        .append(
                            group,
                            p.conversation_id,
                            &p.author,
                            &p.text,
                            &p.client_msg_id,
                        )
                        .await?;
                    s.publish_message(group, appended.message()).await;
                    Ok(appended.message().clone())
                }
            },
        )
        .await?;

    let app = router(state.clone());
    let listener = tokio::net::TcpListener::bind(config.http_addr)
        .await
        .with_context(|| format!("binding {}", config.http_addr))?;
    let http_addr = listener.local_addr()?;
    let token = base.shutdown.clone();
    // Small frames must leave at once: without TCP_NODELAY, Nagle's algorithm meets the peer's
    // delayed ACK and every acknowledgement waits about 40 ms.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
    });
    let serving = async move {
        // The peer address is kept for consent records (see `showroom_rest::extract::client_ip`).
        let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(token.cancelled_owned())
            .await
        {
            tracing::error!(error = %e, "http server failed");
        }
    };
    showroom_runtime::retention::spawn(
        &base,
        retention::SWEEPS,
        showroom_runtime::retention::Schedule::from_env()?,
    );
    let readiness = base.readiness();
    base.finish(readiness, Some(http_addr), serving).await
}

/// The HTTP routes: API, sockets, pages.
pub fn router(state: Arc<AppState>) -> axum::Router {
    let (api, openapi) = showroom_rest::router();
    let api = api.with_state(state.rest.clone());
    let openapi = Arc::new(openapi);
    let assets = &state.config.assets_dir;
    let pages = axum::Router::new()
        .route_service("/demo", ServeFile::new(assets.join("demo.html")))
        .route_service("/console", ServeFile::new(assets.join("console.html")))
        .fallback_service(ServeDir::new(assets))
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-cache"),
        ));
    axum::Router::new()
        .merge(api)
        .route(
            "/api/openapi.json",
            get(move || {
                let o = openapi.clone();
                async move { Json(o.as_ref().clone()) }
            }),
        )
        .route("/ws/widget", get(ws::widget::upgrade))
        .route("/ws/console", get(ws::console::upgrade))
        .route(
            "/",
            get(|| async { axum::response::Redirect::temporary("/demo") }),
        )
        .with_state(state)
        .fallback_service(pages)
        // Bodies of at most 64 KiB, except the attachment upload, which raises its own limit
        // (a route's DefaultBodyLimit wins over this outer one).
        .layer(axum::extract::DefaultBodyLimit::max(64 * 1024))
        // A control character in a path or query (`%00`) is a 400 before any route sees it.
        .layer(axum::middleware::from_fn(
            showroom_rest::extract::refuse_control_in_uri,
        ))
        // Security headers and charsets on every answer, the refusals above included.
        .layer(axum::middleware::from_fn(headers::secure))
        .layer(tower_http::trace::TraceLayer::new_for_http())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_cookies_are_secure_unless_turned_off() {
        assert!(Config::default().secure_cookies);
        let plain: Config = showroom_config::load_from([("SECURE_COOKIES", "false")]).unwrap();
        assert!(!plain.secure_cookies);
    }

    #[test]
    fn trusted_proxies_are_read_as_cidrs() {
        let c: Config =
            showroom_config::load_from([("TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.10")]).unwrap();
        assert!(c.trusted_proxies.contains("10.2.3.4".parse().unwrap()));
        assert!(c.trusted_proxies.contains("192.168.1.10".parse().unwrap()));
        assert!(!c.trusted_proxies.contains("192.168.1.11".parse().unwrap()));
        assert!(
            !Config::default()
                .trusted_proxies
                .contains("127.0.0.1".parse().unwrap())
        );
        assert!(
            showroom_config::load_from::<Config, _, _, _>([("TRUSTED_PROXIES", "10.0.0/8")])
                .is_err()
        );
    }
}
