//! NATS helpers every Showroom service uses: connecting, streams, publishing envelopes with
//! trace context, requests with typed replies, and serving NATS service endpoints.
//!
//! # Layout
//! - [`Bus`]: a connected client and its JetStream context; publish, request, streams, durable
//!   consumers (each event handled in a span that continues the publisher's trace), and the
//!   backlogs of those consumers for `/metrics`.
//! - [`Bus::follow_each_in_lanes`]: a durable consumer whose events are handled several at
//!   once, those of one lane (one person, say) in order.
//! - [`Bus::publish_stored`] / [`StoredEvent`]: an outbox's rows published, at most
//!   [`PUBLISH_WINDOW`] acknowledgements awaited at once.
//! - [`Bus::replay`]: what a stream stored since a moment, for a follower of core copies that
//!   may have lost some ([`Bus::losses`], [`Loss`]; the gateways' fan-out by group).
//! - [`trace`]: W3C trace context carried in NATS headers.
//! - [`endpoint`]: serve a request subject as an endpoint of the NATS service API, so `$SRV`
//!   discovery lists it, with tenant checks and typed replies.
//! - [`discovery`]: ask `$SRV.INFO` which services are running.
//! - [`BusError`]: what went wrong.

pub mod discovery;
pub mod endpoint;
pub mod trace;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::Client;
use async_nats::jetstream::{self, stream};
use serde::Serialize;
use serde::de::DeserializeOwned;
use showroom_proto::v1::{Durable, Filtered, StreamSpec};
use showroom_proto::{CommandError, Envelope, ErrorCode, Reply};

pub use async_nats;
pub use endpoint::{Admission, ServiceHost};
use showroom_telemetry::metrics::names;
use tracing::Instrument;

/// A bus operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// Could not connect to NATS.
    #[error("cannot connect to NATS at {url}: {source}")]
    Connect {
        /// The URL tried.
        url: String,
        /// Why.
        #[source]
        source: async_nats::ConnectError,
    },
    /// A JetStream stream could not be created or updated.
    #[error("cannot create or update stream {name}: {reason}")]
    Stream {
        /// The stream.
        name: &'static str,
        /// Why.
        reason: String,
    },
    /// Publishing failed, or JetStream did not acknowledge.
    #[error("publish to {subject} failed: {reason}")]
    Publish {
        /// The subject.
        subject: String,
        /// Why.
        reason: String,
    },
    /// Nobody answered the request in time, or nobody serves the subject.
    #[error("request to {subject} failed: {reason}")]
    Request {
        /// The subject.
        subject: String,
        /// Why.
        reason: String,
    },
    /// The credentials could not be read.
    #[error("NATS credentials: {0}")]
    Credentials(String),
    /// A payload was not the expected JSON.
    #[error("bad payload: {0}")]
    Decode(#[from] serde_json::Error),
    /// Subscribing or the service API failed.
    #[error("nats: {0}")]
    Nats(String),
}

/// A connection to NATS with its JetStream context.
#[derive(Clone)]
pub struct Bus {
    /// The core client (requests, core publish, subscriptions).
    pub client: Client,
    /// JetStream (durable events).
    pub js: jetstream::Context,
    /// The durable consumers this connection follows, for their backlogs.
    followed: Arc<Mutex<Vec<Followed>>>,
    /// Counts the moments core messages may have been lost (see [`Bus::losses`]).
    losses: tokio::sync::watch::Receiver<Loss>,
}

/// The last moment core messages to a connection may have been lost ([`Bus::losses`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Loss {
    /// How many such moments so far.
    pub count: u64,
    /// Since when messages may be missing: the disconnection before a reconnection, or when a
    /// subscription fell behind. `None` before the first.
    pub since: Option<chrono::DateTime<chrono::Utc>>,
}

/// A durable consumer a [`Bus`] follows.
struct Followed {
    stream: &'static str,
    durable: &'static str,
    consumer: jetstream::consumer::PullConsumer,
}

/// How many acknowledgements one [`Bus::publish_stored`] call awaits at once, at most: far
/// below the 5 000 unacknowledged publishes a JetStream context allows in all.
pub const PUBLISH_WINDOW: usize = 256;

/// A serialized event kept until it is published (a transactional outbox row).
#[derive(Debug, Clone)]
pub struct StoredEvent {
    /// The envelope id, used as `Nats-Msg-Id`.
    pub id: uuid::Uuid,
    /// Where it goes.
    pub subject: String,
    /// The JSON envelope.
    pub payload: Vec<u8>,
    /// The W3C trace context of the change that wrote it.
    pub traceparent: Option<String>,
}

impl StoredEvent {
    /// Serializes `env` for `subject`, with the current span's trace context.
    pub fn new<T: Serialize>(subject: String, env: &Envelope<T>) -> Result<Self, BusError> {
        Self::json(env.id, subject, env)
    }

    /// Serializes any event (a CloudEvent, say) with its id for `subject`, with the current
    /// span's trace context.
    pub fn json<T: Serialize>(
        id: uuid::Uuid,
        subject: String,
        event: &T,
    ) -> Result<Self, BusError> {
        let headers = trace::current_headers();
        Ok(Self {
            id,
            subject,
            payload: serde_json::to_vec(event)?,
            traceparent: headers.get("traceparent").map(|v| v.as_str().to_owned()),
        })
    }
}

/// How long a request waits for its reply by default.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Who connects: a name (shown in the server's connection list) and, on a server with auth, the
/// text of its `.creds` file.
#[derive(Debug, Clone, Copy)]
pub struct Login<'a> {
    /// The connection's name.
    pub name: &'a str,
    /// The `.creds` file's text; `None` connects without credentials.
    pub creds: Option<&'a str>,
    /// The CA (PEM file) that signed the server's certificate: TLS is then required. `None`:
    /// TLS only for a `tls://` URL, checked against the system's roots.
    pub ca: Option<&'a std::path::Path>,
}

impl<'a> Login<'a> {
    /// A login without credentials (a server without auth).
    pub fn anonymous(name: &'a str) -> Self {
        Self {
            name,
            creds: None,
            ca: None,
        }
    }
}

/// Connects a core NATS client. With credentials, its inboxes take the prefix its permissions
/// allow (`_INBOX_<name>`), so replies reach it and nobody else.
pub async fn client(url: &str, login: Login<'_>) -> Result<Client, BusError> {
    Ok(client_counting_losses(url, login, Echo::On).await?.0)
}

/// Whether a connection's own publishes reach its own subscriptions (NATS's default), or not
/// (`no_echo`: the publisher hands them to itself in process).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Echo {
    On,
    Off,
}

/// Like [`client`], with a count that moves each time core messages may have been lost: a
/// reconnection, or a subscription that fell behind (`SlowConsumer`: the client dropped some).
async fn client_counting_losses(
    url: &str,
    login: Login<'_>,
    echo: Echo,
) -> Result<(Client, tokio::sync::watch::Receiver<Loss>), BusError> {
    let (losses, lost_since) = tokio::sync::watch::channel(Loss::default());
    // A reconnection is a `Connected` after a `Disconnected` (showroom_nats_reconnects_total);
    // this holds when the `Disconnected` came.
    let lost = Arc::new(std::sync::Mutex::new(None));
    let mut options = async_nats::ConnectOptions::new()
        .name(login.name)
        .connection_timeout(Duration::from_secs(5))
        .request_timeout(Some(REQUEST_TIMEOUT))
        .event_callback(move |event| {
            let (lost, losses) = (lost.clone(), losses.clone());
            async move {
                let now = chrono::Utc::now();
                let mut disconnected = lost.lock().unwrap_or_else(|p| p.into_inner());
                let since = match event {
                    async_nats::Event::Disconnected => {
                        disconnected.get_or_insert(now);
                        None
                    }
                    async_nats::Event::Connected => {
                        let since = disconnected.take();
                        if since.is_some() {
                            metrics::counter!(names::NATS_RECONNECTS).increment(1);
                        }
                        since
                    }
                    async_nats::Event::SlowConsumer(_) => Some(now),
                    _ => None,
                };
                if let Some(since) = since {
                    losses.send_modify(|l| {
                        l.count += 1;
                        l.since = Some(since);
                    });
                }
            }
        });
    if echo == Echo::Off {
        options = options.no_echo();
    }
    if let Some(creds) = login.creds {
        let bad = |e: &dyn std::fmt::Display| BusError::Credentials(e.to_string());
        if let Some(prefix) = showroom_natsauth::creds::inbox_prefix(creds).map_err(|e| bad(&e))? {
            options = options.custom_inbox_prefix(prefix);
        }
        options = options.credentials(creds).map_err(|e| bad(&e))?;
    }
    if let Some(ca) = login.ca {
        if !ca.is_file() {
            return Err(BusError::Credentials(format!(
                "the NATS CA file {} is missing",
                ca.display()
            )));
        }
        options = options
            .add_root_certificates(ca.to_path_buf())
            .require_tls(true);
    }
    let servers: Vec<async_nats::ServerAddr> = url
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(|u| {
            u.parse()
                .map_err(|e| BusError::Nats(format!("the NATS URL {u:?} is not valid: {e}")))
        })
        .collect::<Result<_, _>>()?;
    let client = options
        .connect(servers)
        .await
        .map_err(|source| BusError::Connect {
            url: url.to_string(),
            source,
        })?;
    Ok((client, lost_since))
}

impl Bus {
    /// Connects with `login`.
    pub async fn connect(url: &str, login: Login<'_>) -> Result<Self, BusError> {
        Self::connect_with(url, login, Echo::On).await
    }

    /// Connects with `login`, and the server never sends this connection what it published
    /// itself (`no_echo`): for a publisher that hands its own messages to itself in process
    /// (the gateway's live copies, `services/gateway/src/interest.rs`).
    pub async fn connect_without_echo(url: &str, login: Login<'_>) -> Result<Self, BusError> {
        Self::connect_with(url, login, Echo::Off).await
    }

    async fn connect_with(url: &str, login: Login<'_>, echo: Echo) -> Result<Self, BusError> {
        let (client, losses) = client_counting_losses(url, login, echo).await?;
        Ok(Self {
            losses,
            ..Self::from_client(client)
        })
    }

    /// A bus over a client connected elsewhere.
    pub fn from_client(client: Client) -> Self {
        let js = jetstream::new(client.clone());
        Self {
            client,
            js,
            followed: Arc::default(),
            // A client connected elsewhere reports no losses.
            losses: tokio::sync::watch::channel(Loss::default()).1,
        }
    }

    /// A count that moves each time core NATS messages to this connection may have been lost:
    /// after a reconnection (nothing published meanwhile reached its subscriptions) or when a
    /// subscription fell behind and the client dropped messages (`SlowConsumer`), with since
    /// when. Whoever relies on core subscriptions catches up from the source of truth when it
    /// moves.
    pub fn losses(&self) -> tokio::sync::watch::Receiver<Loss> {
        self.losses.clone()
    }

    /// Sets, for every durable consumer this connection follows, the gauges of its backlog:
    /// events not yet given to it and events given but not acknowledged (`/metrics`).
    pub async fn record_backlogs(&self) {
        let followed: Vec<_> = self
            .followed
            .lock()
            .map(|f| {
                f.iter()
                    .map(|f| (f.stream, f.durable, f.consumer.clone()))
                    .collect()
            })
            .unwrap_or_default();
        for (stream, durable, consumer) in followed {
            match consumer.get_info().await {
                Ok(info) => {
                    let labels = [("stream", stream), ("consumer", durable)];
                    metrics::gauge!(names::CONSUMER_PENDING, &labels).set(info.num_pending as f64);
                    metrics::gauge!(names::CONSUMER_ACK_PENDING, &labels)
                        .set(info.num_ack_pending as f64);
                }
                Err(e) => tracing::debug!(stream, durable, error = %e, "no consumer info"),
            }
        }
    }

    /// Whether the client is connected now (for `/readyz`).
    pub fn is_connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }

    /// Creates the stream with its spec's limits and `replicas` copies, called by its owner at
    /// start. A stream that exists gets only what the owner owns brought up to date, its
    /// subjects; its replicas, limits and the rest stay as they are, so an operator's choice
    /// (more replicas, other limits) is never reverted.
    pub async fn ensure_stream(
        &self,
        spec: &StreamSpec,
        replicas: usize,
    ) -> Result<stream::Stream, BusError> {
        let err = |e: &dyn std::fmt::Display| BusError::Stream {
            name: spec.name,
            reason: e.to_string(),
        };
        if let Ok(existing) = self.js.get_stream(spec.name).await {
            let mut config = existing.cached_info().config.clone();
            let mut subjects = spec.subjects.clone();
            subjects.sort();
            let mut have = config.subjects.clone();
            have.sort();
            if have == subjects {
                return Ok(existing);
            }
            config.subjects = spec.subjects.clone();
            self.js.update_stream(config).await.map_err(|e| err(&e))?;
            return self.js.get_stream(spec.name).await.map_err(|e| err(&e));
        }
        let config = stream::Config {
            name: spec.name.to_string(),
            subjects: spec.subjects.clone(),
            max_age: spec.max_age,
            max_bytes: spec.max_bytes,
            discard: if spec.discard_new {
                stream::DiscardPolicy::New
            } else {
                stream::DiscardPolicy::Old
            },
            num_replicas: replicas.max(1),
            storage: stream::StorageType::File,
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        };
        match self.js.create_stream(config).await {
            Ok(created) => Ok(created),
            // Two replicas starting at once: whichever loses the race finds it made.
            Err(e) => self.js.get_stream(spec.name).await.map_err(|_| err(&e)),
        }
    }

    /// Waits for a stream created by its owner (another service) to exist.
    pub async fn stream(
        &self,
        name: &'static str,
        wait: Duration,
    ) -> Result<stream::Stream, BusError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match self.js.get_stream(name).await {
                Ok(s) => return Ok(s),
                Err(e) if tokio::time::Instant::now() >= deadline => {
                    return Err(BusError::Stream {
                        name,
                        reason: format!("not found (its owner creates it): {e}"),
                    });
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }

    /// The events of `stream` matching `filter` (all when empty) stored since `since`, in
    /// stream order, up to the stream's end when called: for a follower of core copies that
    /// may have lost some (a reconnection, a subscription that fell behind) to catch up from the
    /// durable record. Read through an ephemeral consumer of its own (in memory, acknowledging
    /// nothing), which the server removes once unused.
    pub async fn replay(
        &self,
        stream: &'static str,
        filter: String,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<jetstream::Message>, BusError> {
        use futures::StreamExt;
        let failed = |e: &dyn std::fmt::Display| BusError::Stream {
            name: stream,
            reason: format!("cannot replay: {e}"),
        };
        let start_time = start_time(since);
        let config = jetstream::consumer::pull::Config {
            deliver_policy: jetstream::consumer::DeliverPolicy::ByStartTime { start_time },
            ack_policy: jetstream::consumer::AckPolicy::None,
            filter_subject: filter,
            inactive_threshold: Duration::from_secs(5),
            num_replicas: 1,
            memory_storage: true,
            ..Default::default()
        };
        let s = self.js.get_stream(stream).await.map_err(|e| failed(&e))?;
        let end = s.cached_info().state.last_sequence;
        let consumer: jetstream::consumer::PullConsumer =
            s.create_consumer(config).await.map_err(|e| failed(&e))?;
        let mut out = Vec::new();
        if consumer.cached_info().num_pending == 0 {
            return Ok(out);
        }
        loop {
            let mut batch = consumer
                .fetch()
                .max_messages(500)
                .expires(Duration::from_secs(1))
                .messages()
                .await
                .map_err(|e| failed(&e))?;
            let mut got = 0;
            let mut done = false;
            while let Some(m) = batch.next().await {
                let m = m.map_err(|e| failed(&e))?;
                got += 1;
                let (seq, left) = m
                    .info()
                    .map(|i| (i.stream_sequence, i.pending))
                    .map_err(|e| failed(&e))?;
                if seq <= end {
                    out.push(m);
                }
                done |= seq >= end || left == 0;
            }
            if done || got == 0 {
                return Ok(out);
            }
        }
    }

    /// Publishes a durable event to JetStream and waits for its acknowledgement. The envelope
    /// id is the `Nats-Msg-Id`, so a retried publish is stored once.
    pub async fn publish_event<T: Serialize>(
        &self,
        subject: String,
        env: &Envelope<T>,
    ) -> Result<(), BusError> {
        let payload = serde_json::to_vec(env)?;
        let mut headers = trace::current_headers();
        headers.insert("Nats-Msg-Id", env.id.to_string().as_str());
        let fail = |reason: String| BusError::Publish {
            subject: subject.clone(),
            reason,
        };
        let ack = self
            .js
            .publish_with_headers(subject.clone(), headers, payload.into())
            .await
            .map_err(|e| fail(e.to_string()))?;
        ack.await.map_err(|e| fail(e.to_string()))?;
        Ok(())
    }

    /// Publishes an event whose fact is already stored, so its caller has nothing to give
    /// back on a failure: three quick tries, then, while NATS fails over (a node died, the
    /// stream is electing a leader), on in the background for [`PUBLISH_PERSIST_FOR`] or until
    /// `shutdown`. The envelope id is the `Nats-Msg-Id`, so a repeat is stored once.
    pub async fn publish_event_persistently<T: Serialize + Send + Sync + 'static>(
        &self,
        subject: String,
        env: Envelope<T>,
        shutdown: tokio_util::sync::CancellationToken,
    ) {
        for attempt in 0..3 {
            match self.publish_event(subject.clone(), &env).await {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!(error = %e, attempt, "cannot publish");
                    tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
                }
            }
        }
        let bus = self.clone();
        tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + PUBLISH_PERSIST_FOR;
            let mut pause = Duration::from_millis(500);
            while tokio::time::Instant::now() < deadline {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(pause) => {}
                }
                match bus.publish_event(subject.clone(), &env).await {
                    Ok(()) => {
                        tracing::info!(%subject, id = %env.id, "published late");
                        return;
                    }
                    Err(e) => tracing::debug!(error = %e, "still not published"),
                }
                pause = (pause * 2).min(Duration::from_secs(2));
            }
            tracing::error!(%subject, id = %env.id, "never published");
        });
    }

    /// Publishes events written earlier (an outbox), without waiting for each acknowledgement
    /// before the next publish, then waits for every acknowledgement. Each keeps its own id as
    /// `Nats-Msg-Id`, so publishing a row twice (a writer that died before deleting it) stores
    /// it once within the stream's duplicate window.
    ///
    /// At most [`PUBLISH_WINDOW`] acknowledgements are awaited at once: the connection's
    /// JetStream context lends 5 000 permits for unacknowledged publishes, shared by every task
    /// of the service, and a publish waits for a permit. A caller that kept every
    /// acknowledgement of a longer batch pending would hold all the permits while waiting for one
    /// more, forever.
    pub async fn publish_stored(&self, events: &[StoredEvent]) -> Result<(), BusError> {
        async fn settle(
            (e, ack): (&StoredEvent, jetstream::context::PublishAckFuture),
        ) -> Result<(), BusError> {
            ack.await.map(drop).map_err(|err| BusError::Publish {
                subject: e.subject.clone(),
                reason: err.to_string(),
            })
        }
        let mut acks = std::collections::VecDeque::with_capacity(events.len().min(PUBLISH_WINDOW));
        for e in events {
            if acks.len() >= PUBLISH_WINDOW
                && let Some(oldest) = acks.pop_front()
            {
                settle(oldest).await?;
            }
            let mut headers = async_nats::HeaderMap::new();
            headers.insert("Nats-Msg-Id", e.id.to_string().as_str());
            if let Some(tp) = &e.traceparent {
                headers.insert("traceparent", tp.as_str());
            }
            let ack = self
                .js
                .publish_with_headers(e.subject.clone(), headers, e.payload.clone().into())
                .await
                .map_err(|err| BusError::Publish {
                    subject: e.subject.clone(),
                    reason: err.to_string(),
                })?;
            acks.push_back((e, ack));
        }
        for pending in acks {
            settle(pending).await?;
        }
        Ok(())
    }

    /// Publishes an ephemeral signal on core NATS (typing, heartbeats): best-effort.
    pub async fn publish_signal<T: Serialize>(
        &self,
        subject: String,
        env: &Envelope<T>,
    ) -> Result<(), BusError> {
        let payload = serde_json::to_vec(env)?;
        self.client
            .publish_with_headers(subject.clone(), trace::current_headers(), payload.into())
            .await
            .map_err(|e| BusError::Publish {
                subject,
                reason: e.to_string(),
            })
    }

    /// Waits until the server has processed everything this connection sent before (its new
    /// subscriptions above all), by a request to `nobody`, a subject nobody serves: the server
    /// answers "no responders" after reading all that came before it. `Ok` then; an error when
    /// the server did not answer within the request time-out or something did answer.
    pub async fn round_trip(&self, nobody: String) -> Result<(), BusError> {
        match self
            .client
            .request(nobody.clone(), bytes::Bytes::new())
            .await
        {
            Err(e) if e.kind() == async_nats::client::RequestErrorKind::NoResponders => Ok(()),
            Err(e) => Err(BusError::Request {
                subject: nobody,
                reason: e.to_string(),
            }),
            Ok(_) => Err(BusError::Request {
                subject: nobody,
                reason: "a subject meant to have no responders answered".into(),
            }),
        }
    }

    /// Sends a command and waits for its typed reply. A transport failure (no responders,
    /// time-out) is a [`BusError`]; a refusal by the service is the inner `Err`.
    pub async fn request<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        subject: String,
        env: &Envelope<Req>,
    ) -> Result<Result<Resp, CommandError>, BusError> {
        let payload = serde_json::to_vec(env)?;
        let fail = |reason: String| BusError::Request {
            subject: subject.clone(),
            reason,
        };
        let msg = self
            .client
            .request_with_headers(subject.clone(), trace::current_headers(), payload.into())
            .await
            .map_err(|e| fail(e.to_string()))?;
        if let Some(status) = msg.status
            && status != async_nats::StatusCode::OK
        {
            return Err(fail(format!("status {status}")));
        }
        let reply: Reply<Resp> = serde_json::from_slice(&msg.payload)?;
        Ok(reply.into())
    }

    /// Like [`Bus::request`], retrying transport failures (e.g. during a rolling restart of
    /// the service) with a short backoff until `within` has passed. Only for commands that are
    /// safe to repeat.
    pub async fn request_retrying<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        subject: String,
        env: &Envelope<Req>,
        within: Duration,
    ) -> Result<Result<Resp, CommandError>, BusError> {
        let deadline = tokio::time::Instant::now() + within;
        let mut pause = Duration::from_millis(50);
        loop {
            match self.request(subject.clone(), env).await {
                Ok(r) => return Ok(r),
                Err(e @ BusError::Decode(_)) => return Err(e),
                Err(e) if tokio::time::Instant::now() + pause >= deadline => return Err(e),
                Err(e) => {
                    tracing::debug!(error = %e, "request failed; retrying");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(1000));
                }
            }
        }
    }

    /// Follows a stream that another service may not have created yet, with a durable
    /// consumer shared by every replica, in a tracked background task: waits for the stream
    /// (start-up never blocks on another service), creates the consumer to start at `since`
    /// (so nothing published while waiting is missed), calls `handle` for each event and acks
    /// it after. Undecodable events are logged and acked (they would never decode).
    pub fn follow_durable<T, F, Fut>(
        &self,
        durable: Durable,
        since: chrono::DateTime<chrono::Utc>,
        tracker: &tokio_util::task::TaskTracker,
        shutdown: tokio_util::sync::CancellationToken,
        handle: F,
    ) where
        T: DeserializeOwned + Send + 'static,
        F: Fn(Envelope<T>) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = ()> + Send,
    {
        self.follow_durable_on(durable, None, since, tracker, shutdown, handle)
    }

    /// [`Bus::follow_durable`] for the events of one subject of the stream (`filter`, which may
    /// hold wildcards), when the stream carries several kinds of payload.
    #[allow(clippy::too_many_arguments)]
    pub fn follow_durable_on<T, F, Fut>(
        &self,
        durable: Durable,
        filter: Option<String>,
        since: chrono::DateTime<chrono::Utc>,
        tracker: &tokio_util::task::TaskTracker,
        shutdown: tokio_util::sync::CancellationToken,
        handle: F,
    ) where
        T: DeserializeOwned + Send + 'static,
        F: Fn(Envelope<T>) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = ()> + Send,
    {
        self.follow_decoded(
            Follow::of(durable, filter),
            since,
            tracker,
            shutdown,
            decode::<T>,
            handle,
        )
    }

    /// [`Bus::follow_durable_on`] over several consumers of one stream, each filtered to one
    /// subject, with one handler: a service that reads a few kinds of a stream's events
    /// (`v1::ByKind`) is delivered, and acknowledges, only those. Each consumer made when
    /// missing starts where the consumer it replaces left off (its acknowledgement floor) if
    /// that one exists, or else at `since`, so an upgrade from the one consumer loses nothing.
    pub fn follow_each<T, F, Fut>(
        &self,
        consumers: Filtered,
        since: chrono::DateTime<chrono::Utc>,
        tracker: &tokio_util::task::TaskTracker,
        shutdown: tokio_util::sync::CancellationToken,
        handle: F,
    ) where
        T: DeserializeOwned + Send + 'static,
        F: Fn(Envelope<T>) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = ()> + Send,
    {
        let handle = Arc::new(handle);
        for follow in Follow::each(consumers) {
            let handle = handle.clone();
            self.follow_decoded(
                follow,
                since,
                tracker,
                shutdown.clone(),
                decode::<T>,
                move |event| handle(event),
            );
        }
    }

    /// [`Bus::follow_each`] for a handler that takes events in batches, as
    /// [`Bus::follow_durable_batches_on`] does (each consumer's batches apart).
    #[allow(clippy::too_many_arguments)]
    pub fn follow_each_batches<T, F, Fut>(
        &self,
        consumers: Filtered,
        since: chrono::DateTime<chrono::Utc>,
        max: usize,
        tracker: &tokio_util::task::TaskTracker,
        shutdown: tokio_util::sync::CancellationToken,
        handle: F,
    ) where
        T: DeserializeOwned + Send + 'static,
        F: Fn(Vec<Envelope<T>>) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = ()> + Send,
    {
        let handle = Arc::new(handle);
        for follow in Follow::each(consumers) {
            let handle = handle.clone();
            self.follow_batches_decoded(
                follow,
                since,
                max,
                tracker,
                shutdown.clone(),
                decode::<T>,
                move |events| handle(events),
            );
        }
    }

    /// [`Bus::follow_durable_on`] for events that are not [`Envelope`]s but plain JSON of
    /// their own shape (the CloudEvents of the `LEADS` stream).
    #[allow(clippy::too_many_arguments)]
    pub fn follow_durable_json<T, F, Fut>(
        &self,
        durable: Durable,
        filter: Option<String>,
        since: chrono::DateTime<chrono::Utc>,
        tracker: &tokio_util::task::TaskTracker,
        shutdown: tokio_util::sync::CancellationToken,
        handle: F,
    ) where
        T: DeserializeOwned + Send + 'static,
        F: Fn(T) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = ()> + Send,
    {
        self.follow_decoded(
            Follow::of(durable, filter),
            since,
            tracker,
            shutdown,
            decode_json::<T>,
            handle,
        )
    }

    /// [`Bus::follow_durable_json`] for a handler that takes events in batches: everything the
    /// consumer has pulled and not yet handled, up to `max` (a pull asks for `max` at a time),
    /// decoded in order (an undecodable event is skipped). Each event of a batch is
    /// acknowledged after the handler returns, with progress acks while it runs, so one
    /// commit can record many events.
    #[allow(clippy::too_many_arguments)]
    pub fn follow_durable_json_batches<T, F, Fut>(
        &self,
        durable: Durable,
        filter: Option<String>,
        since: chrono::DateTime<chrono::Utc>,
        max: usize,
        tracker: &tokio_util::task::TaskTracker,
        shutdown: tokio_util::sync::CancellationToken,
        handle: F,
    ) where
        T: DeserializeOwned + Send + 'static,
        F: Fn(Vec<T>) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = ()> + Send,
    {
        self.follow_batches_decoded(
            Follow::of(durable, filter),
            since,
            max,
            tracker,
            shutdown,
            decode_json::<T>,
            handle,
        )
    }

    /// [`Bus::follow_durable_on`] for a handler that takes [`Envelope`]s in batches, as
    /// [`Bus::follow_durable_json_batches`] does: a consumer whose every event costs a query
    /// asks once per batch instead.
    #[allow(clippy::too_many_arguments)]
    pub fn follow_durable_batches_on<T, F, Fut>(
        &self,
        durable: Durable,
        filter: Option<String>,
        since: chrono::DateTime<chrono::Utc>,
        max: usize,
        tracker: &tokio_util::task::TaskTracker,
        shutdown: tokio_util::sync::CancellationToken,
        handle: F,
    ) where
        T: DeserializeOwned + Send + 'static,
        F: Fn(Vec<Envelope<T>>) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = ()> + Send,
    {
        self.follow_batches_decoded(
            Follow::of(durable, filter),
            since,
            max,
            tracker,
            shutdown,
            decode::<T>,
            handle,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn follow_batches_decoded<D, F, Fut>(
        &self,
        follow: Follow,
        since: chrono::DateTime<chrono::Utc>,
        max: usize,
        tracker: &tokio_util::task::TaskTracker,
        shutdown: tokio_util::sync::CancellationToken,
        decode: fn(&[u8]) -> Result<D, BusError>,
        handle: F,
    ) where
        D: Send + 'static,
        F: Fn(Vec<D>) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = ()> + Send,
    {
        use futures::{FutureExt, StreamExt};

        let js = self.js.clone();
        let followed = self.followed.clone();
        let max = max.max(1);
        tracker.spawn(async move {
            let Durable {
                stream,
                name: consumer,
            } = follow.durable;
            let pulled = pull(&js, &followed, follow, since, max, &shutdown);
            let Some(mut messages) = pulled.await else {
                return;
            };
            loop {
                let mut batch = tokio::select! {
                    _ = shutdown.cancelled() => break,
                    m = messages.next() => match m {
                        Some(Ok(m)) => vec![m],
                        Some(Err(e)) => {
                            tracing::warn!(stream, consumer, error = %e, "consumer error");
                            continue;
                        }
                        None => break,
                    },
                };
                // Everything already pulled joins the batch.
                while batch.len() < max {
                    match messages.next().now_or_never() {
                        Some(Some(Ok(m))) => batch.push(m),
                        Some(Some(Err(e))) => {
                            tracing::warn!(stream, consumer, error = %e, "consumer error")
                        }
                        _ => break,
                    }
                }
                let mut events = Vec::with_capacity(batch.len());
                for m in &batch {
                    match decode(&m.payload) {
                        Ok(event) => events.push(event),
                        Err(e) => tracing::warn!(stream, consumer, error = %e, subject = %m.subject, "undecodable event skipped"),
                    }
                }
                if !events.is_empty() {
                    // The handler's work continues the trace of the batch's first event.
                    let span = tracing::info_span!(
                        "nats.consume",
                        messaging.system = "nats",
                        stream,
                        consumer,
                        events = events.len(),
                    );
                    trace::follow(&span, batch[0].headers.as_ref());
                    with_progress(&batch, handle(events).instrument(span)).await;
                }
                for m in &batch {
                    if let Err(e) = m.ack().await {
                        tracing::warn!(stream, consumer, error = %e, "cannot ack");
                    }
                }
            }
        });
    }

    #[allow(clippy::too_many_arguments)]
    fn follow_decoded<D, F, Fut>(
        &self,
        follow: Follow,
        since: chrono::DateTime<chrono::Utc>,
        tracker: &tokio_util::task::TaskTracker,
        shutdown: tokio_util::sync::CancellationToken,
        decode: fn(&[u8]) -> Result<D, BusError>,
        handle: F,
    ) where
        D: Send + 'static,
        F: Fn(D) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = ()> + Send,
    {
        let js = self.js.clone();
        let followed = self.followed.clone();
        tracker.spawn(async move {
            let Durable {
                stream,
                name: durable,
            } = follow.durable;
            let pulled = pull(&js, &followed, follow, since, PULL_BATCH, &shutdown);
            let Some(mut messages) = pulled.await else {
                return;
            };
            while let Some(msg) = next_pulled(&mut messages, &shutdown, stream, durable).await {
                match decode(&msg.payload) {
                    Ok(event) => handled_and_acked(stream, durable, &msg, handle(event)).await,
                    Err(e) => {
                        tracing::warn!(stream, durable, error = %e, "undecodable event skipped");
                        acked(stream, durable, &msg).await;
                    }
                }
            }
        });
    }

    /// [`Bus::follow_each`] with up to [`LANES`] events handled at once: events whose `lane`
    /// is the same are handled one after another, in the stream's order, and the others side
    /// by side. Each is acknowledged once handled (JetStream's explicit acknowledgements need
    /// no order), so a replica that stops has only the unhandled ones delivered again. For a
    /// handler whose time is mostly waiting on its store, one event at a time caps a replica
    /// at one event per round trip.
    pub fn follow_each_in_lanes<T, F, Fut>(
        &self,
        consumers: Filtered,
        since: chrono::DateTime<chrono::Utc>,
        lane: fn(&Envelope<T>) -> u64,
        tracker: &tokio_util::task::TaskTracker,
        shutdown: tokio_util::sync::CancellationToken,
        handle: F,
    ) where
        T: DeserializeOwned + Send + 'static,
        F: Fn(Envelope<T>) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = ()> + Send,
    {
        let handle = Arc::new(handle);
        for follow in Follow::each(consumers) {
            let handle = handle.clone();
            self.follow_in_lanes(follow, since, lane, tracker, shutdown.clone(), move |e| {
                handle(e)
            });
        }
    }

    /// [`Bus::follow_durable`] in lanes, as [`Bus::follow_each_in_lanes`].
    pub fn follow_durable_in_lanes<T, F, Fut>(
        &self,
        durable: Durable,
        since: chrono::DateTime<chrono::Utc>,
        lane: fn(&Envelope<T>) -> u64,
        tracker: &tokio_util::task::TaskTracker,
        shutdown: tokio_util::sync::CancellationToken,
        handle: F,
    ) where
        T: DeserializeOwned + Send + 'static,
        F: Fn(Envelope<T>) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = ()> + Send,
    {
        self.follow_in_lanes(
            Follow::of(durable, None),
            since,
            lane,
            tracker,
            shutdown,
            handle,
        )
    }

    fn follow_in_lanes<T, F, Fut>(
        &self,
        follow: Follow,
        since: chrono::DateTime<chrono::Utc>,
        lane: fn(&Envelope<T>) -> u64,
        tracker: &tokio_util::task::TaskTracker,
        shutdown: tokio_util::sync::CancellationToken,
        handle: F,
    ) where
        T: DeserializeOwned + Send + 'static,
        F: Fn(Envelope<T>) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = ()> + Send,
    {
        let js = self.js.clone();
        let followed = self.followed.clone();
        let lanes_tracker = tracker.clone();
        tracker.spawn(async move {
            let Durable {
                stream,
                name: durable,
            } = follow.durable;
            let pulled = pull(&js, &followed, follow, since, PULL_BATCH, &shutdown);
            let Some(mut messages) = pulled.await else {
                return;
            };
            let handle = Arc::new(handle);
            // Each lane holds one event waiting beside the one it handles: an event waits
            // little before its handling starts (it is not delivered again meanwhile).
            let lanes: Vec<tokio::sync::mpsc::Sender<(jetstream::Message, Envelope<T>)>> = (0
                ..LANES)
                .map(|_| {
                    let (tx, mut rx) =
                        tokio::sync::mpsc::channel::<(jetstream::Message, Envelope<T>)>(1);
                    let handle = handle.clone();
                    let shutdown = shutdown.clone();
                    lanes_tracker.spawn(async move {
                        loop {
                            let (msg, event) = tokio::select! {
                                _ = shutdown.cancelled() => return,
                                next = rx.recv() => match next {
                                    Some(next) => next,
                                    None => return,
                                },
                            };
                            handled_and_acked(stream, durable, &msg, handle(event)).await;
                        }
                    });
                    tx
                })
                .collect();
            while let Some(msg) = next_pulled(&mut messages, &shutdown, stream, durable).await {
                match decode::<T>(&msg.payload) {
                    Ok(event) => {
                        let to = &lanes[(lane(&event) % LANES as u64) as usize];
                        tokio::select! {
                            _ = shutdown.cancelled() => break,
                            sent = to.send((msg, event)) => if sent.is_err() { break },
                        }
                    }
                    Err(e) => {
                        tracing::warn!(stream, durable, error = %e, "undecodable event skipped");
                        acked(stream, durable, &msg).await;
                    }
                }
            }
        });
    }

    /// Drains the connection: unsubscribes, flushes what is pending, closes.
    pub async fn drain(&self) {
        if let Err(e) = self.client.drain().await {
            tracing::warn!(error = %e, "nats drain failed");
        }
    }
}

/// A consumer's start time (JetStream's clock type) for `since`.
fn start_time(since: chrono::DateTime<chrono::Utc>) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp_nanos(
        since.timestamp_nanos_opt().unwrap_or(0) as i128,
    )
    .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// One durable consumer to follow: its subject if filtered, and the consumer of an earlier
/// release it replaces, if any.
struct Follow {
    durable: Durable,
    filter: Option<String>,
    replaces: Option<Durable>,
}

impl Follow {
    fn of(durable: Durable, filter: Option<String>) -> Self {
        Self {
            durable,
            filter,
            replaces: None,
        }
    }

    fn each(consumers: Filtered) -> impl Iterator<Item = Self> {
        let replaces = consumers.replaces;
        consumers
            .each
            .into_iter()
            .map(move |(durable, filter)| Self {
                durable,
                filter: Some(filter),
                replaces: Some(replaces),
            })
    }
}

/// Where a consumer made now starts: right after the acknowledgement floor of the consumer it
/// replaces, if that one exists (events it had taken but not all acknowledged come again,
/// which handlers take in their stride), or else at `since`. An error other than "not found"
/// is returned, so the caller tries again rather than skip what the old consumer had left.
async fn start_of(
    s: &jetstream::stream::Stream,
    replaces: Option<Durable>,
    since: chrono::DateTime<chrono::Utc>,
) -> Result<async_nats::jetstream::consumer::DeliverPolicy, String> {
    use async_nats::jetstream::consumer::DeliverPolicy;
    use async_nats::jetstream::context::ConsumerInfoErrorKind;
    let by_time = DeliverPolicy::ByStartTime {
        start_time: start_time(since),
    };
    let Some(old) = replaces else {
        return Ok(by_time);
    };
    match s.consumer_info(old.name).await {
        Ok(info) => Ok(DeliverPolicy::ByStartSequence {
            start_sequence: info.ack_floor.stream_sequence + 1,
        }),
        Err(e) if matches!(e.kind(), ConsumerInfoErrorKind::NotFound) => Ok(by_time),
        Err(e) => Err(format!("the position of {}: {e}", old.name)),
    }
}

/// The pulled messages of a durable consumer, made when missing (waiting for its stream until
/// `shutdown`, then `None`) and listed for [`Bus::record_backlogs`].
async fn pull(
    js: &jetstream::Context,
    followed: &Arc<std::sync::Mutex<Vec<Followed>>>,
    follow: Follow,
    since: chrono::DateTime<chrono::Utc>,
    batch: usize,
    shutdown: &tokio_util::sync::CancellationToken,
) -> Option<jetstream::consumer::pull::Stream> {
    use async_nats::jetstream::consumer::{self, AckPolicy};
    let Follow {
        durable: Durable {
            stream,
            name: durable,
        },
        filter,
        replaces,
    } = follow;
    let config = consumer::pull::Config {
        durable_name: Some(durable.into()),
        ack_policy: AckPolicy::Explicit,
        ack_wait: ACK_WAIT,
        filter_subject: filter.unwrap_or_default(),
        ..Default::default()
    };
    let mut waited = false;
    loop {
        let attempt = async {
            let s = js.get_stream(stream).await.map_err(|e| e.to_string())?;
            // A consumer made by an older release keeps its 30 s ack wait: JetStream
            // (2.9) refuses to update a consumer that starts at a time, so an operator
            // edits it (docs/architecture.md, "Stream sizing"). Where a consumer starts
            // matters only when it is made.
            let c: consumer::PullConsumer = match s.get_consumer(durable).await {
                Ok(c) => c,
                Err(_) => {
                    let config = consumer::pull::Config {
                        deliver_policy: start_of(&s, replaces, since).await?,
                        ..config.clone()
                    };
                    s.get_or_create_consumer(durable, config)
                        .await
                        .map_err(|e| e.to_string())?
                }
            };
            if let Ok(mut f) = followed.lock() {
                f.retain(|f| (f.stream, f.durable) != (stream, durable));
                f.push(Followed {
                    stream,
                    durable,
                    consumer: c.clone(),
                });
            }
            c.stream()
                .max_messages_per_batch(batch)
                .expires(PULL_EXPIRES)
                .heartbeat(PULL_HEARTBEAT)
                .messages()
                .await
                .map_err(|e| e.to_string())
        };
        match attempt.await {
            Ok(m) => return Some(m),
            Err(e) => {
                if !waited {
                    tracing::info!(stream, durable, reason = %e, "waiting for the stream");
                    waited = true;
                }
                tokio::select! {
                    _ = shutdown.cancelled() => return None,
                    _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                }
            }
        }
    }
}

/// A durable consumer's next pulled event; `None` once `shutdown` is cancelled or the pulls
/// end. A pull's error is logged and the next one waited for.
async fn next_pulled(
    messages: &mut jetstream::consumer::pull::Stream,
    shutdown: &tokio_util::sync::CancellationToken,
    stream: &str,
    durable: &str,
) -> Option<jetstream::Message> {
    use futures::StreamExt;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return None,
            m = messages.next() => match m {
                Some(Ok(m)) => return Some(m),
                Some(Err(e)) => tracing::warn!(stream, durable, error = %e, "consumer error"),
                None => return None,
            },
        }
    }
}

/// Runs `handled`, one event's handling, in a span that continues the trace of whoever
/// published it (with progress acks while it runs), then acknowledges the event.
async fn handled_and_acked(
    stream: &str,
    durable: &str,
    msg: &jetstream::Message,
    handled: impl std::future::Future<Output = ()>,
) {
    let span = tracing::info_span!(
        "nats.consume",
        messaging.system = "nats",
        stream,
        consumer = durable,
        subject = %msg.subject,
    );
    trace::follow(&span, msg.headers.as_ref());
    with_progress(std::slice::from_ref(msg), handled.instrument(span)).await;
    acked(stream, durable, msg).await;
}

/// Acknowledges one event (a failure is logged: the event comes again after the ack wait).
async fn acked(stream: &str, durable: &str, msg: &jetstream::Message) {
    if let Err(e) = msg.ack().await {
        tracing::warn!(stream, durable, error = %e, "cannot ack");
    }
}

/// Runs `handled` while telling JetStream every [`PROGRESS_EVERY`] that `messages` are still
/// being worked on.
async fn with_progress(
    messages: &[jetstream::Message],
    handled: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(handled);
    let mut progress =
        tokio::time::interval_at(tokio::time::Instant::now() + PROGRESS_EVERY, PROGRESS_EVERY);
    loop {
        tokio::select! {
            () = &mut handled => return,
            _ = progress.tick() => {
                for m in messages {
                    let _ = m.ack_with(jetstream::AckKind::Progress).await;
                }
            }
        }
    }
}

/// How long [`Bus::publish_event_persistently`] keeps trying: inside JetStream's 2-minute
/// duplicate window, so a publish that did arrive earlier is not stored twice.
pub const PUBLISH_PERSIST_FOR: Duration = Duration::from_secs(110);

/// How long a pulled event may go unacknowledged before JetStream hands it to another replica.
/// Short, so that the events a killed replica had pulled are redelivered within seconds; a
/// handler that runs longer keeps its event with progress acks ([`PROGRESS_EVERY`]).
pub const ACK_WAIT: Duration = Duration::from_secs(6);
/// How often a running handler tells JetStream it is still working on its event.
pub const PROGRESS_EVERY: Duration = Duration::from_secs(2);
/// Events a replica pulls at a time: few, so a killed replica strands few, and replicas share.
pub const PULL_BATCH: usize = 8;
/// Events [`Bus::follow_each_in_lanes`] handles at once, at most.
pub const LANES: usize = 8;
/// A pull request's life and the server's idle heartbeat on it: a pull stranded on a NATS node
/// that died is noticed and sent again within seconds.
const PULL_EXPIRES: Duration = Duration::from_secs(5);
const PULL_HEARTBEAT: Duration = Duration::from_secs(2);

/// Decodes an envelope from a payload.
pub fn decode<T: DeserializeOwned>(payload: &[u8]) -> Result<Envelope<T>, BusError> {
    Ok(serde_json::from_slice(payload)?)
}

/// Decodes plain JSON of its own shape (not an [`Envelope`]) from a payload.
fn decode_json<T: DeserializeOwned>(payload: &[u8]) -> Result<T, BusError> {
    Ok(serde_json::from_slice(payload)?)
}

/// Turns a bus failure into the refusal a client sees: a dependency is unavailable.
pub fn unavailable(e: &BusError) -> CommandError {
    tracing::warn!(error = %e, "bus request failed");
    CommandError::new(
        ErrorCode::Unavailable,
        "a backing service did not answer in time; retry",
    )
}
