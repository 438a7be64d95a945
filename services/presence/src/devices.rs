//! Devices and their heartbeats, in Redis.
//!
//! Keys: `showroom:presence:devices:<agent>`, a sorted set of the agent's devices scored by
//! last heartbeat (ms); and `showroom:presence:expiry`, one sorted set of every
//! `<group>:<agent>:<device>` scored the same way, which the sweep reads oldest first.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::aio::ConnectionManager;
use uuid::Uuid;

const EXPIRY: &str = "showroom:presence:expiry";

fn devices_key(agent: Uuid) -> String {
    format!("showroom:presence:devices:{agent}")
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The Redis side of presence.
#[derive(Clone)]
pub struct Devices {
    conn: ConnectionManager,
    ttl: Duration,
}

impl Devices {
    /// Connects; the manager reconnects by itself when Redis restarts.
    pub async fn connect(url: &str, ttl: Duration) -> redis::RedisResult<Self> {
        let client = redis::Client::open(url)?;
        let conn = ConnectionManager::new(client).await?;
        Ok(Self { conn, ttl })
    }

    /// Records a heartbeat; true when the device was not known (a new connection, or Redis
    /// lost it), i.e. when the agent's presence may have changed.
    pub async fn beat(&self, group: Uuid, agent: Uuid, device: Uuid) -> redis::RedisResult<bool> {
        let now = now_ms();
        let key = devices_key(agent);
        let (added, _, _): (i64, i64, i64) = redis::pipe()
            .atomic()
            .zadd(&key, device.to_string(), now)
            .zadd(EXPIRY, format!("{group}:{agent}:{device}"), now)
            .pexpire(&key, (self.ttl.as_millis() * 2) as i64)
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(added > 0)
    }

    /// Forgets a device whose socket closed; true when it was known.
    pub async fn close(&self, group: Uuid, agent: Uuid, device: Uuid) -> redis::RedisResult<bool> {
        let (removed, _): (i64, i64) = redis::pipe()
            .atomic()
            .zrem(devices_key(agent), device.to_string())
            .zrem(EXPIRY, format!("{group}:{agent}:{device}"))
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(removed > 0)
    }

    /// How many of the agent's devices are fresh.
    pub async fn count(&self, agent: Uuid) -> redis::RedisResult<u32> {
        Ok(self.counts(&[agent]).await?.first().copied().unwrap_or(0))
    }

    /// Fresh device counts of several agents, in one round trip.
    pub async fn counts(&self, agents: &[Uuid]) -> redis::RedisResult<Vec<u32>> {
        if agents.is_empty() {
            return Ok(Vec::new());
        }
        let since = now_ms() - self.ttl.as_millis() as i64;
        let mut pipe = redis::pipe();
        for a in agents {
            pipe.zcount(devices_key(*a), since, "+inf");
        }
        pipe.query_async(&mut self.conn.clone()).await
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
                   return 1 end \
                 if not s then return redis.call('ZREM', KEYS[1], ARGV[1]) end \
                 return 0",
            )
            .key(EXPIRY)
            .key(devices_key(agent))
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
