//! Routing decisions: `conversation.start` answered by the router (settings, presence asked who
//! is available, the pool ranked, the chat inserted with its offers, time-outs and outbox rows in
//! one transaction, the events published), with one and with three replicas, beside the same
//! durable write done straight in Postgres and a bare NATS request/reply, at the same
//! concurrency on the same servers; and the floor of a decision (that write, its events on the
//! bus, the answer) behind a bare responder, one commit each or sharing commits
//! ([`crate::decision_floor`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use hdrhistogram::Histogram;
use showroom_proto::conversation::{Conversation, ConversationCommand};
use showroom_proto::presence::Heartbeat;
use showroom_proto::{Envelope, Reply, v1};
use showroom_store::sqlx;
use showroom_testkit::{Service, Tenant, Tuning};
use uuid::Uuid;

/// What to run.
pub struct Options {
    /// Decisions per run.
    pub chats: usize,
    /// Requests in flight.
    pub concurrency: usize,
    /// Runs per scenario (the report shows medians).
    pub runs: usize,
    /// Postgres counts its statements (`pg_stat_statements`), and those of the last
    /// one-replica run and of the last three-replica run are printed by time spent (it costs
    /// Postgres a little, so the figures of such a run are not the table's).
    pub statements: bool,
}

impl Options {
    /// `--chats N --concurrency C --runs R [--statements]` (defaults 3000, 32, 3).
    pub fn parse(args: &[String]) -> Self {
        let get = |name: &str, default: usize| crate::flag(args, name, default);
        Self {
            chats: get("--chats", 3_000).max(1),
            concurrency: get("--concurrency", 32).max(1),
            runs: get("--runs", 3).max(1),
            statements: crate::switch(args, "--statements"),
        }
    }
}

struct Figures {
    rate: f64,
    p50: f64,
    p99: f64,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Runs `n` operations, `c` at a time, recording each one's latency.
async fn measure<F, Fut>(n: usize, c: usize, op: F) -> anyhow::Result<Figures>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let started = Instant::now();
    let latencies: Vec<anyhow::Result<u64>> = futures::stream::iter(0..n)
        .map(|i| {
            let f = op(i);
            async move {
                let t = Instant::now();
                f.await?;
                Ok(t.elapsed().as_micros() as u64)
            }
        })
        .buffer_unordered(c)
        .collect()
        .await;
    let elapsed = started.elapsed();
    let mut h = Histogram::<u64>::new(3)?;
    for l in latencies {
        h.record(l?.max(1))?;
    }
    Ok(Figures {
        rate: n as f64 / elapsed.as_secs_f64(),
        p50: h.value_at_quantile(0.5) as f64 / 1000.0,
        p99: h.value_at_quantile(0.99) as f64 / 1000.0,
    })
}

fn summary(name: &str, runs: Vec<Figures>) -> (String, f64, f64, f64) {
    let rate = median(runs.iter().map(|f| f.rate).collect());
    let p50 = median(runs.iter().map(|f| f.p50).collect());
    let p99 = median(runs.iter().map(|f| f.p99).collect());
    (name.to_string(), rate, p50, p99)
}

/// Runs the benchmark and prints its report.
pub async fn run(o: Options) -> anyhow::Result<()> {
    eprintln!("starting real servers (Postgres with fsync) and the seven services…");
    // Each service with the product's own pool (`SHOWROOM_MAX_DB_CONNECTIONS`, default 10), as
    // the baseline has a connection per request in flight.
    let tuning = Tuning {
        max_db_connections: showroom_config::Common::with_admin_port(0).max_db_connections,
        ..Tuning::default()
    };
    let mut stack = crate::statements::stack(tuning, o.statements).await?;
    let t = Tenant::seed(&stack.pool, "Routing Bench", 19).await?;
    let agents: Vec<Uuid> = t.agents.iter().map(|(id, _)| *id).collect();
    // Room for every chat of the run: each stays offered to everyone.
    sqlx::query("UPDATE agents SET max_chats = 1000000 WHERE group_id = $1")
        .bind(t.group)
        .execute(&stack.pool)
        .await?;
    let nats = stack.nats_client().await?;
    crate::set_available(&nats, t.group, &agents).await?;
    // One console device per agent, kept alive for the whole run.
    let devices: Vec<bytes::Bytes> = agents
        .iter()
        .map(|a| {
            serde_json::to_vec(&Envelope::new(
                t.group,
                Heartbeat {
                    agent_id: *a,
                    device_id: Uuid::new_v4(),
                },
            ))
            .map(Into::into)
        })
        .collect::<Result<_, _>>()?;
    let beat = {
        let (nats, subject) = (nats.clone(), v1::presence_heartbeat(t.group));
        tokio::spawn(async move {
            loop {
                for d in &devices {
                    let _ = nats.publish(subject.clone(), d.clone()).await;
                }
                tokio::time::sleep(Duration::from_secs(20)).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;

    let t = Arc::new(t);
    let start = |nats: async_nats::Client, t: Arc<Tenant>| {
        move |_: usize| {
            let (nats, t) = (nats.clone(), t.clone());
            async move {
                let env = Envelope::new(t.group, t.start_in_sales(None));
                let msg = nats
                    .request(
                        v1::conversation_command(t.group, ConversationCommand::Start),
                        serde_json::to_vec(&env)?.into(),
                    )
                    .await?;
                let reply: Reply<Conversation> = serde_json::from_slice(&msg.payload)?;
                let c: Conversation = Result::from(reply).map_err(|e| anyhow::anyhow!("{e}"))?;
                anyhow::ensure!(
                    c.state == showroom_proto::conversation::ConversationState::Incoming,
                    "chat went {:?}",
                    c.state
                );
                Ok(())
            }
        }
    };

    // Baselines: the durable write of a decision straight in Postgres (the conversation and
    // one outbox row in one transaction), and a bare NATS request/reply.
    let pool = showroom_store::connect(&stack.pg.url, o.concurrency as u32).await?;
    sqlx::query("CREATE TABLE bench_outbox (LIKE conversation_outbox INCLUDING ALL)")
        .execute(&pool)
        .await?;
    let raw_pg = {
        let (pool, t) = (pool.clone(), t.clone());
        move |_: usize| {
            let (pool, t) = (pool.clone(), t.clone());
            async move {
                let id = Uuid::now_v7();
                let mut tx = pool.begin().await?;
                sqlx::query(
                    "INSERT INTO conversations (id, group_id, website_id, rooftop_id, department_id, visitor_id, state, offered_to, ended_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, 'ended', $7, now())",
                )
                .bind(id)
                .bind(t.group)
                .bind(t.website)
                .bind(t.rooftop)
                .bind(t.sales)
                .bind(Uuid::new_v4())
                .bind([id])
                .execute(&mut *tx)
                .await?;
                // A table like the router's outbox, which its relay does not read.
                sqlx::query(
                    "INSERT INTO bench_outbox (id, subject, payload) VALUES ($1, 'bench', '\\x00')",
                )
                .bind(id)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }
        }
    };
    let mut echo = nats.subscribe("bench.echo").await?;
    let responder = {
        let nats = nats.clone();
        tokio::spawn(async move {
            while let Some(m) = echo.next().await {
                if let Some(reply) = m.reply {
                    let _ = nats.publish(reply, m.payload).await;
                }
            }
        })
    };
    // The floor of a decision: the same write, then its three events published and acked, then
    // the answer, behind a bare responder (`decision_floor`), one commit each or sharing them.
    let floors = crate::decision_floor::start(
        stack.nats_client().await?,
        // A connection per request in flight, as the baseline has.
        showroom_store::connect(&stack.pg.url, o.concurrency as u32).await?,
        t.clone(),
    )
    .await?;
    // A bare request, answered by the echo responder or a floor.
    let request = |subject: &'static str| {
        let nats = nats.clone();
        move |_: usize| {
            let nats = nats.clone();
            async move {
                nats.request(subject, bytes::Bytes::from_static(&[0; 64]))
                    .await?;
                Ok(())
            }
        }
    };

    let mut rows = Vec::new();
    let (mut pg_runs, mut nats_runs, mut one, mut three) = (vec![], vec![], vec![], vec![]);
    let (mut floor_one, mut floor_shared) = (vec![], vec![]);
    // CPU time by process over every run of three scenarios.
    let processes = crate::cpu::Processes::of(&stack)?;
    let mut cpu = [crate::cpu::Sample::default(); 3];
    for run in 0..o.runs {
        eprintln!("run {} of {}: baselines…", run + 1, o.runs);
        pg_runs.push(measure(o.chats, o.concurrency, &raw_pg).await?);
        nats_runs.push(measure(o.chats, o.concurrency, request("bench.echo")).await?);
        let one_per_commit = request(crate::decision_floor::ONE_PER_COMMIT);
        let before = processes.sample()?;
        floor_one.push(measure(o.chats, o.concurrency, one_per_commit).await?);
        before.add_until(&processes.sample()?, &mut cpu[0]);
        let shared = request(crate::decision_floor::SHARED_COMMITS);
        floor_shared.push(measure(o.chats, o.concurrency, shared).await?);
        if o.statements {
            crate::statements::reset(&stack.pool).await?;
        }
        eprintln!("run {} of {}: the router, 1 replica…", run + 1, o.runs);
        let before = processes.sample()?;
        one.push(measure(o.chats, o.concurrency, start(nats.clone(), t.clone())).await?);
        before.add_until(&processes.sample()?, &mut cpu[1]);
    }
    if o.statements {
        // The last one-replica run's, with everything the services did meanwhile.
        let what = format!("one replica's {} decisions", o.chats);
        crate::statements::print(&stack.pool, &what, Some((o.chats, "decision"))).await?;
    }
    eprintln!("adding two router replicas…");
    stack.start_service(Service::Router).await?;
    stack.start_service(Service::Router).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    for run in 0..o.runs {
        eprintln!("run {} of {}: 3 replicas…", run + 1, o.runs);
        if o.statements {
            crate::statements::reset(&stack.pool).await?;
        }
        let before = processes.sample()?;
        three.push(measure(o.chats, o.concurrency, start(nats.clone(), t.clone())).await?);
        before.add_until(&processes.sample()?, &mut cpu[2]);
    }
    if o.statements {
        let what = format!("three replicas' {} decisions", o.chats);
        crate::statements::print(&stack.pool, &what, Some((o.chats, "decision"))).await?;
    }
    rows.push(summary(
        "raw Postgres: conversation + outbox row, one commit",
        pg_runs,
    ));
    rows.push(summary("raw NATS request/reply", nats_runs));
    rows.push(summary(
        "decision floor: that commit, 3 events published and acked, the answer",
        floor_one,
    ));
    rows.push(summary(
        "decision floor, decisions sharing commits",
        floor_shared,
    ));
    rows.push(summary("**router start → decision, 1 replica**", one));
    rows.push(summary("**router start → decision, 3 replicas**", three));

    println!(
        "\nRouting decisions, C = {}, {} per run, median of {} runs\n",
        o.concurrency, o.chats, o.runs
    );
    println!("| scenario | decisions/s | p50 ms | p99 ms |");
    println!("| --- | ---: | ---: | ---: |");
    for (name, rate, p50, p99) in &rows {
        println!("| {name} | {rate:.0} | {p50:.2} | {p99:.2} |");
    }
    let pg = &rows[0];
    for r in &rows[2..] {
        println!(
            "\n{}: throughput {:.2}× raw Postgres, p50 {:.1}×, p99 {:.1}×",
            r.0.trim_matches('*'),
            r.1 / pg.1,
            r.2 / pg.2,
            r.3 / pg.3
        );
    }
    let decisions = o.chats * o.runs;
    println!(
        "\nCPU per decision by process, ms, over all {} runs (`loadtest/src/cpu.rs`; \
         \"this process\" is the load generator with every service)\n",
        o.runs
    );
    println!("| scenario | Postgres | NATS | Redis | this process | all |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    let names = [
        "decision floor, one commit each",
        "router, 1 replica",
        "router, 3 replicas",
    ];
    for (name, ticks) in names.iter().zip(&cpu) {
        println!("{}", ticks.row(name, decisions));
    }
    beat.abort();
    responder.abort();
    for f in floors {
        f.abort();
    }
    stack.stop().await
}
