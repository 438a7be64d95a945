//! Devices and their heartbeats, in Redis.
//!
//! Keys: `showroom:presence:devices:<agent>`, a sorted set of the agent's devices scored by
//! last heartbeat (ms); and `showroom:presence:expiry`, one sorted set of every
//! `<group>:<agent>:<device>` scored the same way, which the sweep reads oldest first.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use std::path::Path;

use redis::aio::ConnectionManager;
use uuid::Uuid;

const EXPIRY: &str = "showroom:presence:expiry";
const LAST_SEEN: &str = "showroom:presence:last_seen";

fn devices_key(agent: Uuid) -> String {
    format!("showroom:presence:devices:{agent}")
}

/// The agent's consoles that are idle (auto-away), scored by when they went idle.
fn idle_key(agent: Uuid) -> String {
    format!("showroom:presence:idle:{agent}")
}

/// Mirror of the chosen statuses of one group (the truth is in Postgres).
fn status_key(group: Uuid) -> String {
    format!("showroom:presence:status:{group}")
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Where a Redis URL points, for messages: `host:port`, never a password.
pub fn server_of(url: &str) -> String {
    match redis::IntoConnectionInfo::into_connection_info(url) {
        Ok(info) => info.addr().to_string(),
        Err(_) => "(an unreadable URL)".to_string(),
    }
}

/// The Redis side of presence.
#[derive(Clone)]
pub struct Devices {
    conn: ConnectionManager,
    ttl: Duration,
}

impl Devices {
    /// Connects (with TLS for `rediss://`, verified against `ca` when given); the manager
    /// reconnects by itself when Redis restarts. A first plain connection fails at once on a
    /// wrong address, certificate or CA, instead of the manager's retries.
    pub async fn connect(url: &str, ca: Option<&Path>, ttl: Duration) -> anyhow::Result<Self> {
        let client = showroom_config::redis_client(url, ca)?;
        drop(client.get_multiplexed_async_connection().await?);
        let conn = ConnectionManager::new(client).await?;
        Ok(Self { conn, ttl })
    }

    /// Runs a pipeline, retrying briefly when the connection dropped: after Redis restarts, the
    /// first command on the old connection fails while the manager reconnects.
    async fn run<T: redis::FromRedisValue>(&self, pipe: &redis::Pipeline) -> redis::RedisResult<T> {
        let mut attempt = 0;
        loop {
            match pipe.query_async(&mut self.conn.clone()).await {
                Err(e)
                    if attempt < 5
                        && (e.is_connection_dropped()
                            || e.is_io_error()
                            || e.is_connection_refusal()) =>
                {
                    attempt += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(50 * attempt)).await;
                }
                other => return other,
            }
        }
    }

    /// Records a batch of heartbeats in one round trip, with one multi-member `ZADD` per
    /// agent. Returns the (group, agent) pairs that had a device Redis did not know (a new
    /// connection, or Redis lost it): their presence may have changed.
    pub async fn beats(
        &self,
        beats: &[(Uuid, Uuid, Uuid)],
    ) -> redis::RedisResult<Vec<(Uuid, Uuid)>> {
        if beats.is_empty() {
            return Ok(Vec::new());
        }
        let now = now_ms();
        let keep = (self.ttl.as_millis() * 2) as i64;
        let mut by_agent: std::collections::BTreeMap<(Uuid, Uuid), Vec<String>> =
            Default::default();
        for (group, agent, device) in beats {
            by_agent
                .entry((*group, *agent))
                .or_default()
                .push(device.to_string());
        }
        let mut pipe = redis::pipe();
        let mut expiry = redis::cmd("ZADD");
        expiry.arg(EXPIRY);
        let mut seen = redis::cmd("HSET");
        seen.arg(LAST_SEEN);
        for ((group, agent), devices) in &by_agent {
            let key = devices_key(*agent);
            let mut zadd = redis::cmd("ZADD");
            zadd.arg(&key);
            for d in devices {
                zadd.arg(now).arg(d);
                expiry.arg(now).arg(format!("{group}:{agent}:{d}"));
            }
            pipe.add_command(zadd).pexpire(&key, keep).ignore();
            seen.arg(agent.to_string()).arg(now);
        }
        pipe.add_command(expiry).ignore().add_command(seen).ignore();
        let added: Vec<i64> = self.run(&pipe).await?;
        Ok(by_agent
            .into_keys()
            .zip(added)
            .filter(|(_, n)| *n > 0)
            .map(|(k, _)| k)
            .collect())
    }

    /// The chosen statuses of agents of `group` as mirrored in Redis (`None` where Redis does
    /// not have it: never set, or lost), with their fresh device counts, in one round trip.
    pub async fn statuses_and_counts(
        &self,
        group: Uuid,
        agents: &[Uuid],
    ) -> redis::RedisResult<(Vec<Option<String>>, Vec<(u32, u32)>)> {
        if agents.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        let since = now_ms() - self.ttl.as_millis() as i64;
        let mut pipe = redis::pipe();
        pipe.cmd("HMGET").arg(status_key(group));
        for a in agents {
            pipe.arg(a.to_string());
        }
        for a in agents {
            pipe.zcount(devices_key(*a), since, "+inf")
                .zcard(idle_key(*a));
        }
        let mut replies: Vec<redis::Value> = self.run(&pipe).await?;
        let flat = replies
            .split_off(1)
            .into_iter()
            .map(redis::from_redis_value)
            .collect::<Result<Vec<u32>, _>>()?;
        let counts: Vec<(u32, u32)> = flat.chunks(2).map(|c| (c[0], c[1])).collect();
        let statuses: Vec<Option<String>> =
            redis::from_redis_value(replies.pop().unwrap_or(redis::Value::Nil))?;
        Ok((statuses, counts))
    }

    /// Drops an agent's mirrored status (before it changes in Postgres).
    pub async fn forget_status(&self, group: Uuid, agent: Uuid) -> redis::RedisResult<()> {
        let mut pipe = redis::pipe();
        pipe.hdel(status_key(group), agent.to_string()).ignore();
        self.run::<()>(&pipe).await
    }

    /// Mirrors chosen statuses into Redis (after Postgres has them).
    pub async fn mirror_statuses(
        &self,
        group: Uuid,
        statuses: &[(Uuid, &str)],
    ) -> redis::RedisResult<()> {
        if statuses.is_empty() {
            return Ok(());
        }
        let mut hset = redis::cmd("HSET");
        hset.arg(status_key(group));
        for (a, s) in statuses {
            hset.arg(a.to_string()).arg(*s);
        }
        let mut pipe = redis::pipe();
        pipe.add_command(hset).ignore();
        self.run::<()>(&pipe).await
    }

    /// A device's socket closed. It keeps counting for `grace` (a reload reconnects within it,
    /// so the agent does not flicker to Offline), then the sweep removes it and announces the
    /// change. True when the device was known.
    pub async fn close(
        &self,
        group: Uuid,
        agent: Uuid,
        device: Uuid,
        grace: Duration,
    ) -> redis::RedisResult<bool> {
        // Scored as if its last beat were `ttl - grace` ago: fresh for `grace` more.
        let score = now_ms() - self.ttl.as_millis() as i64 + grace.as_millis() as i64;
        let (known, _, _): (Option<f64>, i64, i64) = self
            .run(
                redis::pipe()
                    .atomic()
                    .zscore(devices_key(agent), device.to_string())
                    .zadd(devices_key(agent), device.to_string(), score)
                    .zadd(EXPIRY, format!("{group}:{agent}:{device}"), score)
                    // A closed console is not idle; it only lingers for the grace.
                    .zrem(idle_key(agent), device.to_string())
                    .ignore(),
            )
            .await?;
        if known.is_none() {
            // It was not known (Redis lost it): nothing to keep for a grace.
            let _: (i64, i64) = self
                .run(
                    redis::pipe()
                        .zrem(devices_key(agent), device.to_string())
                        .zrem(EXPIRY, format!("{group}:{agent}:{device}")),
                )
                .await?;
        }
        Ok(known.is_some())
    }

    /// Fresh device counts, idle device counts and last heartbeat times (ms) of several
    /// agents, in one round trip.
    pub async fn counts_and_last_seen(
        &self,
        agents: &[Uuid],
    ) -> redis::RedisResult<(Vec<(u32, u32)>, Vec<Option<i64>>)> {
        if agents.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        let since = now_ms() - self.ttl.as_millis() as i64;
        let mut pipe = redis::pipe();
        for a in agents {
            pipe.zcount(devices_key(*a), since, "+inf")
                .zcard(idle_key(*a));
        }
        pipe.cmd("HMGET").arg(LAST_SEEN);
        for a in agents {
            pipe.arg(a.to_string());
        }
        let mut replies: Vec<redis::Value> = self.run(&pipe).await?;
        let seen: Vec<Option<i64>> =
            redis::from_redis_value(replies.pop().unwrap_or(redis::Value::Nil))?;
        let flat = replies
            .into_iter()
            .map(redis::from_redis_value)
            .collect::<Result<Vec<u32>, _>>()?;
        Ok((flat.chunks(2).map(|c| (c[0], c[1])).collect(), seen))
    }

    /// A console went idle, or active again; true when that changed anything.
    pub async fn set_idle(
        &self,
        agent: Uuid,
        device: Uuid,
        idle: bool,
    ) -> redis::RedisResult<bool> {
        let mut pipe = redis::pipe();
        if idle {
            pipe.zadd(idle_key(agent), device.to_string(), now_ms());
        } else {
            pipe.zrem(idle_key(agent), device.to_string());
        }
        let (changed,): (i64,) = self.run(&pipe).await?;
        Ok(changed > 0)
    }

    /// Removes devices silent for longer than the ttl; returns the (group, agent) pairs that
    /// lost a device. Safe with several replicas: only the one whose ZREM removed an entry
    /// reports it.
    pub async fn sweep(&self) -> redis::RedisResult<Vec<(Uuid, Uuid)>> {
        let cutoff = now_ms() - self.ttl.as_millis() as i64;
        let mut conn = self.conn.clone();
        let stale: Vec<String> = redis::cmd("ZRANGEBYSCORE")
            .arg(EXPIRY)
            .arg("-inf")
            .arg(cutoff)
            .arg("LIMIT")
            .arg(0)
            .arg(1000)
            .query_async(&mut conn)
            .await?;
        let mut expired = Vec::new();
        for member in stale {
            let mut parts = member.splitn(3, ':');
            let ids: Option<(Uuid, Uuid, Uuid)> = (|| {
                Some((
                    parts.next()?.parse().ok()?,
                    parts.next()?.parse().ok()?,
                    parts.next()?.parse().ok()?,
                ))
            })();
            let Some((group, agent, device)) = ids else {
                let _: i64 = redis::cmd("ZREM")
                    .arg(EXPIRY)
                    .arg(&member)
                    .query_async(&mut conn)
                    .await?;
                continue;
            };
            // Remove only if still stale: a heartbeat may have arrived since the range read.
            let removed: i64 = redis::Script::new(
                "local s = redis.call('ZSCORE', KEYS[1], ARGV[1]) \
                 if s and tonumber(s) <= tonumber(ARGV[2]) then \
                   redis.call('ZREM', KEYS[1], ARGV[1]) \
                   redis.call('ZREM', KEYS[2], ARGV[3]) \
                   redis.call('ZREM', KEYS[3], ARGV[3]) \
                   return 1 end \
                 if not s then return redis.call('ZREM', KEYS[1], ARGV[1]) end \
                 return 0",
            )
            .key(EXPIRY)
            .key(devices_key(agent))
            .key(idle_key(agent))
            .arg(&member)
            .arg(cutoff)
            .arg(device.to_string())
            .invoke_async(&mut conn)
            .await?;
            if removed > 0 {
                expired.push((group, agent));
            }
        }
        expired.sort();
        expired.dedup();
        Ok(expired)
    }

    /// Whether Redis answers (for `/readyz`).
    pub async fn ping(&self) -> redis::RedisResult<()> {
        redis::cmd("PING")
            .query_async::<String>(&mut self.conn.clone())
            .await
            .map(|_| ())
    }
}
