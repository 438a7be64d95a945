//! Each console socket is a presence device: heartbeated into Redis on connect, gone the
//! moment it closes; the agent is effectively Offline without one, whatever the chosen status.

use std::time::Duration;

use serde_json::json;
use showroom_proto::Envelope;
use showroom_proto::presence::{AgentPresence, AgentStatus, GetStatus};
use showroom_proto::v1;
use showroom_testkit::{Http, Socket, Stack, Tenant};
use uuid::Uuid;

async fn presence(
    nats: &async_nats::Client,
    group: Uuid,
    agent: Uuid,
) -> anyhow::Result<AgentPresence> {
    let env = Envelope::new(group, GetStatus { agent_id: agent });
    let reply = nats
        .request(
            v1::presence_get_status(group),
            serde_json::to_vec(&env)?.into(),
        )
        .await?;
    let r: showroom_proto::Reply<AgentPresence> = serde_json::from_slice(&reply.payload)?;
    Result::<AgentPresence, _>::from(r).map_err(|e| anyhow::anyhow!("{e}"))
}

async fn until(
    nats: &async_nats::Client,
    group: Uuid,
    agent: Uuid,
    want: impl Fn(&AgentPresence) -> bool,
) -> anyhow::Result<AgentPresence> {
    for _ in 0..50 {
        let p = presence(nats, group, agent).await?;
        if want(&p) {
            return Ok(p);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    presence(nats, group, agent).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn console_sockets_are_presence_devices() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Presence", 1).await?;
    let (agent, email) = t.agents[0].clone();
    let nats = async_nats::connect(&stack.nats.url).await?;
    let token = Http::new(&stack.base_url)
        .login(&email, "correct horse battery staple")
        .await?;

    let before = presence(&nats, t.group, agent).await?;
    assert_eq!(
        (before.status, before.effective, before.devices),
        (AgentStatus::Offline, AgentStatus::Offline, 0)
    );

    let mut tab1 = Socket::console(&stack.ws_url(""), &token).await?;
    tab1.ask(json!({"type": "hello", "v": 1})).await?;
    tab1.ask(json!({"type": "set_status", "status": "available"}))
        .await?;
    let mut tab2 = Socket::console(&stack.ws_url(""), &token).await?;
    let welcome = tab2.ask(json!({"type": "hello", "v": 1})).await?;
    assert_eq!(
        welcome["agent"]["status"], "available",
        "the chosen status is durable: {welcome}"
    );
    let p = until(&nats, t.group, agent, |p| p.devices == 2).await?;
    assert_eq!(
        (p.status, p.effective, p.devices),
        (AgentStatus::Available, AgentStatus::Available, 2)
    );

    // A status chosen in one tab reaches the other.
    tab1.ask(json!({"type": "set_status", "status": "away"}))
        .await?;
    tab2.recv_matching("status", |s| s["status"] == "away")
        .await?;
    tab1.ask(json!({"type": "set_status", "status": "available"}))
        .await?;

    // One tab closes: still connected. Both close: Offline at once, the status kept.
    tab1.close().await;
    let p = until(&nats, t.group, agent, |p| p.devices == 1).await?;
    assert_eq!(p.effective, AgentStatus::Available);
    tab2.close().await;
    let p = until(&nats, t.group, agent, |p| p.devices == 0).await?;
    assert_eq!(
        (p.status, p.effective),
        (AgentStatus::Available, AgentStatus::Offline)
    );

    // An agent without a connected console is not offered chats.
    let mut w = Socket::widget(&stack.ws_url(""), &t.key, &t.origin).await?;
    w.ask(json!({"type": "hello", "v": 1})).await?;
    let started = w
        .ask(json!({"type": "start", "department_id": t.sales}))
        .await?;
    let offered: (Vec<Uuid>,) =
        showroom_store::sqlx::query_as("SELECT offered_to FROM conversations WHERE id = $1")
            .bind(
                started["conversation"]["id"]
                    .as_str()
                    .unwrap()
                    .parse::<Uuid>()?,
            )
            .fetch_one(&stack.pool)
            .await?;
    assert!(offered.0.is_empty(), "{offered:?}");
    // It waits; when the agent comes back Available it is offered to them.
    let mut back = Socket::console(&stack.ws_url(""), &token).await?;
    back.ask(json!({"type": "hello", "v": 1})).await?;
    let offer = back.recv_type("offer").await?;
    assert_eq!(offer["conversation"]["id"], started["conversation"]["id"]);
    stack.stop().await
}
