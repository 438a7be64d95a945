//! Scale-out, proven: three router processes share 10 000 chats while one of them is killed
//! with SIGKILL halfway. Afterwards no chat was assigned twice, none is stranded (each ended
//! assigned, missed, offline or timed out), and every time-out fired exactly once.
//!
//! Shoppers and agents talk to the routers over the bus (the gateway adds nothing to what is
//! tested here); presence runs in this process with real Redis, so offers follow real statuses.

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_nats::jetstream::consumer::{DeliverPolicy, pull::OrderedConfig};
use futures::StreamExt;
use showroom_config::{Common, Secret};
use showroom_localinfra::{Nats, Postgres, PostgresOptions, Redis, free_port};
use showroom_natsauth::Trust;
use showroom_proto::conversation::{
    AcceptConversation, Conversation, ConversationCommand, ConversationEvent, ConversationState,
    EndConversation, EndedBy, StartConversation,
};
use showroom_proto::presence::{AgentStatus, Heartbeat, SetStatus};
use showroom_proto::v1;
use showroom_proto::{CommandError, Envelope, Reply};
use showroom_store::sqlx::{self, PgPool};
use tokio::process::Child;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Chats in the run (`SHOWROOM_SCALE_CHATS` overrides it for a quicker local look).
fn chats() -> usize {
    std::env::var("SHOWROOM_SCALE_CHATS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}
const AGENTS: usize = 20;
const IN_FLIGHT: usize = 48;

struct Tenant {
    group: Uuid,
    website: Uuid,
    sales: Uuid,
    agents: Vec<Uuid>,
}

async fn seed(pool: &PgPool) -> anyhow::Result<Tenant> {
    let (group, rooftop, sales, website) = (
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
    );
    sqlx::query("INSERT INTO dealer_groups (id, name) VALUES ($1, 'Scale Group')")
        .bind(group)
        .execute(pool)
        .await?;
    sqlx::query("INSERT INTO rooftops (id, group_id, name, time_zone) VALUES ($1, $2, 'Scale Honda', 'America/Chicago')")
        .bind(rooftop)
        .bind(group)
        .execute(pool)
        .await?;
    sqlx::query(
        "INSERT INTO departments (id, group_id, rooftop_id, label) VALUES ($1, $2, $3, 'Sales')",
    )
    .bind(sales)
    .bind(group)
    .bind(rooftop)
    .execute(pool)
    .await?;
    sqlx::query("INSERT INTO websites (id, group_id, rooftop_id, name, widget_key) VALUES ($1, $2, $3, 'scale.example', 'scale')")
        .bind(website)
        .bind(group)
        .bind(rooftop)
        .execute(pool)
        .await?;
    // Chats go straight to routing (the bot's Lead Gate is the bot service's, not run here).
    sqlx::query(
        "INSERT INTO bot_settings (website_id, group_id, lead_gate) VALUES ($1, $2, false)",
    )
    .bind(website)
    .bind(group)
    .execute(pool)
    .await?;
    // Short time-outs so every unanswered or idle chat closes within the test.
    sqlx::query(
        "INSERT INTO department_routing (department_id, group_id, incoming_timeout_secs, inactivity_secs) \
         VALUES ($1, $2, 4, 4)",
    )
    .bind(sales)
    .bind(group)
    .execute(pool)
    .await?;
    let mut agents = Vec::new();
    for i in 0..AGENTS {
        let id = Uuid::now_v7();
        sqlx::query(
            "INSERT INTO agents (id, group_id, email, password_hash, first_name, last_name, role, max_chats) \
             VALUES ($1, $2, $3, 'no-login', 'Agent', $4, 'agent', 100000)",
        )
        .bind(id)
        .bind(group)
        .bind(format!("agent{i}@scale.example"))
        .bind(i.to_string())
        .execute(pool)
        .await?;
        sqlx::query(
            "INSERT INTO agent_memberships (agent_id, department_id, group_id) VALUES ($1, $2, $3)",
        )
        .bind(id)
        .bind(sales)
        .bind(group)
        .execute(pool)
        .await?;
        agents.push(id);
    }
    Ok(Tenant {
        group,
        website,
        sales,
        agents,
    })
}

/// A router process; its admin port answers `/readyz` once it serves.
async fn router(nats: &str, creds: &Path, db: &str) -> anyhow::Result<Child> {
    let admin = free_port()?;
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_showroom-router"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SHOWROOM_NATS_URL", nats)
        .env("SHOWROOM_NATS_CREDS", creds)
        .env("SHOWROOM_DATABASE_URL", db)
        .env("SHOWROOM_ADMIN_ADDR", format!("127.0.0.1:{admin}"))
        .env("SHOWROOM_RUN_MIGRATIONS", "false")
        .env("SHOWROOM_TIMER_TICK_MS", "100")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        // Warnings and errors of the replicas show in the test's output.
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()?;
    let ready = format!("http://127.0.0.1:{admin}/readyz");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = reqwest::get(&ready).await
            && r.status() == 200
        {
            return Ok(child);
        }
        anyhow::ensure!(Instant::now() < deadline, "router never became ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A request retried while no replica answers (one was killed with it in flight): every
/// command used here is safe to repeat.
async fn ask<Req: serde::Serialize, Resp: serde::de::DeserializeOwned>(
    nats: &async_nats::Client,
    subject: String,
    env: &Envelope<Req>,
) -> anyhow::Result<Result<Resp, CommandError>> {
    let payload: bytes::Bytes = serde_json::to_vec(env)?.into();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match nats.request(subject.clone(), payload.clone()).await {
            Ok(msg) if msg.status.is_none() => {
                let reply: Reply<Resp> = serde_json::from_slice(&msg.payload)?;
                return Ok(reply.into());
            }
            Ok(_) | Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Ok(msg) => anyhow::bail!("{subject}: status {:?}", msg.status),
            Err(e) => anyhow::bail!("{subject}: {e}"),
        }
    }
}

#[derive(Default)]
struct Tally {
    /// Conversation id -> agents whose accept succeeded.
    winners: HashMap<Uuid, Vec<Uuid>>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_replicas_ten_thousand_chats_one_killed() -> anyhow::Result<()> {
    // NATS in operator mode: the routers and presence connect with their own credentials.
    let auth = tempfile::tempdir()?;
    let nats_config = Trust::generate().write_local(auth.path())?;
    let creds = |user: &str| auth.path().join(format!("{user}.creds"));
    let (nats, pg, redis) = tokio::try_join!(
        Nats::start_with(None, Some(&nats_config)),
        Postgres::start(PostgresOptions::throwaway()),
        Redis::start()
    )?;
    let pool = showroom_store::connect(&pg.url, 8).await?;
    showroom_store::migrate(&pool).await?;
    let t = Arc::new(seed(&pool).await?);
    let total_chats = chats();

    let shutdown = CancellationToken::new();
    let common = Common {
        nats_url: nats.url.clone(),
        nats_creds: Some(creds("presence")),
        nats_ca: None,
        database_url: Secret::new(pg.url.clone()),
        admin_addr: "127.0.0.1:0".parse()?,
        run_migrations: false,
        max_db_connections: 8,
        stream_replicas: 1,
    };
    let presence = showroom_presence::start(
        showroom_presence::Config {
            common,
            redis_url: redis.url.clone(),
            ..Default::default()
        },
        shutdown.clone(),
    )
    .await?;

    let mut routers = Vec::new();
    for _ in 0..3 {
        routers.push(router(&nats.url, &creds("router"), &pg.url).await?);
    }

    let client = async_nats::ConnectOptions::new()
        .credentials(&std::fs::read_to_string(creds("operator"))?)?
        .request_timeout(Some(Duration::from_secs(2)))
        .connect(&nats.url)
        .await?;
    // Every agent connected (one device each) and Available.
    for a in &t.agents {
        let hb = Envelope::new(
            t.group,
            Heartbeat {
                agent_id: *a,
                device_id: Uuid::new_v4(),
            },
        );
        client
            .publish(
                v1::presence_heartbeat(t.group),
                serde_json::to_vec(&hb)?.into(),
            )
            .await?;
        let set = Envelope::new(
            t.group,
            SetStatus {
                agent_id: *a,
                status: AgentStatus::Available,
                changed_by: *a,
            },
        );
        let r: Result<serde_json::Value, CommandError> =
            ask(&client, v1::presence_set_status(t.group), &set).await?;
        r.map_err(|e| anyhow::anyhow!("{e}"))?;
    }

    let started = Arc::new(AtomicUsize::new(0));
    let killer = {
        let started = started.clone();
        let half = total_chats / 2;
        let mut victim = routers.remove(0);
        tokio::spawn(async move {
            while started.load(Ordering::Relaxed) < half {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            victim.start_kill().expect("SIGKILL");
            victim.wait().await.expect("reaped");
        })
    };

    let clock = Instant::now();
    type Outcome = (Uuid, Vec<Uuid>, u128, Option<u128>);
    let results: Vec<anyhow::Result<Outcome>> = futures::stream::iter(0..total_chats)
        .map(|i| {
            let (client, t, started) = (client.clone(), t.clone(), started.clone());
            async move {
                let start = Envelope::new(
                    t.group,
                    StartConversation {
                        website_id: t.website,
                        visitor_id: Uuid::new_v4(),
                        department_id: Some(t.sales),
                        shopper_name: None,
                        variables: Default::default(),
                        vehicle: None,
                        language: Default::default(),
                        page_url: None,
                        client_ip: None,
                        client_ip_source: None,
                        form_id: None,
                    },
                );
                let t0 = Instant::now();
                let c: Conversation = ask(
                    &client,
                    v1::conversation_command(t.group, ConversationCommand::Start),
                    &start,
                )
                .await?
                .map_err(|e| anyhow::anyhow!("start refused: {e}"))?;
                let start_ms = t0.elapsed().as_millis();
                let mut accept_ms = None;
                started.fetch_add(1, Ordering::Relaxed);
                let mut won = Vec::new();
                // Seven in ten are answered, each by two agents racing; the rest are missed.
                if c.state == ConversationState::Incoming && i % 10 < 7 {
                    let accept = |agent: Uuid| {
                        Envelope::new(
                            t.group,
                            AcceptConversation {
                                conversation_id: c.id,
                                agent_id: agent,
                            },
                        )
                    };
                    let subject = v1::conversation_command(t.group, ConversationCommand::Accept);
                    let (a1, a2) = (t.agents[i % AGENTS], t.agents[(i + 1) % AGENTS]);
                    let (e1, e2) = (accept(a1), accept(a2));
                    let t1 = Instant::now();
                    let (r1, r2) = tokio::join!(
                        ask::<_, Conversation>(&client, subject.clone(), &e1),
                        ask::<_, Conversation>(&client, subject.clone(), &e2)
                    );
                    accept_ms = Some(t1.elapsed().as_millis());
                    for (agent, r) in [(a1, r1?), (a2, r2?)] {
                        if r.is_ok() {
                            won.push(agent);
                        }
                    }
                    // One in ten answered chats is ended by its agent; the others time out.
                    if i % 10 == 0
                        && let Some(agent) = won.first()
                    {
                        let end = Envelope::new(
                            t.group,
                            EndConversation {
                                conversation_id: c.id,
                                by: EndedBy::Agent,
                                actor_id: *agent,
                            },
                        );
                        let _: Result<Conversation, CommandError> = ask(
                            &client,
                            v1::conversation_command(t.group, ConversationCommand::End),
                            &end,
                        )
                        .await?;
                    }
                }
                Ok((c.id, won, start_ms, accept_ms))
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    let elapsed = clock.elapsed();
    killer.await?;
    let mut tally = Tally::default();
    let (mut starts, mut accepts) = (Vec::new(), Vec::new());
    for r in results {
        let (id, won, start_ms, accept_ms) = r?;
        tally.winners.insert(id, won);
        starts.push(start_ms);
        accepts.extend(accept_ms);
    }
    let pct = |v: &mut Vec<u128>, q: f64| {
        v.sort();
        v.get(((v.len() as f64 - 1.0) * q) as usize)
            .copied()
            .unwrap_or(0)
    };
    println!(
        "start p50 {} ms, p99 {} ms, max {} ms; racing accepts p50 {} ms, p99 {} ms, max {} ms",
        pct(&mut starts, 0.5),
        pct(&mut starts, 0.99),
        pct(&mut starts, 1.0),
        pct(&mut accepts, 0.5),
        pct(&mut accepts, 0.99),
        pct(&mut accepts, 1.0)
    );
    println!(
        "{total_chats} chats started and answered in {:.1} s ({:.0}/s) across 3 replicas, one killed halfway",
        elapsed.as_secs_f64(),
        total_chats as f64 / elapsed.as_secs_f64()
    );
    assert_eq!(
        tally.winners.len(),
        total_chats,
        "every start answered with its own chat"
    );
    assert!(
        tally.winners.values().all(|w| w.len() <= 1),
        "no chat accepted by two agents"
    );

    // Wait for the remaining time-outs: nothing open, no timer, no unpublished event.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (open, timers, outbox): (i64, i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM conversations WHERE state IN ('bot', 'incoming', 'active')), \
                    (SELECT count(*) FROM conversation_timers), (SELECT count(*) FROM conversation_outbox)",
        )
        .fetch_one(&pool)
        .await?;
        if open == 0 && timers == 0 && outbox == 0 {
            break;
        }
        if Instant::now() >= deadline {
            let detail: Vec<(Uuid, String, Option<String>, Option<String>)> = sqlx::query_as(
                "SELECT c.id, c.state, t.kind, (t.due_at - now())::text FROM conversations c \
                 LEFT JOIN conversation_timers t ON t.conversation_id = c.id \
                 WHERE c.state IN ('bot', 'incoming', 'active') LIMIT 20",
            )
            .fetch_all(&pool)
            .await?;
            anyhow::bail!(
                "stranded: {open} open chats, {timers} timers, {outbox} unpublished events: {detail:?}"
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // What the database says.
    let rows: Vec<(Uuid, String, Option<Uuid>, i64)> = sqlx::query_as(
        "SELECT c.id, c.state, c.agent_id, \
            (SELECT count(*) FROM participants p WHERE p.conversation_id = c.id AND p.kind = 'agent') \
         FROM conversations c WHERE c.group_id = $1",
    )
    .bind(t.group)
    .fetch_all(&pool)
    .await?;
    assert_eq!(rows.len(), total_chats);
    let mut states: HashMap<String, usize> = HashMap::new();
    for (id, state, agent, agents) in &rows {
        *states.entry(state.clone()).or_default() += 1;
        assert!(*agents <= 1, "{id} had {agents} agents");
        if let Some(w) = tally.winners.get(id).and_then(|w| w.first()) {
            assert_eq!(
                agent.as_ref(),
                Some(w),
                "{id} belongs to the agent whose accept won"
            );
        }
    }
    println!("final states: {states:?}");

    // What the bus says: every event of the run, read back from the stream.
    let js = async_nats::jetstream::new(client.clone());
    let stream = js.get_stream(v1::conversations_stream().name).await?;
    let total = stream.get_info().await?.state.messages as usize;
    let mut messages = stream
        .create_consumer(OrderedConfig {
            deliver_policy: DeliverPolicy::All,
            ..Default::default()
        })
        .await?
        .messages()
        .await?;
    let mut per: HashMap<Uuid, HashMap<&'static str, usize>> = HashMap::new();
    for _ in 0..total {
        let m = tokio::time::timeout(Duration::from_secs(10), messages.next())
            .await?
            .ok_or_else(|| anyhow::anyhow!("stream ended early"))??;
        let env: Envelope<ConversationEvent> = serde_json::from_slice(&m.payload)?;
        *per.entry(env.data.conversation.id)
            .or_default()
            .entry(env.data.kind.as_str())
            .or_default() += 1;
    }
    let mut fired = 0;
    for (id, state, _, _) in &rows {
        let kinds = per.get(id).cloned().unwrap_or_default();
        let count = |k: &str| kinds.get(k).copied().unwrap_or(0);
        assert_eq!(count("created"), 1, "{id}: {kinds:?}");
        assert!(count("assigned") <= 1, "{id} assigned twice: {kinds:?}");
        let closings = count("ended") + count("missed") + count("timed_out") + count("offline");
        assert_eq!(closings, 1, "{id} closed once: {kinds:?}");
        let expected = match state.as_str() {
            "missed" => "missed",
            "timed_out" => "timed_out",
            "offline" => "offline",
            _ => "ended",
        };
        assert_eq!(count(expected), 1, "{id} in {state}: {kinds:?}");
        fired += count("missed") + count("timed_out");
    }
    println!("{total} events; {fired} time-outs fired, each once");
    assert!(
        states.get("missed").copied().unwrap_or(0) > 0,
        "some chats were missed"
    );
    assert!(
        states.get("timed_out").copied().unwrap_or(0) > 0,
        "some chats timed out"
    );

    for mut r in routers {
        r.start_kill()?;
        r.wait().await?;
    }
    shutdown.cancel();
    presence.wait().await?;
    Ok(())
}
