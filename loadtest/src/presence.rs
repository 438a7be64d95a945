//! Presence: heartbeats processed per second end to end, and the availability query's latency,
//! each beside a raw Redis baseline measured in the same run.

use std::time::{Duration, Instant};

use anyhow::Context;
use hdrhistogram::Histogram;
use redis::aio::ConnectionManager;
use showroom_proto::presence::{FindAvailable, Heartbeat, Purpose};
use showroom_proto::{Envelope, Reply, v1};
use showroom_testkit::{Stack, Tenant};
use uuid::Uuid;

/// What to run.
pub struct Options {
    /// Heartbeats per run.
    pub heartbeats: usize,
    /// Distinct console devices they come from.
    pub devices: usize,
    /// Availability queries per run.
    pub queries: usize,
    /// Runs (the report shows medians).
    pub runs: usize,
}

impl Options {
    /// `--heartbeats N --devices D --queries Q --runs R` (defaults 200000, 2000, 2000, 3).
    pub fn parse(args: &[String]) -> Self {
        let get = |name: &str, default: usize| crate::flag(args, name, default);
        Self {
            heartbeats: get("--heartbeats", 200_000),
            devices: get("--devices", 2_000).max(1),
            queries: get("--queries", 2_000).max(1),
            runs: get("--runs", 3).max(1),
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn ms(h: &Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64 / 1000.0
}

/// Runs the benchmark and prints its report.
pub async fn run(o: Options) -> anyhow::Result<()> {
    eprintln!("starting real servers and the seven services…");
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Bench", 19).await?;
    let agents: Vec<Uuid> = t.agents.iter().map(|(id, _)| *id).collect();
    let nats = stack.nats_client().await?;
    let mut redis = ConnectionManager::new(redis::Client::open(stack.redis.url.as_str())?).await?;

    // Every agent Available, with devices spread over them.
    crate::set_available(&nats, t.group, &agents).await?;
    let devices: Vec<(Uuid, Uuid)> = (0..o.devices)
        .map(|i| (agents[i % agents.len()], Uuid::new_v4()))
        .collect();
    let payloads: Vec<bytes::Bytes> = devices
        .iter()
        .map(|(agent, device)| {
            serde_json::to_vec(&Envelope::new(
                t.group,
                Heartbeat {
                    agent_id: *agent,
                    device_id: *device,
                },
            ))
            .map(Into::into)
        })
        .collect::<Result<_, _>>()?;
    let subject = v1::presence_heartbeat(t.group);
    eprintln!("registering {} devices…", o.devices);
    for p in &payloads {
        nats.publish(subject.clone(), p.clone()).await?;
    }
    nats.flush().await?;
    wait_for_devices(&mut redis, &agents, o.devices).await?;

    let (mut hb_rate, mut zadd_rate) = (Vec::new(), Vec::new());
    let (mut q50, mut q99, mut r50, mut r99) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for run in 0..o.runs {
        eprintln!("run {} of {}…", run + 1, o.runs);
        // End to end: heartbeats of known devices, in windows of 20 000 (a burst larger than
        // a subscriber's buffer is dropped: heartbeats are best-effort), each window closed by a
        // marker from a new device; presence handles them in order, so when the marker is in
        // Redis the whole window is.
        let window = 20_000.min(o.heartbeats);
        let key = format!("showroom:presence:devices:{}", agents[0]);
        let started = Instant::now();
        let mut sent = 0;
        while sent < o.heartbeats {
            let n = window.min(o.heartbeats - sent);
            for i in sent..sent + n {
                nats.publish(subject.clone(), payloads[i % payloads.len()].clone())
                    .await?;
            }
            let marker = Uuid::new_v4();
            let marker_payload = serde_json::to_vec(&Envelope::new(
                t.group,
                Heartbeat {
                    agent_id: agents[0],
                    device_id: marker,
                },
            ))?;
            nats.publish(subject.clone(), marker_payload.into()).await?;
            nats.flush().await?;
            loop {
                let score: Option<f64> = redis::cmd("ZSCORE")
                    .arg(&key)
                    .arg(marker.to_string())
                    .query_async(&mut redis)
                    .await?;
                if score.is_some() {
                    break;
                }
                anyhow::ensure!(
                    started.elapsed() < Duration::from_secs(120),
                    "heartbeats not processed within 2 minutes"
                );
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
            sent += n;
        }
        hb_rate.push(o.heartbeats as f64 / started.elapsed().as_secs_f64());

        // Baseline: the same number of ZADDs, pipelined 512 at a time, straight to Redis.
        let started = Instant::now();
        for chunk in (0..o.heartbeats).collect::<Vec<_>>().chunks(512) {
            let mut pipe = redis::pipe();
            let now = chrono::Utc::now().timestamp_millis();
            for i in chunk {
                pipe.zadd("bench:zadd", devices[i % devices.len()].1.to_string(), now)
                    .ignore();
            }
            pipe.query_async::<()>(&mut redis).await?;
        }
        zadd_rate.push(o.heartbeats as f64 / started.elapsed().as_secs_f64());

        // The availability query the router makes, for 20 candidates.
        let query = serde_json::to_vec(&Envelope::new(
            t.group,
            FindAvailable {
                agent_ids: agents.clone(),
                purpose: Purpose::NewChat,
            },
        ))?;
        let find = v1::presence_find_available(t.group);
        let mut h = Histogram::<u64>::new(3)?;
        for _ in 0..o.queries {
            let t0 = Instant::now();
            let reply = nats.request(find.clone(), query.clone().into()).await?;
            h.record(t0.elapsed().as_micros() as u64)?;
            let r: Reply<Vec<Uuid>> = serde_json::from_slice(&reply.payload)?;
            anyhow::ensure!(
                matches!(&r, Reply::Ok(ids) if ids.len() == agents.len()),
                "unexpected answer"
            );
        }
        q50.push(ms(&h, 0.5));
        q99.push(ms(&h, 0.99));
        // Baseline: the Redis part alone (one ZCOUNT per candidate, pipelined), same count.
        let mut h = Histogram::<u64>::new(3)?;
        for _ in 0..o.queries {
            let t0 = Instant::now();
            let mut pipe = redis::pipe();
            for a in &agents {
                pipe.zcount(format!("showroom:presence:devices:{a}"), 0, "+inf");
            }
            let _: Vec<u32> = pipe.query_async(&mut redis).await?;
            h.record(t0.elapsed().as_micros() as u64)?;
        }
        r50.push(ms(&h, 0.5));
        r99.push(ms(&h, 0.99));
    }

    let (hb, zadd) = (median(hb_rate), median(zadd_rate));
    println!();
    println!(
        "Presence: {} heartbeats from {} devices per run, {} availability queries of {} agents, medians of {} runs",
        o.heartbeats,
        o.devices,
        o.queries,
        agents.len(),
        o.runs
    );
    println!(
        "{:<52} {:>12}",
        "heartbeats processed end to end (NATS -> presence -> Redis)",
        format!("{hb:.0}/s")
    );
    println!(
        "{:<52} {:>12}",
        "baseline: raw Redis ZADD, pipelined 512",
        format!("{zadd:.0}/s")
    );
    println!("ratio heartbeats / raw ZADD: {:.2}x", hb / zadd);
    let (p50, p99, b50, b99) = (median(q50), median(q99), median(r50), median(r99));
    println!(
        "{:<52} p50 {p50:.3} ms, p99 {p99:.3} ms",
        "availability query (NATS request -> presence -> reply)"
    );
    println!(
        "{:<52} p50 {b50:.3} ms, p99 {b99:.3} ms",
        "baseline: raw Redis ZCOUNT pipeline, same agents"
    );
    println!(
        "ratio query / raw Redis: p50 {:.2}x, p99 {:.2}x",
        p50 / b50,
        p99 / b99
    );
    stack.stop().await.context("stopping")
}

async fn wait_for_devices(
    redis: &mut ConnectionManager,
    agents: &[Uuid],
    want: usize,
) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let mut pipe = redis::pipe();
        for a in agents {
            pipe.zcard(format!("showroom:presence:devices:{a}"));
        }
        let counts: Vec<usize> = pipe.query_async(redis).await?;
        if counts.iter().sum::<usize>() >= want {
            return Ok(());
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(120),
            "devices not registered within 2 minutes"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
