//! Message send → ack through the gateway, against raw Postgres and raw JetStream.
//!
//! C conversations write at once (`--conversations`, e.g. 20 or 200). The gateway stores
//! their messages through its group-committing transcript writer; the baselines, in the same
//! run on the same servers: one row per commit (C writers), the same rows C to a commit (the
//! ceiling of any batching), a JetStream publish awaited for its ack, and the floor of what an
//! `ack` promises with no product around it (the C-row commits, then each row published and
//! its ack awaited), and that floor again behind a bare WebSocket server driven by the same
//! client as the gateway ([`crate::socket_floor`]).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use hdrhistogram::Histogram;
use serde_json::json;
use showroom_store::sqlx;
use showroom_testkit::{Socket, Stack, Tenant, Tuning};
use uuid::Uuid;

use crate::socket_floor::Floor;

/// What to run.
pub struct Options {
    /// Conversations writing at once.
    pub conversations: usize,
    /// Messages each conversation sends per run.
    pub messages: usize,
    /// Runs per scenario (the report shows medians).
    pub runs: usize,
    /// Postgres counts its statements (`pg_stat_statements`), and those of the last plain
    /// gateway run (every service's, while the messages went through) are printed.
    pub statements: bool,
}

impl Options {
    /// `--conversations C --messages N --runs R [--statements]` (defaults 20, 100, 3).
    pub fn parse(args: &[String]) -> Self {
        let get = |name: &str, default: usize| crate::flag(args, name, default);
        Self {
            conversations: get("--conversations", 20),
            messages: get("--messages", 100),
            runs: get("--runs", 3).max(1),
            statements: crate::switch(args, "--statements"),
        }
    }
}

/// One run's figures.
struct Figures {
    per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// Gateway runs: WAL flushes to disk (every service's commits) per message sent, a
    /// diagnostic of how many messages shared a flush.
    syncs_per_msg: Option<f64>,
    /// Gateway runs: messages per transaction that stored them (distinct `xmin` of the
    /// run's rows), the mean size of the transcript writer's batches.
    per_commit: Option<f64>,
    /// The share of the machine's CPU time that was busy while the run went (`/proc/stat`):
    /// whether the scenario had the cores to itself or ran out of them.
    busy: f64,
}

/// The machine's CPU time so far (`/proc/stat`'s first line): busy and total, in ticks.
fn cpu_ticks() -> anyhow::Result<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").context("reading /proc/stat")?;
    let ticks: Vec<u64> = stat
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("cpu "))
        .context("no cpu line in /proc/stat")?
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal …: idle and iowait are not busy.
    let total: u64 = ticks.iter().take(8).sum();
    let idle = ticks.get(3).copied().unwrap_or(0) + ticks.get(4).copied().unwrap_or(0);
    Ok((total - idle, total))
}

/// Runs `workers` concurrent loops of `n` timed operations each; returns throughput and
/// latency percentiles. Each operation takes its worker and hands it back.
async fn measure<W, F, Fut>(workers: Vec<W>, n: usize, op: F) -> anyhow::Result<Figures>
where
    W: Send + 'static,
    F: Fn(W, usize) -> Fut + Send + Sync + Clone + 'static,
    Fut: Future<Output = anyhow::Result<W>> + Send,
{
    let started = Instant::now();
    let cpu_before = cpu_ticks()?;
    let tasks: Vec<_> = workers
        .into_iter()
        .map(|w| {
            let op = op.clone();
            let mut w = w;
            tokio::spawn(async move {
                let mut h = Histogram::<u64>::new(3)?;
                for i in 0..n {
                    let t = Instant::now();
                    w = op(w, i).await?;
                    h.record(t.elapsed().as_micros() as u64)?;
                }
                anyhow::Ok(h)
            })
        })
        .collect();
    let mut all = Histogram::<u64>::new(3)?;
    for t in tasks {
        all.add(t.await??)?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu_after = cpu_ticks()?;
    let busy = (cpu_after.0 - cpu_before.0) as f64 / (cpu_after.1 - cpu_before.1).max(1) as f64;
    Ok(Figures {
        per_sec: all.len() as f64 / elapsed,
        p50_ms: all.value_at_quantile(0.50) as f64 / 1000.0,
        p99_ms: all.value_at_quantile(0.99) as f64 / 1000.0,
        syncs_per_msg: None,
        per_commit: None,
        busy,
    })
}

impl Figures {
    /// Each operation stored `rows` rows: throughput in rows (latencies stay per commit).
    fn per_row(self, rows: usize) -> Self {
        Self {
            per_sec: self.per_sec * rows as f64,
            ..self
        }
    }
}

/// The text every scenario sends or stores.
const TEXT: &str = "Is the RAV4 still available?";

/// One row for each of `c` new conversations, all in one statement and one commit (the
/// batching ceiling and the floor's first half); returns the conversations.
async fn insert_batch(pool: &sqlx::PgPool, c: usize, seq: usize) -> sqlx::Result<Vec<Uuid>> {
    let convs: Vec<Uuid> = (0..c).map(|_| Uuid::new_v4()).collect();
    sqlx::query(
        "INSERT INTO bench_messages (id, conversation_id, seq, body) \
         SELECT gen_random_uuid(), conv, $2, $3 FROM unnest($1::uuid[]) AS conv",
    )
    .bind(&convs)
    .bind(seq as i64)
    .bind(TEXT)
    .execute(pool)
    .await?;
    Ok(convs)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

struct Row {
    name: &'static str,
    runs: Vec<Figures>,
}

impl Row {
    fn per_sec(&self) -> f64 {
        median(self.runs.iter().map(|f| f.per_sec).collect())
    }
    fn p50(&self) -> f64 {
        median(self.runs.iter().map(|f| f.p50_ms).collect())
    }
    fn p99(&self) -> f64 {
        median(self.runs.iter().map(|f| f.p99_ms).collect())
    }
    fn busy(&self) -> f64 {
        median(self.runs.iter().map(|f| f.busy).collect())
    }
    fn per_commit(&self) -> Option<f64> {
        let v: Vec<f64> = self.runs.iter().filter_map(|f| f.per_commit).collect();
        (!v.is_empty()).then(|| median(v))
    }
    fn syncs_per_msg(&self) -> Option<f64> {
        let v: Vec<f64> = self.runs.iter().filter_map(|f| f.syncs_per_msg).collect();
        (!v.is_empty()).then(|| median(v))
    }
}

/// Each shopper sends `messages` messages, each waited for until its `ack`, while `agent`, who
/// follows every chat, is read so its queue never fills (C × N message frames; the gateway
/// closes a socket that falls 1 024 frames behind). Answers the figures and the agent.
async fn sends_read_by(
    mut agent: Socket,
    shoppers: Vec<Socket>,
    messages: usize,
) -> anyhow::Result<(Figures, Socket)> {
    let stop = Arc::new(AtomicBool::new(false));
    let drain = {
        let stop = stop.clone();
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                agent.next_within(Duration::from_millis(50)).await?;
            }
            while agent
                .next_within(Duration::from_millis(50))
                .await?
                .is_some()
            {}
            anyhow::Ok(agent)
        })
    };
    let figures = measure(shoppers, messages, |mut w: Socket, i| async move {
        let frame = json!({"type": "send", "client_msg_id": format!("m{i}"), "text": TEXT});
        let ack = w.ask(frame).await?;
        anyhow::ensure!(ack["type"] == "ack", "{ack}");
        Ok(w)
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    let agent = drain.await??;
    Ok((figures?, agent))
}

/// A shopper socket for each of `c` conversations on the socket floor, and its agent.
async fn floor_sockets(floor: &Floor, c: usize) -> anyhow::Result<(Socket, Vec<Socket>)> {
    let connect = |path: &'static str| async move {
        Socket::connect(&format!("{}/{path}", floor.base), &[])
            .await
            .map_err(|r| anyhow::anyhow!("the socket floor refused: {r:?}"))
    };
    let agent = connect("agent").await?;
    let mut shoppers = Vec::with_capacity(c);
    for _ in 0..c {
        shoppers.push(connect("shopper").await?);
    }
    Ok((agent, shoppers))
}

/// A stack with a seeded group and its agent, ready to open chats and send.
struct Bench {
    stack: Stack,
    t: Tenant,
    /// The agent's console (taken by the drain while the shoppers send).
    agent: Option<Socket>,
}

impl Bench {
    async fn new(stack: Stack) -> anyhow::Result<Self> {
        let t = Tenant::seed(&stack.pool, "Bench", 1).await?;
        sqlx::query("UPDATE agents SET max_chats = 100000")
            .execute(&stack.pool)
            .await?;
        let agent = stack.agent(&t.agents[0].1, "available").await?;
        Ok(Self {
            stack,
            t,
            agent: Some(agent),
        })
    }

    /// Send -> ack over fresh conversations, each accepted by the agent; `count` starts
    /// Postgres's count of statements afresh once the chats are open (`--statements`).
    async fn send_ack(&mut self, o: &Options, count: bool) -> anyhow::Result<Figures> {
        let mut agent = self.agent.take().context("the agent's console")?;
        let mut shoppers = Vec::new();
        let mut conversations = Vec::new();
        for _ in 0..o.conversations {
            let (mut w, _) = self.stack.shopper(&self.t, None, 0).await?;
            let started = w
                .ask(json!({"type": "start", "department_id": self.t.sales}))
                .await?;
            let conv = started["conversation"]["id"]
                .as_str()
                .context("started")?
                .to_string();
            let accepted = agent
                .ask(json!({"type": "accept", "conversation_id": &conv}))
                .await?;
            anyhow::ensure!(accepted["type"] == "accepted", "{accepted}");
            shoppers.push(w);
            conversations.push(conv);
        }
        if count {
            crate::statements::reset(&self.stack.pool).await?;
        }
        let syncs_before = self.wal_syncs().await?;
        let (mut figures, agent) = sends_read_by(agent, shoppers, o.messages).await?;
        self.agent = Some(agent);
        // Backends report their counts to the statistics within a second.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let syncs = self.wal_syncs().await? - syncs_before;
        figures.syncs_per_msg = Some(syncs as f64 / (o.conversations * o.messages) as f64);
        let ids: Vec<String> = conversations.iter().map(|c| c.to_string()).collect();
        let (rows, commits): (i64, i64) = sqlx::query_as(
            "SELECT count(*), count(DISTINCT xmin::text) FROM messages \
             WHERE conversation_id = ANY($1::text[]::uuid[]) AND author_kind = 'shopper'",
        )
        .bind(&ids)
        .fetch_one(&self.stack.pool)
        .await?;
        figures.per_commit = Some(rows as f64 / commits.max(1) as f64);
        Ok(figures)
    }

    /// WAL flushes to disk so far on the stack's Postgres (every service's commits).
    async fn wal_syncs(&self) -> anyhow::Result<i64> {
        Ok(sqlx::query_scalar("SELECT wal_sync FROM pg_stat_wal")
            .fetch_one(&self.stack.pool)
            .await?)
    }
}

/// Runs the benchmark and prints its report.
pub async fn run(o: Options) -> anyhow::Result<()> {
    eprintln!(
        "starting real servers (Postgres with fsync on) and the seven services, twice: plain and with TLS…"
    );
    // One load generator on 127.0.0.1 starts every chat and sends as fast as the gateway
    // answers: far past the limits a shopper meets, so they are raised (Tuning::for_load).
    let plain = crate::statements::stack(Tuning::for_load(), o.statements).await?;
    let mut plain = Bench::new(plain).await?;
    let mut tls = Bench::new(Stack::start_durable_tuned(Tuning::for_load(), true).await?).await?;
    let stack = &plain.stack;

    // Baseline tables and stream, on the same servers.
    sqlx::query("CREATE TABLE bench_messages (id uuid PRIMARY KEY, conversation_id uuid NOT NULL, seq bigint NOT NULL, body text NOT NULL)")
        .execute(&stack.pool)
        .await?;
    let bus = stack.bus().await?;
    bus.js
        .create_stream(showroom_bus::async_nats::jetstream::stream::Config {
            name: "BENCH".into(),
            subjects: vec!["bench.>".into()],
            ..Default::default()
        })
        .await
        .context("creating the baseline stream")?;
    // Postgres allows 200 connections and the services hold some: past 100 writers, the
    // one-row baseline's writers share 100 connections (each still waits for its own commit).
    let pool = showroom_store::connect(&stack.pg.url, o.conversations.min(100) as u32 + 2).await?;
    // The socket floor's server has the product's pool size (10 connections).
    let floor = Floor::start(
        showroom_store::connect(&stack.pg.url, 10).await?,
        bus.js.clone(),
    )
    .await?;

    let mut rows = vec![
        Row {
            name: "raw Postgres insert (1 row, 1 commit)",
            runs: Vec::new(),
        },
        Row {
            name: "raw JetStream publish + ack",
            runs: Vec::new(),
        },
        Row {
            name: "raw Postgres insert, C rows per commit",
            runs: Vec::new(),
        },
        Row {
            name: "raw floor: C rows per commit + publishes",
            runs: Vec::new(),
        },
        Row {
            name: "socket floor: the same behind a bare socket",
            runs: Vec::new(),
        },
        Row {
            name: "gateway send -> ack (Showroom)",
            runs: Vec::new(),
        },
        Row {
            name: "the same, TLS to NATS, Postgres, Redis",
            runs: Vec::new(),
        },
    ];
    for run in 0..o.runs {
        eprintln!("run {} of {}…", run + 1, o.runs);
        let workers: Vec<(sqlx::PgPool, Uuid)> = (0..o.conversations)
            .map(|_| (pool.clone(), Uuid::new_v4()))
            .collect();
        rows[0].runs.push(
            measure(workers, o.messages, |(pool, conv), i| {
                async move {
                    sqlx::query("INSERT INTO bench_messages (id, conversation_id, seq, body) VALUES ($1, $2, $3, $4)")
                        .bind(Uuid::now_v7())
                        .bind(conv)
                        .bind(i as i64)
                        .bind(TEXT)
                        .execute(&pool)
                        .await?;
                    Ok((pool, conv))
                }
            })
            .await?,
        );
        let workers: Vec<showroom_bus::async_nats::jetstream::Context> =
            (0..o.conversations).map(|_| bus.js.clone()).collect();
        rows[1].runs.push(
            measure(workers, o.messages, |js, i| async move {
                js.publish(format!("bench.{i}"), TEXT.into()).await?.await?;
                Ok(js)
            })
            .await?,
        );
        // The ceiling: the same rows, all C conversations' in one statement and one commit.
        let c = o.conversations;
        rows[2].runs.push(
            measure(vec![pool.clone()], o.messages, move |pool, i| async move {
                insert_batch(&pool, c, i).await?;
                Ok(pool)
            })
            .await?
            .per_row(c),
        );
        // The floor of what an `ack` promises, with no product around it: the same batches,
        // then each of their rows published to JetStream, every publish's ack awaited.
        let js = bus.js.clone();
        rows[3].runs.push(
            measure(
                vec![(pool.clone(), js)],
                o.messages,
                move |(pool, js), i| async move {
                    let convs = insert_batch(&pool, c, i).await?;
                    let published = convs
                        .iter()
                        .map(|c| (format!("bench.{c}"), TEXT.into()))
                        .collect();
                    crate::shared_commits::publish_acked(&js, published).await?;
                    Ok((pool, js))
                },
            )
            .await?
            .per_row(c),
        );
        // The same promise behind a bare WebSocket server: frames in, the shared commits, each
        // message published and acked, the `ack` and two copies out.
        let (agent, shoppers) = floor_sockets(&floor, c).await?;
        let (figures, agent) = sends_read_by(agent, shoppers, o.messages).await?;
        agent.close().await;
        rows[4].runs.push(figures);
        rows[5].runs.push(plain.send_ack(&o, o.statements).await?);
        rows[6].runs.push(tls.send_ack(&o, false).await?);
    }

    println!();
    println!(
        "Message send -> ack: {} conversations writing at once, {} messages each, medians of {} runs",
        o.conversations, o.messages, o.runs
    );
    println!(
        "{:<44} {:>10} {:>9} {:>9} {:>6}",
        "scenario", "msgs/s", "p50 ms", "p99 ms", "busy"
    );
    for r in &rows {
        println!(
            "{:<44} {:>10.0} {:>9.2} {:>9.2} {:>5.0}%{}",
            r.name,
            r.per_sec(),
            r.p50(),
            r.p99(),
            r.busy() * 100.0,
            match (r.per_commit(), r.syncs_per_msg()) {
                (Some(b), Some(s)) => format!(
                    "   ({b:.1} messages per transcript commit; {s:.2} WAL flushes per message, all services)"
                ),
                _ => String::new(),
            }
        );
    }
    let (pg, batched, floor, socket_floor, showroom, secure) =
        (&rows[0], &rows[2], &rows[3], &rows[4], &rows[5], &rows[6]);
    for (name, r) in [("Showroom", showroom), ("TLS Showroom", secure)] {
        println!(
            "ratio {name} / raw Postgres insert (1 row, 1 commit), C = {}: throughput {:.2}x, p50 {:.2}x, p99 {:.2}x",
            o.conversations,
            r.per_sec() / pg.per_sec(),
            r.p50() / pg.p50(),
            r.p99() / pg.p99()
        );
    }
    println!(
        "ratio Showroom / raw Postgres insert, C rows per commit (the ceiling): throughput {:.2}x",
        showroom.per_sec() / batched.per_sec()
    );
    println!(
        "ratio raw floor (C rows per commit, each published and acked) / raw Postgres insert (1 row, 1 commit): throughput {:.2}x; Showroom / raw floor: {:.2}x",
        floor.per_sec() / pg.per_sec(),
        showroom.per_sec() / floor.per_sec()
    );
    println!(
        "ratio socket floor (the raw floor behind a bare WebSocket server) / raw Postgres insert (1 row, 1 commit): throughput {:.2}x, p99 {:.2}x; socket floor / raw floor: {:.2}x; Showroom / socket floor: {:.2}x",
        socket_floor.per_sec() / pg.per_sec(),
        socket_floor.p99() / pg.p99(),
        socket_floor.per_sec() / floor.per_sec(),
        showroom.per_sec() / socket_floor.per_sec()
    );
    println!(
        "ratio TLS / plain Showroom: throughput {:.2}x, p50 {:.2}x, p99 {:.2}x",
        secure.per_sec() / showroom.per_sec(),
        secure.p50() / showroom.p50(),
        secure.p99() / showroom.p99()
    );
    if o.statements {
        let sent = o.conversations * o.messages;
        let what = format!("the last plain run's {sent} messages");
        crate::statements::print(&plain.stack.pool, &what, Some((sent, "message"))).await?;
    }
    tls.stack.stop().await?;
    plain.stack.stop().await
}
