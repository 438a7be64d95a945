//! Abuse limits: every limit of the gateway, in one place (`docs/architecture.md`, "Limits",
//! lists them with their defaults and why).
//!
//! - **Shared through Redis** (every gateway replica counts in the same place, or a limit would
//!   be multiplied by the replica count and an attacker would spread over the replicas):
//!   failed logins per account and per client address, with a wait that doubles after the free
//!   failures ([`Limits::login_allowed`], [`Limits::login_failed`],
//!   [`Limits::login_succeeded`]); conversations started per client address and website, and
//!   per website ([`Limits::conversation_started`], settable per website); uploads per visitor
//!   ([`Limits::upload`]). Each is one Lua script, so a check and its count are one atomic round
//!   trip, timed by Redis's own clock. **When Redis fails they fail open** with a warning (and
//!   `showroom_limits_failed_open_total`): a chat or a login must not stop because the limits'
//!   store is down; the per-replica limits below still hold.
//! - **Per replica**, with `governor` (GCRA): messages per socket ([`SocketLimits`], a socket
//!   lives on one replica) and per conversation ([`Limits::message`], keyed; the writers of one
//!   chat are on one or two replicas, so N replicas at most multiply it by the sockets' own
//!   limit); pings per socket ([`SocketLimits::ping`]).
//! - **Password hashes in flight**: a semaphore around every argon2 hash or check
//!   ([`Limits::hashing`]); each takes ~19 MiB, so a burst of logins cannot run the pod out of
//!   memory. Waiting too long for a permit answers 503 `busy`.
//!
//! Over a limit, REST answers 429 `rate_limited` with `Retry-After` ([`Limited`] into
//! [`ApiError`]); a socket answers the error frame `rate_limited` with `retry_after_secs`, keeps
//! the socket open and neither stores nor forwards the frame.

use std::num::NonZeroU32;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use showroom_runtime::fail_open::FailOpen;
use showroom_telemetry::metrics::names;
use tokio::sync::Semaphore;
use uuid::Uuid;

use crate::directory::{DirectoryError, Website};
use crate::error::ApiError;

/// The limits' settings (gateway variables `SHOWROOM_<FIELD>`). The defaults are set so that a
/// real dealer's shoppers and agents never meet them; tests and benchmarks that drive one
/// socket or one address far harder than a person raise them.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct LimitsConfig {
    /// Failed logins an account (its e-mail, lower-cased) may have within
    /// `login_window_secs` before each further one makes the next attempt wait.
    pub login_free_failures: u32,
    /// Failed logins from one client address within the window before each further one makes
    /// the next attempt from it wait (higher: a dealership's whole staff may share one NAT).
    pub login_ip_free_failures: u32,
    /// How long failures count: the count starts again this long after the last failure.
    pub login_window_secs: u64,
    /// The wait after the free failures doubles with each failure (1 s, 2 s, 4 s …) up to this.
    pub login_max_delay_secs: u64,
    /// Conversations one client address may start on one website per hour (the widget's
    /// `start` and `leave_message`, and `POST /api/v1/widget/{key}/messages`), all at once if
    /// it likes; a website may set its own (`websites.conversations_per_ip_per_hour`).
    pub conversations_per_ip_per_hour: u32,
    /// Conversations one website may start per minute from all addresses together; a website
    /// may set its own (`websites.conversations_per_minute`).
    pub conversations_per_website_per_minute: u32,
    /// Messages (`send`, `internal_send`) one socket may send per second, after a burst of
    /// `message_burst_per_socket`.
    pub messages_per_socket_per_sec: u32,
    /// Messages one socket may send at once.
    pub message_burst_per_socket: u32,
    /// Messages one conversation (or internal chat) may take per minute from the sockets of
    /// one gateway replica, after a burst of `message_burst_per_conversation`.
    pub messages_per_conversation_per_minute: u32,
    /// Messages one conversation may take at once.
    pub message_burst_per_conversation: u32,
    /// Pings one socket may send per second, after a burst of `ping_burst_per_socket`.
    pub pings_per_socket_per_sec: u32,
    /// Pings one socket may send at once.
    pub ping_burst_per_socket: u32,
    /// Every other frame (`typing`, `open`, `history`, `set_status`, `board`, …) one socket
    /// may send per second, after a burst of `frame_burst_per_socket`.
    pub frames_per_socket_per_sec: u32,
    /// Other frames one socket may send at once.
    pub frame_burst_per_socket: u32,
    /// Files one visitor (its visitor token, else its address) may upload per hour, after a
    /// burst of `upload_burst_per_visitor`.
    pub uploads_per_visitor_per_hour: u32,
    /// Files one visitor may upload at once.
    pub upload_burst_per_visitor: u32,
    /// How long a request waits for one of the password-hash permits before it is answered
    /// 503 `busy`.
    pub password_hash_wait_secs: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            login_free_failures: 5,
            login_ip_free_failures: 50,
            login_window_secs: 15 * 60,
            login_max_delay_secs: 15 * 60,
            conversations_per_ip_per_hour: 20,
            conversations_per_website_per_minute: 300,
            messages_per_socket_per_sec: 5,
            message_burst_per_socket: 20,
            messages_per_conversation_per_minute: 60,
            message_burst_per_conversation: 30,
            pings_per_socket_per_sec: 2,
            ping_burst_per_socket: 10,
            frames_per_socket_per_sec: 20,
            frame_burst_per_socket: 60,
            uploads_per_visitor_per_hour: 20,
            upload_burst_per_visitor: 10,
            password_hash_wait_secs: 5,
        }
    }
}

impl LimitsConfig {
    /// The defaults with conversations and messages limited only far above what one load
    /// generator on one address sends (benchmarks, the fault and ordering tests, whose clients
    /// all come from 127.0.0.1 and write as fast as the gateway answers). Logins, uploads,
    /// pings and the hash permits keep their defaults.
    pub fn for_load_tests() -> Self {
        Self {
            conversations_per_ip_per_hour: 1_000_000,
            conversations_per_website_per_minute: 1_000_000,
            messages_per_socket_per_sec: 1_000_000,
            message_burst_per_socket: 1_000_000,
            messages_per_conversation_per_minute: 1_000_000,
            message_burst_per_conversation: 1_000_000,
            frames_per_socket_per_sec: 1_000_000,
            frame_burst_per_socket: 1_000_000,
            ..Self::default()
        }
    }

    /// These settings as the gateway's environment (`SHOWROOM_<FIELD>`), for a gateway process.
    pub fn env(&self) -> Vec<(String, String)> {
        let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(self) else {
            return Vec::new();
        };
        fields
            .into_iter()
            .map(|(k, v)| {
                (
                    format!("SHOWROOM_{}", k.to_ascii_uppercase()),
                    v.to_string(),
                )
            })
            .collect()
    }
}

/// A limit was met: what to tell the client, and when it may try again.
#[derive(Debug, Clone)]
pub struct Limited {
    /// Whole seconds to wait (at least 1).
    pub retry_after_secs: u64,
    /// For people: which limit, and the wait.
    pub message: String,
}

impl Limited {
    /// Counted under `limit` in `showroom_rate_limited_total`.
    fn new(limit: &'static str, wait: Duration, message: impl FnOnce(&str) -> String) -> Self {
        metrics::counter!(names::RATE_LIMITED, "limit" => limit).increment(1);
        let secs = wait.as_millis().div_ceil(1000).max(1) as u64;
        let when = if secs < 120 {
            format!("{secs} s")
        } else {
            format!("{} min", secs.div_ceil(60))
        };
        tracing::info!(limit, retry_after_secs = secs, "rate limited");
        Self {
            retry_after_secs: secs,
            message: message(&when),
        }
    }
}

impl From<Limited> for ApiError {
    fn from(l: Limited) -> Self {
        ApiError::rate_limited(l.retry_after_secs, l.message)
    }
}

/// A password could not be hashed or checked now.
#[derive(Debug)]
pub enum HashError {
    /// Every permit stayed taken for `password_hash_wait_secs`: try again in this many seconds.
    Busy(u64),
    /// The hashing task failed.
    Failed(String),
}

impl From<HashError> for ApiError {
    fn from(e: HashError) -> Self {
        match e {
            HashError::Busy(secs) => ApiError::busy(secs),
            HashError::Failed(e) => ApiError::internal(e),
        }
    }
}

impl From<HashError> for DirectoryError {
    fn from(e: HashError) -> Self {
        match e {
            HashError::Busy(secs) => DirectoryError::Busy(secs),
            HashError::Failed(e) => DirectoryError::Hash(e),
        }
    }
}

/// How long a check waits for Redis before it fails open.
const REDIS_WITHIN: Duration = Duration::from_millis(500);

/// How many per-conversation checks between two sweeps of the conversations not seen lately.
const SWEEP_EVERY: u64 = 4096;

/// Redis's clock in ms, in a script: every replica counts on the same clock.
const NOW: &str = "local t = redis.call('TIME')\n\
    local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n";

/// GCRA over every bucket of `KEYS` at once (ARGV: each bucket's interval in ms and burst). When
/// each has room, each takes one and the answer is `{0, 0}`; otherwise nothing is taken and the
/// answer is `{ms until all would have room, the (1-based) bucket that waits longest}`. A bucket
/// is its theoretical arrival time, expiring when it is full again.
const TAKE: &str = "local wait, which = 0, 0\n\
    local tats = {}\n\
    for i, key in ipairs(KEYS) do\n\
      local interval = tonumber(ARGV[2 * i - 1])\n\
      local burst = tonumber(ARGV[2 * i])\n\
      local tat = tonumber(redis.call('GET', key) or now)\n\
      if tat < now then tat = now end\n\
      local allow_at = tat + interval - burst * interval\n\
      if allow_at - now > wait then wait, which = allow_at - now, i end\n\
      tats[i] = tat + interval\n\
    end\n\
    if wait > 0 then return {wait, which} end\n\
    for i, key in ipairs(KEYS) do\n\
      redis.call('SET', key, string.format('%.0f', tats[i]), 'PX', string.format('%.0f', tats[i] - now))\n\
    end\n\
    return {0, 0}\n";

/// How long until every login counter of `KEYS` lets an attempt through: `{ms, the (1-based)
/// counter that waits longest}`, `{0, 0}` for now.
const LOGIN_WAIT: &str = "local wait, which = 0, 0\n\
    for i, key in ipairs(KEYS) do\n\
      local till = tonumber(redis.call('HGET', key, 'until') or 0)\n\
      if till - now > wait then wait, which = till - now, i end\n\
    end\n\
    return {wait, which}\n";

/// A failed login on every counter of `KEYS` (ARGV: the window and the longest wait in ms, then
/// each counter's free failures): past them, the next attempt waits 1 s, doubling with each
/// failure up to the longest wait. A counter lasts the window after its last failure (or its
/// wait, if longer).
const LOGIN_FAILED: &str = "local window = tonumber(ARGV[1])\n\
    local cap = tonumber(ARGV[2])\n\
    for i, key in ipairs(KEYS) do\n\
      local free = tonumber(ARGV[2 + i])\n\
      local n = redis.call('HINCRBY', key, 'n', 1)\n\
      local ttl = window\n\
      if n > free then\n\
        local delay = math.min(1000 * 2 ^ (n - free - 1), cap)\n\
        redis.call('HSET', key, 'until', string.format('%.0f', now + delay))\n\
        ttl = math.max(window, delay)\n\
      end\n\
      redis.call('PEXPIRE', key, string.format('%.0f', ttl))\n\
    end\n\
    return {0, 0}\n";

/// The Redis side: the connection and the scripts.
struct Shared {
    redis: FailOpen,
    take: redis::Script,
    login_wait: redis::Script,
    login_failed: redis::Script,
}

/// Every limit of one gateway replica (held by [`crate::Rest`]).
pub struct Limits {
    config: LimitsConfig,
    /// `None`: no Redis configured; the shared limits are off.
    shared: Option<Shared>,
    per_conversation: DefaultKeyedRateLimiter<Uuid>,
    /// Per-conversation checks so far (every [`SWEEP_EVERY`] the idle ones are dropped).
    checks: AtomicU64,
    clock: DefaultClock,
    hashes: Arc<Semaphore>,
}

/// A key for Redis that does not hold the address or e-mail itself.
fn digest(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .take(12)
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn nonzero(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

/// `n` per second, `burst` at once.
fn per_second(n: u32, burst: u32) -> Quota {
    Quota::per_second(nonzero(n)).allow_burst(nonzero(burst))
}

/// GCRA arguments of a bucket of `n` per `period`, `burst` at once: its interval in ms and burst.
fn bucket(n: u32, period: Duration, burst: u32) -> [u64; 2] {
    let interval = (period.as_millis() as u64 / u64::from(n.max(1))).max(1);
    [interval, u64::from(burst.max(1))]
}

/// How many password hashes may run at once: the cores this process may use, at most 4 (each
/// takes ~19 MiB and a core for tens of ms).
pub fn hash_permits() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 4)
}

/// Counts a hash in `showroom_password_hashes_in_flight` while it lives.
struct InFlight;

impl InFlight {
    fn new() -> Self {
        metrics::gauge!(names::PASSWORD_HASHES_IN_FLIGHT).increment(1.0);
        Self
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        metrics::gauge!(names::PASSWORD_HASHES_IN_FLIGHT).decrement(1.0);
    }
}

/// The per-socket limits of one socket: its messages, its pings and its other frames (a socket
/// lives on one replica, so these are exact).
pub struct SocketLimits {
    messages: DefaultDirectRateLimiter,
    pings: DefaultDirectRateLimiter,
    frames: DefaultDirectRateLimiter,
}

impl SocketLimits {
    /// A `ping`: refused past the socket's pings.
    pub fn ping(&self) -> Result<(), Limited> {
        self.pings.check().map_err(|not| {
            let wait = not.wait_time_from(self.pings.clock().now());
            Limited::new("pings_per_socket", wait, |w| {
                format!("too many pings on this socket; wait {w}")
            })
        })
    }

    /// Any other frame (typing, opening chats, reading history, the board, …): refused past
    /// the socket's frames, so no frame type is a way to make the gateway work without end.
    pub fn frame(&self) -> Result<(), Limited> {
        self.frames.check().map_err(|not| {
            let wait = not.wait_time_from(self.frames.clock().now());
            Limited::new("frames_per_socket", wait, |w| {
                format!("too many frames on this socket; wait {w}")
            })
        })
    }
}

impl Limits {
    /// The limits, with the shared ones in the Redis at `redis_url` (`rediss://` verified
    /// against `redis_ca` when given; an empty URL turns them off). A URL that does not parse or
    /// a CA file that cannot be read fails; a Redis that does not answer only logs a warning:
    /// the shared limits fail open until it does.
    pub async fn connect(
        config: LimitsConfig,
        redis_url: &str,
        redis_ca: Option<&Path>,
    ) -> anyhow::Result<Self> {
        let mut limits = Self::local(config);
        if redis_url.is_empty() {
            tracing::warn!(
                "SHOWROOM_REDIS_URL is empty: the limits shared by the gateways (logins, conversations, uploads) are off"
            );
            return Ok(limits);
        }
        let redis = FailOpen::connect(
            redis_url,
            redis_ca,
            REDIS_WITHIN,
            names::LIMITS_FAILED_OPEN,
            "the limits shared by the gateways (logins, conversations, uploads) let requests through unchecked",
        )
        .await?;
        limits.shared = Some(Shared {
            redis,
            take: redis::Script::new(&format!("{NOW}{TAKE}")),
            login_wait: redis::Script::new(&format!("{NOW}{LOGIN_WAIT}")),
            login_failed: redis::Script::new(&format!("{NOW}{LOGIN_FAILED}")),
        });
        Ok(limits)
    }

    /// The per-replica limits only (no Redis: the shared ones let everything through).
    pub fn local(config: LimitsConfig) -> Self {
        let per_conversation =
            Quota::per_minute(nonzero(config.messages_per_conversation_per_minute))
                .allow_burst(nonzero(config.message_burst_per_conversation));
        Self {
            config,
            shared: None,
            per_conversation: RateLimiter::keyed(per_conversation),
            checks: AtomicU64::new(0),
            clock: DefaultClock::default(),
            hashes: Arc::new(Semaphore::new(hash_permits())),
        }
    }

    /// The settings.
    pub fn config(&self) -> &LimitsConfig {
        &self.config
    }

    /// Runs a script; `None` when Redis failed (logged at most every 10 s, counted in
    /// `showroom_limits_failed_open_total`): the caller lets the request through.
    async fn eval(
        &self,
        script: impl Fn(&Shared) -> &redis::Script,
        keys: &[String],
        args: &[u64],
    ) -> Option<(u64, usize)> {
        let shared = self.shared.as_ref()?;
        let mut call = script(shared).prepare_invoke();
        for k in keys {
            call.key(k);
        }
        for a in args {
            call.arg(*a);
        }
        shared.redis.invoke(&call).await
    }

    /// The counters of a login: the account's (the e-mail, trimmed and lower-cased) and the
    /// address's.
    fn login_keys(email: &str, ip: Option<&str>) -> Vec<String> {
        let mut keys = vec![format!(
            "showroom:limits:login:account:{}",
            digest(&email.trim().to_lowercase())
        )];
        keys.extend(ip.map(|ip| format!("showroom:limits:login:ip:{}", digest(ip))));
        keys
    }

    /// Before a password is checked: refused while the account or the address waits after its
    /// failures, whatever the password (a right one too, so the answer tells nothing).
    pub async fn login_allowed(&self, email: &str, ip: Option<&str>) -> Result<(), Limited> {
        let keys = Self::login_keys(email, ip);
        match self.eval(|s| &s.login_wait, &keys, &[]).await {
            None | Some((0, _)) => Ok(()),
            Some((wait, 1)) => Err(Limited::new(
                "login_account",
                Duration::from_millis(wait),
                |w| format!("too many failed logins for this e-mail; try again in {w}"),
            )),
            Some((wait, _)) => Err(Limited::new("login_ip", Duration::from_millis(wait), |w| {
                format!("too many failed logins from your network; try again in {w}")
            })),
        }
    }

    /// A wrong password (or an unknown e-mail): counts for the account and the address.
    pub async fn login_failed(&self, email: &str, ip: Option<&str>) {
        let keys = Self::login_keys(email, ip);
        let c = &self.config;
        let mut args = vec![
            c.login_window_secs.max(1) * 1000,
            c.login_max_delay_secs.max(1) * 1000,
            u64::from(c.login_free_failures),
        ];
        if keys.len() > 1 {
            args.push(u64::from(c.login_ip_free_failures));
        }
        self.eval(|s| &s.login_failed, &keys, &args).await;
    }

    /// A login that succeeded clears its account's failures (not the address's: one good
    /// account must not reset an address that guesses at others).
    pub async fn login_succeeded(&self, email: &str) {
        let Some(shared) = &self.shared else {
            return;
        };
        let keys = Self::login_keys(email, None);
        shared
            .redis
            .query::<()>(redis::pipe().del(&keys[0]).ignore())
            .await;
    }

    /// A conversation is about to start on `website` from `ip` (the widget's `start` and
    /// `leave_message`, a dealer form's offline message): counts it for the address on this
    /// website and for the website, or refuses it and counts nothing. A website's own settings
    /// win over the defaults.
    pub async fn conversation_started(
        &self,
        website: &Website,
        ip: Option<&str>,
    ) -> Result<(), Limited> {
        let own = |n: Option<i32>, default: u32| {
            n.and_then(|n| u32::try_from(n).ok())
                .filter(|n| *n > 0)
                .unwrap_or(default)
        };
        let per_minute = own(
            website.conversations_per_minute,
            self.config.conversations_per_website_per_minute,
        );
        let per_ip = own(
            website.conversations_per_ip_per_hour,
            self.config.conversations_per_ip_per_hour,
        );
        let mut keys = vec![format!(
            "showroom:limits:conversations:website:{}",
            website.id
        )];
        let mut args = bucket(per_minute, Duration::from_secs(60), per_minute).to_vec();
        if let Some(ip) = ip {
            keys.push(format!(
                "showroom:limits:conversations:ip:{}:{}",
                website.id,
                digest(ip)
            ));
            args.extend(bucket(per_ip, Duration::from_secs(3600), per_ip));
        }
        match self.eval(|s| &s.take, &keys, &args).await {
            None | Some((0, _)) => Ok(()),
            Some((wait, 1)) => Err(Limited::new(
                "conversations_per_website",
                Duration::from_millis(wait),
                |w| format!("this website is starting too many conversations; try again in {w}"),
            )),
            Some((wait, _)) => Err(Limited::new(
                "conversations_per_ip",
                Duration::from_millis(wait),
                |w| {
                    format!(
                        "too many conversations were started from your address; try again in {w}"
                    )
                },
            )),
        }
    }

    /// A file is about to be uploaded by `visitor` (else by the address `ip`): counted, or
    /// refused.
    pub async fn upload(&self, visitor: Option<Uuid>, ip: Option<&str>) -> Result<(), Limited> {
        let key = match (visitor, ip) {
            (Some(v), _) => format!("showroom:limits:uploads:visitor:{v}"),
            (None, Some(ip)) => format!("showroom:limits:uploads:ip:{}", digest(ip)),
            (None, None) => return Ok(()),
        };
        let c = &self.config;
        let args = bucket(
            c.uploads_per_visitor_per_hour,
            Duration::from_secs(3600),
            c.upload_burst_per_visitor,
        );
        match self.eval(|s| &s.take, &[key], &args).await {
            None | Some((0, _)) => Ok(()),
            Some((wait, _)) => Err(Limited::new(
                "uploads_per_visitor",
                Duration::from_millis(wait),
                |w| format!("too many files uploaded; try again in {w}"),
            )),
        }
    }

    /// A new socket's own limits, on the replica's clock: a clock made afresh asks the
    /// processor which counters it has (`cpuid`, a trap to the hypervisor on a virtual
    /// machine), three times a socket.
    pub fn socket(&self) -> SocketLimits {
        let c = &self.config;
        let limiter = |per_sec, burst| {
            RateLimiter::direct_with_clock(per_second(per_sec, burst), self.clock.clone())
        };
        SocketLimits {
            messages: limiter(c.messages_per_socket_per_sec, c.message_burst_per_socket),
            pings: limiter(c.pings_per_socket_per_sec, c.ping_burst_per_socket),
            frames: limiter(c.frames_per_socket_per_sec, c.frame_burst_per_socket),
        }
    }

    /// A message (`send`, `internal_send`) from `socket` into the conversation or internal chat
    /// `stream` (`None`: the socket has none; only its own limit counts): refused past the
    /// socket's messages or the conversation's (on this replica). Nothing of a refused message
    /// is stored or forwarded.
    pub fn message(&self, socket: &SocketLimits, stream: Option<Uuid>) -> Result<(), Limited> {
        if let Err(not) = socket.messages.check() {
            let wait = not.wait_time_from(self.clock.now());
            return Err(Limited::new("messages_per_socket", wait, |w| {
                format!("you are sending messages too fast; send it again in {w}")
            }));
        }
        let Some(stream) = stream else {
            return Ok(());
        };
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.per_conversation.retain_recent();
            self.per_conversation.shrink_to_fit();
        }
        self.per_conversation.check_key(&stream).map_err(|not| {
            let wait = not.wait_time_from(self.clock.now());
            Limited::new("messages_per_conversation", wait, |w| {
                format!("this conversation is getting messages too fast; send it again in {w}")
            })
        })
    }

    /// Runs an argon2 hash or check off the async threads, holding one of the permits
    /// ([`hash_permits`]) while it runs (also when the request is gone meanwhile), counted in
    /// `showroom_password_hashes_in_flight`. [`HashError::Busy`] when no permit came within
    /// `password_hash_wait_secs`.
    pub async fn hashing<T, F>(&self, work: F) -> Result<T, HashError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let wait = Duration::from_secs(self.config.password_hash_wait_secs);
        let permit = match tokio::time::timeout(wait, self.hashes.clone().acquire_owned()).await {
            Ok(Ok(permit)) => permit,
            Ok(Err(closed)) => return Err(HashError::Failed(closed.to_string())),
            Err(_) => {
                metrics::counter!(names::RATE_LIMITED, "limit" => "password_hashes").increment(1);
                tracing::warn!(
                    "every password-hash permit stayed taken for {wait:?}: answered busy"
                );
                return Err(HashError::Busy(2));
            }
        };
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let _counted = InFlight::new();
            work()
        })
        .await
        .map_err(|e| HashError::Failed(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_become_the_gateways_variables() {
        let env = LimitsConfig::default().env();
        assert!(
            env.contains(&("SHOWROOM_LOGIN_FREE_FAILURES".into(), "5".into())),
            "{env:?}"
        );
        assert_eq!(env.len(), 17, "{env:?}");
    }

    #[test]
    fn buckets_have_an_interval_and_a_burst() {
        assert_eq!(bucket(20, Duration::from_secs(3600), 20), [180_000, 20]);
        assert_eq!(bucket(0, Duration::from_secs(1), 0), [1000, 1]);
        assert_eq!(bucket(5000, Duration::from_secs(1), 3), [1, 3]);
    }

    #[tokio::test]
    async fn a_socket_meets_its_burst_then_waits() {
        let limits = Limits::local(LimitsConfig::default());
        let socket = limits.socket();
        let conversation = Uuid::new_v4();
        for _ in 0..20 {
            assert!(limits.message(&socket, Some(conversation)).is_ok());
        }
        let refused = limits.message(&socket, Some(conversation)).unwrap_err();
        assert_eq!(refused.retry_after_secs, 1, "{refused:?}");
        for _ in 0..10 {
            assert!(socket.ping().is_ok());
        }
        assert!(socket.ping().is_err());
    }

    #[tokio::test]
    async fn a_conversation_meets_its_burst_across_sockets() {
        let limits = Limits::local(LimitsConfig::default());
        let conversation = Uuid::new_v4();
        let (a, b) = (limits.socket(), limits.socket());
        for _ in 0..15 {
            assert!(limits.message(&a, Some(conversation)).is_ok());
            assert!(limits.message(&b, Some(conversation)).is_ok());
        }
        assert!(limits.message(&a, Some(conversation)).is_err());
        assert!(
            limits.message(&b, Some(Uuid::new_v4())).is_ok(),
            "another chat"
        );
    }
}
