//! The floor of a routing decision (`routing`'s "decision floor" rows): what a `start` answered
//! by the router promises, behind a bare NATS responder, with nothing of the product around it.
//!
//! A decision is durable and on the bus before its answer: the chat and its outbox row
//! committed, its three events (`created`, `queued`, `offered`) published to JetStream and
//! acknowledged, then the reply. Two responders, on their own NATS connection, each request
//! answered by a task of its own as the router's endpoint does:
//! - **one commit per decision** (`bench.decide.one`): each request writes its chat and outbox
//!   row in one statement and one commit, then publishes;
//! - **decisions sharing commits** (`bench.decide.shared`): writer tasks take whatever requests
//!   are queued and write them in one statement and one commit, as the gateway's transcript
//!   writer does for messages ([`shared_commits::writers`]), then publish every event and await
//!   the acks.
//!
//! No settings, no presence, no ranking, no offers or timers, no consumers. So the first row
//! says what the bus hops add to the baseline's commit, and the second what sharing commits
//! could give back.

use std::sync::Arc;

use futures::StreamExt;
use showroom_bus::async_nats::{self, jetstream};
use showroom_store::sqlx::{self, PgPool};
use showroom_testkit::Tenant;
use uuid::Uuid;

use crate::shared_commits;

/// Where to send a request for each floor.
pub const ONE_PER_COMMIT: &str = "bench.decide.one";
/// Decisions sharing commits.
pub const SHARED_COMMITS: &str = "bench.decide.shared";

/// An event's body: about the size of the router's envelopes.
const EVENT: [u8; 512] = [b'x'; 512];

/// The chats (closed, offered to no one, so the router and its timers leave them alone) and
/// their outbox rows (in the baseline's `bench_outbox`, which no relay reads), one statement.
const WRITE_SQL: &str = "WITH c AS ( \
       INSERT INTO conversations (id, group_id, website_id, rooftop_id, department_id, \
         visitor_id, state, offered_to, ended_at) \
       SELECT id, $2, $3, $4, $5, gen_random_uuid(), 'ended', ARRAY[id], now() \
       FROM unnest($1::uuid[]) AS id RETURNING id) \
     INSERT INTO bench_outbox (id, subject, payload) SELECT id, 'bench', '\\x00' FROM c";

#[derive(Clone)]
struct Floor {
    pool: PgPool,
    js: jetstream::Context,
    t: Arc<Tenant>,
}

impl Floor {
    /// Writes `ids`' chats in one commit, then publishes their three events each and awaits
    /// every ack.
    async fn decide(&self, ids: &[Uuid]) -> anyhow::Result<()> {
        sqlx::query(WRITE_SQL)
            .bind(ids)
            .bind(self.t.group)
            .bind(self.t.website)
            .bind(self.t.rooftop)
            .bind(self.t.sales)
            .execute(&self.pool)
            .await?;
        let events: Vec<(String, bytes::Bytes)> = ids
            .iter()
            .flat_map(|id| {
                ["created", "queued", "offered"]
                    .map(|kind| (format!("benchdecide.{id}.{kind}"), EVENT.as_slice().into()))
            })
            .collect();
        shared_commits::publish_acked(&self.js, events).await?;
        Ok(())
    }
}

/// Starts both responders on `nats` (a connection of their own): chats in `t`'s Sales through
/// `pool`, events to a stream `BENCHDECIDE` made here.
pub async fn start(
    nats: async_nats::Client,
    pool: PgPool,
    t: Arc<Tenant>,
) -> anyhow::Result<Vec<tokio::task::JoinHandle<()>>> {
    let js = jetstream::new(nats.clone());
    js.create_stream(jetstream::stream::Config {
        name: "BENCHDECIDE".into(),
        subjects: vec!["benchdecide.>".into()],
        ..Default::default()
    })
    .await?;
    let floor = Floor { pool, js, t };
    let mut one = nats.subscribe(ONE_PER_COMMIT).await?;
    let mut shared = nats.subscribe(SHARED_COMMITS).await?;
    let mut tasks = Vec::new();
    {
        let (floor, nats) = (floor.clone(), nats.clone());
        tasks.push(tokio::spawn(async move {
            while let Some(m) = one.next().await {
                let (floor, nats) = (floor.clone(), nats.clone());
                tokio::spawn(async move {
                    if floor.decide(&[Uuid::now_v7()]).await.is_ok()
                        && let Some(reply) = m.reply
                    {
                        let _ = nats.publish(reply, "ok".into()).await;
                    }
                });
            }
        }));
    }
    // As many writers, each taking up to as many, as the gateway's transcript writer.
    let queue = shared_commits::writers(&floor.pool.clone(), {
        let nats = nats.clone();
        move |replies: Vec<async_nats::Subject>| {
            let (floor, nats) = (floor.clone(), nats.clone());
            async move {
                let ids: Vec<Uuid> = replies.iter().map(|_| Uuid::now_v7()).collect();
                if floor.decide(&ids).await.is_ok() {
                    for reply in replies {
                        let _ = nats.publish(reply, "ok".into()).await;
                    }
                }
            }
        }
    });
    tasks.push(tokio::spawn(async move {
        while let Some(m) = shared.next().await {
            if let Some(reply) = m.reply {
                let _ = queue.send(reply);
            }
        }
    }));
    Ok(tasks)
}
