//! Desktop notices' coalescing marks, in Redis: a key per agent and chat
//! (`showroom:notice:<agent>:<chat>`) set only when it is not there, expiring after the
//! coalescing time, so a burst yields one notice whichever replica handles it, and nothing is
//! left to sweep. One pipelined round trip for all the notices of a pass (an offer to 40
//! agents, messages in 40 chats).
//!
//! A mark is not a fact: lost, it costs at most one notice again within the coalescing time.
//! So a Redis that fails or does not answer lets the notices through uncoalesced (counted in
//! `showroom_notice_marks_failed_open_total`, logged at most every 10 s) rather than hold
//! them back, and is left alone for a moment before it is asked again.

use std::path::Path;
use std::time::Duration;

use showroom_runtime::fail_open::FailOpen;
use showroom_telemetry::metrics::names;
use uuid::Uuid;

/// How long Redis has to answer before the notices go uncoalesced.
const WITHIN: Duration = Duration::from_millis(500);

/// The coalescing marks.
pub struct Marks {
    redis: Option<FailOpen>,
    coalesce: Duration,
}

/// A mark's key.
fn key(agent: Uuid, conversation: Uuid) -> String {
    format!("showroom:notice:{agent}:{conversation}")
}

impl Marks {
    /// The marks in the Redis at `url` (`rediss://` verified against `ca` when given), each
    /// lasting `coalesce`. An empty URL or a zero time turns coalescing off. A URL that does not
    /// parse or a CA file that cannot be read fails; a Redis that does not answer yet only
    /// logs a warning.
    pub async fn connect(url: &str, ca: Option<&Path>, coalesce: Duration) -> anyhow::Result<Self> {
        let redis = if coalesce.is_zero() {
            tracing::info!("SHOWROOM_COALESCE_SECS is 0: desktop notices are not coalesced");
            None
        } else if url.is_empty() {
            tracing::warn!("SHOWROOM_REDIS_URL is empty: desktop notices are not coalesced");
            None
        } else {
            Some(
                FailOpen::connect(
                    url,
                    ca,
                    WITHIN,
                    names::NOTICE_MARKS_FAILED_OPEN,
                    "desktop notices go uncoalesced",
                )
                .await?,
            )
        };
        Ok(Self { redis, coalesce })
    }

    /// Marks each (agent, chat) not marked within the coalescing time, and says which those
    /// were, in order: the notices to send. All of them when Redis fails.
    pub async fn take(&self, pairs: &[(Uuid, Uuid)]) -> Vec<bool> {
        let Some(redis) = &self.redis else {
            return vec![true; pairs.len()];
        };
        let ms = self.coalesce.as_millis().max(1) as u64;
        let mut pipe = redis::pipe();
        for &(agent, conversation) in pairs {
            pipe.cmd("SET")
                .arg(key(agent, conversation))
                .arg(1)
                .arg("NX")
                .arg("PX")
                .arg(ms);
        }
        match redis.query::<Vec<Option<String>>>(&pipe).await {
            Some(set) if set.len() == pairs.len() => set.into_iter().map(|s| s.is_some()).collect(),
            _ => vec![true; pairs.len()],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use showroom_localinfra::Redis;

    /// A mark holds back the same agent and chat, not another, until the coalescing time is
    /// over; the key goes by itself. With Redis stopped every notice goes through (the test
    /// fails without the fail-open: `take` would give nothing to send).
    #[tokio::test]
    async fn marks_coalesce_expire_and_fail_open() -> anyhow::Result<()> {
        let mut redis = Redis::start().await?;
        let coalesce = Duration::from_millis(400);
        let marks = Marks::connect(&redis.url, None, coalesce).await?;
        let (ann, david, chat, other) = (
            Uuid::new_v4(),
            Uuid::new_v4(),
            Uuid::new_v4(),
            Uuid::new_v4(),
        );
        assert_eq!(marks.take(&[(ann, chat)]).await, [true]);
        assert_eq!(
            marks
                .take(&[(ann, chat), (david, chat), (ann, other)])
                .await,
            [false, true, true]
        );
        let client = redis::Client::open(redis.url.as_str())?;
        let mut conn = client.get_multiplexed_async_connection().await?;
        let ttl: i64 = redis::cmd("PTTL")
            .arg(key(ann, chat))
            .query_async(&mut conn)
            .await?;
        assert!(
            ttl > 0 && ttl <= 400,
            "the mark expires with the coalescing time: {ttl}"
        );
        tokio::time::sleep(coalesce + Duration::from_millis(100)).await;
        let left: i64 = redis::cmd("EXISTS")
            .arg(key(ann, chat))
            .query_async(&mut conn)
            .await?;
        assert_eq!(left, 0, "the mark went by itself");
        assert_eq!(marks.take(&[(ann, chat)]).await, [true]);
        assert_eq!(marks.take(&[(ann, chat)]).await, [false]);

        redis.stop().await;
        assert_eq!(
            marks.take(&[(ann, chat), (ann, chat)]).await,
            [true, true],
            "Redis down: notices go uncoalesced"
        );
        Ok(())
    }
}
