//! A Redis that fails open (feature `redis`): for what may go unchecked for a moment rather
//! than stop, such as the gateway's shared limits and notification's coalescing marks. A
//! command that fails or does not answer in time gives `None` (the caller lets its request
//! through), counts in the caller's counter, is logged at most every 10 s, and leaves Redis
//! alone for 2 s, so a Redis that is down costs no wait on every request. The connection
//! manager reconnects by itself.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

/// How long Redis is left alone after it failed.
const REST_AFTER_FAILURE: Duration = Duration::from_secs(2);

/// How often (at most) a failing Redis is logged.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// A Redis connection whose failures let requests through.
pub struct FailOpen {
    conn: ConnectionManager,
    within: Duration,
    /// The counter of requests let through.
    counter: &'static str,
    /// What failing open means, for the warning ("… let requests through unchecked").
    meaning: &'static str,
    started: Instant,
    /// When a failure was last logged (ms since `started`, 0: never).
    warned: AtomicU64,
    /// Until when (ms since `started`) Redis is not asked.
    resting: AtomicU64,
}

impl FailOpen {
    /// The Redis at `url` (`rediss://` verified against `ca` when given), each command given
    /// `within` to answer; failures count in `counter` and are logged as "Redis failed:
    /// `meaning`". A URL that does not parse or a CA file that cannot be read fails; a Redis
    /// that does not answer a first `PING` within 2 s only logs a warning.
    pub async fn connect(
        url: &str,
        ca: Option<&Path>,
        within: Duration,
        counter: &'static str,
        meaning: &'static str,
    ) -> anyhow::Result<Self> {
        let client = showroom_config::redis_client(url, ca)?;
        let server = client.get_connection_info().addr().to_string();
        let manager = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(within))
            .set_response_timeout(Some(within))
            .set_number_of_retries(2);
        let conn = ConnectionManager::new_lazy_with_config(client, manager)?;
        let answered = tokio::time::timeout(
            Duration::from_secs(2),
            redis::cmd("PING").query_async::<String>(&mut conn.clone()),
        )
        .await;
        if !matches!(answered, Ok(Ok(_))) {
            let error = match answered {
                Ok(Err(e)) => e.to_string(),
                _ => "no answer within 2 s".to_string(),
            };
            tracing::warn!(
                error,
                server,
                "Redis does not answer: {meaning} until it does"
            );
        }
        Ok(Self {
            conn,
            within,
            counter,
            meaning,
            started: Instant::now(),
            warned: AtomicU64::new(0),
            resting: AtomicU64::new(0),
        })
    }

    /// Runs a pipeline (one command or many, in one round trip); `None` when Redis failed or
    /// rests.
    pub async fn query<T: redis::FromRedisValue>(&self, pipe: &redis::Pipeline) -> Option<T> {
        let mut conn = self.conn()?;
        self.answer(pipe.query_async(&mut conn)).await
    }

    /// Runs a script; `None` when Redis failed or rests.
    pub async fn invoke<T: redis::FromRedisValue>(
        &self,
        call: &redis::ScriptInvocation<'_>,
    ) -> Option<T> {
        let mut conn = self.conn()?;
        self.answer(call.invoke_async(&mut conn)).await
    }

    async fn answer<T>(&self, answer: impl Future<Output = redis::RedisResult<T>>) -> Option<T> {
        match tokio::time::timeout(self.within, answer).await {
            Ok(Ok(v)) => Some(v),
            Ok(Err(e)) => self.failed(&e.to_string()),
            Err(_) => self.failed(&format!("no answer within {:?}", self.within)),
        }
    }

    fn millis(&self) -> u64 {
        (self.started.elapsed().as_millis() as u64).max(1)
    }

    /// The connection, unless Redis failed within the last [`REST_AFTER_FAILURE`] (then the
    /// request fails open at once, counted).
    fn conn(&self) -> Option<ConnectionManager> {
        if self.millis() < self.resting.load(Ordering::Relaxed) {
            metrics::counter!(self.counter).increment(1);
            return None;
        }
        Some(self.conn.clone())
    }

    /// Redis failed: counted, Redis rests a moment, logged at most every [`WARN_EVERY`].
    fn failed<T>(&self, error: &str) -> Option<T> {
        metrics::counter!(self.counter).increment(1);
        let now = self.millis();
        self.resting.store(
            now + REST_AFTER_FAILURE.as_millis() as u64,
            Ordering::Relaxed,
        );
        let last = self.warned.load(Ordering::Relaxed);
        if (last == 0 || now.saturating_sub(last) >= WARN_EVERY.as_millis() as u64)
            && self
                .warned
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(error, "Redis failed: {}", self.meaning);
        }
        None
    }
}
