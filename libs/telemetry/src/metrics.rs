//! Prometheus metrics: the names every service records under, the process's recorder, and the
//! collectors that read a value only when Prometheus scrapes (pool sizes, outbox rows, consumer
//! backlogs).
//!
//! Services record with the `metrics` macros (`metrics::counter!(names::FRAMES, ...)`); the
//! recorder installed by [`install`] (from [`crate::init`], once per process) keeps the values,
//! and the admin server renders them at `GET /metrics`. A process that never installed it (a
//! test running services as tasks) records nothing and serves an empty page.
//!
//! Every name carries its unit (`_seconds`, `_rows`, `_messages`, `_connections`) and counters
//! end in `_total`. Every series has the label `service`. Latency histograms have the buckets
//! of [`LATENCY_BUCKETS`]. `docs/architecture.md` ("Metrics") lists them with their labels.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures::future::BoxFuture;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// The metric names (one place, so a dashboard and a test can check them).
pub mod names {
    /// Gauge, 1: the service and its version (labels `version`).
    pub const BUILD_INFO: &str = "showroom_build_info";
    /// Gauge: open WebSockets by `kind` (`widget`, `agent`), after `hello`.
    pub const SOCKETS_OPEN: &str = "showroom_sockets_open";
    /// Counter: socket frames by `kind` and `direction` (`in`, `out`).
    pub const FRAMES: &str = "showroom_frames_total";
    /// Histogram: a `send` frame's arrival to its `ack` (stored and published), by `kind`.
    pub const SEND_ACK_SECONDS: &str = "showroom_send_ack_duration_seconds";
    /// Counter: routing decisions (`start`, `route`) by `outcome`: the chat's state after it
    /// (`bot`, `incoming`, `offline`, ...) or `refused`.
    pub const ROUTING_DECISIONS: &str = "showroom_routing_decisions_total";
    /// Histogram: one routing decision, from its trigger to its commit.
    pub const ROUTING_DECISION_SECONDS: &str = "showroom_routing_decision_duration_seconds";
    /// Counter: offers made to agents.
    pub const OFFERS: &str = "showroom_offers_total";
    /// Counter: offers accepted.
    pub const OFFER_ACCEPTS: &str = "showroom_offer_accepts_total";
    /// Gauge: rows waiting in an outbox, by `outbox`.
    pub const OUTBOX_PENDING: &str = "showroom_outbox_pending_rows";
    /// Gauge: the age of an outbox's oldest row (0 when empty), by `outbox`.
    pub const OUTBOX_OLDEST_AGE: &str = "showroom_outbox_oldest_age_seconds";
    /// Gauge: events a durable consumer has not yet been given, by `stream` and `consumer`.
    pub const CONSUMER_PENDING: &str = "showroom_jetstream_consumer_pending_messages";
    /// Gauge: events a durable consumer was given and has not acknowledged yet.
    pub const CONSUMER_ACK_PENDING: &str = "showroom_jetstream_consumer_ack_pending_messages";
    /// Counter: console heartbeats presence processed.
    pub const HEARTBEATS: &str = "showroom_heartbeats_total";
    /// Counter: webhook POSTs by `outcome` (`delivered`, `failed`, `gone`).
    pub const WEBHOOK_ATTEMPTS: &str = "showroom_webhook_attempts_total";
    /// Counter: e-mails by `purpose` (`adf`: `delivered`, `failed`, `gone`; `notification`:
    /// `sent`, `failed`) and `outcome`.
    pub const EMAIL_ATTEMPTS: &str = "showroom_email_attempts_total";
    /// Counter: lead deliveries dead-lettered, by `channel` (`webhook`, `email`).
    pub const DEAD_LETTERS: &str = "showroom_dead_letters_total";
    /// Gauge: Postgres pool connections by `state` (`in_use`, `idle`).
    pub const DB_POOL_CONNECTIONS: &str = "showroom_db_pool_connections";
    /// Gauge: the most connections the Postgres pool opens.
    pub const DB_POOL_MAX: &str = "showroom_db_pool_max_connections";
    /// Counter: NATS reconnections after a lost connection.
    pub const NATS_RECONNECTS: &str = "showroom_nats_reconnects_total";
    /// Counter: requests and frames refused by a gateway limit, by `limit` (`login_account`,
    /// `login_ip`, `conversations_per_ip`, `conversations_per_website`, `uploads_per_visitor`,
    /// `messages_per_socket`, `messages_per_conversation`, `pings_per_socket`,
    /// `password_hashes`).
    pub const RATE_LIMITED: &str = "showroom_rate_limited_total";
    /// Counter: checks of the limits shared through Redis that let a request through because
    /// Redis failed (they fail open).
    pub const LIMITS_FAILED_OPEN: &str = "showroom_limits_failed_open_total";
    /// Counter: desktop notices sent uncoalesced because Redis, where their coalescing marks
    /// live, failed (notification; they fail open).
    pub const NOTICE_MARKS_FAILED_OPEN: &str = "showroom_notice_marks_failed_open_total";
    /// Gauge: argon2 password hashes and checks running now (at most the gateway's permits).
    pub const PASSWORD_HASHES_IN_FLIGHT: &str = "showroom_password_hashes_in_flight";
    /// Counter: live copies of conversation events a gateway received, by `kind` (`message`,
    /// `typing`): only those of the conversations its sockets watch.
    pub const LIVE_EVENTS: &str = "showroom_live_events_total";
    /// Counter: messages a gateway received on its dealer groups' feeds (`groups.rs`: the
    /// conversation, internal chat and presence events, and the requests on the same subjects,
    /// which it skips), by `stream` (`notices` for desktop notices): only those of the groups
    /// whose sockets it holds.
    pub const FOLLOWED_EVENTS: &str = "showroom_followed_events_total";
    /// Counter: windows of a stream a gateway read again after a loss (or a late join), by
    /// `stream`: a stream read whole is read once per loss for all its groups, the others once
    /// per group.
    pub const FOLLOWED_READS: &str = "showroom_followed_stream_reads_total";
    /// Gauge: dealer groups whose events a gateway follows (those its sockets belong to, kept
    /// for a minute after the last one leaves).
    pub const FOLLOWED_GROUPS: &str = "showroom_followed_groups";
    /// Gauge: how old the last event a gateway took from its groups' feeds was when it arrived
    /// (now less the envelope's `time`), by `stream`: how far its sockets lag the bus.
    pub const FOLLOWED_EVENT_AGE: &str = "showroom_followed_event_age_seconds";
    /// Gauge: conversations whose live copies a gateway is subscribed to (those its sockets
    /// watch).
    pub const LIVE_CONVERSATIONS: &str = "showroom_live_conversations";
    /// Counter: bus requests answered `unavailable` without running because their endpoint
    /// was full, by `endpoint` and `reason` (`queue_full`, `waited_too_long`).
    pub const REQUESTS_SHED: &str = "showroom_requests_shed_total";
    /// Counter: shoppers' `start`s a gateway answered `unavailable` because its own messages
    /// were slow from `send` to `ack` (`services/gateway/src/admission.rs`).
    pub const STARTS_SHED: &str = "showroom_starts_shed_total";
    /// Counter: rows the retention sweep deleted, by `table` (`showroom_runtime::retention`).
    pub const RETENTION_DELETED: &str = "showroom_retention_deleted_rows_total";
}

/// Upper bounds (seconds) of the latency histograms' buckets: 1 ms to 10 s.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs this process's recorder, with `service` on every series, and records
/// [`names::BUILD_INFO`]. A second call (or a recorder installed elsewhere) is an error.
pub fn install(service: &'static str, version: &'static str) -> anyhow::Result<()> {
    let handle = PrometheusBuilder::new()
        .add_global_label("service", service)
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)?
        .install_recorder()?;
    HANDLE
        .set(handle)
        .map_err(|_| anyhow::anyhow!("the metrics recorder is installed already"))?;
    describe();
    metrics::gauge!(names::BUILD_INFO, "version" => version).set(1.0);
    // Counted from zero, so "no reconnects yet" is a series and not a gap.
    metrics::counter!(names::NATS_RECONNECTS).absolute(0);
    Ok(())
}

/// The exposition text of everything recorded, or `None` without a recorder.
pub fn render() -> Option<String> {
    HANDLE.get().map(|h| {
        h.run_upkeep();
        h.render()
    })
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    use names::*;
    describe_gauge!(
        BUILD_INFO,
        "The running service and its version (always 1)."
    );
    describe_gauge!(SOCKETS_OPEN, "Open WebSockets after hello, by kind.");
    describe_counter!(FRAMES, "WebSocket frames by kind and direction.");
    describe_histogram!(
        SEND_ACK_SECONDS,
        "From a send frame's arrival to its ack (stored and published)."
    );
    describe_counter!(ROUTING_DECISIONS, "Routing decisions by outcome.");
    describe_histogram!(
        ROUTING_DECISION_SECONDS,
        "One routing decision, from its trigger to its commit."
    );
    describe_counter!(OFFERS, "Offers of a chat made to agents.");
    describe_counter!(OFFER_ACCEPTS, "Offers accepted by agents.");
    describe_gauge!(OUTBOX_PENDING, "Rows waiting in the outbox.");
    describe_gauge!(
        OUTBOX_OLDEST_AGE,
        "Age of the outbox's oldest row (0 when empty)."
    );
    describe_gauge!(
        CONSUMER_PENDING,
        "Events a durable consumer has not been given yet."
    );
    describe_gauge!(
        CONSUMER_ACK_PENDING,
        "Events a durable consumer was given and has not acknowledged."
    );
    describe_counter!(HEARTBEATS, "Console heartbeats processed.");
    describe_counter!(
        LIVE_EVENTS,
        "Live copies of conversation events received, by kind."
    );
    describe_counter!(
        FOLLOWED_EVENTS,
        "Messages received on the feeds of a gateway's dealer groups, by stream."
    );
    describe_counter!(
        FOLLOWED_READS,
        "Windows of a stream read again after a loss, by stream."
    );
    describe_gauge!(
        FOLLOWED_GROUPS,
        "Dealer groups whose events a gateway follows."
    );
    describe_gauge!(
        FOLLOWED_EVENT_AGE,
        "Age of the last event taken from a gateway's group feeds, by stream."
    );
    describe_gauge!(
        LIVE_CONVERSATIONS,
        "Conversations whose live copies this gateway follows."
    );
    describe_counter!(
        REQUESTS_SHED,
        "Bus requests answered busy without running, by endpoint and reason."
    );
    describe_counter!(
        STARTS_SHED,
        "Shoppers' starts answered busy while the gateway's messages were slow to store."
    );
    describe_counter!(
        RETENTION_DELETED,
        "Rows the retention sweep deleted, by table."
    );
    describe_counter!(WEBHOOK_ATTEMPTS, "Webhook POSTs by outcome.");
    describe_counter!(EMAIL_ATTEMPTS, "E-mails by purpose and outcome.");
    describe_counter!(DEAD_LETTERS, "Lead deliveries dead-lettered, by channel.");
    describe_gauge!(DB_POOL_CONNECTIONS, "Postgres pool connections by state.");
    describe_gauge!(DB_POOL_MAX, "The most connections the Postgres pool opens.");
    describe_counter!(
        NATS_RECONNECTS,
        "NATS reconnections after a lost connection."
    );
    describe_counter!(
        RATE_LIMITED,
        "Requests and frames refused by a limit, by limit."
    );
    describe_counter!(
        LIMITS_FAILED_OPEN,
        "Shared-limit checks let through because Redis failed."
    );
    describe_counter!(
        NOTICE_MARKS_FAILED_OPEN,
        "Passes of desktop notices sent uncoalesced because Redis failed."
    );
    describe_gauge!(
        PASSWORD_HASHES_IN_FLIGHT,
        "Password hashes and checks running now."
    );
}

type Collector = Arc<dyn Fn() -> BoxFuture<'static, ()> + Send + Sync>;

/// Values read only when scraped (a pool's size, an outbox's rows, a consumer's backlog): each
/// collector sets its gauges, bounded to 2 s, before `/metrics` renders.
#[derive(Clone, Default)]
pub struct Collectors {
    collectors: Vec<Collector>,
}

impl Collectors {
    /// Adds a collector.
    pub fn with<F>(mut self, collect: F) -> Self
    where
        F: Fn() -> BoxFuture<'static, ()> + Send + Sync + 'static,
    {
        self.add(collect);
        self
    }

    /// Adds a collector in place.
    pub fn add<F>(&mut self, collect: F)
    where
        F: Fn() -> BoxFuture<'static, ()> + Send + Sync + 'static,
    {
        self.collectors.push(Arc::new(collect));
    }

    /// Runs every collector at once; a slow one is left behind after 2 s (its gauges keep their
    /// last values).
    pub async fn run(&self) {
        let runs = self.collectors.iter().map(|c| async move {
            if tokio::time::timeout(Duration::from_secs(2), c())
                .await
                .is_err()
            {
                tracing::warn!("a metrics collector took over 2 s");
            }
        });
        futures::future::join_all(runs).await;
    }
}
